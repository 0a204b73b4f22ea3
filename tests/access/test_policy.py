"""The access policy as a table: every action, asked by every kind of principal, on the resources it takes.

The columns are the principals of issue 10's sweep that the pure policy tells apart: the operator, a workspace
owner and admin, a member invited with each workflow role, a member not invited, an API key on its own workflow
and on another. (Another workspace's user, and expired or revoked tokens, are told apart before the policy: by
the lookups scoped to the caller's workspace, and by authentication; tests/access/test_sweep.py covers them.)
"""

from __future__ import annotations

import uuid

import pytest

from workflow_service.access.policy import (
    SERVICE,
    SERVICE_ACTIONS,
    Action,
    Effect,
    JobResource,
    WorkflowResource,
    allowed,
    reads_job,
    reads_member_role,
)
from workflow_service.access.principal import (
    ADMIN,
    Principal,
    PrincipalKind,
    WorkflowRole,
    WorkspaceRole,
    api_key,
    operator,
    user,
)

A, F, H = Effect.ALLOW, Effect.FORBID, Effect.HIDE
WS = uuid.UUID("0190a1b2-c3d4-7e5f-8a9b-0000000000a1")
OTHER_WS = uuid.UUID("0190a1b2-c3d4-7e5f-8a9b-0000000000a2")
WORKFLOW_ID = uuid.UUID("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b")
KEY_ID = uuid.UUID("0190a1b2-c3d4-7e5f-8a9b-000000000001")
JOB_ID = "0190a1b2-c3d4-7e5f-8a9b-00000000000a"


def _user(n: int, role: WorkspaceRole, workspace: uuid.UUID = WS) -> Principal:
    return user(uuid.UUID(int=n), f"user{n}@example.com", workspace, role)


OPERATOR = operator(WS)
OWNER = _user(1, WorkspaceRole.OWNER)
ADMIN_USER = _user(2, WorkspaceRole.ADMIN)
MEMBER = _user(3, WorkspaceRole.MEMBER)
KEY = api_key(KEY_ID, "ci", WORKFLOW_ID, "greeter", WS)
OTHER_KEY = api_key(uuid.uuid4(), "elsewhere", uuid.uuid4(), "other", WS)

# A column: the principal, and the member role the loaders would find for it on the workflow (members only).
Column = tuple[Principal, WorkflowRole | None]
COLUMNS: dict[str, Column] = {
    "operator": (OPERATOR, None),
    "owner": (OWNER, None),
    "admin": (ADMIN_USER, None),
    "viewer": (MEMBER, WorkflowRole.VIEWER),
    "runner": (MEMBER, WorkflowRole.RUNNER),
    "editor": (MEMBER, WorkflowRole.EDITOR),
    "wf-owner": (MEMBER, WorkflowRole.OWNER),
    "uninvited": (MEMBER, None),
    "key": (KEY, None),
    "other-key": (OTHER_KEY, None),
}
NAMES = list(COLUMNS)


def row(effects: str) -> dict[str, Effect]:
    """`"A A A F ..."`, one letter per column in COLUMNS' order."""
    letters = effects.split()
    assert len(letters) == len(NAMES)
    return {name: {"A": A, "F": F, "H": H}[letter] for name, letter in zip(NAMES, letters, strict=True)}


