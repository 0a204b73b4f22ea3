"""The workflows list: what each person sees, a new workflow from its form, the import of a package as a new
workflow, and what is refused (CSRF, a definition that does not parse, a taken slug, a bad package)."""

from __future__ import annotations

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
    assert "Greeter" in shown.text and "v1" in shown.text
    assert "Drafty" in shown.text and "not deployed" in shown.text
    assert 'href="/ui/jobs/new?workflow=greeter"' in shown.html
    assert "/ui/jobs/new?workflow=drafty" not in shown.html  # a draft cannot run
    assert "New workflow" in shown.text and shown.posts_to("/ui/workflows/import")
