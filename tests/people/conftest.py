"""Helpers for the people tests: workspaces, their users with each role and their tokens, made through the API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.access.conftest import ClientFactory, admin, connect
from tests.conftest import TOKEN

__all__ = ["ClientFactory", "Person", "Team", "add_user", "admin", "as_operator", "connect", "create_workspace"]


async def create_workspace(
    admin: httpx.AsyncClient, slug: str, owner: str | None = None, **extra: Any
) -> dict[str, Any]:
    """Create a workspace as the operator, its owner `owner` (an email; default owner@<slug>.test); the 201 body."""
    body = {"slug": slug, "name": slug.title(), "owner": {"email": owner or f"owner@{slug}.test", "name": "Owner"}}
    response = await admin.post("/v1/workspaces", json={**body, **extra})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def add_user(client: httpx.AsyncClient, email: str, role: str = "member", **extra: Any) -> dict[str, Any]:
    """Add a user to the client's workspace; the 201 body (with their token)."""
    body = {"email": email, "name": email.split("@")[0].title(), "role": role, **extra}
    response = await client.post("/v1/users", json=body)
    assert response.status_code == 201, response.text
    added: dict[str, Any] = response.json()
    return added


def as_operator(connect: ClientFactory, workspace: str) -> httpx.AsyncClient:
    """The operator acting in the workspace `workspace` (a slug), with the `Wfs-Workspace` header."""
    client = connect(TOKEN)
    client.headers["Wfs-Workspace"] = workspace
    return client


@dataclass(frozen=True)
class Person:
    """A user of a workspace: their id, email, and a client with their personal token."""

    id: str
    email: str
    client: httpx.AsyncClient


@dataclass(frozen=True)
class Team:
    """A workspace with an owner, an admin and two members, each with a client of their own."""

    slug: str
    workspace_id: str
    owner: Person
    admin: Person
    member: Person
    other: Person
    """A second member."""


async def make_team(admin: httpx.AsyncClient, connect: ClientFactory, slug: str) -> Team:
    created = await create_workspace(admin, slug)
    owner = Person(created["owner"]["id"], created["owner"]["email"], connect(created["owner_token"]))
    people = []
    for name, role in (("admin", "admin"), ("member", "member"), ("other", "member")):
        added = await add_user(owner.client, f"{name}@{slug}.test", role)
        people.append(Person(added["id"], added["email"], connect(added["token"])))
    return Team(slug, created["workspace"]["id"], owner, *people)


@pytest.fixture
async def team(admin: httpx.AsyncClient, connect: ClientFactory) -> Team:
    """The workspace `acme` with its owner, an admin and two members."""
    return await make_team(admin, connect, "acme")
