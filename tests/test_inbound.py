"""Inbound e-mail: replies thread into their ticket, only from people who may write there.

Mails are real RFC 822 files (tests/mail/*.eml) from several clients, or replies built
from a notification the loopback SMTP server received, as a person's mail client would.
"""

from __future__ import annotations

import email.message
import email.policy
import email.utils
import os
import pathlib
import subprocess
import sys
import typing as t
import uuid

import pytest
import sqlalchemy as sa
from flask import Flask
from mailserver import Received
from mailserver import SMTPServer
from mailserver import eml
from mailserver import mail_app
from mailserver import outbox_rows
from mailserver import portal_ticket

from conftest import CANARY
from conftest import CanaryTicket
from conftest import assert_no_canary
from conftest import login
from flask_supportdesk._state import get_state
from flask_supportdesk.errors import TicketClosed
from flask_supportdesk.models import Attachment
from flask_supportdesk.models import Message
from flask_supportdesk.models import Notification
from flask_supportdesk.models import Source
from flask_supportdesk.models import Status
from flask_supportdesk.models import Ticket
from flask_supportdesk.services import inbound
from flask_supportdesk.services import messages
from flask_supportdesk.services import notifications
from flask_supportdesk.services import tickets
from flask_supportdesk.values import Actor

TESTS = pathlib.Path(__file__).parent
SECRET = "inbound-shared-secret"
ALICE = "Alice Customer <alice@example.com>"


@pytest.fixture
def app(request: pytest.FixtureRequest, tmp_path: t.Any, smtpd: SMTPServer) -> t.Iterator[Flask]:
    yield from mail_app(
        request,
        tmp_path,
        smtpd,
        SUPPORTDESK_INBOUND_ADDRESS="support@store.example",
        SUPPORTDESK_INBOUND_SECRET=SECRET,
    )


@pytest.fixture
def plain_app(request: pytest.FixtureRequest, tmp_path: t.Any, smtpd: SMTPServer) -> t.Iterator[Flask]:
    """The store mailing through ``smtpd``, without inbound mail set up."""
    yield from mail_app(request, tmp_path, smtpd)


def ingest(app: Flask, raw: bytes, **options: t.Any) -> inbound.Ingested:
    with app.app_context():
        return inbound.ingest(raw, **options)


def refused(app: Flask, raw: bytes, **options: t.Any) -> inbound.MailRefused:
    with pytest.raises(inbound.MailRefused) as caught:
        ingest(app, raw, **options)
    return caught.value


def root(number: str) -> str:
    return f"<ticket.{number.lower()}@localhost>"


def thread(app: Flask, number: str) -> list[Message]:
    with app.app_context():
        session = get_state().db.session
        ticket = session.scalars(sa.select(Ticket).filter_by(number=number)).one()
        rows = list(session.scalars(sa.select(Message).filter_by(ticket_id=ticket.id).order_by(Message.id)))
        for row in rows:
            _ = row.attachments
        session.expunge_all()
        return rows


def ticket_row(app: Flask, number: str) -> Ticket:
    with app.app_context():
        session = get_state().db.session
        ticket = session.scalars(sa.select(Ticket).filter_by(number=number)).one()
        session.expunge(ticket)
        return ticket


def counts(app: Flask) -> tuple[int, int, int]:
    """Tickets, messages and outbox rows: what a refused mail must leave alone."""
    with app.app_context():
        session = get_state().db.session
        return tuple(  # type: ignore[return-value]
            session.scalar(sa.select(sa.func.count()).select_from(model))
            for model in (Ticket, Message, Notification)
        )


def alice_ticket(app: Flask, body: str = "It never came.") -> str:
    with app.test_request_context():
        return tickets.open_ticket(
            Actor("1", "Alice Customer", "alice@example.com"), subject="Parcel missing", body=body
        ).number


def reply_to_mail(
    mail: Received, sender: str, text: str, *, to: str | None = None, **headers: str
) -> bytes:
    """What a mail client sends when its user answers ``mail``: to its Reply-To (or From),
    answering its Message-ID, the original quoted below."""
    original = mail.message
    reply = email.message.EmailMessage()
    reply["From"] = sender
    reply["To"] = to or str(original["Reply-To"] or original["From"])
    reply["Subject"] = "Re: " + str(original["Subject"])
    reply["Date"] = email.utils.formatdate()
    reply["Message-ID"] = email.utils.make_msgid(domain="mail.example.com")
    reply["In-Reply-To"] = original["Message-ID"]
    reply["References"] = f"{original['References']} {original['Message-ID']}".strip()
    for name, value in headers.items():
        reply[name.replace("_", "-")] = value
    quoted = "\n".join(f"> {line}" for line in mail.text.splitlines())
    when = email.utils.format_datetime(email.utils.parsedate_to_datetime(str(original["Date"])))
    reply.set_content(f"{text}\n\nOn {when}, Store Support <support@store.example> wrote:\n{quoted}\n")
    return reply.as_bytes(policy=email.policy.SMTP)


def staff_reply(app: Flask, number: str, body: str = "We are looking into it.") -> None:
    with app.test_request_context():
        messages.post_message(Actor("10", "Ann Agent", "ann@store.example", "agent"), number, body)


