"""How `wfs run` ends while it waits for a job (both modes): failed (1), still running at --timeout (3, then
`wfs jobs watch` resumes), canceled (4), interrupted (130, the job left running); the live display on a
terminal; and following by long polls when the event stream cannot be had."""

from __future__ import annotations

import json
import os
import pty
import re
import signal
import subprocess
import time
from pathlib import Path

from tests.client.conftest import Service, deployed_greeter
from tests.client.proxy import Answer, Cut, Proxy
from tests.client.servers import (
    WFS,
    deployed,
    http_definition,
    read_until,
    started,
    wait_for_status,
    wfs,
    wfs_env,
)
from tests.servers import EchoServer


def test_a_failed_job_exits_1_with_its_error_code_message_and_step(
    service: Service, echo_server: EchoServer, tmp_path: Path
) -> None:
    slug = deployed(service, http_definition(f"{echo_server.url}/status/500"))
    ran = wfs(["run", slug], wfs_env(service, tmp_path))
    assert ran.code == 1, ran
    assert ran.stdout == "", ran
    last = ran.stderr.splitlines()[-1]
    assert re.fullmatch(r"wfs: job \S+ failed at step fetch: http_status: GET \S+/status/500 answered 500.*", last), ran


def test_timeout_exits_3_with_the_job_id_and_watch_resumes_it(
    service: Service, echo_server: EchoServer, tmp_path: Path
) -> None:
    slug, env = deployed(service, http_definition(f"{echo_server.url}/hold")), wfs_env(service, tmp_path)
    began = time.monotonic()
    ran = wfs(["run", slug, "--timeout", "1s"], env)
    assert ran.code == 3, ran
    assert time.monotonic() - began < 10
    job_id = ran.stdout.strip()
    assert ran.stdout == f"{job_id}\n"
    assert f"follow it on with: wfs jobs watch {job_id}" in ran.stderr, ran
    assert wait_for_status(service, job_id, "running")["status"] == "running"
    echo_server.release()
    watched = wfs(["jobs", "watch", job_id, "-o", "json"], env)
    assert watched.code == 0, watched
    assert json.loads(watched.stdout) == {"status": 200}
    assert f"job {job_id} completed in " in watched.stderr


def test_a_job_canceled_while_waiting_exits_4(service: Service, echo_server: EchoServer, tmp_path: Path) -> None:
    slug = deployed(service, http_definition(f"{echo_server.url}/hold"))
    with started(["run", slug], wfs_env(service, tmp_path)) as process:
        assert process.stderr is not None
        job_id = read_until(process.stderr, "step fetch started").split()[1]
        with service.client() as api:
            api.cancel_job(job_id)
        assert process.wait(30) == 4
        assert f"wfs: job {job_id} was canceled" in process.stderr.read()


def test_ctrl_c_exits_130_and_leaves_the_job_running(service: Service, echo_server: EchoServer, tmp_path: Path) -> None:
    slug = deployed(service, http_definition(f"{echo_server.url}/hold"))
    with started(["run", slug], wfs_env(service, tmp_path)) as process:
        assert process.stderr is not None
        job_id = read_until(process.stderr, "step fetch started").split()[1]
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 130
        said = process.stderr.read()
    assert f"job {job_id} keeps running. Cancel it with: wfs jobs cancel {job_id}" in said, said
    with service.client() as api:
        assert api.get_job(job_id)["status"] == "running"
    echo_server.release()
    assert wait_for_status(service, job_id, "completed")["output"] == {"status": 200}


def _on_a_terminal(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run `wfs args` with stdout and stderr on a pseudo-terminal; its exit code and what the terminal got."""
    leader, follower = pty.openpty()
    process = subprocess.Popen([str(WFS), *args], env=env, stdin=subprocess.DEVNULL, stdout=follower, stderr=follower)
    os.close(follower)
    chunks: list[bytes] = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the process closed its end
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    return process.wait(30), b"".join(chunks).decode(errors="replace")


def test_on_a_terminal_progress_is_a_live_display_with_a_mark_and_duration_per_step(
    service: Service, tmp_path: Path
) -> None:
    slug = deployed_greeter(service)
    code, screen = _on_a_terminal(["run", slug, "-i", "name=Ada"], wfs_env(service, tmp_path, TERM="xterm"))
    assert code == 0, screen
    assert "\x1b[" in screen  # drawn with terminal control sequences, not plain lines
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen)
    assert re.search(r"✓ job \S+ completed in \d+\.\d\d s", plain), plain
    assert re.search(r"✓ greet  \d+\.\d\d s  completed", plain), plain
    assert "step greet started" not in plain
    assert '"greeting": "Hello, Ada!"' in plain


def test_without_an_event_stream_the_job_is_followed_by_long_polls(service: Service, tmp_path: Path) -> None:
    slug = deployed_greeter(service)
    refusals = [Answer(501, {"Content-Type": "application/problem+json"}, b'{"title": "no streams"}')] * 5
    with Proxy(service.url, list(refusals), matching="/events") as proxy:
        ran = wfs(["run", slug, "-i", "name=Ada", "-o", "json"], wfs_env(service, tmp_path, WFS_URL=proxy.url))
        asked = [seen.path for seen in proxy.seen]
    assert ran.code == 0, ran
    assert json.loads(ran.stdout) == {"greeting": "Hello, Ada!"}
    assert sum("/events" in path for path in asked) == 1, asked
    lines = ran.stderr.splitlines()
    assert re.fullmatch(r"job \S+ completed in \d+\.\d\d s", lines[-1]), ran
    assert not any(line.startswith("step ") for line in lines), ran


def test_a_broken_event_stream_is_resumed_after_its_last_event(service: Service, tmp_path: Path) -> None:
    slug = deployed_greeter(service)
    with Proxy(service.url, [Cut(300)], matching="/events") as proxy:
        ran = wfs(["run", slug, "-i", "name=Ada", "-o", "json"], wfs_env(service, tmp_path, WFS_URL=proxy.url))
        streams = [seen for seen in proxy.seen if "/events" in seen.path]
    assert ran.code == 0, ran
    assert json.loads(ran.stdout) == {"greeting": "Hello, Ada!"}
    assert [seen.behaviour for seen in streams] == ["cut-300", "forward"]
    assert "last-event-id" in {name.lower() for name in streams[1].headers}
    lines = ran.stderr.splitlines()
    job_id = lines[0].split()[1]
    expected = [f"job {job_id} {status}" for status in ("pending", "claimed", "running")]
    expected += ["step greet started", "step greet completed"]
    expected += [f"job {job_id} {status}" for status in ("validating", "uploading")]
    assert lines[:-1] == expected, ran
