"""The job state machine, as data. Pure: no I/O.

    new -> pending                    (a job made but not started, e.g. a duplicate, until `start`)
    pending -> claimed -> running -> validating -> uploading -> completed
    any state that may run -> failed | canceled;  new -> canceled
    claimed | running -> pending       (only when a lease expired: a retry)

Every status change in the service is checked against TRANSITIONS and applied as a guarded
UPDATE ... WHERE status IN (allowed sources); see jobs/repository/moves.py. Queries take their statuses
and status sets from here, never as literals.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from enum import StrEnum


class JobStatus(StrEnum):
    NEW = "new"
    PENDING = "pending"
    CLAIMED = "claimed"
    RUNNING = "running"
    VALIDATING = "validating"
    UPLOADING = "uploading"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"


S = JobStatus

TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    S.NEW: frozenset({S.PENDING, S.CANCELED}),
    S.PENDING: frozenset({S.CLAIMED, S.FAILED, S.CANCELED}),
    S.CLAIMED: frozenset({S.RUNNING, S.PENDING, S.FAILED, S.CANCELED}),
    S.RUNNING: frozenset({S.VALIDATING, S.PENDING, S.FAILED, S.CANCELED}),
    S.VALIDATING: frozenset({S.UPLOADING, S.FAILED, S.CANCELED}),
    S.UPLOADING: frozenset({S.COMPLETED, S.FAILED, S.CANCELED}),
    S.COMPLETED: frozenset(),
    S.FAILED: frozenset(),
    S.CANCELED: frozenset(),
}

TERMINAL: frozenset[JobStatus] = frozenset(s for s, targets in TRANSITIONS.items() if not targets)
ACTIVE: frozenset[JobStatus] = frozenset(TRANSITIONS) - TERMINAL - {S.PENDING, S.NEW}
"""States in which an agent holds the job under a lease."""
IN_FLIGHT: frozenset[JobStatus] = ACTIVE | {S.PENDING}
"""Queued or held by an agent: a job whose result is still to come (the result cache waits for one)."""

CLAIM_PATH: tuple[JobStatus, ...] = (S.PENDING, S.CLAIMED, S.RUNNING)
"""What a claim walks: an agent takes a pending job and starts it, in one write."""

RETRY_TRANSITIONS: frozenset[tuple[JobStatus, JobStatus]] = frozenset({(S.CLAIMED, S.PENDING), (S.RUNNING, S.PENDING)})
"""Transitions allowed only to the reconciler, when a lease has expired."""


class StepStatus(StrEnum):
    """A step record's status (the engine writes these; queries name them from here)."""

    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"


def values(statuses: Iterable[JobStatus]) -> tuple[str, ...]:
    """The stored values of `statuses`, in the enum's order (so SQL built from a set reads the same in
    every process)."""
    wanted = frozenset(statuses)
    return tuple(s.value for s in JobStatus if s in wanted)


class IllegalTransition(Exception):
    def __init__(self, source: JobStatus, target: JobStatus) -> None:
        super().__init__(f"a job cannot go from {source} to {target}")
        self.source, self.target = source, target


def can_transition(source: JobStatus, target: JobStatus) -> bool:
    return target in TRANSITIONS[source]


def sources_of(target: JobStatus) -> frozenset[JobStatus]:
    """Every status from which `target` may be entered (the WHERE clause of the guarded UPDATE)."""
    return frozenset(s for s, targets in TRANSITIONS.items() if target in targets)


def check_path(path: list[JobStatus]) -> None:
    """Raise IllegalTransition unless each consecutive pair of `path` is allowed."""
    for source, target in itertools.pairwise(path):
        if not can_transition(source, target):
            raise IllegalTransition(source, target)


def is_terminal(status: JobStatus | str) -> bool:
    return JobStatus(status) in TERMINAL
