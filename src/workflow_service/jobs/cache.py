"""Result caching: an identical request is answered from an earlier job instead of calling the model again.

**Key.** sha256 of the canonical JSON of the version's content hash, the inputs, the effective variables
(the workflow's, overridden by the request's) and a sha256 of the workflow's environment values (secure
ones decrypted for hashing only; neither they nor their hash alone are stored). Stored in `job.cache_key`
only when the job is cacheable (`JobCreate.cache`: `auto` needs at least one llm step, every llm step at
temperature 0, and no step with outside effects such as http; `always`; `never`). Lookups are scoped to
the workflow.

**Hit.** At submission, when a completed job with the key exists (one that computed its result, not
itself a hit), the new job is completed at once, in the submitting transaction: it walks the real
state path pending -> claimed -> running -> validating -> uploading -> completed (actor `cache`, every
hop an event), gets the source's output and step records (each marked `detail.cached_from`, cost 0),
`cache_hit: true`, `source: {kind: cache}` and zero usage. No worker, no model call.

**Compute once.** Submissions with the same key are serialised by a transaction-scoped advisory lock
(PostgreSQL). When an identical job is still in flight, the new job is stored `pending` with
`source: {kind: cache}` pointing at it (a follower). Workers check a job before claiming it (`gate`):
a follower whose source is still in flight is left pending (not claimed, no worker slot held); when the
source completes, its worker completes the followers from it; if a follower is picked up after its
source completed (reconciler re-enqueue, a lost follow-up), it completes from it then. If the source
fails or is canceled, followers compute for themselves once the reconciler re-enqueues them (within
WFS_REQUEUE_AFTER_S). The embedded SQLite mode has no advisory lock: there, identical requests that
arrive together may both compute.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from workflow_service.core.clock import utcnow
from workflow_service.core.db import UnitOfWork
from workflow_service.core.secrets import Secrets, SecretsError
from workflow_service.engine.definition import Plan
from workflow_service.engine.steps.llm import LlmConfig
from workflow_service.jobs import lifecycle, repository
from workflow_service.jobs.ends import EndContext
from workflow_service.jobs.states import IN_FLIGHT, JobStatus
from workflow_service.workflows import env as workflow_env
from workflow_service.workflows.service import Target

S = JobStatus
ACTOR = "cache"
KIND = repository.CACHE_KIND
HIT_PATH = [S.PENDING, S.CLAIMED, S.RUNNING, S.VALIDATING, S.UPLOADING, S.COMPLETED]


def cacheable(plan: Plan, mode: str) -> bool:
    """Whether a job of this plan with `cache: mode` may be answered from (and stored in) the cache."""
    if mode != "auto":
        return mode == "always"
    llm = [p.config for p in plan.steps if isinstance(p.config, LlmConfig)]
    deterministic = all(c.model is not None and c.model.temperature == 0 for c in llm)
    no_effects = all(p.kind.pure or isinstance(p.config, LlmConfig) for p in plan.steps)
    return bool(llm) and deterministic and no_effects


def _digest(value: Any) -> str:
    return hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).hexdigest()


def key_of(plan: Plan, inputs: Mapping[str, Any], variables: Mapping[str, Any], env: Mapping[str, str]) -> str:
    """The cache key of a request (see the module docstring)."""
    return _digest(
        {
            "content_hash": plan.content_hash,
            "inputs": inputs,
            "variables": {**plan.variables, **variables},
            "env": _digest(env),
        }
    )


async def key_for(
    conn: AsyncConnection, target: Target, inputs: Mapping[str, Any], variables: Mapping[str, Any], secrets: Secrets
) -> str | None:
    """The key of a request for `target` with the workflow's current environment; None when a secure value
    cannot be decrypted (such a job fails before running anyway, so it is not cached)."""
    try:
        env = await workflow_env.for_workflow(conn, target.workflow_id, secrets)
    except SecretsError:
        return None
    return key_of(target.plan, inputs, variables, env.values)


async def lock(conn: AsyncConnection, key: str) -> None:
    """Serialise submissions with this key until the transaction ends (PostgreSQL only)."""
    await repository.advisory_lock(conn, int(key[:15], 16))


@dataclass(frozen=True, slots=True)
class Source:
    job_id: uuid.UUID
    completed: bool


async def find_source(conn: AsyncConnection, workflow_id: uuid.UUID, key: str) -> Source | None:
    """The newest completed job that computed this key's result, else the in-flight job computing it."""
    done = await repository.newest_cached_result(conn, workflow_id, key)
    if done is not None:
        return Source(done, True)
    running = await repository.oldest_in_flight(conn, workflow_id, key)
    return Source(running, False) if running is not None else None


async def complete_from(uow: UnitOfWork, ends: EndContext, job_id: uuid.UUID, source_id: uuid.UUID) -> bool:
    """Complete the pending job `job_id` from the completed job `source_id` (see the module docstring),
    through jobs/lifecycle.py like every end.

    False when the source is not completed or the job is no longer pending (someone else moved it).
    """
    output = await repository.completed_output(uow.conn, source_id)
    if output is None:
        return False

    async def copy_steps(conn: AsyncConnection) -> None:
        await repository.copy_cached_steps(conn, source_id, job_id)

    now = utcnow()
    hit = lifecycle.Move(
        job_id=job_id,
        path=HIT_PATH,
        actor=ACTOR,
        reason=f"cache hit: the result of job {source_id}",
        at=[now] * (len(HIT_PATH) - 1),
        writes=copy_steps,
        values={
            "output": output.output,
            "error": None,
            "started_at": now,
            "finished_at": now,
            "lease_expires_at": None,
            "cache_hit": True,
            "source_job_id": source_id,
            "source_kind": KIND,
            "input_tokens": 0,
            "output_tokens": 0,
            "cost": 0.0,
        },
    )
    return await lifecycle.move(uow, ends, hit) is not None


@dataclass(frozen=True, slots=True)
class Gate:
    """What a worker does with a job it was asked to run."""

    action: Literal["claim", "wait", "completed", "lost"]


async def gate(uow: UnitOfWork, ends: EndContext, job_id: uuid.UUID) -> Gate:
    """For a job the usual claim refused: a follower waits for its in-flight source (left pending), or is
    completed from it when it has completed; everything else may be claimed."""
    row = await repository.with_cache_source(uow.conn, job_id)
    if row is None or row.source_status is None or row.status != S.PENDING.value:
        return Gate("claim")
    if row.source_status in IN_FLIGHT:
        return Gate("wait")
    if row.source_status == S.COMPLETED.value:
        won = await complete_from(uow, ends, job_id, row.source_job_id)
        return Gate("completed" if won else "lost")
    return Gate("claim")  # the source failed or was canceled: compute


async def pending_followers(conn: AsyncConnection, source_id: uuid.UUID) -> list[uuid.UUID]:
    """Jobs waiting for `source_id`'s result (locked; ones another transaction holds are skipped)."""
    return await repository.pending_followers(conn, source_id)
