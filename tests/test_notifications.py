"""The notification outbox and e-mail out, against a real SMTP server on loopback.

The mails are read as a person would: parsed, every part decoded, the link followed
as the recipient. Nothing internal may be anywhere in them (HOSTILE.md).
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import email
import email.policy
import ssl
import threading
import time
import typing as t

import pytest
import sqlalchemy as sa
from flask import Flask
from mailserver import PUBLIC_URL
from mailserver import SMTPServer
from mailserver import mail_app
from mailserver import mail_link
from mailserver import outbox_rows
from mailserver import portal_ticket

import hostapp
from conftest import CANARY
from conftest import CanaryTicket
from conftest import assert_no_canary
from conftest import build_app
from conftest import login
from flask_supportdesk import Conflict
from flask_supportdesk import OutgoingNotification
from flask_supportdesk import Recipient
from flask_supportdesk import hookimpl
from flask_supportdesk import host_transaction
from flask_supportdesk._state import get_state
from flask_supportdesk.errors import ValidationError
from flask_supportdesk.hooks.builtin.mail import build_message
from flask_supportdesk.models import Notification
from flask_supportdesk.models import NotificationStatus
from flask_supportdesk.services import escalation
from flask_supportdesk.services import messages
from flask_supportdesk.services import notifications
from flask_supportdesk.services import tickets
from flask_supportdesk.values import Actor


@pytest.fixture
def app(request: pytest.FixtureRequest, tmp_path: t.Any, smtpd: SMTPServer) -> t.Iterator[Flask]:
    yield from mail_app(request, tmp_path, smtpd)


# -------------------------------------------------------------------------------------
# Who hears what, read as a person would
# -------------------------------------------------------------------------------------


def test_new_ticket_mails_the_level_staff_and_acknowledges_the_customer(
    app: Flask, smtpd: SMTPServer
) -> None:
    customer = login(app.test_client(), 1)
    number = portal_ticket(customer)

    ack = smtpd.to("alice@example.com")
    assert len(ack) == 1
    mail = ack[0].message
    assert number in mail["Subject"]
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail["From"].addresses[0].addr_spec == "support@store.example"
    assert mail["To"].addresses[0].display_name == "Alice Customer"
    root = f"<ticket.{number.lower()}@localhost>"
    assert mail["In-Reply-To"] == root and mail["References"] == root
    assert mail["Message-ID"].endswith("@localhost>") and mail["Message-ID"] != root
    assert "It never came." in ack[0].text and "It never came." in ack[0].html
    assert 'style="' in ack[0].html  # the CSS is inlined
    assert "<style" not in ack[0].html
    # The link opens the customer's own ticket page.
    page = customer.get(mail_link(ack[0]))
    assert page.status_code == 200 and "Parcel missing" in page.get_data(as_text=True)

    # Every agent (the ticket has no department, so all of them), nobody above.
    staff = {r for m in smtpd.mails for r in m.rcpt} - {"alice@example.com"}
    assert staff == {"ann@store.example", "otto@store.example", "lena@store.example"}
    for mail_ in smtpd.mails:
        assert mail_.message["In-Reply-To"] == root  # one thread per ticket
    staff_mail = smtpd.to("ann@store.example")[0]
    desk = login(app.test_client(), 10)
    page = desk.get(mail_link(staff_mail))
    assert page.status_code == 200 and "It never came." in page.get_data(as_text=True)
    assert mail_link(staff_mail).startswith("/support/desk/")
    assert {r.status for r in outbox_rows(app)} == {NotificationStatus.SENT}


def test_a_new_ticket_where_a_deleted_one_was_notifies_again(
    app: Flask, smtpd: SMTPServer
) -> None:
    """SQLite gives a deleted newest row's id to the next one: a notification keyed by
    the row id would collide with the deleted ticket's (a 500 on every new ticket)."""
    from flask_supportdesk.models import Ticket

    customer = login(app.test_client(), 1)
    first = portal_ticket(customer)
    with app.app_context():
        session = get_state().db.session
        gone = session.scalars(sa.select(Ticket).where(Ticket.number == first)).one()
        gone_id = gone.id
        session.delete(gone)  # as a host erasing a customer's data would
        session.commit()
    smtpd.clear()
    second = portal_ticket(customer, subject="Another one")
    with app.app_context():
        session = get_state().db.session
        new_id = session.scalars(sa.select(Ticket.id).where(Ticket.number == second)).one()
        if session.get_bind().dialect.name == "sqlite":
            assert new_id == gone_id  # the case this guards against really happened
    assert [second in m.message["Subject"] for m in smtpd.to("alice@example.com")] == [True]


