"""The harness against the service as real processes, in both modes: a page of the app (/docs, Swagger UI with its
assets served by the app) loads in the browser with nothing recorded, and the people helpers make users who can
sign in with their tokens and see the workflows shared with them."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from tests.client.conftest import Service, deployed_greeter
from tests.ui.browser import distributed_only
from tests.ui.people import share_workflow, users
from wfs_client import ApiError, Client


@distributed_only
def test_the_api_docs_page_loads_with_nothing_recorded(page: Page, service: Service) -> None:
    response = page.goto(f"{service.url}/docs")

    assert response is not None
    assert response.status == 200
    page.locator(".opblock").first.wait_for(timeout=30_000)  # Swagger UI renders the whole contract first
    assert page.locator(".opblock").count() > 10
    assert page.title() == "workflow-service - Swagger UI"


def test_users_are_made_with_their_roles_and_tokens(service: Service) -> None:
    made = users(service, "admin", "member")

    assert len({person.email for person in made}) == 2
    for person, role in zip(made, ("admin", "member"), strict=True):
        with Client(service.url, person.token) as wfs:
            me = wfs.get_me()
        assert me["workspace_role"] == role
        assert me["user"] is not None
        assert (me["user"]["id"], me["user"]["email"]) == (person.id, person.email)


@distributed_only
def test_users_makes_one_member_when_no_role_is_named(service: Service) -> None:
    (person,) = users(service)
    user_id, email, token = person

    with Client(service.url, token) as wfs:
        me = wfs.get_me()
    assert me["workspace_role"] == "member"
    assert me["user"] is not None
    assert (me["user"]["id"], me["user"]["email"]) == (user_id, email)


@distributed_only
def test_a_workflow_shared_with_a_member_is_theirs_with_that_role(service: Service) -> None:
    slug = deployed_greeter(service, "shared")
    (member,) = users(service, "member")
    with Client(service.url, member.token) as wfs, pytest.raises(ApiError) as hidden:
        wfs.get_workflow(slug)
    assert hidden.value.status == 404

    invited = share_workflow(service, slug, member.id, "viewer")
    changed = share_workflow(service, slug, member.email, "runner")

    assert (invited["id"], invited["role"]) == (member.id, "viewer")
    assert (changed["id"], changed["role"]) == (member.id, "runner")
    with Client(service.url, member.token) as wfs:
        assert wfs.get_workflow(slug)["slug"] == slug
    with service.client() as wfs:
        assert [(m["id"], m["role"]) for m in wfs.list_members(slug)["items"]] == [(member.id, "runner")]


@distributed_only
def test_sharing_with_an_admin_is_refused(service: Service) -> None:
    slug = deployed_greeter(service, "shared")
    (admin,) = users(service, "admin")

    with pytest.raises(ApiError) as refused:
        share_workflow(service, slug, admin.id, "viewer")
    assert refused.value.status == 422
