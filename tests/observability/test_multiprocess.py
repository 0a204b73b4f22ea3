"""Several processes, one scrape: real separate processes write to one WFS_METRICS_DIR and a scrape adds them
up, whether they still run, stopped (their files folded into the archive) or died (folded by the next process
of the host to start); and a worker on its own metrics port, for workers on other hosts."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import DATABASE_URL, REDIS_URL, TOKEN
from tests.jobs.conftest import GREETER
from tests.observability.conftest import Samples, parse, value
from tests.servers import CLI, Process, clean_env, free_port, start_process
from workflow_service.observability import multiprocess
from workflow_service.observability.exposition import render
from workflow_service.observability.metrics import Instruments

WRITER = """
import os, sys
from pathlib import Path
from workflow_service.observability import metrics

m = metrics.configure(Path(sys.argv[1]))
m.jobs_submitted.labels("mp", "api").inc(int(sys.argv[2]))
m.job_duration.labels("mp", "completed").observe(1.5)
print("written", flush=True)
if sys.argv[3] == "crash":
    os.kill(os.getpid(), 9)
if sys.argv[3] == "wait":
    sys.stdin.readline()
metrics.release()
print("done", flush=True)
"""


def _writer(directory: Path, count: int, how: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(directory), str(count), how],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "written"
    return process


def _ended(process: subprocess.Popen[str]) -> int:
    process.communicate(timeout=10)  # and its pipes closed
    return process.returncode


def _read(directory: Path) -> Samples:
    """What a scrape of the directory answers."""
    return parse(asyncio.run(render(Instruments(directory))).decode())


def _files(directory: Path) -> set[str]:
    return {p.name for p in directory.glob("*.db")}


def test_the_processes_of_one_directory_add_up(tmp_path: Path) -> None:
    directory = tmp_path / "metrics"
    running = _writer(directory, 3, "wait")
    stopped = _writer(directory, 4, "exit")
    assert _ended(stopped) == 0
    crashed = _writer(directory, 5, "crash")
    assert _ended(crashed) == -9

    def figures() -> tuple[float, float, float]:
        m = _read(directory)
        duration = {"workflow": "mp", "status": "completed"}
        return (
            value(m, "wfs_jobs_submitted_total", workflow="mp", origin="api"),
            value(m, "wfs_job_duration_seconds_count", **duration),
            value(m, "wfs_job_duration_seconds_sum", **duration),
        )

    assert figures() == (12, 3, 4.5)
    host = multiprocess.process_id().rpartition("-")[0]
    # The stopped one folded its files into the archive; the crashed one could not.
    assert f"counter_{host}-{stopped.pid}.db" not in _files(directory)
    assert f"counter_{host}-{crashed.pid}.db" in _files(directory)
    assert "counter_archive.db" in _files(directory)

    # The next process to start on this host folds what the dead one left; nothing is lost or counted twice.
    starting = _writer(directory, 1, "exit")
    assert _ended(starting) == 0
    assert f"counter_{host}-{crashed.pid}.db" not in _files(directory)
    assert f"counter_{host}-{running.pid}.db" in _files(directory)  # still running: left alone
    assert figures() == (13, 4, 6.0)

    running.communicate("stop\n", timeout=10)
    assert running.returncode == 0
    assert _files(directory) == {"counter_archive.db", "histogram_archive.db"}
    assert figures() == (13, 4, 6.0)


def test_another_hosts_files_are_left_as_they_are(tmp_path: Path) -> None:
    """A file named after a process of another host (another container on a shared volume) is never folded,
    whatever its pid: whether that process runs cannot be told from here."""
    directory = tmp_path / "metrics"
    directory.mkdir()
    elsewhere = directory / "counter_other-host-1.db"
    elsewhere.write_bytes(b"")
    assert multiprocess.fold(directory, multiprocess._dead_here(directory)) == 0
    assert elsewhere.exists()


def _env(**values: str) -> dict[str, str]:
    return clean_env(
        WFS_DATABASE_URL=DATABASE_URL,
        WFS_REDIS_URL=REDIS_URL,
        WFS_ADMIN_TOKEN=TOKEN,
        WFS_LOG_LEVEL="WARNING",
        WFS_RECONCILE_INTERVAL_S="0.5",
        **values,
    )


def _serve(env: dict[str, str], logs: Path) -> Process:
    port = free_port()
    api = start_process([CLI, "serve", "--port", str(port)], env, logs / "api", port=port)
    api.wait_until_ready()
    return api


def _scrape(url: str, token: str = TOKEN) -> Samples:
    response = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert response.status_code == 200, response.text
    return parse(response.text)


def _run_job(api: Process, slug: str) -> None:
    admin = httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    with admin:
        created = admin.post("/v1/workflows", json={"name": slug, "slug": slug, "definition": GREETER})
        assert created.status_code == 201, created.text
        assert admin.post(f"/v1/workflows/{slug}/deploy").status_code == 201
        job = admin.post(f"/v1/workflows/{slug}/versions/current/async", json={"inputs": {"name": "Ada"}}).json()
        deadline = time.monotonic() + 30
        while admin.get(f"/v1/jobs/{job['id']}").json()["status"] != "completed":
            assert time.monotonic() < deadline, api.output()
            time.sleep(0.05)


def _eventually(read: object, wait_s: float = 10) -> Samples:
    assert callable(read)
    deadline = time.monotonic() + wait_s
    while True:
        samples: Samples | None = read()
        if samples is not None:
            return samples
        assert time.monotonic() < deadline, "not counted in time"
        time.sleep(0.1)


@pytest.mark.slow
def test_an_api_and_a_worker_sharing_a_directory_are_one_scrape(engine: AsyncEngine, tmp_path: Path) -> None:
    env = _env(WFS_METRICS_DIR=str(tmp_path / "metrics"))
    slug = f"shared-{uuid.uuid4().hex[:8]}"
    api = _serve(env, tmp_path)
    worker = start_process([CLI, "worker"], env, tmp_path / "worker")
    try:
        _run_job(api, slug)

        def counted() -> Samples | None:
            m = _scrape(api.url)
            return m if value(m, "wfs_jobs_ended_total", workflow=slug, status="completed", origin="api") else None

        m = _eventually(counted)
        # Counted at intake by the api, at the end and per step by the worker: one scrape of the api has both.
        assert value(m, "wfs_jobs_submitted_total", workflow=slug, origin="api") == 1
        assert value(m, "wfs_jobs_ended_total", workflow=slug, status="completed", origin="api") == 1
        assert value(m, "wfs_step_duration_seconds_count", type="transform", status="completed") >= 1
    finally:
        worker.stop()
        api.stop()
    # Both stopped: their files are folded, and their totals kept.
    assert _files(tmp_path / "metrics") <= {"counter_archive.db", "histogram_archive.db", "summary_archive.db"}
    kept = _read(tmp_path / "metrics")
    assert value(kept, "wfs_jobs_ended_total", workflow=slug, status="completed", origin="api") == 1


@pytest.mark.slow
def test_a_worker_on_its_own_metrics_port(engine: AsyncEngine, tmp_path: Path) -> None:
    scraper = "scraper-" + "s" * 24
    env = _env(WFS_METRICS_TOKEN=scraper)
    slug = f"apart-{uuid.uuid4().hex[:8]}"
    api = _serve(env, tmp_path)
    port = free_port()
    worker = start_process([CLI, "worker", "--metrics-port", str(port)], env, tmp_path / "worker", port=port)
    try:
        worker.wait_until_listening()
        _run_job(api, slug)
        url = f"http://127.0.0.1:{port}"

        def counted() -> Samples | None:
            m = _scrape(url, scraper)
            return m if value(m, "wfs_jobs_ended_total", workflow=slug, status="completed", origin="api") else None

        m = _eventually(counted)
        assert value(m, "wfs_jobs_submitted_total", workflow=slug, origin="api") == 0  # the api's, not here
        assert httpx.get(f"{url}/metrics", timeout=10).status_code == 401
        assert httpx.get(f"{url}/metrics", headers={"Authorization": "Bearer wrong"}, timeout=10).status_code == 401
        # Each process serves its own: the api counted the submission, the worker the end.
        at_api = _scrape(api.url)
        assert value(at_api, "wfs_jobs_submitted_total", workflow=slug, origin="api") == 1
        assert value(at_api, "wfs_jobs_ended_total", workflow=slug, status="completed", origin="api") == 0
    finally:
        worker.stop()
        api.stop()


def test_a_metrics_port_is_refused_when_the_settings_cannot_protect_it(tmp_path: Path) -> None:
    env = clean_env(WFS_REDIS_URL=REDIS_URL, WFS_DATA_DIR=str(tmp_path))
    refused = subprocess.run(
        [str(CLI), "worker", "--metrics-port", "0"], env=env, capture_output=True, text=True, timeout=60
    )
    assert refused.returncode == 2
    assert "needs WFS_METRICS_TOKEN" in refused.stderr
    off = subprocess.run(
        [str(CLI), "worker", "--metrics-port", "0"],
        env=env | {"WFS_METRICS": "off"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert off.returncode == 2
    assert "WFS_METRICS=token or open" in off.stderr
