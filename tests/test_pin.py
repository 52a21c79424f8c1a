"""Support PINs: the customer sees and regenerates theirs, staff check one a caller reads
out and learn only whether it matched; guessing is limited per customer and per staff
member, in memory and through a real Redis shared by two apps (two processes)."""

from __future__ import annotations

import re
import typing as t

import pytest
import redis
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from mailserver import SMTPServer

from conftest import REDIS_URL
from conftest import csrf_token
from conftest import login
from conftest import two_processes
from flask_supportdesk._state import get_state
from flask_supportdesk.errors import RateLimited
from flask_supportdesk.models import Event
from flask_supportdesk.models import SupportPin
from flask_supportdesk.services import pins
from flask_supportdesk.services import tickets
from flask_supportdesk.testing import record_signals
from flask_supportdesk.values import Actor


def portal_pin(client: FlaskClient) -> str:
    page = client.get("/support/pin")
    assert page.status_code == 200
    found = re.search(r'class="sd-pin sd-mono"[^>]*>(\d+)<', page.get_data(as_text=True))
    assert found, page.get_data(as_text=True)
    return found.group(1)


def open_for(app: Flask, customer: Actor, subject: str = "Card charged twice") -> str:
    with app.test_request_context():
        return tickets.open_ticket(customer, subject=subject, body="Please check.").number


def check_on_ticket(staff: FlaskClient, number: str, pin: str) -> t.Any:
    return staff.post(
        f"/support/desk/tickets/{number}/pin",
        data={"pin": pin, "csrf_token": csrf_token(staff)},
    )


def events(app: Flask, number: str) -> list[Event]:
    with app.app_context():
        session = get_state().db.session
        rows = list(
            session.scalars(
                sa.select(Event)
                .join(tickets.Ticket, tickets.Ticket.id == Event.ticket_id)
                .where(tickets.Ticket.number == number, Event.kind.like("pin_%"))
                .order_by(Event.id)
            )
        )
        session.expunge_all()
        return rows


# -------------------------------------------------------------------------------------
# The customer's PIN
# -------------------------------------------------------------------------------------


def test_a_customer_sees_the_same_pin_and_the_database_holds_no_plain_pin(app: Flask) -> None:
    alice = login(app.test_client(), 1)
    first = portal_pin(alice)
    assert len(first) == 6 and first.isdigit()
    assert portal_pin(alice) == first
    assert alice.get("/support/pin").headers["Cache-Control"] == "no-store"
    with app.app_context():
        (row,) = get_state().db.session.scalars(sa.select(SupportPin)).all()
        assert row.user_id == "1" and row.secret.startswith("v1:") and first not in row.secret
        # A row copied onto another user does not decrypt (the user id is bound to it).
        assert pins._decrypt(SupportPin(user_id="2", secret=row.secret)) is None


def test_a_customer_sees_only_their_own_pin(app: Flask) -> None:
    alice_pin = portal_pin(login(app.test_client(), 1))
    bob = login(app.test_client(), 2)
    bob_page = bob.get("/support/pin").get_data(as_text=True)
    bob_pin = portal_pin(bob)
    assert alice_pin not in bob_page or alice_pin == bob_pin
    with app.app_context():
        owners = get_state().db.session.scalars(sa.select(SupportPin.user_id).order_by(SupportPin.user_id)).all()
    assert owners == ["1", "2"]


def test_regenerate_needs_csrf_and_invalidates_the_old_pin(app: Flask, alice: Actor) -> None:
    client = login(app.test_client(), 1)
    old = portal_pin(client)
    assert client.post("/support/pin/regenerate").status_code == 400
    assert portal_pin(client) == old
    with record_signals(app) as sent:
        done = client.post("/support/pin/regenerate", data={"csrf_token": csrf_token(client)})
    assert done.status_code == 302
    assert sent.one("pin_changed") == {"actor": alice}
    assert "The old one no longer works." in client.get(done.headers["Location"]).get_data(as_text=True)
    new = portal_pin(client)
    assert new != old  # a new random PIN (the same six digits: one chance in a million)
    number = open_for(app, alice)
    agent = login(app.test_client(), 10)
    check_on_ticket(agent, number, old)
    check_on_ticket(agent, number, new)
    assert [e.kind for e in events(app, number)] == ["pin_mismatch", "pin_verified"]


def test_a_changed_secret_key_gives_the_customer_a_new_pin(app: Flask) -> None:
    old = portal_pin(login(app.test_client(), 1))
    app.secret_key = app.config["SECRET_KEY"] = "a-rotated-secret"
    staff = Actor("10", "Ann Agent", "ann@store.example", "agent")
    customer = Actor("1", "Alice Customer", "alice@example.com")
    with app.test_request_context():
        # The stored PIN cannot be read any more: no PIN, until its owner looks.
        assert pins.verify(staff, old, customer=customer).outcome is pins.Outcome.NO_PIN
    new = portal_pin(login(app.test_client(), 1))  # (logged in again: the old cookie is void)
    with app.test_request_context():
        assert pins.verify(staff, new, customer=customer).matched


