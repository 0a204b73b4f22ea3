"""`wfs run` against the real service (both modes): the output in each format, on stdout or in a file, inputs from
options, files and stdin coerced by the input schema, progress lines, idempotency, and each way the command
refuses (exit 2, one line)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from tests.client.conftest import GREETER, Service, deployed_greeter
from tests.client.proxy import DROP_ANSWER, Proxy
from tests.client.servers import TYPED, deployed, refusal, wfs, wfs_env

JOB_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def test_a_completed_job_prints_its_output_as_json_yaml_and_text(service: Service, tmp_path: Path) -> None:
    slug, env = deployed_greeter(service), wfs_env(service, tmp_path)
    as_json = wfs(["run", slug, "--input", "name=Ada", "--output", "json"], env)
    assert as_json.code == 0, as_json
    assert json.loads(as_json.stdout) == {"greeting": "Hello, Ada!"}
    assert as_json.stdout.startswith('{\n  "greeting"')  # indented
    as_yaml = wfs(["--output", "yaml", "run", slug, "-i", "name=Ada"], env)  # the global option
    assert as_yaml.code == 0, as_yaml
    assert as_yaml.stdout == 'greeting: "Hello, Ada!"\n'
    assert yaml.safe_load(as_yaml.stdout) == {"greeting": "Hello, Ada!"}
    as_text = wfs(["run", slug, "-i", "name=Ada"], env)
    assert as_text.code == 0, as_text
    assert json.loads(as_text.stdout) == {"greeting": "Hello, Ada!"}


def test_text_prints_a_string_as_it_is_and_records_as_a_table(service: Service, tmp_path: Path) -> None:
    env = wfs_env(service, tmp_path)
    words = deployed(service, {**GREETER, "output": "{{ steps.greet.output.text }}"})
    ran = wfs(["run", words, "-i", "name=Ada"], env)
    assert (ran.code, ran.stdout) == (0, "Hello, Ada!\n"), ran
    rows = [{"name": "{{ inputs.name }}", "score": 1}, {"name": "Grace", "score": 22}]
    table = deployed(service, {**GREETER, "output": rows})
    ran = wfs(["run", table, "-i", "name=Ada"], env)
    assert ran.code == 0, ran
    assert ran.stdout.splitlines() == ["NAME   SCORE", "Ada    1", "Grace  22"]


def test_out_file_takes_the_output_and_stdout_stays_empty(service: Service, tmp_path: Path) -> None:
    slug, out = deployed_greeter(service), tmp_path / "out.json"
    ran = wfs(["run", slug, "-i", "name=Ada", "-o", "json", "--out-file", str(out)], wfs_env(service, tmp_path))
    assert (ran.code, ran.stdout) == (0, ""), ran
    assert json.loads(out.read_text()) == {"greeting": "Hello, Ada!"}


def test_no_wait_prints_the_job_id_alone(service: Service, tmp_path: Path) -> None:
    slug = deployed_greeter(service)
    ran = wfs(["run", slug, "-i", "name=Ada", "--no-wait"], wfs_env(service, tmp_path))
    assert ran.code == 0, ran
    assert JOB_ID.fullmatch(ran.stdout.strip()), ran
    with service.client() as api:
        assert api.get_job(ran.stdout.strip())["workflow"]["slug"] == slug


def test_inputs_come_from_a_file_or_stdin_with_input_options_laid_over(service: Service, tmp_path: Path) -> None:
    slug, env = deployed(service, TYPED), wfs_env(service, tmp_path)
    (tmp_path / "in.json").write_text(json.dumps({"name": "Ada", "count": 1}))
    from_file = wfs(["run", slug, "--inputs", f"@{tmp_path / 'in.json'}", "-i", "count=2", "-o", "json"], env)
    assert from_file.code == 0, from_file
    assert json.loads(from_file.stdout)["inputs"] == {"name": "Ada", "count": 2}
    from_stdin = wfs(["run", slug, "--inputs", "-", "-o", "json"], env, stdin='{"name": "Grace"}')
    assert from_stdin.code == 0, from_stdin
    assert json.loads(from_stdin.stdout)["inputs"] == {"name": "Grace"}


def test_input_values_are_typed_by_the_input_schema(service: Service, tmp_path: Path) -> None:
    slug = deployed(service, TYPED)
    typed = ["name=42", "count=3", "ratio=0.5", "loud=true", 'tags=["a", 1]', 'extra={"k": null}']
    untyped = ["n=7", "flag=false", "none=null", "list=[1]", "word=Ada", 'quoted="Ada"', "raw:=[true]"]
    args = ["run", slug, "-o", "json", *(arg for item in typed + untyped for arg in ("--input", item))]
    ran = wfs([*args, "--var", "tone=loud", "--var", "level=2"], wfs_env(service, tmp_path))
    assert ran.code == 0, ran
    output = json.loads(ran.stdout)
    assert output["inputs"] == {
        "name": "42",  # the schema says string
        "count": 3,
        "ratio": 0.5,
        "loud": True,
        "tags": ["a", 1],
        "extra": {"k": None},
        "n": 7,
        "flag": False,
        "none": None,
        "list": [1],
        "word": "Ada",
        "quoted": '"Ada"',
        "raw": [True],
    }
    assert output["vars"] == {"tone": "loud", "level": 2}


def test_a_bad_value_for_an_option_is_one_line_and_exit_2(service: Service, tmp_path: Path) -> None:
    slug, env = deployed(service, TYPED), wfs_env(service, tmp_path)
    refused = {
        ("-i", "count=three"): "--input count=three: 'three' is not an integer",
        ("-i", "tags={}"): "is not an array",
        ("-i", "loud=maybe"): "is not a boolean",
        ("-i", "nokey"): "--input 'nokey': write key=value",
        ("-i", "x:=[1"): "--input x:=[1: the value after := is not JSON",
        ("--var", "=1"): "--var '=1': the key is empty",
        ("--inputs", "@/nowhere.json"): "--inputs @/nowhere.json: cannot read",
        ("--inputs", "[1]"): "holds a JSON array, not an object",
        ("--timeout", "soon"): "--timeout 'soon': not a duration",
        ("--timeout", "0"): "must be more than 0",
        ("--version", "latest"): "--version 'latest': a version number",
    }
    for option, message in refused.items():
        assert message in refusal(wfs(["run", slug, "-i", "name=Ada", *option], env)), message


def test_the_service_refusing_the_inputs_or_the_workflow_is_exit_2(service: Service, tmp_path: Path) -> None:
    slug, env = deployed_greeter(service), wfs_env(service, tmp_path)
    missing = refusal(wfs(["run", slug, "-i", "other=1"], env))
    assert missing.startswith("422 invalid_input: "), missing
    assert "name" in missing
    unknown = refusal(wfs(["run", "no-such-workflow", "-i", "name=Ada"], env))
    assert unknown.startswith("404 not_found: "), unknown
    assert "no-such-workflow" in unknown
    assert refusal(wfs(["run", slug, "--version", "9", "-i", "name=Ada"], env)).startswith("404 ")


def test_a_version_is_run_by_number(service: Service, tmp_path: Path) -> None:
    slug = deployed_greeter(service)
    ran = wfs(["run", slug, "--version", "1", "-i", "name=Ada", "-o", "json"], wfs_env(service, tmp_path))
    assert ran.code == 0, ran
    assert json.loads(ran.stdout) == {"greeting": "Hello, Ada!"}


def test_progress_is_plain_lines_on_stderr_when_it_is_not_a_terminal(service: Service, tmp_path: Path) -> None:
    slug, env = deployed_greeter(service), wfs_env(service, tmp_path)
    ran = wfs(["run", slug, "-i", "name=Ada"], env)
    assert ran.code == 0, ran
    lines = ran.stderr.splitlines()
    job_id = lines[0].split()[1]
    assert lines[0] == f"job {job_id} pending", ran
    assert "step greet started" in lines, ran
    assert lines.index("step greet started") < lines.index("step greet completed")
    assert re.fullmatch(rf"job {job_id} completed in \d+\.\d\d s", lines[-1]), ran
    quiet = wfs(["run", slug, "-i", "name=Ada", "--quiet"], env)
    assert (quiet.code, quiet.stderr) == (0, ""), quiet


def test_an_idempotency_key_submits_once(service: Service, tmp_path: Path) -> None:
    slug, env = deployed_greeter(service), wfs_env(service, tmp_path)
    args = ["run", slug, "-i", "name=Ada", "--no-wait", "--idempotency-key", f"key-{slug}"]
    first, second = wfs(args, env), wfs(args, env)
    assert first.code == second.code == 0, (first, second)
    assert first.stdout == second.stdout
    other = wfs(["run", slug, "-i", "name=Ada", "--no-wait"], env)
    assert other.stdout != first.stdout


def test_a_submit_whose_answer_is_lost_is_retried_into_one_job(service: Service, tmp_path: Path) -> None:
    slug = deployed_greeter(service)
    with Proxy(service.url, [DROP_ANSWER], matching=f"POST /v1/workflows/{slug}/") as proxy:
        ran = wfs(["run", slug, "-i", "name=Ada", "-o", "json"], wfs_env(service, tmp_path, WFS_URL=proxy.url))
        submits = [seen for seen in proxy.seen if seen.method == "POST"]
    assert ran.code == 0, ran
    assert json.loads(ran.stdout) == {"greeting": "Hello, Ada!"}
    assert [seen.behaviour for seen in submits] == ["drop-answer", "forward"]
    assert submits[0].headers["Idempotency-Key"] == submits[1].headers["Idempotency-Key"]
    with service.client() as api:
        assert len(api.list_jobs(workflow=slug)["items"]) == 1
