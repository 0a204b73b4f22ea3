"""Each xdist worker gets its own PostgreSQL and Redis database, derived from the run's base; a plain run uses
the base as it is."""

from __future__ import annotations

import pytest

from tests.isolation import (
    DEFAULT_DB_NAME,
    DEFAULT_REDIS_URL,
    Resources,
    check_room,
    on_redis_database,
    redis_database,
    resources_for,
)


def test_without_xdist_the_base_is_used_as_it_is() -> None:
    assert resources_for({}) == Resources(DEFAULT_DB_NAME, DEFAULT_REDIS_URL)
    env = {"WFS_TEST_DB_NAME": "wfs_test_mine", "WFS_TEST_REDIS_URL": "redis://127.0.0.1:6379/4"}
    assert resources_for(env) == Resources("wfs_test_mine", "redis://127.0.0.1:6379/4")
    assert resources_for(env | {"PYTEST_XDIST_WORKER": "master"}) == resources_for(env)


@pytest.mark.parametrize(
    ("worker", "expected"),
    [
        ("gw0", Resources("wfs_test_mine_gw0", "redis://127.0.0.1:6379/4")),
        ("gw1", Resources("wfs_test_mine_gw1", "redis://127.0.0.1:6379/5")),
        ("gw3", Resources("wfs_test_mine_gw3", "redis://127.0.0.1:6379/7")),
    ],
)
def test_each_worker_gets_its_own_databases_above_the_base(worker: str, expected: Resources) -> None:
    env = {"WFS_TEST_DB_NAME": "wfs_test_mine", "WFS_TEST_REDIS_URL": "redis://127.0.0.1:6379/4"}
    assert resources_for(env | {"PYTEST_XDIST_WORKER": worker}) == expected


def test_two_runs_with_different_bases_do_not_share_a_database() -> None:
    mine = {"WFS_TEST_DB_NAME": "wfs_a", "WFS_TEST_REDIS_URL": "redis://127.0.0.1:6379/0"}
    theirs = {"WFS_TEST_DB_NAME": "wfs_b", "WFS_TEST_REDIS_URL": "redis://127.0.0.1:6379/4"}
    workers = [f"gw{i}" for i in range(4)]
    ours = {resources_for(mine | {"PYTEST_XDIST_WORKER": w}) for w in workers}
    other = {resources_for(theirs | {"PYTEST_XDIST_WORKER": w}) for w in workers}
    assert len(ours) == len(other) == 4
    assert not {r.db_name for r in ours} & {r.db_name for r in other}
    assert not {r.redis_url for r in ours} & {r.redis_url for r in other}


def test_the_redis_url_keeps_everything_but_the_database() -> None:
    url = "redis://:secret@10.0.0.5:6380/2?protocol=3"
    assert redis_database(url) == 2
    assert on_redis_database(url, 5) == "redis://:secret@10.0.0.5:6380/5?protocol=3"
    assert redis_database("redis://127.0.0.1:6379") == 0  # no path: database 0
    assert on_redis_database("redis://127.0.0.1:6379", 2) == "redis://127.0.0.1:6379/2"


def test_a_worker_past_the_last_redis_database_is_refused_with_the_fix() -> None:
    at_the_end = {"WFS_TEST_REDIS_URL": "redis://127.0.0.1:6379/12", "PYTEST_XDIST_WORKER": "gw3"}
    assert resources_for(at_the_end).redis_url == "redis://127.0.0.1:6379/15"
    with pytest.raises(ValueError, match=r"needs Redis database 16 .*but Redis has 16 \(0-15\).*fewer workers"):
        resources_for({"WFS_TEST_REDIS_URL": "redis://127.0.0.1:6379/13", "PYTEST_XDIST_WORKER": "gw3"})
    check_room(at_the_end, 4)  # the run that starts gw0-gw3 on 12-15 may start
    with pytest.raises(ValueError, match=r"needs Redis database 16 "):
        check_room(at_the_end, 5)  # ... one with a fifth worker is refused before any starts


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"WFS_TEST_REDIS_URL": "redis://127.0.0.1:6379/nine", "PYTEST_XDIST_WORKER": "gw1"}, "a Redis database"),
        ({"PYTEST_XDIST_WORKER": "worker-1"}, "not an xdist worker id"),
    ],
)
def test_a_malformed_setting_is_refused_naming_it(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        resources_for(env)
