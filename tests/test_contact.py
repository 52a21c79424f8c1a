"""The public contact form and guest links, read as a guest would: the form, the mail in
a real SMTP server's inbox, the link followed, the thread, a reply (HOSTILE.md F1, A10,
B1, C4, E1, E5)."""

from __future__ import annotations

import time
import typing as t

import itsdangerous
import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from mailserver import SMTPServer
from mailserver import mail_app
from mailserver import mail_link
from mailserver import outbox_rows

from conftest import CANARY
from conftest import assert_no_canary
from conftest import csrf_token
from conftest import login
from flask_supportdesk._state import get_state
from flask_supportdesk.errors import GuestLinkUsed
from flask_supportdesk.identity import GUEST_SESSION_KEY
from flask_supportdesk.models import GuestLinkUse
from flask_supportdesk.models import Message
from flask_supportdesk.models import Source
from flask_supportdesk.models import Ticket
from flask_supportdesk.services import guests
from flask_supportdesk.services import messages
from flask_supportdesk.services import tickets
from flask_supportdesk.values import Actor

GUEST = "gina@guest.example"


@pytest.fixture
def app(request: pytest.FixtureRequest, tmp_path: t.Any, smtpd: SMTPServer) -> t.Iterator[Flask]:
    yield from mail_app(request, tmp_path, smtpd, SUPPORTDESK_CONTACT_FORM_CREATES_TICKET=True)


def form(client: FlaskClient, **fields: str) -> dict[str, str]:
    data = {
        "name": "Gina Guest",
        "email": GUEST,
        "subject": "Do you ship to Norway?",
        "body": "I would like to order a lamp.",
        "csrf_token": csrf_token(client),
    }
    data.update(fields)
    return data


def send(client: FlaskClient, **fields: str) -> t.Any:
    return client.post("/support/contact", data=form(client, **fields))


def all_tickets(app: Flask) -> list[Ticket]:
    with app.app_context():
        session = get_state().db.session
        rows = list(session.scalars(sa.select(Ticket).order_by(Ticket.id)))
        session.expunge_all()
        return rows


def count(app: Flask, model: type) -> int:
    with app.app_context():
        return int(get_state().db.session.scalar(sa.select(sa.func.count()).select_from(model)))


def follow(client: FlaskClient, path: str) -> t.Any:
    """Open a guest link and press Continue, as the guest would."""
    page = client.get(path)
    assert page.status_code == 200, page.get_data(as_text=True)
    return client.post(path, data={"csrf_token": csrf_token(client)})


def guest_client(app: Flask, smtpd: SMTPServer, address: str = GUEST, **fields: str) -> tuple[FlaskClient, str]:
    """A browser that sent the form and followed the link of its receipt: signed in."""
    client = app.test_client()
    assert send(client, email=address, **fields).status_code == 302
    receipt = smtpd.to(address)[-1]
    landed = follow(client, mail_link(receipt))
    assert landed.status_code == 302
    number = landed.headers["Location"].rsplit("/", 1)[1]
    return client, number


# -------------------------------------------------------------------------------------
# The form
# -------------------------------------------------------------------------------------


@pytest.mark.settings(contact_form_creates_ticket=False)
def test_without_the_setting_there_is_no_contact_form(app: Flask) -> None:
    client = app.test_client()
    assert client.get("/support/contact").status_code == 404
    assert client.get("/support/contact/sent").status_code == 404
    assert send(client).status_code == 404
    assert all_tickets(app) == []