# -------------------------------------------------------------------------------------
# A reply to a real notification, read and answered as a person would
# -------------------------------------------------------------------------------------


def test_a_customer_answers_a_real_notification_and_staff_hear_of_it(
    app: Flask, smtpd: SMTPServer, canary_ticket: CanaryTicket
) -> None:
    number = canary_ticket.number
    smtpd.clear()
    staff_reply(app, number, "Could you send us the parcel number?")
    [mail] = smtpd.to("alice@example.com")
    message = mail.message
    reply_to = message["Reply-To"].addresses[0]
    assert reply_to.username.startswith("support+") and reply_to.domain == "store.example"
    assert number.lower() in reply_to.username
    assert message["In-Reply-To"] == root(number)

    smtpd.clear()
    raw = reply_to_mail(mail, ALICE, "The parcel number is 4711.")
    result = ingest(app, raw)
    assert (result.outcome, result.ticket) == ("posted", number)

    newest = thread(app, number)[-1]
    assert newest.body == "The parcel number is 4711."
    assert newest.author_id == "1" and not newest.author_is_staff
    assert newest.email_message_id == email.message_from_bytes(raw)["Message-ID"]
    assert ticket_row(app, number).status is Status.PENDING_ADMIN

    # The ticket was escalated to the managers by the canary fixture: they hear of it.
    staff_mails = [m for m in smtpd.mails if "alice@example.com" not in m.rcpt]
    assert staff_mails and all("Customer replied" in m.message["Subject"] for m in staff_mails)
    for received in staff_mails:
        assert "The parcel number is 4711." in received.text
        assert "Could you send us the parcel number?" not in received.text  # the quote is cut
        assert_no_canary(received.everything())
    assert not smtpd.to("alice@example.com")  # nobody hears of their own reply
    for row in outbox_rows(app):
        assert_no_canary(row.payload)


def test_the_signed_reply_address_alone_threads_a_reply(app: Flask, smtpd: SMTPServer) -> None:
    number = alice_ticket(app)
    staff_reply(app, number)
    [mail] = smtpd.to("alice@example.com")[-1:]
    reply_address = mail.message["Reply-To"].addresses[0].addr_spec
    # A client that dropped In-Reply-To and References, and changed the case.
    raw = eml("signature.eml", TO=reply_address.upper())
    assert ingest(app, raw).outcome == "posted"
    assert thread(app, number)[-1].body == "Please send the replacement to my office address instead."


def test_without_an_inbound_address_mails_carry_no_reply_to(
    plain_app: Flask, smtpd: SMTPServer
) -> None:
    plain = plain_app
    with plain.app_context():
        assert inbound.reply_address("T-ABC") is None
    number = portal_ticket(login(plain.test_client(), 1))
    [mail] = smtpd.to("alice@example.com")
    assert mail.message["Reply-To"] is None and number in mail.message["Subject"]


# -------------------------------------------------------------------------------------
# Who may write: spoofing, foreign and tampered tokens
# -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sender",
    [
        "Bob Customer <bob@example.com>",  # another customer
        "Alice Customer <alice@evil.example>",  # the requester's name, another address
        '"alice@example.com" <mallory@evil.example>',  # the address as the display name
        "Eve <eve@example.net>",  # nobody the store knows
    ],
)
def test_a_sender_who_is_not_on_the_ticket_writes_nothing(app: Flask, sender: str) -> None:
    number = alice_ticket(app)
    before = counts(app)
    error = refused(app, eml("gmail_reply.eml", FROM=sender, IN_REPLY_TO=root(number)))
    assert error.code == "mail_refused" and number not in error.message
    assert counts(app) == before
    assert [m.body for m in thread(app, number)] == ["It never came."]


def test_reply_to_and_sender_are_never_the_identity(app: Flask) -> None:
    number = alice_ticket(app)
    before = counts(app)
    raw = eml("signature.eml", FROM="Bob Customer <bob@example.com>", IN_REPLY_TO=root(number))
    raw = raw.replace(b"To: ", b"Reply-To: alice@example.com\nSender: alice@example.com\nTo: ", 1)
    refused(app, raw)
    assert counts(app) == before


@pytest.mark.settings(inbound_opens_tickets=True)
def test_an_opened_ticket_is_never_the_way_into_anothers_thread(app: Flask) -> None:
    """Even where new mail opens tickets, a sender refused on the ticket a mail names
    opens nothing from it: no new ticket carries its thread, nobody is mailed."""
    number = alice_ticket(app)
    before = counts(app)
    refused(app, eml("gmail_reply.eml", FROM="Bob Customer <bob@example.com>", IN_REPLY_TO=root(number)))
    assert counts(app) == before


def test_another_tickets_token_and_a_tampered_token(app: Flask) -> None:
    alices = alice_ticket(app)
    with app.test_request_context():
        bobs = tickets.open_ticket(
            Actor("2", "Bob Customer", "bob@example.com"), subject="Refund", body="Please."
        ).number
        bob_token = inbound.reply_token(bobs)
        alice_token = inbound.reply_token(alices)
    before = counts(app)
    # Alice writes to Bob's (valid) reply address: she may not write on his ticket.
    refused(app, eml("signature.eml", TO=f"support+{bob_token}@store.example"))
    # Bob's number with Alice's signature, and Alice's token with one character changed.
    forged = f"{bobs.lower()}.{alice_token.rpartition('.')[2]}"
    refused(app, eml("signature.eml", FROM="Bob <bob@example.com>", TO=f"support+{forged}@store.example"))
    flipped = alice_token[:-1] + ("a" if alice_token[-1] != "a" else "b")
    refused(app, eml("signature.eml", TO=f"support+{flipped}@store.example"))
    refused(app, eml("signature.eml", TO=f"support+{alices.lower()}@store.example"))  # unsigned
    assert counts(app) == before
    with app.app_context():
        assert inbound.number_of_token(alice_token) == alices.lower()
        assert inbound.number_of_token(flipped) is None


