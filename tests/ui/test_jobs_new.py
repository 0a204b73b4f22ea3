"""The new job form at /ui/jobs/new: the deployed workflows the person may run, a field per simple input, JSON for
the rest, variable overrides; a wrong input type shown at its field, what was typed kept."""

from __future__ import annotations

import re

from tests.ui.forms import dashboard, post_form
from tests.ui.jobs_helpers import deploy, person, text_of
from workflow_service.config import Settings


async def test_the_form_offers_the_workflows_one_may_run_and_starts_a_job(settings: Settings) -> None:
    async with dashboard(settings) as (new_browser, api):
        await deploy(api, "greeter")
        await deploy(api, "watched")
        draft = await api.post(
            "/v1/workflows",
            json={
                "name": "Draft",
                "slug": "draft",
                "definition": {"steps": [{"id": "a", "type": "transform", "output": 1}]},
            },
        )
        assert draft.status_code == 201
        ada = await person(new_browser, api, "ada@example.com", greeter="runner", watched="viewer", draft="owner")

        empty = await ada.browser.get("/ui/jobs/new")
        assert re.findall(r'<option value="([^"]+)"', empty.text) == ["greeter"]  # not a viewer's, nor a draft
        page = await ada.browser.get("/ui/jobs/new?workflow=greeter")
        assert 'name="input.name"' in page.text
        assert 'name="input.count"' in page.text
        assert 'name="inputs_json"' in page.text  # `tags` is an array: JSON
        assert 'name="var.greeting" value="Hello"' in page.text

        wrong = await post_form(
            ada.browser,
            "/ui/jobs/new?workflow=greeter",
            "/ui/jobs/new",
            {"workflow": "greeter", "name": "typo", "input.name": "Ada", "type.name": "string", "input.count": "three",
             "type.count": "integer", "var.greeting": "Hello", "default.greeting": "Hello", "vtype.greeting": "str"},
        )  # fmt: skip
        assert wrong.status_code == 422
        assert re.search(r'class="field-error"[^>]*><code>\$\.inputs\.count</code>', wrong.text)
        assert 'value="three"' in wrong.text
        assert 'value="typo"' in wrong.text
        assert (await api.get("/v1/jobs?scope=all")).json()["items"] == []

        bad_json = await post_form(
            ada.browser, "/ui/jobs/new?workflow=greeter", "/ui/jobs/new", {"workflow": "greeter", "inputs_json": "[1"}
        )
        assert bad_json.status_code == 422
        assert "The inputs are not JSON." in text_of(bad_json.text)
        not_object = await post_form(
            ada.browser, "/ui/jobs/new?workflow=greeter", "/ui/jobs/new", {"workflow": "greeter", "inputs_json": "[1]"}
        )
        assert not_object.status_code == 422
        assert "must be a JSON object" in text_of(not_object.text)
        nothing = await post_form(ada.browser, "/ui/jobs/new", "/ui/jobs/new", {})
        assert nothing.status_code == 422
        assert "Choose a workflow." in text_of(nothing.text)
        not_hers = await post_form(ada.browser, "/ui/jobs/new", "/ui/jobs/new", {"workflow": "watched"})
        assert not_hers.status_code == 403

        made = await post_form(
            ada.browser,
            "/ui/jobs/new?workflow=greeter",
            "/ui/jobs/new",
            {"workflow": "greeter", "name": "Hello run", "input.name": "Ada", "type.name": "string",
             "input.count": "3", "type.count": "integer", "inputs_json": '{"tags": ["a"]}', "var.greeting": "Hey",
             "default.greeting": "Hello", "vtype.greeting": "str", "var.punctuation": "!", "default.punctuation": "!",
             "vtype.punctuation": "str"},
        )  # fmt: skip
        assert made.status_code == 303
        job = (await ada.api.get(f"/v1/jobs/{made.headers['location'].rsplit('/', 1)[1]}")).json()
        assert job["name"] == "Hello run"
        assert job["inputs"] == {"name": "Ada", "count": 3, "tags": ["a"]}
        assert job["variables"] == {"greeting": "Hey"}
        assert job["status"] == "pending"
