"""The client package's tests run against the service as real processes: `embedded` (`workflow-service dev`,
SQLite and an in-process worker) and `distributed` (`serve` and `worker` on the test's PostgreSQL and Redis),
one of each per test module. `deployed_greeter` makes the workflow the tests run."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis.asyncio as aioredis
from cryptography.fernet import Fernet
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import TOKEN, empty_database
from tests.jobs.events.conftest import service_env
from tests.servers import CLI, Process, clean_env, free_port, running, start_process
from wfs_client import Client, models

GREETER: models.DefinitionModel = {
    "input_schema": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
    "steps": [{"id": "greet", "type": "transform", "output": {"text": "Hello, {{ inputs.name }}!"}}],
    "output": {"greeting": "{{ steps.greet.output.text }}"},
}
"""A workflow of one transform step: `{"name": "Ada"}` -> `{"greeting": "Hello, Ada!"}`."""
SECRET_KEY = Fernet.generate_key().decode()
"""The distributed service's WFS_SECRET_KEY, for secure environment variables (`dev` makes its own)."""
_slugs = itertools.count(1)


@dataclass
class Service:
    """A running service: its base URL, the admin token, and its processes (for failure messages)."""

    url: str
    mode: str
    processes: list[Process] = field(default_factory=list)
    token: str = TOKEN

    def client(self, **options: Any) -> Client:
        return Client(self.url, self.token, **options)

    def output(self) -> str:
        return "\n".join(process.output() for process in self.processes)


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """`workflow-service dev` on a free port, its SQLite file in a fresh directory."""
    home = tmp_path_factory.mktemp("embedded")
    env = clean_env(
        WFS_ADMIN_TOKEN=TOKEN,
        WFS_LOG_LEVEL="WARNING",
        WFS_DATA_DIR=str(home / "data"),
        WFS_OUTBOUND_ALLOWLIST="127.0.0.1",  # http steps to the tests' echo servers
    )
    with running("dev", env, home) as process:
        process.wait_until_ready()
        yield Service(process.url, "embedded", [process])


@pytest.fixture(scope="module")
async def emptied(session_engine: AsyncEngine, redis_client: aioredis.Redis) -> None:
    """The test database and Redis database, emptied once for the module's distributed service."""
    async with session_engine.begin() as conn:
        await empty_database(conn)
    await redis_client.flushdb()


@pytest.fixture(scope="module")
def distributed(emptied: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """`workflow-service serve` and one `worker` on the test's PostgreSQL and Redis."""
    logs = tmp_path_factory.mktemp("distributed")
    port = free_port()
    env = service_env(WFS_SECRET_KEY=SECRET_KEY)
    api = start_process([CLI, "serve", "--port", str(port)], env, logs / "api", port=port)
    worker = start_process([CLI, "worker", "--name", "client-tests"], env, logs / "worker")
    try:
        api.wait_until_ready()
        yield Service(api.url, "distributed", [api, worker])
    finally:
        for process in (worker, api):
            process.stop()


@pytest.fixture(scope="module", params=["distributed", "embedded"])
def service(request: pytest.FixtureRequest) -> Service:
    """Each mode in turn: the module's tests run against both."""
    found: Service = request.getfixturevalue(request.param)
    return found


def deployed_greeter(service: Service, prefix: str = "greeter") -> str:
    """Create and deploy a GREETER workflow with a slug of its own; its slug."""
    with service.client() as wfs:
        created = wfs.create_workflow({"name": f"{prefix} {next(_slugs)}", "definition": GREETER})
        wfs.deploy_workflow(created["slug"])
    return created["slug"]
