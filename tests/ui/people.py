"""The people a dashboard test signs in as: users of the service's workspace made through the API by the operator,
and workflows shared with them."""

from __future__ import annotations

import itertools
from typing import NamedTuple

from tests.client.conftest import Service
from wfs_client import models

_numbers = itertools.count(1)


class Person(NamedTuple):
    """A user of the workspace, and their personal access token (what they sign in with)."""

    id: str
    email: str
    token: str


def users(service: Service, *roles: models.WorkspaceRole) -> list[Person]:
    """Add one new user to the service's workspace per role named ("owner", "admin", "member"; one "member" when
    none is), through the API as the operator, each with a personal access token."""
    made = []
    with service.client() as wfs:
        for role in roles or ("member",):
            number = next(_numbers)
            body: models.UserCreate = {"email": f"user{number}@example.com", "name": f"User {number}", "role": role}
            created = wfs.create_user(body)
            token = created["token"]
            assert token, created
            made.append(Person(created["id"], created["email"], token))
    return made


def share_workflow(service: Service, workflow: str, user: str, role: models.WorkflowRole) -> models.MemberRead:
    """Invite a member of the workspace (`user`: their id or email) to the workflow (its id or slug) with a role
    ("viewer", "runner", "editor", "owner"), or change their role on it, as the operator."""
    with service.client() as wfs:
        return wfs.share_workflow(workflow, user, {"role": role})
