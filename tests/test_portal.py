"""The customer portal through the test client: real services, real templates."""

from __future__ import annotations

import io
import re
import typing as t

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

import corpus
from conftest import csrf_token
from conftest import login
from flask_supportdesk._state import get_state
from flask_supportdesk.models import Attachment
from flask_supportdesk.models import Department
from flask_supportdesk.models import Event
from flask_supportdesk.models import Message
from flask_supportdesk.models import MessageRevision
from flask_supportdesk.models import Status
from flask_supportdesk.models import Ticket
from flask_supportdesk.services import messages
from flask_supportdesk.services import tickets
from flask_supportdesk.values import Actor

PORTAL = "/support"


# -------------------------------------------------------------------------------------
# Helpers (shared with test_portal_hostile.py)
# -------------------------------------------------------------------------------------


def post(client: FlaskClient, url: str, data: dict[str, t.Any] | None = None) -> t.Any:
    """POST a portal form with a valid CSRF token (multipart when files are in ``data``)."""
    return client.post(url, data={"csrf_token": csrf_token(client), **(data or {})})


def files(*pairs: tuple[str, bytes]) -> list[tuple[io.BytesIO, str]]:
    """Form values for a multiple file field."""
    return [(io.BytesIO(data), name) for name, data in pairs]


def text(response: t.Any) -> str:
    return t.cast(str, response.get_data(as_text=True))


def count(app: Flask, model: type) -> int:
    with app.app_context():
        stmt = sa.select(sa.func.count()).select_from(model)
        return t.cast(int, get_state().db.session.scalar(stmt))


def open_as(app: Flask, actor: Actor, **kw: t.Any) -> str:
    """Open a ticket through the service; its number."""
    kw.setdefault("subject", "Where is my parcel?")
    kw.setdefault("body", "It was due on Monday.")
    with app.test_request_context():
        return tickets.open_ticket(actor, **kw).number


def get_ticket(app: Flask, number: str) -> Ticket:
    with app.app_context():
        session = get_state().db.session
        ticket = session.scalars(sa.select(Ticket).where(Ticket.number == number)).one()
        session.expunge(ticket)
        return ticket


def thread_of(app: Flask, number: str) -> list[Message]:
    with app.app_context():
        session = get_state().db.session
        stmt = sa.select(Message).join(Ticket).where(Ticket.number == number).order_by(Message.id)
        found = list(session.scalars(stmt))
        for message in found:
            session.expunge(message)
        return found


def new_ticket_number(response: t.Any) -> str:
    match = re.search(r"/support/tickets/([A-Z0-9-]+)$", response.headers["Location"])
    assert match, response.headers.get("Location")
    return match.group(1)


# -------------------------------------------------------------------------------------
# Login
# -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["/", "/new", "/tickets/T-XXXXXXXXXX", "/tickets/T-XXXXXXXXXX/close"]
)
def test_anonymous_gets_the_401_page_without_a_login_view(client, url) -> None:
    response = client.get(PORTAL + url)
    assert response.status_code == 401
    assert "Please log in" in text(response)


def test_anonymous_is_sent_to_the_hosts_login_view(app, client) -> None:
    app.login_manager.login_view = "index"  # type: ignore[attr-defined]
    response = client.get(PORTAL + "/new?order=1001")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/?next=")


# -------------------------------------------------------------------------------------
# My tickets
# -------------------------------------------------------------------------------------


def test_my_tickets_active_and_closed_tabs(app, client, alice, bob, agent) -> None:
    waiting = open_as(app, alice, subject="Refund for order 1001")
    closed = open_as(app, alice, subject="Old question")
    open_as(app, bob, subject="Bob's secret problem")
    with app.test_request_context():
        messages.post_message(agent, waiting, "Which bank account?")
        tickets.close_ticket(alice, closed)
    login(client, alice)

    active = text(client.get(PORTAL + "/"))
    assert "Refund for order 1001" in active and waiting in active
    assert "Awaiting your reply" in active  # customer words, not "Waiting customer"
    assert "Waiting customer" not in active
    assert "Old question" not in active and "Bob&#39;s secret" not in active

    closed_tab = text(client.get(PORTAL + "/?tab=closed"))
    assert "Old question" in closed_tab and "Refund for order" not in closed_tab
    assert 'aria-current="page">Closed' in closed_tab


