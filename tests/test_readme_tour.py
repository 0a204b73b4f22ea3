"""The README's five-minute tour runs as written, on this machine alone: the service started as the README
says (`make run`'s command, with the README's environment), and the tour's commands typed one by one into one
bash, in a checkout-like directory, with curl and jq, pausing after each until the service is idle, as a
reader would. The one liberty: the push receiver listens on a free port instead of 9000.

Also: every command of `workflow-service --help` is in the README's table."""

from __future__ import annotations

import os
import queue
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import typer

from tests.servers import CLI, Process, clean_env, free_port, start_process
from workflow_service.cli import app as cli_app

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
RECEIVER_PORT = "9000"
ENDED = {"completed", "failed", "canceled", "new"}
EXPECTED = {
    # step: what its output shows (JSON is printed compact)
    2: ['"status":"completed"', '"greeting":"Hello, Ada!"', '"loud":"HELLO, ADA!"', '"to_status":"completed"'],
    3: [
        '"$.inputs.name"',
        '"malformed_body"',
        '"line":1,"column":27,"offset":26',
        '"unsupported_media_type"',
        '"query:search"',
    ],
    4: ['"slug":"order-total"', '"valid":true', '"number":1'],
    5: ['"name":"first order"', '"items":[', '"step_count":1'],
    6: ['"inputs":{"prices":[1]}'],
    7: ['"greeting":"Hello, Lin!"', "preference-applied: wait=5"],
    8: ['"status":"succeeded"', '"trigger":"redeliver"'],
    9: ['"status":"canceled"', '"job_ended"'],
    10: [
        '"role":"runner"',
        '"slug":"order-total"',
        '"prices":[3]',
        '"forbidden"',
        '"action":"share.granted"',
        '"action":"member.added"',
        '"ok":true',
    ],
    11: [
        '"kind":"schedule"',
        '"outcome":"created"',
        '"paused":true',
        '"kind":"webhook"',
        '"outcome":"duplicate"',
        '"origin":"trigger"',
        '"origin":"schedule"',
        '"failure_rate":0.0',
    ],
    12: [
        "app_definition.json",
        "flow_definition.json",
        "env_variables.json",
        '"code":"env_conflicts"',
        '"name":"REGION"',
        '"kept":["REGION"]',
        "Exported_Order total.zip",
        ".pdf",
    ],
}


def _section(title: str) -> str:
    start = README.index(f"## {title}")
    return README[start : README.index("\n## ", start + 1)]


def _tour() -> tuple[dict[str, str], str]:
    """The environment the README starts `make run` with, and the tour's script."""
    start, script = re.findall(r"```sh\n(.*?)```", _section("A five-minute tour"), re.S)[:2]
    *assignments, make, run = shlex.split(start, comments=True)
    assert (make, run) == ("make", "run"), start
    return dict(a.split("=", 1) for a in assignments), script


def _commands(script: str) -> Iterator[tuple[int, str]]:
    """The script's commands, each with the number of the step it belongs to (0 before the first)."""
    step, pending = 0, ""
    for line in script.splitlines():
        numbered = re.match(r"# (\d+)\. ", line)
        if numbered and not pending:
            step = int(numbered.group(1))
        pending += line + "\n"
        try:
            words = shlex.split(pending, comments=True)
        except ValueError:  # a quote still open: the command goes on
            continue
        if line.endswith("\\"):
            continue
        if words:
            yield step, pending.strip()
        pending = ""
    assert not pending, f"unfinished command: {pending}"


@dataclass
class Shell:
    """One bash, fed commands on its stdin as a reader types them; what it prints is read line by line."""

    popen: subprocess.Popen[str]
    lines: queue.Queue[str] = field(default_factory=queue.Queue)
    marker: str = "__tour_command_done__"

    def __post_init__(self) -> None:
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.put(line)

    def run(self, command: str, wait_s: float = 30) -> str:
        assert self.popen.stdin is not None
        self.popen.stdin.write(f"{command}\necho; echo {self.marker}\n")  # curl's output ends without a newline
        self.popen.stdin.flush()
        out: list[str] = []
        deadline = time.monotonic() + wait_s
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no end in {wait_s} s to\n{command}\nwhich printed\n{''.join(out)}") from None
            if line.strip() == self.marker:
                return "".join(out)
            out.append(line)

    def printed_since(self) -> str:
        """What background processes (the receiver) printed after the last command."""
        out = []
        while not self.lines.empty():
            out.append(self.lines.get())
        return "".join(out)


