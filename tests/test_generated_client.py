"""A client generated from the committed contract (openapi/openapi.json) with openapi-python-client: the
generator has nothing to warn about, and the client, typed end to end, creates, deploys and runs a workflow on a
real `workflow-service dev`."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.servers import Process, clean_env, running

CONTRACT = Path(__file__).resolve().parents[1] / "openapi" / "openapi.json"
CONFIG = CONTRACT.with_name("openapi-python-client.json")
"""The generator's settings for this contract: a file answer (a package's zip) is read as bytes."""
GENERATOR = Path(sys.executable).with_name("openapi-python-client")
PACKAGE = "wfs_generated_client"
TOKEN = "generated-client-token"


@dataclass(frozen=True)
class Generation:
    """The generator's run, and where it wrote the client's package."""

    run: subprocess.CompletedProcess[str]
    root: Path

    @property
    def output(self) -> str:
        return self.run.stdout + self.run.stderr


@pytest.fixture(scope="module")
def generation(tmp_path_factory: pytest.TempPathFactory) -> Generation:
    """The generator run on the contract with CONFIG, the package written to PACKAGE in a fresh directory. Its post
    hooks (ruff over the generated code) are off: they say nothing of the contract, and need ruff on PATH."""
    root = tmp_path_factory.mktemp("generated")
    config = root / "config.json"
    config.write_text(json.dumps({**json.loads(CONFIG.read_text()), "post_hooks": []}))
    options: list[str | Path] = [
        "--path",
        CONTRACT,
        "--output-path",
        root / PACKAGE,
        "--meta",
        "none",
        "--config",
        config,
    ]
    run = subprocess.run(
        [GENERATOR, "generate", *options, "--fail-on-warning"], capture_output=True, text=True, timeout=120
    )
    return Generation(run, root)


@pytest.fixture(scope="module")
def client_package(generation: Generation) -> Iterator[ModuleType]:
    """The generated package, imported."""
    assert generation.run.returncode == 0, generation.output
    sys.path.insert(0, str(generation.root))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(generation.root))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    env = clean_env(WFS_ADMIN_TOKEN=TOKEN, WFS_LOG_LEVEL="WARNING")
    with running("dev", env, tmp_path_factory.mktemp("dev")) as process:
        process.wait_until_ready()
        yield process


def test_the_generator_has_nothing_to_warn_about(generation: Generation) -> None:
    assert generation.run.returncode == 0, generation.output
    assert "warning" not in generation.output.lower(), generation.output


def test_every_operation_is_a_module_named_for_its_operation_id(client_package: ModuleType) -> None:
    api = Path(client_package.__file__ or "").parent / "api"
    schema = json.loads(CONTRACT.read_text())
    expected = {
        f"{op['tags'][0].replace('-', '_')}/{_snake(op['operationId'])}.py"
        for item in schema["paths"].values()
        for op in item.values()
    }
    found = {str(path.relative_to(api)) for path in api.glob("*/*.py") if path.name != "__init__.py"}
    assert found == expected


def _snake(camel: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in camel)


def _api(operation: str) -> Any:
    """The generated module of an operation (`jobs.get_job`)."""
    return importlib.import_module(f"{PACKAGE}.api.{operation}")


def test_the_generated_client_creates_deploys_and_runs_a_workflow(client_package: ModuleType, service: Process) -> None:
    m = importlib.import_module(f"{PACKAGE}.models")
    with client_package.AuthenticatedClient(base_url=service.url, token=TOKEN, raise_on_unexpected_status=True) as api:
        definition = m.DefinitionModel(
            input_schema=m.DefinitionModelInputSchema.from_dict(
                {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
            ),
            steps=[
                m.ConditionConfig(id="named", type_="condition", if_="inputs.name != ''", then="greet"),
                m.TransformConfig(id="greet", type_="transform", output={"text": "Hello, {{ inputs.name }}!"}),
            ],
            output={"greeting": "{{ steps.greet.output.text }}"},
        )
        created = _api("workflows.create_workflow").sync(
            client=api, body=m.WorkflowCreate(name="Generated greeter", definition=definition)
        )
        assert isinstance(created, m.WorkflowRead), created
        assert created.draft_problems == []

        version = _api("versions.deploy_workflow").sync(created.slug, client=api)
        assert isinstance(version, m.VersionRead), version
        assert version.number == 1

        inputs = m.JobCreateInputs.from_dict({"name": "Ada"})
        job = _api("jobs.submit_async").sync(created.slug, "current", client=api, body=m.JobCreate(inputs=inputs))
        assert isinstance(job, m.JobRead), job
        get_job = _api("jobs.get_job")
        deadline = time.monotonic() + 30
        while job.status not in (m.JobStatus.COMPLETED, m.JobStatus.FAILED, m.JobStatus.CANCELED):
            assert time.monotonic() < deadline, f"job still {job.status}"
            time.sleep(0.05)
            job = get_job.sync(str(job.id), client=api)
            assert isinstance(job, m.JobRead), job

        assert isinstance(job.status, m.JobStatus)
        assert job.status == m.JobStatus.COMPLETED, job.error
        assert job.output == {"greeting": "Hello, Ada!"}
        assert [(s.id, s.type_, s.status) for s in job.steps] == [
            ("named", m.StepReadType.CONDITION, m.StepReadStatus.COMPLETED),
            ("greet", m.StepReadType.TRANSFORM, m.StepReadStatus.COMPLETED),
        ]

        package = _api("packages.export_workflow").sync(created.slug, client=api, version="1")
        with zipfile.ZipFile(package.payload) as archive:
            flow = json.loads(archive.read("flow_definition.json"))
        assert [step["id"] for step in flow["definition"]["steps"]] == ["named", "greet"]
