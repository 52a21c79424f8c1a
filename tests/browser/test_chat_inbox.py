"""The staff chat inbox in a real browser against the live example store: a visitor's
chat (POST /chats and a python-socketio client with its token) appears in the inbox
without a reload, staff answer from the inbox and the visitor's socket receives it, and
the Internal note tab writes a note the visitor never receives."""

from __future__ import annotations

import os
import pathlib
import re
import time
import typing as t
import uuid

import pytest

from .conftest import LiveStore
from .conftest import log_in

pytestmark = pytest.mark.browser

DESK = "/support/desk"
#: Where to keep screenshots of the inbox (``SUPPORTDESK_SCREENSHOTS=/tmp``), to look at.
SHOTS = os.environ.get("SUPPORTDESK_SCREENSHOTS")


def _shot(page: t.Any, name: str) -> None:
    if SHOTS:
        page.screenshot(path=str(pathlib.Path(SHOTS) / name), full_page=False)


def _visitor_opens_a_chat(live_store: LiveStore, body: str) -> tuple[str, str]:
    """POST /support/api/v1/chats as a storefront page would: the number and the token."""
    import requests

    http = requests.Session()
    page = http.get(live_store("/support/desk/chats"), allow_redirects=True, timeout=10).text
    match = re.search(r'name="csrf-token" content="([^"]+)"', page) or re.search(
        r'name="csrf_token"[^>]*value="([^"]+)"', page
    )
    assert match, "no CSRF token on the store's pages"
    opened = http.post(
        live_store("/support/api/v1/chats"),
        json={"first_name": "Vera", "last_name": "Visitor", "email": "vera@visitor.example",
              "phone": "+49 30 5550", "body": body},
        headers={"X-CSRFToken": match.group(1)},
        timeout=10,
    )  # fmt: skip
    assert opened.status_code == 201, opened.text
    data = opened.json()
    return data["ticket"]["number"], data["token"]


def _assert_away(live_store: LiveStore, email: str, away: bool) -> None:
    from example_store.models import User
    from example_store.models import db
    from flask_supportdesk.services import presence

    with live_store.app.app_context():
        user = db.session.query(User).filter_by(email=email).one()
        assert presence.is_away(str(user.id)) is away


def _socket_connected(page: t.Any) -> None:
    page.wait_for_function(
        "() => window.supportdeskDeskSocket && window.supportdeskDeskSocket.connected"
    )


def test_visitor_chat_reaches_the_inbox_live_and_staff_answer(
    browser: t.Any, live_store: LiveStore
) -> None:
    from livesocket import Recorder

    context = browser.new_context(viewport={"width": 1366, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in(page, live_store, "agent@example.com")
    page.goto(live_store(f"{DESK}/chats"))
    _socket_connected(page)

    first_line = f"Hello, is my parcel {uuid.uuid4().hex[:6]} on its way?"
    number, token = _visitor_opens_a_chat(live_store, first_line)
    visitor = Recorder().connect(live_store.url, token=token)
    try:
        assert visitor.call("join", {"ticket": number})["ok"]
        # The chat appears in the inbox without a reload (the `inbox` hint, the list
        # fetched again over HTTP).
        link = page.locator(f'.sd-chat-list a[href*="/chats/{number}"]')
        link.wait_for()
        assert "Vera Visitor" in link.inner_text()
        link.click()
        page.get_by_role("heading", name=re.compile("Hello, is my parcel")).wait_for()
        _socket_connected(page)
        side = page.locator(".sd-chat-visitor")
        assert "+49 30 5550" in side.inner_text() and "Guest" in side.inner_text()

        # A reply from the inbox reaches the visitor's socket.
        reply = f"Yes, it left today {uuid.uuid4().hex[:6]}."
        page.locator('[data-sd-composer="main"] textarea').fill(reply)
        page.locator('[data-sd-composer="main"] button[type="submit"]').click()
        got = visitor.wait_for("message", lambda d: d["message"]["body"] == reply)
        assert got["message"]["channel"] == "public"
        page.locator("#sd-pane-main .sd-message", has_text=reply).wait_for()
        # The ack empties the composer (it may come just after the broadcast message).
        page.wait_for_function(
            """() => document.querySelector('[data-sd-composer="main"] textarea').value === ''"""
        )
        assert f"/chats/{number}" in page.url  # sent over the socket: no page load

        # The visitor answers: it appears in the open conversation live.
        answer = f"Great, thanks {uuid.uuid4().hex[:6]}!"
        sent = visitor.call(
            "send", {"ticket": number, "body": answer, "client_id": uuid.uuid4().hex}
        )
        assert sent["ok"], sent
        page.locator("#sd-pane-main .sd-message", has_text=answer).wait_for()

        # The Internal note tab writes a note (tinted) the visitor never receives.
        note = f"Courier confirmed {uuid.uuid4().hex[:6]}"
        page.get_by_role("tab", name="Internal note").click()
        composer = page.locator('[data-sd-composer="internal"]')
        assert "sd-reply-internal" in (composer.get_attribute("class") or "")
        composer.locator("textarea").fill(note)
        composer.locator('button[type="submit"]').click()
        page.locator("#sd-pane-internal .sd-message.sd-internal", has_text=note).wait_for()
        time.sleep(1.0)  # anything the visitor would get has arrived by now
        bodies = [d["message"]["body"] for d in visitor.named("message")]
        assert note not in bodies and reply in bodies
        assert not any(note in str(data) for _event, data in visitor.events)

        # The header's switch sets the staff member away (no new chats) and back.
        toggle = page.locator("[data-sd-presence]")
        toggle.click()
        page.locator('[data-sd-presence="away"]').wait_for()
        _assert_away(live_store, "agent@example.com", True)
        toggle.click()
        page.locator('[data-sd-presence="online"]').wait_for()
        _assert_away(live_store, "agent@example.com", False)

        # The newest message is in view, above the composer (not covered by it).
        page.get_by_role("tab", name="Reply").click()
        newest = page.locator("#sd-pane-main .sd-message", has_text=answer)
        box = page.locator('[data-sd-composer="main"]').bounding_box()
        message_box = newest.bounding_box()
        assert box is not None and message_box is not None
        assert message_box["y"] + message_box["height"] <= box["y"] + 1
        assert message_box["y"] >= 0
        _shot(page, "inbox-1366.png")
        page.set_viewport_size({"width": 390, "height": 844})
        page.reload()
        page.locator("#sd-pane-main .sd-message", has_text=answer).wait_for()
        _shot(page, "inbox-390.png")
        page.goto(live_store(f"{DESK}/chats"))
        _shot(page, "inbox-390-list.png")
        assert errors == []
    finally:
        visitor.disconnect()
        context.close()
