"""Which errors retry an attempt (the infrastructure's) and which fail it (`internal_error`), and what
a job's error then says."""

from __future__ import annotations

import sqlalchemy as sa

from workflow_service.core.db import is_db_unavailable


class LostLease(Exception):
    """The job is no longer this agent's (lease expired and it moved on, or it was canceled)."""


def _sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of the database error `exc` is or wraps, if any."""
    current: BaseException | None = exc
    seen: set[int] = set()
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        code = getattr(current, "sqlstate", None) or getattr(current, "pgcode", None)
        if isinstance(code, str):
            return code
        current = getattr(current, "orig", None) or current.__cause__ or current.__context__
    return None


def retryable(exc: BaseException) -> bool:
    """An infrastructure error, never the job's fault: the database is unavailable (connection refused or
    dropped, shutting down, see core.db.is_db_unavailable) or rolled the transaction back (serialization
    failure, deadlock: SQLSTATE class 40). The attempt is retried, never failed, for it."""
    return is_db_unavailable(exc) or (_sqlstate(exc) or "").startswith("40")


def _database_error(exc: BaseException) -> BaseException | None:
    """The driver's exception when `exc` is (or wraps) a database error, else None."""
    current: BaseException | None = exc
    seen: set[int] = set()
    found: BaseException | None = None
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, sa.exc.StatementError | sa.exc.DBAPIError):
            found = current.orig if isinstance(current.orig, BaseException) else current
        elif type(current).__module__.startswith(("asyncpg", "sqlite3", "aiosqlite")):
            return current
        current = getattr(current, "orig", None) or current.__cause__ or current.__context__
    return found


def internal_error_message(exc: BaseException) -> str:
    """The message of the `internal_error` a job fails with for an unexpected `exc`: its kind, and for a
    database error its SQLSTATE, never the SQL statement or its parameters (the traceback is in the log)."""
    db = _database_error(exc)
    if db is not None:
        code = _sqlstate(db)
        return (
            f"unexpected error: a database statement failed ({type(db).__name__}"
            f"{f', SQLSTATE {code}' if code else ''}); the worker log has the details"
        )
    text = str(exc).strip().splitlines()[0][:500] if str(exc).strip() else ""
    return f"unexpected error: {type(exc).__name__}: {text}" if text else f"unexpected error: {type(exc).__name__}"
