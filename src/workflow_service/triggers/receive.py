"""Receiving an event posted to a trigger's URL: checked, mapped, and made a job through jobs/intake (the one way in).

In order, each refusal a 4xx problem that is also recorded as a `rejected` event (triggers/events.py):
1. the trigger, by the id in the URL (404, not recorded: there is nothing to record it on);
2. a body announced larger than WFS_TRIGGER_MAX_BODY_BYTES (413) before a byte of it is read;
3. a bearer trigger's token (401) before the body is read; a body sent as anything but JSON (415);
4. the body, read up to the limit (413 past it);
5. a Standard Webhooks trigger's signature and timestamp (401 `invalid_signature`, `stale_timestamp`);
6. a redelivery (the `webhook-id` of an event that made a job already) is answered with that job, 200, and
   recorded as a `duplicate`, whatever came after (a paused trigger, a changed mapping);
7. a paused trigger (409 `trigger_paused`: the sender retries later); a body that is not JSON (400);
8. the mapping's templates on the event (422 naming the template), then the job itself, as a submission is
   checked (the version deployed, 409; the inputs against its input schema, 422 naming each path; guardrails).
The job and its `created` event are inserted in one transaction, the event first: its unique key (trigger,
webhook-id) makes a concurrent delivery of the same event wait for this one, then find its job.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from workflow_service.context import Context
from workflow_service.core.clock import utcnow
from workflow_service.core.db import AnyRow, unit_of_work
from workflow_service.core.ids import parse_uuid
from workflow_service.errors import (
    InvalidInput,
    MalformedBody,
    NotFound,
    PayloadTooLarge,
    ServiceError,
    TriggerPaused,
    UnsupportedMediaType,
)
from workflow_service.jobs import intake
from workflow_service.triggers import credentials, events, mapping
from workflow_service.triggers import repository as repo
from workflow_service.workflows import service as workflows
from workflow_service.workflows.refs import ScopedRef

ACCEPTED, REDELIVERED = 202, 200


@dataclass(frozen=True, slots=True)
class Posted:
    """An event as it arrives: the trigger id in the URL, the request's headers (any case), and its body as it
    streams in."""

    trigger_id: str
    headers: Mapping[str, str]
    body: AsyncIterator[bytes]


@dataclass(frozen=True, slots=True)
class Received:
    job_id: uuid.UUID
    duplicate: bool
    webhook_id: str | None


class _Seen:
    """What is known of an event so far, for its record if it is refused."""

    __slots__ = ("body", "size", "webhook_id")

    def __init__(self) -> None:
        self.webhook_id: str | None = None
        self.body: bytes | None = None
        """The body, or its start when it was too large to read whole."""
        self.size: int | None = None
        """How many bytes of the body were read (None: not read)."""


async def receive(ctx: Context, posted: Posted) -> Received:
    """Make the job an event posted to a trigger asks for (see the module docstring); a refusal is raised as its
    problem once it is recorded."""
    trigger = await _trigger(ctx.engine, posted.trigger_id)
    seen = _Seen()
    try:
        return await _receive(ctx, trigger, posted, seen)
    except ServiceError as exc:
        if exc.status < 500:  # the event's fault, not the service's
            refused = events.Unmade(
                trigger_id=trigger.id,
                outcome="rejected",
                status=exc.status,
                reason=exc.detail,
                webhook_id=seen.webhook_id,
                body=seen.body,
                body_bytes=seen.size,
            )
            await events.record(ctx.engine, refused)
        raise


async def _trigger(engine: AsyncEngine, trigger_id: str) -> AnyRow:
    parsed = parse_uuid(trigger_id)
    async with engine.connect() as conn:
        row = None if parsed is None else await repo.for_event(conn, parsed)
    if row is None:
        raise NotFound(f"there is no trigger {trigger_id!r}")
    return row


async def _receive(ctx: Context, trigger: AnyRow, posted: Posted, seen: _Seen) -> Received:
    headers, limit, now = posted.headers, ctx.settings.trigger_max_body_bytes, utcnow()
    _check_length(headers.get("content-length"), limit)
    seen.webhook_id = headers.get("webhook-id") or headers.get("idempotency-key")
    if trigger.auth == "bearer":
        credentials.check_bearer(trigger.secrets, headers.get("authorization"), now)
    _check_media_type(headers.get("content-type"))
    body = await _read(posted.body, limit, seen)
    webhook_id = seen.webhook_id
    if trigger.auth == "standard_webhooks":
        webhook_id = seen.webhook_id = credentials.check_signature(trigger.secrets, ctx.secrets, body, headers, now)
    if webhook_id is not None:
        _check_webhook_id(webhook_id)
        async with ctx.engine.connect() as conn:
            first = await repo.created_by(conn, trigger.id, webhook_id)
        if first is not None:
            return await _redelivered(ctx.engine, trigger, webhook_id, first)
    if trigger.paused:
        raise TriggerPaused(
            f"trigger {trigger.name!r} is paused and takes no events; a sender that retries delivers it once it is "
            "resumed"
        )
    rendered = await mapping.render(
        mapping.compiled_of(trigger.mapping), mapping.context_of(_parse(body), headers), ctx.limits
    )
    return await _create(ctx, trigger, rendered, webhook_id, len(body))


async def _create(
    ctx: Context, trigger: AnyRow, rendered: mapping.Rendered, webhook_id: str | None, size: int
) -> Received:
    """The job, and its `created` event, in one transaction (or the job of a concurrent delivery of the same
    event); 404 when the trigger was deleted meanwhile."""
    event = {"trigger_id": trigger.id, "at": utcnow(), "status": ACCEPTED, "webhook_id": webhook_id, "body_bytes": size}
    try:
        return await _made(ctx, trigger, rendered, event)
    except sa.exc.IntegrityError as exc:
        if not repo.trigger_gone(exc):
            raise
        raise NotFound(f"there is no trigger {str(trigger.id)!r}") from None


async def _made(ctx: Context, trigger: AnyRow, rendered: mapping.Rendered, event: dict[str, Any]) -> Received:
    ref = ScopedRef(str(trigger.workflow_id), trigger.workspace_id)
    version = "current" if trigger.version is None else str(trigger.version)
    target = await ctx.targets.resolve(ref, version)
    webhook_id: str | None = event["webhook_id"]
    async with unit_of_work(ctx.engine) as uow:
        target = target or await workflows.resolve_target(uow.conn, ctx.plans, ref, version)
        event_id = await repo.claim(uow.conn, event)
        if event_id is None:  # a concurrent delivery of the same event made the job first (and has committed)
            assert webhook_id is not None, "an event without an id never conflicts"
            first = await repo.created_by(uow.conn, trigger.id, webhook_id)
            if first is None:  # and deleted since, with its trigger
                raise NotFound(f"there is no trigger {str(trigger.id)!r}")
        else:
            spec = intake.JobSpec(
                target=target,
                origin=intake.Origin.TRIGGER,
                caller=f"trigger:{trigger.id}",
                max_attempts=ctx.settings.jobs.max_attempts,
                inputs=rendered.inputs,
                variables=rendered.variables,
                name=rendered.name,
                pool=trigger.pool,
                cache="auto",
            )
            job_id = (await intake.create(uow, ctx, spec, secrets=ctx.secrets)).job_id
            await repo.set_job(uow.conn, event_id, job_id)
            return Received(job_id, False, webhook_id)
    assert webhook_id is not None
    return await _redelivered(ctx.engine, trigger, webhook_id, first)


async def _redelivered(engine: AsyncEngine, trigger: AnyRow, webhook_id: str, first: AnyRow) -> Received:
    """A delivery of an event that made a job already: answered with that job, recorded as a duplicate."""
    reason = f"a redelivery of event {webhook_id!r}, first received at {first.at.isoformat()}"
    repeated = events.Unmade(
        trigger_id=trigger.id,
        outcome="duplicate",
        status=REDELIVERED,
        reason=reason,
        webhook_id=webhook_id,
        job_id=first.job_id,
    )
    await events.record(engine, repeated)
    return Received(first.job_id, True, webhook_id)


def _check_length(announced: str | None, limit: int) -> None:
    if announced is not None and announced.isdigit() and int(announced) > limit:
        raise _too_large(limit)


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"an event's body is limited to {limit} bytes (WFS_TRIGGER_MAX_BODY_BYTES)", limit=limit)


def _check_media_type(content_type: str | None) -> None:
    """415 for a body sent as anything but JSON (no Content-Type at all is read as JSON)."""
    if content_type is None:
        return
    media = content_type.partition(";")[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise UnsupportedMediaType(
            f"send the event as application/json; this one was sent as {content_type}",
            errors=[{"path": "header:content-type", "message": "expected application/json"}],
        )


async def _read(stream: AsyncIterator[bytes], limit: int, seen: _Seen) -> bytes:
    """The body, read no further than one chunk past `limit` (413 there)."""
    chunks: list[bytes] = []
    seen.size = 0
    async for chunk in stream:
        chunks.append(chunk)
        seen.size += len(chunk)
        if seen.size > limit:
            seen.body = b"".join(chunks)[: events.EXCERPT_CHARS * 4]
            raise _too_large(limit)
    seen.body = b"".join(chunks)
    return seen.body


def _check_webhook_id(webhook_id: str) -> None:
    if len(webhook_id) > events.WEBHOOK_ID_LENGTH:
        message = f"at most {events.WEBHOOK_ID_LENGTH} characters"
        raise InvalidInput(
            f"the event's id is too long: {message}", errors=[{"path": "header:webhook-id", "message": message}]
        )


def _parse(body: bytes) -> Any:
    if not body.strip():
        raise MalformedBody("the body is empty; an event is a JSON value", errors=[{"path": "$", "message": "empty"}])
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        reason = f"the body is not valid JSON: {exc.msg}"
        where = {"line": exc.lineno, "column": exc.colno, "offset": exc.pos}
        raise MalformedBody(
            f"{reason} at line {exc.lineno}, column {exc.colno} (character {exc.pos})",
            errors=[{"path": "$", "message": reason, **where}],
        ) from None
