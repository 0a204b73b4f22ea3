"""The workflows list: what each person sees, a new workflow from its form, the import of a package as a new
workflow, and what is refused (CSRF, a definition that does not parse, a taken slug, a bad package)."""

from __future__ import annotations

import html
import io
import json
import zipfile

from tests.ui.forms import csrf_of, post_form
from tests.ui.workflows_helpers import page, read, world
from workflow_service.config import Settings


async def test_the_list_shows_each_workflow_with_its_deployed_version(settings: Settings) -> None:
    async with world(settings) as w:
        await w.workflow("greeter")
        await w.workflow("drafty", deploy=False)
        browser = await w.operator()
        shown = await page(browser, "/ui/workflows")
    assert "Greeter" in shown.text
    assert "v1" in shown.text
    assert "Drafty" in shown.text
    assert "not deployed" in shown.text
    assert 'href="/ui/jobs/new?workflow=greeter"' in shown.html
    assert "/ui/jobs/new?workflow=drafty" not in shown.html  # a draft cannot run
    assert "New workflow" in shown.text
    assert shown.posts_to("/ui/workflows/import")


async def test_a_member_sees_only_the_workflows_shared_with_them_and_new_job_only_where_they_may_run(
    settings: Settings,
) -> None:
    async with world(settings) as w:
        await w.workflow("greeter")
        await w.workflow("hidden")
        await w.workflow("watched")
        runner = await w.person("runner@example.com", "runner", "greeter")
        viewer = await w.person("viewer@example.com", "viewer", "watched")
        as_runner = await page(runner, "/ui/workflows")
        as_viewer = await page(viewer, "/ui/workflows")
    assert "Greeter" in as_runner.text
    assert "Hidden" not in as_runner.text
    assert "Watched" not in as_runner.text
    assert "/ui/jobs/new?workflow=greeter" in as_runner.html
    assert "Watched" in as_viewer.text
    assert "Greeter" not in as_viewer.text
    assert "/ui/jobs/new?workflow=watched" not in as_viewer.html  # a viewer may not run it


async def test_the_list_pages_fifty_at_a_time(settings: Settings) -> None:
    async with world(settings) as w:
        for i in range(51):
            made = await w.api.post("/v1/workflows", json={"name": f"W{i:02d}", "definition": {}})
            assert made.status_code == 201
        browser = await w.operator()
        first = await page(browser, "/ui/workflows")
        assert "Next page" in first.text
        found = first.html.split('class="pager"')[1].split('href="')[1].split('"')[0]
        second = await page(browser, found.replace("&amp;", "&"))
    assert "W50" in first.text
    assert "W00" not in first.text
    assert "W00" in second.text
    assert "Next page" not in second.text


async def test_a_new_workflow_is_made_from_the_form_with_its_starter_definition(settings: Settings) -> None:
    async with world(settings) as w:
        browser = await w.operator()
        shown = await page(browser, "/ui/workflows")
        starter = html.unescape(shown.html.split('id="wf-definition"')[1].split(">", 1)[1].split("</textarea>")[0])
        assert "steps:" in starter  # the starter, in YAML
        data = {"name": "Support Bot", "slug": "", "description": "Answers", "definition": starter, "format": "yaml"}
        answer = await post_form(browser, "/ui/workflows", "/ui/workflows", data)
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/ui/workflows/support-bot")
        made = (await w.api.get("/v1/workflows/support-bot")).json()
        landed = await page(browser, answer.headers["location"])
    assert made["name"] == "Support Bot"
    assert made["description"] == "Answers"
    assert made["draft"]["steps"][0]["id"] == "greet"
    assert made["draft_problems"] == []
    assert made["current_version"] is None
    assert "Workflow “Support Bot” created. Deploy it to run it." in landed.text


async def test_a_new_workflow_in_json_keeps_its_definition(settings: Settings) -> None:
    async with world(settings) as w:
        browser = await w.operator()
        definition = json.dumps({"steps": [{"id": "a", "type": "transform", "output": 1}]})
        data = {"name": "J", "slug": "jay", "description": "", "definition": definition, "format": "json"}
        answer = await post_form(browser, "/ui/workflows", "/ui/workflows", data)
        made = (await w.api.get("/v1/workflows/jay")).json()
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui/workflows/jay?format=json"
    assert made["draft"] == {"steps": [{"id": "a", "type": "transform", "output": 1}]}


async def test_a_definition_that_does_not_parse_is_refused_at_its_line_and_nothing_is_made(settings: Settings) -> None:
    async with world(settings) as w:
        browser = await w.operator()
        data = {
            "name": "Broken",
            "slug": "broken",
            "description": "",
            "definition": "steps:\n  - id: a\n   bad",
            "format": "yaml",
        }
        answer = await post_form(browser, "/ui/workflows", "/ui/workflows", data)
        listed = (await w.api.get("/v1/workflows")).json()["items"]
    shown = read(answer.text)
    assert answer.status_code == 422
    assert "line 3" in shown.text
    assert "not valid YAML" in shown.text
    assert 'value="Broken"' in answer.text  # what was typed is kept
    assert listed == []


