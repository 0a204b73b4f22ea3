"""The dashboard's pages, one module per page or group of pages; each has a `router` (prefix /ui is added)."""

from __future__ import annotations

from fastapi import APIRouter

from workflow_service.ui.pages import (
    account,
    audit,
    automation,
    automation_triggers,
    configuration,
    endpoint,
    job,
    job_actions,
    job_new,
    jobs,
    keys,
    monitor,
    overview,
    packages,
    people,
    sharing,
    workflows,
)

PAGE_ROUTERS: list[APIRouter] = [
    jobs.router,
    job_new.router,
    job.router,
    job_actions.router,
    workflows.router,
    overview.router,
    endpoint.router,
    keys.router,
    configuration.router,
    packages.router,
    sharing.router,
    automation_triggers.router,
    automation.router,
    monitor.router,
    audit.router,
    people.router,
    account.router,
]
