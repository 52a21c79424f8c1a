"""Browser fixtures: the example store served over real HTTP, driven by Chromium.

The store is seeded into a temporary SQLite file and served by werkzeug on a free
loopback port in a background thread, once for this package. Package scope, not
session: Playwright's sync API runs an event loop that must be stopped before any other
test (``tests/test_desk.py``) starts its own. Each test gets a fresh browser
context (no cookies), so logging in is part of what a test does.

Test modules mark themselves ``pytestmark = pytest.mark.browser``. This folder is a
package (``browser``) so its conftest never shadows ``tests/conftest.py`` as ``conftest``.

Without Playwright or Chromium these tests skip, unless ``SUPPORTDESK_REQUIRE_BROWSER=1``
(CI), where a missing browser is a failure.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import threading
import typing as t

import pytest
from flask import Flask
from werkzeug.serving import WSGIRequestHandler
from werkzeug.serving import make_server

CHROMIUM = os.environ.get("SUPPORTDESK_CHROMIUM", "/usr/bin/chromium")
REQUIRED = os.environ.get("SUPPORTDESK_REQUIRE_BROWSER") == "1"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _unavailable() -> str | None:
    """Why the browser cannot run here, or ``None`` when it can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed"
    if not (os.access(CHROMIUM, os.X_OK) or shutil.which(CHROMIUM)):
        return f"no Chromium at {CHROMIUM}"
    try:
        import example_store  # noqa: F401
    except ImportError:
        return "the example store is not installed (pip install ./example_store)"
    return None


class _QuietHandler(WSGIRequestHandler):
    """No access log on the test output (errors still propagate to the page)."""

    def log_request(self, *args: t.Any, **kwargs: t.Any) -> None:
        pass


@dataclasses.dataclass
class LiveStore:
    """The running store: its app (for direct service calls) and base URL."""

    app: Flask
    url: str

    def __call__(self, path: str) -> str:
        return self.url + path


@pytest.fixture(scope="package")
def live_store(tmp_path_factory: pytest.TempPathFactory) -> t.Iterator[LiveStore]:
    reason = _unavailable()
    if reason:
        if REQUIRED:
            pytest.fail(f"SUPPORTDESK_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    from example_store import create_app
    from example_store.cli import seed_demo

    folder = tmp_path_factory.mktemp("live_store")
    app = create_app(
        {
            "SECRET_KEY": "browser-tests",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'store.sqlite'}",
            "SUPPORTDESK_ATTACHMENT_FOLDER": str(folder / "attachments"),
            "SUPPORTDESK_LOAD_ENTRY_POINTS": False,
            "STORE_PASSWORD_METHOD": "pbkdf2:sha256:1000",
            # Every page of every test opens its live connection from 127.0.0.1: the
            # per-client connect limit (tested on its own) is for many clients' traffic.
            "SUPPORTDESK_SOCKET_CONNECT_RATE_LIMIT": "10000 per minute",
        },
        instance_path=str(folder / "instance"),
    )
    seed_demo(app)
    with serve(app) as live:
        yield live


@contextlib.contextmanager
def serve(app: Flask) -> t.Iterator[LiveStore]:
    """Serve the seeded ``app`` on a free loopback port until the block ends."""
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="live-store", daemon=True)
    thread.start()
    try:
        yield LiveStore(app, f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        from example_store.models import db

        with app.app_context():
            db.engine.dispose()


@pytest.fixture(scope="package")
def browser(live_store: LiveStore) -> t.Iterator[t.Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: t.Any) -> t.Iterator[t.Any]:
    """A page in a fresh context (no cookies), failing on any JavaScript dialog."""
    context = browser.new_context(accept_downloads=True)
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


def log_in(page: t.Any, live_store: LiveStore, email: str) -> None:
    """Log in through the store's login form, as a person would."""
    from example_store.cli import DEMO_PASSWORD
    from example_store.ratelimit import login_limiter

    # The login limiter is tested on its own; here the many set-up logins of one package
    # of tests (several per account within a minute) must not run into it.
    with live_store.app.app_context():
        login_limiter().limiter.storage.reset()
    page.goto(live_store("/login"))
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("button", name="Log out").wait_for()


def log_out(page: t.Any) -> None:
    page.get_by_role("button", name="Log out").click()
    page.get_by_role("link", name="Log in").wait_for()


def store_nav(page: t.Any) -> t.Any:
    """The store's own navigation (the desk pages have a navigation of their own)."""
    return page.get_by_role("navigation", name="Store")


def record_csp_violations(page: t.Any) -> list[str]:
    """A list that fills with Chromium's reports of what the page's CSP blocked."""
    reports: list[str] = []

    def on_console(message: t.Any) -> None:
        if "Content Security Policy" in message.text:
            reports.append(f"{page.url}: {message.text}")

    page.on("console", on_console)
    return reports
