"""What a job's page does: rename, change variables while new, start, cancel, rerun, run from a step, duplicate,
delete, redeliver; each one API operation, refused without the CSRF token or the role, the API's answer shown."""

from __future__ import annotations

import httpx

from tests.conftest import WorkerFactory, wait_for_job
from tests.deliveries.conftest import FAST, WebhookReceiver, enable_push, submit_push, wait_for_delivery
from tests.ui.forms import csrf_of, dashboard, post_form
from tests.ui.jobs_helpers import deploy, person, section, submit, text_of
from workflow_service.config import Settings


async def read(api: httpx.AsyncClient, job_id: str) -> dict[str, object]:
    answer = await api.get(f"/v1/jobs/{job_id}")
    assert answer.status_code == 200, answer.text
    job: dict[str, object] = answer.json()
    return job


async def test_rename_variables_and_start_a_new_job(settings: Settings) -> None:
    async with dashboard(settings) as (new_browser, api):
        await deploy(api, "greeter")
        ada = await person(new_browser, api, "ada@example.com", greeter="runner")
        source = await submit(ada.api, "greeter", "source")
        new = (await ada.api.post(f"/v1/jobs/{source['id']}/duplicate", json={"start": False})).json()
        url = f"/ui/jobs/{new['id']}"

        renamed = await post_form(ada.browser, url, f"{url}/rename", {"name": "  Better name "})
        assert renamed.status_code == 303
        assert renamed.headers["location"] == url
        assert (await read(api, new["id"]))["name"] == "Better name"
        assert "Job renamed." in text_of((await ada.browser.get(url)).text)

        too_long = await post_form(ada.browser, url, f"{url}/rename", {"name": "x" * 300})
        assert too_long.status_code == 422
        assert "name" in text_of(too_long.text)
        assert 'value="' + "x" * 300 + '"' in too_long.text
        assert (await read(api, new["id"]))["name"] == "Better name"

        changed = await post_form(
            ada.browser,
            url,
            f"{url}/variables",
            {"var.greeting": "Howdy", "var.punctuation": "!", "defaults": '{"greeting": "Hello", "punctuation": "!"}'},
        )
        assert changed.status_code == 303
        assert (await read(ada.api, new["id"]))["variables"] == {"greeting": "Howdy"}
        page = await ada.browser.get(url)
        assert page.text.count('class="pill overridden"') == 1

        started = await post_form(ada.browser, url, f"{url}/start", {})
        assert started.status_code == 303
        assert (await read(api, new["id"]))["status"] == "pending"
        again = await post_form(ada.browser, url, f"{url}/start", {})
        assert again.status_code == 409
        assert "not" in text_of(again.text).lower()
        late = await post_form(ada.browser, url, f"{url}/variables", {"var.greeting": "Yo", "defaults": "{}"})
        assert late.status_code == 409
        assert (await read(ada.api, new["id"]))["variables"] == {"greeting": "Howdy"}


async def test_cancel_delete_and_what_needs_the_token_or_the_role(settings: Settings) -> None:
    async with dashboard(settings) as (new_browser, api):
        await deploy(api, "greeter")
        ada = await person(new_browser, api, "ada@example.com", greeter="runner")
        job = await submit(ada.api, "greeter", "to cancel")
        url = f"/ui/jobs/{job['id']}"

        no_token = await ada.browser.post(f"{url}/cancel")
        assert no_token.status_code == 403
        assert "expired" in text_of(no_token.text)
        assert (await read(api, job["id"]))["status"] == "pending"

        await api.put(f"/v1/workflows/greeter/members/{ada.id}", json={"role": "viewer"})
        token = csrf_of((await ada.browser.get(url)).text)
        for action in ("cancel", "delete", "rerun", "start", "redeliver"):
            forged = await ada.browser.post(f"{url}/{action}", data={"csrf_token": token})
            assert forged.status_code in (403, 404), (action, forged.status_code)
            assert "only the job's creator" in text_of(forged.text) or forged.status_code == 404
        renamed = await ada.browser.post(f"{url}/rename", data={"csrf_token": token, "name": "mine now"})
        assert renamed.status_code == 403
        assert (await read(api, job["id"]))["status"] == "pending"
        assert (await read(api, job["id"]))["name"] == "to cancel"

        await api.put(f"/v1/workflows/greeter/members/{ada.id}", json={"role": "runner"})
        back = "/ui/jobs?sort=name"
        canceled = await post_form(ada.browser, url, f"{url}/cancel", {"back": back})
        assert canceled.status_code == 303
        assert canceled.headers["location"] == back
        assert (await read(api, job["id"]))["status"] == "canceled"
        twice = await post_form(ada.browser, url, f"{url}/cancel", {})
        assert twice.status_code == 409

        deleted = await post_form(ada.browser, url, f"{url}/delete", {})
        assert deleted.status_code == 303
        assert deleted.headers["location"] == "/ui/jobs"
        assert (await api.get(f"/v1/jobs/{job['id']}")).status_code == 404
        assert "Job deleted." in text_of((await ada.browser.get("/ui/jobs")).text)
        gone = await ada.browser.get(url)
        assert gone.status_code == 404


