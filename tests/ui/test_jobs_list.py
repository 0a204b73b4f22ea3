"""The jobs list at /ui/jobs: My jobs and All jobs, search, filters, sortable columns, pages, row actions by role,
the live cells its script reads, and deleting several jobs at once."""

from __future__ import annotations

import re

import httpx

from tests.conftest import TOKEN
from tests.ui.forms import Browser, csrf_of, dashboard, post_form, sign_in
from tests.ui.jobs_helpers import deploy, person, submit, text_of
from workflow_service.config import Settings


def listed(html: str) -> list[str]:
    """The job ids of the list's rows, in order."""
    return re.findall(r'<tr class="clickable" data-href="[^"]+" data-job="([^"]+)"', html)


async def test_a_member_sees_their_own_jobs_without_tabs_and_an_admin_switches_to_all(settings: Settings) -> None:
    async with dashboard(settings) as (new_browser, api):
        await deploy(api, "greeter")
        ada = await person(new_browser, api, "ada@example.com", greeter="runner")
        boss = await person(new_browser, api, "boss@example.com", role="admin")
        mine = await submit(ada.api, "greeter", "Ada's job")
        theirs = await submit(boss.api, "greeter", "Boss's job")

        page = await ada.browser.get("/ui/jobs")
        assert page.status_code == 200
        assert listed(page.text) == [mine["id"]]
        assert "All jobs" not in text_of(page.text)
        assert 'class="tabs"' not in page.text
        forced = await ada.browser.get("/ui/jobs?tab=all")  # no All jobs for a member: their own still
        assert listed(forced.text) == [mine["id"]]

        own = await boss.browser.get("/ui/jobs")
        assert listed(own.text) == [theirs["id"]]
        assert "My jobs" in text_of(own.text)
        assert "All jobs" in text_of(own.text)
        everyone = await boss.browser.get("/ui/jobs?tab=all")
        assert listed(everyone.text) == [theirs["id"], mine["id"]]
        assert 'aria-current="page">All jobs' in everyone.text


async def test_search_filters_and_the_workflow_select_show_what_the_person_may_see(settings: Settings) -> None:
    async with dashboard(settings) as (new_browser, api):
        await deploy(api, "greeter")
        await deploy(api, "hidden")
        ada = await person(new_browser, api, "ada@example.com", greeter="runner")
        alpha = await submit(ada.api, "greeter", "Alpha report")
        beta = await submit(ada.api, "greeter", "Beta notes")
        canceled = await ada.api.post(f"/v1/jobs/{beta['id']}/cancel")
        assert canceled.status_code == 200

        page = await ada.browser.get("/ui/jobs")
        options = re.findall(r'<option value="([^"]*)"', page.text.split('id="jobs-workflow"')[1].split("</select>")[0])
        assert options == ["", "greeter"]  # not the workflow not shared with her
        assert listed((await ada.browser.get("/ui/jobs?q=alpha")).text) == [alpha["id"]]
        assert listed((await ada.browser.get("/ui/jobs?status=canceled")).text) == [beta["id"]]
        both = await ada.browser.get("/ui/jobs?status=canceled&status=pending")
        assert set(listed(both.text)) == {alpha["id"], beta["id"]}
        assert listed((await ada.browser.get("/ui/jobs?workflow=greeter&origin=schedule")).text) == []
        nothing = await ada.browser.get("/ui/jobs?q=zzz")
        assert "No jobs match these filters." in text_of(nothing.text)


async def test_columns_sort_both_ways_and_say_so(settings: Settings) -> None:
    async with dashboard(settings) as (new_browser, api):
        await deploy(api, "greeter")
        b = await submit(api, "greeter", "bravo")
        a = await submit(api, "greeter", "Alpha")
        c = await submit(api, "greeter", "charlie")

        page = await new_browser_signed(new_browser)
        default = await page.get("/ui/jobs")
        assert listed(default.text) == [c["id"], a["id"], b["id"]]  # newest first
        assert re.search(r'aria-sort="descending">\s*<a href="[^"]*sort=created', default.text)
        by_name = await page.get("/ui/jobs?sort=name")
        assert listed(by_name.text) == [a["id"], b["id"], c["id"]]
        assert re.search(r'aria-sort="ascending">\s*<a href="[^"]*sort=-name', by_name.text)  # a click reverses it
        assert listed((await page.get("/ui/jobs?sort=-name")).text) == [c["id"], b["id"], a["id"]]
        headers = re.findall(r'<th[^>]*>\s*<a href="[^"]*sort=(-?\w+)', default.text)
        assert headers == ["name", "workflow", "status", "created", "-updated", "-finished", "-steps", "-duration"]
        for sort in ("workflow", "-status", "steps", "-updated", "finished", "duration"):
            assert len(listed((await page.get(f"/ui/jobs?sort={sort}")).text)) == 3, sort
        refused = await page.get("/ui/jobs?sort=nonsense")
        assert refused.status_code == 422
        assert "query:sort" in refused.text or "sort" in text_of(refused.text)


