"""What only a browser can check: hostile markup stays inert (HOSTILE.md C5), the CSP,
the desk's keyboard shortcut, and a phone-sized layout without horizontal scrolling."""

from __future__ import annotations

import re
import typing as t

import pytest

from .conftest import LiveStore
from .conftest import log_in
from .conftest import record_csp_violations

pytestmark = pytest.mark.browser

#: Each payload sets ``window.pwned`` and opens a dialog if it ever runs.
XSS_CORPUS = (
    "<script>window.pwned=1;alert('script')</script>",
    '"><img src=x onerror="window.pwned=1;alert(\'img\')">',
    "<svg onload=\"window.pwned=1;alert('svg')\"></svg>",
    "<details open ontoggle=\"window.pwned=1;alert('details')\">x</details>",
    "<iframe src=\"javascript:window.pwned=1;alert('iframe')\"></iframe>",
    "[click me](javascript:window.pwned=1;alert('md'))",
    "[data](data:text/html,<script>alert('data')</script>)",
    "<a href=\"javascript:window.pwned=1\">link</a> <style>body{display:none}</style>",
)


def hostile_ticket(live_store: LiveStore) -> tuple[str, str]:
    """A ticket of Alice's whose subject and every message carry the corpus.

    Returns its number and subject.
    """
    from example_store.models import User
    from example_store.models import db
    from example_store.support_plugin import actor_for
    from flask_supportdesk.services import messages
    from flask_supportdesk.services import tickets

    with live_store.app.test_request_context():
        alice = actor_for(db.session.query(User).filter_by(email="alice@example.com").one())
        agent = actor_for(db.session.query(User).filter_by(email="agent@example.com").one())
        subject = "<img src=x onerror=\"window.pwned=1;alert('subject')\"> Hostile"
        ticket = tickets.open_ticket(alice, subject=subject, body="\n\n".join(XSS_CORPUS))
        for payload in XSS_CORPUS:
            messages.post_message(agent, ticket.number, payload)
        for payload in XSS_CORPUS:
            messages.post_message(agent, ticket.number, payload, channel="internal")
        return ticket.number, subject


#: Live markup a payload would leave in the page if it escaped escaping and sanitising.
LIVE_MARKUP = "main script, main iframe, main style, main [onerror], main [onload], main [ontoggle]"


def assert_inert(page: t.Any, url: str, dialogs: list[str]) -> None:
    """No payload ran, and none reached the DOM as markup.

    The CSP alone would stop the scripts; the checks on the DOM and on CSP reports make
    sure the escaping and the sanitiser did the work, not just the policy behind them.
    """
    response = page.goto(url)
    assert response is not None and response.status == 200, url
    assert page.locator(LIVE_MARKUP).count() == 0, url
    # Click every link of the conversation too: a javascript: URL must not survive.
    for link in page.locator(".sd-message a, .sd-thread a").all():
        href = link.get_attribute("href") or ""
        assert not href.strip().lower().startswith(("javascript:", "data:")), href
    page.wait_for_load_state("load")
    assert page.evaluate("typeof window.pwned") == "undefined", url
    assert dialogs == [], url


def test_xss_corpus_is_inert_in_portal_and_desk(
    page: t.Any, live_store: LiveStore
) -> None:
    number, subject = hostile_ticket(live_store)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    blocked = record_csp_violations(page)

    log_in(page, live_store, "alice@example.com")
    assert_inert(page, live_store(f"/support/tickets/{number}"), dialogs)
    page.get_by_role("heading", name=subject).wait_for()  # the subject shown as text
    assert_inert(page, live_store("/support/"), dialogs)
    page.context.clear_cookies()

    log_in(page, live_store, "agent@example.com")
    assert_inert(page, live_store(f"/support/desk/tickets/{number}"), dialogs)
    assert_inert(page, live_store("/support/desk/"), dialogs)
    assert_inert(page, live_store("/support/desk/?q=Hostile"), dialogs)
    assert blocked == []  # nothing even tried to run


def test_pages_send_a_csp_without_unsafe_inline(page: t.Any, live_store: LiveStore) -> None:
    log_in(page, live_store, "agent@example.com")
    for path in ("/", "/support/", "/support/new", "/support/desk/"):
        response = page.goto(live_store(path))
        assert response is not None and response.status == 200, path
        policy = response.headers.get("content-security-policy", "")
        assert "script-src 'self'" in policy, path
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy, path


def test_r_focuses_the_reply_box_in_the_desk(page: t.Any, live_store: LiveStore) -> None:
    log_in(page, live_store, "agent@example.com")
    page.goto(live_store("/support/desk/"))
    page.get_by_role("link", name="My parcel has not arrived").click()
    reply = page.get_by_role("textbox", name="Reply to")
    reply.wait_for()
    page.wait_for_load_state("load")  # the key handler comes with the deferred scripts
    page.evaluate("document.activeElement && document.activeElement.blur()")
    assert not reply.evaluate("el => el === document.activeElement")
    page.keyboard.press("r")
    assert reply.evaluate("el => el === document.activeElement")
    assert reply.input_value() == ""  # the key focused the box; it typed nothing


@pytest.mark.parametrize(
    ("email", "paths"),
    [
        ("alice@example.com", ["/", "/orders", "/orders/1042", "/support/", "/support/new",
                               "/support/new?order=1042"]),
        ("agent@example.com", ["/support/desk/", "/support/desk/new", "/staff/customers"]),
    ],
)
def test_no_horizontal_scroll_at_375px(
    browser: t.Any, live_store: LiveStore, email: str, paths: list[str]
) -> None:
    context = browser.new_context(viewport={"width": 375, "height": 740})
    try:
        page = context.new_page()
        log_in(page, live_store, email)
        # A ticket thread of each side, found through the list like a person would.
        if email.startswith("alice"):
            page.goto(live_store("/support/"))
            page.get_by_role("link", name="I was charged twice").click()
        else:
            page.goto(live_store("/support/desk/"))
            page.get_by_role("link", name="My parcel has not arrived").click()
        page.wait_for_url("**/tickets/*")
        pages = [page.url] + [live_store(path) for path in paths]
        for url in pages:
            response = page.goto(url)
            assert response is not None and response.status == 200, url
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"{url} scrolls sideways by {overflow}px at 375px"
    finally:
        context.close()


def test_pages_break_no_rule_of_their_own_csp(page: t.Any, live_store: LiveStore) -> None:
    """An inline script, handler or style on any page would be blocked (and the feature
    silently broken): Chromium reports each blocked one as a console error."""
    violations = record_csp_violations(page)
    log_in(page, live_store, "alice@example.com")
    for path in ("/", "/orders", "/orders/1042", "/support/", "/support/new?order=1042"):
        page.goto(live_store(path))
        page.wait_for_load_state("load")
    page.context.clear_cookies()
    log_in(page, live_store, "manager@example.com")
    page.goto(live_store("/support/desk/"))
    page.get_by_role("link", name="Refund for the rain jacket").click()
    page.get_by_role("tab", name=re.compile("Internal")).click()
    for path in ("/support/desk/new", "/staff/customers"):
        page.goto(live_store(path))
        page.wait_for_load_state("load")
    assert violations == []
