"""The step-record columns are defined once (engine/executor.STEP_RECORD_COLUMNS): the record's row, the
job_step table and the PostgreSQL finish statement (built from it) agree with that list; the table and the
statement add the record's places among its job's events (jobs/repository/events.PLACE_COLUMNS)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from workflow_service.engine.executor import STEP_RECORD_COLUMNS, StepRecord
from workflow_service.jobs.repository import pg, step_t
from workflow_service.jobs.repository.events import PLACE_COLUMNS


def _names(sql_list: str) -> list[str]:
    return [part.split()[0] for part in sql_list.replace("\n", " ").split(",")]


def test_a_record_fills_exactly_the_step_record_columns() -> None:
    record = StepRecord(
        step_id="a", position=0, type="transform", status="completed", attempt=1, started_at=datetime.now(UTC)
    )
    assert tuple(record.as_row()) == STEP_RECORD_COLUMNS


def test_the_job_step_table_has_the_step_record_columns_and_its_keys() -> None:
    assert sorted(step_t.c.keys()) == sorted(["id", "job_id", *STEP_RECORD_COLUMNS, *PLACE_COLUMNS])


def test_the_postgresql_finish_statement_lists_the_same_columns() -> None:
    recordset = re.search(r"jsonb_to_recordset\(\$13::jsonb\) AS \((.*?)\)\) WITH ORDINALITY", pg._FINISH, re.S)
    insert = re.search(r"INSERT INTO job_step \((.*?)\)", pg._FINISH, re.S)
    updated = re.findall(r"(\w+) = EXCLUDED\.(\w+)", pg._FINISH)
    assert recordset is not None
    assert insert is not None
    assert _names(recordset.group(1)) == list(STEP_RECORD_COLUMNS)
    assert _names(insert.group(1)) == ["job_id", *STEP_RECORD_COLUMNS, *PLACE_COLUMNS]
    assert all(a == b for a, b in updated)
    assert sorted(a for a, _ in updated) == sorted([*(c for c in STEP_RECORD_COLUMNS if c != "step_id"), "end_seq"])
    assert "start_seq = CASE" in pg._FINISH  # kept when the record was running in the same attempt