def _idle(service: Process, token: str, wait_s: float = 30) -> None:
    """Wait until every job has ended (or waits to be started) and no push callback is still due."""
    headers = {"Authorization": f"Bearer {token}"}
    deadline = time.monotonic() + wait_s
    with httpx.Client(base_url=service.url, headers=headers, timeout=10) as api:
        while True:
            jobs = api.get("/v1/jobs", params={"limit": 200, "scope": "all"}).json()["items"]
            busy = [j for j in jobs if j["status"] not in ENDED]
            if not busy:
                deliveries = [api.get(f"/v1/jobs/{j['id']}/deliveries").json()["items"] for j in jobs]
                busy = [d for items in deliveries for d in items if d["status"] == "pending"]
            if not busy:
                return
            assert time.monotonic() < deadline, f"still busy: {busy}"
            time.sleep(0.1)


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A directory that looks like the repository after `make run`: its .venv and scripts/."""
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))
    (tmp_path / "scripts").symlink_to(ROOT / "scripts")
    return tmp_path


def _make_run_command(port: int) -> list[str]:
    """What `make run PORT=<port>` runs, once installed: checked against the Makefile."""
    command = ["workflow-service", "dev", "--host", "127.0.0.1", "--port", str(port)]
    if shutil.which("make"):
        # Run from `make test` too: without the parent make's flags, or the child prints its directory.
        env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
        dry = subprocess.run(
            ["make", "--no-print-directory", "-n", "run", f"PORT={port}"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env=env,
        )
        assert dry.returncode == 0, dry.stderr
        assert dry.stdout.strip().splitlines()[-1] == f".venv/bin/{shlex.join(command)}", dry.stdout
    return [str(CLI), *command[1:]]


@pytest.mark.skipif(not (shutil.which("curl") and shutil.which("jq")), reason="the tour needs curl and jq")
def test_the_tour_runs_as_written(checkout: Path) -> None:
    start_env, script = _tour()
    port = free_port()
    receiver_port = str(free_port())
    env = clean_env(**start_env)
    service = start_process(_make_run_command(port), env, checkout / "logs", cwd=checkout, port=port)
    bash = subprocess.Popen(
        ["bash"],
        cwd=checkout,
        env=clean_env(PORT=str(port)),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    outputs: dict[int, str] = {}
    try:
        service.wait_until_ready()
        token = (checkout / ".data" / "admin_token").read_text().strip()
        shell = Shell(bash)
        for step, command in _commands(script):
            out = shell.run(re.sub(rf"\b{RECEIVER_PORT}\b", receiver_port, command))
            _idle(service, token)
            outputs[step] = outputs.get(step, "") + out + shell.printed_since()
        assert shell.run('echo "$job $theirs $pushed $copy"').count("-") == 16  # four job ids were kept
        assert shell.run('echo "$K"').startswith("wfs_key_")
        assert shell.run('echo "$A"').startswith("wfs_pat_")
        assert shell.run('echo "$S"').count("-") == 4  # the schedule's id was kept
        assert not shell.run("jobs -r").strip(), "the receiver still runs"
    finally:
        assert bash.stdin is not None
        bash.stdin.close()
        try:
            bash.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(bash.pid, signal.SIGKILL)  # the shell and what it started (its own session)
            bash.wait()
        if bash.stdout is not None:
            bash.stdout.close()
        service.stop()
    everything = "".join(outputs.values())
    for step, fragments in EXPECTED.items():
        said = outputs.get(step, "")
        for fragment in fragments:
            assert fragment in said or fragment in said.lower(), f"step {step}: no {fragment!r} in\n{said}"
    assert everything.count("verified job.completed") == 2, everything  # the callback, and its redelivery
    assert '{"greeting": "Hello, Sam!", "loud": "HELLO, SAM!"}' in everything
    for failure in ('"status":500', "Traceback", "refused:", "command not found", "No such file"):
        assert failure not in everything, everything
    assert "invalid_request" not in outputs[2] + outputs[4] + outputs[5] + outputs[6] + outputs[9] + outputs[10]


def test_every_command_is_in_the_readme() -> None:
    table = _section("The two commands")
    group = typer.main.get_command(cli_app)
    assert isinstance(group, typer.core.TyperGroup)
    names = list(group.commands)  # what `workflow-service --help` lists
    assert "rotate-secrets" in names
    for name in names:
        assert f"| `workflow-service {name}" in table, name
