"""The access policy as a table: every (principal kind x action) pair, on the resources that action takes."""

from __future__ import annotations

import uuid

import pytest

from workflow_service.access.policy import (
    SERVICE,
    Action,
    Effect,
    JobResource,
    Resource,
    WorkflowResource,
    allowed,
    reads_submitter,
)
from workflow_service.access.principal import ADMIN, Principal, PrincipalKind, WorkflowRole, api_key

A, F, H = Effect.ALLOW, Effect.FORBID, Effect.HIDE
WORKFLOW_ID = uuid.UUID("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b")
KEY_ID = uuid.UUID("0190a1b2-c3d4-7e5f-8a9b-000000000001")
KEY = api_key(KEY_ID, WORKFLOW_ID, "greeter")
JOB_ID = "0190a1b2-c3d4-7e5f-8a9b-00000000000a"

OWN_WORKFLOW: list[Resource] = [WorkflowResource("greeter"), WorkflowResource(str(WORKFLOW_ID))]
OTHER_WORKFLOW: list[Resource] = [
    WorkflowResource("other"),
    WorkflowResource(str(uuid.uuid4())),
    WorkflowResource("missing"),
]
OWN_JOB: list[JobResource] = [JobResource(JOB_ID, submitted_by=f"key:{KEY_ID}")]
OTHER_JOB: list[JobResource] = [
    JobResource(JOB_ID, submitted_by="admin"),
    JobResource(JOB_ID, submitted_by=f"key:{uuid.uuid4()}"),  # a sibling key of the same workflow
    JobResource(JOB_ID, submitted_by=None),  # no such job
    JobResource("not-a-uuid"),
]

# action: (the resources it is asked on that belong to the key, those that do not, then the expected effect
# for the admin, for a key on its own resource, for a key on another's)
TABLE: dict[Action, tuple[list[Resource], list[Resource], Effect, Effect, Effect]] = {
    Action.WORKFLOW_CREATE: ([], [SERVICE], A, F, F),
    Action.WORKFLOW_LIST: ([], [SERVICE], A, F, F),
    Action.WORKFLOW_READ: (OWN_WORKFLOW, OTHER_WORKFLOW, A, F, F),
    Action.WORKFLOW_EDIT: (OWN_WORKFLOW, OTHER_WORKFLOW, A, F, F),
    Action.WORKFLOW_MANAGE: (OWN_WORKFLOW, OTHER_WORKFLOW, A, F, F),
    Action.APIKEY_MANAGE: (OWN_WORKFLOW, OTHER_WORKFLOW, A, F, F),
    Action.JOB_SUBMIT: (OWN_WORKFLOW, OTHER_WORKFLOW, A, A, F),
    Action.JOB_ESTIMATE: (OWN_WORKFLOW, OTHER_WORKFLOW, A, A, F),
    Action.JOB_LIST: ([], [SERVICE], A, F, F),
    Action.JOB_READ: ([*OWN_JOB], [*OTHER_JOB], A, A, H),
    Action.JOB_CANCEL: ([*OWN_JOB], [*OTHER_JOB], A, F, F),
    Action.JOB_RERUN: ([*OWN_JOB], [*OTHER_JOB], A, F, F),
    Action.JOB_START: ([*OWN_JOB], [*OTHER_JOB], A, F, F),
    Action.JOB_REDELIVER: ([*OWN_JOB], [*OTHER_JOB], A, F, H),
    Action.AGENT_READ: ([], [SERVICE], A, F, F),
    Action.TOOL_READ: ([], [SERVICE], A, F, F),
}


def test_the_table_names_every_action_and_every_principal_kind() -> None:
    assert set(TABLE) == set(Action)
    assert {ADMIN.kind, KEY.kind} == set(PrincipalKind)


@pytest.mark.parametrize("action", list(Action))
def test_every_principal_kind_on_every_action(action: Action) -> None:
    own, others, admin, key_on_own, key_on_others = TABLE[action]
    for resource in own + others:
        assert allowed(ADMIN, action, resource).effect is admin, resource
    for resource in own:
        assert allowed(KEY, action, resource).effect is key_on_own, resource
    for resource in others:
        assert allowed(KEY, action, resource).effect is key_on_others, resource


def test_a_hidden_job_reads_word_for_word_like_a_missing_one() -> None:
    for job in OTHER_JOB:
        decision = allowed(KEY, Action.JOB_READ, job)
        assert (decision.effect, decision.reason) == (H, f"job {job.id!r} does not exist")


def test_a_key_is_told_why_it_is_refused() -> None:
    elsewhere = allowed(KEY, Action.JOB_SUBMIT, WorkflowResource("other"))
    assert elsewhere.reason == "this API key belongs to another workflow"
    refused: list[tuple[Action, Resource]] = [
        (Action.WORKFLOW_READ, OWN_WORKFLOW[0]),
        (Action.JOB_LIST, SERVICE),
        (Action.JOB_CANCEL, OWN_JOB[0]),
    ]
    for action, resource in refused:
        reason = allowed(KEY, action, resource).reason
        assert reason == "an API key may only call its workflow's endpoints and read the jobs it submitted"


@pytest.mark.parametrize("principal", [ADMIN, KEY], ids=lambda p: p.kind)
def test_the_submitter_is_looked_up_only_for_principals_whose_answer_depends_on_it(principal: Principal) -> None:
    """`reads_submitter` lets the job loader skip its query (the admin's job reads cost none): for a principal
    it says False for, no decision may change with who submitted the job."""
    if reads_submitter(principal):
        # and for one it says True, some decision does change
        assert any(
            allowed(principal, action, JobResource(JOB_ID, f"key:{KEY_ID}"))
            != allowed(principal, action, JobResource(JOB_ID, None))
            for action in Action
        )
        return
    for action in Action:
        unloaded = allowed(principal, action, JobResource(JOB_ID))
        for job in OWN_JOB + OTHER_JOB:
            assert allowed(principal, action, JobResource(JOB_ID, job.submitted_by)) == unloaded


def test_a_key_is_a_runner_on_its_one_workflow() -> None:
    assert KEY.actor == f"key:{KEY_ID}"
    assert [(g.workflow_id, g.workflow_slug, g.role) for g in KEY.scope.workflows] == [
        (WORKFLOW_ID, "greeter", WorkflowRole.RUNNER)
    ]
    assert ADMIN.actor == "admin"
    assert KEY.scope.role_on("greeter") is KEY.scope.role_on(str(WORKFLOW_ID)) is WorkflowRole.RUNNER
    assert KEY.scope.role_on("other") is None
