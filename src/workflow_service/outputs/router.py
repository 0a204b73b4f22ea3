"""The routes that download a job's output, or one step's, as a file: JSON, text, Markdown or PDF.

Read as `GET /v1/jobs/{job_id}` is: the same access rule (`job.read`, the job looked up in a short transaction of
its own), and the same reader, so a job's inputs show only to those who see them in the job view."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from workflow_service.access import routes as access
from workflow_service.access.policy import Action, JobResource, reads_as_creator_of
from workflow_service.deps import PrincipalDep, ServicesDep
from workflow_service.jobs.views import Reader
from workflow_service.outputs.service import File, OutputFormat, job_file, step_file
from workflow_service.problems import problem_responses

router = APIRouter(tags=["jobs"])

_TEXT = {"schema": {"type": "string"}}
_FILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The file, with `Content-Disposition: attachment` and its name (`filename`, and `filename*` "
        "in UTF-8 when it is not ASCII).",
        "content": {
            "application/json": {"schema": {}},
            "text/plain": _TEXT,
            "text/markdown": _TEXT,
            "application/pdf": {"schema": {"type": "string", "format": "binary"}},
        },
        "headers": {
            "Content-Disposition": {
                "description": '`attachment; filename="<name>.<format>"`: the job\'s name, else '
                "`<workflow slug>-<first 8 of the job id>`, with `-<step>` for a step's output.",
                "schema": {"type": "string"},
            }
        },
    },
    **problem_responses(401, 404, 409, 422),
}
FormatQuery = Annotated[
    OutputFormat,
    Query(
        description="`json`: the output as JSON; `txt`: text (a string as it is, structured output as indented "
        "`key: value` lines); `md`: Markdown with the job's facts; `pdf`: a document with the job's facts."
    ),
]


async def _reader(principal: PrincipalDep, job: Annotated[JobResource, Depends(access.job_own_transaction)]) -> Reader:
    """Who reads the job, as the job view reads it (inputs shown to their creator, and to those who read a schedule's
    or trigger's jobs as its creator)."""
    return Reader(principal.actor, reads_as_creator_of(principal, job))


ReaderDep = Annotated[Reader, Depends(_reader)]


def _answer(file: File) -> Response:
    return Response(
        file.content,
        media_type=file.media_type,
        headers={"Content-Disposition": file.disposition, "Cache-Control": "no-store"},
    )


@router.get(
    "/v1/jobs/{job_id}/output",
    response_class=Response,
    responses=_FILE_RESPONSES,
    dependencies=[access.require(Action.JOB_READ, on=access.job_own_transaction)],
)
async def download_job_output(
    job_id: str,
    reader: ReaderDep,
    services: ServicesDep,
    format: FormatQuery = OutputFormat.JSON,
    steps: Annotated[
        bool,
        Query(
            description="`true`: every step's output too, with its type, model and timing (in `json`: "
            "`{output, steps}`)."
        ),
    ] = False,
) -> Response:
    """Download a job's output as a file (json, txt, md or pdf), named after the job; 409 `no_output` until the
    job has ended. A failed or canceled job's file says why it has no output."""
    async with services.engine.connect() as conn:
        return _answer(await job_file(conn, job_id, reader, format, with_steps=steps))


@router.get(
    "/v1/jobs/{job_id}/steps/{step}/output",
    response_class=Response,
    responses=_FILE_RESPONSES,
    dependencies=[access.require(Action.JOB_READ, on=access.job_own_transaction)],
)
async def download_step_output(
    job_id: str,
    step: str,
    reader: ReaderDep,
    services: ServicesDep,
    format: FormatQuery = OutputFormat.JSON,
) -> Response:
    """Download one step's output as a file (json, txt, md or pdf), named `<job>-<step>`; 404 for a step the job's
    version does not have, 409 `no_output` for one that has not completed."""
    async with services.engine.connect() as conn:
        return _answer(await step_file(conn, job_id, step, reader, format))
