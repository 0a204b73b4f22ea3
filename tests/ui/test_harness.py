"""The browser harness catches what it must: pages on a local HTTP server that log a console error, throw, fetch a
URL that answers 404 or a port nothing listens on are each recorded by a Watch, and a clean page is not;
`expect()` excuses exactly what it names, and an expectation nothing met fails. The watch logic is exercised by
calling it, not by making tests fail through the fixtures."""

from __future__ import annotations

import asyncio
import struct
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page

from tests.servers import LocalHTTPServer, QuietHandler, free_port
from tests.ui.browser import (
    SCREENSHOTS,
    BrowserThread,
    chromium_path,
    close_page,
    in_browser_thread,
    open_page,
    screenshot,
    sign_in,
)
from tests.ui.watch import Event, Watch

HEAD = '<!doctype html><meta charset="utf-8"><link rel="icon" href="/favicon.svg"><title>{title}</title>'
READY = "done.dataset.ready = 1"
"""What each page does last, so that a test knows the page has done its work: the `done` element gets `data-ready`
(a script after the synchronous ones, the end of a fetch)."""
PAGES = {
    "/clean": f"""<p id="done">Clean</p>
        <script>console.log("fine"); console.warn("a warning")</script><script>{READY}</script>""",
    "/console": f'<p id="done"></p><script>console.error("boom from the console")</script><script>{READY}</script>',
    "/throw": f'<p id="done"></p><script>throw new Error("uncaught boom")</script><script>{READY}</script>',
    "/missing": f"""<p id="done"></p><script>
        fetch("/no-such-thing").then(r => done.textContent = r.status).finally(() => {READY})
    </script>""",
    "/refused": f"""<p id="done"></p><script>
        fetch("CLOSED/x").catch(e => done.textContent = e.name).finally(() => {READY})
    </script>""",
    "/aborted": f"""<p id="done"></p><script>
        const control = new AbortController();
        fetch("/slow", {{signal: control.signal}}).catch(e => done.textContent = e.name).finally(() => {READY});
        setTimeout(() => control.abort(), 300);
    </script>""",
    "/tall": f"""<div id="done" style="height: 2400px; background: linear-gradient(#fff, #36c)">Tall</div>
        <script>{READY}</script>""",
    "/popup": """<p id="done">Opens</p><button onclick="window.open('/console')">Open</button>""",
    "/narrow": '<meta name="viewport" content="width=device-width"><p id="done">Narrow</p>',
    "/ui/sign-in": """<form method="post"><p id="done">MESSAGE</p>
        <input name="token" type="password" aria-label="Token"><button>Sign in</button></form>""",
    "/ui/": '<p id="done">Signed in</p>',
}
"""Each test page's body: CLOSED stands for the closed port's URL, MESSAGE for the sign-in form's message."""
FAVICON = b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1 1"><rect width="1" height="1"/></svg>'
GOOD_TOKEN = "the-right-token"


class Site:
    """The test pages on 127.0.0.1, and a port on which nothing listens."""

    def __init__(self) -> None:
        closed = f"http://127.0.0.1:{free_port()}"
        site = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                site.answer(self, self.path, closed)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                token = self.rfile.read(length).decode().removeprefix("token=")
                if token == GOOD_TOKEN:
                    self.send_response(303)
                    self.send_header("Location", "/ui/")
                    self.end_headers()
                else:
                    site.answer(self, self.path, closed, message="That token is not valid.")

        self.server = LocalHTTPServer(Handler, quiet=(ConnectionError,))
        self.url = self.server.url
        self.closed = closed

    def answer(self, handler: QuietHandler, path: str, closed: str, message: str = "Sign in with a token.") -> None:
        if path == "/favicon.svg":
            handler.send_response(200)
            handler.send_header("Content-Type", "image/svg+xml")
            payload = FAVICON
        elif path == "/slow":
            threading.Event().wait(2)
            handler.send_response(200)
            handler.send_header("Content-Type", "text/plain")
            payload = b"late"
        elif path in PAGES:
            handler.send_response(200)
            handler.send_header("Content-Type", "text/html; charset=utf-8")
            body = PAGES[path].replace("CLOSED", closed).replace("MESSAGE", message)
            payload = (HEAD.format(title=path) + body).encode()
        else:
            handler.send_response(404)
            handler.send_header("Content-Type", "text/plain")
            payload = b"not found"
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    serving = Site()
    yield serving
    serving.server.stop()


