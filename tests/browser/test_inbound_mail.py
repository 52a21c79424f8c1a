"""Hostile inbound mail in a real browser: an HTML-only mail full of script and an
attachment named like markup stay inert on the portal and the desk (HOSTILE.md C5)."""

from __future__ import annotations

import typing as t

import pytest
from mailserver import eml

from .conftest import LiveStore
from .conftest import log_in
from .conftest import record_csp_violations
from .test_pages import assert_inert

pytestmark = pytest.mark.browser

def test_hostile_html_mail_and_attachment_names_are_inert(page: t.Any, live_store: LiveStore) -> None:
    from example_store.models import User
    from example_store.models import db
    from example_store.support_plugin import actor_for
    from flask_supportdesk.services import inbound
    from flask_supportdesk.services import tickets
    from flask_supportdesk.services.notifications import thread_message_id

    with live_store.app.test_request_context():
        alice = actor_for(db.session.query(User).filter_by(email="alice@example.com").one())
        number = tickets.open_ticket(alice, subject="Invoice by mail", body="See my mail.").number
        root = thread_message_id(number)
    with live_store.app.app_context():
        for name in ("html_only.eml", "attachments.eml"):
            mail = eml(name, FROM="Alice <alice@example.com>", IN_REPLY_TO=root, REFERENCES=root)
            assert inbound.ingest(mail).outcome == "posted"

    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    blocked = record_csp_violations(page)
    log_in(page, live_store, "alice@example.com")
    assert_inert(page, live_store(f"/support/tickets/{number}"), dialogs)
    page.get_by_text("Hello & good morning,").wait_for()
    page.get_by_text("onerror=alert(1).txt").first.wait_for()  # the cleaned name, as text
    page.context.clear_cookies()
    log_in(page, live_store, "agent@example.com")
    assert_inert(page, live_store(f"/support/desk/tickets/{number}"), dialogs)
    assert blocked == []
