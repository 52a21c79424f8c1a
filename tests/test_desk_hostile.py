"""The hostile plan (HOSTILE.md §4) against the staff desk: A6 staff reach, customers and
anonymous visitors, E1 CSRF on every POST, C5 stored XSS, and closed tickets."""

from __future__ import annotations

import io
import re
import typing as t

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape
from test_desk import DESK
from test_desk import count
from test_desk import fresh
from test_desk import numbers_in
from test_desk import open_one
from test_desk import post
from test_desk import session
from test_desk import text

import hostapp
from conftest import CANARY
from conftest import assert_no_canary
from conftest import csrf_token
from conftest import login
from flask_supportdesk.models import Department
from flask_supportdesk.models import Event
from flask_supportdesk.models import Message
from flask_supportdesk.models import MessageRevision
from flask_supportdesk.models import Status
from flask_supportdesk.models import Ticket
from flask_supportdesk.services import departments
from flask_supportdesk.services import messages
from flask_supportdesk.services import tickets
from flask_supportdesk.services.attachments import Upload
from flask_supportdesk.values import Actor

pytestmark = pytest.mark.usefixtures("ctx")

OTTO, LENA = 11, 12


def routes(number: str, message_id: int) -> list[tuple[str, str, dict[str, t.Any]]]:
    """Every desk URL that touches one ticket: (method, url, form data)."""
    return [
        ("GET", f"{DESK}/tickets/{number}", {}),
        ("POST", f"{DESK}/tickets/{number}/reply", {"body": "Hi", "channel": "public",
                                                    "priority": "normal"}),
        ("POST", f"{DESK}/tickets/{number}/update", {"status": "resolved", "priority": "urgent",
                                                     "category": "general"}),
        ("POST", f"{DESK}/tickets/{number}/escalate", {"reason": "up"}),
        ("POST", f"{DESK}/tickets/{number}/resolve", {}),
        ("GET", f"{DESK}/messages/{message_id}/edit", {}),
        ("POST", f"{DESK}/messages/{message_id}/edit", {"body": "changed"}),
    ]


def same_page(one: str, other: str) -> bool:
    """Equal apart from the per-request CSRF token."""
    token = re.compile(r'name="csrf-token" content="[^"]*"')
    return token.sub("", one) == token.sub("", other)


def call(client: FlaskClient, method: str, url: str, data: dict[str, t.Any]) -> t.Any:
    return client.get(url) if method == "GET" else post(client, url, data)


def snapshot() -> tuple[int, int, int, list[tuple[t.Any, ...]]]:
    """Everything a refused request must leave untouched."""
    session().expire_all()
    rows = session().execute(
        sa.select(Ticket.status, Ticket.priority, Ticket.level, Ticket.assignee_id,
                  Ticket.escalated_beyond_at).order_by(Ticket.id)
    ).all()
    return count(Message), count(Event), count(MessageRevision), [tuple(r) for r in rows]


# -------------------------------------------------------------------------------------
# A6: staff reach, through pages, forms and search
# -------------------------------------------------------------------------------------


@pytest.fixture
def payments_ticket(alice: Actor, owner: Actor, agent: Actor) -> Ticket:
    """A ticket of the Payments department, out of Otto's (shipping) reach."""
    departments.create_department(owner, name="Payments")
    ticket = open_one(alice, subject="Card charged twice", department="payments")
    messages.post_message(agent, ticket.number, f"Chargeback risk {CANARY}", channel="internal")
    return ticket


@pytest.fixture
def manager_entry_ticket(alice: Actor, manager: Actor) -> Ticket:
    """A ticket that entered at the manager level (e.g. routed there by the host)."""
    ticket = open_one(alice, subject="VIP complaint")
    ticket.entry_level = ticket.level = "manager"
    session().commit()
    messages.post_message(manager, ticket.number, f"Handle with care {CANARY}", channel="internal")
    return ticket


def first_message_id(ticket: Ticket) -> int:
    return int(session().scalar(
        sa.select(Message.id).where(Message.ticket_id == ticket.id).order_by(Message.id)
    ))


