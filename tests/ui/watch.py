"""What went wrong in a browser test's pages without the test looking: console errors, uncaught page errors, failed
requests and responses with a status of 400 or more. A Watch records them from the browser contexts it is attached
to (every page of each, popups included); at the end of the test, anything it recorded that the test did not declare
with `expect()` fails the test, and so does an expectation nothing matched."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Literal
from urllib.parse import urlsplit

from playwright.sync_api import BrowserContext, ConsoleMessage, Error, Request, Response, WebError

Kind = Literal["console", "pageerror", "requestfailed", "response"]

ABORTED = "net::ERR_ABORTED"
"""The failure of a request the page itself dropped: it navigated away while the request was under way, aborted it
(an AbortController), or the response was a download. Nothing failed on the server's side, and whether a request is
still under way when the page moves on is a matter of timing: recording these would make tests flaky."""

_LOAD_FAILED = re.compile(r"^Failed to load resource: the server responded with a status of (\d{3})\b")
"""How Chromium reports a response of 400 or more on the console (at the resource's URL), beside the response."""


@dataclass(frozen=True)
class Event:
    """One thing that went wrong: `url` is the request's for a request or response, the script's or page's for a
    message or an error; `status` is the response's, also for Chromium's console report of it."""

    kind: Kind
    url: str
    text: str
    status: int | None = None

    def __str__(self) -> str:
        status = f" {self.status}" if self.status is not None else ""
        return f"{self.kind}{status} {self.url}: {self.text}"


@dataclass(frozen=True)
class Expectation:
    """What a test declares will go wrong; it covers every event that matches all the fields it names."""

    kind: Kind | None = None
    status: int | None = None
    path: str | None = None
    """The URL's path (no query), exactly or as a glob: `/ui/jobs/*`."""
    text: str | None = None
    """A part of the event's text."""

    def matches(self, event: Event) -> bool:
        return (
            (self.kind is None or event.kind == self.kind)
            and (self.status is None or event.status == self.status)
            and (self.path is None or fnmatchcase(urlsplit(event.url).path, self.path))
            and (self.text is None or self.text in event.text)
        )

    def __str__(self) -> str:
        named = {"kind": self.kind, "status": self.status, "path": self.path, "text": self.text}
        return ", ".join(f"{name}={value!r}" for name, value in named.items() if value is not None)


def console_event(message: ConsoleMessage) -> Event | None:
    """A console message of type error; Chromium's report of a failed load carries the response's status."""
    if message.type != "error":
        return None
    url = str(message.location.get("url") or "")
    found = _LOAD_FAILED.match(message.text)
    return Event("console", url, message.text, int(found.group(1)) if found else None)


def page_error_event(error: Error, page_url: str) -> Event:
    """An error no script caught (an exception, a rejected promise), at the page it happened in."""
    return Event("pageerror", page_url, f"{error.name}: {error.message}")


def failed_request_event(request: Request) -> Event | None:
    """A request that got no response (refused, reset, blocked), unless the page dropped it (ABORTED)."""
    failure = request.failure or "failed"
    if failure == ABORTED:
        return None
    return Event("requestfailed", request.url, failure)


def response_event(response: Response) -> Event | None:
    """A response with a status of 400 or more."""
    if response.status < 400:
        return None
    return Event("response", response.url, f"{response.request.method} {response.status_text}", response.status)


@dataclass
class Watch:
    """The events of the pages it is attached to, and what the test declared it expects among them."""

    events: list[Event] = field(default_factory=list)
    expectations: list[Expectation] = field(default_factory=list)
    checked: bool = False
    """Whether `verify()` passed once (the test's end): a later one reports only what came after."""
    _contexts: list[BrowserContext] = field(default_factory=list)

    def expect(
        self, *, status: int | None = None, path: str | None = None, kind: Kind | None = None, text: str | None = None
    ) -> None:
        """Declare that an event will happen and is no failure: every event matching all the fields named (at least
        one). `expect(status=409, path="/ui/jobs/*")` covers the 409 response and Chromium's console report of it;
        with `kind="response"` only the response."""
        if status is None and path is None and kind is None and text is None:
            raise ValueError("expect() needs at least one of status, path, kind, text: it would excuse everything")
        self.expectations.append(Expectation(kind, status, path, text))

    def record(self, event: Event | None) -> None:
        if event is not None:
            self.events.append(event)

    def unexpected(self) -> list[Event]:
        return [e for e in self.events if not any(x.matches(e) for x in self.expectations)]

    def unmet(self) -> list[Expectation]:
        return [x for x in self.expectations if not any(x.matches(e) for e in self.events)]

    def problems(self) -> list[str]:
        unexpected = [f"unexpected {event}" for event in self.unexpected()]
        return unexpected + [f"expected, never happened: {expectation}" for expectation in self.unmet()]

    def verify(self) -> None:
        """Fail (AssertionError) listing every unexpected event and every unmet expectation."""
        __tracebackhide__ = True
        problems = self.problems()
        if problems:
            raise AssertionError("the browser saw:\n" + "\n".join(f"  {line}" for line in problems))
        self.checked = True

    def describe(self) -> str:
        """Every event recorded, one a line."""
        return "\n".join(str(event) for event in self.events)

    def attach(self, context: BrowserContext) -> None:
        """Record the events of the context's pages, those to come included (a popup, a new tab), from now on; in
        the browser's thread."""
        context.on("console", self._on_console)
        context.on("weberror", self._on_page_error)
        context.on("requestfailed", self._on_request_failed)
        context.on("response", self._on_response)
        self._contexts.append(context)

    def detach(self, context: BrowserContext) -> None:
        """Stop recording the context's events."""
        context.remove_listener("console", self._on_console)
        context.remove_listener("weberror", self._on_page_error)
        context.remove_listener("requestfailed", self._on_request_failed)
        context.remove_listener("response", self._on_response)
        self._contexts.remove(context)

    def settle(self) -> None:
        """Take in the events the browser sent before now: Playwright hands them over only while one of its calls
        waits, so one round trip to the browser per context."""
        for context in self._contexts:
            context.cookies()

    def _on_console(self, message: ConsoleMessage) -> None:
        self.record(console_event(message))

    def _on_page_error(self, error: WebError) -> None:
        self.record(page_error_event(error.error, error.page.url if error.page else ""))

    def _on_request_failed(self, request: Request) -> None:
        self.record(failed_request_event(request))

    def _on_response(self, response: Response) -> None:
        self.record(response_event(response))
