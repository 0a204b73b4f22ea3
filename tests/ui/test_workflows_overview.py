"""A workflow's overview: the deployed version read-only, the draft editor for editors only (Save draft, Validate,
Deploy), problems at their path and line, the versions, and deleting the workflow behind its slug."""

from __future__ import annotations

import json

from tests.ui.forms import post_form
from tests.ui.workflows_helpers import GREETER, page, read, world
from workflow_service.config import Settings

BROKEN_YAML = """\
steps:
  - id: greet
    type: transform
    output: hi
  - id: second
    type: no-such-type
"""


async def test_an_editor_sees_the_editor_with_the_draft_and_the_deployed_version(settings: Settings) -> None:
    async with world(settings) as w:
        await w.workflow("greeter")
        editor = await w.person("ed@example.com", "editor")
        shown = await page(editor, "/ui/workflows/greeter")
        as_json = await page(editor, "/ui/workflows/greeter?format=json")
    assert shown.posts_to("/ui/workflows/greeter/draft")
    assert {"Save draft", "Validate", "Deploy"} <= set(shown.buttons)
    assert "Deployed version 1" in shown.text
    assert "Version 1" in shown.text
    assert "current" in shown.text
    assert "- id: greet" in shown.html  # the draft in YAML
    assert "Delete workflow…" not in shown.buttons  # an editor may not delete it
    assert "&#34;steps&#34;: [" in as_json.html  # the same, as JSON


async def test_viewers_and_runners_see_only_the_read_only_parts(settings: Settings) -> None:
    async with world(settings) as w:
        await w.workflow("greeter")
        viewer = await w.person("viewer@example.com", "viewer")
        runner = await w.person("runner@example.com", "runner")
        for client in (viewer, runner):
            shown = await page(client, "/ui/workflows/greeter")
            assert "Deployed version 1" in shown.text
            assert "Draft (in development, read-only)" in shown.text
            assert not shown.posts_to("/draft")
            assert not shown.posts_to("/delete")
            assert "Save draft" not in shown.buttons
            assert "Deploy" not in shown.buttons
            nav = shown.html.split('aria-label="Workflow"')[1].split("</nav>")[0]
            assert "/keys" not in nav  # API keys are for editors


async def test_save_draft_in_yaml_stores_it_and_reports_its_problems_on_their_lines(settings: Settings) -> None:
    async with world(settings) as w:
        await w.workflow("greeter")
        browser = await w.operator()
        data = {"definition": BROKEN_YAML, "format": "yaml", "do": "save"}
        answer = await post_form(browser, "/ui/workflows/greeter", "/ui/workflows/greeter/draft", data)
        stored = (await w.api.get("/v1/workflows/greeter")).json()
        shown = await page(browser, answer.headers["location"])
    assert answer.status_code == 303
    assert stored["draft"]["steps"][1]["type"] == "no-such-type"
    assert stored["current_version"] == 1
    assert "Draft saved. It has" in shown.text
    problem = next(p for p in stored["draft_problems"] if p["path"].startswith("$.steps[1]"))
    line = 1 + shown.html.split("<textarea")[1].split(">", 1)[1].split("\n").index("  type: no-such-type")
    assert f'data-line="{line}"' in shown.html
    assert problem["path"] in shown.text


async def test_validate_lists_each_problem_at_its_path_and_line_of_the_text_typed(settings: Settings) -> None:
    async with world(settings) as w:
        await w.workflow("greeter")
        browser = await w.operator()
        data = {"definition": BROKEN_YAML, "format": "yaml", "do": "validate"}
        answer = await post_form(browser, "/ui/workflows/greeter", "/ui/workflows/greeter/draft", data)
        shown = read(answer.text)
        valid = {"definition": json.dumps(GREETER), "format": "json", "do": "validate"}
        fixed = await post_form(browser, "/ui/workflows/greeter", "/ui/workflows/greeter/draft", valid)
    assert answer.status_code == 200
    assert "$.steps[1].type" in shown.text
    assert 'data-line="6"' in answer.text
    assert BROKEN_YAML.split("\n")[5] in answer.text  # the text as typed is kept
    assert "The draft is valid: it can be deployed." in read(fixed.text).text


async def test_deploy_from_the_editor_makes_the_next_version_current(settings: Settings) -> None:
    async with world(settings) as w:
        await w.workflow("greeter", deploy=False)
        editor = await w.person("ed@example.com", "editor")
        changed = {**GREETER, "variables": {"tone": "warm"}}
        data = {"definition": json.dumps(changed), "format": "json", "do": "deploy"}
        answer = await post_form(editor, "/ui/workflows/greeter", "/ui/workflows/greeter/draft", data)
        stored = (await w.api.get("/v1/workflows/greeter")).json()
        shown = await page(editor, answer.headers["location"])
        version = await page(editor, "/ui/workflows/greeter/versions/1")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui/workflows/greeter?format=json"
    assert stored["current_version"] == 1
    assert "Version 1 deployed" in shown.text
    assert "Deployed version 1" in shown.text
    assert "Version 1" in version.text
    assert "tone: warm" in version.text


