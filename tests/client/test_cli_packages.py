"""`wfs workflows export|import|backups|backup` against the real service (both modes): a package exported and
imported under another slug runs the same, its secure value carried by a passphrase; conflicting variables (exit
1, a line each) resolved with --on-conflict and --resolve; a dry run; backups listed and downloaded; refusals."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import zipfile
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tests.client.conftest import Service
from tests.client.servers import refusal, wfs, wfs_env
from wfs_client import models

_numbers = itertools.count(1)
PASSPHRASE = "correct horse battery staple"
SECRET = "tok-secret-5f4e3d2c1b"


def _definition(greeting: str) -> models.DefinitionModel:
    """Greets `inputs.name` with the environment variable GREETING, as `<GREETING><greeting> <name>`."""
    return {
        "input_schema": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
        "steps": [
            {"id": "greet", "type": "transform", "output": "{{ env.GREETING }}" + greeting + " {{ inputs.name }}"}
        ],
        "output": "{{ steps.greet.output }}",
    }


def _workflow(
    service: Service, greeting: str, token: str, punctuation: str = ",", prefix: str = "Package"
) -> tuple[str, str]:
    """A deployed workflow with the variables GREETING (plain) and TOKEN (secure); its slug and name."""
    name = f"{prefix} {next(_numbers)}"
    with service.client() as api:
        slug = api.create_workflow({"name": name, "definition": _definition(punctuation)})["slug"]
        api.deploy_workflow(slug)
        api.put_env_var(slug, "GREETING", {"value": greeting})
        api.put_env_var(slug, "TOKEN", {"value": token, "secure": True})
    return slug, name


def _secure_values(package: Path, passphrase: str) -> dict[str, str]:
    """The secure values of a package exported with `passphrase`, decrypted as docs/packages.md says."""
    with zipfile.ZipFile(package) as opened:
        env = json.loads(opened.read("env_variables.json"))
    kdf = env["encryption"]
    salt = base64.b64decode(kdf["salt"])
    key = hashlib.scrypt(passphrase.encode(), salt=salt, n=kdf["n"], r=kdf["r"], p=kdf["p"], maxmem=2**26, dklen=32)
    sealed = {var["name"]: var["encrypted"] for var in env["variables"] if "encrypted" in var}
    return {
        name: AESGCM(key)
        .decrypt(base64.b64decode(s["nonce"]), base64.b64decode(s["ciphertext"]), name.encode())
        .decode()
        for name, s in sealed.items()
    }


def _env(service: Service, slug: str) -> dict[str, str | None]:
    with service.client() as api:
        return {var["name"]: var["value"] for var in api.list_env_vars(slug)["items"]}


def test_exported_then_imported_under_another_slug_it_runs_the_same(service: Service, tmp_path: Path) -> None:
    slug, name = _workflow(service, "Hello", SECRET)
    env = wfs_env(service, tmp_path, PKG_PASS=PASSPHRASE)
    exported = wfs(["workflows", "export", slug, "--passphrase-env", "PKG_PASS"], env, cwd=tmp_path)
    assert (exported.code, exported.stdout) == (0, f"{name}.zip\n"), exported
    package = tmp_path / f"{name}.zip"
    assert _secure_values(package, PASSPHRASE) == {"TOKEN": SECRET}

    copy = f"copy-{slug}"
    args = ["workflows", "import", str(package), "--slug", copy, "--name", f"Copy of {name}"]
    imported = wfs([*args, "--passphrase-env", "PKG_PASS"], env)
    assert imported.code == 0, imported
    lines = imported.stdout.splitlines()
    assert lines[0] == f"{copy}: imported {slug} version 1 as a new workflow (draft, not deployed)"
    assert "variables added: GREETING, TOKEN" in lines
    with service.client() as api:
        assert api.get_workflow(copy)["name"] == f"Copy of {name}"
        api.deploy_workflow(copy)
    original, copied = wfs(["run", slug, "-i", "name=Ada"], env), wfs(["run", copy, "-i", "name=Ada"], env)
    assert (copied.code, copied.stdout) == (original.code, original.stdout) == (0, "Hello, Ada\n"), copied

    # The secure value came over: the copy exports it again (the passphrase from WFS_EXPORT_PASSPHRASE).
    again = tmp_path / "again.zip"
    env_default = wfs_env(service, tmp_path, WFS_EXPORT_PASSPHRASE=PASSPHRASE)
    json_out = wfs(
        ["workflows", "export", copy, "--version", "draft", "--out-file", str(again), "-o", "json"], env_default
    )
    assert json_out.code == 0, json_out
    assert json.loads(json_out.stdout) == {"file": str(again), "size": again.stat().st_size}
    assert _secure_values(again, PASSPHRASE) == {"TOKEN": SECRET}


def test_the_file_is_named_as_the_service_names_it(service: Service, tmp_path: Path) -> None:
    """The name in `filename*` (RFC 5987) as it is, accents and all; a `/` the service replaced stays replaced."""
    slug, name = _workflow(service, "Hej", SECRET, prefix="Café/Ünï")
    exported = wfs(["workflows", "export", slug], wfs_env(service, tmp_path), cwd=tmp_path)
    expected = name.replace("/", "_") + ".zip"
    assert (exported.code, exported.stdout) == (0, f"{expected}\n"), exported
    assert zipfile.is_zipfile(tmp_path / expected)


def test_a_package_without_its_passphrase_leaves_the_secure_value_to_set(service: Service, tmp_path: Path) -> None:
    slug, _ = _workflow(service, "Hi", SECRET)
    env = wfs_env(service, tmp_path)
    plain = tmp_path / "plain.zip"
    assert wfs(["workflows", "export", slug, "--out-file", str(plain)], env).code == 0
    imported = wfs(["workflows", "import", str(plain), "--slug", f"bare-{slug}", "--deploy", "-o", "json"], env)
    assert imported.code == 0, imported
    done = json.loads(imported.stdout)
    assert (done["report"]["env"]["added"], done["report"]["env"]["needs_value"]) == (["GREETING"], ["TOKEN"])
    assert done["version"]["number"] == 1
    assert wfs(["run", f"bare-{slug}", "-i", "name=Ada"], env).stdout == "Hi, Ada\n"

    sealed = tmp_path / "sealed.zip"
    sealing = wfs_env(service, tmp_path, PKG_PASS=PASSPHRASE)
    assert (
        wfs(["workflows", "export", slug, "--out-file", str(sealed), "--passphrase-env", "PKG_PASS"], sealing).code == 0
    )
    said = refusal(wfs(["workflows", "import", str(sealed), "--slug", f"sealed-{slug}"], env))
    assert said.startswith("422 passphrase_required"), said
    wrong = wfs_env(service, tmp_path, PKG_PASS="not the passphrase")
    said = refusal(
        wfs(["workflows", "import", str(sealed), "--slug", f"sealed-{slug}", "--passphrase-env", "PKG_PASS"], wrong)
    )
    assert said.startswith("422 wrong_passphrase"), said


def test_conflicts_a_dry_run_the_choices_and_backups(service: Service, tmp_path: Path) -> None:
    source, _ = _workflow(service, "Hello", SECRET)
    target, target_name = _workflow(service, "Howdy", "another-secret-value", punctuation=";")
    env = wfs_env(service, tmp_path, PKG_PASS=PASSPHRASE)
    package = tmp_path / "source.zip"
    assert (
        wfs(["workflows", "export", source, "--out-file", str(package), "--passphrase-env", "PKG_PASS"], env).code == 0
    )
    into = ["workflows", "import", str(package), "--into", target, "--passphrase-env", "PKG_PASS"]

    asked = wfs(into, env)
    assert (asked.code, asked.stdout) == (1, ""), asked
    lines = asked.stderr.splitlines()
    assert lines[0] == f"wfs: the package's environment variables conflict with {target}'s; nothing was imported:"
    assert lines[1:3] == [
        "GREETING: here Howdy, package Hello",
        "TOKEN: here [redacted] (secure), package [redacted] (secure)",
    ]
    assert "--on-conflict keep" in lines[3], lines
    assert "--resolve GREETING=overwrite" in lines[3], lines
    as_json = wfs([*into, "-o", "json"], env)
    assert as_json.code == 1, as_json
    problem = json.loads(as_json.stdout)
    assert problem["code"] == "env_conflicts"
    assert [(c["name"], c["resolution"]) for c in problem["conflicts"]] == [("GREETING", "ask"), ("TOKEN", "ask")]

    with service.client() as api:
        before = api.get_workflow(target)["draft"]
    dry = wfs([*into, "--dry-run", "--on-conflict", "keep", "--backup"], env)
    assert dry.code == 0, dry
    assert dry.stdout.splitlines()[:2] == [
        f"dry run: nothing changed; importing {source} version 1 as the draft of {target} would do this",
        "variables kept: GREETING, TOKEN",
    ]
    assert "definition changes: 1" in dry.stdout
    assert (
        '  ~ $.steps[0].output: "{{ env.GREETING }}; {{ inputs.name }}" -> "{{ env.GREETING }}, {{ inputs.name }}"'
        in dry.stdout
    )
    with service.client() as api:
        assert api.get_workflow(target)["draft"] == before
        assert api.list_backups(target)["items"] == []
    assert _env(service, target)["GREETING"] == "Howdy"

    kept = wfs([*into, "--on-conflict", "keep", "--backup"], env)
    assert kept.code == 0, kept
    assert kept.stdout.splitlines()[0] == f"{target}: draft replaced by {source} version 1 (not deployed)"
    assert f"backup: Exported_{target_name}.zip" in kept.stdout
    assert _env(service, target)["GREETING"] == "Howdy"
    chosen = wfs([*into, "--resolve", "GREETING=overwrite", "--resolve", "TOKEN=keep", "--backup", "-o", "json"], env)
    assert chosen.code == 0, chosen
    report = json.loads(chosen.stdout)["report"]
    assert (report["env"]["overwritten"], report["env"]["kept"]) == (["GREETING"], ["TOKEN"])
    assert _env(service, target)["GREETING"] == "Hello"

    listed = wfs(["workflows", "backups", target], env)
    assert listed.code == 0, listed
    header, *rows = listed.stdout.splitlines()
    assert header.split() == ["ID", "FILE", "BYTES", "CREATED", "BY"]
    assert len(rows) == 2, listed
    assert all(f"Exported_{target_name}.zip" in row for row in rows), listed
    with service.client() as api:
        newest = api.list_backups(target)["items"][0]
    got = wfs(["workflows", "backup", target, newest["id"]], env, cwd=tmp_path)
    assert (got.code, got.stdout) == (0, f"Exported_{target_name}.zip\n"), got
    with zipfile.ZipFile(tmp_path / f"Exported_{target_name}.zip") as backup:
        assert backup.namelist() == ["app_definition.json", "flow_definition.json", "env_variables.json"]
        flow = json.loads(backup.read("flow_definition.json"))
    assert flow["definition"]["steps"] == _definition(",")["steps"]  # the draft the second import replaced


def test_deploy_refuses_a_draft_with_problems_here(service: Service, tmp_path: Path) -> None:
    """--deploy after an import whose draft names a sub-workflow this workspace no longer has: the report with
    its problems, exit 1; the import itself is done, nothing deployed."""
    sub, _ = _workflow(service, "Yo", SECRET, prefix="Sub")
    caller: models.DefinitionModel = {
        "steps": [{"id": "call", "type": "workflow", "workflow": sub, "inputs": {"name": "x"}}]
    }
    with service.client() as api:
        slug = api.create_workflow({"name": f"Caller {next(_numbers)}", "definition": caller})["slug"]
        api.deploy_workflow(slug)
    env, package = wfs_env(service, tmp_path), tmp_path / "caller.zip"
    assert wfs(["workflows", "export", slug, "--out-file", str(package)], env).code == 0
    with service.client() as api:
        api.delete_workflow(sub)
    ran = wfs(["workflows", "import", str(package), "--slug", f"again-{slug}", "--deploy"], env)
    assert ran.code == 1, ran
    assert ran.stdout.splitlines()[-2:] == [
        "draft problems (it cannot be deployed here yet):",
        f"  $.steps[0].workflow: there is no workflow '{sub}'",
    ]
    assert ran.stderr == "wfs: imported, but not deployed: the draft has 1 problem(s) here (listed above)\n"
    with service.client() as api:
        assert api.get_workflow(f"again-{slug}")["current_version"] is None


def test_refusals_are_one_line(service: Service, tmp_path: Path) -> None:
    slug, _ = _workflow(service, "Hey", SECRET)
    env = wfs_env(service, tmp_path)
    missing = refusal(wfs(["workflows", "import", str(tmp_path / "nowhere.zip")], env))
    assert missing == f"cannot read {tmp_path / 'nowhere.zip'}: No such file or directory"
    text = tmp_path / "notes.zip"
    text.write_text("not a zip at all")
    assert refusal(wfs(["workflows", "import", str(text), "--into", slug], env)).startswith("422 invalid_package")
    unset = refusal(wfs(["workflows", "export", slug, "--passphrase-env", "NO_SUCH_VAR"], env))
    assert unset == "--passphrase-env NO_SUCH_VAR: the environment variable NO_SUCH_VAR is not set or empty"
    short = wfs_env(service, tmp_path, PKG_PASS="short")
    said = refusal(wfs(["workflows", "export", slug, "--passphrase-env", "PKG_PASS", "--out-file", "-"], short))
    assert said.startswith("422 invalid_input"), said
    assert refusal(wfs(["workflows", "export", f"no-{slug}"], env)).startswith("404 not_found")
    bad_choice = refusal(wfs(["workflows", "import", str(text), "--into", slug, "--resolve", "GREETING"], env))
    assert bad_choice == "--resolve 'GREETING': write NAME=keep or NAME=overwrite"
    both = refusal(wfs(["workflows", "import", str(text), "--into", slug, "--slug", "x"], env))
    assert both == "--slug and --name name a new workflow: leave them out with --into"
    lone = refusal(wfs(["workflows", "import", str(text), "--backup"], env))
    assert lone == "--on-conflict, --resolve and --backup replace a draft: give the workflow with --into"
    assert refusal(wfs(["workflows", "backup", slug, "0193a2c4-5b6e-7f00-8000-0123456789ab"], env)).startswith("404")
    assert wfs(["workflows", "backups", slug], env).stdout == f"{slug} has no backups\n"
    both_ways = refusal(wfs(["workflows", "import", str(text), "--dry-run", "--deploy"], env))
    assert both_ways == "--deploy and --dry-run: a dry run changes nothing, so there is nothing to deploy"
