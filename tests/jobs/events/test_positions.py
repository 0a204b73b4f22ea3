"""Event ids name places in a job's event order: a status change's id is its job_event id, a step's
place after it `<slot>.<offset>`; an id the service did not give names no place."""

from __future__ import annotations

import pytest

from workflow_service.jobs.events.positions import SLOT, event_id, of_status_change, parse


def test_ids_name_places_and_read_back() -> None:
    assert event_id(of_status_change(41)) == "41"
    assert event_id(of_status_change(41) + 3) == "41.3"
    for place in (of_status_change(1), of_status_change(41) + 1, of_status_change(2**40) + SLOT - 1):
        assert parse(event_id(place)) == place
    assert parse(" 41.3 ") == of_status_change(41) + 3
    assert of_status_change(41) < parse("41.1") < parse("41.2") < of_status_change(42)  # type: ignore[operator]


@pytest.mark.parametrize("given", [None, "", "abc", "-1", "1.2.3", "41.", f"41.{SLOT}", "1" * 16, "\uff14\uff12"])
def test_an_id_the_service_did_not_give_names_no_place(given: str | None) -> None:
    assert parse(given) is None
