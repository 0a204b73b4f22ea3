"""Deliveries: created with the job's end (same transaction), sent by any worker, retried on the
schedule, every attempt recorded, replayable.

Sending never holds a transaction open across the HTTP call: a delivery is claimed by pushing its
`next_attempt_at` a minute ahead (SKIP LOCKED, so workers never pick the same one), sent, then the
attempt and the outcome are written.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from workflow_service.audit.recorder import Author, Entry
from workflow_service.config import Settings
from workflow_service.core.clock import utcnow
from workflow_service.core.http import OutboundError, loggable_url, send_capped
from workflow_service.core.secrets import Secrets, SecretsError, secrets_for
from workflow_service.deliveries import repository, schedule
from workflow_service.deliveries.schemas import AttemptRead, DeliveryList, DeliveryRead
from workflow_service.deliveries.signing import signature_header
from workflow_service.errors import Conflict, NotFound
from workflow_service.jobs import repository as jobs_repo
from workflow_service.observability.metrics import instruments
from workflow_service.workflows import settings as endpoint_settings

log = logging.getLogger(__name__)

CLAIM_FOR = timedelta(seconds=60)
SNIPPET_BYTES = 1024
EVENT_TYPES = {"completed": "job.completed", "failed": "job.failed", "canceled": "job.canceled"}


async def create(conn: AsyncConnection, job: dict[str, Any], url: str | None = None) -> uuid.UUID:
    """Queue the notice of an ended job; `job` is its resource as the API returns it. To the workflow's push
    callback URL, or with `url` to the job's own notification URL (jobs/notices.py)."""
    now = utcnow()
    delivery_id = uuid.uuid4()
    event_type = EVENT_TYPES[job["status"]]
    await repository.insert(
        conn,
        {
            "id": delivery_id,
            "job_id": uuid.UUID(str(job["id"])),
            "workflow_id": uuid.UUID(str(job["workflow"]["id"])),
            "webhook_id": f"msg_{delivery_id.hex}",
            "url": url,
            "event_type": event_type,
            "payload": {"type": event_type, "timestamp": now.isoformat(), "data": job},
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        },
    )
    return delivery_id


@dataclass(frozen=True)
class Due:
    """A delivery claimed for sending, and the receiver it goes to."""

    id: uuid.UUID
    receiver: str


def receiver_of(stored_settings: dict[str, Any] | None, own_url: str | None = None) -> str:
    """Who receives a delivery, for the per-receiver limit: the scheme, host and port (every path on one server
    is one receiver) of the job's own notification URL `own_url`, else of the workflow's callback URL."""
    url = own_url or str(((stored_settings or {}).get("push") or {}).get("callback_url") or "")
    try:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.hostname}:{parts.port}".lower()
    except ValueError:  # an unreadable port: the URL is its own receiver (the attempt will say what is wrong)
        return url


def claim_for(settings: Settings) -> timedelta:
    """How long a claim keeps other workers off a delivery: well past the longest an attempt can take."""
    return max(CLAIM_FOR, timedelta(seconds=2 * settings.delivery_timeout_s))


async def claim_due(
    engine: AsyncEngine, settings: Settings, limit: int, room: Callable[[str], int], max_scans: int = 8
) -> list[Due]:
    """Claim up to `limit` due deliveries, oldest first, taking no more for a receiver than `room(receiver)`
    allows. A claim pushes `next_attempt_at` ahead (SKIP LOCKED: no two workers claim the same delivery);
    the attempt sets it again. Deliveries of a full receiver are passed over, so they never hide the
    others behind them."""
    now = utcnow()
    picked: list[Due] = []
    taken: dict[str, int] = {}
    seen: list[uuid.UUID] = []
    full: set[uuid.UUID] = set()  # workflows whose receiver has no room left
    async with engine.begin() as conn:
        for _ in range(max_scans):
            wanted = limit - len(picked)
            rows = await repository.lock_due(conn, now, wanted, skip=seen, skip_workflows=full)
            for row in rows:
                seen.append(row.id)
                receiver = receiver_of(row.settings, row.url)
                push = row.url is None  # a push callback goes to its workflow's receiver
                if (push and row.workflow_id in full) or taken.get(receiver, 0) >= room(receiver):
                    if push:
                        full.add(row.workflow_id)
                    continue
                taken[receiver] = taken.get(receiver, 0) + 1
                picked.append(Due(row.id, receiver))
            if len(rows) < wanted or len(picked) >= limit:
                break  # nothing else is due, or the slots are filled
        if picked:
            await repository.postpone(conn, [d.id for d in picked], now + claim_for(settings))
    return picked


