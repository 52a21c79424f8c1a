"""Each person chooses what they hear and in which language; security mails always go;
the outbox is pruned; a ticket staff open for a customer tells them so.

Mails go through a real SMTP server on loopback and are read as a person would.
"""

from __future__ import annotations

import datetime as dt
import typing as t

import pytest
import sqlalchemy as sa
from flask import Flask
from mailserver import SMTPServer
from mailserver import mail_app
from mailserver import outbox_rows
from mailserver import portal_ticket
from mailserver import url_path

import hostapp
from conftest import CANARY
from conftest import csrf_token
from conftest import login
from flask_supportdesk._state import get_state
from flask_supportdesk.errors import ValidationError
from flask_supportdesk.models import Notification
from flask_supportdesk.models import NotificationSettings
from flask_supportdesk.models import NotificationStatus
from flask_supportdesk.services import messages
from flask_supportdesk.services import notification_settings
from flask_supportdesk.services import notifications
from flask_supportdesk.services import tickets
from flask_supportdesk.values import Actor

PORTAL_SETTINGS = "/support/notifications/settings"
DESK_SETTINGS = "/support/desk/notifications/settings"


@pytest.fixture
def app(request: pytest.FixtureRequest, tmp_path: t.Any, smtpd: SMTPServer) -> t.Iterator[Flask]:
    yield from mail_app(request, tmp_path, smtpd)


def _save(client: t.Any, path: str, **data: t.Any) -> t.Any:
    return client.post(path, data={"csrf_token": csrf_token(client), **data})


def _settings_link(mail: t.Any) -> str:
    links = [w for w in mail.text.split() if w.endswith("/notifications/settings")]
    assert len(links) == 1, mail.text
    assert f'href="{links[0]}"' in mail.html
    return url_path(links[0])


# -------------------------------------------------------------------------------------
# Muting, from the pages
# -------------------------------------------------------------------------------------


def test_a_customer_mutes_replies_on_the_portal_page(app: Flask, smtpd: SMTPServer) -> None:
    customer = login(app.test_client(), 1)
    page = customer.get(PORTAL_SETTINGS)
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'name="hear" value="reply_posted" checked' in html
    # The security mails are listed as always sent, and cannot be unticked.
    assert "My support PIN was changed" in html and "checked disabled" in html

    number = portal_ticket(customer)
    # The acknowledgement's footer leads to this page, as the customer.
    (ack,) = smtpd.to("alice@example.com")
    assert customer.get(_settings_link(ack)).status_code == 200

    # Untick "a reply from support", keep the acknowledgement.
    saved = _save(customer, PORTAL_SETTINGS, hear=["ticket_acknowledged", "conversation_started"])
    assert saved.status_code == 302 and saved.headers["Location"].endswith(PORTAL_SETTINGS)
    assert 'value="reply_posted" checked' not in customer.get(PORTAL_SETTINGS).get_data(as_text=True)

    smtpd.clear()
    with app.test_request_context():
        messages.post_message(hostapp.USERS[10].actor, number, "We are on it.")
    assert smtpd.to("alice@example.com") == []
    # Nothing was written for her either: a muted kind costs no delivery.
    assert [r.kind for r in outbox_rows(app) if r.recipient_email == "alice@example.com"] == [
        "ticket_acknowledged"
    ]

    # Ticked again: the next reply arrives.
    _save(customer, PORTAL_SETTINGS, hear=["reply_posted"])
    with app.test_request_context():
        messages.post_message(hostapp.USERS[10].actor, number, "Shipped today.")
    (reply,) = smtpd.to("alice@example.com")
    assert "Shipped today." in reply.text


def test_a_staff_member_mutes_new_tickets_on_the_desk_page(app: Flask, smtpd: SMTPServer) -> None:
    desk = login(app.test_client(), 10)
    html = desk.get(DESK_SETTINGS).get_data(as_text=True)
    assert 'value="ticket_opened" checked' in html and 'value="customer_replied" checked' in html
    assert "reply_posted" not in html  # customers' kinds are not on the staff page
    assert _save(desk, DESK_SETTINGS, hear=["customer_replied", "ticket_escalated"]).status_code == 302

    customer = login(app.test_client(), 1)
    portal_ticket(customer)
    staff = {r for m in smtpd.mails for r in m.rcpt} - {"alice@example.com"}
    assert staff == {"otto@store.example", "lena@store.example"}  # Ann muted it
    # Her staff mails' footer leads to the desk's page, not the portal's.
    otto_mail = smtpd.to("otto@store.example")[0]
    assert _settings_link(otto_mail) == DESK_SETTINGS


