"""The dashboard's browser tests: one headless Chromium per test process (`browser`), a fresh context per test
(`page` at 1280x900, `phone` at 390x844 with touch), and a `watch` on their pages that fails the test on any console
error, uncaught page error, failed request or response of 400 or more it did not `expect()`. The services are the
client tests' (`distributed`, `embedded`, and `service` for each in turn). tests/ui/browser.py says why a test that
uses the browser runs in a thread of its own; it is still written as a plain function."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from contextlib import ExitStack

import pytest
from playwright.sync_api import Browser, Page

from tests.client.conftest import distributed, embedded, emptied, service
from tests.ui.browser import DESKTOP, PHONE, BrowserThread, Screen, chromium, close_page, in_browser_thread, open_page
from tests.ui.watch import Watch

__all__ = ["distributed", "embedded", "emptied", "service"]  # the services as real processes (tests/client)


@pytest.fixture(scope="session")
def browser_thread() -> Iterator[BrowserThread]:
    """The thread that makes every Playwright call of this process."""
    thread = BrowserThread()
    yield thread
    thread.close()


@pytest.fixture(scope="session")
def browser(browser_thread: BrowserThread) -> Iterator[Browser]:
    """Headless Chromium, one per test process (per xdist worker), closed at the end of the session. A test that
    uses it runs in the browser's thread."""
    stack = ExitStack()
    yield browser_thread.run(stack.enter_context, chromium())
    browser_thread.run(stack.close)


@pytest.fixture
def watch() -> Iterator[Watch]:
    """The events of the test's `page` and `phone`. The test fails when it ends with one it did not `expect()`, or
    an expectation that nothing met; one that comes after, while the pages close, fails its teardown."""
    seen = Watch()
    yield seen
    if seen.checked:
        seen.verify()


def _opened(browser_thread: BrowserThread, browser: Browser, watch: Watch, screen: Screen) -> Iterator[Page]:
    page = browser_thread.run(open_page, browser, watch, screen)
    yield page
    browser_thread.run(watch.settle)
    browser_thread.run(close_page, page, watch)


@pytest.fixture
def page(browser_thread: BrowserThread, browser: Browser, watch: Watch) -> Iterator[Page]:
    """A page in a fresh browser context (its own cookies), 1280x900, watched by `watch`."""
    yield from _opened(browser_thread, browser, watch, DESKTOP)


@pytest.fixture
def phone(browser_thread: BrowserThread, browser: Browser, watch: Watch) -> Iterator[Page]:
    """A page in a fresh phone context: 390x844, mobile (the page's meta viewport applies), touch; watched."""
    yield from _opened(browser_thread, browser, watch, PHONE)


@pytest.hookimpl(wrapper=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> Generator[None, object, object]:
    """A test that uses the browser runs in the browser's thread, and its watch is verified when it returns."""
    if "browser" not in pyfuncitem.fixturenames:
        return (yield)
    __tracebackhide__ = True
    test = pyfuncitem.obj
    thread, watch = pyfuncitem.funcargs["browser_thread"], pyfuncitem.funcargs.get("watch")
    assert isinstance(thread, BrowserThread)
    assert watch is None or isinstance(watch, Watch)
    pyfuncitem.obj = in_browser_thread(test, thread, watch)
    try:
        return (yield)
    finally:
        pyfuncitem.obj = test
