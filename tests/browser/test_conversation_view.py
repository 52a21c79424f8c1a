"""The conversation view at 1366x900: a long ticket opens at its newest message, with
the composer visible under it."""

from __future__ import annotations

import typing as t

import pytest

from .conftest import LiveStore
from .conftest import log_in

pytestmark = pytest.mark.browser

IN_VIEW = "e => { const r = e.getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight; }"


def test_a_long_ticket_opens_at_the_newest_message_above_the_composer(
    browser: t.Any, live_store: LiveStore
) -> None:
    import flask_supportdesk as desk
    from example_store.models import User
    from example_store.models import db
    from example_store.support_plugin import actor_for

    with live_store.app.test_request_context():
        alice = actor_for(db.session.query(User).filter_by(email="alice@example.com").one())
        agent = actor_for(db.session.query(User).filter_by(email="agent@example.com").one())
        number = desk.open_ticket(requester=alice, by=alice, subject="Long talk", body="Hi").number
        for n in range(1, 30):
            desk.post_message(number, f"Reply number {n}", by=agent if n % 2 else alice)
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    try:
        log_in(page, live_store, "agent@example.com")
        page.goto(live_store(f"/support/desk/tickets/{number}"))
        newest = page.locator("#sd-pane-main .sd-message").last
        assert "Reply number 29" in newest.inner_text()
        assert newest.evaluate(IN_VIEW), "the newest message is out of view"
        box = page.locator("#sd-pane-main [data-sd-reply-body]")
        assert box.evaluate(IN_VIEW), "the composer is out of view"
        page.screenshot(path=str(live_store.app.instance_path) + "/conversation.png")
    finally:
        context.close()