def test_empty_state_offers_a_new_ticket(client, alice) -> None:
    login(client, alice)
    page = text(client.get(PORTAL + "/"))
    assert "You have no open tickets" in page
    assert 'href="/support/new"' in page


@pytest.mark.settings(page_size=2)
def test_my_tickets_is_paginated(app, client, alice) -> None:
    for n in range(3):
        open_as(app, alice, subject=f"Question {n}")
    login(client, alice)
    first = text(client.get(PORTAL + "/"))
    assert first.count('class="sd-subject"') == 2
    assert 'rel="next" href="/support/?page=2"' in first
    second = text(client.get(PORTAL + "/?page=2"))
    assert second.count('class="sd-subject"') == 1 and "Question 0" in second
    assert 'rel="prev"' in second and 'rel="next"' not in second
    # A bad page number is a 400 page, not a crash.
    assert client.get(PORTAL + "/?page=abc").status_code == 400


@pytest.mark.settings(page_size=1)
def test_closed_tab_pages_keep_the_tab(app, client, alice) -> None:
    for subject in ("First closed", "Second closed"):
        number = open_as(app, alice, subject=subject)
        with app.test_request_context():
            tickets.close_ticket(alice, number)
    login(client, alice)
    first = text(client.get(PORTAL + "/?tab=closed"))
    assert "Second closed" in first
    assert 'href="/support/?tab=closed&amp;page=2"' in first
    assert "First closed" in text(client.get(PORTAL + "/?tab=closed&page=2"))