def test_department_staff_only(app: Flask, smtpd: SMTPServer, ctx: None, owner: Actor, alice: Actor) -> None:
    from flask_supportdesk.services.departments import create_department

    create_department(owner, name="Billing", slug="billing")
    smtpd.clear()
    tickets.open_ticket(alice, subject="Invoice", body="Wrong VAT.", department="billing")
    staff = {r for m in smtpd.mails for r in m.rcpt} - {"alice@example.com"}
    # Otto works in shipping only.
    assert staff == {"ann@store.example", "lena@store.example"}


def test_staff_reply_mails_the_requester_only_and_internal_notes_nobody(
    app: Flask, smtpd: SMTPServer, ctx: None, alice: Actor, agent: Actor
) -> None:
    ticket = tickets.open_ticket(alice, subject="Refund", body="Please refund.")
    smtpd.clear()
    messages.post_message(agent, ticket.number, "Refund is on its way.")
    assert [m.rcpt for m in smtpd.mails] == [["alice@example.com"]]
    mail = smtpd.mails[0]
    assert "Refund is on its way." in mail.text and "Ann Agent" in mail.text
    assert mail_link(mail) == f"/support/tickets/{ticket.number}"

    smtpd.clear()
    messages.post_message(agent, ticket.number, f"Note {CANARY}", channel="internal")
    assert smtpd.mails == []


def test_customer_reply_goes_to_the_assignee_or_the_level(
    app: Flask, smtpd: SMTPServer, ctx: None, alice: Actor, agent: Actor, manager: Actor
) -> None:
    ticket = tickets.open_ticket(alice, subject="Size", body="Too small.")
    smtpd.clear()
    messages.post_message(alice, ticket.number, "Any news?")
    assert {r for m in smtpd.mails for r in m.rcpt} == {
        "ann@store.example", "otto@store.example", "lena@store.example",
    }  # fmt: skip
    assert "Any news?" in smtpd.mails[0].text

    tickets.update_ticket(agent, ticket.number, {"assignee": agent.id})
    smtpd.clear()
    messages.post_message(alice, ticket.number, "Hello?")
    assert [m.rcpt for m in smtpd.mails] == [["ann@store.example"]]

    # The assignee's own reply notifies the customer, not the assignee.
    smtpd.clear()
    messages.post_message(agent, ticket.number, "Here.")
    assert [m.rcpt for m in smtpd.mails] == [["alice@example.com"]]


def test_escalation_mails_the_new_level_without_the_reason(
    app: Flask, smtpd: SMTPServer, canary_ticket: CanaryTicket
) -> None:
    escalated = [m for m in smtpd.mails if m.message["Subject"].find("escalated") >= 0]
    assert [m.rcpt for m in escalated] == [["max@store.example"]]
    assert "manager" in escalated[0].text


def test_no_mail_carries_internal_content_anywhere(
    app: Flask, smtpd: SMTPServer, canary_ticket: CanaryTicket, alice: Actor
) -> None:
    """HOSTILE: the canary of the internal note, the internal attachment's name and the
    escalation reason is in no header and no part of any mail, to anyone."""
    with app.test_request_context():
        messages.post_message(alice, canary_ticket.number, "Thanks, waiting.")
    assert len(smtpd.mails) >= 5
    for mail in smtpd.mails:
        assert_no_canary(mail.everything())
    for row in outbox_rows(app):
        assert_no_canary(row.payload)
        assert_no_canary(row.last_error or "")


def test_a_customer_never_hears_of_another_customers_ticket(
    app: Flask, smtpd: SMTPServer, ctx: None, alice: Actor, bob: Actor, agent: Actor
) -> None:
    mine = tickets.open_ticket(alice, subject="Alice's order", body="Alice private text")
    tickets.open_ticket(bob, subject="Bob's order", body="Bob private text")
    messages.post_message(agent, mine.number, "For Alice only")
    for mail in smtpd.to("bob@example.com"):
        assert "Alice" not in mail.everything().replace("Alice Customer", "")
    for mail in smtpd.to("alice@example.com"):
        assert "Bob" not in mail.everything()