def test_staff_answer_by_mail_only_a_notification_sent_to_them(
    app: Flask, smtpd: SMTPServer
) -> None:
    number = alice_ticket(app)
    customer_reply = eml("signature.eml", IN_REPLY_TO=root(number))
    assert ingest(app, customer_reply).outcome == "posted"
    [to_ann] = smtpd.to("ann@store.example")[-1:]
    assert "Customer replied" in to_ann.message["Subject"]

    smtpd.clear()
    raw = reply_to_mail(to_ann, "Ann Agent <ann@store.example>", "The replacement is on its way.")
    assert ingest(app, raw).outcome == "posted"
    newest = thread(app, number)[-1]
    assert newest.author_is_staff and newest.body == "The replacement is on its way."
    assert ticket_row(app, number).status is Status.PENDING_CUSTOMER
    [to_alice] = smtpd.to("alice@example.com")
    assert "The replacement is on its way." in to_alice.text

    # Knowing the thread root (every customer does) is not enough to write as staff, nor
    # is a notification that went to someone else.
    before = counts(app)
    refused(app, eml("signature.eml", FROM="Ann Agent <ann@store.example>", IN_REPLY_TO=root(number)))
    refused(app, reply_to_mail(to_ann, "Lena Lower-Staff <lena@store.example>", "Me too."))
    assert counts(app) == before


# -------------------------------------------------------------------------------------
# New mail, guests, closed tickets, redelivery
# -------------------------------------------------------------------------------------


def test_new_mail_is_refused_unless_the_store_lets_mail_open_tickets(app: Flask) -> None:
    before = counts(app)
    refused(app, eml("new_request.eml"))
    assert counts(app) == before


@pytest.mark.settings(inbound_opens_tickets=True)
def test_new_mail_opens_a_ticket_for_the_account_or_a_guest(app: Flask, smtpd: SMTPServer) -> None:
    mine = ingest(app, eml("new_request.eml"))
    assert mine.outcome == "opened"
    ticket = ticket_row(app, mine.ticket)
    assert ticket.source is Source.EMAIL and ticket.requester_id == "1"
    assert ticket.subject == "Frage zur Größe"
    assert thread(app, mine.ticket)[0].body == "Guten Tag, fällt die Jacke groß aus? Ich trage sonst M."

    guest = ingest(app, eml("new_request.eml", FROM="Gustav Gast <Gustav@Example.ORG>"))
    ticket = ticket_row(app, guest.ticket)
    assert ticket.source is Source.EMAIL and ticket.requester_id is None
    assert (ticket.requester_email, ticket.requester_name) == ("gustav@example.org", "Gustav Gast")
    # The guest is acknowledged, and answers by mail.
    [ack] = smtpd.to("gustav@example.org")
    assert ack.message["Reply-To"].addresses[0].username.startswith("support+")
    answer = reply_to_mail(ack, "Gustav Gast <gustav@example.org>", "Size M, please.")
    assert ingest(app, answer).outcome == "posted"
    assert thread(app, guest.ticket)[-1].body == "Size M, please."
    assert thread(app, guest.ticket)[-1].author_id is None
    # Someone else cannot answer the guest's thread.
    refused(app, reply_to_mail(ack, "Gustav Gast <gustav@evil.example>", "Size XL."))


def test_a_reply_to_a_closed_ticket_opens_a_linked_follow_up(app: Flask) -> None:
    number = alice_ticket(app)
    with app.test_request_context():
        tickets.close_ticket(Actor("1", "Alice Customer", "alice@example.com"), number)
    result = ingest(app, eml("signature.eml", IN_REPLY_TO=root(number)))
    assert result.outcome == "follow_up" and result.ticket != number
    follow_up = ticket_row(app, result.ticket)
    original = ticket_row(app, number)
    assert follow_up.follow_up_of_id == original.id and follow_up.source is Source.EMAIL
    assert follow_up.requester_id == "1"
    assert original.status is Status.CLOSED and len(thread(app, number)) == 1
    # A stranger's reply to the closed ticket opens nothing, and staff answering a
    # notification of it are told it is closed (only the requester continues it).
    before = counts(app)
    refused(app, eml("signature.eml", FROM="Bob <bob@example.com>", IN_REPLY_TO=root(number)))
    with app.app_context():
        # Her notification of the closed ticket (not of the follow-up: rows come back in
        # no order of their own on PostgreSQL).
        row = get_state().db.session.scalars(
            sa.select(Notification).filter_by(recipient_email="ann@store.example", ticket_id=original.id)
        ).one()
        ann_answers = row.message_id
    with pytest.raises(TicketClosed):
        ingest(app, eml("signature.eml", FROM="Ann Agent <ann@store.example>", IN_REPLY_TO=ann_answers))
    assert counts(app) == before
    result = app.test_cli_runner().invoke(
        args=["supportdesk", "ingest-email"],
        input=eml("signature.eml", FROM="Ann Agent <ann@store.example>", IN_REPLY_TO=ann_answers),
    )
    assert result.exit_code == 65 and "This ticket is closed." in result.stderr


