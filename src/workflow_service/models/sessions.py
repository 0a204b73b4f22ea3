"""Dashboard sessions: a signed-in browser's cookie, exchanged for a personal access token or the operator token
(ui/sessions.py). Only a hash of the cookie's value is stored."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from workflow_service.core.db import UTCDateTime
from workflow_service.models.base import Base


class UiSession(Base):
    __tablename__ = "ui_session"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    secret_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    """SHA-256 of the cookie's value (256 random bits)."""
    workspace_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("workspace.id", ondelete="CASCADE"))
    token_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("personal_token.id", ondelete="CASCADE"), index=True
    )
    """The personal access token signed in with; null for the operator. Revoking it ends the session."""
    operator_hash: Mapped[str | None] = mapped_column(sa.String(64))
    """For the operator: SHA-256 of the operator token signed in with; a changed WFS_ADMIN_TOKEN ends the session."""
    csrf_token: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