# -------------------------------------------------------------------------------------
# Staff check a PIN
# -------------------------------------------------------------------------------------


def test_staff_check_a_pin_on_a_ticket_and_never_see_it(app: Flask, alice: Actor) -> None:
    pin = portal_pin(login(app.test_client(), 1))
    number = open_for(app, alice)
    agent = login(app.test_client(), 10)
    page = agent.get(f"/support/desk/tickets/{number}").get_data(as_text=True)
    assert "Verify PIN" in page and pin not in page

    wrong = str((int(pin) + 1) % 10**6).zfill(6)
    with record_signals(app) as sent:
        missed = check_on_ticket(agent, number, wrong)
    assert missed.status_code == 302
    checked = sent.one("pin_checked")
    assert set(checked) == {"actor", "customer_id", "matched", "ticket"}
    assert (checked["matched"], checked["customer_id"], checked["ticket"].number) == (False, "1", number)
    assert pin not in str(checked) and wrong not in str(checked)
    shown = agent.get(missed.headers["Location"]).get_data(as_text=True)
    assert "The PIN did not match" in shown and "PIN did not match" in shown

    matched = check_on_ticket(agent, number, f"{pin[:3]} {pin[3:]}")  # read out in two halves
    shown = agent.get(matched.headers["Location"]).get_data(as_text=True)
    assert "PIN verified: it is the PIN of Alice Customer." in shown
    assert [e.kind for e in events(app, number)] == ["pin_mismatch", "pin_verified"]
    for event in events(app, number):
        assert pin not in str(event.data) and wrong not in str(event.data)
        assert event.actor_id == "10"
    # Nowhere for staff: the page, the timeline, the API.
    assert pin not in shown
    api = agent.get(f"/support/api/v1/tickets/{number}").get_data(as_text=True)
    assert pin not in api
    assert pin not in agent.get(f"/support/api/v1/tickets/{number}/messages").get_data(as_text=True)


def test_staff_check_a_pin_on_a_customer(app: Flask) -> None:
    pin = portal_pin(login(app.test_client(), 2))
    manager = login(app.test_client(), 20)
    page = manager.get("/support/desk/pin")
    assert page.status_code == 200
    checked = manager.post(
        "/support/desk/pin", data={"customer": "bob@example.com", "pin": pin, "csrf_token": csrf_token(manager)}
    )
    assert checked.status_code == 200
    html = checked.get_data(as_text=True)
    assert "PIN verified: it is the PIN of Bob Customer." in html
    assert pin not in html  # not even echoed back in the form
    by_id = manager.post("/support/desk/pin", data={"customer": "2", "pin": "000000" if pin != "000000" else "111111",
                                                     "csrf_token": csrf_token(manager)})
    assert "The PIN did not match" in by_id.get_data(as_text=True)
    unknown = manager.post("/support/desk/pin", data={"customer": "nobody@example.com", "pin": "123456",
                                                      "csrf_token": csrf_token(manager)})
    assert unknown.status_code == 400 and "No customer with this e-mail or id." in unknown.get_data(as_text=True)
    no_pin = manager.post("/support/desk/pin", data={"customer": "alice@example.com", "pin": "123456",
                                                     "csrf_token": csrf_token(manager)})
    assert "Alice Customer has no support PIN yet" in no_pin.get_data(as_text=True)


def test_pin_forms_need_csrf_and_staff(app: Flask, alice: Actor) -> None:
    pin = portal_pin(login(app.test_client(), 1))
    number = open_for(app, alice)
    agent = login(app.test_client(), 10)
    assert agent.post(f"/support/desk/tickets/{number}/pin", data={"pin": pin}).status_code == 400
    assert agent.post("/support/desk/pin", data={"customer": "1", "pin": pin}).status_code == 400
    assert events(app, number) == []
    customer = login(app.test_client(), 2)
    assert customer.post("/support/desk/pin", data={"customer": "1", "pin": pin,
                                                    "csrf_token": csrf_token(customer)}).status_code == 403
    assert check_on_ticket(customer, number, pin).status_code == 403
    # Staff of another department do not reach the ticket at all.
    with app.test_request_context():
        from flask_supportdesk.services import departments

        departments.create_department(Actor.system(), name="Billing", slug="billing")
        billing = tickets.open_ticket(alice, subject="Invoice", body="Wrong VAT.", department="billing").number
    otto = login(app.test_client(), 11)
    assert check_on_ticket(otto, billing, pin).status_code == 404
    assert events(app, billing) == []


def test_a_guest_ticket_offers_no_pin_check(app: Flask) -> None:
    with app.test_request_context():
        number = tickets.open_ticket(Actor.guest("gina@guest.example", "Gina"), subject="Hi", body="Hello").number
    agent = login(app.test_client(), 10)
    assert "Verify PIN" not in agent.get(f"/support/desk/tickets/{number}").get_data(as_text=True)
    refused = check_on_ticket(agent, number, "123456")
    assert refused.status_code == 400 and "no account" in refused.get_data(as_text=True)