@pytest.mark.settings(inbound_opens_tickets=True)
def test_a_mail_delivered_twice_is_stored_once(app: Flask) -> None:
    number = alice_ticket(app)
    reply = eml("attachments.eml", IN_REPLY_TO=root(number))
    first, again = ingest(app, reply), ingest(app, reply)
    assert (first.outcome, again.outcome) == ("posted", "duplicate")
    assert again.ticket == number and len(thread(app, number)) == 2
    with app.app_context():
        assert get_state().db.session.scalar(sa.select(sa.func.count()).select_from(Attachment)) == 2
    new = eml("new_request.eml", MESSAGE_ID="<same-new@mail.example.com>")
    assert [ingest(app, new).outcome for _ in range(3)] == ["opened", "duplicate", "duplicate"]
    # A mail without a Message-ID is known by its bytes.
    bare = eml("signature.eml", IN_REPLY_TO=root(number)).replace(b"Message-ID: <", b"X-Old-Id: <")
    assert [ingest(app, bare).outcome for _ in range(2)] == ["posted", "duplicate"]
    assert len(thread(app, number)) == 3


# -------------------------------------------------------------------------------------
# Mail loops
# -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "options", "reason"),
    [
        ("auto_reply.eml", {}, "auto_submitted"),
        ("precedence_auto_reply.eml", {}, "precedence"),
        ("bounce.eml", {}, "report"),
        ("list_mail.eml", {}, "list"),
        ("signature.eml", {"sender": ""}, "null_sender"),
    ],
)
@pytest.mark.settings(inbound_opens_tickets=True)
def test_automatic_mail_is_ignored(app: Flask, name: str, options: dict[str, t.Any], reason: str) -> None:
    number = alice_ticket(app)
    before = counts(app)
    result = ingest(app, eml(name, IN_REPLY_TO=root(number), REFERENCES=root(number)), **options)
    assert (result.outcome, result.reason, result.ticket) == ("ignored", reason, None)
    assert counts(app) == before


def test_two_auto_responders_do_not_loop(app: Flask, smtpd: SMTPServer) -> None:
    """Our notification answered by an out-of-office, whose answer an out-of-office at
    the store answers again: after one exchange nothing more is written or sent."""
    number = alice_ticket(app)
    staff_reply(app, number)
    before, mails = counts(app), len(smtpd.mails)
    for _round in range(3):
        [ours] = smtpd.to("alice@example.com")[-1:]
        out_of_office = eml(
            "auto_reply.eml", IN_REPLY_TO=ours.message["Message-ID"], REFERENCES=ours.message["Message-ID"]
        )
        assert ingest(app, out_of_office).outcome == "ignored"
        # The store's own auto-responder answering that, and our own mail coming back.
        theirs = eml("precedence_auto_reply.eml", FROM="Ann Agent <ann@store.example>", IN_REPLY_TO=root(number))
        assert ingest(app, theirs).outcome == "ignored"
        echo = eml("signature.eml", FROM="Store Support <support@store.example>", IN_REPLY_TO=root(number))
        assert ingest(app, echo).reason == "own_address"
        assert counts(app) == before and len(smtpd.mails) == mails
    # And what we send says it is automatic, so well-behaved responders stay quiet.
    assert ours.message["Auto-Submitted"] == "auto-generated"


@pytest.mark.settings(inbound_hourly_limit=3)
def test_auto_responders_that_hide_what_they_are_stop_at_the_hourly_limit(
    app: Flask, smtpd: SMTPServer
) -> None:
    """The customer's and an agent's responders send no loop headers at all and answer
    every mail: each of our mails gets an answer, until the ticket's hourly limit."""
    number = alice_ticket(app)
    staff_reply(app, number)
    outcomes = []
    for _round in range(3):
        [ours] = smtpd.to("alice@example.com")[-1:]
        outcomes.append(ingest(app, reply_to_mail(ours, ALICE, "I am away.")).outcome)
        [to_ann] = smtpd.to("ann@store.example")[-1:]
        outcomes.append(ingest(app, reply_to_mail(to_ann, "Ann Agent <ann@store.example>", "Ann is away.")).outcome)
    assert outcomes == ["posted", "posted", "posted", "ignored", "ignored", "ignored"]
    before = counts(app), len(smtpd.mails)
    [ours] = smtpd.to("alice@example.com")[-1:]
    assert ingest(app, reply_to_mail(ours, ALICE, "I am away.")).reason == "loop"
    assert (counts(app), len(smtpd.mails)) == before


