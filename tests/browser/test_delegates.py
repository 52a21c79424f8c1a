"""Delegates in a real browser: the requester invites by e-mail, the invitee opens the
invitation link (logging in on the way), accepts, sees the ticket marked as shared and
replies; the ticket then awaits support."""

from __future__ import annotations

import typing as t

import pytest
import sqlalchemy as sa

from flask_supportdesk import hookimpl

from .conftest import LiveStore
from .conftest import log_in
from .conftest import log_out

pytestmark = pytest.mark.browser


def _invitation_link(live_store: LiveStore, number: str) -> str:
    """The link of the invitation mail (the store sends no mail here: the same token)."""
    from flask_supportdesk._state import get_state
    from flask_supportdesk.models import Delegate
    from flask_supportdesk.models import Ticket
    from flask_supportdesk.services import delegates

    with live_store.app.test_request_context():
        session = get_state().db.session
        invitation = session.scalars(
            sa.select(Delegate).join(Ticket, Ticket.id == Delegate.ticket_id).where(
                Ticket.number == number
            )
        ).one()
        return f"/support/invitations/{delegates.invitation_token(invitation)}"


class _HostMailService:
    """A host's own delivery (its mail service), which these tests need not read: an
    invitation is offered only where something sends mail."""

    @hookimpl
    def supportdesk_deliver_notification(self, notification: t.Any) -> None:
        """Take the mail (and drop it)."""


def _deliver_somewhere(live_store: LiveStore) -> None:
    from flask_supportdesk._state import get_state

    state = get_state(live_store.app)
    if not state.delivers_notifications:
        state.desk.register(_HostMailService(), app=live_store.app)


def test_requester_invites_and_the_delegate_accepts_and_replies(
    page: t.Any, live_store: LiveStore
) -> None:
    from playwright.sync_api import expect

    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    _deliver_somewhere(live_store)

    # Alice opens a ticket and shares it with Bob from its Delegates panel.
    log_in(page, live_store, "alice@example.com")
    page.goto(live_store("/support/new"))
    page.get_by_label("Subject").fill("Gift for Bob went missing")
    page.get_by_label("Message").fill("Bob should have received it on Friday.")
    page.get_by_role("button", name="Send ticket").click()
    page.get_by_role("heading", name="Gift for Bob went missing").wait_for()
    number = page.url.rstrip("/").rsplit("/", 1)[-1]
    panel = page.get_by_role("region", name="Delegates")
    panel.get_by_label("E-mail address").fill("nobody@example.com")
    panel.get_by_role("button", name="Invite").click()
    expect(page.get_by_text("delegates need an account")).to_be_visible()
    page.get_by_role("region", name="Delegates").get_by_label("E-mail address").fill(
        "bob@example.com"
    )
    page.get_by_role("region", name="Delegates").get_by_role("button", name="Invite").click()
    expect(page.get_by_text("bob@example.com was invited")).to_be_visible()
    expect(page.get_by_role("region", name="Delegates").get_by_text("Invited")).to_be_visible()
    log_out(page)

    # Bob follows the link from his mail: the store asks him to log in, then brings him
    # back to the invitation.
    link = _invitation_link(live_store, number)
    page.goto(live_store(link))
    page.get_by_label("E-mail").fill("bob@example.com")
    from example_store.cli import DEMO_PASSWORD

    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Invitation to follow a support request").wait_for()
    expect(page.get_by_text("Alice Andersen invited you")).to_be_visible()
    page.get_by_role("button", name="Accept the invitation").click()
    page.get_by_role("heading", name="Gift for Bob went missing").wait_for()
    expect(page.get_by_text("Shared with you").first).to_be_visible()
    expect(page.get_by_role("link", name="Close ticket")).to_have_count(0)

    # His ticket list marks it, and he replies.
    page.goto(live_store("/support/"))
    row = page.get_by_role("row").filter(has_text="Gift for Bob went missing")
    expect(row.get_by_text("Shared with you")).to_be_visible()
    row.get_by_role("link", name="Gift for Bob went missing").click()
    page.get_by_role("heading", name="Gift for Bob went missing").wait_for()
    page.get_by_label("Your reply").fill("It has not come yet. Bob")
    page.get_by_role("button", name="Send reply").click()
    expect(page.get_by_text("It has not come yet. Bob")).to_be_visible()
    expect(page.get_by_text("Awaiting support").first).to_be_visible()

    # The link worked once.
    page.goto(live_store(link))
    expect(page.get_by_text("already used or withdrawn")).to_be_visible()
    assert dialogs == []
