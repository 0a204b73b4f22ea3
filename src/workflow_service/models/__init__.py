"""Every table of the service. Domains import from here; this package imports no domain."""

from workflow_service.models.backups import WorkflowBackup
from workflow_service.models.base import Base
from workflow_service.models.people import (
    DEFAULT_WORKSPACE_ID,
    DEFAULT_WORKSPACE_SLUG,
    AuditEntry,
    AuditHead,
    Membership,
    PersonalToken,
    User,
    WorkflowMember,
    Workspace,
)
from workflow_service.models.schedules import Schedule, ScheduleFire
from workflow_service.models.sessions import UiSession
from workflow_service.models.tables import (
    Agent,
    ApiKey,
    Delivery,
    DeliveryAttempt,
    Job,
    JobEvent,
    JobStep,
    Workflow,
    WorkflowEnv,
    WorkflowVersion,
)
from workflow_service.models.triggers import EventTrigger, TriggerEvent

__all__ = [
    "DEFAULT_WORKSPACE_ID",
    "DEFAULT_WORKSPACE_SLUG",
    "Agent",
    "ApiKey",
    "AuditEntry",
    "AuditHead",
    "Base",
    "Delivery",
    "DeliveryAttempt",
    "EventTrigger",
    "Job",
    "JobEvent",
    "JobStep",
    "Membership",
    "PersonalToken",
    "Schedule",
    "ScheduleFire",
    "TriggerEvent",
    "UiSession",
    "User",
    "Workflow",
    "WorkflowBackup",
    "WorkflowEnv",
    "WorkflowMember",
    "WorkflowVersion",
    "Workspace",
]
