"""Tables of people and trust: workspaces, users, their memberships and tokens, workflow sharing, the audit log.

See docs/people.md. A workspace is the tenant: workflows (and through them jobs, keys, variables) belong to
one; users belong to workspaces through memberships, each with a workspace role.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from workflow_service.core.db import JSONType, UTCDateTime
from workflow_service.models.base import Base
from workflow_service.models.tables import in_values

WORKSPACE_ROLES = ("owner", "admin", "member")
WORKFLOW_ROLES = ("owner", "editor", "runner", "viewer")
DEFAULT_WORKSPACE_ID = uuid.UUID("00000000-0000-0000-0000-000000000001")
"""The workspace that existing data moved into, and that the operator acts in unless it names another."""
DEFAULT_WORKSPACE_SLUG = "default"


class Workspace(Base):
    __tablename__ = "workspace"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    slug: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    retention_days: Mapped[int | None] = mapped_column(sa.Integer)
    """The default for its workflows: ended jobs older than this many days are deleted; null keeps them."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class User(Base):
    """A person. The same user may belong to several workspaces (one membership each)."""

    __tablename__ = "app_user"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(320), unique=True)
    """Stored lower-cased."""
    name: Mapped[str] = mapped_column(sa.String(200))
    subject: Mapped[str | None] = mapped_column(sa.String(255), unique=True)
    """The identity provider's `sub` claim, once the user has signed in with a JWT (or set by an admin)."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Membership(Base):
    __tablename__ = "membership"
    __table_args__ = (
        sa.UniqueConstraint("workspace_id", "user_id", name="uq_membership_user"),
        sa.CheckConstraint(in_values("role", WORKSPACE_ROLES), name="role"),
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    workspace_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("workspace.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(sa.String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PersonalToken(Base):
    """A user's personal access token for one workspace; only its hash is stored."""

    __tablename__ = "personal_token"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    workspace_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("workspace.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(sa.String(200))
    prefix: Mapped[str] = mapped_column(sa.String(32), unique=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WorkflowMember(Base):
    """A user invited to a workflow with a role (sharing)."""

    __tablename__ = "workflow_member"
    __table_args__ = (
        sa.UniqueConstraint("workflow_id", "user_id", name="uq_workflow_member_user"),
        sa.CheckConstraint(in_values("role", WORKFLOW_ROLES), name="role"),
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    workflow_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("workflow.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(sa.String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AuditEntry(Base):
    """One action on something, written in the transaction of the change; never updated nor deleted.

    Each chain (a workspace's, or the deployment's for entries of no workspace) links its entries: `hash` is
    over the entry's content and the previous entry's hash (audit/chain.py). No foreign keys: an entry
    outlives the workflow, job or user it names.
    """

    __tablename__ = "audit_entry"
    __table_args__ = (
        sa.UniqueConstraint("chain", "seq", name="uq_audit_entry_seq"),
        sa.Index("ix_audit_entry_workflow", "workflow_id", "id"),
    )

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    chain: Mapped[str] = mapped_column(sa.String(64))
    """The workspace id, or `deployment`."""
    seq: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"))
    """1, 2, … within the chain."""
    workspace_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(sa.String(100))
    """`admin` (the operator), `user:<id>`, `key:<id>` or `system`."""
    actor_name: Mapped[str] = mapped_column(sa.String(320))
    action: Mapped[str] = mapped_column(sa.String(64))
    category: Mapped[str] = mapped_column(sa.String(32))
    target_id: Mapped[str | None] = mapped_column(sa.String(100))
    target_name: Mapped[str | None] = mapped_column(sa.String(320))
    workflow_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    """The workflow the action concerns, if any (for the workflow's audit log)."""
    description: Mapped[str] = mapped_column(sa.Text)
    request_id: Mapped[str | None] = mapped_column(sa.String(100))
    client_address: Mapped[str | None] = mapped_column(sa.String(100))
    changes: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    """For configuration changes: {field: {before, after}}, secret values redacted."""
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64))


class AuditHead(Base):
    """The last entry of each audit chain; locked by the writer of the next entry, so entries chain in order."""

    __tablename__ = "audit_head"

    chain: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"))
    hash: Mapped[str] = mapped_column(sa.String(64))