@pytest.mark.settings(mail_server=None)
def test_without_a_way_to_mail_the_link_there_is_no_contact_form(app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    client = app.test_client()
    assert client.get("/support/contact").status_code == 404
    assert send(client).status_code == 404
    assert all_tickets(app) == []
    assert "nothing delivers notifications" in caplog.text


def test_a_guest_asks_gets_a_link_follows_it_and_answers(app: Flask, smtpd: SMTPServer, agent: Actor) -> None:
    client = app.test_client()
    page = client.get("/support/contact")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'name="website"' in html and 'aria-hidden="true"' in html  # the honeypot, hidden

    sent = send(client)
    assert sent.status_code == 302 and sent.headers["Location"].endswith("/support/contact/sent")
    thanks = client.get(sent.headers["Location"]).get_data(as_text=True)
    (ticket,) = all_tickets(app)
    # The answer page says a link was sent, and nothing about the ticket or the address.
    assert "sent you an e-mail" in thanks
    assert ticket.number not in thanks and GUEST not in thanks and "Norway" not in thanks
    assert ticket.source is Source.CONTACT_FORM and ticket.category == "general"
    assert ticket.requester_id is None and ticket.requester_email == GUEST
    assert ticket.requester_name == "Gina Guest" and ticket.created_by_id is None

    # Staff hear of it like of any new ticket (a desk link, no guest token); the guest
    # gets a receipt with their link.
    (staff_mail,) = smtpd.to("ann@store.example")
    assert mail_link(staff_mail) == f"/support/desk/tickets/{ticket.number}"
    assert "/support/guest/" not in staff_mail.everything()
    (receipt,) = smtpd.to(GUEST)
    assert ticket.number in receipt.message["Subject"]
    assert "I would like to order a lamp." in receipt.text
    link = mail_link(receipt)
    assert link.startswith("/support/guest/")

    # The link first shows a Continue button (a mail scanner fetching it spends nothing).
    landing = client.get(link)
    assert landing.headers["Referrer-Policy"] == "no-referrer"
    assert ticket.number not in landing.get_data(as_text=True)
    assert count(app, GuestLinkUse) == 0
    signed_in = client.post(link, data={"csrf_token": csrf_token(client)})
    assert signed_in.status_code == 302
    assert signed_in.headers["Location"].endswith(f"/support/tickets/{ticket.number}")
    thread = client.get(signed_in.headers["Location"])
    assert thread.status_code == 200
    assert "I would like to order a lamp." in thread.get_data(as_text=True)

    # Staff answer; the guest replies on the page, the ticket awaits support again.
    with app.test_request_context():
        messages.post_message(agent, ticket.number, "Yes, we ship to Norway.")
    reply_mail = smtpd.to(GUEST)[-1]
    assert "Yes, we ship to Norway." in reply_mail.text
    assert mail_link(reply_mail) != link  # every mail brings a new one-time link
    replied = client.post(
        f"/support/tickets/{ticket.number}/reply",
        data={"body": "Great, thank you!", "csrf_token": csrf_token(client)},
    )
    assert replied.status_code == 302
    (updated,) = all_tickets(app)
    assert updated.status.value == "pending_admin"
    with app.app_context():
        last = get_state().db.session.execute(
            sa.select(Message.body, Message.author_name, Message.author_id, Message.author_is_staff)
            .where(Message.ticket_id == ticket.id).order_by(Message.id.desc()).limit(1)
        ).one()
    assert tuple(last) == ("Great, thank you!", "Gina Guest", None, False)

    # And may close it.
    closed = client.post(f"/support/tickets/{ticket.number}/close", data={"csrf_token": csrf_token(client)})
    assert closed.status_code == 302
    assert all_tickets(app)[0].status.value == "closed"


def test_a_logged_in_customer_is_sent_to_the_portals_new_ticket(app: Flask, smtpd: SMTPServer) -> None:
    alice = login(app.test_client(), 1)
    page = alice.get("/support/contact")
    assert page.status_code == 302 and page.headers["Location"].endswith("/support/new")
    assert send(alice, email="alice@example.com").status_code == 302
    assert all_tickets(app) == [] and smtpd.mails == []


def test_a_double_submit_opens_one_ticket_and_sends_one_receipt(app: Flask, smtpd: SMTPServer) -> None:
    client = app.test_client()
    data = form(client, client_id="form-once-1")
    assert client.post("/support/contact", data=data).status_code == 302
    assert client.post("/support/contact", data=data).status_code == 302
    assert len(all_tickets(app)) == 1
    assert len(smtpd.to(GUEST)) == 1


def test_honeypot_filled_writes_nothing_but_answers_as_usual(app: Flask, smtpd: SMTPServer) -> None:
    client = app.test_client()
    human = send(client, email="human@guest.example")
    bot = send(client, email="bot@spam.example", website="http://spam.example")
    assert bot.status_code == human.status_code == 302
    assert bot.headers["Location"] == human.headers["Location"]
    assert client.get(bot.headers["Location"]).get_data() == client.get(human.headers["Location"]).get_data()
    assert [t.requester_email for t in all_tickets(app)] == ["human@guest.example"]
    assert not smtpd.to("bot@spam.example")
    assert all(row.recipient_email != "bot@spam.example" for row in outbox_rows(app))


def test_the_contact_form_needs_its_csrf_token(app: Flask, smtpd: SMTPServer) -> None:
    client = app.test_client()
    data = form(client)
    del data["csrf_token"]
    refused = client.post("/support/contact", data=data)
    assert refused.status_code == 400
    forged = client.post("/support/contact", data={**data, "csrf_token": "forged"})
    assert forged.status_code == 400
    assert all_tickets(app) == [] and outbox_rows(app) == [] and smtpd.mails == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "Gina\r\nBcc: victim@example.com"),
        ("subject", "Hello\r\nBcc: victim@example.com"),
        ("subject", "Hello\nX-Injected: 1"),
        ("email", "gina@guest.example\r\nBcc: x@evil.example"),
        ("email", "gina@guest.example, x@evil.example"),
        ("email", '"victim@corp.example" <attacker@evil.example>'),
        ("email", "not-an-address"),
        ("email", "a" * 250 + "@x.example"),
        ("name", ""),
        ("body", ""),
    ],
)
def test_bad_fields_are_refused_and_nothing_is_written(
    app: Flask, smtpd: SMTPServer, field: str, value: str
) -> None:
    client = app.test_client()
    refused = send(client, **{field: value})
    assert refused.status_code == 400
    assert 'class="sd-error"' in refused.get_data(as_text=True)
    assert all_tickets(app) == [] and outbox_rows(app) == [] and smtpd.mails == []


