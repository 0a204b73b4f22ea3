"""`wfs jobs` against the real service (both modes): list, get, watch, cancel, rerun, output, events and
deliveries, each in JSON for scripts and as text for people."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import yaml

from tests.client.conftest import Service, deployed_greeter
from tests.client.servers import deployed, http_definition, refusal, wait_for_status, wfs, wfs_env
from tests.servers import EchoServer
from wfs_client.cli.jobs import Sort


def _greeted(service: Service, tmp_path: Path, name: str = "Ada") -> tuple[str, str, dict[str, str]]:
    """A greeter workflow and a job of it that completed: (slug, job id, wfs's environment)."""
    slug, env = deployed_greeter(service), wfs_env(service, tmp_path)
    ran = wfs(["run", slug, "-i", f"name={name}", "--no-wait"], env)
    assert ran.code == 0, ran
    job_id = ran.stdout.strip()
    wait_for_status(service, job_id, "completed")
    return slug, job_id, env


def _json(args: list[str], env: dict[str, str]) -> Any:
    ran = wfs([*args, "--output", "json"], env)
    assert ran.code == 0, ran
    return json.loads(ran.stdout)


def _text(args: list[str], env: dict[str, str]) -> list[str]:
    ran = wfs(args, env)
    assert ran.code == 0, ran
    return ran.stdout.splitlines()


def test_jobs_are_listed_with_filters(service: Service, tmp_path: Path) -> None:
    slug, job_id, env = _greeted(service, tmp_path)
    _, other_id, _ = _greeted(service, tmp_path)
    page = _json(["jobs", "list", "--workflow", slug, "--status", "completed", "--sort", "-created"], env)
    assert [item["id"] for item in page["items"]] == [job_id]
    assert _json(["jobs", "list", "--workflow", slug, "--status", "failed"], env)["items"] == []
    assert len(_json(["jobs", "list", "--limit", "1"], env)["items"]) == 1
    lines = _text(["jobs", "list", "--workflow", slug, "--origin", "api"], env)
    assert lines[0].split() == ["ID", "WORKFLOW", "VERSION", "STATUS", "ORIGIN", "CREATED", "DURATION"]
    assert lines[1].split()[:5] == [job_id, slug, "1", "completed", "api"]
    assert lines[1].endswith(" s")
    assert len(lines) == 2
    assert other_id not in "\n".join(lines)


def test_a_job_is_shown_with_its_steps_and_output(service: Service, tmp_path: Path) -> None:
    slug, job_id, env = _greeted(service, tmp_path)
    job = _json(["jobs", "get", job_id], env)
    assert (job["id"], job["status"], job["output"]) == (job_id, "completed", {"greeting": "Hello, Ada!"})
    as_yaml = wfs(["jobs", "get", job_id, "-o", "yaml"], env)
    assert yaml.safe_load(as_yaml.stdout) == job
    lines = _text(["jobs", "get", job_id], env)
    assert lines[:3] == [f"id:        {job_id}", f"workflow:  {slug} v1", "status:    completed"]
    assert any(line.split()[:3] == ["greet", "transform", "completed"] for line in lines), lines
    assert '  "greeting": "Hello, Ada!"' in lines
    for command in ("get", "watch", "output", "events", "cancel"):
        unknown = refusal(wfs(["jobs", command, "01a24828-0000-7000-8000-000000000000"], env))
        assert unknown.startswith("404 "), (command, unknown)


def test_watching_a_job_that_ended_prints_its_output(service: Service, tmp_path: Path) -> None:
    _, job_id, env = _greeted(service, tmp_path)
    ran = wfs(["jobs", "watch", job_id, "--output", "yaml"], env)
    assert ran.code == 0, ran
    assert ran.stdout == 'greeting: "Hello, Ada!"\n'
    assert ran.stderr.splitlines()[-1].startswith(f"job {job_id} completed in ")


def test_a_running_job_is_canceled(service: Service, echo_server: EchoServer, tmp_path: Path) -> None:
    slug, env = deployed(service, http_definition(f"{echo_server.url}/hold")), wfs_env(service, tmp_path)
    first, second = (wfs(["run", slug, "--no-wait"], env).stdout.strip() for _ in range(2))
    for job_id in (first, second):
        wait_for_status(service, job_id, "running")
    assert _json(["jobs", "cancel", first], env)["status"] == "canceled"
    assert _text(["jobs", "cancel", second], env) == [f"job {second} canceled"]
    again = refusal(wfs(["jobs", "cancel", second], env))
    assert again.startswith("409 "), again


def test_a_job_is_rerun_whole_or_from_a_step(service: Service, tmp_path: Path) -> None:
    _, job_id, env = _greeted(service, tmp_path, name="Grace")
    ran = wfs(["jobs", "rerun", job_id], env)
    assert ran.code == 0, ran
    new_id = ran.stdout.strip()
    assert new_id != job_id
    assert wait_for_status(service, new_id, "completed")["output"] == {"greeting": "Hello, Grace!"}
    waited = wfs(["jobs", "rerun", job_id, "--from-step", "greet", "--wait", "-o", "json"], env)
    assert waited.code == 0, waited
    assert json.loads(waited.stdout) == {"greeting": "Hello, Grace!"}
    assert " completed in " in waited.stderr.splitlines()[-1]
    missing = refusal(wfs(["jobs", "rerun", job_id, "--from-step", "nope"], env))
    assert missing.startswith("4"), missing


def test_the_output_of_a_job_or_of_one_step(service: Service, tmp_path: Path) -> None:
    _, job_id, env = _greeted(service, tmp_path)
    assert _json(["jobs", "output", job_id], env) == {"greeting": "Hello, Ada!"}
    assert _json(["jobs", "output", job_id, "--step", "greet"], env) == {"text": "Hello, Ada!"}
    out = tmp_path / "step.yaml"
    ran = wfs(["jobs", "output", job_id, "--step", "greet", "-o", "yaml", "--out-file", str(out)], env)
    assert (ran.code, ran.stdout) == (0, ""), ran
    assert out.read_text() == 'text: "Hello, Ada!"\n'
    missing = refusal(wfs(["jobs", "output", job_id, "--step", "nope"], env))
    assert missing == f"job {job_id} has no step 'nope' (its steps: greet)"


def test_the_status_history_of_a_job(service: Service, tmp_path: Path) -> None:
    _, job_id, env = _greeted(service, tmp_path)
    history = _json(["jobs", "events", job_id], env)
    assert history["items"][0]["to_status"] == "pending"
    assert history["items"][-1]["to_status"] == "completed"
    lines = _text(["jobs", "events", job_id], env)
    assert lines[0].split() == ["AT", "FROM", "TO", "ACTOR", "REASON"]
    assert lines[1].split()[2:4] == ["-", "pending"]
    assert lines[-1].split()[3] == "completed"


def test_the_callbacks_of_a_job(service: Service, echo_server: EchoServer, tmp_path: Path) -> None:
    slug, job_id, env = _greeted(service, tmp_path)
    assert _json(["jobs", "deliveries", job_id], env) == {"items": []}
    assert _text(["jobs", "deliveries", job_id], env) == ["no deliveries"]
    with service.client() as api:
        api.rotate_signing_secret(slug)  # notices are signed
        body: Any = {"inputs": {"name": "Ada"}, "notify_url": f"{echo_server.url}/hook"}
        notified = api.submit_async(slug, "current", body)["id"]
    deadline = time.monotonic() + 30
    while not (found := _json(["jobs", "deliveries", notified], env)["items"]) or found[0]["status"] != "succeeded":
        assert time.monotonic() < deadline, found
        time.sleep(0.2)
    assert (found[0]["kind"], found[0]["event_type"]) == ("notify", "job.completed")
    lines = _text(["jobs", "deliveries", notified], env)
    assert lines[0].split() == ["ID", "KIND", "EVENT", "STATUS", "ATTEMPTS", "CREATED", "FINISHED"]
    assert lines[1].split()[1:5] == ["notify", "job.completed", "succeeded", "1"]


def test_jobs_list_offers_every_order_the_contract_has() -> None:
    contract = json.loads((Path(__file__).parents[2] / "openapi" / "openapi.json").read_text())
    (sort,) = [p for p in contract["paths"]["/v1/jobs"]["get"]["parameters"] if p["name"] == "sort"]
    assert sorted(member.value for member in Sort) == sorted(sort["schema"]["enum"])