def visit(browser: Browser, url: str) -> Watch:
    """Open `url` in a fresh context with a Watch of its own (not the test's), wait until the page has done its
    work, and return the Watch."""
    watch = Watch()
    page = open_page(browser, watch)
    try:
        page.goto(url)
        page.wait_for_selector("#done[data-ready]", state="attached")
        watch.settle()
    finally:
        close_page(page, watch)
    return watch


def test_a_clean_page_records_nothing(browser: Browser, site: Site) -> None:
    watch = visit(browser, f"{site.url}/clean")

    assert watch.events == []
    watch.verify()


def test_a_console_error_is_recorded_and_a_warning_is_not(browser: Browser, site: Site) -> None:
    watch = visit(browser, f"{site.url}/console")

    assert [(e.kind, e.url, e.text) for e in watch.events] == [
        ("console", f"{site.url}/console", "boom from the console")
    ]


def test_an_uncaught_error_is_recorded(browser: Browser, site: Site) -> None:
    watch = visit(browser, f"{site.url}/throw")

    assert watch.events == [Event("pageerror", f"{site.url}/throw", "Error: uncaught boom")]


def test_a_response_of_404_is_recorded_with_chromiums_console_report(browser: Browser, site: Site) -> None:
    watch = visit(browser, f"{site.url}/missing")

    assert sorted((e.kind, e.status, e.url) for e in watch.events) == [
        ("console", 404, f"{site.url}/no-such-thing"),
        ("response", 404, f"{site.url}/no-such-thing"),
    ]
    assert [e.text for e in watch.events if e.kind == "response"] == ["GET Not Found"]


def test_a_request_to_a_closed_port_is_recorded_as_failed(browser: Browser, site: Site) -> None:
    watch = visit(browser, f"{site.url}/refused")

    assert sorted((e.kind, e.url, e.text) for e in watch.events) == [
        ("console", f"{site.closed}/x", "Failed to load resource: net::ERR_CONNECTION_REFUSED"),
        ("requestfailed", f"{site.closed}/x", "net::ERR_CONNECTION_REFUSED"),
    ]


def test_a_request_the_page_aborts_is_not_recorded(browser: Browser, site: Site) -> None:
    watch = Watch()
    page = open_page(browser, watch)
    try:
        page.goto(f"{site.url}/aborted")
        page.wait_for_selector("#done[data-ready]", state="attached")
        assert page.inner_text("#done") == "AbortError"
        watch.settle()
    finally:
        close_page(page, watch)

    assert watch.events == []


def test_the_pages_a_page_opens_are_watched_too(browser: Browser, site: Site) -> None:
    watch = Watch()
    page = open_page(browser, watch)
    try:
        page.goto(f"{site.url}/popup")
        with page.context.expect_page() as opened:
            page.get_by_role("button", name="Open").click()
        opened.value.wait_for_selector("#done[data-ready]", state="attached")
        watch.settle()
    finally:
        close_page(page, watch)

    assert [(e.kind, e.url, e.text) for e in watch.events] == [
        ("console", f"{site.url}/console", "boom from the console")
    ]