async def test_a_taken_or_malformed_slug_is_the_apis_refusal_with_its_path(settings: Settings) -> None:
    async with world(settings) as w:
        await w.workflow("greeter")
        browser = await w.operator()
        base = {"name": "Again", "description": "", "definition": "{}", "format": "json"}
        taken = await post_form(browser, "/ui/workflows", "/ui/workflows", {**base, "slug": "greeter"})
        malformed = await post_form(browser, "/ui/workflows", "/ui/workflows", {**base, "slug": "Not A Slug"})
        listed = (await w.api.get("/v1/workflows")).json()["items"]
    assert taken.status_code == 409
    assert malformed.status_code == 422
    assert "$.slug" in read(malformed.text).text
    assert [item["slug"] for item in listed] == ["greeter"]


async def test_a_form_without_its_csrf_token_is_refused_and_makes_nothing(settings: Settings) -> None:
    async with world(settings) as w:
        browser = await w.operator()
        data = {"name": "Forged", "slug": "forged", "definition": "{}", "format": "json"}
        missing = await browser.post("/ui/workflows", data=data)
        wrong = await browser.post("/ui/workflows", data={**data, "csrf_token": "not-the-token"})
        listed = (await w.api.get("/v1/workflows")).json()["items"]
    assert missing.status_code == 403
    assert wrong.status_code == 403
    assert listed == []


def _package(name: str = "Imported Bot", variables: list[dict[str, object]] | None = None) -> bytes:
    """A package as an export writes it (docs/packages.md)."""
    app = {
        "definition": {"input_schema": {"type": "object"}},
        "description": "From elsewhere",
        "format_version": 1,
        "name": name,
        "settings": {
            "push": {"callback_url": None, "enabled": False, "timeout_s": 180},
            "queue_timeout_s": None,
            "retention_days": None,
            "sync_timeout_s": 90,
        },
        "source": {"version": 1, "workflow": "elsewhere"},
    }
    flow = {
        "definition": {"steps": [{"id": "a", "type": "transform", "output": {"v": "{{ env.REGION }}"}}]},
        "format_version": 1,
    }
    env = {
        "format_version": 1,
        "variables": variables
        if variables is not None
        else [{"name": "REGION", "notes": None, "secure": False, "value": "eu"}],
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for file, content in (
            ("app_definition.json", app),
            ("flow_definition.json", flow),
            ("env_variables.json", env),
        ):
            archive.writestr(file, json.dumps(content))
    return buffer.getvalue()


async def test_a_package_is_imported_as_a_new_workflow(settings: Settings) -> None:
    async with world(settings) as w:
        browser = await w.operator()
        token = csrf_of((await browser.get("/ui/workflows")).text)
        files = {"package": ("Imported Bot.zip", _package(), "application/zip")}
        answer = await browser.post(
            "/ui/workflows/import", data={"csrf_token": token, "slug": "", "name": ""}, files=files
        )
        made = (await w.api.get("/v1/workflows/imported-bot")).json()
        env = (await w.api.get("/v1/workflows/imported-bot/env")).json()["items"]
        settings_read = (await w.api.get("/v1/workflows/imported-bot/settings")).json()
        landed = await page(browser, answer.headers["location"])
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui/workflows/imported-bot"
    assert made["draft"]["steps"][0]["id"] == "a"
    assert made["current_version"] is None
    assert [(v["name"], v["value"]) for v in env] == [("REGION", "eu")]
    assert settings_read["sync_timeout_s"] == 90
    assert "Workflow “Imported Bot” imported." in landed.text


async def test_a_bad_package_is_refused_with_the_apis_problem_and_nothing_is_made(settings: Settings) -> None:
    async with world(settings) as w:
        browser = await w.operator()
        token = csrf_of((await browser.get("/ui/workflows")).text)
        not_zip = {"package": ("x.zip", b"this is not a zip", "application/zip")}
        refused = await browser.post("/ui/workflows/import", data={"csrf_token": token}, files=not_zip)
        none = await browser.post("/ui/workflows/import", data={"csrf_token": token}, files={"package": ("", b"")})
        listed = (await w.api.get("/v1/workflows")).json()["items"]
    assert refused.status_code == 422
    assert "zip" in read(refused.text).text
    assert 'id="import-workflow" open' in refused.text  # the import form stays open with its problem
    assert none.status_code == 422
    assert "Choose a package" in read(none.text).text
    assert listed == []