@pytest.mark.parametrize(("who", "which"), [(OTTO, "payments_ticket"), (10, "manager_entry_ticket")])
def test_a6_staff_outside_a_tickets_reach_get_404_everywhere(
    client, request, who, which
) -> None:
    ticket: Ticket = request.getfixturevalue(which)
    number, message_id = ticket.number, first_message_id(ticket)
    login(client, who)
    before = snapshot()
    unknown = client.get(f"{DESK}/tickets/T-NOSUCHTICKET")
    assert unknown.status_code == 404
    assert "Back to the desk" in text(unknown)  # staff are sent back where they work
    for method, url, data in routes(number, message_id):
        response = call(client, method, url, data)
        assert response.status_code == 404, (method, url)
        body = text(response)
        assert ticket.subject not in body and number not in body
        assert_no_canary(response)
        # the same page as for a ticket that does not exist: no existence oracle
        assert same_page(body.replace("Message not found.", "Ticket not found."), text(unknown))
    assert snapshot() == before


@pytest.mark.parametrize(("who", "which"), [(OTTO, "payments_ticket"), (10, "manager_entry_ticket")])
def test_a6_search_and_counters_do_not_reveal_tickets_out_of_reach(
    client, request, alice, who, which
) -> None:
    ticket: Ticket = request.getfixturevalue(which)
    visible = open_one(alice, subject="Card question too")
    login(client, who)
    for tab in ("submitted", "mine", "all", "closed"):
        for q in (ticket.subject, ticket.number, "Card", "alice@example.com", CANARY):
            response = client.get(f"{DESK}/", query_string={"tab": tab, "q": q})
            assert response.status_code == 200
            # The search box and its chip echo what was typed; no row, link or count gives
            # it away.
            page = text(response)
            chips = re.search(r'<ul class="sd-chips".*?</ul>', page, re.S)
            assert chips and f"Search: <strong>{escape(q)}</strong>" in chips.group(0)
            body = page.replace(chips.group(0), "")
            assert ticket.number not in numbers_in(response)
            assert f"/tickets/{ticket.number}" not in body and f">{ticket.subject}<" not in body
            if q != CANARY:  # the box echoes a typed canary; the rows must not have it
                assert_no_canary(response)
    assert numbers_in(client.get(f"{DESK}/?tab=all&q=Card")) == [visible.number]
    counters = text(client.get(f"{DESK}/"))
    assert "<strong>1</strong><span>Open</span>" in counters  # only the visible one


def test_a6_escalation_keeps_the_lower_level_in(client, canary_ticket, manager) -> None:
    # Ann escalated it to the manager level; she, and Lena at her level, still handle it.
    for who in (10, LENA, manager.id):
        login(client, who)
        response = client.get(f"{DESK}/tickets/{canary_ticket.number}")
        assert response.status_code == 200
        assert CANARY in text(response)  # staff see the Internal tab
        assert canary_ticket.number in numbers_in(client.get(f"{DESK}/?tab=all"))
    # Lena may still talk to the customer and to the manager level
    login(client, LENA)
    assert post(client, f"{DESK}/tickets/{canary_ticket.number}/reply",
                {"body": "Still on it", "channel": "internal", "priority": "normal"}).status_code == 302


def test_a6_staff_do_not_handle_their_own_requests_in_the_desk(client, agent, manager) -> None:
    own = open_one(agent, subject="My own laptop")  # Ann as a customer
    login(client, agent)
    before = snapshot()
    for method, url, data in routes(own.number, first_message_id(own)):
        if "/messages/" in url:
            continue  # editing one's own first message is a portal matter
        assert call(client, method, url, data).status_code == 403, url
    assert own.number not in numbers_in(client.get(f"{DESK}/?tab=all&q=laptop"))
    assert snapshot() == before


# -------------------------------------------------------------------------------------
# Customers and anonymous visitors never reach the desk
# -------------------------------------------------------------------------------------


