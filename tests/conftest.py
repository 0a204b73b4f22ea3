"""Shared fixtures: a fresh PostgreSQL database migrated once per session (per xdist worker), the Redis test
database (one per worker too), the app over ASGI, in-process arq workers, and real echo and model servers on
127.0.0.1; polling for a job's end or any condition instead of sleeping."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
import sqlalchemy as sa
from asgi_lifespan import LifespanManager
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tests.isolation import check_room, resources_for
from tests.llm.conftest import ModelServer
from tests.servers import EchoServer
from workflow_service.app import create_app
from workflow_service.config import Settings
from workflow_service.core.db import make_engine
from workflow_service.migrate import upgrade
from workflow_service.models import DEFAULT_WORKSPACE_ID, Workspace
from workflow_service.worker.arq_worker import WorkerOptions, serve_worker
from workflow_service.workflows.refs import ScopedRef
from workflow_service.workflows.service import Creator

PG_ADMIN_DSN = os.environ.get("WFS_TEST_PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
RESOURCES = resources_for(os.environ)
"""This process's own database and Redis database (one per xdist worker; tests/isolation.py)."""
TEST_DB = RESOURCES.db_name
DATABASE_URL = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{TEST_DB}"
REDIS_URL = RESOURCES.redis_url
workspace_t: sa.Table = Workspace.__table__  # type: ignore[assignment]
TOKEN = "test-admin-token"
BASE_URL = "http://testserver"
"""Where the clients of the app over ASGI send their requests: the base of the absolute URLs it answers."""
TABLES = (
    "ui_session",
    "workflow_backup",
    "trigger_event",
    "event_trigger",
    "schedule_fire",
    "schedule",
    "workflow_env",
    "delivery_attempt",
    "delivery",
    "api_key",
    "job_step",
    "job_event",
    "job",
    "workflow_version",
    "workflow",
    "agent",
    "workflow_member",
    "personal_token",
    "membership",
    "app_user",
    "audit_entry",
    "audit_head",
)


async def empty_database(conn: AsyncConnection) -> None:
    """Remove every row the tests make: the TABLES, and every workspace but the default one, which is put back
    as the migration made it."""
    await conn.exec_driver_sql(f"TRUNCATE {', '.join(TABLES)} CASCADE")
    await conn.execute(sa.delete(workspace_t).where(workspace_t.c.id != DEFAULT_WORKSPACE_ID))
    await conn.execute(
        sa.update(workspace_t)
        .where(workspace_t.c.id == DEFAULT_WORKSPACE_ID)
        .values(slug="default", name="Default", retention_days=None)
    )


async def recreate_database(name: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def pytest_configure(config: pytest.Config) -> None:
    workers = getattr(config.option, "numprocesses", None)  # pytest-xdist's -n, in the process that starts them
    if workers and "PYTEST_XDIST_WORKER" not in os.environ:
        try:
            check_room(os.environ, int(workers))
        except ValueError as exc:
            raise pytest.UsageError(str(exc)) from None


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": DATABASE_URL,
        "redis_url": REDIS_URL,
        "admin_token": SecretStr(TOKEN),
        "allow_private_networks": False,
        "outbound_allowlist": ["127.0.0.1"],
        "lease_s": 15.0,
        "heartbeat_s": 5.0,
        "reconcile_interval_s": 0.5,
        "requeue_after_s": 10.0,
        "worker_concurrency": 8,
        "db_pool_size": 5,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="session")
async def database() -> str:
    await recreate_database(TEST_DB)
    await asyncio.to_thread(upgrade, DATABASE_URL)
    return DATABASE_URL


@pytest.fixture(scope="session")
async def session_engine(database: str) -> AsyncIterator[AsyncEngine]:
    eng = make_engine(database, pool_size=5)
    yield eng
    await eng.dispose()


@pytest.fixture(scope="session")
async def redis_client() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(REDIS_URL)
    yield client
    await client.aclose()


@pytest.fixture
async def engine(session_engine: AsyncEngine, redis_client: aioredis.Redis) -> AsyncEngine:
    """The test database, emptied (and the Redis test db flushed) before the test."""
    async with session_engine.begin() as conn:
        await empty_database(conn)
    await redis_client.flushdb()
    return session_engine


