from __future__ import annotations

import time

from workflow_service.core.ids import parse_uuid, uuid7


def test_ids_made_in_a_tight_loop_are_strictly_increasing() -> None:
    ids = [uuid7() for _ in range(20_000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


def test_ids_are_version_7_with_the_current_time() -> None:
    before = time.time_ns() // 1_000_000
    value = uuid7()
    assert value.version == 7
    assert value.variant == "specified in RFC 4122"
    assert abs((value.int >> 80) - before) < 1000


def test_parse_uuid_accepts_uuids_and_refuses_slugs() -> None:
    value = uuid7()
    assert parse_uuid(str(value)) == value
    assert parse_uuid("hello") is None