async def test_rerun_run_from_a_step_and_duplicate_open_the_new_job(
    settings: Settings, start_worker: WorkerFactory
) -> None:
    async with dashboard(settings) as (new_browser, api):
        await deploy(api, "greeter")
        ada = await person(new_browser, api, "ada@example.com", greeter="runner")
        await start_worker()
        job = await submit(ada.api, "greeter", "first")
        await wait_for_job(ada.api, job["id"])
        url = f"/ui/jobs/{job['id']}"

        rerun = await post_form(ada.browser, url, f"{url}/rerun", {})
        assert rerun.status_code == 303
        assert rerun.headers["location"] != url
        rerun_id = rerun.headers["location"].rsplit("/", 1)[1]
        assert (await read(api, rerun_id))["source"] == {"job_id": job["id"], "kind": "rerun", "from_step": None}

        from_step = await post_form(ada.browser, url, f"{url}/run-from-step", {"step": "shout"})
        assert from_step.status_code == 303
        step_job = await read(api, from_step.headers["location"].rsplit("/", 1)[1])
        assert step_job["source"] == {"job_id": job["id"], "kind": "run_from_step", "from_step": "shout"}
        bad_step = await post_form(ada.browser, url, f"{url}/run-from-step", {"step": "nope"})
        assert bad_step.status_code in (404, 409, 422)
        assert "nope" in text_of(bad_step.text)

        form = await ada.browser.get(f"{url}/duplicate")
        assert form.status_code == 200
        assert 'value="first (copy)"' in form.text
        bad = await post_form(
            ada.browser, f"{url}/duplicate", f"{url}/duplicate", {"name": "copy", "variables": "{oops"}
        )
        assert bad.status_code == 422
        assert "The variables are not JSON." in text_of(bad.text)
        assert "{oops" in bad.text
        unknown = await post_form(
            ada.browser, f"{url}/duplicate", f"{url}/duplicate", {"name": "copy", "variables": '{"nope": 1}'}
        )
        assert unknown.status_code == 422
        assert "variables.nope" in text_of(unknown.text)
        made = await post_form(
            ada.browser,
            f"{url}/duplicate",
            f"{url}/duplicate",
            {"name": "copy", "variables": '{"greeting": "Yo"}', "start": "1"},
        )
        assert made.status_code == 303
        copy = await read(ada.api, made.headers["location"].rsplit("/", 1)[1])
        assert copy["name"] == "copy"
        assert copy["variables"] == {"greeting": "Yo"}
        assert copy["origin"] == "duplicate"
        waiting = await post_form(
            ada.browser, f"{url}/duplicate", f"{url}/duplicate", {"name": "later", "variables": ""}
        )
        assert (await read(api, waiting.headers["location"].rsplit("/", 1)[1]))["status"] == "new"


async def test_deliveries_are_listed_and_redelivered(settings: Settings, start_worker: WorkerFactory) -> None:
    receiver = WebhookReceiver()
    receiver.start()
    try:
        async with dashboard(settings) as (new_browser, api):
            await deploy(api, "greeter")
            receiver.secrets = [await enable_push(api, "greeter", receiver.url)]
            ada = await person(new_browser, api, "ada@example.com", greeter="runner")
            await start_worker(**FAST)
            job = await submit_push(ada.api, "greeter", inputs={"name": "Ada", "count": 1})
            await wait_for_delivery(ada.api, job["id"], "succeeded")
            url = f"/ui/jobs/{job['id']}"

            page = await ada.browser.get(url)
            shown = text_of(section(page.text, "job-deliveries"))
            assert "push" in shown
            assert "job.completed" in shown
            assert "Delivered" in shown
            assert "204" in shown
            again = await post_form(ada.browser, url, f"{url}/redeliver", {})
            assert again.status_code == 303
            assert "Callback sent again: 204." in text_of((await ada.browser.get(url)).text)
            assert len((await wait_for_delivery(ada.api, job["id"], attempts=2))["attempts"]) == 2

            bob = await person(new_browser, api, "bob@example.com", greeter="viewer")
            theirs = await bob.browser.get(url)
            assert "job-deliveries" in theirs.text
            assert f"{url}/redeliver" not in theirs.text
            forged = await bob.browser.post(f"{url}/redeliver", data={"csrf_token": csrf_of(theirs.text)})
            assert forged.status_code == 403
            assert len((await wait_for_delivery(ada.api, job["id"]))["attempts"]) == 2
    finally:
        receiver.stop()
