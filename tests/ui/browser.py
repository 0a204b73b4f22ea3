"""The dashboard's browser tests drive Debian's Chromium (`make browser` installs it; Playwright never downloads a
browser here) through Playwright's sync API, in a thread of their own.

Why a thread: between two of its calls, Playwright's sync API leaves its own asyncio loop marked as the thread's
running loop (the loop is suspended mid-run in a greenlet, playwright/_impl/_greenlets.py). pytest-asyncio runs the
suite's async fixtures and tests on its session loop in the main thread, and that loop then refuses to start
("Cannot run the event loop while another loop is running"): with the browser in the main thread, every async
fixture (the distributed service's `emptied`) and every async test that a worker runs after it would fail. So
Playwright is started in the BrowserThread, and every call to it is made there: the fixtures hand their calls to
it, and a test that uses the browser runs its whole body there (tests/ui/conftest.py, `pytest_pyfunc_call`), so
that it is written as a plain function calling the sync API. The main thread never sees Playwright's loop.
"""

from __future__ import annotations

import inspect
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec, TypeVar
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.ui.watch import Watch

P = ParamSpec("P")
T = TypeVar("T")

CHROMIUM = Path("/usr/bin/chromium")
"""Where Debian's package puts the browser, when `chromium` is not on the PATH."""
TIMEOUT_MS = 10_000
"""How long a Playwright call waits (a click for its element, a navigation for its load) before it fails: the pages
come from 127.0.0.1, so the default 30 s only makes a failing test slower."""
SCREENSHOTS = "WFS_SCREENSHOTS"
"""The environment variable naming the directory `screenshot()` saves to (nothing is saved without it)."""


@dataclass(frozen=True)
class Screen:
    """A browser context's screen: its viewport, and whether it is a phone's (mobile meta viewport, touch)."""

    width: int
    height: int
    phone: bool = False


DESKTOP = Screen(1280, 900)
PHONE = Screen(390, 844, phone=True)


class BrowserThread:
    """One thread that makes every Playwright call of the process (the module docstring says why)."""

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="browser")
        self.ident = self._executor.submit(threading.get_ident).result()

    def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Call `fn` in the thread and return what it returns (or raise what it raised); from the thread itself,
        call it directly."""
        __tracebackhide__ = True
        if threading.get_ident() == self.ident:
            return fn(*args, **kwargs)
        future = self._executor.submit(fn, *args, **kwargs)
        error = future.exception()
        if error is not None:
            # Raised from here without the executor's frames, so that a failure reads as the test's own.
            trace = error.__traceback__
            raise error.with_traceback(trace.tb_next if trace else None)
        return future.result()

    def close(self) -> None:
        self._executor.shutdown(wait=True)


def in_browser_thread(test: Callable[..., object], thread: BrowserThread, watch: Watch | None) -> Callable[..., None]:
    """`test` made to run in the browser's thread and then verify `watch`; when `test` fails first, what the watch
    recorded is added to its error (the console error that explains a missing element, say)."""
    if inspect.iscoroutinefunction(inspect.unwrap(test)):  # pytest-asyncio hands its tests over wrapped
        raise TypeError(f"{test.__name__} uses the browser: Playwright's sync API needs a plain function, not async")

    def body(**kwargs: Any) -> None:
        __tracebackhide__ = True
        try:
            test(**kwargs)
        except BaseException as exc:
            if watch is not None and watch.events:
                exc.add_note(f"the browser saw:\n{watch.describe()}")
            raise
        if watch is not None:
            watch.settle()
            watch.verify()

    def run(**kwargs: Any) -> None:
        __tracebackhide__ = True
        thread.run(body, **kwargs)

    return run


def chromium_path(search: str | None = None, installed: Path = CHROMIUM) -> str:
    """The Chromium to drive: `chromium` on the PATH (or on `search`), else Debian's `installed` one."""
    found = shutil.which("chromium", path=search) or (str(installed) if os.access(installed, os.X_OK) else None)
    if found is None:
        raise FileNotFoundError(f"no chromium on the PATH nor at {installed}: `make browser` installs it")
    return found


@contextmanager
def chromium() -> Iterator[Browser]:
    """Playwright and a headless Chromium, for the thread that enters this (and makes every call to it); both are
    stopped when the block ends. `--no-sandbox`: the tests run as root, where Chromium's sandbox does not start."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


def open_page(browser: Browser, watch: Watch, screen: Screen = DESKTOP) -> Page:
    """A page in a fresh context (its own cookies and storage) of `screen`'s size, whose events `watch` records."""
    context = browser.new_context(
        viewport={"width": screen.width, "height": screen.height}, is_mobile=screen.phone, has_touch=screen.phone
    )
    context.set_default_timeout(TIMEOUT_MS)
    watch.attach(context)
    return context.new_page()


def close_page(page: Page, watch: Watch) -> None:
    """Stop recording the events of the page's context (those of closing it are none of the test's), and close it."""
    watch.detach(page.context)
    page.context.close()


def screenshot(page: Page, name: str) -> Path | None:
    """Save a full-page PNG of `page` as `<name>.png` in the directory WFS_SCREENSHOTS names, and return its path;
    without WFS_SCREENSHOTS, do nothing. `make screenshots` sets it to docs/screenshots."""
    folder = os.environ.get(SCREENSHOTS)
    if not folder:
        return None
    path = Path(folder) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=path, full_page=True, animations="disabled", caret="hide")
    return path


def sign_in(page: Page, base_url: str, token: str, timeout_ms: float = TIMEOUT_MS) -> None:
    """Sign in to the dashboard with `token` (a personal access token or the operator's): fill the sign-in form at
    /ui/sign-in, press "Sign in", and wait until the browser is on another page."""
    __tracebackhide__ = True
    page.goto(f"{base_url.rstrip('/')}/ui/sign-in")
    page.fill("input[name=token]", token)
    page.get_by_role("button", name="Sign in", exact=True).click()
    try:
        page.wait_for_url(lambda url: urlsplit(url).path != "/ui/sign-in", timeout=timeout_ms)
    except PlaywrightTimeout:
        raise AssertionError(
            f"still on /ui/sign-in after signing in; the page says:\n{page.inner_text('body')}"
        ) from None


distributed_only = pytest.mark.parametrize("service", ["distributed"], indirect=True)
"""For a browser test whose flow the embedded mode adds nothing to: each file's main flow runs in both modes
(the `service` fixture), the rest against `serve` + `worker` only, which keeps the suite's time down."""
