"""What the pages of one workflow share: the workflow itself and what the person may do on it (its left
navigation shows only the pages they may open)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workflow_service.access.policy import Action
from workflow_service.ui.api import segment
from workflow_service.ui.context import Ui

WORKFLOW_ACTIONS = [
    Action.WORKFLOW_READ,
    Action.WORKFLOW_EDIT,
    Action.WORKFLOW_MANAGE,
    Action.WORKFLOW_MONITOR,
    Action.WORKFLOW_MEMBERS_READ,
    Action.WORKFLOW_SHARE,
    Action.WORKFLOW_EXPORT,
    Action.WORKFLOW_AUDIT,
    Action.WORKFLOW_DELETE,
    Action.WORKFLOW_JOBS_LIST,
    Action.TRIGGERS_READ,
    Action.TRIGGERS_WRITE,
    Action.SCHEDULE_READ,
    Action.SCHEDULE_MANAGE,
    Action.APIKEY_MANAGE,
    Action.JOB_SUBMIT,
    Action.JOB_ESTIMATE,
]


@dataclass
class WorkflowPage:
    """A workflow as its pages show it: the API's WorkflowRead, and the actions allowed to the person."""

    workflow: dict[str, Any]
    allowed: set[str]

    @property
    def ref(self) -> str:
        return str(self.workflow["slug"])

    def may(self, action: Action) -> bool:
        return action.value in self.allowed

    def values(self, section: str) -> dict[str, Any]:
        """What _layout.html reads: the workflow, the allowed actions, the section shown."""
        return {"workflow": self.workflow, "allowed": self.allowed, "section": section, "wref": segment(self.ref)}


async def workflow_page(ui: Ui, ref: str) -> WorkflowPage:
    """The workflow `ref` names (id or slug), as the person may see it (ApiProblem 404 otherwise)."""
    workflow: dict[str, Any] = await ui.api.get(f"/v1/workflows/{segment(ref)}")
    allowed = await ui.allowed_actions(WORKFLOW_ACTIONS, workflow=str(workflow["slug"]))
    return WorkflowPage(workflow, allowed)
