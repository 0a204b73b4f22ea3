"""Where `wfs` finds its server and token (flags, WFS_URL/WFS_TOKEN, profiles of a config file found through
WFS_CONFIG or XDG_CONFIG_HOME, in that order), `wfs config show`, and bad configuration: one clear line and
exit 2. Also `--version`, shell completion and an example in every command's help."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.client.conftest import Service, deployed_greeter
from tests.client.servers import config_file, refusal, wfs, wfs_env
from tests.servers import free_port

PROFILES = """\
default_profile = "{default}"

[profiles.good]
url = "{url}"
token = "{token}"

[profiles.badtoken]
url = "{url}"
token = "not-a-token"

[profiles.nowhere]
url = "http://127.0.0.1:{port}"
"""


def _profiles(embedded: Service, default: str = "good") -> str:
    return PROFILES.format(default=default, url=embedded.url, token=embedded.token, port=free_port())


def _show(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    ran = wfs([*args, "config", "show", "-o", "json"], env)
    assert ran.code == 0, ran
    shown: dict[str, Any] = json.loads(ran.stdout)
    return shown


def test_a_profile_of_the_config_file_is_used_by_name_or_as_the_default(embedded: Service, tmp_path: Path) -> None:
    slug, env = deployed_greeter(embedded), wfs_env(None, tmp_path)
    with config_file(tmp_path, _profiles(embedded)) as path:
        ran = wfs(["run", slug, "-i", "name=Ada", "-o", "json"], env)
        assert ran.code == 0, ran
        shown = _show([], env)
        assert shown["profile"] == "good"
        assert shown["profile_from"] == "default_profile in the config file"
        assert shown["url_from"] == shown["token_from"] == f"profile good in {path}"
        assert shown["token"] == "…oken"  # masked: test-admin-token
        bad = refusal(wfs(["--profile", "badtoken", "run", slug, "-i", "name=Ada"], env))
        assert bad.startswith("401 unauthorized: ")
        assert bad.endswith("(check the token: WFS_TOKEN, --token or the profile's token)")
        from_env = refusal(wfs(["run", slug, "-i", "name=Ada"], env | {"WFS_PROFILE": "badtoken"}))
        assert from_env.startswith("401 ")


def test_flags_win_over_the_environment_which_wins_over_the_profile(embedded: Service, tmp_path: Path) -> None:
    with config_file(tmp_path, _profiles(embedded, default="nowhere")):
        env = wfs_env(None, tmp_path, WFS_URL="http://env.example:1", WFS_TOKEN="env-token-123456")
        from_env = _show([], env)
        assert (from_env["url"], from_env["url_from"]) == ("http://env.example:1", "WFS_URL")
        assert (from_env["token"], from_env["token_from"]) == ("…3456", "WFS_TOKEN")
        from_flags = _show(["--url", "http://flag.example:2/", "--token", "flag-token-abcdef"], env)
        assert (from_flags["url"], from_flags["url_from"]) == ("http://flag.example:2", "--url")
        assert (from_flags["token"], from_flags["token_from"]) == ("…cdef", "--token")
        profile_only = _show(["--profile", "good"], wfs_env(None, tmp_path))
        assert (profile_only["url"], profile_only["profile_from"]) == (embedded.url, "--profile")


def test_wfs_config_names_another_file(embedded: Service, tmp_path: Path) -> None:
    path = tmp_path / "elsewhere.toml"
    path.write_text(_profiles(embedded))
    env = wfs_env(None, tmp_path, WFS_CONFIG=str(path))
    shown = _show([], env)
    assert (shown["url"], shown["config_file"], shown["config_file_exists"]) == (embedded.url, str(path), True)
    text = wfs(["config", "show"], env).stdout.splitlines()
    assert text[0] == f"url:      {embedded.url}  (from profile good in {path})"
    assert text[1] == f"token:    …oken  (from profile good in {path})"
    assert text[2] == "profile:  good  (from default_profile in the config file)"


def test_no_url_or_a_missing_profile_is_one_line_saying_how_to_fix_it(embedded: Service, tmp_path: Path) -> None:
    env = wfs_env(None, tmp_path)
    expected = tmp_path / "xdg" / "workflow-service" / "config.toml"
    no_url = refusal(wfs(["jobs", "list"], env))
    assert no_url == f"no server URL: set WFS_URL, pass --url, or add url to [profiles.default] in {expected}"
    with config_file(tmp_path, _profiles(embedded)):
        missing = refusal(wfs(["--profile", "prod", "jobs", "list"], env))
        assert missing == (
            f"no profile 'prod' in {expected} (profiles there: badtoken, good, nowhere): add a [profiles.prod] "
            "table with url and token, or choose another with --profile or WFS_PROFILE"
        )
    with config_file(tmp_path, "[profiles.x\n"):
        assert refusal(wfs(["jobs", "list"], env)).startswith(f"the config file {expected} is not valid TOML: ")
    assert "must start with http:// or https://" in refusal(wfs(["--url", "example.com", "jobs", "list"], env))


def test_an_unreachable_server_is_one_line_naming_its_url(embedded: Service, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    said = refusal(wfs(["--url", url, "--token", "t", "run", "x", "--no-wait"], wfs_env(None, tmp_path)))
    assert url in said, said


def test_version_completion_and_an_example_in_every_help(tmp_path: Path) -> None:
    env = wfs_env(None, tmp_path)
    version = wfs(["--version"], env)
    assert (version.code, version.stdout) == (0, "wfs 0.1.0\n")
    completion = wfs(["--show-completion", "bash"], env)
    assert completion.code == 0, completion
    assert "_WFS_COMPLETE" in completion.stdout
    groups = {"jobs": ["list", "get", "watch", "cancel", "rerun", "output", "events", "deliveries"]}
    groups |= {"workflows": ["list", "get", "versions", "deploy", "export", "import", "backups", "backup"]}
    groups |= {"keys": ["create", "list", "revoke"]}
    commands = [[], ["run"], ["config"], ["config", "show"]]
    commands += [[group] for group in groups] + [[group, name] for group, names in groups.items() for name in names]
    for command in commands:
        shown = wfs([*command, "--help"], env)
        assert shown.code == 0, shown
        example = shown.stdout.split("Example:", 1)
        assert len(example) == 2, (command, shown.stdout)
        assert "wfs " in example[1], (command, shown.stdout)
        assert all(word in example[1] for word in command), (command, shown.stdout)