# -------------------------------------------------------------------------------------
# Rate limits (HOSTILE F1)
# -------------------------------------------------------------------------------------


@pytest.mark.settings(contact_rate_limit_per_address="2 per hour")
def test_a_flood_from_one_address_hits_its_limit(app: Flask, smtpd: SMTPServer) -> None:
    first, second = app.test_client(), app.test_client()
    assert send(first, subject="One").status_code == 302
    assert send(second, subject="Two", email=GUEST.upper()).status_code == 302  # the same address
    flooded = send(first, subject="Three")
    assert flooded.status_code == 429
    assert int(flooded.headers["Retry-After"]) > 60
    page = flooded.get_data(as_text=True)
    assert "Too many attempts. Please try again in" in page and 'name="subject"' in page
    assert [t.subject for t in all_tickets(app)] == ["One", "Two"]
    assert len(smtpd.to(GUEST)) == 2
    # Another address is not affected.
    assert send(first, email="other@guest.example").status_code == 302


@pytest.mark.settings(contact_rate_limit_per_ip="3 per hour")
def test_a_flood_from_one_client_address_hits_its_limit(app: Flask, smtpd: SMTPServer) -> None:
    client = app.test_client()
    for n in range(3):
        assert send(client, email=f"sender{n}@guest.example").status_code == 302
    flooded = send(client, email="sender9@guest.example")
    assert flooded.status_code == 429 and "Retry-After" in flooded.headers
    assert len(all_tickets(app)) == 3 and not smtpd.to("sender9@guest.example")
    elsewhere = app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "192.0.2.44"
    assert send(elsewhere, email="sender9@guest.example").status_code == 302


# -------------------------------------------------------------------------------------
# Guest links (HOSTILE A7, A10, E5)
# -------------------------------------------------------------------------------------


