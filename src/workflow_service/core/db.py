"""Database engine, column types and the unit of work.

The same code runs on PostgreSQL (production, tests) and SQLite (embedded mode). The dialect
differences live here: JSONB vs JSON, timezone handling, and SQLite's write locking.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
import sqlalchemy as sa
from pydantic import AfterValidator
from sqlalchemy import event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every dialect (SQLite stores them naive)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and dialect.name == "sqlite":
            return value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


# A real U+0000 in a string, as orjson writes it: `\u0000` after an even number of backslashes (an odd number
# means the backslash itself is escaped, and the text is the six characters `\u0000`, which stays as it is).
_NUL_ESCAPE = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")
NUL_REPLACEMENT = "\ufffd"
"""What a U+0000 in a stored JSON value becomes: U+FFFD, the Unicode replacement character. PostgreSQL
refuses U+0000 in JSONB and text; the API refuses it in requests (422), values that steps produce (a remote
server's answer, a model's, a template's) are stored with it replaced, on every database alike."""


def json_text(value: Any) -> str:
    """`value` as the JSON text the database stores: any U+0000 in its strings (keys too) replaced by U+FFFD.

    The scan is one substring search on the usual path; the replacement runs only when it finds the escape."""
    text = orjson.dumps(value, default=str).decode()
    if "\\u0000" in text:
        text = _NUL_ESCAPE.sub(r"\1\\ufffd", text)
    return text


def _json_dumps(value: Any) -> str:
    return json_text(value)


def _sqlite_json_loads(value: Any) -> Any:
    # A JSON column has NUMERIC affinity in SQLite, so a stored bare number comes back as a number.
    if isinstance(value, int | float):
        return value
    return orjson.loads(value)


def make_engine(url: str, pool_size: int = 10) -> AsyncEngine:
    """Create the async engine, with SQLite set up for concurrent use by api and worker tasks."""
    if url.startswith("sqlite"):
        engine = create_async_engine(
            url, json_serializer=_json_dumps, json_deserializer=_sqlite_json_loads, connect_args={"timeout": 30}
        )

        @event.listens_for(engine.sync_engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            # Take the write lock at BEGIN so concurrent writers queue on busy_timeout instead of
            # failing when a read lock is upgraded.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(conn: sa.Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    engine = create_async_engine(
        url,
        json_serializer=_json_dumps,
        json_deserializer=orjson.loads,
        # Connections are kept, never opened per request: an overflow connection would be closed when it is
        # returned and another opened (with its TLS handshake) for the next request, which under load cost
        # the API about 13 % of its CPU. A request beyond the pool waits for a connection (a 503 past 30 s).
        pool_size=pool_size,
        max_overflow=0,
        # No ping per checkout (a round trip on every request): see _discard_if_closed.
        pool_pre_ping=False,
    )
    event.listen(engine.sync_engine, "checkout", _discard_if_closed)
    return engine


def _discard_if_closed(_dbapi_conn: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
    """Checkout-time liveness at no cost: asyncpg marks a connection closed as soon as the server ends it
    (restart, `pg_terminate_backend`, a proxy or network closing it) even while it sits idle in the pool.
    Raising DisconnectionError makes the pool drop it and hand out a new connection instead. A connection
    that dies while in use is invalidated by whoever notices (SQLAlchemy, or DriverConnection below)."""
    driver = record.driver_connection
    if driver is not None and driver.is_closed():
        raise sa.exc.DisconnectionError("the database closed this pooled connection")


AfterCommit = Callable[[], Awaitable[None]]


class DriverConnection:
    """The DBAPI driver's own connection (asyncpg) under an AsyncConnection, for the few statements on
    the hot path where SQLAlchemy's per-statement overhead is most of the cost.

    SQLAlchemy never sees these statements, so what it does for its own is done here: when one finds
    the database gone, the SQLAlchemy connection is invalidated (the pool discards it and connects
    afresh next time) and the error is raised as SQLAlchemy would raise it, a DBAPIError with
    `connection_invalidated` set. Any other error is raised unchanged."""

    __slots__ = ("_conn", "_raw")

    def __init__(self, conn: AsyncConnection, raw: Any) -> None:
        self._conn = conn
        self._raw = raw

    async def fetchval(self, query: str, *args: Any) -> Any:
        try:
            return await self._raw.fetchval(query, *args)
        except Exception as exc:
            await self._raise_if_unavailable(query, exc)
            raise

    async def fetchrow(self, query: str, *args: Any) -> Any:
        try:
            return await self._raw.fetchrow(query, *args)
        except Exception as exc:
            await self._raise_if_unavailable(query, exc)
            raise

    async def fetch(self, query: str, *args: Any) -> list[Any]:
        try:
            rows: list[Any] = await self._raw.fetch(query, *args)
        except Exception as exc:
            await self._raise_if_unavailable(query, exc)
            raise
        return rows

    async def _raise_if_unavailable(self, query: str, exc: Exception) -> None:
        if not (self._raw.is_closed() or is_db_unavailable(exc)):
            return
        if not self._conn.invalidated:
            await self._conn.invalidate(exc)
        raise sa.exc.OperationalError(query, None, exc, hide_parameters=True, connection_invalidated=True) from exc


async def driver_connection(conn: AsyncConnection) -> DriverConnection:
    """The driver connection under `conn` (see DriverConnection). Statements run on it join the
    transaction `conn` has open, if any."""
    raw = await conn.get_raw_connection()
    return DriverConnection(conn, raw.driver_connection)


async def ping(conn: AsyncConnection) -> None:
    """One trivial round trip: raises when the database does not answer (readiness)."""
    await conn.execute(sa.text("SELECT 1"))


async def begin_now(conn: AsyncConnection) -> None:
    """Open `conn`'s database transaction now rather than at its first SQLAlchemy statement (the asyncpg
    adapter begins lazily), so that statements run on the driver connection (see DriverConnection) join
    it and commit or roll back with it. One BEGIN round trip; nothing when it is already open."""
    raw = await conn.get_raw_connection()
    adapted: Any = raw.dbapi_connection
    if getattr(adapted, "_transaction", False) is None:
        await adapted._start_transaction()


class UnitOfWork:
    """One transaction plus the work to do once it has committed (enqueues, notifications).

    Services never commit; they register follow-ups with `after_commit`, which run only after the
    transaction is durable, so a worker can never be woken for a row it cannot see yet.
    """

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
        self._after: list[AfterCommit] = []

    def after_commit(self, fn: AfterCommit) -> None:
        self._after.append(fn)

    async def run_after_commit(self) -> None:
        pending, self._after = self._after, []
        for fn in pending:
            await fn()


@asynccontextmanager
async def unit_of_work(engine: AsyncEngine) -> AsyncIterator[UnitOfWork]:
    """Open a transaction; commit on success, roll back on error, then run after-commit work."""
    async with engine.begin() as conn:
        uow = UnitOfWork(conn)
        yield uow
    await uow.run_after_commit()


@asynccontextmanager
async def snapshot(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection whose reads all see the database as it was at the first one (PostgreSQL's REPEATABLE
    READ; a SQLite transaction already does): for readers that combine what several queries answer."""
    async with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execution_options(isolation_level="REPEATABLE READ")
        async with conn.begin():
            yield conn


# SQLSTATE classes and codes that mean "the database is not there right now", not "your query is wrong":
# 08 connection exceptions, 53 insufficient resources, 57P01-57P03 shutdown / crash recovery.
_UNAVAILABLE_SQLSTATES = ("08", "53", "57P01", "57P02", "57P03")
_DATABASE_MODULES = ("sqlalchemy", "asyncpg", "sqlite3", "aiosqlite")
_UNAVAILABLE_MESSAGES = ("connection is closed", "connection was closed", "database is locked", "shutting down")


def is_db_unavailable(exc: BaseException) -> bool:
    """True when `exc` (or what it wraps) says the database is unreachable or dropped the connection:
    an infrastructure error to retry or answer with 503, never a user-visible failure.

    Covers SQLAlchemy's wrapped errors and the raw asyncpg errors the fast paths see on the driver
    connection, whose classes SQLAlchemy never wrapped. It looks inside database errors only: an HTTP
    client's connect error wraps an OSError too, but says nothing about the database."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, sa.exc.DBAPIError) and current.connection_invalidated:
            return True
        # The pool found a dead connection it could not replace, or no connection came free in time.
        if isinstance(current, sa.exc.DisconnectionError | sa.exc.TimeoutError):
            return True
        if isinstance(current, ConnectionError | TimeoutError | OSError):
            return True
        sqlstate = getattr(current, "sqlstate", None) or getattr(current, "pgcode", None)
        if isinstance(sqlstate, str) and sqlstate.startswith(_UNAVAILABLE_SQLSTATES):
            return True
        module = type(current).__module__
        if module.startswith("asyncpg") and type(current).__name__ in (
            "InterfaceError",
            "ConnectionDoesNotExistError",
            "ConnectionFailureError",
        ):
            return True
        if isinstance(current, sa.exc.OperationalError | sa.exc.InterfaceError) or module.startswith(
            ("asyncpg", "sqlite3", "aiosqlite")
        ):
            text = str(current).lower()
            if any(m in text for m in _UNAVAILABLE_MESSAGES):
                return True
        if not module.startswith(_DATABASE_MODULES):
            return False
        current = getattr(current, "orig", None) or current.__cause__ or current.__context__
    return False


AnyRow = sa.Row[*tuple[Any, ...]]
"""A result row of any shape (repositories return Core rows, read by attribute)."""


def _storable(value: Any) -> Any:
    """Refuse what a JSON column cannot hold (integers beyond 64 bits) as a 422, not a 500 at INSERT."""
    try:
        orjson.dumps(value)
    except TypeError as exc:
        raise ValueError(f"cannot be stored as JSON: {exc}") from exc
    return value


StorableDict = Annotated[dict[str, Any], AfterValidator(_storable)]
"""A JSON object field of a request body that the database can store."""