def test_expect_excuses_exactly_what_it_names(browser: Browser, site: Site) -> None:
    seen = visit(browser, f"{site.url}/missing").events
    missing = f"{site.url}/no-such-thing"

    both = Watch(events=list(seen))
    both.expect(status=404, path="/no-such-thing")
    assert both.unexpected() == []
    assert both.unmet() == []
    both.verify()

    by_glob = Watch(events=list(seen))
    by_glob.expect(status=404, path="/no-such-*")
    by_glob.verify()

    only_the_response = Watch(events=list(seen))
    only_the_response.expect(kind="response", status=404)
    assert [(e.kind, e.url) for e in only_the_response.unexpected()] == [("console", missing)]
    with pytest.raises(AssertionError, match=r"unexpected console 404 .*/no-such-thing: Failed to load resource"):
        only_the_response.verify()

    another_status = Watch(events=list(seen))
    another_status.expect(status=409, path="/no-such-thing")
    assert len(another_status.unexpected()) == 2
    with pytest.raises(AssertionError, match=r"expected, never happened: status=409, path='/no-such-thing'"):
        another_status.verify()


def test_an_expectation_nothing_met_fails() -> None:
    watch = Watch()
    watch.expect(status=409, path="/ui/jobs/*")

    with pytest.raises(AssertionError) as failed:
        watch.verify()

    assert str(failed.value) == "the browser saw:\n  expected, never happened: status=409, path='/ui/jobs/*'"
    assert not watch.checked


def test_an_expectation_matches_on_every_field_it_names() -> None:
    event = Event("console", "http://127.0.0.1:1/ui/jobs/j1?x=1", "Failed to load resource: ... 409", 409)
    watch = Watch(events=[event])
    for text, excused in (("409", True), ("410", False)):
        watch.expectations.clear()
        watch.expect(kind="console", status=409, path="/ui/jobs/j1", text=text)
        assert (watch.unexpected() == []) is excused


def test_expect_without_a_field_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one of status, path, kind, text"):
        Watch().expect()


def test_verify_lists_every_unexpected_event_and_passes_once_excused() -> None:
    watch = Watch(events=[Event("pageerror", "http://h/ui", "Error: a"), Event("response", "http://h/x", "GET", 500)])

    with pytest.raises(AssertionError) as failed:
        watch.verify()
    assert str(failed.value).splitlines() == [
        "the browser saw:",
        "  unexpected pageerror http://h/ui: Error: a",
        "  unexpected response 500 http://h/x: GET",
    ]

    watch.expect(kind="pageerror")
    watch.expect(status=500)
    watch.verify()
    assert watch.checked
    watch.record(Event("console", "http://h/ui", "later"))
    with pytest.raises(AssertionError, match="unexpected console http://h/ui: later"):
        watch.verify()


def test_the_page_fixture_is_a_watched_desktop_context(page: Page, watch: Watch, site: Site) -> None:
    watch.expect(status=404, path="/no-such-thing")
    page.goto(f"{site.url}/missing")
    page.wait_for_selector("#done[data-ready]", state="attached")

    assert page.inner_text("#done") == "404"
    assert page.viewport_size == {"width": 1280, "height": 900}
    assert page.evaluate("[innerWidth, innerHeight, navigator.maxTouchPoints]") == [1280, 900, 0]
    assert len(watch.events) == 2  # verified, and excused, when the test returns


def test_the_phone_fixture_is_a_mobile_touch_context(phone: Page, site: Site) -> None:
    phone.goto(f"{site.url}/narrow")
    assert phone.evaluate("[innerWidth, innerHeight, navigator.maxTouchPoints > 0]") == [390, 844, True]
    phone.goto(f"{site.url}/clean")  # no meta viewport: a mobile browser lays it out as a desktop page
    assert phone.evaluate("innerWidth") == 980


def test_page_and_phone_are_separate_contexts_with_one_watch(page: Page, phone: Page, watch: Watch, site: Site) -> None:
    page.goto(f"{site.url}/clean")
    page.context.add_cookies([{"name": "seen", "value": "1", "url": site.url}])

    assert phone.context.cookies() == []
    phone.goto(f"{site.url}/console")
    phone.wait_for_selector("#done[data-ready]", state="attached")
    watch.expect(text="boom from the console")


def test_a_test_that_uses_the_browser_runs_in_its_thread(browser_thread: BrowserThread, browser: Browser) -> None:
    assert threading.get_ident() == browser_thread.ident
    assert threading.current_thread().name.startswith("browser")