#                                         op own adm vwr run edt wfo uni key oky
SERVICE_TABLE: dict[Action, dict[str, Effect]] = {
    Action.WORKSPACE_CREATE: row("A F F F F F F F F F"),
    Action.WORKSPACE_LIST: row("A A A A A A A A F F"),
    Action.WORKSPACE_READ: row("A A A A A A A A A A"),
    Action.WORKSPACE_MANAGE: row("A A A F F F F F F F"),
    Action.MEMBER_READ: row("A A A F F F F F F F"),
    Action.MEMBER_MANAGE: row("A A A F F F F F F F"),
    Action.TOKEN_MANAGE: row("A A A A A A A A F F"),
    Action.AUDIT_READ: row("A A A F F F F F F F"),
    Action.AGENT_READ: row("A A A F F F F F F F"),
    Action.TOOL_READ: row("A A A A A A A A F F"),
    Action.WORKFLOW_CREATE: row("A A A A A A A A F F"),
    Action.WORKFLOW_LIST: row("A A A A A A A A F F"),
    Action.JOB_LIST: row("A A A A A A A A A A"),
    Action.JOB_LIST_ALL: row("A A A F F F F F F F"),
    Action.METRICS_READ: row("A F F F F F F F F F"),
}
# On the workflow `greeter` (the key's own; the other key's is another).
WORKFLOW_TABLE: dict[Action, dict[str, Effect]] = {
    Action.WORKFLOW_READ: row("A A A A A A A H A F"),
    Action.WORKFLOW_JOBS_LIST: row("A A A A A A A H F F"),
    Action.WORKFLOW_MONITOR: row("A A A A A A A H F F"),
    Action.WORKFLOW_MEMBERS_READ: row("A A A A A A A H F F"),
    Action.WORKFLOW_EDIT: row("A A A F F A A H F F"),
    Action.WORKFLOW_MANAGE: row("A A A F F A A H F F"),
    Action.SCHEDULE_READ: row("A A A A A A A H F F"),
    Action.SCHEDULE_MANAGE: row("A A A F F A A H F F"),
    Action.WORKFLOW_EXPORT: row("A A A F F A A H F F"),
    Action.WORKFLOW_AUDIT: row("A A A F F A A H F F"),
    Action.WORKFLOW_SHARE: row("A A A F F F A H F F"),
    Action.WORKFLOW_DELETE: row("A A A F F F A H F F"),
    Action.APIKEY_MANAGE: row("A A A F F A A H F F"),
    Action.TRIGGERS_READ: row("A A A A A A A H F F"),
    Action.TRIGGERS_WRITE: row("A A A F F A A H F F"),
    Action.JOB_SUBMIT: row("A A A F A A A H A F"),
    Action.JOB_ESTIMATE: row("A A A F A A A H A F"),
}
# On a job of `greeter`: created by the principal itself, and by someone else.
JOB_TABLE: dict[Action, tuple[dict[str, Effect], dict[str, Effect]]] = {
    #                         by itself: op own adm vwr run edt wfo uni key oky   by another: the same columns
    Action.JOB_READ: (row("A A A A A A A A A A"), row("A A A A A A A H H H")),
    Action.JOB_CANCEL: (row("A A A F A A A F A F"), row("A A A F F F A H H H")),
    Action.JOB_RERUN: (row("A A A F A A A F A F"), row("A A A F F F A H H H")),
    Action.JOB_START: (row("A A A F A A A F A F"), row("A A A F F F A H H H")),
    Action.JOB_UPDATE: (row("A A A F A A A F A F"), row("A A A F F F A H H H")),
    Action.JOB_DELETE: (row("A A A F A A A F A F"), row("A A A F F F A H H H")),
    Action.JOB_REDELIVER: (row("A A A F A A A F A F"), row("A A A F F F A H H H")),
}


def _job(caller: str | None, member_role: WorkflowRole | None, workspace: uuid.UUID = WS) -> JobResource:
    return JobResource(JOB_ID, caller=caller, workspace_id=workspace, workflow_id=WORKFLOW_ID, member_role=member_role)


def test_the_tables_name_every_action_once() -> None:
    names = [*SERVICE_TABLE, *WORKFLOW_TABLE, *JOB_TABLE]
    assert sorted(names) == sorted(Action)
    assert set(SERVICE_TABLE) == set(SERVICE_ACTIONS)


@pytest.mark.parametrize("action", list(SERVICE_TABLE))
def test_service_actions(action: Action) -> None:
    for name, (principal, _) in COLUMNS.items():
        assert allowed(principal, action, SERVICE).effect is SERVICE_TABLE[action][name], name


@pytest.mark.parametrize("action", list(WORKFLOW_TABLE))
@pytest.mark.parametrize("ref", ["greeter", str(WORKFLOW_ID)])
def test_workflow_actions(action: Action, ref: str) -> None:
    for name, (principal, role) in COLUMNS.items():
        assert allowed(principal, action, WorkflowResource(ref, role)).effect is WORKFLOW_TABLE[action][name], name