def test_a_used_link_is_spent(app: Flask, smtpd: SMTPServer) -> None:
    client, number = guest_client(app, smtpd)
    link = mail_link(smtpd.to(GUEST)[0])
    other = app.test_client()
    again = other.get(link)
    assert again.status_code == 410 and "already used" in again.get_data(as_text=True)
    replayed = other.post(link, data={"csrf_token": csrf_token(other)})
    assert replayed.status_code == 410
    # The guest who used it, clicking it again in the same browser, goes on to the ticket.
    back = client.get(link)
    assert back.status_code == 302 and back.headers["Location"].endswith(f"/support/tickets/{number}")
    assert other.get(f"/support/tickets/{number}").status_code in (302, 401)
    assert count(app, GuestLinkUse) == 1


def test_an_expired_link_is_refused(app: Flask, smtpd: SMTPServer, monkeypatch: pytest.MonkeyPatch) -> None:
    assert send(app.test_client()).status_code == 302
    (ticket,) = all_tickets(app)
    with app.test_request_context():
        max_age = get_state().config.guest_link_max_age
        then = time.time() - max_age - 60
        with monkeypatch.context() as m:
            m.setattr(itsdangerous.timed.time, "time", lambda: then)
            token = guests.make_token(GUEST, ticket.number)
    client = app.test_client()
    expired = client.get(f"/support/guest/{token}")
    assert expired.status_code == 410 and "expired" in expired.get_data(as_text=True)
    assert expired.headers["Referrer-Policy"] == "no-referrer"  # error pages at a token too
    assert client.post(f"/support/guest/{token}", data={"csrf_token": csrf_token(client)}).status_code == 410
    assert count(app, GuestLinkUse) == 0
    assert GUEST_SESSION_KEY not in _session(client)


def _session(client: FlaskClient) -> dict[str, t.Any]:
    with client.session_transaction() as session:
        return dict(session)


def test_tampered_links_are_not_found(app: Flask, smtpd: SMTPServer) -> None:
    assert send(app.test_client()).status_code == 302
    (ticket,) = all_tickets(app)
    link = mail_link(smtpd.to(GUEST)[0])
    token = link.rsplit("/", 1)[1]
    with app.test_request_context():
        forged_elsewhere = itsdangerous.URLSafeTimedSerializer("another-secret", salt=guests.SALT).dumps(
            {"e": "alice@example.com", "t": ticket.number, "n": "x"}
        )
        other_salt = itsdangerous.URLSafeTimedSerializer(app.secret_key, salt="other").dumps(
            {"e": GUEST, "t": ticket.number, "n": "x"}
        )
    client = app.test_client()
    for bad in (
        token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
        token.swapcase(),
        forged_elsewhere,
        other_salt,
        "x" * 600,
        "%20",
    ):
        response = client.get(f"/support/guest/{bad}")
        assert response.status_code == 404, bad
        assert client.post(f"/support/guest/{bad}", data={"csrf_token": csrf_token(client)}).status_code == 404
    assert GUEST_SESSION_KEY not in _session(client)
    assert count(app, GuestLinkUse) == 0


def test_following_a_link_needs_the_csrf_token(app: Flask, smtpd: SMTPServer) -> None:
    assert send(app.test_client()).status_code == 302
    link = mail_link(smtpd.to(GUEST)[0])
    client = app.test_client()
    assert client.post(link).status_code == 400
    assert GUEST_SESSION_KEY not in _session(client) and count(app, GuestLinkUse) == 0


def test_a_guest_sees_only_the_guest_tickets_of_their_address(
    app: Flask, smtpd: SMTPServer, alice: Actor
) -> None:
    with app.test_request_context():
        alices = tickets.open_ticket(alice, subject="Alice's own", body="Account ticket.").number
    gina, gina_number = guest_client(app, smtpd)
    _other, other_number = guest_client(app, smtpd, "otto@guest.example", subject="Otto's question")
    # A guest using Alice's address gets a guest ticket, never her account's tickets.
    posing, posing_number = guest_client(app, smtpd, "alice@example.com", subject="Posing")

    assert gina.get(f"/support/tickets/{gina_number}").status_code == 200
    for foreign in (other_number, alices, posing_number, "T-NOSUCHNUMB"):
        response = gina.get(f"/support/tickets/{foreign}")
        assert response.status_code == 404
        assert "Otto" not in response.get_data(as_text=True)
        reply = gina.post(f"/support/tickets/{foreign}/reply", data={"body": "x", "csrf_token": csrf_token(gina)})
        assert reply.status_code == 404
    listing = gina.get("/support/").get_data(as_text=True)
    assert gina_number in listing and other_number not in listing and alices not in listing

    assert posing.get(f"/support/tickets/{alices}").status_code == 404
    assert alices not in posing.get("/support/").get_data(as_text=True)
    api = posing.get("/support/api/v1/tickets").get_json()
    assert [t["number"] for t in api["items"]] == [posing_number]