def _queries(app: Flask, client: FlaskClient, url: str) -> int:
    statements: list[str] = []

    def record(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        statements.append(statement)

    with app.app_context():
        engine = get_state().db.engine
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        assert client.get(url).status_code == 200
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    return len(statements)


def test_list_query_count_does_not_grow_with_rows(app, client, alice, bob) -> None:
    login(client, alice)
    login(app.test_client(), bob)
    with app.app_context():
        session = get_state().db.session
        session.add(Department(slug="payments", name="Payments"))
        session.commit()
    for _ in range(3):
        open_as(app, alice, department="payments")
    few = _queries(app, client, PORTAL + "/")
    for _ in range(27):
        open_as(app, alice, department="payments")
    many = _queries(app, client, PORTAL + "/")
    assert text(client.get(PORTAL + "/")).count('class="sd-subject"') == 25
    assert few == many, (few, many)


def test_thread_query_count_does_not_grow_with_messages(app, client, alice, agent) -> None:
    number = open_as(app, alice)

    def add(n: int) -> None:
        with app.test_request_context():
            for i in range(n):
                messages.post_message(agent, number, f"Reply {i}")
                messages.post_message(alice, number, f"Answer {i}")

    add(1)
    login(client, alice)
    few = _queries(app, client, f"{PORTAL}/tickets/{number}")
    add(15)
    many = _queries(app, client, f"{PORTAL}/tickets/{number}")
    assert few == many, (few, many)


# -------------------------------------------------------------------------------------
# New ticket
# -------------------------------------------------------------------------------------


def test_new_ticket_without_departments_has_no_department_choice(app, client, alice) -> None:
    login(client, alice)
    page = text(client.get(PORTAL + "/new"))
    assert 'name="subject"' in page and 'name="category"' in page and 'name="files"' in page
    assert 'name="department"' not in page

    response = post(
        client,
        PORTAL + "/new",
        {"subject": "Card declined", "category": "payment", "body": "Twice **today**."},
    )
    assert response.status_code == 302
    number = new_ticket_number(response)
    ticket = get_ticket(app, number)
    assert ticket.category == "payment" and ticket.department_id is None
    assert ticket.requester_id == alice.id and ticket.status is Status.OPEN

    thread = client.get(response.headers["Location"])
    page = text(thread)
    assert "Card declined" in page and "<strong>today</strong>" in page
    assert f"Your ticket {number} was sent" in page  # the flash


def test_new_ticket_with_departments(app, client, alice) -> None:
    with app.app_context():
        session = get_state().db.session
        session.add_all(
            [
                Department(slug="payments", name="Payments"),
                Department(slug="shipping", name="Shipping"),
                Department(slug="old", name="Retired team", is_active=False),
            ]
        )
        session.commit()
    login(client, alice)
    page = text(client.get(PORTAL + "/new"))
    assert 'name="department"' in page
    assert ">Payments<" in page and ">Shipping<" in page and "Retired team" not in page

    response = post(
        client,
        PORTAL + "/new",
        {"subject": "Lost parcel", "department": "shipping", "category": "general", "body": "Help"},
    )
    assert response.status_code == 302
    ticket = get_ticket(app, new_ticket_number(response))
    with app.app_context():
        department = get_state().db.session.get(Department, ticket.department_id)
        assert department is not None and department.slug == "shipping"
    assert "Shipping" in text(client.get(response.headers["Location"]))

    # An inactive or unknown department goes back onto the form.
    refused = post(
        client,
        PORTAL + "/new",
        {"subject": "X", "department": "old", "category": "general", "body": "Help"},
    )
    assert refused.status_code == 400 and "Unknown department." in text(refused)


def test_new_ticket_with_attachments(app, client, alice) -> None:
    login(client, alice)
    response = post(
        client,
        PORTAL + "/new",
        {
            "subject": "Broken item",
            "category": "exchange",
            "body": "Photos attached.",
            "files": files(("screen.png", corpus.png()), ("invoice.pdf", corpus.pdf())),
        },
    )
    assert response.status_code == 302
    with app.app_context():
        rows = get_state().db.session.scalars(sa.select(Attachment).order_by(Attachment.id)).all()
        assert [(a.filename, a.content_type) for a in rows] == [
            ("screen.png", "image/png"),
            ("invoice.pdf", "application/pdf"),
        ]
        ids = [a.id for a in rows]
    page = text(client.get(response.headers["Location"]))
    for attachment_id, name in zip(ids, ["screen.png", "invoice.pdf"], strict=True):
        link = rf'href="/support/api/v1/attachments/{attachment_id}" download><svg [^>]*>.*?</svg>'
        assert re.search(link + re.escape(name) + "</a>", page)


def test_every_allowed_type_can_be_attached_by_form(app, client, alice) -> None:
    number = open_as(app, alice)
    login(client, alice)
    for name, make in corpus.GENUINE.items():
        data = {"body": name, "files": files((name, make()))}
        response = post(client, f"{PORTAL}/tickets/{number}/reply", data)
        assert response.status_code == 302, name
    assert count(app, Attachment) == len(corpus.GENUINE)


def test_form_errors_keep_the_input(client, alice) -> None:
    login(client, alice)
    response = post(
        client, PORTAL + "/new", {"subject": "Keep me", "category": "general", "body": "  "}
    )
    assert response.status_code == 400
    page = text(response)
    assert 'value="Keep me"' in page
    assert "This field is required." in page


def test_new_ticket_about_my_order(app, client, alice) -> None:
    login(client, alice)
    page = text(client.get(PORTAL + "/new?order=1001"))
    assert "About: <a href=\"/orders/1001\">Order #1001</a>" in page
    assert 'name="order" type="hidden" value="1001"' in page

    response = post(
        client,
        PORTAL + "/new",
        {"subject": "Where is it?", "category": "general", "body": "Not here yet", "order": "1001"},
    )
    assert response.status_code == 302
    ticket = get_ticket(app, new_ticket_number(response))
    assert (ticket.reference_kind, ticket.reference_id) == ("order", "1001")
    assert ticket.reference_label == "Order #1001"
    thread = text(client.get(response.headers["Location"]))
    assert '<a href="/orders/1001">Order #1001</a>' in thread


@pytest.mark.parametrize("order", ["2002", "9999"])
def test_new_ticket_about_someone_elses_order_is_refused(app, client, alice, order) -> None:
    login(client, alice)
    page = text(client.get(f"{PORTAL}/new?order={order}"))
    assert "Order #" not in page and "About:" not in page

    response = post(
        client,
        PORTAL + "/new",
        {"subject": "Whose order?", "category": "general", "body": "Hmm", "order": order},
    )
    assert response.status_code == 400
    # The same words for "not yours" and "does not exist": no existence oracle.
    assert f"No order {order} found on your account." in text(response)
    assert "Order #2002" not in text(response)
    assert count(app, Ticket) == 0


@pytest.mark.parametrize("order", ["2002", "9999"])
def test_an_unknown_order_is_flagged_at_once_and_the_customer_goes_on(
    app, client, alice, order
) -> None:
    login(client, alice)
    page = text(client.get(f"{PORTAL}/new?order={order}"))
    # The same warning for "not yours" and "does not exist", before anything is sent.
    assert f"We could not find order {order} on your account" in page
    assert re.search(r'name="order" type="hidden" value=""', page)
    response = post(
        client,
        PORTAL + "/new",
        {"subject": "Whose order?", "category": "general", "body": "Hmm", "order": ""},
    )
    assert response.status_code == 302
    assert get_ticket(app, new_ticket_number(response)).reference_kind is None


# -------------------------------------------------------------------------------------
# The thread
# -------------------------------------------------------------------------------------


def test_thread_shows_public_messages_in_customer_words(app, client, alice, agent) -> None:
    number = open_as(app, alice, subject="Size exchange")
    with app.test_request_context():
        messages.post_message(agent, number, "Which size do you need?")
        messages.post_message(agent, number, "staff-only remark", channel="internal")
    login(client, alice)
    page = text(client.get(f"{PORTAL}/tickets/{number}"))
    assert "Size exchange" in page and number in page
    assert "Which size do you need?" in page
    assert "staff-only remark" not in page and "Internal note" not in page
    assert "Awaiting your reply" in page
    assert f'action="/support/tickets/{number}/reply"' in page
    assert f'href="/support/tickets/{number}/close"' in page


def test_reply_moves_the_ticket_to_awaiting_support(app, client, alice, agent) -> None:
    number = open_as(app, alice)
    with app.test_request_context():
        messages.post_message(agent, number, "Which address?")
    login(client, alice)
    response = post(client, f"{PORTAL}/tickets/{number}/reply", {"body": "12 High Street"})
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/tickets/{number}#reply")
    assert get_ticket(app, number).status is Status.PENDING_ADMIN
    page = text(client.get(f"{PORTAL}/tickets/{number}"))
    assert "12 High Street" in page and "Awaiting support" in page
    assert "Your reply was sent." in page


def test_empty_reply_is_a_form_error(app, client, alice) -> None:
    number = open_as(app, alice)
    login(client, alice)
    response = post(client, f"{PORTAL}/tickets/{number}/reply", {"body": ""})
    assert response.status_code == 400 and "This field is required." in text(response)
    assert len(thread_of(app, number)) == 1


def test_edit_subject_keeps_history(app, client, alice) -> None:
    number = open_as(app, alice, subject="Old subject")
    login(client, alice)
    response = post(client, f"{PORTAL}/tickets/{number}/subject", {"subject": "New subject"})
    assert response.status_code == 302
    assert get_ticket(app, number).subject == "New subject"
    with app.app_context():
        event = get_state().db.session.scalars(
            sa.select(Event).where(Event.kind == "subject_changed")
        ).one()
        assert event.data["old"] == "Old subject" and event.data["new"] == "New subject"
    assert "New subject" in text(client.get(f"{PORTAL}/tickets/{number}"))

    refused = post(client, f"{PORTAL}/tickets/{number}/subject", {"subject": "x" * 201})
    assert refused.status_code == 400 and "At most 200 characters." in text(refused)
    assert get_ticket(app, number).subject == "New subject"


def test_edit_my_message_keeps_history(app, client, alice) -> None:
    number = open_as(app, alice, body="First words")
    message_id = thread_of(app, number)[0].id
    url = f"{PORTAL}/tickets/{number}/messages/{message_id}/edit"
    login(client, alice)
    thread = text(client.get(f"{PORTAL}/tickets/{number}"))
    assert f'href="{url}"' in thread

    form = text(client.get(url))
    assert "First words" in form and "<h1>Edit your message</h1>" in form

    response = post(client, url, {"body": "Better words"})
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"#m{message_id}")
    edited = thread_of(app, number)[0]
    assert edited.body == "Better words" and edited.edited_at is not None
    with app.app_context():
        revisions = get_state().db.session.scalars(sa.select(MessageRevision.body)).all()
        assert revisions == ["First words"]
    page = text(client.get(f"{PORTAL}/tickets/{number}"))
    assert "Better words" in page and "· edited" in page

    empty = post(client, url, {"body": " "})
    assert empty.status_code == 400 and thread_of(app, number)[0].body == "Better words"


