"""Database outages: the API and the workers recover by themselves, and answer 503 meanwhile.

Real PostgreSQL throughout. The outages are made without touching the shared server: the backends of
this test database are terminated (`pg_terminate_backend` limited to it), or the app reaches the
database through a TCP proxy that the test cuts and restores.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import asyncpg
import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.dialects.postgresql import asyncpg as pg_asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.pool import QueuePool

from tests.conftest import PG_ADMIN_DSN, TEST_DB, WorkerFactory, make_settings, serving, wait_for_job
from tests.jobs.conftest import GREETER, deploy_workflow
from workflow_service.app import create_app
from workflow_service.core.db import is_db_unavailable, make_engine, unit_of_work
from workflow_service.deps import UowDep
from workflow_service.jobs import repository as jobs_repo
from workflow_service.problems import install_problem_handlers

PROBLEM = "application/problem+json"
UNAVAILABLE_TYPE = "urn:workflow-service:problem:database_unavailable"
SUBMIT = "/v1/workflows/greeter/versions/current/async"
NO_DATABASE = {"/v1/tools"}  # with the admin token: lists the tools installed in the process, no database
# Bodies for the routes that would refuse `{}` (422) before anything reaches the database.
VALID_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("post", "/v1/workflows"): {"name": "other", "definition": GREETER},
}


def assert_database_unavailable(response: httpx.Response, what: str) -> None:
    assert response.status_code == 503, f"{what}: {response.status_code} {response.text}"
    assert response.headers["content-type"].startswith(PROBLEM), f"{what}: {response.headers}"
    assert int(response.headers["retry-after"]) >= 1, what
    body = response.json()
    assert body["type"] == UNAVAILABLE_TYPE, f"{what}: {body}"
    assert body["status"] == 503
    assert body["code"] == "database_unavailable"


async def backends_of_test_db() -> set[int]:
    admin = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        rows = await admin.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1", TEST_DB)
        return {r["pid"] for r in rows}
    finally:
        await admin.close()


async def terminate_and_wait() -> None:
    """pg_terminate_backend on every backend of the test database; returns once all of them have exited."""
    before = await backends_of_test_db()
    assert before, "the app holds pooled connections to the test database"
    admin = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            TEST_DB,
        )
        deadline = asyncio.get_running_loop().time() + 10
        while await admin.fetchval("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1::int[])", list(before)):
            assert asyncio.get_running_loop().time() < deadline, "terminated backends did not exit"
            await asyncio.sleep(0.02)
    finally:
        await admin.close()


async def submit_until_accepted(client: httpx.AsyncClient, within_s: float) -> list[httpx.Response]:
    """Submit until one is accepted (202); every answer before it must be a 503 problem, never a 500."""
    answers: list[httpx.Response] = []
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        response = await client.post(SUBMIT, json={"inputs": {"name": "Ada"}})
        answers.append(response)
        if response.status_code == 202:
            return answers
        assert_database_unavailable(response, f"submission {len(answers)}")
        assert asyncio.get_running_loop().time() < deadline, f"still refused after {within_s} s"
        await asyncio.sleep(0.05)


async def warm_pool(client: httpx.AsyncClient, n: int) -> None:
    """Several concurrent submissions, so the pool holds several connections (all of which will die)."""
    answers = await asyncio.gather(*(client.post(SUBMIT, json={"inputs": {"name": f"w{i}"}}) for i in range(n)))
    assert [a.status_code for a in answers] == [202] * n, [a.text for a in answers]


# --- (a) backends terminated while the API is serving ---------------------------------------------------


async def test_submissions_recover_by_themselves_after_the_backends_are_terminated(engine: AsyncEngine) -> None:
    async with serving(make_settings(), raise_app_exceptions=False) as client:
        await deploy_workflow(client, "greeter", GREETER)
        await warm_pool(client, 5)

        for _ in range(2):  # twice: the connections made after the first outage are recovered from too
            await terminate_and_wait()
            started = asyncio.get_running_loop().time()
            answers = await submit_until_accepted(client, within_s=5.0)
            assert len(answers) <= 2, [a.status_code for a in answers]
            assert asyncio.get_running_loop().time() - started < 5.0
            # Recovered for good: every later request succeeds, reads included.
            for i in range(10):
                response = await client.post(SUBMIT, json={"inputs": {"name": f"after {i}"}})
                assert response.status_code == 202, response.text
                read = await client.get(response.headers["location"])
                assert read.status_code == 200, read.text
            await warm_pool(client, 5)


# --- (b) the database unreachable ----------------------------------------------------------------------


class TcpProxy:
    """127.0.0.1:<port> -> PostgreSQL, which the test can cut (connections closed, new ones refused)."""

    def __init__(self, target_port: int = 5432) -> None:
        self.target_port = target_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}
        pumps = [
            asyncio.create_task(self._pump(reader, up_writer)),
            asyncio.create_task(self._pump(up_reader, writer)),
        ]
        self._tasks.update(pumps)
        await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        for task in pumps:
            task.cancel()
        for w in (writer, up_writer):
            w.close()
            self._writers.discard(w)

    @staticmethod
    async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()

    async def cut(self) -> None:
        """Refuse new connections and close every open one (both sides)."""
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for w in list(self._writers):
            w.close()
        self._writers.clear()
        self._tasks.clear()
        await self._server.wait_closed()
        self._server = None

    async def restore(self) -> None:
        await self.start()

    async def close(self) -> None:
        if self._server is not None:
            await self.cut()


@pytest.fixture
async def proxy() -> AsyncIterator[TcpProxy]:
    p = TcpProxy()
    await p.start()
    yield p
    await p.close()


def _path_for(path: str) -> str:
    """A /v1 route with its parameters filled in: the greeter workflow, version 1, fresh ids."""
    filled = path
    for name, value in {
        "{workflow}": "greeter",
        "{version}": "1",
        "{job_id}": str(uuid.uuid4()),
        "{key_id}": str(uuid.uuid4()),
        "{delivery_id}": str(uuid.uuid4()),
        "{agent_id}": str(uuid.uuid4()),
        "{name}": "TOKEN",
        "{step}": "compose",
        "{user_id}": str(uuid.uuid4()),
        "{token_id}": str(uuid.uuid4()),
        "{trigger_id}": str(uuid.uuid4()),
        "{schedule_id}": str(uuid.uuid4()),
        "{backup_id}": str(uuid.uuid4()),
    }.items():
        filled = filled.replace(name, value)
    assert "{" not in filled, f"fill in the parameters of {path}"
    return filled


async def test_every_route_answers_503_while_the_database_is_unreachable_and_recovers(
    engine: AsyncEngine, proxy: TcpProxy
) -> None:
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{proxy.port}/{TEST_DB}"
    settings = make_settings(database_url=url)
    app_routes = create_app(settings).openapi()["paths"]
    async with serving(settings, raise_app_exceptions=False) as client:
        await deploy_workflow(client, "greeter", GREETER)
        key = await client.post("/v1/workflows/greeter/api-keys", json={"name": "caller"})
        assert key.status_code == 201, key.text
        api_key = key.json()["key"]
        exported = await client.get("/v1/workflows/greeter/export")
        assert exported.status_code == 200, exported.text
        await warm_pool(client, 5)

        await proxy.cut()

        called = 0
        for path, item in app_routes.items():
            if not path.startswith("/v1/") or path in NO_DATABASE:
                continue
            for method in item:
                if "multipart/form-data" in item[method].get("requestBody", {}).get("content", {}):
                    # A package import: a real package, so that it is refused for the database, not the upload.
                    fields = {"slug": "copy"} if path == "/v1/workflows/import" else {}
                    package = {"package": ("greeter.zip", exported.content)}
                    response = await client.request(method, _path_for(path), files=package, data=fields)
                else:
                    body = VALID_BODIES.get((method, path), {})
                    response = await client.request(method, _path_for(path), json=body)
                assert_database_unavailable(response, f"{method.upper()} {path}")
                assert "503" in item[method]["responses"], f"the contract of {method.upper()} {path} omits the 503"
                called += 1
        assert called > 30
        # An API key is checked against the database before the route runs: the same 503, not a 401 or 500.
        response = await client.post(
            SUBMIT, json={"inputs": {"name": "Ada"}}, headers={"Authorization": f"Bearer {api_key}"}
        )
        assert_database_unavailable(response, "submission with an API key")
        ready = await client.get("/readyz")
        assert ready.status_code == 503, ready.text
        assert ready.json()["checks"]["database"].startswith("error"), ready.text
        assert int(ready.headers["retry-after"]) >= 1
        assert (await client.get("/healthz")).status_code == 200

        await proxy.restore()
        answers = await submit_until_accepted(client, within_s=5.0)
        assert len(answers) <= 2, [a.status_code for a in answers]
        for i in range(5):
            response = await client.post(SUBMIT, json={"inputs": {"name": f"after {i}"}})
            assert response.status_code == 202, response.text
        listed = await client.get("/v1/jobs", params={"limit": 100})
        assert listed.status_code == 200, listed.text
        assert len(listed.json()["items"]) == 5 + 1 + 5
        ready = await client.get("/readyz")
        assert ready.status_code == 200, ready.text


# --- (c) a worker recovers too ---------------------------------------------------------------------------


async def test_a_worker_runs_jobs_submitted_after_the_backends_were_terminated(
    engine: AsyncEngine, start_worker: WorkerFactory
) -> None:
    async with serving(make_settings(), raise_app_exceptions=False) as client:
        await deploy_workflow(client, "greeter", GREETER)
        await start_worker()
        warm = [(await client.post(SUBMIT, json={"inputs": {"name": f"w{i}"}})).json()["id"] for i in range(6)]
        for job_id in warm:
            assert (await wait_for_job(client, job_id, wait_s=20))["status"] == "completed"

        await terminate_and_wait()

        await submit_until_accepted(client, within_s=5.0)
        jobs = [(await client.post(SUBMIT, json={"inputs": {"name": f"after {i}"}})) for i in range(6)]
        assert [j.status_code for j in jobs] == [202] * 6, [j.text for j in jobs]
        for job in jobs:
            ended = await wait_for_job(client, job.json()["id"], wait_s=20)
            assert ended["status"] == "completed", ended
            assert ended["output"] == {"greeting": f"Hello, {job.json()['inputs']['name']}!"}


# --- the pieces -------------------------------------------------------------------------------------------


async def terminate_pid(pid: int) -> None:
    admin = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await admin.execute("SELECT pg_terminate_backend($1)", pid)
        deadline = asyncio.get_running_loop().time() + 10
        while await admin.fetchval("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid):
            assert asyncio.get_running_loop().time() < deadline, "the terminated backend did not exit"
            await asyncio.sleep(0.02)
    finally:
        await admin.close()


async def claim_nothing(conn: AsyncConnection) -> jobs_repo.ClaimedRow | None:
    """A fast-path statement (the claim, on PostgreSQL) for a job that does not exist."""
    now = datetime.now(UTC)
    request = jobs_repo.ClaimRequest(agent_id=uuid.uuid4(), actor="test", pools=["default"], now=now, lease_until=now)
    return await jobs_repo.claim(conn, uuid.uuid4(), request)


async def backend_pid(conn: AsyncConnection) -> int:
    return int((await conn.execute(sa.text("SELECT pg_backend_pid()"))).scalar_one())


async def test_a_fast_path_statement_on_a_dead_connection_invalidates_it_and_says_unavailable(
    database: str,
) -> None:
    eng = make_engine(database, pool_size=1)
    try:
        async with eng.connect() as conn:
            pid = await backend_pid(conn)
            await terminate_pid(pid)  # while the connection is checked out
            with pytest.raises(sa.exc.OperationalError) as raised:
                await claim_nothing(conn)
            # Raised as SQLAlchemy raises it for its own statements, and the connection is discarded.
            assert raised.value.connection_invalidated
            assert is_db_unavailable(raised.value)
            assert conn.invalidated
        pool = eng.sync_engine.pool
        assert isinstance(pool, QueuePool)
        assert pool.checkedout() == 0
        async with eng.connect() as conn:
            assert await backend_pid(conn) != pid
    finally:
        await eng.dispose()


async def test_a_pooled_connection_the_server_closed_is_replaced_at_checkout_without_an_error(
    database: str,
) -> None:
    eng = make_engine(database, pool_size=1)
    try:
        async with eng.connect() as conn:
            pid = await backend_pid(conn)
            raw = (await conn.get_raw_connection()).driver_connection
            assert raw is not None
        await terminate_pid(pid)  # while the connection is idle in the pool
        deadline = asyncio.get_running_loop().time() + 5
        while not raw.is_closed():  # the driver reads the server's goodbye from the socket
            assert asyncio.get_running_loop().time() < deadline, "asyncpg did not notice the closed connection"
            await asyncio.sleep(0.01)
        async with unit_of_work(eng) as uow:  # the fast path first, as a submission does
            assert await claim_nothing(uow.conn) is None
            assert await backend_pid(uow.conn) != pid
    finally:
        await eng.dispose()


async def test_the_connection_lost_before_the_unit_of_work_commits_is_a_503(
    engine: AsyncEngine, proxy: TcpProxy
) -> None:
    """The request's unit of work (deps.get_uow) commits after the route returns; the database goes away
    in between. Plus the other two cases the handlers tell apart: a refused connection, and a bug."""
    eng = make_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{proxy.port}/{TEST_DB}", pool_size=1)
    app = FastAPI()
    install_problem_handlers(app)
    app.state.context = SimpleNamespace(engine=eng)
    committed_pids: list[int] = []

    @app.post("/write")
    async def write(uow: UowDep) -> dict[str, Any]:
        committed_pids.append(await backend_pid(uow.conn))  # the transaction is open
        await proxy.cut()
        return {}

    @app.get("/bug")
    async def bug(uow: UowDep) -> dict[str, Any]:
        await uow.conn.execute(sa.text("SELECT no_such_column FROM job"))
        return {}

    try:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert_database_unavailable(await client.post("/write"), "commit after the connection was lost")
            assert committed_pids
            assert_database_unavailable(await client.get("/bug"), "no connection to be had")
            await proxy.restore()
            bug_response = await client.get("/bug")  # a broken statement is still a 500, not a 503
            assert bug_response.status_code == 500, bug_response.text
            assert bug_response.json()["code"] == "internal"
    finally:
        await eng.dispose()


def _chained(outer: Exception, inner: BaseException) -> Exception:
    try:
        try:
            raise inner
        except BaseException as exc:
            raise outer from exc
    except Exception as raised:
        return raised


def _during(outer: Exception, inner: BaseException) -> Exception:
    try:
        try:
            raise inner
        except BaseException:
            raise outer  # noqa: B904 - an implicit __context__ is the point of this case
    except Exception as raised:
        return raised


def _as_sqlalchemy_raises(error: Exception) -> Exception:
    """`error` from asyncpg as SQLAlchemy raises it (translated by the dialect's adapter, then wrapped)."""
    dbapi: Any = pg_asyncpg.AsyncAdapt_asyncpg_dbapi(asyncpg)  # type: ignore[no-untyped-call]  # SQLAlchemy leaves it untyped
    try:
        try:
            pg_asyncpg.AsyncAdapt_asyncpg_connection._handle_exception_no_connection(dbapi, error)
        except Exception as translated:
            raise sa.exc.DBAPIError.instance("SELECT 1", None, translated, dbapi.Error) from translated
    except Exception as raised:
        return raised
    raise AssertionError("the adapter did not raise")


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (sa.exc.DisconnectionError("closed while idle in the pool"), True),
        (ConnectionRefusedError(111, "Connect call failed"), True),
        (sa.exc.OperationalError("SELECT 1", None, ConnectionResetError("reset")), True),
        (asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation"), True),
        # While PostgreSQL restarts: shutting down, then starting up.
        (_as_sqlalchemy_raises(asyncpg.exceptions.AdminShutdownError("terminating connection")), True),
        (_as_sqlalchemy_raises(asyncpg.exceptions.CannotConnectNowError("the database system is starting up")), True),
        (_as_sqlalchemy_raises(asyncpg.exceptions.UniqueViolationError("duplicate key value")), False),
        # Another library's connection error is not the database's, whatever it wraps.
        (_chained(httpx.ConnectError("All connection attempts failed"), ConnectionRefusedError(111, "refused")), False),
        (_during(ValueError("a bug while handling a socket error"), OSError("socket")), False),
        (sa.exc.TimeoutError("QueuePool limit of size 5 overflow 5 reached"), True),
        (sa.exc.ProgrammingError("SELECT", None, ValueError("syntax error")), False),
        (sa.exc.IntegrityError("INSERT", None, ValueError("duplicate key")), False),
    ],
)
def test_is_db_unavailable_classifies(exc: BaseException, expected: bool) -> None:
    assert is_db_unavailable(exc) is expected