def test_header_injection_by_a_name_or_subject_adds_no_header(
    app: Flask, smtpd: SMTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HOSTILE: CR/LF in a host user's name and in a subject cannot add a header or a
    recipient."""
    evil = hostapp.User(3, "Eve\r\nBcc: victim@evil.example\r\nX-Evil: 1", "eve@example.com")
    monkeypatch.setitem(hostapp.USERS, 3, evil)
    customer = login(app.test_client(), 3)
    portal_ticket(customer, subject="Hi there", body="Body")
    assert smtpd.mails
    for mail in smtpd.mails:
        message = mail.message
        assert "victim@evil.example" not in mail.rcpt
        assert message["Bcc"] is None and message["X-Evil"] is None
    ack = smtpd.to("eve@example.com")[0].message
    assert ack["To"].addresses[0].addr_spec == "eve@example.com"
    assert "\n" not in ack["To"].addresses[0].display_name

    # The plugin's own guard, for a host plugin handing it anything.
    notification = OutgoingNotification(
        kind="reply_posted",
        recipient=Recipient("eve@example.com", "Eve\nBcc: victim@evil.example"),
        subject="Re: x\r\nBcc: victim@evil.example\r\n\r\nbody",
        text="t",
        html="<p>t</p>",
        ticket_number="T-1",
        url="http://localhost/",
        key="k",
        message_id="<a@b>",
        reply_to="<ticket.t-1@b>",
    )
    built = email.message_from_bytes(build_message(notification, "S <s@b>").as_bytes(),
                                     policy=email.policy.default)  # fmt: skip
    assert built["Bcc"] is None
    assert "\n" not in built["Subject"]


# -------------------------------------------------------------------------------------
# Never lost, never twice
# -------------------------------------------------------------------------------------


def test_smtp_down_during_a_burst_of_50_then_every_mail_arrives_once(
    app: Flask, smtpd: SMTPServer, alice: Actor, agent: Actor
) -> None:
    with app.test_request_context():
        number = tickets.open_ticket(alice, subject="Burst", body="Start").number
    smtpd.stop()
    with app.test_request_context():
        for i in range(50):
            messages.post_message(agent, number, f"Reply number {i}")
    rows = [r for r in outbox_rows(app) if r.kind == "reply_posted"]
    assert len(rows) == 50
    assert all(r.status is NotificationStatus.QUEUED and r.attempts == 1 for r in rows)
    assert all(r.last_error for r in rows)
    smtpd.clear()
    smtpd.start()

    # Not due yet: a plain run sends nothing; --now sends everything.
    runner = app.test_cli_runner()
    result = runner.invoke(args=["supportdesk", "deliver"])
    assert result.exit_code == 0 and result.output == "sent 0, retrying 0, failed 0\n"
    result = runner.invoke(args=["supportdesk", "deliver", "--now", "--limit", "7"])
    assert result.exit_code == 0, result.output
    assert result.output == "sent 50, retrying 0, failed 0\n"
    replies = smtpd.to("alice@example.com")
    assert len(replies) == 50
    assert len({m.message["Message-ID"] for m in replies}) == 50
    # One SMTP connection per batch of 7 (and one for the last 1).
    assert len({m.peer for m in replies}) == 8
    bodies = sorted(m.text.split("Reply number ")[1].split()[0] for m in replies)
    assert bodies == sorted(str(i) for i in range(50))
    assert runner.invoke(args=["supportdesk", "deliver", "--now"]).output == (
        "sent 0, retrying 0, failed 0\n"
    )
    assert len(smtpd.mails) == 50


class Failing:
    def __init__(self) -> None:
        self.calls = 0

    @hookimpl
    def supportdesk_deliver_notification(self, notification: OutgoingNotification) -> None:
        self.calls += 1
        raise RuntimeError(f"webhook down ({self.calls})")


@pytest.mark.settings(notification_max_attempts=3, notification_retry_delay=60)
def test_a_raising_plugin_is_retried_with_backoff_then_given_up(
    app: Flask, alice: Actor, agent: Actor
) -> None:
    with app.test_request_context():
        ticket = tickets.open_ticket(alice, subject="Retry", body="x")
        get_state().db.session.execute(sa.delete(Notification))
        get_state().db.session.commit()
        get_state().desk.register(Failing(), app=app)
        before = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        messages.post_message(agent, ticket.number, "One reply")
    (row,) = outbox_rows(app)
    assert row.attempts == 1 and row.status is NotificationStatus.QUEUED
    assert row.last_error == "RuntimeError: webhook down (1)"
    wait = (row.next_attempt_at - before).total_seconds()
    assert 30 - 1 <= wait <= 60 + 1  # 60 s with jitter

    with app.app_context():
        assert notifications.deliver().claimed == 0  # not due yet
        report = notifications.deliver(now=True)
    assert report.retrying == 1
    (row,) = outbox_rows(app)
    wait = (row.next_attempt_at - before).total_seconds()
    assert 60 - 1 <= wait <= 120 + 1  # doubled

    result = app.test_cli_runner().invoke(args=["supportdesk", "deliver", "--now"])
    assert result.exit_code == 1
    assert result.output == "sent 0, retrying 0, failed 1\n"
    (row,) = outbox_rows(app)
    assert row.status is NotificationStatus.FAILED and row.attempts == 3
    assert row.last_error == "RuntimeError: webhook down (3)"
    with app.app_context():
        assert notifications.deliver(now=True).claimed == 0  # given up: left alone
    with app.test_request_context():
        notifications.retry_failed(Actor.system(), row.id)
    assert outbox_rows(app)[0].status is NotificationStatus.QUEUED


def test_nothing_is_written_when_the_change_rolls_back(
    app: Flask, smtpd: SMTPServer, alice: Actor, agent: Actor
) -> None:
    with app.test_request_context():
        number = tickets.open_ticket(alice, subject="Rollback", body="x").number
    count = len(outbox_rows(app))
    smtpd.clear()
    with app.test_request_context():
        session = get_state().db.session
        with host_transaction():
            messages.post_message(agent, number, "Never sent")
        session.rollback()
        with pytest.raises(ValidationError):
            messages.post_message(agent, number, "")
    assert len(outbox_rows(app)) == count
    assert smtpd.mails == []
    with app.test_request_context():
        with host_transaction():
            messages.post_message(agent, number, "Sent with the host's commit")
        get_state().db.session.commit()
    assert len(outbox_rows(app)) == count + 1
    assert [m.rcpt for m in smtpd.mails] == [["alice@example.com"]]


@pytest.mark.settings(deliver_after_commit=False)
def test_delivery_left_to_the_worker(app: Flask, smtpd: SMTPServer, ctx: None, alice: Actor) -> None:
    tickets.open_ticket(alice, subject="Worker", body="x")
    assert smtpd.mails == []
    assert {r.status for r in outbox_rows(app)} == {NotificationStatus.QUEUED}
    result = app.test_cli_runner().invoke(args=["supportdesk", "deliver"])
    assert result.exit_code == 0 and result.output == "sent 4, retrying 0, failed 0\n"
    assert len(smtpd.mails) == 4


class Recording:
    def __init__(self) -> None:
        self.keys: list[str] = []
        self.lock = threading.Lock()

    @hookimpl
    def supportdesk_deliver_notification(self, notification: OutgoingNotification) -> None:
        time.sleep(0.005)  # long enough for the workers to overlap
        with self.lock:
            self.keys.append(notification.key)


def test_with_no_way_to_deliver_nothing_is_written(
    request: pytest.FixtureRequest, tmp_path: t.Any
) -> None:
    """No mail server and no delivery plugin: notifications are off, and a change pays
    nothing for them (no rows, no rendering); once a plugin delivers, they are written."""
    built = build_app(request, tmp_path)  # no SUPPORTDESK_MAIL_SERVER
    app = next(built)
    try:
        customer = login(app.test_client(), 1)
        portal_ticket(customer)
        assert outbox_rows(app) == []
        recording = Recording()
        get_state(app).desk.register(recording, app=app)
        portal_ticket(customer, subject="Now with a plugin")
        assert outbox_rows(app) and len(recording.keys) == len(outbox_rows(app))
    finally:
        next(built, None)


@pytest.mark.settings(deliver_after_commit=False, disabled_plugins="supportdesk.builtin.mail")
def test_two_workers_at_once_send_nothing_twice(app: Flask, alice: Actor, agent: Actor) -> None:
    recording = Recording()
    get_state(app).desk.register(recording, app=app)
    with app.test_request_context():
        ticket = tickets.open_ticket(alice, subject="Workers", body="x")
        for i in range(40):
            messages.post_message(agent, ticket.number, f"Reply {i}")
    total = len(outbox_rows(app))
    assert total == 44

    def worker() -> int:
        sent = 0
        with app.app_context():
            while True:
                report = notifications.deliver(limit=3)
                sent += report.sent
                if not report.claimed:
                    return sent
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: worker(), range(2)))
    assert sum(results) == total
    assert len(recording.keys) == total == len(set(recording.keys))
    assert all(results), "both workers should have delivered some"


@pytest.mark.settings(deliver_after_commit=False)
def test_a_dead_workers_claim_is_taken_over_when_its_lease_ends(
    app: Flask, smtpd: SMTPServer, ctx: None, alice: Actor
) -> None:
    tickets.open_ticket(alice, subject="Lease", body="x")
    session = get_state().db.session
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    # One row held by a live worker, the others by one that died a while ago.
    rows = session.scalars(sa.select(Notification).order_by(Notification.id)).all()
    rows[0].claim_token, rows[0].claimed_until = "live", now + dt.timedelta(minutes=5)
    for row in rows[1:]:
        row.claim_token, row.claimed_until = "dead", now - dt.timedelta(seconds=1)
    session.commit()
    assert notifications.deliver().sent == len(rows) - 1
    assert notifications.deliver(now=True).claimed == 0
    assert len(smtpd.mails) == len(rows) - 1


def test_mails_are_written_in_the_customers_language(app: Flask, smtpd: SMTPServer) -> None:
    customer = login(app.test_client(), 1)
    customer.environ_base["HTTP_ACCEPT_LANGUAGE"] = "de"
    number = portal_ticket(customer)
    (ack,) = smtpd.to("alice@example.com")
    assert "Wir haben Ihre Anfrage" in ack.message["Subject"]
    assert "Ticket öffnen" in ack.text
    # Staff get the desk's default language.
    assert "New ticket" in smtpd.to("ann@store.example")[0].message["Subject"]
    smtpd.clear()
    with app.test_request_context():  # an English request of the agent
        messages.post_message(hostapp.USERS[10].actor, number, "Bitte warten.")
    (reply,) = smtpd.to("alice@example.com")
    assert "Neue Antwort" in reply.message["Subject"]


def test_render_outside_a_request_uses_the_public_url(app: Flask, ctx: None, alice: Actor) -> None:
    ticket = tickets.open_ticket(alice, subject="Outside", body="x")
    with app.app_context():
        assert notifications.ticket_url(ticket.number, staff=True) == (
            f"{PUBLIC_URL}/support/desk/tickets/{ticket.number}"
        )


# -------------------------------------------------------------------------------------
# The store owner's page of failed deliveries
# -------------------------------------------------------------------------------------


@pytest.mark.settings(notification_max_attempts=1)
def test_owner_sees_failed_deliveries_and_retries_them(app: Flask, smtpd: SMTPServer, alice: Actor) -> None:
    from conftest import csrf_token

    smtpd.stop()
    with app.test_request_context():
        tickets.open_ticket(alice, subject="Down", body="x")
    rows = outbox_rows(app)
    assert {r.status for r in rows} == {NotificationStatus.FAILED}
    smtpd.start()

    agent = login(app.test_client(), 10)
    assert agent.get("/support/desk/notifications/failed").status_code == 403
    token = csrf_token(agent)
    refused = agent.post(f"/support/desk/notifications/{rows[0].id}/retry", data={"csrf_token": token})
    assert refused.status_code == 403
    assert outbox_rows(app)[0].status is NotificationStatus.FAILED

    owner = login(app.test_client(), 30)
    page = owner.get("/support/desk/notifications/failed")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "alice@example.com" in text and "ConnectionRefusedError" in text
    assert owner.post(f"/support/desk/notifications/{rows[0].id}/retry").status_code == 400
    response = owner.post(
        f"/support/desk/notifications/{rows[0].id}/retry", data={"csrf_token": csrf_token(owner)}
    )
    assert response.status_code == 302
    assert outbox_rows(app)[0].status is NotificationStatus.QUEUED
    again = owner.post(
        f"/support/desk/notifications/{rows[0].id}/retry", data={"csrf_token": csrf_token(owner)}
    )
    assert again.status_code == 404  # not failed any more
    result = app.test_cli_runner().invoke(args=["supportdesk", "deliver"])
    assert result.output == "sent 1, retrying 0, failed 0\n"
    assert [m.rcpt for m in smtpd.mails] == [[rows[0].recipient_email]]

    owner.environ_base["HTTP_ACCEPT_LANGUAGE"] = "de"
    german = owner.get("/support/desk/notifications/failed").get_data(as_text=True)
    assert "Fehlgeschlagene Zustellungen" in german


# -------------------------------------------------------------------------------------
# The hand-off beyond the top goes through the outbox, after commit
# -------------------------------------------------------------------------------------


class Platform:
    """Platform support that checks the desk holds no lock on the ticket when asked."""

    def __init__(self, fail: int = 0) -> None:
        self.fail = fail
        self.asked: list[tuple[str, str, str]] = []

    @hookimpl(tryfirst=True)
    def supportdesk_escalate_beyond(self, ticket: t.Any, actor: Actor, reason: str) -> str:
        self.asked.append((ticket.number, actor.id, reason))
        if len(self.asked) <= self.fail:
            raise ConnectionError("platform API down")
        engine = get_state().db.engine
        with engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SET lock_timeout = '2s'"))
            else:
                conn.exec_driver_sql("PRAGMA busy_timeout = 200")
            conn.execute(
                sa.text("UPDATE supportdesk_ticket SET subject = subject WHERE number = :n"),
                {"n": ticket.number},
            )
            conn.commit()
        return f"EXT-{len(self.asked)}"


def _to_the_top(app: Flask, alice: Actor, owner: Actor) -> str:
    with app.test_request_context():
        number = tickets.open_ticket(alice, subject="Gateway", body="Charged twice").number
        escalation.escalate(owner, number, reason="Up")
        escalation.escalate(owner, number, reason="Up again")
    return number


def _ticket(app: Flask, number: str) -> tuple[t.Any, list[str]]:
    from flask_supportdesk.models import Event
    from flask_supportdesk.models import Ticket

    with app.app_context():
        session = get_state().db.session
        ticket = session.scalars(sa.select(Ticket).filter_by(number=number)).one()
        kinds = list(session.scalars(sa.select(Event.kind).filter_by(ticket_id=ticket.id)))
        session.expunge_all()
        return ticket, kinds


def test_hand_off_beyond_the_top_is_made_after_commit_outside_the_lock(
    app: Flask, alice: Actor, owner: Actor
) -> None:
    platform = Platform()
    get_state(app).desk.register(platform, app=app)
    number = _to_the_top(app, alice, owner)
    with app.test_request_context():
        escalated = escalation.escalate(owner, number, reason=f"Gateway bug {CANARY}")
        assert escalated.escalated_beyond_ref == "EXT-1"  # made by this request, after commit
    assert platform.asked == [(number, owner.id, f"Gateway bug {CANARY}")]
    ticket, kinds = _ticket(app, number)
    assert ticket.escalated_beyond_at is not None and ticket.escalated_beyond_ref == "EXT-1"
    assert kinds[-2:] == ["escalated_beyond", "handed_beyond"]
    (row,) = [r for r in outbox_rows(app) if r.kind == "escalated_beyond"]
    assert row.status is NotificationStatus.SENT
    desk = login(app.test_client(), 30)
    page = desk.get(f"/support/desk/tickets/{number}").get_data(as_text=True)
    assert "EXT-1" in page


@pytest.mark.settings(notification_retry_delay=0)
def test_a_failing_hand_off_is_retried_and_the_escalation_stays(
    app: Flask, smtpd: SMTPServer, alice: Actor, owner: Actor
) -> None:
    platform = Platform(fail=1)
    get_state(app).desk.register(platform, app=app)
    number = _to_the_top(app, alice, owner)
    with app.test_request_context():
        escalation.escalate(owner, number, reason="Gateway bug")
    ticket, kinds = _ticket(app, number)
    assert ticket.escalated_beyond_at is not None and ticket.escalated_beyond_ref is None
    assert "handed_beyond" not in kinds
    (row,) = [r for r in outbox_rows(app) if r.kind == "escalated_beyond"]
    assert row.status is NotificationStatus.QUEUED
    assert row.last_error == "ConnectionError: platform API down"
    with app.test_request_context(), pytest.raises(Conflict):
        escalation.escalate(owner, number, reason="Again")  # handed over already
    smtpd.clear()
    result = app.test_cli_runner().invoke(args=["supportdesk", "deliver", "--now"])
    assert result.exit_code == 0 and result.output == "sent 1, retrying 0, failed 0\n"
    ticket, kinds = _ticket(app, number)
    assert ticket.escalated_beyond_ref == "EXT-2" and kinds.count("handed_beyond") == 1
    assert smtpd.mails == []  # a hand-off is no mail


@pytest.mark.settings(deliver_after_commit=False)
def test_the_worker_makes_the_hand_off_when_requests_do_not(app: Flask, alice: Actor, owner: Actor) -> None:
    platform = Platform()
    get_state(app).desk.register(platform, app=app)
    number = _to_the_top(app, alice, owner)
    with app.test_request_context():
        escalation.escalate(owner, number, reason="Gateway bug")
    assert platform.asked == []
    assert app.test_cli_runner().invoke(args=["supportdesk", "deliver"]).exit_code == 0
    assert _ticket(app, number)[0].escalated_beyond_ref == "EXT-1"


@pytest.mark.settings(deliver_after_commit=False)
def test_deliver_loop_reports_the_rounds_that_did_something(
    app: Flask, smtpd: SMTPServer, alice: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    import flask_supportdesk.cli

    with app.test_request_context():
        tickets.open_ticket(alice, subject="Loop", body="x")
    rounds: list[float] = []

    def sleep(seconds: float) -> None:
        rounds.append(seconds)
        if len(rounds) == 3:
            raise KeyboardInterrupt  # the operator's Ctrl-C
    monkeypatch.setattr(flask_supportdesk.cli.time, "sleep", sleep)
    result = app.test_cli_runner().invoke(args=["supportdesk", "deliver", "--loop", "--interval", "0.5"])
    assert rounds == [0.5, 0.5, 0.5]
    # The first round sent the four; the idle rounds print nothing.
    assert result.output.startswith("sent 4, retrying 0, failed 0\n")
    assert result.output.count("sent") == 1
    assert len(smtpd.mails) == 4


# aiosmtpd's own warnings, raised in its server thread for each connection: plain-text
# AUTH is fine on loopback in a test, and its deprecated login_data is its business.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
@pytest.mark.filterwarnings("ignore:Session.login_data is deprecated")
@pytest.mark.settings(mail_username="desk", mail_password="s3cret")
def test_the_smtp_login_is_used(app: Flask, smtpd: SMTPServer, alice: Actor) -> None:
    from aiosmtpd.smtp import AuthResult

    logins: list[tuple[str, str]] = []

    def text(value: t.Any) -> str:
        return value.decode() if isinstance(value, bytes) else str(value)

    def authenticator(server: t.Any, session: t.Any, envelope: t.Any, mechanism: str, data: t.Any) -> AuthResult:
        logins.append((text(data.login), text(data.password)))
        return AuthResult(success=logins[-1] == ("desk", "s3cret"))

    smtpd.stop()
    smtpd.start(authenticator=authenticator, auth_required=True, auth_require_tls=False)
    with app.test_request_context():
        tickets.open_ticket(alice, subject="Login", body="x")
    assert len(smtpd.mails) == 4
    assert logins and set(logins) == {("desk", "s3cret")}


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"SUPPORTDESK_MAIL_USE_TLS": True, "SUPPORTDESK_MAIL_USE_SSL": True}, "exclude each other"),
        ({"SUPPORTDESK_MAIL_SERVER": "smtp.example"}, "MAIL_DEFAULT_SENDER"),
        ({"SUPPORTDESK_PUBLIC_URL": "shop.example"}, "absolute http"),
        ({"SUPPORTDESK_PUBLIC_URL": "https://shop.example/\nX: y"}, "absolute http"),
        ({"SUPPORTDESK_MAIL_PORT": 0}, "port number"),
    ],
)
def test_mail_settings_are_checked(config: dict[str, t.Any], message: str) -> None:
    from flask_supportdesk import ConfigurationError

    with pytest.raises(ConfigurationError, match=message):
        hostapp.create_app(config)


@pytest.fixture
def tls(monkeypatch: pytest.MonkeyPatch) -> tuple[ssl.SSLContext, t.Any]:
    """A certificate for 127.0.0.1 from a test CA, and the desk trusting that CA."""
    import trustme

    from flask_supportdesk.hooks.builtin import mail

    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server)
    system_default = ssl.create_default_context

    def trusting(*args: t.Any, **kwargs: t.Any) -> ssl.SSLContext:
        context = system_default(*args, **kwargs)
        ca.configure_trust(context)
        return context

    monkeypatch.setattr(mail.ssl, "create_default_context", trusting)
    return server, ca


@pytest.mark.settings(mail_use_tls=True)
def test_starttls_upgrades_the_connection(app: Flask, smtpd: SMTPServer, tls: t.Any, alice: Actor) -> None:
    smtpd.stop()
    smtpd.start(tls_context=tls[0], require_starttls=True)
    with app.test_request_context():
        tickets.open_ticket(alice, subject="TLS", body="x")
    assert len(smtpd.mails) == 4  # the server refuses MAIL before STARTTLS


@pytest.mark.settings(mail_use_ssl=True)
def test_smtps_connects_over_tls(app: Flask, smtpd: SMTPServer, tls: t.Any, alice: Actor) -> None:
    smtpd.stop()
    smtpd.start(ssl_context=tls[0], server_hostname="127.0.0.1")
    with app.test_request_context():
        tickets.open_ticket(alice, subject="TLS", body="x")
    assert len(smtpd.mails) == 4


@pytest.mark.settings(mail_use_tls=True)
def test_an_untrusted_certificate_is_refused(app: Flask, smtpd: SMTPServer, alice: Actor) -> None:
    import trustme

    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    trustme.CA().issue_cert("127.0.0.1").configure_cert(server)
    smtpd.stop()
    smtpd.start(tls_context=server, require_starttls=True)
    with app.test_request_context():
        tickets.open_ticket(alice, subject="TLS", body="x")
    assert smtpd.mails == []
    assert all("CERTIFICATE_VERIFY_FAILED" in (r.last_error or "") for r in outbox_rows(app))


# -------------------------------------------------------------------------------------
# Delivery in the background (the default)
# -------------------------------------------------------------------------------------


@pytest.mark.settings(deliver_in_background=True)
def test_the_request_answers_before_the_mail_server_and_the_thread_delivers(
    app: Flask, smtpd: SMTPServer
) -> None:
    """A mail server that takes its time holds no request up: the background thread
    sends the mail once the request has answered, and every mail arrives once."""
    release = threading.Event()
    handler = smtpd.handler
    original = handler.handle_DATA

    async def slow(server: t.Any, session: t.Any, envelope: t.Any) -> str:
        import asyncio

        while not release.is_set():  # the server answers only when the test lets it
            await asyncio.sleep(0.01)
        return await original(server, session, envelope)

    handler.handle_DATA = slow  # type: ignore[method-assign]
    customer = login(app.test_client(), 1)
    started = time.monotonic()
    number = portal_ticket(customer)
    assert time.monotonic() - started < 5  # answered while the server still waits
    assert smtpd.mails == []
    release.set()
    delivery = get_state(app).delivery
    assert delivery is not None and delivery.flush(timeout=20)
    assert {r for m in smtpd.mails for r in m.rcpt} == {
        "alice@example.com", "ann@store.example", "otto@store.example", "lena@store.example",
    }  # fmt: skip
    assert all(number in m.message["Subject"] for m in smtpd.mails)
    assert {r.status for r in outbox_rows(app)} == {NotificationStatus.SENT}


@pytest.mark.settings(deliver_in_background=True, deliver_interval=1)
def test_the_background_thread_retries_what_failed_without_a_worker(
    app: Flask, smtpd: SMTPServer
) -> None:
    smtpd.stop()  # the mail server is down when the ticket is opened
    customer = login(app.test_client(), 1)
    portal_ticket(customer)
    delivery = get_state(app).delivery
    assert delivery is not None and delivery.flush(timeout=20)
    assert {r.status for r in outbox_rows(app)} == {NotificationStatus.QUEUED}
    smtpd.start()
    with app.app_context():  # make the retries due now rather than after the backoff
        session = get_state().db.session
        session.execute(sa.update(Notification).values(next_attempt_at=dt.datetime(2000, 1, 1)))
        session.commit()
    deadline = time.monotonic() + 20
    while len(smtpd.mails) < 4 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(smtpd.mails) == 4
    assert {r.status for r in outbox_rows(app)} == {NotificationStatus.SENT}


@pytest.mark.settings(deliver_in_background=True, deliver_interval=3600)
def test_the_first_request_sends_what_another_process_left_queued(
    app: Flask, smtpd: SMTPServer, alice: Actor
) -> None:
    """A CLI command or a stopped server wrote notifications it never sent: the next
    process's first request starts its delivery thread, which sends them at once (not
    after an interval, nor only when that process notifies someone itself)."""
    delivery = get_state(app).delivery
    assert delivery is not None
    with app.app_context():
        handed: list[t.Any] = []
        submit = delivery.submit
        delivery.submit = handed.append  # type: ignore[method-assign]  # the process that "exited"
        try:
            tickets.open_ticket(alice, subject="Left behind", body="x")
        finally:
            delivery.submit = submit  # type: ignore[method-assign]
    assert handed and smtpd.mails == []
    assert {r.status for r in outbox_rows(app)} == {NotificationStatus.QUEUED}
    login(app.test_client(), 1).get("/support/")  # any request of the next process
    deadline = time.monotonic() + 20
    while len(smtpd.mails) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert delivery.flush(timeout=20)
    assert len(smtpd.mails) == 4
    assert {r.status for r in outbox_rows(app)} == {NotificationStatus.SENT}