def test_staff_messages_cannot_be_edited_by_the_customer(app, client, alice, agent) -> None:
    number = open_as(app, alice)
    with app.test_request_context():
        staff_message = messages.post_message(agent, number, "Our answer").id
    url = f"{PORTAL}/tickets/{number}/messages/{staff_message}/edit"
    login(client, alice)
    assert f'href="{url}"' not in text(client.get(f"{PORTAL}/tickets/{number}"))
    assert client.get(url).status_code == 403
    assert post(client, url, {"body": "Rewritten"}).status_code == 403
    assert thread_of(app, number)[1].body == "Our answer"


def test_close_asks_first_then_closes(app, client, alice) -> None:
    number = open_as(app, alice)
    login(client, alice)
    confirm = client.get(f"{PORTAL}/tickets/{number}/close")
    assert confirm.status_code == 200 and "Close this ticket?" in text(confirm)
    assert get_ticket(app, number).status is Status.OPEN  # GET changes nothing

    response = post(client, f"{PORTAL}/tickets/{number}/close")
    assert response.status_code == 302
    assert get_ticket(app, number).status is Status.CLOSED
    page = text(client.get(f"{PORTAL}/tickets/{number}"))
    assert "This ticket is closed" in page
    assert "/reply" not in page and "Edit subject" not in page and "/close" not in page
    assert f'action="/support/tickets/{number}/follow-up"' in page
    assert number in text(client.get(PORTAL + "/?tab=closed"))


