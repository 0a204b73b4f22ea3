"""Job queries, in SQLAlchemy Core (the hot path: no ORM identity map or unit of work), and PostgreSQL's
single statements for the writes every job makes.

Callers use this package's functions only, the same on every database: `insert_job`, `claim` and
`finish` choose PostgreSQL's one statement (pg.py) or the portable ones inside. Statuses come from
jobs/states.py, never as literals; the step-record columns from engine/executor.STEP_RECORD_COLUMNS.

| module | queries |
|---|---|
| moves.py | the job's insert, `transition` (every status change), checkpoints of step records |
| events.py | the places of step records among the job's events, and what a follower reads after a place |
| run.py | an agent's `claim` and `finish` of a job |
| reads.py | one job, its steps and events, rows locked before a decision, lineage reads |
| listing.py | listings: filters, text search, sorts and their keysets, what each listed row shows |
| sweeps.py | the reconciler's and the heartbeat's |
| copies.py | the result cache's, and step records copied from another job |
| deletes.py | deleting jobs: by id, a workflow's, the retention sweep's batches |
| pg.py | PostgreSQL's statements for insert, claim and finish |
"""

from workflow_service.jobs.repository.copies import (
    advisory_lock,
    completed_output,
    copy_cached_steps,
    copy_steps,
    newest_cached_result,
    oldest_in_flight,
    pending_followers,
    with_cache_source,
)
from workflow_service.jobs.repository.deletes import (
    count_active,
    delete_jobs,
    delete_workflow_jobs,
    expired,
    lock_active,
    lock_jobs,
    retention_policies,
)
from workflow_service.jobs.repository.events import status_changes_after, status_of, steps_after
from workflow_service.jobs.repository.listing import (
    last_completed,
    like_pattern,
    list_jobs,
    matching_workflows,
    step_counts,
)
from workflow_service.jobs.repository.moves import (
    WorkflowGone,
    Writes,
    attempt_is,
    extend_lease,
    fail_running_steps,
    insert_job,
    lease_expired,
    transition,
    update_job,
    upsert_steps,
)
from workflow_service.jobs.repository.params import (
    After,
    ClaimedRow,
    ClaimRequest,
    EndedRow,
    Finish,
    JobFilter,
    Move,
    Search,
    Sort,
    Span,
)
from workflow_service.jobs.repository.reads import (
    JOB_COLUMNS,
    SUMMARY_COLUMNS,
    access_facts,
    access_facts_of,
    child_of,
    completed_outputs,
    exists,
    find_idempotent,
    get_events,
    get_job,
    get_parent,
    get_source,
    get_steps,
    lock_for_cancel,
    lock_for_start,
    lock_for_update,
    mean_output_tokens,
    parent_of,
    with_creator,
)
from workflow_service.jobs.repository.run import claim, claim_many, finish
from workflow_service.jobs.repository.sweeps import (
    canceled_among,
    expired_leases,
    extend_leases,
    mark_enqueued,
    past_deadline,
    past_run_deadline,
    stale_pending,
    unfinished_among,
)
from workflow_service.jobs.repository.tables import (
    CACHE_KIND,
    ENDED_COLUMNS,
    env_t,
    event_t,
    job_t,
    step_t,
    version_t,
    workflow_t,
)

__all__ = [
    "CACHE_KIND",
    "ENDED_COLUMNS",
    "JOB_COLUMNS",
    "SUMMARY_COLUMNS",
    "After",
    "ClaimRequest",
    "ClaimedRow",
    "EndedRow",
    "Finish",
    "JobFilter",
    "Move",
    "Search",
    "Sort",
    "Span",
    "WorkflowGone",
    "Writes",
    "access_facts",
    "access_facts_of",
    "advisory_lock",
    "attempt_is",
    "canceled_among",
    "child_of",
    "claim",
    "claim_many",
    "completed_output",
    "completed_outputs",
    "copy_cached_steps",
    "copy_steps",
    "count_active",
    "delete_jobs",
    "delete_workflow_jobs",
    "env_t",
    "event_t",
    "exists",
    "expired",
    "expired_leases",
    "extend_lease",
    "extend_leases",
    "fail_running_steps",
    "find_idempotent",
    "finish",
    "get_events",
    "get_job",
    "get_parent",
    "get_source",
    "get_steps",
    "insert_job",
    "job_t",
    "last_completed",
    "lease_expired",
    "like_pattern",
    "list_jobs",
    "lock_active",
    "lock_for_cancel",
    "lock_for_start",
    "lock_for_update",
    "lock_jobs",
    "mark_enqueued",
    "matching_workflows",
    "mean_output_tokens",
    "newest_cached_result",
    "oldest_in_flight",
    "parent_of",
    "past_deadline",
    "past_run_deadline",
    "pending_followers",
    "retention_policies",
    "stale_pending",
    "status_changes_after",
    "status_of",
    "step_counts",
    "step_t",
    "steps_after",
    "transition",
    "unfinished_among",
    "update_job",
    "upsert_steps",
    "version_t",
    "with_cache_source",
    "with_creator",
    "workflow_t",
]
