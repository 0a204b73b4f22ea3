"""Where the `wfs` command finds its server and token: flags, then the environment (`WFS_URL`, `WFS_TOKEN`),
then a named profile of the config file; each value remembers where it came from (`wfs config show`).

The file (`$WFS_CONFIG`, else `$XDG_CONFIG_HOME/workflow-service/config.toml`, else
`~/.config/workflow-service/config.toml`) holds profiles:

    default_profile = "staging"

    [profiles.staging]
    url = "https://wfs.staging.example.com"
    token = "wfs_key_..."
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wfs_client.errors import WfsError

DEFAULT_PROFILE = "default"


class ConfigError(WfsError):
    """The configuration cannot be used; the message is one line saying how to fix it."""


@dataclass(frozen=True)
class Config:
    """The resolved settings; each `*_from` says where its value came from (`--url`, `WFS_URL`,
    `profile staging in /path/config.toml`, ...)."""

    url: str
    token: str | None
    profile: str
    url_from: str
    token_from: str | None
    profile_from: str
    path: Path
    """The config file that was read, or would have been (it may not exist)."""


def config_path(environ: Mapping[str, str]) -> Path:
    """The config file's place: `$WFS_CONFIG`, else under `$XDG_CONFIG_HOME`, else under `~/.config`."""
    if environ.get("WFS_CONFIG"):
        return Path(environ["WFS_CONFIG"]).expanduser()
    base = Path(environ["XDG_CONFIG_HOME"]) if environ.get("XDG_CONFIG_HOME") else Path.home() / ".config"
    return base / "workflow-service" / "config.toml"


def _read(path: Path) -> dict[str, Any]:
    """The file's tables; an absent file is empty."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read the config file {path}: {exc.strerror or exc}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"the config file {path} is not valid TOML: {exc}") from None


def _profile_name(flag: str | None, environ: Mapping[str, str], data: dict[str, Any]) -> tuple[str, str, bool]:
    """The profile's name, where it came from, and whether it was asked for by name (then it must exist)."""
    if flag:
        return flag, "--profile", True
    if environ.get("WFS_PROFILE"):
        return environ["WFS_PROFILE"], "WFS_PROFILE", True
    named = data.get("default_profile")
    if isinstance(named, str) and named:
        return named, "default_profile in the config file", True
    return DEFAULT_PROFILE, "the default", False


def _profile(data: dict[str, Any], name: str, asked: bool, path: Path) -> dict[str, Any]:
    profiles = data.get("profiles", {})
    if not isinstance(profiles, dict):
        raise ConfigError(f"the config file {path}: `profiles` must be a table of [profiles.NAME] tables")
    found = profiles.get(name)
    if found is None:
        if asked:
            known = ", ".join(sorted(profiles)) or "none"
            raise ConfigError(
                f"no profile {name!r} in {path} (profiles there: {known}): add a [profiles.{name}] table "
                "with url and token, or choose another with --profile or WFS_PROFILE"
            )
        return {}
    if not isinstance(found, dict):
        raise ConfigError(f"the config file {path}: profiles.{name} must be a table with url and token")
    for key in ("url", "token"):
        if key in found and not isinstance(found[key], str):
            raise ConfigError(f"the config file {path}: profiles.{name}.{key} must be a string")
    return found


def _pick(
    flag: tuple[str | None, str], env: tuple[str | None, str], profile: tuple[str | None, str]
) -> tuple[str | None, str | None]:
    """The first value given of (value, where) pairs, in precedence order."""
    for value, where in (flag, env, profile):
        if value:
            return value, where
    return None, None


def load_config(
    url: str | None = None,
    token: str | None = None,
    profile: str | None = None,
    environ: Mapping[str, str] | None = None,
    path: Path | None = None,
) -> Config:
    """The settings from flags (`url`, `token`, `profile`), the environment and the config file, in that order
    of precedence. Raises ConfigError when no URL is found anywhere or a profile asked for by name is missing."""
    env = os.environ if environ is None else environ
    path = path or config_path(env)
    data = _read(path)
    name, name_from, asked = _profile_name(profile, env, data)
    values = _profile(data, name, asked, path)
    where = f"profile {name} in {path}"
    found_url, url_from = _pick((url, "--url"), (env.get("WFS_URL"), "WFS_URL"), (values.get("url"), where))
    found_token, token_from = _pick(
        (token, "--token"), (env.get("WFS_TOKEN"), "WFS_TOKEN"), (values.get("token"), where)
    )
    if not found_url or not url_from:
        raise ConfigError(f"no server URL: set WFS_URL, pass --url, or add url to [profiles.{name}] in {path}")
    if not found_url.startswith(("http://", "https://")):
        raise ConfigError(f"the server URL {found_url!r} (from {url_from}) must start with http:// or https://")
    return Config(found_url.rstrip("/"), found_token, name, url_from, token_from, name_from, path)


def masked(token: str | None) -> str:
    """A token shown without giving it away: its last four characters, after its public start (`wfs_key_`)
    when it is long enough for that to say little."""
    if not token:
        return "(none)"
    if len(token) < 12:
        return "****"
    if len(token) >= 24:
        return f"{token[:8]}…{token[-4:]}"
    return f"…{token[-4:]}"
