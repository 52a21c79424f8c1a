"""Live pages in Chromium (static/supportdesk/live.js): a staff reply appears on the
customer's portal page without a reload and an internal note never does; a desk ticket
page shows a colleague viewing it; the desk list's counters follow a new ticket.
Screenshots go to /tmp/live-*.png."""

from __future__ import annotations

import pathlib
import tempfile
import typing as t

import pytest

from .conftest import LiveStore
from .conftest import log_in

pytestmark = pytest.mark.browser
#: Where the screenshots go (live-*.png), to look at after a run.
SHOTS = pathlib.Path(tempfile.gettempdir())


def _actors(live_store: LiveStore) -> dict[str, t.Any]:
    from example_store.models import User
    from example_store.models import db
    from example_store.support_plugin import actor_for

    emails = {"alice": "alice@example.com", "agent": "agent@example.com"}
    return {
        key: actor_for(db.session.query(User).filter_by(email=email).one())
        for key, email in emails.items()
    }


def _alice_asks(live_store: LiveStore, subject: str) -> tuple[dict[str, t.Any], str]:
    """The demo's actors, and a new ticket of Alice's."""
    import flask_supportdesk as desk

    with live_store.app.test_request_context():
        who = _actors(live_store)
        return who, desk.open_ticket(requester=who["alice"], by=who["alice"], subject=subject, body="Help").number


def _shot(page: t.Any, name: str, **kwargs: t.Any) -> None:
    page.screenshot(path=str(SHOTS / f"live-{name}.png"), **kwargs)


def _live(page: t.Any) -> None:
    """Wait until the page's live script has joined (the socket is connected)."""
    page.wait_for_function("() => window.SupportDesk && window.SupportDesk.live && window.SupportDesk.live.socket.connected")


def test_a_staff_reply_appears_on_the_portal_page_and_a_note_never_does(
    page: t.Any, live_store: LiveStore
) -> None:
    import flask_supportdesk as desk

    who, number = _alice_asks(live_store, "Live parcel")
    log_in(page, live_store, "alice@example.com")
    page.goto(live_store(f"/support/tickets/{number}"))
    _live(page)
    page.evaluate("window.sdNoReload = true")  # gone if the page reloads
    with live_store.app.test_request_context():
        desk.post_message(number, "LIVE-NOTE must stay internal", by=who["agent"], channel="internal")
        desk.post_message(number, "We found your parcel.", by=who["agent"])
    reply = page.locator(".sd-thread .sd-message", has_text="We found your parcel.")
    reply.wait_for()
    assert page.evaluate("window.sdNoReload") is True
    assert "LIVE-NOTE" not in page.content()
    assert "Support" in reply.inner_text()  # the staff badge, as the server writes it
    # The reply left the ticket waiting for the customer: shown in place, no reload asked.
    page.locator("[data-sd-live-status]").get_by_text("Awaiting your reply").wait_for()
    assert page.locator("[data-sd-live-bar]").count() == 0
    _shot(page, "portal", full_page=True)


def test_a_desk_ticket_page_shows_a_colleague_viewing_it(
    browser: t.Any, live_store: LiveStore
) -> None:
    import flask_supportdesk as desk

    who, number = _alice_asks(live_store, "Two agents")
    contexts = [browser.new_context() for _ in range(2)]
    try:
        ann, max_ = (context.new_page() for context in contexts)
        log_in(ann, live_store, "agent@example.com")
        log_in(max_, live_store, "manager@example.com")
        ann.goto(live_store(f"/support/desk/tickets/{number}"))
        _live(ann)
        max_.goto(live_store(f"/support/desk/tickets/{number}"))
        _live(max_)
        line = ann.locator("[data-sd-live-presence]")
        line.get_by_text("Max Manager is viewing").wait_for()
        # The newcomer learns of the one already there.
        max_.locator("[data-sd-live-presence]").get_by_text("Ann Agent is viewing").wait_for()
        max_.locator("#sd-pane-main [data-sd-reply-body]").press_sequentially("On it")
        line.get_by_text("Max Manager is replying…").wait_for()
        # A colleague's change would make the page's forms stale: a bar asks for a reload.
        with live_store.app.test_request_context():
            desk.update_ticket(number, by=who["agent"], priority="high")
        max_.get_by_text("This ticket changed. Reload to see the changes.").wait_for()
        _shot(ann, "desk-viewing", full_page=True)
        _shot(max_, "desk-changed")
        max_.close()
        # Gone: "left" on disconnect, and the typing hint fades after a few seconds.
        ann.wait_for_function("() => document.querySelector('[data-sd-live-presence]').hidden")
        assert ann.locator("[data-sd-live-presence]").is_hidden()
    finally:
        for context in contexts:
            context.close()


def test_the_desk_list_counters_follow_a_new_ticket(page: t.Any, live_store: LiveStore) -> None:
    import flask_supportdesk as desk

    log_in(page, live_store, "agent@example.com")
    page.goto(live_store("/support/desk/"))
    _live(page)
    open_counter = page.locator(".sd-counter-open strong")
    before = int(open_counter.inner_text().replace(",", "").replace(".", ""))
    with live_store.app.test_request_context():
        who = _actors(live_store)
        desk.open_ticket(requester=who["alice"], by=who["alice"], subject="Counted live", body="New one")
    page.wait_for_function(
        "n => parseInt(document.querySelector('.sd-counter-open strong').textContent.replace(/\\D/g, ''), 10) === n",
        arg=before + 1,
    )
    assert int(open_counter.inner_text().replace(",", "").replace(".", "")) == before + 1
    _shot(page, "desk-list")