def test_a_customer_page_is_not_open_to_anonymous_visitors(app: Flask) -> None:
    response = app.test_client().get(PORTAL_SETTINGS)
    assert response.status_code in (302, 401)
    assert app.test_client().get(DESK_SETTINGS).status_code in (302, 401)
    customer = login(app.test_client(), 1)
    assert customer.get(DESK_SETTINGS).status_code == 403


def test_muting_a_security_mail_is_refused(app: Flask, ctx: None, alice: Actor) -> None:
    with pytest.raises(ValidationError) as raised:
        notification_settings.save_settings(alice, muted=["delegate_invited"], staff=False)
    assert "muted" in raised.value.fields
    # Even a row written past the service (an old version, a hand-edited database)
    # cannot silence them.
    settings = notification_settings.Settings(frozenset({"pin_changed", "reply_posted"}))
    assert settings.hears("pin_changed") and settings.hears("delegate_invited")
    assert not settings.hears("reply_posted")


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"hear": ["delegate_invited"]}, "hear"),  # not a choice of the form
        ({"hear": ["ticket_opened"]}, "hear"),  # a staff kind on the customer page
        ({"hear": ["reply_posted"], "locale": "xx"}, "locale"),
        ({"hear": ["reply_posted"], "locale": "de\r\nBcc: x@evil.example"}, "locale"),
    ],
)
def test_bad_settings_are_form_errors_and_nothing_is_saved(
    app: Flask, data: dict[str, t.Any], field: str
) -> None:
    customer = login(app.test_client(), 1)
    response = _save(customer, PORTAL_SETTINGS, **data)
    assert response.status_code == 400
    assert 'class="sd-error"' in response.get_data(as_text=True)
    with app.app_context():
        assert get_state().db.session.scalars(sa.select(NotificationSettings)).all() == []


def test_settings_need_the_csrf_token(app: Flask) -> None:
    customer = login(app.test_client(), 1)
    customer.get(PORTAL_SETTINGS)
    response = customer.post(PORTAL_SETTINGS, data={"hear": []})
    assert response.status_code == 400
    with app.app_context():
        assert get_state().db.session.get(NotificationSettings, "1") is None


def test_guests_and_the_system_have_no_settings(app: Flask, ctx: None) -> None:
    for who in (Actor.guest("visitor@example.com"), Actor.system()):
        assert notification_settings.get_settings(who) == notification_settings.DEFAULT
        with pytest.raises(ValidationError):
            notification_settings.save_settings(who, muted=[], staff=False)


# -------------------------------------------------------------------------------------
# The language of one's mails
# -------------------------------------------------------------------------------------


def test_each_person_gets_mails_in_the_language_they_chose(app: Flask, smtpd: SMTPServer) -> None:
    desk = login(app.test_client(), 10)
    assert _save(desk, DESK_SETTINGS, hear=["ticket_opened"], locale="de").status_code == 302
    customer = login(app.test_client(), 1)
    assert _save(customer, PORTAL_SETTINGS, hear=["ticket_acknowledged"], locale="de").status_code == 302

    number = portal_ticket(customer)  # an English request of hers
    (ack,) = smtpd.to("alice@example.com")
    assert "Wir haben Ihre Anfrage" in ack.message["Subject"]
    assert smtpd.to("ann@store.example")[0].message["Subject"].startswith(f"Neues Ticket {number}")
    # Her colleagues chose nothing: the desk's default language.
    assert "New ticket" in smtpd.to("otto@store.example")[0].message["Subject"]


def test_the_settings_page_offers_the_desks_languages_in_their_own_words(app: Flask) -> None:
    html = login(app.test_client(), 10).get(DESK_SETTINGS).get_data(as_text=True)
    assert '<option value="de">Deutsch</option>' in html
    assert "The desk&#39;s default language" in html or "The desk's default language" in html


# -------------------------------------------------------------------------------------
# Staff start a conversation
# -------------------------------------------------------------------------------------


