"""The demo mailbox in a real browser: Alice invites Bob on her ticket, Bob opens the
store's mailbox, follows the invitation link from the mail, logs in, accepts and sees the
shared ticket; the mail's HTML sits in a sandboxed frame."""

from __future__ import annotations

import typing as t

import pytest
from flask import Flask

from .conftest import LiveStore
from .conftest import log_in
from .conftest import log_out
from .conftest import serve
from .conftest import store_nav

pytestmark = pytest.mark.browser


@pytest.fixture
def mailbox_store(
    tmp_path: t.Any, browser: t.Any, monkeypatch: pytest.MonkeyPatch
) -> t.Iterator[LiveStore]:
    """The seeded store with the demo mailbox on, served over HTTP on loopback."""
    from example_store import create_app
    from example_store.cli import seed_demo

    monkeypatch.delenv("DATABASE_URL", raising=False)
    app: Flask = create_app(
        {
            "SECRET_KEY": "browser-mailbox",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'store.sqlite'}",
            "SUPPORTDESK_ATTACHMENT_FOLDER": str(tmp_path / "attachments"),
            "SUPPORTDESK_LOAD_ENTRY_POINTS": False,
            "SUPPORTDESK_DELIVER_IN_BACKGROUND": False,
            "STORE_PASSWORD_METHOD": "pbkdf2:sha256:1000",
            "STORE_DEMO_MAILBOX": True,
        },
        instance_path=str(tmp_path / "instance"),
    )
    seed_demo(app)
    with serve(app) as live:
        yield live


def test_bob_accepts_an_invitation_from_the_mailbox(page: t.Any, mailbox_store: LiveStore) -> None:
    from playwright.sync_api import expect

    from example_store.cli import DEMO_PASSWORD

    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    # Alice shares her parcel ticket with Bob.
    log_in(page, mailbox_store, "alice@example.com")
    page.goto(mailbox_store("/support/"))
    page.get_by_role("link", name="My parcel has not arrived").click()
    panel = page.get_by_role("region", name="Delegates")
    panel.get_by_label("E-mail address").fill("bob@example.com")
    panel.get_by_role("button", name="Invite").click()
    expect(page.get_by_text("bob@example.com was invited")).to_be_visible()
    log_out(page)

    # Bob reads his invitation in the demo mailbox, linked from the store's navigation.
    store_nav(page).get_by_role("link", name="Mailbox").click()
    expect(page.get_by_text("Demo mailbox.")).to_be_visible()
    newest = page.get_by_role("row").nth(1)  # the header row comes first
    expect(newest).to_contain_text("bob@example.com")
    newest.get_by_role("link", name="You are invited to follow").click()
    frame = page.locator("iframe")
    expect(frame).to_have_attribute("sandbox", "allow-popups allow-popups-to-escape-sandbox")
    expect(page.frame_locator("iframe").get_by_text("Alice Andersen invited you")).to_be_visible()

    # The link in the mail's text: the store asks him to log in, then shows the invitation.
    page.locator(".store-mail-text a", has_text="/invitations/").click()
    page.get_by_label("E-mail").fill("bob@example.com")
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Invitation to follow a support request").wait_for()
    page.get_by_role("button", name="Accept the invitation").click()
    page.get_by_role("heading", name="My parcel has not arrived").wait_for()
    expect(page.get_by_text("Shared with you").first).to_be_visible()
    assert dialogs == []
