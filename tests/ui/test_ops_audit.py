"""The audit log pages: the workspace's (owners, admins, the operator) with its chain's verification, and a
workflow's (its editors and owners): entries, filters, pages; refusals for whom may not read them."""

from __future__ import annotations

import re

from tests.ui.forms import dashboard
from tests.ui.ops_helpers import SLUG, field_error, greeter, operator, person, text
from workflow_service.config import Settings


def actions_listed(html: str) -> list[str]:
    return re.findall(r'<tr data-action="([^"]+)"', html)


async def test_an_owner_reads_the_workspace_log_filters_it_and_sees_the_chain_verify(settings: Settings) -> None:
    async with dashboard(settings) as (new_browser, api):
        await greeter(api)
        owner = await person(new_browser, api, "olga", role="owner")
        await api.put(f"/v1/workflows/{SLUG}/members/olga@example.com", json={"role": "viewer"})
        page = await owner.browser.get("/ui/audit")
        assert page.status_code == 200
        listed = actions_listed(page.text)
        assert {"auth.signed_in", "member.added", "workflow.deployed", "workflow.created"} <= set(listed)
        assert "Intact: all" in text(page.text)
        assert "signed in to the dashboard" in text(page.text)

        by_category = await owner.browser.get("/ui/audit", params={"category": "auth"})
        assert set(actions_listed(by_category.text)) == {"auth.signed_in"}
        by_action = await owner.browser.get("/ui/audit", params={"action": "workflow.deployed"})
        assert actions_listed(by_action.text) == ["workflow.deployed"]
        by_actor = await owner.browser.get("/ui/audit", params={"actor": "admin"})
        assert "auth.signed_in" not in actions_listed(by_actor.text)
        assert actions_listed(by_actor.text)
        future = await owner.browser.get("/ui/audit", params={"since": "2999-01-01T00:00"})
        assert actions_listed(future.text) == []
        assert "No entries match these filters." in text(future.text)
        past = await owner.browser.get("/ui/audit", params={"until": "2000-01-01T00:00"})
        assert actions_listed(past.text) == []


async def test_the_log_pages_forward_with_the_filters_kept(settings: Settings) -> None:
    async with dashboard(settings) as (new_browser, api):
        for n in range(55):
            made = await api.post("/v1/users", json={"email": f"u{n}@example.com", "name": f"U{n}"})
            assert made.status_code == 201
        op = await operator(new_browser)
        first = await op.get("/ui/audit", params={"category": "member"})
        assert len(actions_listed(first.text)) == 50
        found = re.search(r'<a class="button secondary" href="([^"]+)">Next page', first.text)
        assert found is not None
        assert "category=member" in found.group(1)
        second = await op.get(found.group(1).replace("&amp;", "&"))
        assert second.status_code == 200
        assert actions_listed(second.text) == ["member.added"] * 5


async def test_a_bad_time_filter_shows_the_error_at_its_field(settings: Settings) -> None:
    async with dashboard(settings) as (new_browser, _api):
        op = await operator(new_browser)
        bad = await op.get("/ui/audit", params={"since": "yesterday"})
        assert bad.status_code == 422
        assert "not a date and time" in field_error(bad.text, "f-since")
        assert 'value="yesterday"' in bad.text


async def test_the_operator_reads_the_deployments_log(settings: Settings) -> None:
    async with dashboard(settings) as (new_browser, api):
        refused = await api.get("/v1/jobs", headers={"Authorization": "Bearer wfs_pat_000000000000_nope"})
        assert refused.status_code == 401
        op = await operator(new_browser)
        page = await op.get("/ui/audit", params={"chain": "deployment"})
        assert page.status_code == 200
        assert "auth.sign_in_failed" in actions_listed(page.text)
        assert '<option value="deployment" selected>' in page.text


async def test_members_may_not_read_the_workspace_log(settings: Settings) -> None:
    async with dashboard(settings) as (new_browser, api):
        await greeter(api)
        member = await person(new_browser, api, "mo", share="owner")
        assert (await member.browser.get("/ui/audit")).status_code == 403
        account = await member.browser.get("/ui/account")
        assert 'href="/ui/audit"' not in account.text
        admin = await person(new_browser, api, "ada", role="admin")
        assert 'href="/ui/audit"' in (await admin.browser.get("/ui/account")).text
        assert (await member.browser.get("/ui/audit", params={"chain": "deployment"})).status_code == 403


async def test_a_workflows_log_for_its_editors_and_owners_only(settings: Settings) -> None:
    async with dashboard(settings) as (new_browser, api):
        await greeter(api)
        other = await api.post("/v1/workflows", json={"name": "other", "slug": "other", "definition": {"steps": []}})
        assert other.status_code == 201, other.text
        editor = await person(new_browser, api, "ed", share="editor")
        page = await editor.browser.get(f"/ui/workflows/{SLUG}/audit")
        assert page.status_code == 200
        listed = actions_listed(page.text)
        assert {"workflow.created", "workflow.deployed", "share.granted"} <= set(listed)
        assert "Audit logs" in text(page.text)
        assert "other" not in " ".join(re.findall(r"<td>([^<]*)</td>", page.text))
        narrowed = await editor.browser.get(f"/ui/workflows/{SLUG}/audit", params={"category": "share"})
        assert actions_listed(narrowed.text) == ["share.granted"]
        assert "Chain verification" not in text(page.text)

        for role in ("viewer", "runner"):
            someone = await person(new_browser, api, f"{role}1", share=role)
            assert (await someone.browser.get(f"/ui/workflows/{SLUG}/audit")).status_code == 403, role
            overview_nav = await someone.browser.get(f"/ui/workflows/{SLUG}/sharing")
            assert f'/ui/workflows/{SLUG}/audit"' not in overview_nav.text
        stranger = await person(new_browser, api, "zed")
        assert (await stranger.browser.get(f"/ui/workflows/{SLUG}/audit")).status_code == 404