def test_guest_pages_never_show_internal_notes(app: Flask, smtpd: SMTPServer, agent: Actor) -> None:
    gina, number = guest_client(app, smtpd)
    with app.test_request_context():
        messages.post_message(agent, number, f"Looks like a reseller. {CANARY}", channel="internal")
        messages.post_message(agent, number, "We ship everywhere.")
    for path in (
        f"/support/tickets/{number}",
        "/support/",
        f"/support/api/v1/tickets/{number}",
        f"/support/api/v1/tickets/{number}/messages",
        "/support/api/v1/tickets",
    ):
        response = gina.get(path)
        assert response.status_code == 200, path
        assert_no_canary(response)
    assert "We ship everywhere." in gina.get(f"/support/tickets/{number}").get_data(as_text=True)
    for mail in smtpd.to(GUEST):
        assert_no_canary(mail.everything())
    # A guest may not write an internal note either.
    note = gina.post(
        f"/support/api/v1/tickets/{number}/messages",
        json={"body": "note", "channel": "internal"},
        headers={"X-CSRFToken": csrf_token(gina)},
    )
    assert note.status_code == 400


def test_a_guest_has_no_account_pages(app: Flask, smtpd: SMTPServer) -> None:
    gina, number = guest_client(app, smtpd)
    assert gina.get("/support/new").status_code == 403
    assert gina.post("/support/new", data={"subject": "x", "body": "y", "csrf_token": csrf_token(gina)}).status_code == 403
    assert gina.get("/support/pin").status_code == 403
    assert gina.get("/support/notifications/settings").status_code == 403
    assert gina.post("/support/pin/regenerate", data={"csrf_token": csrf_token(gina)}).status_code == 403
    assert gina.get("/support/desk/").status_code in (302, 401, 403)
    api = gina.post("/support/api/v1/tickets", json={"subject": "Spam", "body": "Spam"},
                    headers={"X-CSRFToken": csrf_token(gina)})  # fmt: skip
    assert api.status_code == 403 and api.get_json()["error"]["code"] == "forbidden"
    # A closed ticket offers the contact form again, not a follow-up without limits.
    assert gina.post(f"/support/tickets/{number}/close", data={"csrf_token": csrf_token(gina)}).status_code == 302
    closed = gina.get(f"/support/tickets/{number}").get_data(as_text=True)
    assert 'href="/support/contact"' in closed and f"/support/tickets/{number}/follow-up" not in closed
    follow = gina.post(f"/support/tickets/{number}/follow-up", data={"body": "Again", "csrf_token": csrf_token(gina)})
    assert follow.status_code == 403
    assert len(all_tickets(app)) == 1
    page = gina.get("/support/").get_data(as_text=True)
    assert "/support/new" not in page and "Sign out" in page


def test_the_guest_session_ends_by_sign_out_expiry_and_host_login(app: Flask, smtpd: SMTPServer) -> None:
    gina, number = guest_client(app, smtpd)
    out = gina.post("/support/guest/sign-out", data={"csrf_token": csrf_token(gina)})
    assert out.status_code == 302
    assert gina.get(f"/support/tickets/{number}").status_code == 401
    assert GUEST_SESSION_KEY not in _session(gina)

    later, number = guest_client(app, smtpd)
    with later.session_transaction() as session:
        session[GUEST_SESSION_KEY] = {**session[GUEST_SESSION_KEY], "until": int(time.time()) - 1}
    assert later.get(f"/support/tickets/{number}").status_code == 401
    assert GUEST_SESSION_KEY not in _session(later)

    third, number = guest_client(app, smtpd)
    login(third, 2)  # Bob logs in to his account in the same browser
    assert GUEST_SESSION_KEY not in _session(third)
    assert third.get(f"/support/tickets/{number}").status_code == 404


