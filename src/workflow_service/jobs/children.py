"""Child jobs for the `workflow` step: start (or find again) the child, wait for it, return its output."""

from __future__ import annotations

import uuid
from typing import Any

from workflow_service.context import Context
from workflow_service.core.db import unit_of_work
from workflow_service.engine.steps.base import StepFailure, StepResult
from workflow_service.errors import NotFound, ServiceError
from workflow_service.jobs import intake, repository
from workflow_service.jobs import service as jobs
from workflow_service.jobs.schemas import JobCreate, JobRead
from workflow_service.jobs.states import is_terminal
from workflow_service.jobs.views import EVERYTHING
from workflow_service.workflows import service as workflows
from workflow_service.workflows.refs import ScopedRef

MAX_DEPTH = 5
"""How deep sub-workflows may nest (a workflow calling itself through others stops here)."""
CHILD_CACHE = JobCreate.model_fields["cache"].default
"""A child job is cached like a submission that does not say (`auto`)."""


class ChildRunner:
    """Runs the `workflow` steps of the jobs a worker runs (engine.steps.base.ChildJobs)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def _lineage(self, parent_id: uuid.UUID, step_id: str) -> tuple[Any, uuid.UUID | None, int]:
        """The parent's row, the child already started for this step (a retried parent), and the depth."""
        async with self.ctx.engine.connect() as conn:
            parent = await repository.get_parent(conn, parent_id)
            existing = await repository.child_of(conn, parent_id, step_id)
            depth, ancestor = 1, parent.parent_job_id
            while ancestor is not None and depth <= MAX_DEPTH:
                ancestor = await repository.parent_of(conn, ancestor)
                depth += 1
        return parent, existing, depth

    async def _ended(self, child_id: uuid.UUID) -> JobRead:
        """The child job once it has ended; a step failure if it is deleted meanwhile."""
        while True:  # the step's and the job's timeouts bound this wait
            try:
                child = await jobs.wait_for_end(self.ctx.engine, self.ctx.notifier, child_id, 60, viewer=EVERYTHING)
            except NotFound as exc:
                raise StepFailure("child_deleted", f"child job {child_id} was deleted before it ended") from exc
            if is_terminal(child.status):
                return child

    async def run(
        self, parent_job_id: str, step_id: str, workflow: str, version: str, inputs: dict[str, Any]
    ) -> StepResult:
        parent_id = uuid.UUID(parent_job_id)
        parent, child_id, depth = await self._lineage(parent_id, step_id)
        if child_id is None:
            if depth > MAX_DEPTH:
                raise StepFailure("workflow_too_deep", f"sub-workflows nest at most {MAX_DEPTH} deep")
            try:
                async with unit_of_work(self.ctx.engine) as uow:
                    # A sub-workflow is looked up in its parent's workspace, and only there.
                    ref = ScopedRef(workflow, parent.workspace_id)
                    target = await workflows.resolve_target(uow.conn, self.ctx.plans, ref, version)
                    spec = intake.JobSpec(
                        target=target,
                        origin=intake.Origin.CHILD,
                        caller=parent.caller,
                        max_attempts=self.ctx.settings.jobs.max_attempts,
                        inputs=inputs,
                        pool=parent.pool,
                        cache=CHILD_CACHE,
                        parent=(parent_id, step_id),
                    )
                    created = await intake.create(uow, self.ctx, spec)
            except ServiceError as exc:
                raise StepFailure("workflow_error", f"cannot start workflow {workflow!r}: {exc.detail}") from exc
            child_id = created.job_id
        child = await self._ended(child_id)
        detail = {"child_job_id": str(child_id), "workflow": child.workflow.slug, "version": child.version}
        if child.status == "completed":
            return StepResult(output=child.output, detail=detail)
        reason = f": {child.error.code}: {child.error.message}" if child.error else ""
        raise StepFailure("child_failed", f"child job {child_id} ({child.workflow.slug}) {child.status}{reason}")