# -------------------------------------------------------------------------------------
# What goes in: quotes, charsets, HTML, attachments, headers
# -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kept", "cut"),
    [
        ("gmail_reply.eml", "The parcel number is 4711, and I am at home all week.", "Could you send"),
        ("outlook_reply.eml", "the invoice shows 49,90 € but I paid 39,90 €. Müller", "We will check"),
        ("apple_mail_reply.eml", "Das Paket ist angekommen, vielen Dank! Die Größe passt", "on its way"),
        ("signature.eml", "Please send the replacement to my office address instead.", "SIGNATURE-LINE"),
        ("forwarded.eml", "Order 1001: 1 x Jacket, size XL.", "@@nothing@@"),
    ],
)
def test_quotes_and_signatures_are_cut_in_every_clients_style(
    app: Flask, name: str, kept: str, cut: str
) -> None:
    number = alice_ticket(app)
    assert ingest(app, eml(name, IN_REPLY_TO=root(number), REFERENCES=root(number))).outcome == "posted"
    body = thread(app, number)[-1].body
    assert kept in body and cut not in body
    assert "wrote:" not in body and "Original Message" not in body and not body.startswith(">")


def test_an_html_only_mail_becomes_safe_text(app: Flask) -> None:
    number = alice_ticket(app)
    ingest(app, eml("html_only.eml", IN_REPLY_TO=root(number)))
    message = thread(app, number)[-1]
    assert "Hello & good morning," in message.body and "5 < 7." in message.body
    for gone in ("SCRIPT-NOT-STORED", "STYLE-NOT-STORED", "TITLE-NOT-STORED", "<p>", "onerror", "javascript:", "<svg"):
        assert gone not in message.body, gone
    shown = str(message.html)
    assert "<script" not in shown and "onerror" not in shown and "javascript:" not in shown
    client = login(client_for(app), 10)
    page = client.get(f"/support/desk/tickets/{number}").get_data(as_text=True)
    assert "window.pwned" not in page and "5 &lt; 7." in page


def client_for(app: Flask) -> t.Any:
    return app.test_client()


def test_attachments_follow_the_portal_rules_and_a_bad_part_is_dropped_with_a_note(
    app: Flask,
) -> None:
    number = alice_ticket(app)
    result = ingest(app, eml("attachments.eml", IN_REPLY_TO=root(number)))
    assert result.outcome == "posted" and set(result.dropped) == {"setup.exe", "photo.png"}
    message = thread(app, number)[-1]
    names = sorted(a.filename for a in message.attachments)
    assert names[0] == "img src=x onerror=alert(1).txt" and names[1] == "invoice.pdf"
    assert all("<" not in name and '"' not in name for name in names)
    assert message.body.startswith("Here are the documents you asked for.")
    assert "setup.exe was not added: File type not allowed." in message.body
    assert "photo.png was not added: File content does not match its type." in message.body
    page = login(client_for(app), 10).get(f"/support/desk/tickets/{number}").get_data(as_text=True)
    assert "<img src=x" not in page and "onerror=alert(1).txt" in page


def test_more_files_than_a_message_takes_are_dropped_with_a_note(app: Flask) -> None:
    number = alice_ticket(app)
    mail = email.message.EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = ALICE, "support@store.example", "Re: files"
    mail["In-Reply-To"] = root(number)
    mail.set_content("Seven files.")
    for index in range(7):
        mail.add_attachment(f"file {index}\n".encode(), "text", "plain", filename=f"f{index}.txt")
    result = ingest(app, mail.as_bytes())
    message = thread(app, number)[-1]
    assert [a.filename for a in message.attachments] == [f"f{i}.txt" for i in range(5)]
    assert result.dropped == ("f5.txt", "f6.txt") and "At most 5 files." in message.body


@pytest.mark.settings(inbound_opens_tickets=True)
def test_line_breaks_in_names_and_subjects_break_no_header(app: Flask, smtpd: SMTPServer) -> None:
    result = ingest(app, eml("header_injection.eml"))
    ticket = ticket_row(app, result.ticket)
    for text in (ticket.subject, ticket.requester_name):
        assert "\r" not in text and "\n" not in text and "\u202e" not in text
    assert ticket.subject.startswith("Help Bcc: victim@example.net")
    assert ticket.requester_email == "eve@example.net"
    [ack] = smtpd.mails[-1:]
    assert ack.rcpt == ["eve@example.net"]
    assert ack.message["Bcc"] is None and ack.message["X-Evil"] is None
    assert not smtpd.to("victim@example.net")


def test_internal_text_is_never_echoed_back(
    app: Flask, smtpd: SMTPServer, canary_ticket: CanaryTicket
) -> None:
    number = canary_ticket.number
    smtpd.clear()
    result = ingest(app, eml("gmail_reply.eml", IN_REPLY_TO=root(number)))
    assert_no_canary(inbound.summary(result))
    assert_no_canary(result.to_dict())
    error = refused(app, eml("gmail_reply.eml", FROM="Bob <bob@example.com>", IN_REPLY_TO=root(number)))
    assert_no_canary(error.to_dict())
    for mail in smtpd.mails:
        assert_no_canary(mail.everything())
    assert not smtpd.to("alice@example.com") and not smtpd.to("bob@example.com")
    assert CANARY not in thread(app, number)[-1].body


# -------------------------------------------------------------------------------------
# Limits and unreadable input
# -------------------------------------------------------------------------------------