async def attempt(
    engine: AsyncEngine, http: httpx.AsyncClient, settings: Settings, delivery_id: uuid.UUID, trigger: str
) -> AttemptRead | None:
    """One attempt: sign, POST, record. Returns the attempt, or None if there was nothing to send (or nothing to
    record it on: the job, and its delivery with it, was deleted meanwhile)."""
    attempted = await _send(engine, http, settings, delivery_id, trigger)
    if attempted is None:
        return None
    async with engine.begin() as conn:
        made = await _store(conn, settings, attempted)
    if made is not None:
        _log_failure(attempted, made)
        _count(made)
    return made


@dataclass(frozen=True)
class _Attempt:
    """A callback sent (its delivery, with the workflow's settings), the attempt's record, what came of it."""

    row: Any
    record: dict[str, Any]
    sent: _Sent


async def _send(
    engine: AsyncEngine, http: httpx.AsyncClient, settings: Settings, delivery_id: uuid.UUID, trigger: str
) -> _Attempt | None:
    """Sign and POST the delivery's callback, in no transaction; None when there is nothing to send (the
    delivery is gone, or push was turned off: then a pending delivery fails)."""
    async with engine.connect() as conn:
        row = await repository.get_with_settings(conn, delivery_id)
    if row is None:
        return None
    stored = row.settings or {}
    now = utcnow()
    if row.url is None and not endpoint_settings.push_ready(stored):
        async with engine.begin() as conn:
            await repository.fail_pending(conn, delivery_id, now)
        return None
    url = str(row.url or stored["push"]["callback_url"])
    sent = await _post(http, settings, row, url, now)
    record = {
        "delivery_id": delivery_id,
        "at": now,
        "url": url,
        "status_code": sent.status_code,
        "response_snippet": sent.snippet,
        "error": sent.error,
        "duration_ms": sent.duration_ms,
        "trigger": trigger,
    }
    return _Attempt(row, record, sent)


async def _store(conn: AsyncConnection, settings: Settings, attempted: _Attempt) -> AttemptRead | None:
    """Record an attempt and what the delivery becomes; a 410 turns the workflow's push off. None when the job,
    and its delivery with it, was deleted while the callback was sent: nothing is recorded."""
    record, sent, row = attempted.record, attempted.sent, attempted.row
    # Numbered in the database, so a redelivery racing a scheduled attempt cannot take the same number.
    number = await repository.next_attempt_number(conn, row.id)
    if number is None:
        log.info("delivery %s: its job was deleted while it was sent; the attempt is not recorded", row.webhook_id)
        return None
    record["number"] = number
    await repository.insert_attempt(conn, record)
    values = await _after(conn, settings, row.id, record["trigger"], sent)
    if values:
        await repository.update(conn, row.id, values)
    if sent.status_code == 410 and row.url is None:
        # The consumer says this endpoint is gone: stop pushing until someone enables it again. (A job's own
        # notification URL that is gone ends that notice only: `_after` gave it up.)
        reason = f"the callback URL answered 410 Gone at {record['at'].isoformat()}"
        await endpoint_settings.stop_push(conn, row.workflow_id, reason)
    return AttemptRead(**{k: v for k, v in record.items() if k != "delivery_id"})