def test_a_logged_in_customer_cannot_use_a_guest_link(app: Flask, smtpd: SMTPServer) -> None:
    assert send(app.test_client()).status_code == 302
    link = mail_link(smtpd.to(GUEST)[0])
    bob = login(app.test_client(), 2)
    assert bob.get(link).status_code == 403
    assert bob.post(link, data={"csrf_token": csrf_token(bob)}).status_code == 403
    assert count(app, GuestLinkUse) == 0


def test_a_link_is_spent_once_even_by_the_service(app: Flask, smtpd: SMTPServer) -> None:
    assert send(app.test_client()).status_code == 302
    token = mail_link(smtpd.to(GUEST)[0]).rsplit("/", 1)[1]
    with app.test_request_context():
        assert guests.redeem(token).email == GUEST
        with pytest.raises(GuestLinkUsed):
            guests.redeem(token)
    assert count(app, GuestLinkUse) == 1


def test_two_browsers_racing_with_one_link_sign_in_once(app: Flask, smtpd: SMTPServer) -> None:
    from test_concurrency import race

    assert send(app.test_client()).status_code == 302
    link = mail_link(smtpd.to(GUEST)[0])
    clients = [app.test_client() for _ in range(4)]
    tokens = [csrf_token(c) for c in clients]
    for c in clients:
        assert c.get(link).status_code == 200
    answers = race([lambda c=c, tok=tok: c.post(link, data={"csrf_token": tok}) for c, tok in zip(clients, tokens, strict=True)])
    codes = sorted(r.status_code for r in answers)
    assert codes == [302, 410, 410, 410]
    signed_in = [c for c, r in zip(clients, answers, strict=True) if r.status_code == 302]
    assert len(signed_in) == 1 and GUEST_SESSION_KEY in _session(signed_in[0])
    assert count(app, GuestLinkUse) == 1


# -------------------------------------------------------------------------------------
# Answering by replying to the mail
# -------------------------------------------------------------------------------------


@pytest.mark.settings(inbound_address="support@store.example")
def test_a_guest_answers_by_replying_to_the_receipt(app: Flask, smtpd: SMTPServer) -> None:
    """The guest never follows the link: they answer the receipt in their mail client,
    and the answer goes into their ticket as theirs; a stranger's answer does not."""
    import email.message
    import email.policy
    import email.utils

    from flask_supportdesk.services import inbound

    assert send(app.test_client()).status_code == 302
    (receipt,) = smtpd.to(GUEST)
    original = receipt.message

    def answer(sender: str, text: str) -> bytes:
        reply = email.message.EmailMessage()
        reply["From"] = sender
        reply["To"] = str(original["Reply-To"])
        reply["Subject"] = "Re: " + str(original["Subject"])
        reply["Message-ID"] = email.utils.make_msgid(domain="guest.example")
        reply["In-Reply-To"] = original["Message-ID"]
        reply["References"] = f"{original['References']} {original['Message-ID']}"
        reply.set_content(f"{text}\n\n> {receipt.text.splitlines()[0]}\n")
        return reply.as_bytes(policy=email.policy.SMTP)

    with app.app_context():
        assert inbound.ingest(answer(f"Gina Guest <{GUEST}>", "Norway, Oslo.")).outcome == "posted"
        with pytest.raises(inbound.MailRefused):
            inbound.ingest(answer("Mallory <mallory@evil.example>", "Send it to me instead."))
    (ticket,) = all_tickets(app)
    with app.app_context():
        bodies = list(get_state().db.session.scalars(
            sa.select(Message.body).filter_by(ticket_id=ticket.id).order_by(Message.id)
        ))  # fmt: skip
    assert bodies == ["I would like to order a lamp.", "Norway, Oslo."]