@pytest.mark.settings(inbound_max_size=4096)
def test_an_oversized_mail_is_refused(app: Flask) -> None:
    number = alice_ticket(app)
    raw = eml("signature.eml", IN_REPLY_TO=root(number)) + b"x" * 5000
    with pytest.raises(inbound.MailTooLarge, match="larger than 4 KiB"):
        ingest(app, raw)
    result = app.test_cli_runner().invoke(args=["supportdesk", "ingest-email"], input=raw)
    assert result.exit_code == 65 and "refused: The mail is larger than 4 KiB." in result.stderr
    response = post_mail(app, raw)
    assert response.status_code == 413 and response.json["error"]["code"] == "payload_too_large"
    assert len(thread(app, number)) == 1


@pytest.mark.settings(inbound_max_parts=4)
def test_a_mail_with_too_many_parts_is_refused(app: Flask) -> None:
    number = alice_ticket(app)
    raw = eml("attachments.eml", IN_REPLY_TO=root(number))
    with pytest.raises(inbound.TooManyParts, match="more than 4 parts"):
        ingest(app, raw)
    result = app.test_cli_runner().invoke(args=["supportdesk", "ingest-email"], input=raw)
    assert result.exit_code == 65 and "more than 4 parts" in result.stderr
    response = post_mail(app, raw)
    assert response.status_code == 413 and response.json["error"]["code"] == "too_many_parts"
    assert len(thread(app, number)) == 1


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"just some words, no headers at all",
        b"To: support@store.example\nSubject: no sender\n\nhello\n",
        b"From: a@example.com, b@example.com\nTo: support@store.example\n\nhello\n",
        b"From: not an address\nTo: support@store.example\n\nhello\n",
    ],
)
def test_unreadable_input_is_refused(app: Flask, raw: bytes) -> None:
    before = counts(app)
    with pytest.raises(inbound.MailUnreadable):
        ingest(app, raw)
    assert counts(app) == before


# -------------------------------------------------------------------------------------
# The command line (Click's runner and a real MTA-style pipe)
# -------------------------------------------------------------------------------------


def test_cli_exit_codes(app: Flask) -> None:
    number = alice_ticket(app)
    runner = app.test_cli_runner()
    cases = [
        (eml("signature.eml", IN_REPLY_TO=root(number)), [], 0, f"posted {number}"),
        (eml("auto_reply.eml", IN_REPLY_TO=root(number)), [], 0, "ignored (auto_submitted)"),
        (eml("signature.eml", IN_REPLY_TO=root(number)), ["--sender", ""], 0, "ignored (null_sender)"),
        (b"no headers here", [], 65, "refused:"),
        (eml("new_request.eml"), [], 67, "refused: No ticket accepts this mail"),
        (eml("signature.eml", FROM="Bob <bob@example.com>", IN_REPLY_TO=root(number)), [], 67, "refused:"),
    ]
    for raw, args, code, line in cases:
        result = runner.invoke(args=["supportdesk", "ingest-email", *args], input=raw)
        assert result.exit_code == code, (line, result.output)
        assert line in result.stderr
    with app.app_context():
        token = inbound.reply_token(number)
    result = runner.invoke(
        args=["supportdesk", "ingest-email", "--recipient", f"support+{token}@store.example"],
        input=eml("signature.eml"),
    )
    assert result.exit_code == 0 and f"posted {number}" in result.stderr


def _run_cli(tmp_path: pathlib.Path, database: str, raw: bytes) -> subprocess.CompletedProcess[bytes]:
    module = tmp_path / "mta_store.py"
    module.write_text(
        "import os\nimport hostapp\n"
        "app = hostapp.create_app({'SQLALCHEMY_DATABASE_URI': os.environ['STORE_DB'],"
        " 'SUPPORTDESK_INBOUND_ADDRESS': 'support@store.example',"
        " 'SUPPORTDESK_PUBLIC_URL': 'http://localhost',"
        " 'SUPPORTDESK_ATTACHMENT_FOLDER': os.environ['STORE_FILES']})\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(TESTS)]),
        "STORE_DB": database,
        "STORE_FILES": str(tmp_path / "files"),
    }
    flask = pathlib.Path(sys.executable).with_name("flask")
    return subprocess.run(
        [str(flask), "--app", "mta_store", "supportdesk", "ingest-email"],
        input=raw, capture_output=True, env=env, timeout=120, check=False,
    )  # fmt: skip


def test_a_real_pipe_from_an_mta(app: Flask, tmp_path: pathlib.Path) -> None:
    number = alice_ticket(app)
    database = app.config["SQLALCHEMY_DATABASE_URI"]
    done = _run_cli(tmp_path, database, eml("outlook_reply.eml", IN_REPLY_TO=root(number)))
    assert done.returncode == 0, done.stderr
    assert done.stderr.decode().strip() == f"posted {number}"
    assert "39,90 €" in thread(app, number)[-1].body
    done = _run_cli(tmp_path, database, eml("outlook_reply.eml", FROM="Bob <bob@example.com>", IN_REPLY_TO=root(number)))
    assert done.returncode == 67 and done.stderr.decode().startswith("refused:")
    # The database is gone: the MTA must keep the mail and try again.
    gone = f"sqlite:///{tmp_path / 'no-such-folder' / 'desk.sqlite'}"
    done = _run_cli(tmp_path, gone, eml("outlook_reply.eml", IN_REPLY_TO=root(number)))
    assert done.returncode == 75 and b"temporary failure" in done.stderr
    assert len(thread(app, number)) == 2