def every_desk_url(number: str, message_id: int, department_id: int) -> list[tuple[str, str, dict[str, t.Any]]]:
    return [
        ("GET", f"{DESK}/", {}),
        ("GET", f"{DESK}/?tab=all&q=parcel", {}),
        ("GET", f"{DESK}/new", {}),
        ("POST", f"{DESK}/new", {"subject": "x", "body": "y", "category": "general", "priority": "urgent"}),
        ("GET", f"{DESK}/departments", {}),
        ("POST", f"{DESK}/departments", {"name": "Evil"}),
        ("GET", f"{DESK}/departments/{department_id}/edit", {}),
        ("POST", f"{DESK}/departments/{department_id}/edit", {"name": "Evil"}),
        *routes(number, message_id),
    ]


@pytest.fixture
def desk_urls(canary_ticket, owner) -> list[tuple[str, str, dict[str, t.Any]]]:
    department = departments.create_department(owner, name="Shipping")
    return every_desk_url(canary_ticket.number, canary_ticket.public_message_id, department.id)


def test_customers_get_403_on_every_desk_url(client, alice, bob, desk_urls) -> None:
    for customer in (alice, bob):  # Alice is even the requester of the ticket
        login(client, customer)
        before = snapshot()
        for method, url, data in desk_urls:
            response = call(client, method, url, data)
            assert response.status_code == 403, (customer.name, method, url)
            assert_no_canary(response)
            assert "Where is my parcel?" not in text(response)
        assert snapshot() == before
        assert count(Department) == 1


def test_anonymous_visitors_are_sent_to_log_in(app, client, desk_urls) -> None:
    before = snapshot()
    for method, url, data in desk_urls:
        response = call(client, method, url, data)
        assert response.status_code == 401, (method, url)  # the host has no login view
        assert_no_canary(response)
    app.login_manager.login_view = "index"  # type: ignore[attr-defined]
    for method, url, data in desk_urls:
        response = call(client, method, url, data)
        assert response.status_code == 302, (method, url)
        assert response.headers["Location"].startswith("/?next=")
    assert snapshot() == before


# -------------------------------------------------------------------------------------
# E1: CSRF on every POST route
# -------------------------------------------------------------------------------------


def test_e1_every_post_needs_a_valid_csrf_token(app: Flask, client, owner, canary_ticket) -> None:
    app.config["WTF_CSRF_ENABLED"] = True
    department = departments.create_department(owner, name="Shipping")
    posts = [
        (url, data)
        for method, url, data in every_desk_url(
            canary_ticket.number, canary_ticket.internal_message_id, department.id
        )
        if method == "POST"
    ]
    # A token from another browser session.
    other = app.test_client()
    login(other, owner)
    foreign = csrf_token(other)

    login(client, owner)
    before = snapshot()
    for url, data in posts:
        missing = client.post(url, data=data)
        assert missing.status_code == 400, url
        assert "did not come from this site" in text(missing) or "CSRF" in text(missing)
        wrong = client.post(url, data={**data, "csrf_token": foreign})
        assert wrong.status_code == 400, url
        garbage = client.post(url, data={**data, "csrf_token": "x" * 40})
        assert garbage.status_code == 400, url
    assert snapshot() == before
    assert count(Department) == 1 and count(Ticket) == 1
    # GETs never change state: the POST-only routes refuse them
    for url, _ in posts:
        if url.endswith(("/reply", "/update", "/escalate", "/resolve")):
            assert client.get(url).status_code == 405
    assert snapshot() == before


# -------------------------------------------------------------------------------------
# C5: stored XSS shown as text
# -------------------------------------------------------------------------------------

XSS = [
    "<script>window.pwned=1</script>",
    '"><img src=x onerror=alert(1)>',
    "<svg onload=alert(1)>",
    "<details open ontoggle=alert(1)>",
]