def test_a_pin_is_digits(app: Flask, alice: Actor) -> None:
    number = open_for(app, alice)
    agent = login(app.test_client(), 10)
    for bad in ("12ab56", "\uff11\uff12\uff13\uff14\uff15\uff16", "1" * 13):
        refused = check_on_ticket(agent, number, bad)
        assert refused.status_code == 400 and "digits only" in refused.get_data(as_text=True)
    assert events(app, number) == []


# -------------------------------------------------------------------------------------
# Guessing (attempt limits per customer and per staff member)
# -------------------------------------------------------------------------------------


@pytest.mark.settings(pin_rate_limit_per_customer="3 per 15 minutes", pin_rate_limit_per_staff="100 per hour")
def test_guessing_one_customers_pin_locks_checks_on_that_customer(app: Flask, alice: Actor, bob: Actor) -> None:
    pin = portal_pin(login(app.test_client(), 1))
    portal_pin(login(app.test_client(), 2))
    number = open_for(app, alice)
    agent, manager = login(app.test_client(), 10), login(app.test_client(), 20)
    for guess in ("000001", "000002", "000003"):
        assert check_on_ticket(agent, number, guess if guess != pin else "999999").status_code == 302
    locked = check_on_ticket(agent, number, pin)  # even the right PIN: locked
    assert locked.status_code == 429
    assert "Too many attempts. Please try again in 15 minutes." in locked.get_data(as_text=True)
    assert int(locked.headers["Retry-After"]) > 800
    # Locked for every staff member, and nothing is recorded of the refused check.
    assert check_on_ticket(manager, number, pin).status_code == 429
    assert len(events(app, number)) == 3
    # Another customer is not affected.
    bob_number = open_for(app, bob)
    assert check_on_ticket(agent, bob_number, "123456").status_code == 302


@pytest.mark.settings(pin_rate_limit_per_customer="100 per hour", pin_rate_limit_per_staff="3 per 15 minutes")
def test_one_staff_member_guessing_is_locked_out_on_every_customer(app: Flask, alice: Actor, bob: Actor) -> None:
    numbers = [open_for(app, alice), open_for(app, bob), open_for(app, alice, "Second")]
    agent, manager = login(app.test_client(), 10), login(app.test_client(), 20)
    for number in numbers:
        assert check_on_ticket(agent, number, "123456").status_code == 302
    locked = check_on_ticket(agent, numbers[1], "654321")
    assert locked.status_code == 429 and "Too many attempts" in locked.get_data(as_text=True)
    lookup = agent.post("/support/desk/pin", data={"customer": "1", "pin": "1", "csrf_token": csrf_token(agent)})
    assert lookup.status_code == 429 and "Too many attempts" in lookup.get_data(as_text=True)
    assert check_on_ticket(manager, numbers[1], "654321").status_code == 302


def test_pin_lockout_is_shared_by_processes_through_redis(
    request: pytest.FixtureRequest, tmp_path: t.Any, redis_prefix: str
) -> None:
    settings = {
        "SUPPORTDESK_RATELIMIT_STORAGE_URI": REDIS_URL,
        "SUPPORTDESK_RATELIMIT_KEY_PREFIX": redis_prefix,
        "SUPPORTDESK_PIN_RATE_LIMIT_PER_CUSTOMER": "2 per 15 minutes",
    }
    staff = Actor("10", "Ann Agent", "ann@store.example", "agent")
    customer = Actor("1", "Alice Customer", "alice@example.com")
    with two_processes(request, tmp_path, **settings) as (one, two):
        with one.test_request_context():
            assert pins.verify(staff, "111111", customer=customer).outcome is pins.Outcome.NO_PIN
            pins.verify(staff, "222222", customer=customer)
        with two.test_request_context(), pytest.raises(RateLimited) as locked:
            pins.verify(staff, "333333", customer=customer)
        assert locked.value.retry_after and locked.value.retry_after > 800
        keys = list(redis.Redis.from_url(REDIS_URL).scan_iter(f"{redis_prefix}*"))
        assert keys and not any(b"alice" in key for key in keys)


def test_regenerating_mails_the_customer_a_notice_without_the_pin(
    request: pytest.FixtureRequest, tmp_path: t.Any, smtpd: SMTPServer
) -> None:
    from mailserver import mail_app
    from mailserver import mail_link

    build = mail_app(request, tmp_path, smtpd)
    app = next(build)
    try:
        client = login(app.test_client(), 1)
        first = portal_pin(client)
        assert smtpd.mails == []  # the first look makes a PIN and tells nobody
        assert client.post("/support/pin/regenerate", data={"csrf_token": csrf_token(client)}).status_code == 302
        new = portal_pin(client)
        (notice,) = smtpd.to("alice@example.com")
        assert notice.message["Subject"] == "Your support PIN was changed"
        assert "The old PIN no longer works" in notice.text
        assert new not in notice.everything() and first not in notice.everything()
        assert mail_link(notice) == "/support/pin"
    finally:
        next(build, None)