# -------------------------------------------------------------------------------------
# The HTTP endpoint
# -------------------------------------------------------------------------------------

URL = "/support/api/v1/inbound/email"


def post_mail(app: Flask, raw: bytes, secret: str | None = SECRET, **kwargs: t.Any) -> t.Any:
    headers = {"Authorization": f"Bearer {secret}"} if secret is not None else {}
    headers.update(kwargs.pop("headers", {}))
    return app.test_client().post(
        URL, data=raw, headers=headers, content_type=kwargs.pop("content_type", "message/rfc822"), **kwargs
    )


def test_http_endpoint_takes_a_mail_with_the_secret(app: Flask) -> None:
    number = alice_ticket(app)
    response = post_mail(app, eml("apple_mail_reply.eml", IN_REPLY_TO=root(number)))
    assert response.status_code == 201, response.json
    assert response.json == {"outcome": "posted", "ticket": number, "reason": None, "dropped": []}
    again = post_mail(app, eml("auto_reply.eml", IN_REPLY_TO=root(number)))
    assert again.status_code == 200 and again.json["outcome"] == "ignored"
    with app.app_context():
        token = inbound.reply_token(number)
    by_envelope = post_mail(
        app, eml("signature.eml"), query_string={"recipient": f"support+{token}@store.example"}
    )
    assert by_envelope.status_code == 201 and by_envelope.json["ticket"] == number


@pytest.mark.parametrize(
    ("secret", "status", "code"),
    [(None, 401, "unauthorized"), ("wrong", 403, "forbidden"), ("", 401, "unauthorized"),
     (SECRET + "x", 403, "forbidden")],
)  # fmt: skip
def test_http_endpoint_refuses_a_missing_or_wrong_secret(
    app: Flask, secret: str | None, status: int, code: str
) -> None:
    number = alice_ticket(app)
    before = counts(app)
    response = post_mail(app, eml("signature.eml", IN_REPLY_TO=root(number)), secret=secret)
    assert response.status_code == status
    assert response.json["error"]["code"] == code and set(response.json) == {"error"}
    assert counts(app) == before


def test_http_endpoint_errors_in_the_json_shape(app: Flask) -> None:
    number = alice_ticket(app)
    cases = [
        (post_mail(app, eml("new_request.eml")), 404, "mail_refused"),
        (post_mail(app, b"no headers"), 400, "unreadable_mail"),
        (post_mail(app, b'{"x": 1}', content_type="application/json"), 415, "unsupported_media_type"),
        (post_mail(app, eml("signature.eml"), query_string={"as": "staff"}), 400, "validation_error"),
        (post_mail(app, eml("signature.eml", IN_REPLY_TO=root(number)) + b"x" * (26 * 1024 * 1024)),
         413, "payload_too_large"),
    ]  # fmt: skip
    for response, status, code in cases:
        assert response.status_code == status, (code, response.json)
        assert response.json["error"]["code"] == code
    assert len(thread(app, number)) == 1


def test_http_endpoint_is_off_without_a_secret(plain_app: Flask) -> None:
    response = post_mail(plain_app, eml("signature.eml"))
    assert response.status_code == 404 and response.json["error"]["code"] == "not_found"


def test_http_endpoint_is_in_the_openapi_document(app: Flask) -> None:
    document = app.test_client().get("/support/api/v1/openapi.json").json
    operation = document["paths"]["/inbound/email"]["post"]
    assert operation["security"] == [{"inboundSecret": []}]
    assert "message/rfc822" in operation["requestBody"]["content"]
    assert {"201", "200", "401", "403", "404", "413", "415"} <= set(operation["responses"])
    assert document["components"]["securitySchemes"]["inboundSecret"]["scheme"] == "bearer"


def test_notification_render_carries_the_reply_address(app: Flask) -> None:
    number = alice_ticket(app)
    with app.app_context():
        row = get_state().db.session.scalars(sa.select(Notification)).first()
        rendered = notifications.render(row)
        assert rendered.reply_address == inbound.reply_address(number)
        assert rendered.reply_address.startswith(f"support+{number.lower()}.")


def test_a_host_with_csrfprotect_lets_the_mail_server_in(tmp_path: pathlib.Path) -> None:
    from flask_wtf.csrf import CSRFProtect

    import hostapp

    host = hostapp.create_app(
        {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'csrf.sqlite'}",
         "SUPPORTDESK_INBOUND_SECRET": SECRET, "SUPPORTDESK_PUBLIC_URL": "http://localhost",
         "SUPPORTDESK_ATTACHMENT_FOLDER": str(tmp_path / "files"), "WTF_CSRF_ENABLED": True},
        before_desk=CSRFProtect,
    )  # fmt: skip
    with host.app_context():
        get_state().db.create_all()
        get_state().desk.create_all()
    number = alice_ticket(host)
    response = post_mail(host, eml("signature.eml", IN_REPLY_TO=root(number)))
    assert response.status_code == 201, response.json
    assert "flask_supportdesk.blueprints.api.inbound.inbound_email" in host.extensions["csrf"]._exempt_views
    # The rest of the API still wants its token.
    client = host.test_client()
    login(client, 1)
    refused_post = client.post("/support/api/v1/tickets", json={"subject": "s", "body": "b"})
    assert refused_post.status_code == 400 and refused_post.json["error"]["code"] == "csrf_failed"