def test_closed_ticket_refuses_every_change(app, client, alice) -> None:
    number = open_as(app, alice, subject="Done")
    message_id = thread_of(app, number)[0].id
    with app.test_request_context():
        tickets.close_ticket(alice, number)
    login(client, alice)
    before = (count(app, Message), count(app, Event), count(app, MessageRevision))
    attempts = {
        f"{PORTAL}/tickets/{number}/reply": {"body": "One more thing"},
        f"{PORTAL}/tickets/{number}/subject": {"subject": "Changed"},
        f"{PORTAL}/tickets/{number}/messages/{message_id}/edit": {"body": "Changed"},
        f"{PORTAL}/tickets/{number}/close": {},
    }
    for url, data in attempts.items():
        response = post(client, url, data)
        assert response.status_code == 409, url
        assert "This ticket is closed" in text(response)
    assert client.get(f"{PORTAL}/tickets/{number}/close").status_code == 409
    assert client.get(f"{PORTAL}/tickets/{number}/messages/{message_id}/edit").status_code == 409
    assert (count(app, Message), count(app, Event), count(app, MessageRevision)) == before
    ticket = get_ticket(app, number)
    assert ticket.subject == "Done" and thread_of(app, number)[0].body == "It was due on Monday."


def test_follow_up_links_to_the_closed_ticket(app, client, alice) -> None:
    old = open_as(app, alice, subject="Broken zip", category="exchange")
    with app.test_request_context():
        tickets.close_ticket(alice, old)
    login(client, alice)
    response = post(client, f"{PORTAL}/tickets/{old}/follow-up", {"body": "It broke again."})
    assert response.status_code == 302
    new = new_ticket_number(response)
    assert new != old
    ticket = get_ticket(app, new)
    assert ticket.subject == "Re: Broken zip" and ticket.category == "exchange"
    assert ticket.follow_up_of_id == get_ticket(app, old).id
    page = text(client.get(f"{PORTAL}/tickets/{new}"))
    assert "Follows up on" in page and f'href="/support/tickets/{old}">{old}</a>' in page
    assert "It broke again." in page
    assert get_ticket(app, old).status is Status.CLOSED  # closed stays closed
    closed = text(client.get(f"{PORTAL}/tickets/{old}"))
    assert "Continued in" in closed and f'href="/support/tickets/{new}">{new}</a>' in closed


def test_follow_up_of_an_open_ticket_is_a_conflict(app, client, alice) -> None:
    number = open_as(app, alice)
    login(client, alice)
    response = post(client, f"{PORTAL}/tickets/{number}/follow-up", {"body": "Again"})
    assert response.status_code == 409 and "reply to it instead" in text(response)
    assert count(app, Ticket) == 1