@pytest.mark.parametrize("payload", XSS)
def test_c5_xss_everywhere_is_shown_as_text(monkeypatch, client, owner, agent, payload) -> None:
    monkeypatch.setitem(
        hostapp.USERS, 99, hostapp.User(99, f"Eve {payload}", "eve@example.com")
    )
    eve = hostapp.USERS[99].actor
    department = departments.create_department(owner, name=f"Dept {payload}", slug="evil")
    ticket = open_one(
        eve,
        subject=f"Help {payload}"[:200],
        body=f"Body {payload} [click](javascript:alert(1))",
        department="evil",
        attachments=[Upload.from_bytes(f"{payload}.txt", b"plain text\n")],
    )
    note = messages.post_message(agent, ticket.number, f"Note {payload}", channel="internal")
    login(client, owner)
    pages = [
        client.get(f"{DESK}/?tab=all"),
        client.get(f"{DESK}/?tab=all&q=help"),
        client.get(f"{DESK}/tickets/{ticket.number}"),
        client.get(f"{DESK}/departments"),
        client.get(f"{DESK}/departments/{department.id}/edit"),
    ]
    login(client, agent)
    pages.append(client.get(f"{DESK}/messages/{note.id}/edit"))
    pages.append(client.get(f"{DESK}/?tab=all&q={payload}"))
    for response in pages:
        assert response.status_code == 200, response.request.path
        body = text(response)
        assert payload not in body, response.request.path
        assert not re.search(r"(href|src)\s*=\s*[\"']?\s*javascript:", body, re.I)
        assert "<script>" not in body.replace("<script src=", "")
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    ticket_page = text(pages[2])
    for shown in (f"Eve {payload}", f"Dept {payload}", f"Help {payload}"):
        assert str(escape(shown)) in ticket_page
    assert 'download>' in ticket_page  # the attachment is listed, by its (safe) name


def test_c5_a_bad_filter_value_is_echoed_as_text(client, agent) -> None:
    login(client, agent)
    response = client.get(f"{DESK}/", query_string={"status": XSS[0], "q": XSS[1], "tab": XSS[2]})
    assert response.status_code == 400
    for payload in XSS[:3]:
        assert payload not in text(response)


# -------------------------------------------------------------------------------------
# Closed is final: every change refused with 409, nothing written
# -------------------------------------------------------------------------------------


def test_closed_ticket_refuses_reply_update_escalate_resolve_and_edit(client, alice, agent) -> None:
    ticket = open_one(alice)
    note = messages.post_message(agent, ticket.number, "Before closing", channel="internal")
    tickets.close_ticket(alice, ticket.number)
    login(client, agent)
    page = text(client.get(f"{DESK}/tickets/{ticket.number}"))
    assert "This ticket is closed" in page
    assert f"/tickets/{ticket.number}/reply" not in page  # no reply box, fields or escalation
    before = snapshot()
    attempts = [
        (f"{DESK}/tickets/{ticket.number}/reply", {"body": "Hello?", "channel": "public",
                                                   "priority": "high"}),
        (f"{DESK}/tickets/{ticket.number}/reply", {"body": "Note", "channel": "internal",
                                                   "priority": "normal"}),
        (f"{DESK}/tickets/{ticket.number}/update", {"status": "open", "priority": "urgent",
                                                    "category": "general", "assignee": agent.id}),
        (f"{DESK}/tickets/{ticket.number}/escalate", {"reason": "please"}),
        (f"{DESK}/tickets/{ticket.number}/resolve", {}),
        (f"{DESK}/messages/{note.id}/edit", {"body": "After closing"}),
    ]
    for url, data in attempts:
        response = post(client, url, data)
        assert response.status_code == 409, url
        assert "closed" in text(response).lower()
    reply_with_file = post(client, f"{DESK}/tickets/{ticket.number}/reply", {
        "body": "File", "channel": "public", "priority": "normal", "files": [(io.BytesIO(b"hello\n"), "a.txt")],
    }, content_type="multipart/form-data")
    assert reply_with_file.status_code == 409
    assert snapshot() == before
    assert fresh(ticket.number).status is Status.CLOSED


def test_a_ticket_closed_meanwhile_keeps_the_typed_reply(client, alice, agent) -> None:
    ticket = open_one(alice)
    login(client, agent)
    client.get(f"{DESK}/tickets/{ticket.number}")  # the agent opens the page ...
    tickets.close_ticket(alice, ticket.number)  # ... the customer closes the ticket ...
    response = post(client, f"{DESK}/tickets/{ticket.number}/reply",
                    {"body": "A long careful answer", "channel": "public", "priority": "normal"})
    assert response.status_code == 409  # ... and the reply is refused, not lost silently
    page = text(response)
    assert "closed" in page.lower()
    assert "A long careful answer" in page  # shown to copy into a follow-up
