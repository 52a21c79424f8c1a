"""A guest in a real browser: fills the contact form, reads the receipt from a real SMTP
server, follows the link, reads the staff answer (never the internal note) and replies."""

from __future__ import annotations

import threading
import typing as t
import uuid

import pytest
import sqlalchemy as sa
from flask import Flask
from mailserver import SMTPServer
from mailserver import _free_port
from werkzeug.serving import make_server

from conftest import build_app
from flask_supportdesk._state import get_state
from flask_supportdesk.models import Message
from flask_supportdesk.models import Ticket
from flask_supportdesk.services import messages

from .conftest import _QuietHandler

pytestmark = pytest.mark.browser

CANARY = f"CANARY-BROWSER-{uuid.uuid4()}"
GUEST = "gina@guest.example"


@pytest.fixture
def contact_store(
    request: pytest.FixtureRequest, tmp_path: t.Any, smtpd: SMTPServer, browser: t.Any
) -> t.Iterator[tuple[Flask, str]]:
    """The test store with its contact form on, mailing through ``smtpd``, served over
    HTTP on loopback (its links point at that address)."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    build = build_app(
        request,
        tmp_path,
        SUPPORTDESK_CONTACT_FORM_CREATES_TICKET=True,
        SUPPORTDESK_MAIL_SERVER="127.0.0.1",
        SUPPORTDESK_MAIL_PORT=smtpd.port,
        SUPPORTDESK_MAIL_DEFAULT_SENDER="Store Support <support@store.example>",
        SUPPORTDESK_PUBLIC_URL=url,
        SUPPORTDESK_MAIL_TIMEOUT=5,
    )
    app = next(build)
    server = make_server("127.0.0.1", port, app, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="contact-store", daemon=True)
    thread.start()
    try:
        yield app, url
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        next(build, None)


def test_a_guest_writes_follows_the_mailed_link_and_replies(
    page: t.Any, contact_store: tuple[Flask, str], smtpd: SMTPServer, agent: t.Any
) -> None:
    from playwright.sync_api import expect

    app, url = contact_store
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    page.goto(url + "/support/contact")
    page.get_by_label("Your name").fill("Gina Guest")
    page.get_by_label("Your e-mail address").fill(GUEST)
    page.get_by_label("Subject").fill("Do you ship to Norway?")
    page.get_by_label("Message").fill("I would like to order the brass lamp.")
    # The honeypot is not offered to a person: not visible, not in the accessibility tree.
    assert not page.locator('input[name="website"]').is_visible()
    page.get_by_role("button", name="Send message").click()
    page.get_by_role("heading", name="Thank you for your message").wait_for()
    assert "Norway" not in page.content()

    with app.app_context():
        number = get_state().db.session.scalars(sa.select(Ticket.number)).one()
    with app.test_request_context():
        messages.post_message(agent, number, f"Reseller? {CANARY}", channel="internal")
        messages.post_message(agent, number, "Yes, we ship to Norway in 3 days.")

    # The guest opens the newest mail and follows its link.
    mail = smtpd.to(GUEST)[-1]
    assert CANARY not in mail.everything()
    link = next(word for word in mail.text.split() if word.startswith(url + "/support/guest/"))
    page.goto(link)
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("heading", name="Do you ship to Norway?").wait_for()
    expect(page.get_by_text("Yes, we ship to Norway in 3 days.")).to_be_visible()
    assert CANARY not in page.content()
    assert "/support/guest/" not in page.url  # the token left the address bar

    page.get_by_label("Your reply").fill("Great, I will order today.")
    page.get_by_role("button", name="Send reply").click()
    expect(page.get_by_text("Great, I will order today.")).to_be_visible()
    assert CANARY not in page.content()
    with app.app_context():
        last = get_state().db.session.scalars(
            sa.select(Message).order_by(Message.id.desc()).limit(1)
        ).one()
        assert (last.body, last.author_id, last.channel.value) == (
            "Great, I will order today.", None, "public")  # fmt: skip
    # The staff member who handles the ticket hears of the reply.
    assert any("Great, I will order today." in m.text for m in smtpd.to("ann@store.example"))
    # The same link does not sign anyone in again.
    other = page.context.browser.new_context()
    try:
        again = other.new_page()
        again.goto(link)
        expect(again.get_by_text("This link was already used.")).to_be_visible()
    finally:
        other.close()
    assert dialogs == []
