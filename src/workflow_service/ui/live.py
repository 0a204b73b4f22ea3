"""What the dashboard's scripts read while a page is open: a job's event stream (for its live status), and the
notices of the signed-in person's jobs that ended (on every page)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from starlette.responses import JSONResponse, Response, StreamingResponse

from workflow_service.ui.api import segment
from workflow_service.ui.context import UiDep
from workflow_service.ui.render import parse_time

router = APIRouter()

EVENT_STREAM = "text/event-stream"
NOTICE_WINDOW = timedelta(hours=1)
"""How far back notices go when a page asks from a time older than that (or none)."""


@router.get("/jobs/{job_id}/events")
async def job_events(
    job_id: str, ui: UiDep, last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None
) -> Response:
    """The job's event stream, as the API streams it to this person (EventSource sends the cookie, not a token)."""
    headers = {"Accept": EVENT_STREAM}
    if last_event_id:
        headers["Last-Event-ID"] = last_event_id
    status, answered, chunks = await ui.api.stream(f"/v1/jobs/{segment(job_id)}/events", headers=headers)
    if status != 200 or not answered.get("content-type", "").startswith(EVENT_STREAM):
        body = b"".join([chunk async for chunk in chunks])
        return Response(body, status_code=status, media_type=answered.get("content-type"))
    return StreamingResponse(
        chunks, media_type=EVENT_STREAM, headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )


@router.get("/notices")
async def notices(ui: UiDep, since: Annotated[str | None, Query(max_length=64)] = None) -> JSONResponse:
    """The person's own jobs that completed or failed since `since` (an ISO time, at most an hour back), oldest
    first, and the time to ask from next."""
    now = datetime.now(UTC)
    start = parse_time(since)
    if start is None or start < now - NOTICE_WINDOW:
        start = now if start is None else now - NOTICE_WINDOW
    page: dict[str, Any] = await ui.api.get(
        "/v1/jobs",
        [
            ("scope", "mine"),
            ("status", "completed"),
            ("status", "failed"),
            ("finished_from", start.isoformat()),
            ("sort", "finished"),
            ("limit", 20),
        ],
    )
    items = [
        {
            "id": job["id"],
            "name": job.get("name") or job["workflow"].get("name") or job["id"],
            "status": job["status"],
            "url": ui.url(f"/ui/jobs/{job['id']}"),
            "finished_at": job.get("finished_at"),
        }
        for job in page["items"]
        if (parse_time(job.get("finished_at")) or now) > start
    ]
    latest = max((parse_time(i["finished_at"]) or start for i in items), default=start)
    return JSONResponse({"items": items, "next": latest.isoformat()})
