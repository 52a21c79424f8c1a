"""Delegates and e-mail, against a real SMTP server on loopback: the invitation mail is
read and its link followed as the invitee would; staff replies reach accepted delegates
(and nobody else of the invitations); a delegate's reply goes to the staff; nothing
internal is in any of it (HOSTILE.md B4)."""

from __future__ import annotations

import typing as t

import pytest
from flask import Flask
from mailserver import PUBLIC_URL
from mailserver import SMTPServer
from mailserver import mail_app
from mailserver import mail_link
from mailserver import outbox_rows

import hostapp
from conftest import CanaryTicket
from conftest import assert_no_canary
from conftest import csrf_token
from conftest import login
from flask_supportdesk.services import delegates
from flask_supportdesk.services import messages
from flask_supportdesk.services import tickets
from flask_supportdesk.values import Actor

PORTAL = "/support"


@pytest.fixture
def app(request: pytest.FixtureRequest, tmp_path: t.Any, smtpd: SMTPServer) -> t.Iterator[Flask]:
    yield from mail_app(request, tmp_path, smtpd)


@pytest.fixture(autouse=True)
def carol(monkeypatch: pytest.MonkeyPatch) -> Actor:
    user = hostapp.User(3, "Carol Other", "carol@example.com")
    monkeypatch.setitem(hostapp.USERS, 3, user)
    return user.actor


def test_the_invitation_mail_is_followed_and_accepted_by_the_invitee(
    app: Flask, smtpd: SMTPServer, canary_ticket: CanaryTicket, carol: Actor
) -> None:
    number = canary_ticket.number
    smtpd.clear()
    alice = login(app.test_client(), 1)
    sent = alice.post(
        f"{PORTAL}/tickets/{number}/delegates",
        data={"email": "bob@example.com", "csrf_token": csrf_token(alice)},
    )
    assert sent.status_code == 302
    assert [m.rcpt for m in smtpd.mails] == [["bob@example.com"]]  # not the inviter
    mail = smtpd.mails[0]
    assert_no_canary(mail.everything())
    headers = mail.message
    assert number in headers["Subject"] and "invited" in headers["Subject"]
    assert headers["To"].addresses[0].display_name == "Bob Customer"
    assert "Alice Customer invited you" in mail.text and "Alice Customer invited you" in mail.html
    assert "Accept the invitation" in mail.text and "Accept the invitation" in mail.html
    [row] = [r for r in outbox_rows(app) if r.kind == "delegate_invited"]
    assert row.payload["url"].startswith(PUBLIC_URL + "/support/invitations/")
    link = mail_link(mail)
    assert link.startswith("/support/invitations/")

    # Someone else who got hold of the link: refused, and it still works for Bob.
    intruder = login(app.test_client(), carol)
    assert intruder.get(link).status_code == 403
    bob = login(app.test_client(), 2)
    page = bob.get(link)
    assert page.status_code == 200
    assert_no_canary(page)
    accepted = bob.post(link, data={"csrf_token": csrf_token(bob)})
    assert accepted.status_code == 302
    thread = bob.get(accepted.headers["Location"])
    assert thread.status_code == 200 and "Shared with you" in thread.get_data(as_text=True)
    assert_no_canary(thread)
    assert bob.get(link).status_code == 410  # once


def test_staff_replies_reach_accepted_delegates_only(
    app: Flask, smtpd: SMTPServer, ctx: None, alice: Actor, bob: Actor, carol: Actor,
    agent: Actor,
) -> None:  # fmt: skip
    number = tickets.open_ticket(alice, subject="Refund", body="Please refund.").number
    accepted = delegates.invite(alice, number, bob.email)
    delegates.accept(bob, delegates.invitation_token(accepted))
    delegates.invite(alice, number, carol.email)  # still pending: hears nothing
    smtpd.clear()
    messages.post_message(agent, number, "Refund is on its way.")
    assert sorted(r for m in smtpd.mails for r in m.rcpt) == ["alice@example.com", "bob@example.com"]
    [to_bob] = smtpd.to("bob@example.com")
    assert "Refund is on its way." in to_bob.text
    assert mail_link(to_bob) == f"/support/tickets/{number}"
    follow = login(app.test_client(), bob).get(mail_link(to_bob))
    assert follow.status_code == 200 and "Refund is on its way." in follow.get_data(as_text=True)

    smtpd.clear()
    messages.post_message(agent, number, "Internal: check the bank.", channel="internal")
    assert smtpd.mails == []

    delegates.revoke(alice, number, accepted.id)
    smtpd.clear()
    messages.post_message(agent, number, "Done.")
    assert [m.rcpt for m in smtpd.mails] == [["alice@example.com"]]


def test_a_delegates_reply_goes_to_the_staff_not_to_the_delegate(
    app: Flask, smtpd: SMTPServer, ctx: None, alice: Actor, bob: Actor, agent: Actor
) -> None:
    number = tickets.open_ticket(alice, subject="Size", body="Too small.").number
    delegates.accept(bob, delegates.invitation_token(delegates.invite(alice, number, bob.email)))
    smtpd.clear()
    messages.post_message(bob, number, "Any news? (Bob, for Alice)")
    recipients = {r for m in smtpd.mails for r in m.rcpt}
    assert recipients == {"ann@store.example", "otto@store.example", "lena@store.example"}
    assert "Any news? (Bob, for Alice)" in smtpd.mails[0].text

    tickets.update_ticket(agent, number, {"assignee": agent.id})
    smtpd.clear()
    messages.post_message(bob, number, "Hello?")
    assert [m.rcpt for m in smtpd.mails] == [["ann@store.example"]]


def test_staff_replies_to_a_delegate_carry_no_internal_content(
    app: Flask, smtpd: SMTPServer, canary_ticket: CanaryTicket, alice: Actor, bob: Actor,
    agent: Actor,
) -> None:  # fmt: skip
    with app.test_request_context():
        invited = delegates.invite(alice, canary_ticket.number, bob.email)
        delegates.accept(bob, delegates.invitation_token(invited))
        smtpd.clear()
        messages.post_message(agent, canary_ticket.number, "A new parcel is on its way.")
    [to_bob] = smtpd.to("bob@example.com")
    assert "A new parcel is on its way." in to_bob.text
    for mail in smtpd.mails:
        assert_no_canary(mail.everything())
        assert "Bcc" not in mail.message