async def new_browser_signed(new_browser: Browser) -> httpx.AsyncClient:
    """A browser signed in as the operator."""
    client = new_browser()
    assert (await sign_in(client, TOKEN)).status_code == 303
    return client


async def test_pages_go_on_with_the_cursor(settings: Settings) -> None:
    async with dashboard(settings) as (new_browser, api):
        await deploy(api, "greeter")
        made = [(await submit(api, "greeter", f"job {n:02}"))["id"] for n in range(52)]
        page = await new_browser_signed(new_browser)
        first = await page.get("/ui/jobs?sort=name")
        assert listed(first.text) == made[:50]
        found = re.search(r'href="([^"]+)" id="next-page"', first.text)
        assert found is not None
        second = await page.get(found.group(1).replace("&amp;", "&"))
        assert listed(second.text) == made[50:]
        assert 'id="next-page"' not in second.text
        assert "First page" in second.text


async def test_row_actions_follow_the_role_and_the_live_cells_answer_for_active_rows(settings: Settings) -> None:
    async with dashboard(settings) as (new_browser, api):
        await deploy(api, "greeter")
        ada = await person(new_browser, api, "ada@example.com", greeter="runner")
        job = await submit(ada.api, "greeter", "mine")
        page = await ada.browser.get("/ui/jobs")
        assert f"/ui/jobs/{job['id']}/delete" in page.text
        assert f"/ui/jobs/{job['id']}/cancel" in page.text
        assert f"/ui/jobs/{job['id']}/duplicate" in page.text

        demoted = await api.put(f"/v1/workflows/greeter/members/{ada.id}", json={"role": "viewer"})
        assert demoted.status_code == 200
        page = await ada.browser.get("/ui/jobs")
        assert listed(page.text) == [job["id"]]  # still hers to see
        for action in ("delete", "cancel", "duplicate"):
            assert f"/ui/jobs/{job['id']}/{action}" not in page.text
        assert re.search(rf'value="{job["id"]}" aria-label="[^"]*" disabled', page.text)

        live = await ada.browser.get(f"/ui/jobs/rows?id={job['id']}&id=00000000-0000-0000-0000-000000000000")
        assert live.status_code == 200
        [row] = live.json()["items"]
        assert row["id"] == job["id"]
        assert row["active"] is True
        assert 'data-status="pending"' in row["status"]
        assert "Enqueued" in row["status"]
        assert set(row) == {"id", "active", "status", "updated", "completed", "duration"}
        # An id that would be another path, or add a query, is one path segment: nothing is found, nothing else read.
        odd = await ada.browser.get("/ui/jobs/rows", params=[("id", "../../workflows"), ("id", f"{job['id']}?x=1")])
        assert odd.status_code == 200
        assert odd.json() == {"items": []}


async def test_delete_selected_reports_each_job_and_needs_the_csrf_token(settings: Settings) -> None:
    async with dashboard(settings) as (new_browser, api):
        await deploy(api, "greeter")
        ada = await person(new_browser, api, "ada@example.com", greeter="runner")
        one, two = [await submit(ada.api, "greeter", n) for n in ("one", "two")]
        other = await submit(api, "greeter", "the operator's")

        forged = await ada.browser.post("/ui/jobs/delete", data={"ids": [one["id"], two["id"]]})
        assert forged.status_code == 403
        assert (await api.get(f"/v1/jobs/{one['id']}")).status_code == 200

        answer = await post_form(
            ada.browser,
            "/ui/jobs",
            "/ui/jobs/delete",
            {"ids": [one["id"], two["id"], other["id"]], "back": "/ui/jobs?q=o"},
        )
        assert answer.status_code == 303
        assert answer.headers["location"] == "/ui/jobs?q=o"
        shown = await ada.browser.get(answer.headers["location"])
        words = text_of(shown.text)
        assert "2 jobs deleted." in words
        assert f"{other['id'][:8]}…: forbidden (only the job's creator" in words, words
        for gone in (one, two):
            assert (await api.get(f"/v1/jobs/{gone['id']}")).status_code == 404
        assert (await api.get(f"/v1/jobs/{other['id']}")).status_code == 200

        empty = await post_form(ada.browser, "/ui/jobs", "/ui/jobs/delete", {})
        assert empty.status_code == 303
        assert "Select the jobs to delete first." in text_of((await ada.browser.get("/ui/jobs")).text)
        outside = await post_form(
            ada.browser, "/ui/jobs", "/ui/jobs/delete", {"ids": [other["id"]], "back": "https://evil.example/"}
        )
        assert outside.headers["location"] == "/ui/jobs"


async def test_the_list_needs_a_session(settings: Settings) -> None:
    async with dashboard(settings) as (new_browser, _api):
        anonymous = new_browser()
        page = await anonymous.get("/ui/jobs?q=x")
        assert page.status_code == 303
        assert page.headers["location"].startswith("/ui/sign-in?next=/ui/jobs")
        rows = await anonymous.get("/ui/jobs/rows", headers={"Accept": "application/json"})
        assert rows.status_code == 401
        assert csrf_of((await anonymous.get("/ui/sign-in")).text)
