"""A workflow's backups: the draft a package import replaced, kept as the package it was (packages/backups.py)."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from workflow_service.core.db import UTCDateTime
from workflow_service.models.base import Base


class WorkflowBackup(Base):
    __tablename__ = "workflow_backup"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    """A uuid7: listing by id is listing by time."""
    workflow_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("workflow.id", ondelete="CASCADE"), index=True)
    file_name: Mapped[str] = mapped_column(sa.String(255))
    """`Exported_<Workflow Name>.zip`."""
    content: Mapped[bytes] = mapped_column(sa.LargeBinary)
    """The package (a zip), as the export writes it; secure values left out."""
    size: Mapped[int] = mapped_column(sa.Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(sa.String(64))
    """The actor who imported over the draft: `admin`, `user:<id>`, `key:<id>`."""