def outcome_of(status_code: int | None, error: str | None) -> str:
    """What an attempt came to, as the metrics count it: succeeded (2xx), redirected (3xx, not followed), gone
    (410: push turned off), rejected (any other answer), unreachable (no answer: refused, timed out, blocked)."""
    if error is None:
        return "succeeded"
    if status_code is None:
        return "unreachable"
    if status_code == 410:
        return "gone"
    return "redirected" if 300 <= status_code < 400 else "rejected"


def _count(made: AttemptRead) -> None:
    """A recorded attempt in the metrics (once its transaction has committed)."""
    instruments().delivery_attempts.labels(outcome_of(made.status_code, made.error), made.trigger).inc()


def _log_failure(attempted: _Attempt, made: AttemptRead) -> None:
    if made.error is not None:
        url = loggable_url(made.url)
        log.info("delivery %s attempt %d to %s failed: %s", attempted.row.webhook_id, made.number, url, made.error)


@dataclass
class _Sent:
    """What one POST of a callback came to: the answer's status and first bytes, or why there was none."""

    status_code: int | None = None
    snippet: str | None = None
    error: str | None = None
    """None when the receiver answered 2xx."""
    retry_after: float | None = None
    duration_ms: float = 0.0


async def _post(http: httpx.AsyncClient, settings: Settings, row: Any, url: str, now: datetime) -> _Sent:
    body = orjson.dumps(row.payload)
    timestamp = int(time.time())
    started = time.perf_counter()
    sent = _Sent()
    try:
        headers = _signed_headers(row, secrets_for(settings), body, timestamp)
        request = http.build_request("POST", url, content=body, headers=headers, timeout=settings.delivery_timeout_s)
        # httpx's timeout is per read: a receiver trickling bytes would never hit it. The whole answer
        # must come within the delivery timeout.
        async with asyncio.timeout(settings.delivery_timeout_s):
            response = await send_capped(http, request, settings.http_max_response_bytes)
        sent = _answered(response, now)
    except (SecretsError, Unsigned) as exc:  # the token or signing secret is stored encrypted under a key we lack
        sent.error = f"not sent: {exc}"
    except OutboundError as exc:
        sent.error = f"{exc.code}: {exc}"
    except (httpx.TimeoutException, TimeoutError):
        sent.error = f"no answer within {settings.delivery_timeout_s} s"
    except httpx.HTTPError as exc:
        sent.error = f"{type(exc).__name__}: {exc}"
    sent.duration_ms = (time.perf_counter() - started) * 1000
    return sent


class Unsigned(Exception):
    """The workflow has no signing secret (a job's own notice is never sent unsigned)."""


def _signed_headers(row: Any, secrets: Secrets, body: bytes, timestamp: int) -> dict[str, str]:
    """The headers of a delivery: signed with the workflow's secrets; the push access token only to the
    workflow's own callback URL, never to a job's notification URL."""
    stored = row.settings or {}
    signing = endpoint_settings.active_secrets(stored, secrets)
    if not signing:
        raise Unsigned("the workflow has no signing secret")
    headers = {
        "Content-Type": "application/json",
        "webhook-id": row.webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(signing, row.webhook_id, timestamp, body),
    }
    if row.url is None:
        headers["Authorization"] = f"Bearer {endpoint_settings.access_token(stored, secrets)}"
    return headers


def _answered(response: httpx.Response, now: datetime) -> _Sent:
    status_code = response.status_code
    error = None
    if 300 <= status_code < 400:
        error = f"redirect to {response.headers.get('location', '?')} (redirects are not followed)"
    elif not 200 <= status_code < 300:
        error = f"HTTP {status_code}"
    return _Sent(
        status_code=status_code,
        # A text column: PostgreSQL refuses U+0000, so it is stored as U+FFFD like step values are.
        snippet=response.content[:SNIPPET_BYTES].decode("utf-8", errors="replace").replace("\x00", "\ufffd"),
        error=error,
        retry_after=schedule.parse_retry_after(response.headers.get("retry-after"), now),
    )


