"""The dashboard's pages, one module per page or group of pages; each has a `router` (prefix /ui is added)."""

from __future__ import annotations

from fastapi import APIRouter

from workflow_service.ui.pages import (
    account,
    audit,
    automation,
    configuration,
    endpoint,
    job,
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
    job.router,
    workflows.router,
    overview.router,
    endpoint.router,
    keys.router,
    configuration.router,
    packages.router,
    sharing.router,
    automation.router,
    monitor.router,
    audit.router,
    people.router,
    account.router,
]