def test_the_browser_thread_runs_a_call_from_itself_directly(browser_thread: BrowserThread) -> None:
    assert threading.get_ident() != browser_thread.ident
    assert browser_thread.run(lambda: browser_thread.run(threading.get_ident)) == browser_thread.ident


async def test_async_tests_still_run_after_browser_tests(browser_thread: BrowserThread) -> None:
    """The browser's loop is its thread's: this process's async fixtures and tests run as ever."""
    assert threading.get_ident() != browser_thread.ident
    assert await asyncio.to_thread(threading.get_ident) != browser_thread.ident


def test_an_async_test_cannot_use_the_browser(browser_thread: BrowserThread) -> None:
    async def test_async() -> None:
        return None

    with pytest.raises(TypeError, match=r"test_async uses the browser: .* plain function, not async"):
        in_browser_thread(test_async, browser_thread, None)


def test_the_watch_is_verified_when_a_browser_test_returns(browser_thread: BrowserThread) -> None:
    watch = Watch()

    def test_sees_an_error() -> None:
        watch.record(Event("pageerror", "http://h/ui", "Error: late"))

    with pytest.raises(AssertionError, match="unexpected pageerror http://h/ui: Error: late"):
        in_browser_thread(test_sees_an_error, browser_thread, watch)()


def test_a_failing_browser_test_shows_what_the_watch_saw(browser_thread: BrowserThread) -> None:
    watch = Watch()
    ran_in: list[int] = []

    def test_fails() -> None:
        ran_in.append(threading.get_ident())
        watch.record(Event("console", "http://h/ui", "TypeError: x is undefined"))
        raise AssertionError("no such element")

    with pytest.raises(AssertionError, match="no such element") as failed:
        in_browser_thread(test_fails, browser_thread, watch)()

    assert failed.value.__notes__ == ["the browser saw:\nconsole http://h/ui: TypeError: x is undefined"]
    assert ran_in == [browser_thread.ident]


def test_chromium_is_found_on_the_path_or_where_debian_installs_it(tmp_path: Path) -> None:
    assert chromium_path().endswith("chromium")
    executable = tmp_path / "bin" / "chromium"
    executable.parent.mkdir()
    executable.write_text("#!/bin/sh\n")
    executable.chmod(0o755)

    assert chromium_path(search=str(executable.parent)) == str(executable)
    assert chromium_path(search=str(tmp_path), installed=executable) == str(executable)
    with pytest.raises(FileNotFoundError, match="`make browser` installs it"):
        chromium_path(search=str(tmp_path), installed=tmp_path / "none")


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_screenshot_saves_a_full_page_png_when_asked(
    page: Page, site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    page.goto(f"{site.url}/tall")
    folder = tmp_path / "shots"
    monkeypatch.setenv(SCREENSHOTS, str(folder))

    saved = screenshot(page, "tall-page")

    assert saved == folder / "tall-page.png"
    assert [p.name for p in folder.iterdir()] == ["tall-page.png"]
    width, height = _png_size(saved)
    assert width == 1280
    assert height > 2400


def test_screenshot_does_nothing_unless_asked(
    page: Page, site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    page.goto(f"{site.url}/clean")
    monkeypatch.delenv(SCREENSHOTS, raising=False)
    monkeypatch.chdir(tmp_path)

    assert screenshot(page, "clean") is None
    assert list(tmp_path.iterdir()) == []


def test_sign_in_fills_the_form_and_waits_to_leave_it(page: Page, site: Site) -> None:
    sign_in(page, site.url, GOOD_TOKEN)

    assert urlsplit(page.url).path == "/ui/"
    assert page.inner_text("#done") == "Signed in"


def test_sign_in_with_a_refused_token_fails_saying_what_the_page_says(page: Page, site: Site) -> None:
    with pytest.raises(
        AssertionError, match=r"still on /ui/sign-in after signing in; the page says:\nThat token is not valid\."
    ):
        sign_in(page, f"{site.url}/", "a-wrong-token", timeout_ms=1000)