async def _after(
    conn: AsyncConnection, settings: Settings, delivery_id: uuid.UUID, trigger: str, sent: _Sent
) -> dict[str, Any]:
    """What the delivery becomes: done when it succeeded or the receiver answered 410, else due again on the
    schedule until the schedule is spent. A redelivery that fails leaves the schedule as it was."""
    if sent.error is None:
        return {"status": "succeeded", "next_attempt_at": None, "finished_at": utcnow()}
    given_up = {"status": "failed", "next_attempt_at": None, "finished_at": utcnow()}
    if sent.status_code == 410:
        return given_up
    if trigger != "schedule":
        return {}
    # The schedule counts its own attempts only: redeliveries do not use up its slots.
    scheduled = await repository.count_attempts(conn, delivery_id, "schedule")
    delay = schedule.next_delay(scheduled, settings.delivery_schedule_scale, sent.retry_after)
    if delay is None:
        return given_up
    return {"next_attempt_at": utcnow() + timedelta(seconds=delay)}


def _read(delivery: Any, attempts: list[Any]) -> DeliveryRead:
    return DeliveryRead(
        id=delivery.id,
        kind="push" if delivery.url is None else "notify",
        webhook_id=delivery.webhook_id,
        event_type=delivery.event_type,
        status=delivery.status,
        attempts=[AttemptRead.model_validate(a, from_attributes=True) for a in attempts],
        next_attempt_at=delivery.next_attempt_at,
        created_at=delivery.created_at,
        finished_at=delivery.finished_at,
    )


async def list_for_job(conn: AsyncConnection, job_id: uuid.UUID) -> DeliveryList:
    """The job's deliveries with every attempt, oldest first."""
    if not await jobs_repo.exists(conn, job_id):
        raise NotFound(f"job {job_id} does not exist")
    deliveries = await repository.list_for_job(conn, job_id)
    items = []
    for delivery in deliveries:
        attempts = await repository.list_attempts(conn, delivery.id)
        items.append(_read(delivery, list(attempts)))
    return DeliveryList(items=items)


async def redeliver(
    engine: AsyncEngine, http: httpx.AsyncClient, settings: Settings, job_id: uuid.UUID, author: Author
) -> AttemptRead:
    """Send the job's callback again now (a new attempt, the same webhook-id), recorded in the audit log as
    `author`'s action in the transaction that records the attempt."""
    async with engine.connect() as conn:
        row = await repository.latest_for_job(conn, job_id)
    if row is None:
        raise NotFound(
            "this job has no delivery: it was not submitted to the push endpoint nor with a notify_url, or has not "
            "ended"
        )
    if row.url is None and not endpoint_settings.push_ready(row.settings or {}):
        raise Conflict(PUSH_OFF)
    attempted = await _send(engine, http, settings, row.id, "redeliver")
    if attempted is None:
        raise await _not_sent(engine, row.id, job_id)
    async with engine.begin() as conn:
        made = await _store(conn, settings, attempted)
        if made is None:
            raise NotFound(f"job {job_id} was deleted")
        outcome = made.error or f"HTTP {made.status_code}"
        entry = Entry(
            action="delivery.redelivered",
            description=f"sent the callback of job {job_id} again: attempt {made.number}, {outcome}",
            target_id=str(row.id),
            target_name=attempted.row.webhook_id,
            workflow_id=attempted.row.workflow_id,
        )
        await author.record(conn, entry)
    _log_failure(attempted, made)
    _count(made)
    return made


PUSH_OFF = "push is not enabled for this workflow; enable it in its settings first"


async def _not_sent(engine: AsyncEngine, delivery_id: uuid.UUID, job_id: uuid.UUID) -> NotFound | Conflict:
    """Why a redelivery found nothing to send after all: its job was deleted, or push was turned off, meanwhile."""
    async with engine.connect() as conn:
        gone = await repository.get_with_settings(conn, delivery_id) is None
    return NotFound(f"job {job_id} was deleted") if gone else Conflict(PUSH_OFF)