def test_a_ticket_staff_file_for_a_customer_tells_the_customer(
    app: Flask, smtpd: SMTPServer
) -> None:
    desk = login(app.test_client(), 10)
    response = desk.post(
        "/support/desk/new",
        data={
            "requester": "alice@example.com",
            "subject": "Your return",
            "category": "general",
            "priority": "normal",
            "body": "We received the parcel you sent back.",
            "csrf_token": csrf_token(desk),
        },
    )
    assert response.status_code == 302
    number = response.headers["Location"].rstrip("/").rsplit("/", 1)[1]
    with app.test_request_context():
        messages.post_message(hostapp.USERS[10].actor, number, f"{CANARY} note", channel="internal")
    (mail,) = smtpd.to("alice@example.com")
    assert "Support wrote to you" in mail.message["Subject"] and number in mail.message["Subject"]
    assert "Ann Agent from our support team wrote to you" in mail.text
    assert "We received the parcel you sent back." in mail.text
    assert "received your request" not in mail.text.lower()  # not a receipt: she asked nothing
    assert CANARY not in mail.everything()
    customer = login(app.test_client(), 1)
    link = next(w for w in mail.text.split() if f"/tickets/{number}" in w)
    page = customer.get(url_path(link))
    assert page.status_code == 200 and "We received the parcel" in page.get_data(as_text=True)


def test_ones_own_request_filed_on_the_desk_is_still_a_receipt(
    app: Flask, smtpd: SMTPServer, ctx: None, agent: Actor
) -> None:
    tickets.open_ticket(agent, subject="My own laptop", body="Broken.", requester_id=agent.id)
    kinds = {r.kind for r in outbox_rows(app) if r.recipient_email == agent.email}
    assert kinds == {"ticket_acknowledged"}


# -------------------------------------------------------------------------------------
# One query for everyone's settings
# -------------------------------------------------------------------------------------


def test_the_outbox_reads_all_recipients_settings_in_one_query(app: Flask, smtpd: SMTPServer) -> None:
    from test_desk import counting_queries

    customer = login(app.test_client(), 1)
    with app.app_context(), counting_queries(app) as statements:
        portal_ticket(customer)  # four recipients: three agents and the customer
    reads = [s for s in statements if "supportdesk_notification_settings" in s]
    assert len(reads) == 1, reads


# -------------------------------------------------------------------------------------
# Pruning
# -------------------------------------------------------------------------------------


def _age(app: Flask, days: float, **where: t.Any) -> None:
    with app.app_context():
        session = get_state().db.session
        then = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) - dt.timedelta(days=days)
        for row in session.scalars(sa.select(Notification).filter_by(**where)):
            row.created_at = then
            if row.sent_at is not None:
                row.sent_at = then
        session.commit()


def test_prune_deletes_old_deliveries_and_keeps_what_is_owed(
    app: Flask, smtpd: SMTPServer, ctx: None, alice: Actor
) -> None:
    old = tickets.open_ticket(alice, subject="Old", body="x")
    _age(app, 40)
    tickets.open_ticket(alice, subject="New", body="y")
    app.config["SUPPORTDESK_DELIVER_AFTER_COMMIT"] = False
    with app.app_context():
        session = get_state().db.session
        queued_old = Notification(
            key="q" * 64, kind="reply_posted", ticket_id=None, recipient_email="a@example.com",
            recipient_name="A", payload={}, message_id="<q@x>", status=NotificationStatus.QUEUED,
            created_at=dt.datetime(2020, 1, 1),
        )  # fmt: skip
        failed_old = Notification(
            key="f" * 64, kind="reply_posted", ticket_id=None, recipient_email="a@example.com",
            recipient_name="A", payload={}, message_id="<f@x>", status=NotificationStatus.FAILED,
            created_at=dt.datetime(2020, 1, 1),
        )  # fmt: skip
        session.add_all([queued_old, failed_old])
        session.commit()
    before = {r.key: r for r in outbox_rows(app)}
    old_sent = {k for k, r in before.items() if r.ticket_id is not None and r.payload["ticket_number"] == old.number}
    assert old_sent

    runner = app.test_cli_runner()
    result = runner.invoke(args=["supportdesk", "prune-notifications"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"deleted {len(old_sent)}"
    after = {r.key for r in outbox_rows(app)}
    assert after == set(before) - old_sent  # the queued and the failed one stay

    result = runner.invoke(args=["supportdesk", "prune-notifications", "--failed"])
    assert result.output.strip() == "deleted 1"
    assert "f" * 64 not in {r.key for r in outbox_rows(app)} and "q" * 64 in {r.key for r in outbox_rows(app)}

    assert notifications.prune(older_than_days=0) >= 1  # everything delivered, right now
    bad = runner.invoke(args=["supportdesk", "prune-notifications", "--older-than", "-1"])
    assert bad.exit_code == 2 and "-1" in bad.output
