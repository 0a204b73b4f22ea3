"""Which PostgreSQL database and Redis database a test process uses.

`WFS_TEST_DB_NAME` (default `wfs_test`) and `WFS_TEST_REDIS_URL` (default `redis://127.0.0.1:6379/9`) are the
run's base. A plain `pytest` uses them as they are. Under pytest-xdist each worker process (`gw0`, `gw1`, ...,
named in `PYTEST_XDIST_WORKER`) gets its own: the database `<base>_gw<i>` and the Redis database base + i, so
workers never empty, flush or read each other's data, and two runs with different bases never meet. Redis has
16 databases (0-15) unless configured otherwise: base + workers - 1 must stay within them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

DEFAULT_DB_NAME = "wfs_test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/9"
REDIS_DATABASES = 16
"""Redis's default `databases` setting: indexes 0-15."""


@dataclass(frozen=True)
class Resources:
    db_name: str
    redis_url: str


def worker_index(worker: str | None) -> int | None:
    """The number in an xdist worker id (`gw3` -> 3); None outside xdist (no id, or `master`)."""
    if not worker or worker == "master":
        return None
    found = re.fullmatch(r"gw(\d+)", worker)
    if found is None:
        raise ValueError(f"PYTEST_XDIST_WORKER={worker!r} is not an xdist worker id like gw0")
    return int(found.group(1))


def redis_database(url: str) -> int:
    """The database number in a Redis URL's path (no path means database 0)."""
    path = urlsplit(url).path.strip("/")
    if path and not path.isdigit():
        raise ValueError(f"WFS_TEST_REDIS_URL={url!r}: the path must be a Redis database number, like /9")
    return int(path or 0)


def on_redis_database(url: str, index: int) -> str:
    """`url` with the database `index` instead of its own."""
    if not 0 <= index < REDIS_DATABASES:
        raise ValueError(
            f"WFS_TEST_REDIS_URL={url!r} needs Redis database {index} for this worker, but Redis has "
            f"{REDIS_DATABASES} (0-{REDIS_DATABASES - 1}): choose a lower base or fewer workers (-n)"
        )
    return urlunsplit(urlsplit(url)._replace(path=f"/{index}"))


def resources_for(env: Mapping[str, str]) -> Resources:
    """The database name and Redis URL for this process, from its environment."""
    db_name = env.get("WFS_TEST_DB_NAME", DEFAULT_DB_NAME)
    redis_url = env.get("WFS_TEST_REDIS_URL", DEFAULT_REDIS_URL)
    index = worker_index(env.get("PYTEST_XDIST_WORKER"))
    if index is None:
        return Resources(db_name, redis_url)
    return Resources(f"{db_name}_gw{index}", on_redis_database(redis_url, redis_database(redis_url) + index))


def check_room(env: Mapping[str, str], workers: int) -> None:
    """Refuse, before any worker starts, a run whose last worker would need a Redis database past the last."""
    url = env.get("WFS_TEST_REDIS_URL", DEFAULT_REDIS_URL)
    on_redis_database(url, redis_database(url) + workers - 1)