async def test_a_draft_with_problems_is_not_deployed_and_its_problems_are_shown(settings: Settings) -> None:
    async with world(settings) as w:
        await w.workflow("greeter")
        browser = await w.operator()
        data = {"definition": BROKEN_YAML, "format": "yaml", "do": "deploy"}
        answer = await post_form(browser, "/ui/workflows/greeter", "/ui/workflows/greeter/draft", data)
        versions = (await w.api.get("/v1/workflows/greeter/versions")).json()["items"]
    shown = read(answer.text)
    assert answer.status_code == 422
    assert "cannot be deployed" in shown.text
    assert "$.steps[1].type" in shown.text
    assert 'data-line="6"' in answer.text
    assert [v["number"] for v in versions] == [1]


async def test_text_that_does_not_parse_saves_nothing_and_points_at_its_line(settings: Settings) -> None:
    async with world(settings) as w:
        await w.workflow("greeter")
        browser = await w.operator()
        bad_json = '{\n  "steps": [\n    {"id": "a",}\n  ]\n}'
        answer = await post_form(
            browser, "/ui/workflows/greeter", "/ui/workflows/greeter/draft", {"definition": bad_json, "format": "json"}
        )
        a_list = await post_form(
            browser,
            "/ui/workflows/greeter",
            "/ui/workflows/greeter/draft",
            {"definition": "- 1\n- 2", "format": "yaml"},
        )
        stored = (await w.api.get("/v1/workflows/greeter")).json()
    assert answer.status_code == 422
    assert "Nothing was saved" in read(answer.text).text
    assert 'data-line="3"' in answer.text
    assert a_list.status_code == 422
    assert "must be an object" in read(a_list.text).text
    assert stored["draft"] == GREETER


async def test_a_viewers_forged_save_and_a_missing_csrf_token_change_nothing(settings: Settings) -> None:
    async with world(settings) as w:
        await w.workflow("greeter")
        viewer = await w.person("viewer@example.com", "viewer")
        data = {"definition": "{}", "format": "json", "do": "deploy"}
        forged = await post_form(viewer, "/ui/workflows/greeter", "/ui/workflows/greeter/draft", data)
        operator = await w.operator()
        no_token = await operator.post("/ui/workflows/greeter/draft", data=data)
        stored = (await w.api.get("/v1/workflows/greeter")).json()
        versions = (await w.api.get("/v1/workflows/greeter/versions")).json()["items"]
    assert forged.status_code == 403
    assert no_token.status_code == 403
    assert stored["draft"] == GREETER
    assert len(versions) == 1


async def test_an_unknown_workflow_or_version_is_a_not_found_page(settings: Settings) -> None:
    async with world(settings) as w:
        await w.workflow("greeter")
        browser = await w.operator()
        outsider = await w.person("out@example.com", None)
        missing = await browser.get("/ui/workflows/nope")
        no_version = await browser.get("/ui/workflows/greeter/versions/9")
        hidden = await outsider.get("/ui/workflows/greeter")
    assert missing.status_code == 404
    assert no_version.status_code == 404
    assert hidden.status_code == 404


async def test_deleting_asks_for_the_slug_and_is_for_owners_only(settings: Settings) -> None:
    async with world(settings) as w:
        await w.workflow("greeter")
        owner = await w.person("owner@example.com", "owner")
        editor = await w.person("ed@example.com", "editor")
        shown = await page(owner, "/ui/workflows/greeter")
        assert "Delete workflow…" in shown.buttons
        assert 'data-must-equal="greeter"' in shown.html
        wrong = await post_form(
            owner, "/ui/workflows/greeter", "/ui/workflows/greeter/delete", {"confirm_slug": "greet"}
        )
        assert wrong.status_code == 422
        assert "type the workflow's slug, greeter" in read(wrong.text).text
        assert 'data-show="1"' in wrong.text  # the dialog opens again with the problem
        forged = await post_form(
            editor, "/ui/workflows/greeter", "/ui/workflows/greeter/delete", {"confirm_slug": "greeter"}
        )
        assert forged.status_code == 403
        assert (await w.api.get("/v1/workflows/greeter")).status_code == 200
        done = await post_form(
            owner, "/ui/workflows/greeter", "/ui/workflows/greeter/delete", {"confirm_slug": "greeter"}
        )
        gone = await w.api.get("/v1/workflows/greeter")
        listed = await page(owner, done.headers["location"])
    assert done.status_code == 303
    assert done.headers["location"] == "/ui/workflows"
    assert gone.status_code == 404
    assert "Workflow “Greeter” deleted." in listed.text