def test_ingest_keeps_to_the_unit_of_work(app: Flask) -> None:
    """Beside the host's uncommitted work it refuses, like every service; inside
    ``host_transaction()`` the message is the host's to commit or roll back."""
    from flask_supportdesk import host_transaction
    from flask_supportdesk.errors import UncommittedHostChanges
    from flask_supportdesk.models import Department

    number = alice_ticket(app)
    with app.app_context():
        session = get_state().db.session
        session.add(Department(slug="returns", name="Returns"))
        with pytest.raises(UncommittedHostChanges):
            inbound.ingest(eml("signature.eml", IN_REPLY_TO=root(number)))
        session.rollback()
        with host_transaction():
            assert inbound.ingest(eml("signature.eml", IN_REPLY_TO=root(number))).outcome == "posted"
        session.rollback()
    assert len(thread(app, number)) == 1
    with app.app_context():
        with host_transaction():
            assert inbound.ingest(eml("signature.eml", IN_REPLY_TO=root(number))).outcome == "posted"
        get_state().db.session.commit()
    assert len(thread(app, number)) == 2


@pytest.mark.settings(inbound_opens_tickets=True)
def test_the_same_mail_delivered_twice_at_once_is_stored_once(app: Flask) -> None:
    """Two MTA deliveries of one mail racing (HOSTILE H5): one message, one new ticket;
    the loser answers ``duplicate``, whichever step it lost at."""
    from test_concurrency import race

    number = alice_ticket(app)
    reply = eml("attachments.eml", IN_REPLY_TO=root(number))
    outcomes = race([lambda: ingest(app, reply).outcome for _ in range(4)])
    assert sorted(outcomes) == ["duplicate", "duplicate", "duplicate", "posted"]
    assert len(thread(app, number)) == 2
    new = eml("new_request.eml", FROM="Gustav Gast <gustav@example.org>")
    outcomes = race([lambda: ingest(app, new).outcome for _ in range(4)])
    assert sorted(outcomes) == ["duplicate", "duplicate", "duplicate", "opened"]
    with app.app_context():
        session = get_state().db.session
        assert session.scalar(sa.select(sa.func.count()).select_from(Ticket)) == 2
        assert session.scalar(sa.select(sa.func.count()).select_from(Attachment)) == 2
    # The files a losing delivery stored before its commit failed are gone again.
    stored = [f for f in pathlib.Path(app.config["SUPPORTDESK_ATTACHMENT_FOLDER"]).rglob("*") if f.is_file()]
    assert len(stored) == 2


def test_finding_the_ticket_costs_the_same_for_two_references_as_for_fifty(app: Flask) -> None:
    number = alice_ticket(app)

    def statements(references: int) -> int:
        ids = [f"<ticket.t-nope{i}@localhost>" if i % 2 else f"<{i}.{uuid.uuid4()}@elsewhere.example>"
               for i in range(references)]  # fmt: skip
        mail = eml("signature.eml", IN_REPLY_TO=root(number), REFERENCES=" ".join(ids))
        executed: list[str] = []
        with app.app_context():
            engine = get_state().db.engine
            listener = lambda *args: executed.append(args[2])  # noqa: E731
            sa.event.listen(engine, "before_cursor_execute", listener)
            try:
                assert inbound.ingest(mail).outcome == "posted"
            finally:
                sa.event.remove(engine, "before_cursor_execute", listener)
        return len(executed)

    statements(2)  # the first reply also moves the ticket to pending_admin
    assert statements(2) == statements(50) <= 25


# -------------------------------------------------------------------------------------
# Delegates by mail
# -------------------------------------------------------------------------------------


def test_an_accepted_delegate_answers_by_mail_and_a_revoked_one_cannot(
    app: Flask, smtpd: SMTPServer
) -> None:
    """Bob follows Alice's ticket: he answers the reply notification he got, and his text
    goes in as a delegate's (the ticket waits for staff). Revoked, the same answer to
    the same mail writes nothing."""
    from flask_supportdesk.services import delegates

    alice = Actor("1", "Alice Customer", "alice@example.com")
    bob = Actor("2", "Bob Customer", "bob@example.com")
    number = alice_ticket(app)
    with app.test_request_context():
        invited = delegates.invite(alice, number, "bob@example.com")
        delegate_id = invited.id
        delegates.accept(bob, delegates.invitation_token(invited))
    staff_reply(app, number, "Which colour would you like instead?")
    [mail] = smtpd.to("bob@example.com")[-1:]
    assert "Which colour would you like instead?" in mail.text
    assert ingest(app, reply_to_mail(mail, "Bob Customer <bob@example.com>", "Blue, please.")).outcome == "posted"
    last = thread(app, number)[-1]
    assert last.body == "Blue, please." and last.author_id == "2"
    assert ticket_row(app, number).status is Status.PENDING_ADMIN

    with app.test_request_context():
        delegates.revoke(alice, number, delegate_id)
    before = counts(app)
    refused(app, reply_to_mail(mail, "Bob Customer <bob@example.com>", "And a bigger size."))
    assert counts(app) == before
    assert thread(app, number)[-1].body == "Blue, please."
