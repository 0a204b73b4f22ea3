"""How the OpenAPI contract names and groups the operations, for the clients generated from it.

An operation's `operationId` is its route function's name in camelCase (`submit_async` -> `submitAsync`):
client generators name their methods after it, so it stays short and does not change when a path does
(renaming a route function changes the contract, which the committed openapi/openapi.json pins down).
Every operation has one tag, its domain, which generators make a module of.
"""

from __future__ import annotations

from typing import Any

from fastapi.routing import APIRoute

TAGS: list[dict[str, Any]] = [
    {"name": "workflows", "description": "Workflows and their draft definition."},
    {"name": "versions", "description": "Deploying a draft as an immutable version, and reading versions."},
    {"name": "settings", "description": "A workflow's endpoint settings: sync wait, queue timeout, push."},
    {"name": "environment", "description": "A workflow's environment variables (`env.NAME` in templates)."},
    {
        "name": "packages",
        "description": "A workflow's version as a package (a zip of three JSON files) to move it to another service "
        "or workspace.",
    },
    {"name": "api-keys", "description": "API keys that call a workflow's endpoints."},
    {
        "name": "schedules",
        "description": "Running a workflow at the times a cron expression or an interval gives, and the record of "
        "each time.",
    },
    {
        "name": "jobs",
        "description": "Submitting jobs to a deployed version, and following, cancelling or rerunning them.",
    },
    {"name": "deliveries", "description": "Push callbacks of a job and their attempts."},
    {
        "name": "monitor",
        "description": "How a deployed workflow is doing: its figures over a window of time, its runs, its model "
        "calls.",
    },
    {"name": "agents", "description": "The worker processes that run jobs."},
    {"name": "tools", "description": "The Python tools `tool` steps can call."},
    {
        "name": "workspaces",
        "description": "Workspaces (the tenants), the one a request acts in, and who the caller is.",
    },
    {"name": "users", "description": "The users of a workspace and their roles in it."},
    {"name": "tokens", "description": "Personal access tokens: a user's own, and those owners and admins manage."},
    {
        "name": "sharing",
        "description": "Inviting members of the workspace to a workflow with a role. The workspace's owners and "
        "admins are owners of every workflow without an invitation.",
    },
    {"name": "audit", "description": "The append-only, hash-chained audit log of every change, and its check."},
    {
        "name": "triggers",
        "description": "A workflow's schedules and event triggers (webhook URLs whose events become jobs), and their "
        "history.",
    },
    {"name": "hooks", "description": "Event triggers' URLs: authenticated by each trigger's secret, not by a token."},
    {"name": "health", "description": "Liveness and readiness probes (no authentication)."},
]


def operation_id(route: APIRoute) -> str:
    """The route function's name in camelCase."""
    first, *rest = route.name.split("_")
    return first + "".join(word.capitalize() for word in rest)