@pytest.mark.parametrize("action", list(JOB_TABLE))
def test_job_actions(action: Action) -> None:
    by_itself, by_another = JOB_TABLE[action]
    for name, (principal, role) in COLUMNS.items():
        assert allowed(principal, action, _job(principal.actor, role)).effect is by_itself[name], name
        assert allowed(principal, action, _job("user:someone-else", role)).effect is by_another[name], name


@pytest.mark.parametrize("action", list(JOB_TABLE))
def test_a_job_of_another_workspace_or_none_reads_word_for_word_like_a_missing_one(action: Action) -> None:
    for name, (principal, role) in COLUMNS.items():
        if principal.kind is PrincipalKind.ADMIN:
            continue
        for job in (_job(principal.actor, role, OTHER_WS), JobResource(JOB_ID), JobResource("not-a-uuid")):
            decision = allowed(principal, action, job)
            assert (decision.effect, decision.reason) == (H, f"job {job.id!r} does not exist"), name


def test_an_uninvited_member_learns_nothing_of_a_workflow() -> None:
    decision = allowed(MEMBER, Action.WORKFLOW_READ, WorkflowResource("greeter"))
    assert (decision.effect, decision.reason) == (H, "workflow 'greeter' does not exist")


def test_the_refusals_say_why() -> None:
    assert (
        allowed(KEY, Action.JOB_SUBMIT, WorkflowResource("other")).reason == "this API key belongs to another workflow"
    )
    limit = "an API key may only call its workflow's endpoints and act on the jobs it submitted"
    assert allowed(KEY, Action.WORKFLOW_EDIT, WorkflowResource("greeter")).reason == limit
    assert allowed(KEY, Action.WORKFLOW_LIST, SERVICE).reason == limit
    viewer = allowed(MEMBER, Action.JOB_SUBMIT, WorkflowResource("greeter", WorkflowRole.VIEWER))
    assert viewer.reason == "your role on this workflow (viewer) does not allow job.submit"
    assert allowed(MEMBER, Action.JOB_LIST_ALL, SERVICE).reason == (
        "only workspace owners and admins may list every job (scope=all)"
    )
    assert allowed(OWNER, Action.WORKSPACE_CREATE, SERVICE).reason == "only the operator may create workspaces"
    metrics = "only the operator (or WFS_METRICS_TOKEN) may read the metrics"
    assert allowed(ADMIN_USER, Action.METRICS_READ, SERVICE).reason == metrics


@pytest.mark.parametrize("name", NAMES)
def test_the_loaders_skip_what_no_decision_reads(name: str) -> None:
    """`reads_member_role` and `reads_job` let the loaders skip their queries: for a principal they say False
    for, no decision changes with what the query would have found."""
    principal, _ = COLUMNS[name]
    if not reads_member_role(principal):
        for action in WORKFLOW_TABLE:
            decisions = {allowed(principal, action, WorkflowResource("greeter", role)) for role in WorkflowRole}
            assert decisions == {allowed(principal, action, WorkflowResource("greeter"))}, action
    if not reads_job(principal):
        for action in JOB_TABLE:
            found = {allowed(principal, action, _job(caller, None)) for caller in ("admin", "user:x", None)}
            assert found == {allowed(principal, action, JobResource(JOB_ID))}, action


def test_principals_name_themselves() -> None:
    assert (ADMIN.actor, ADMIN.name, OPERATOR.workspace_id) == ("admin", "operator", WS)
    assert (KEY.actor, KEY.name, KEY.workspace_id) == (f"key:{KEY_ID}", "ci", WS)
    assert [(g.workflow_id, g.workflow_slug, g.role) for g in KEY.scope.workflows] == [
        (WORKFLOW_ID, "greeter", WorkflowRole.RUNNER)
    ]
    assert KEY.scope.role_on("greeter") is KEY.scope.role_on(str(WORKFLOW_ID)) is WorkflowRole.RUNNER
    assert KEY.scope.role_on("other") is None
    assert (OWNER.actor, OWNER.user_id, OWNER.name) == (
        f"user:{uuid.UUID(int=1)}",
        uuid.UUID(int=1),
        "user1@example.com",
    )
    assert [p.manages_workspace for p in (OWNER, ADMIN_USER, OPERATOR, MEMBER, KEY)] == [True, True, True, False, False]
    assert [r.rank for r in WorkflowRole] == [0, 1, 2, 3]
