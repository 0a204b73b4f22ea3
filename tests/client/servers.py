"""Running the real `wfs` executable against a real service (tests/client/conftest.py starts it in both modes):
its environment, its workflows (a greeter, one held by the echo server, one that fails), and waiting for a
job's status through the API."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.client.conftest import Service
from tests.servers import clean_env
from wfs_client import models

WFS = Path(sys.executable).with_name("wfs")
"""The `wfs` command installed beside the Python running the tests."""
_numbers = itertools.count(1)

TYPED: models.DefinitionModel = {
    "input_schema": {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "count": {"type": "integer"},
            "ratio": {"type": "number"},
            "loud": {"type": "boolean"},
            "tags": {"type": "array"},
            "extra": {"type": "object"},
        },
        "required": ["name"],
    },
    "variables": {"tone": "plain", "level": 1},
    "steps": [{"id": "echo", "type": "transform", "output": {"got": "{{ inputs }}"}}],
    "output": {"inputs": "{{ inputs }}", "vars": "{{ vars }}"},
}
"""Gives back its inputs and variables (two declared) as they arrived: what the coercion of `--input` made of them."""


@dataclass(frozen=True)
class Ran:
    """What a `wfs` run printed and how it exited."""

    code: int
    stdout: str
    stderr: str

    def __str__(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


def refusal(ran: Ran) -> str:
    """The one line of a `wfs` that refused (exit 2, nothing on stdout), without its `wfs: ` start."""
    assert ran.code == 2, ran
    assert ran.stdout == "", ran
    assert ran.stderr.count("\n") == 1, ran
    assert ran.stderr.startswith("wfs: "), ran
    return ran.stderr.removeprefix("wfs: ").rstrip("\n")


def wfs_env(service: Service | None, home: Path, **values: str) -> dict[str, str]:
    """An environment for `wfs`: no WFS_ settings but the service's URL and token (when given), a config
    directory of the test's own (no user's profile leaks in), and `values`."""
    base = {"XDG_CONFIG_HOME": str(home / "xdg"), "HOME": str(home), "COLUMNS": "120"}
    if service is not None:
        base |= {"WFS_URL": service.url, "WFS_TOKEN": service.token}
    return clean_env(**(base | values))


def wfs(
    args: Sequence[str],
    env: Mapping[str, str],
    stdin: str | None = None,
    timeout_s: float = 60,
    cwd: Path | None = None,
) -> Ran:
    """Run `wfs args` to its end (in `cwd` when given)."""
    done = subprocess.run(
        [str(WFS), *args], env=env, input=stdin, capture_output=True, text=True, timeout=timeout_s, check=False, cwd=cwd
    )
    return Ran(done.returncode, done.stdout, done.stderr)


def started(args: Sequence[str], env: Mapping[str, str]) -> subprocess.Popen[str]:
    """Start `wfs args` (stdout and stderr piped, stdin closed) and leave it running."""
    return subprocess.Popen(
        [str(WFS), *args], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def deployed(service: Service, definition: models.DefinitionModel, prefix: str = "cli") -> str:
    """Create and deploy a workflow of `definition` with a slug of its own; its slug."""
    with service.client() as api:
        created = api.create_workflow({"name": f"{prefix} {next(_numbers)}", "definition": definition})
        api.deploy_workflow(created["slug"])
    return created["slug"]


def http_definition(url: str) -> models.DefinitionModel:
    """One http step that GETs `url` (no retries), then its status code as the output."""
    fetch: models.HttpConfig = {"id": "fetch", "type": "http", "url": url, "retry": {"max_attempts": 1}}
    return {
        "input_schema": {"type": "object"},
        "steps": [fetch],
        "output": {"status": "{{ steps.fetch.output.status_code }}"},
    }


def wait_for_status(service: Service, job_id: str, *statuses: str, wait_s: float = 30) -> dict[str, Any]:
    """The job once it is in one of `statuses` (read with the API's long poll)."""
    deadline = time.monotonic() + wait_s
    with service.client() as api:
        while True:
            job = dict(api.get_job(job_id, steps=False, prefer="wait=2"))
            if job["status"] in statuses:
                return job
            assert time.monotonic() < deadline, f"job {job_id} still {job['status']}, not {statuses}"


def read_until(stream: Any, marker: str, wait_s: float = 30) -> str:
    """Lines read from a process's text `stream` until one holds `marker`; all of them."""
    seen: list[str] = []
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        seen.append(line)
        if marker in line:
            return "".join(seen)
    raise AssertionError(f"no {marker!r} in:\n{''.join(seen)}")


@contextmanager
def config_file(home: Path, text: str) -> Iterator[Path]:
    """A config file with `text` where `wfs` looks by default (under XDG_CONFIG_HOME)."""
    path = home / "xdg" / "workflow-service" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    yield path
    os.remove(path)
