"""A worker keeps working through a Redis restart, and jobs submitted while Redis is down still run."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import WorkerFactory, make_settings, serving, wait_for_job
from tests.servers import Process, free_port, start_process
from tests.test_smoke_e2e import GREETER

REDIS_SERVER = shutil.which("redis-server")


class RedisProcess:
    """A private redis-server on its own port, which the test can stop and start again."""

    def __init__(self, logs: Path) -> None:
        self.port = free_port()
        self.logs = logs
        self.proc: Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        assert REDIS_SERVER is not None, "redis-server is part of the test environment"
        args = [REDIS_SERVER, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"]
        self.proc = start_process(args, os.environ, self.logs, port=self.port)
        self.proc.wait_until_listening()

    def stop(self) -> None:
        """Gone at once, as in a crash."""
        if self.proc is not None:
            self.proc.kill()


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisProcess]:
    redis = RedisProcess(tmp_path / "redis")
    redis.start()
    yield redis
    redis.stop()


@pytest.mark.slow
async def test_jobs_complete_across_a_redis_restart(
    engine: AsyncEngine, start_worker: WorkerFactory, private_redis: RedisProcess
) -> None:
    settings = make_settings(redis_url=private_redis.url, requeue_after_s=1.0, reconcile_interval_s=0.3)
    async with serving(settings) as client:
        assert (await client.post("/v1/workflows", json={"name": "greeter", "definition": GREETER})).is_success
        assert (await client.post("/v1/workflows/greeter/deploy")).is_success
        await start_worker(redis_url=private_redis.url, requeue_after_s=1.0, reconcile_interval_s=0.3)
        url = "/v1/workflows/greeter/versions/current/async"
        before = (await client.post(url, json={"inputs": {"name": "before"}})).json()["id"]
        assert (await wait_for_job(client, before))["status"] == "completed"

        private_redis.stop()
        # Redis is gone: submissions are still accepted (the job is in the database) ...
        during = await client.post(url, json={"inputs": {"name": "during"}})
        assert during.status_code == 202, during.text
        assert (await client.get("/readyz")).status_code == 503
        await asyncio.sleep(1.0)

        private_redis.start()  # ... and an empty Redis comes back
        job = await wait_for_job(client, during.json()["id"], wait_s=30)
        assert job["status"] == "completed", job
        assert job["output"] == {"greeting": "Hello, during!"}
        after = (await client.post(url, json={"inputs": {"name": "after"}})).json()["id"]
        assert (await wait_for_job(client, after, wait_s=30))["status"] == "completed"
        assert (await client.get("/readyz")).status_code == 200