@pytest.fixture
def settings(engine: AsyncEngine) -> Settings:
    return make_settings()


ClientFactory = Callable[[str], httpx.AsyncClient]
"""`connect(token)`: a client of the app that sends `Authorization: Bearer <token>`."""


@contextlib.asynccontextmanager
async def connections(settings: Settings, raise_app_exceptions: bool = True) -> AsyncIterator[ClientFactory]:
    """The app made from `settings`, started (its lifespan runs) and served over ASGI to the clients
    `connect(token)` makes; they are closed before the app stops. With `raise_app_exceptions=False`, an
    unhandled error comes back as a 500 response, as a real server sends it."""
    app = create_app(settings)
    clients: list[httpx.AsyncClient] = []
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app, raise_app_exceptions=raise_app_exceptions)

        def connect(token: str) -> httpx.AsyncClient:
            headers = {"Authorization": f"Bearer {token}"}
            clients.append(httpx.AsyncClient(transport=transport, base_url=BASE_URL, headers=headers))
            return clients[-1]

        try:
            yield connect
        finally:
            for c in clients:
                await c.aclose()


@contextlib.asynccontextmanager
async def serving(settings: Settings, raise_app_exceptions: bool = True) -> AsyncIterator[httpx.AsyncClient]:
    """`connections` with one client, the admin's."""
    async with connections(settings, raise_app_exceptions) as connect:
        yield connect(TOKEN)


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The API over ASGI (no worker): jobs stay pending unless a worker fixture runs."""
    async with serving(settings) as c:
        yield c


WorkerFactory = Callable[..., Awaitable[asyncio.Event]]


@pytest.fixture
async def start_worker(settings: Settings) -> AsyncIterator[WorkerFactory]:
    """Start in-process arq workers (real Redis, real database); all are stopped after the test."""
    running: list[tuple[asyncio.Event, asyncio.Task[None]]] = []

    async def start(pools: tuple[str, ...] = ("default",), concurrency: int = 8, **overrides: Any) -> asyncio.Event:
        worker_settings = settings.model_copy(update=overrides) if overrides else settings
        stop = asyncio.Event()
        task = asyncio.create_task(
            serve_worker(
                worker_settings,
                WorkerOptions(pools=pools, concurrency=concurrency, grace_s=2.0, handle_signals=False),
                stop,
            )
        )
        running.append((stop, task))
        await asyncio.sleep(0.2)
        if task.done():
            task.result()
        return stop

    yield start
    for stop, _ in running:
        stop.set()
    await asyncio.gather(*(task for _, task in running), return_exceptions=True)


@pytest.fixture
def echo_server() -> Iterator[EchoServer]:
    server = EchoServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def model_server() -> Iterator[ModelServer]:
    server = ModelServer()
    server.start()
    yield server
    server.stop()


async def wait_for_job(
    client: httpx.AsyncClient,
    job_id: str,
    statuses: tuple[str, ...] = ("completed", "failed", "canceled"),
    wait_s: float = 10.0,
) -> dict[str, Any]:
    """Poll the job until it reaches one of `statuses`; fail the test on timeout."""
    deadline = asyncio.get_running_loop().time() + wait_s
    while True:
        response = await client.get(f"/v1/jobs/{job_id}")
        assert response.status_code == 200, response.text
        job: dict[str, Any] = response.json()
        if job["status"] in statuses:
            return job
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"job {job_id} still {job['status']} after {wait_s} s")
        await asyncio.sleep(0.02)


async def eventually(condition: Callable[[], Any], what: str = "the condition", wait_s: float = 5.0) -> Any:
    """Poll `condition` (sync or async) until it returns something truthy, and return that; fail the test
    naming `what` after `wait_s`."""
    deadline = asyncio.get_running_loop().time() + wait_s
    while True:
        value = condition()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what} not reached within {wait_s} s")
        await asyncio.sleep(0.02)


def default_ref(ref: str) -> ScopedRef:
    """A workflow id or slug in the default workspace, where the tests' workflows are unless they say."""
    return ScopedRef(ref, DEFAULT_WORKSPACE_ID)


DEFAULT_CREATOR = Creator(DEFAULT_WORKSPACE_ID)
"""The operator creating a workflow in the default workspace."""
