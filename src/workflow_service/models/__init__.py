"""Every table of the service. Domains import from here; this package imports no domain."""

from workflow_service.models.base import Base
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

__all__ = [
    "Agent",
    "ApiKey",
    "Base",
    "Delivery",
    "DeliveryAttempt",
    "Job",
    "JobEvent",
    "JobStep",
    "Workflow",
    "WorkflowEnv",
    "WorkflowVersion",
]
