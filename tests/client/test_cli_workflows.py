"""`wfs workflows` and `wfs keys` against the real service (both modes): deploying from a file (create, update,
a definition with problems), listing and reading workflows and versions, and a workflow's API keys, in JSON and
as text."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

from tests.client.conftest import Service, deployed_greeter
from tests.client.servers import refusal, wfs, wfs_env

_numbers = itertools.count(1)
FILE = """\
name: Greeter {n}
slug: {slug}
description: Says hello
definition:
  input_schema: {{type: object, properties: {{name: {{type: string}}}}, required: [name]}}
  steps:
    - id: compose
      type: transform
      output: "{greeting}, {{{{ inputs.name }}}}!"
  output: "{{{{ steps.compose.output }}}}"
"""


def _file(tmp_path: Path, slug: str, greeting: str = "Hello", suffix: str = ".yaml") -> Path:
    path = tmp_path / f"{slug}{suffix}"
    path.write_text(FILE.format(n=next(_numbers), slug=slug, greeting=greeting))
    return path


def test_a_file_creates_then_updates_and_deploys_a_workflow(service: Service, tmp_path: Path) -> None:
    slug, env = f"deployed-{next(_numbers)}", wfs_env(service, tmp_path)
    created = wfs(["workflows", "deploy", str(_file(tmp_path, slug))], env)
    assert created.code == 0, created
    first, endpoint = created.stdout.splitlines()
    assert first == f"{slug}: draft created, version 1 deployed"
    assert endpoint.endswith(f"/v1/workflows/{slug}/versions/1/async")
    ran = wfs(["run", slug, "-i", "name=Ada"], env)
    assert (ran.code, ran.stdout) == (0, "Hello, Ada!\n"), ran

    updated = wfs(["workflows", "deploy", str(_file(tmp_path, slug, "Howdy")), "-o", "json"], env)
    assert updated.code == 0, updated
    version = json.loads(updated.stdout)
    assert (version["number"], version["workflow"]["slug"]) == (2, slug)
    assert wfs(["run", slug, "-i", "name=Ada"], env).stdout == "Howdy, Ada!\n"

    same = wfs(["workflows", "deploy", str(_file(tmp_path, slug, "Howdy"))], env)
    assert same.code == 0, same
    assert same.stdout.splitlines()[0] == f"{slug}: unchanged, version 2 is current"
    forced = wfs(["workflows", "deploy", str(_file(tmp_path, slug, "Howdy")), "--force", "-o", "json"], env)
    assert (forced.code, json.loads(forced.stdout)["number"]) == (0, 3), forced
    listed = json.loads(wfs(["workflows", "versions", slug, "-o", "json"], env).stdout)
    assert [v["number"] for v in listed["items"]] == [3, 2, 1]

    saved = wfs(["workflows", "deploy", str(_file(tmp_path, slug, "Hi")), "--no-deploy"], env)
    assert (saved.code, saved.stdout) == (0, f"{slug}: draft updated and valid; not deployed\n"), saved
    assert wfs(["run", slug, "-i", "name=Ada"], env).stdout == "Howdy, Ada!\n"


def test_a_json_file_is_sent_as_json(service: Service, tmp_path: Path) -> None:
    slug, env = f"from-json-{next(_numbers)}", wfs_env(service, tmp_path)
    path = tmp_path / "greeter.json"
    definition: dict[str, Any] = {"steps": [{"id": "say", "type": "transform", "output": "hi"}], "output": "done"}
    path.write_text(json.dumps({"name": "From JSON", "slug": slug, "definition": definition}))
    ran = wfs(["workflows", "deploy", str(path)], env)
    assert ran.code == 0, ran
    assert ran.stdout.startswith(f"{slug}: draft created, version 1 deployed\n")


def test_a_definition_with_problems_is_not_deployed_and_exits_1(service: Service, tmp_path: Path) -> None:
    slug, env = f"broken-{next(_numbers)}", wfs_env(service, tmp_path)
    path = _file(tmp_path, slug)
    broken = path.read_text().replace("steps.compose.output", "steps.missing.output")
    path.write_text(broken)
    ran = wfs(["workflows", "deploy", str(path)], env)
    assert (ran.code, ran.stdout) == (1, ""), ran
    assert ran.stderr.splitlines() == [
        f"wfs: the draft of {slug} was created but cannot be deployed:",
        "$.output: unknown step 'missing'",
    ]
    path.write_text(broken.replace("steps.missing.output", "steps.compose.output"))
    assert wfs(["workflows", "deploy", str(path)], env).code == 0
    path.write_text(broken)
    again = wfs(["workflows", "deploy", str(path)], env)
    assert again.code == 1, again
    assert again.stderr.splitlines()[0] == f"wfs: the draft of {slug} was updated but cannot be deployed:"
    with service.client() as api:
        assert api.get_workflow(slug)["current_version"] == 1


def test_a_file_that_cannot_be_used_is_exit_2(service: Service, tmp_path: Path) -> None:
    env = wfs_env(service, tmp_path)
    assert refusal(wfs(["workflows", "deploy", str(tmp_path / "none.yaml")], env)).startswith("cannot read ")
    (tmp_path / "bad.yaml").write_text("name: [unclosed\n")
    assert refusal(wfs(["workflows", "deploy", str(tmp_path / "bad.yaml")], env)).startswith("4")


def test_workflows_and_their_versions_are_listed_and_shown(service: Service, tmp_path: Path) -> None:
    slug, env = deployed_greeter(service), wfs_env(service, tmp_path)
    listed = json.loads(wfs(["workflows", "list", "-o", "json"], env).stdout)
    assert slug in [w["slug"] for w in listed["items"]]
    lines = wfs(["workflows", "list"], env).stdout.splitlines()
    assert lines[0].split() == ["SLUG", "NAME", "CURRENT", "UPDATED"]
    assert any(line.split()[0] == slug and line.split()[3] == "1" for line in lines[1:]), lines

    shown = json.loads(wfs(["workflows", "get", slug, "-o", "json"], env).stdout)
    assert (shown["slug"], shown["current_version"], shown["draft_problems"]) == (slug, 1, [])
    text = wfs(["workflows", "get", slug], env).stdout.splitlines()
    assert text[0] == f"slug:      {slug}"
    assert "current:   1" in text
    assert any(line.startswith("async:") and line.endswith(f"/{slug}/versions/1/async") for line in text), text
    assert text[-1] == "draft:     can be deployed"
    assert refusal(wfs(["workflows", "get", "no-such-workflow"], env)).startswith("404 ")

    versions = json.loads(wfs(["workflows", "versions", slug, "-o", "json"], env).stdout)
    assert [v["number"] for v in versions["items"]] == [1]
    rows = wfs(["workflows", "versions", slug], env).stdout.splitlines()
    assert rows[0].split() == ["VERSION", "CREATED", "HASH"]
    assert rows[1].split()[0] == "1"
    assert rows[1].split()[-1] == versions["items"][0]["content_hash"][:12]


def test_an_api_key_is_created_used_listed_and_revoked(service: Service, tmp_path: Path) -> None:
    slug, env = deployed_greeter(service), wfs_env(service, tmp_path)
    created = wfs(["keys", "create", slug, "--name", "ci", "--expires-in-days", "30"], env)
    assert created.code == 0, created
    key = created.stdout.strip()
    assert key.startswith("wfs_key_")
    assert "shown only once" in created.stderr
    as_key = wfs_env(service, tmp_path, WFS_TOKEN=key)
    assert wfs(["run", slug, "-i", "name=Ada", "-o", "json"], as_key).code == 0

    as_json = wfs(["keys", "create", slug, "--name", "other", "-o", "json"], env)
    other = json.loads(as_json.stdout)
    assert (other["name"], other["expires_at"], other["key"][:8]) == ("other", None, "wfs_key_")
    listed = json.loads(wfs(["keys", "list", slug, "-o", "json"], env).stdout)["items"]
    assert sorted(k["name"] for k in listed) == ["ci", "other"]
    assert all("key" not in k for k in listed)
    lines = wfs(["keys", "list", slug], env).stdout.splitlines()
    assert lines[0].split() == ["ID", "NAME", "PREFIX", "CREATED", "LAST", "USED", "EXPIRES"]
    ci = next(k for k in listed if k["name"] == "ci")
    assert any(line.split()[:3] == [ci["id"], "ci", ci["prefix"]] for line in lines), lines
    assert any(line.split()[1] == "other" and line.endswith("never") for line in lines[1:]), lines

    revoked = wfs(["keys", "revoke", slug, ci["id"]], env)
    assert (revoked.code, revoked.stdout) == (0, f"key {ci['id']} revoked\n"), revoked
    again = wfs(["keys", "revoke", slug, other["id"], "-o", "json"], env)
    assert json.loads(again.stdout) == {"id": other["id"], "revoked": True}
    refused = refusal(wfs(["run", slug, "-i", "name=Ada"], as_key))
    assert refused.startswith("401 "), refused
    assert "WFS_TOKEN" in refused
