"""A job's progress on stderr while `wfs` waits: a live display on a terminal (a status line, and a line per
step with a mark and its duration), plain lines elsewhere (one per event, for CI logs), or nothing (`-q`)."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.spinner import Spinner
from rich.text import Text

from wfs_client.client import JobEvent
from wfs_client.follow import ENDED


class Display(Protocol):
    def __enter__(self) -> Display: ...

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    def event(self, event: JobEvent) -> None:
        """Show one event of the job's stream."""

    def finished(self, job: dict[str, Any]) -> None:
        """Show the job's end."""


def _ended_line(job: dict[str, Any]) -> str:
    duration = job.get("duration")
    took = f" in {duration:.2f} s" if isinstance(duration, int | float) else ""
    return f"job {job['id']} {job['status']}{took}"


class Quiet:
    """Shows nothing (`-q`)."""

    def __enter__(self) -> Quiet:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        pass

    def event(self, event: JobEvent) -> None:
        pass

    def finished(self, job: dict[str, Any]) -> None:
        pass


class PlainLines(Quiet):
    """One line per event: `job <id> pending`, `step compose started`, `step compose completed`, and at the end
    `job <id> completed in 0.21 s`."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id

    def _say(self, line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    def event(self, event: JobEvent) -> None:
        data = event.data
        attempt = data.get("attempt")
        again = f" (attempt {attempt})" if isinstance(attempt, int) and attempt > 1 else ""
        if event.event == "status" and data.get("to_status") not in ENDED:
            self._say(f"job {self.job_id} {data.get('to_status')}")
        elif event.event == "step.started":
            self._say(f"step {data.get('step')} started{again}")
        elif event.event == "step.ended":
            self._say(f"step {data.get('step')} {data.get('status')}{again}")

    def finished(self, job: dict[str, Any]) -> None:
        self._say(_ended_line(job))


def _moment(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


MARKS = {"completed": ("✓", "green"), "failed": ("✗", "red"), "skipped": ("-", "dim"), "canceled": ("⊘", "yellow")}


@dataclass
class _Step:
    name: str
    began: float
    started_at: datetime | None
    status: str | None = None
    took: float | None = None

    def render(self) -> RenderableType:
        if self.status is None:
            return Spinner("dots", text=Text(f"{self.name}  {time.monotonic() - self.began:.1f} s"))
        mark, style = MARKS.get(self.status, ("?", "yellow"))
        took = f"  {self.took:.2f} s" if self.took is not None else ""
        return Text.assemble((mark, style), f" {self.name}{took}", (f"  {self.status}", "dim"))


class LiveLines(Quiet):
    """A live display on a terminal: the job's status and elapsed time, then each step with a mark (a spinner
    while it runs) and its duration."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        self.status = "submitted"
        self.began = time.monotonic()
        self.steps: dict[str, _Step] = {}
        self.ended: dict[str, Any] | None = None
        self.live = Live(self, console=Console(stderr=True), refresh_per_second=8, transient=False)

    def __enter__(self) -> LiveLines:
        self.live.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.live.stop()

    def __rich__(self) -> RenderableType:
        if self.ended is None:
            head: RenderableType = Spinner(
                "dots", text=Text(f"job {self.job_id} {self.status}  {time.monotonic() - self.began:.1f} s")
            )
        else:
            mark, style = MARKS.get(self.ended["status"], ("?", "yellow"))
            head = Text.assemble((mark, style), " ", (_ended_line(self.ended), "bold"))
        return Group(head, *(step.render() for step in self.steps.values()))

    def event(self, event: JobEvent) -> None:
        data = event.data
        name = str(data.get("step"))
        if event.event == "status":
            self.status = str(data.get("to_status"))
        elif event.event == "step.started":
            self.steps[name] = _Step(name, time.monotonic(), _moment(data.get("at")))
        elif event.event == "step.ended":
            step = self.steps.setdefault(name, _Step(name, time.monotonic(), None))
            step.status = str(data.get("status"))
            ended_at = _moment(data.get("at"))
            if step.started_at is not None and ended_at is not None:
                step.took = (ended_at - step.started_at).total_seconds()
            elif step.status != "skipped":
                step.took = time.monotonic() - step.began
        self.live.refresh()

    def finished(self, job: dict[str, Any]) -> None:
        self.ended = job
        self.live.refresh()


def display_for(job_id: str, quiet: bool) -> Display:
    """Nothing with `quiet`; the live display when stderr is a terminal that can show one; else plain lines."""
    if quiet:
        return Quiet()
    console = Console(stderr=True)
    if console.is_terminal and not console.is_dumb_terminal:
        return LiveLines(job_id)
    return PlainLines(job_id)
