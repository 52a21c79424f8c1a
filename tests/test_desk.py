"""The staff desk through HTTP: list, counters, ticket page, replies, fields, escalation,
staff-filed tickets and departments (DESIGN §5 "Desk")."""

from __future__ import annotations

import contextlib
import io
import re
import time
import typing as t

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from conftest import csrf_token
from conftest import login
from flask_supportdesk._state import get_state
from flask_supportdesk.models import Channel
from flask_supportdesk.models import Department
from flask_supportdesk.models import Event
from flask_supportdesk.models import Message
from flask_supportdesk.models import MessageRevision
from flask_supportdesk.models import Priority
from flask_supportdesk.models import Source
from flask_supportdesk.models import Status
from flask_supportdesk.models import Ticket
from flask_supportdesk.services import departments
from flask_supportdesk.services import messages
from flask_supportdesk.services import tickets
from flask_supportdesk.services.attachments import Upload
from flask_supportdesk.values import Actor

pytestmark = pytest.mark.usefixtures("ctx")

DESK = "/support/desk"


# -------------------------------------------------------------------------------------
# Helpers
# -------------------------------------------------------------------------------------


def session() -> t.Any:
    return get_state().db.session


def fresh(number: str) -> Ticket:
    """The ticket as the database has it now (after requests in other sessions)."""
    session().expire_all()
    return session().scalars(sa.select(Ticket).where(Ticket.number == number)).one()


def count(model: type) -> int:
    session().expire_all()
    return int(session().scalar(sa.select(sa.func.count()).select_from(model)))


def open_one(actor: Actor, subject: str = "Where is my parcel?", **kw: t.Any) -> Ticket:
    kw.setdefault("body", "It was due on Monday.")
    return tickets.open_ticket(actor, subject=subject, **kw)


def post(client: FlaskClient, url: str, data: dict[str, t.Any] | None = None, **kw: t.Any) -> t.Any:
    """A form POST with the session's CSRF token."""
    return client.post(url, data={"csrf_token": csrf_token(client), **(data or {})}, **kw)


def text(response: t.Any) -> str:
    return t.cast(str, response.get_data(as_text=True))


def numbers_in(response: t.Any) -> list[str]:
    """Ticket numbers of the list rows, in order."""
    return re.findall(r'<tr data-href="/support/desk/tickets/(T-[A-Z0-9]+)"', text(response))


def counters_in(response: t.Any) -> dict[str, int]:
    return {
        label: int(value)
        for value, label in re.findall(r"<strong>(\d+)</strong><span>([^<]+)</span>", text(response))
    }


@contextlib.contextmanager
def counting_queries(app: Flask) -> t.Iterator[list[str]]:
    """Record every SQL statement the block runs."""
    statements: list[str] = []

    def record(conn: t.Any, cursor: t.Any, statement: str, *args: t.Any) -> None:
        statements.append(statement)

    engine = get_state().db.engine
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


@pytest.fixture
def ann(client: FlaskClient, agent: Actor) -> FlaskClient:
    return login(client, agent)


# -------------------------------------------------------------------------------------
# The list: counters, tabs, filters, search, sort, pagination
# -------------------------------------------------------------------------------------


def test_counters_count_each_status_and_link_to_the_filtered_list(ann, alice, bob, agent) -> None:
    first, second, third = open_one(alice), open_one(bob), open_one(alice)
    messages.post_message(agent, second.number, "Which address?")  # pending_customer
    messages.post_message(agent, third.number, "Done.", status="resolved")
    open_one(bob)

    response = ann.get(f"{DESK}/")
    assert response.status_code == 200
    assert counters_in(response) == {
        "Open": 2, "Waiting admin": 0, "Waiting customer": 1, "Resolved": 1,
    }
    assert 'href="/support/desk/?tab=all&amp;status=open"' in text(response)

    listed = numbers_in(ann.get(f"{DESK}/?tab=all&status=resolved"))
    assert listed == [third.number]
    assert first.number in numbers_in(ann.get(f"{DESK}/?tab=all&status=open"))


def _counted(app: Flask, client: FlaskClient) -> tuple[dict[str, int], bool]:
    """The desk's counters, and whether the page counted them (or used kept ones)."""
    with counting_queries(app) as statements:
        response = client.get(f"{DESK}/")
    return counters_in(response), any("count(" in s.lower() for s in statements)


def test_counters_are_kept_until_a_change_in_this_process(app, ann, alice, agent) -> None:
    first = open_one(alice)
    assert _counted(app, ann) == ({"Open": 1, "Waiting admin": 0, "Waiting customer": 0,
                                   "Resolved": 0}, True)
    assert _counted(app, ann)[1] is False  # the next page: no count
    open_one(alice)  # committed here: every kept count is dropped
    assert _counted(app, ann) == ({"Open": 2, "Waiting admin": 0, "Waiting customer": 0,
                                   "Resolved": 0}, True)
    messages.post_message(agent, first.number, "Done.", status="resolved")
    assert _counted(app, ann)[0]["Resolved"] == 1


def _change_elsewhere(number: str) -> None:
    """A change committed by another process: no event reaches this one."""
    with get_state().db.engine.begin() as conn:
        table = t.cast(sa.Table, Ticket.__table__)
        conn.execute(sa.update(table).where(table.c.number == number).values(status="resolved"))


def test_counters_changed_elsewhere_show_after_the_max_age(app, ann, alice, monkeypatch) -> None:
    ticket = open_one(alice)
    assert _counted(app, ann)[0]["Open"] == 1
    _change_elsewhere(ticket.number)
    assert _counted(app, ann) == ({"Open": 1, "Waiting admin": 0, "Waiting customer": 0,
                                   "Resolved": 0}, False)  # stale, within the max age
    later = time.monotonic() + get_state().config.counters_max_age
    monkeypatch.setattr(time, "monotonic", lambda: later)
    assert _counted(app, ann) == ({"Open": 0, "Waiting admin": 0, "Waiting customer": 0,
                                   "Resolved": 1}, True)


def test_the_viewers_own_change_in_another_process_shows_at_once(app, ann, alice, agent) -> None:
    from flask_supportdesk.blueprints.desk import CHANGED_AT

    ticket = open_one(alice)
    ann.get(f"{DESK}/")  # counted and kept here
    # The viewer changes the ticket through a request another process serves: the change
    # time is in their session, and this process's kept counts are older.
    _change_elsewhere(ticket.number)
    with ann.session_transaction() as sess:
        sess[CHANGED_AT] = time.time()
    assert _counted(app, ann) == ({"Open": 0, "Waiting admin": 0, "Waiting customer": 0,
                                   "Resolved": 1}, True)


def test_a_staff_change_through_the_desk_is_noted_in_the_session(app, ann, alice) -> None:
    from flask_supportdesk.blueprints.desk import CHANGED_AT

    ticket = open_one(alice)
    with ann.session_transaction() as sess:
        assert CHANGED_AT not in sess
    response = post(ann, f"{DESK}/tickets/{ticket.number}/resolve")
    assert response.status_code == 302
    with ann.session_transaction() as sess:
        assert isinstance(sess[CHANGED_AT], float)


def test_tabs(ann, client, alice, agent, manager) -> None:
    mine = open_one(agent, requester_id=alice.id, subject="Filed by Ann")
    at_manager = open_one(alice, subject="Escalated")
    from flask_supportdesk.services import escalation

    escalation.escalate(agent, at_manager.number, reason="Refund")
    assigned = open_one(alice, subject="Assigned to Ann")
    tickets.update_ticket(manager, assigned.number, {"assignee": agent.id})
    closed = open_one(alice, subject="Closed one")
    tickets.close_ticket(alice, closed.number)

    submitted = numbers_in(ann.get(f"{DESK}/"))  # the default tab
    assert set(submitted) == {mine.number, assigned.number}
    assert numbers_in(ann.get(f"{DESK}/?tab=mine")) == [mine.number]
    # Mine: assigned to me (the escalated one is not, though Ann still sees it in All).
    assert numbers_in(ann.get(f"{DESK}/?tab=assigned")) == [assigned.number]
    assert ">Mine<" in text(ann.get(f"{DESK}/"))
    assert set(numbers_in(ann.get(f"{DESK}/?tab=all"))) == {
        mine.number, at_manager.number, assigned.number,
    }
    assert numbers_in(ann.get(f"{DESK}/?tab=closed")) == [closed.number]

    # The manager's Submitted tab has what reached their level.
    login(client, manager)
    assert at_manager.number in numbers_in(client.get(f"{DESK}/?tab=submitted"))


def test_filters_narrow_the_list_and_keep_their_values(ann, alice, bob, agent, owner) -> None:
    departments.create_department(owner, name="Payments")
    paid = open_one(alice, subject="Card charged twice", department="payments")
    urgent = open_one(bob, subject="Wrong size")
    tickets.update_ticket(agent, urgent.number, {"priority": "urgent", "assignee": agent.id})
    staff_filed = open_one(agent, requester_id=bob.id, subject="Phoned in", source=Source.STAFF)
    plain = open_one(alice, subject="Hello")

    def listed(query: str) -> set[str]:
        response = ann.get(f"{DESK}/?tab=all&{query}")
        assert response.status_code == 200
        return set(numbers_in(response))

    assert listed("priority=urgent") == {urgent.number}
    assert listed("department=payments") == {paid.number}
    assert listed("department=none") == {urgent.number, staff_filed.number, plain.number}
    assert listed("assignee=me") == {urgent.number}
    assert listed(f"assignee={agent.id}") == {urgent.number}
    assert urgent.number not in listed("assignee=none")
    assert listed("source=staff") == {staff_filed.number}
    assert listed("status=open&priority=urgent&assignee=me") == {urgent.number}

    page = text(ann.get(f"{DESK}/?tab=all&priority=urgent&source=staff&q=wrong"))
    assert '<option value="urgent" selected>' in page
    assert '<option value="staff" selected>' in page
    assert 'name="q" value="wrong"' in page


def test_search_by_subject_customer_email_and_number(ann, alice, bob) -> None:
    parcel = open_one(alice, subject="Parcel never arrived")
    refund = open_one(bob, subject="Refund please")

    def found(q: str) -> set[str]:
        return set(numbers_in(ann.get(f"{DESK}/", query_string={"tab": "all", "q": q})))

    assert found("NEVER arr") == {parcel.number}
    assert found("bob@example") == {refund.number}
    assert found("Alice Cust") == {parcel.number}
    assert found(refund.number.lower()) == {refund.number}
    assert found("%") == set()  # LIKE wildcards are literal


def test_sort_and_pagination(ann, alice, agent) -> None:
    made = [open_one(alice, subject=f"Ticket {i}") for i in range(5)]
    tickets.update_ticket(agent, made[2].number, {"priority": "urgent"})
    tickets.update_ticket(agent, made[4].number, {"priority": "low"})

    by_priority = numbers_in(ann.get(f"{DESK}/?tab=all&sort=-priority"))
    assert by_priority[0] == made[2].number and by_priority[-1] == made[4].number
    oldest_first = numbers_in(ann.get(f"{DESK}/?tab=all&sort=created"))
    assert oldest_first == [m.number for m in made]
    assert numbers_in(ann.get(f"{DESK}/?tab=all&sort=number")) == sorted(m.number for m in made)

    first = ann.get(f"{DESK}/?tab=all&sort=created&page_size=2")
    assert numbers_in(first) == [made[0].number, made[1].number]
    assert 'rel="next"' in text(first) and 'rel="prev"' not in text(first)
    third = ann.get(f"{DESK}/?tab=all&sort=created&page_size=2&page=3")
    assert numbers_in(third) == [made[4].number]
    assert 'rel="prev"' in text(third) and 'rel="next"' not in text(third)
    # the pager keeps the filters
    assert "sort=created" in re.search(r'rel="prev" href="([^"]+)"', text(third)).group(1)


@pytest.mark.parametrize(
    "query",
    ["status=bogus", "priority=1", "source=x", "sort=secret", "tab=nope", "page=0",
     "page=abc", "page_size=100000", "q=" + "x" * 201],
)
def test_a_bad_filter_shows_the_error_with_400(ann, alice, query) -> None:
    open_one(alice)
    response = ann.get(f"{DESK}/?{query}")
    assert response.status_code == 400
    assert 'class="sd-flash sd-flash-error"' in text(response)
    assert numbers_in(response) == []
    assert "<strong>1</strong><span>Open</span>" in text(response)  # counters still shown


def test_list_row_shows_every_column(ann, alice, agent, owner) -> None:
    departments.create_department(owner, name="Shipping")
    ticket = open_one(alice, subject="Row check", department="shipping")
    tickets.update_ticket(agent, ticket.number, {"assignee": agent.id, "priority": "high"})
    page = text(ann.get(f"{DESK}/?tab=all"))
    row = page[page.index(f'<tr data-href="/support/desk/tickets/{ticket.number}"'):]
    row = row[: row.index("</tr>")]
    for expected in ("Row check", "Alice Customer", "alice@example.com", "sd-status-open",
                     "sd-priority-high", "Shipping", "Ann Agent", "agent", "<time datetime="):
        assert expected in row
    assert "desk.js" in page  # the shortcuts script, loaded with defer
    assert re.search(r'<script src="[^"]+desk\.js" defer></script>', page)


# -------------------------------------------------------------------------------------
# The ticket page
# -------------------------------------------------------------------------------------


def test_ticket_page_summary_threads_and_timeline(ann, alice, agent) -> None:
    ticket = open_one(alice, subject="Damaged box", reference={"kind": "order", "id": "1001"})
    messages.post_message(agent, ticket.number, "Please send a photo.")
    messages.post_message(agent, ticket.number, "Courier claim opened.", channel="internal")

    response = ann.get(f"{DESK}/tickets/{ticket.number}")
    assert response.status_code == 200
    page = text(response)
    for expected in ("Damaged box", "Alice Customer", "alice@example.com", "General",
                     "Customer portal", 'href="/orders/1001"', "Order #1001",
                     "Escalate to manager", "First response"):
        assert expected in page
    main = page[page.index('id="sd-pane-main"'): page.index('id="sd-pane-internal"')]
    internal = page[page.index('id="sd-pane-internal"'):]
    internal = internal[: internal.index("</section>")]
    assert "Please send a photo." in main and "Courier claim opened." not in main
    assert "Courier claim opened." in internal and "sd-internal" in internal
    # the timeline lists what happened
    assert "Status: Open → Waiting customer" in page and "opened the ticket" in page
    # both panes are in the page without JavaScript; the tab bar is hidden until JS runs
    assert re.search(r'role="tablist"[^>]*data-sd-tablist hidden', page)


def test_reply_with_status_priority_and_assignee_in_one_go(ann, alice, agent, manager) -> None:
    ticket = open_one(alice)
    response = post(ann, f"{DESK}/tickets/{ticket.number}/reply", {
        "channel": "public",
        "body": "We sent a new one.",
        "status": "resolved",
        "priority": "high",
        "assignee": manager.id,
        "files": [(io.BytesIO(b"paid 12 EUR\n"), "receipt.txt")],
    }, content_type="multipart/form-data")
    assert response.status_code == 302
    assert response.headers["Location"].startswith(f"{DESK}/tickets/{ticket.number}#m")
    saved = fresh(ticket.number)
    assert saved.status is Status.RESOLVED and saved.priority is Priority.HIGH
    assert saved.assignee_id == manager.id and saved.assignee_name == "Max Manager"
    assert saved.first_response_at is not None
    reply = session().scalars(sa.select(Message).order_by(Message.id.desc())).first()
    assert reply.channel is Channel.PUBLIC and reply.author_is_staff
    page = text(ann.get(f"{DESK}/tickets/{ticket.number}"))
    assert "Reply sent." in page


def test_a_reply_defaults_to_waiting_customer(ann, alice) -> None:
    ticket = open_one(alice)
    assert post(ann, f"{DESK}/tickets/{ticket.number}/reply", {
        "channel": "public", "body": "Which address?", "priority": "normal", "assignee": "",
    }).status_code == 302
    saved = fresh(ticket.number)
    assert saved.status is Status.PENDING_CUSTOMER
    assert saved.priority is Priority.NORMAL and saved.assignee_id is None


def test_internal_note_does_not_change_the_status(ann, alice) -> None:
    ticket = open_one(alice)
    response = post(ann, f"{DESK}/tickets/{ticket.number}/reply", {
        "body": "Check the warehouse first.", "channel": "internal", "priority": "normal",
    })
    assert response.status_code == 302
    saved = fresh(ticket.number)
    assert saved.status is Status.OPEN and saved.first_response_at is None
    note = session().scalars(sa.select(Message).order_by(Message.id.desc())).first()
    assert note.channel is Channel.INTERNAL and note.body == "Check the warehouse first."


def test_each_pane_has_its_own_composer_saying_who_reads_it(ann, alice) -> None:
    ticket = open_one(alice)
    page = text(ann.get(f"{DESK}/tickets/{ticket.number}"))
    main = page[page.index('id="sd-pane-main"'):page.index('id="sd-pane-internal"')]
    internal = page[page.index('id="sd-pane-internal"'):page.index("<aside")]
    # Without JavaScript both panes show, each with a form that names its channel.
    assert 'name="channel" type="hidden" value="public"' in main
    assert "Reply to Alice Customer — the customer sees this" in main and "Send reply" in main
    assert 'name="channel" type="hidden" value="internal"' in internal
    assert "Internal note — only staff see this" in internal and "Add internal note" in internal
    assert 'type="checkbox"' not in main + internal  # nothing silently flips the channel


@pytest.mark.parametrize("channel", [None, "", "customer", "y"])
def test_a_reply_without_a_channel_is_refused_never_sent_to_the_customer(
    ann, alice, channel
) -> None:
    ticket = open_one(alice)
    before = count(Message)
    data = {"body": "Meant as a note", "priority": "normal"}
    if channel is not None:
        data["channel"] = channel
    response = post(ann, f"{DESK}/tickets/{ticket.number}/reply", data)
    assert response.status_code == 400 and count(Message) == before
    page = text(response)
    assert "Write it on the Main or the Internal tab." in page
    # The text comes back in the internal composer, never one click from the customer.
    internal = page[page.index('id="sd-pane-internal"'):page.index("<aside")]
    assert "Meant as a note" in internal
    assert 'aria-selected="true">Internal' in page


def test_a_failed_note_comes_back_on_the_internal_tab_with_its_text(ann, alice) -> None:
    ticket = open_one(alice)
    response = post(ann, f"{DESK}/tickets/{ticket.number}/reply", {
        "body": "x" * 12_001, "channel": "internal", "priority": "normal",
    })
    assert response.status_code == 400
    page = text(response)
    assert 'aria-selected="true">Internal' in page
    internal = page[page.index('id="sd-pane-internal"'):page.index("<aside")]
    assert "x" * 12_001 in internal and "sd-has-error" in internal
    main = page[page.index('id="sd-pane-main"'):page.index('id="sd-pane-internal"')]
    assert "x" * 100 not in main


def test_an_empty_reply_is_shown_again_with_400(ann, alice) -> None:
    ticket = open_one(alice)
    before = count(Message)
    response = post(ann, f"{DESK}/tickets/{ticket.number}/reply",
                    {"body": "", "channel": "internal", "status": "resolved"})
    assert response.status_code == 400
    page = text(response)
    assert "sd-has-error" in page
    assert count(Message) == before
    # the reply box keeps what was chosen; the fields form still shows the ticket's values
    reply_status = page[page.index('<select class="sd-input" id="sd-internal-status"'):]
    assert '<option selected value="resolved">' in reply_status[: reply_status.index("</select>")]
    fields_status = page[page.index('id="sd-fields-status"'):]
    assert '<option selected value="open">' in fields_status[: fields_status.index("</select>")]


def test_reply_with_a_disallowed_file_is_415_and_writes_nothing(ann, alice) -> None:
    ticket = open_one(alice)
    before = count(Message)
    response = post(ann, f"{DESK}/tickets/{ticket.number}/reply", {
        "channel": "public", "body": "See attached", "priority": "normal",
        "files": [(io.BytesIO(b"<svg onload=alert(1)>"), "x.svg")],
    }, content_type="multipart/form-data")
    assert response.status_code == 415
    assert "See attached" in text(response)  # what was typed is kept
    assert count(Message) == before


def test_update_fields(ann, alice, agent, owner) -> None:
    departments.create_department(owner, name="Payments")
    ticket = open_one(alice)
    response = post(ann, f"{DESK}/tickets/{ticket.number}/update", {
        "status": "pending_admin", "priority": "urgent", "category": "payment",
        "department": "payments", "assignee": agent.id,
    })
    assert response.status_code == 302
    saved = fresh(ticket.number)
    assert (saved.status, saved.priority, saved.category) == (
        Status.PENDING_ADMIN, Priority.URGENT, "payment",
    )
    assert saved.department.slug == "payments" and saved.assignee_id == agent.id
    kinds = set(session().scalars(sa.select(Event.kind).where(Event.ticket_id == saved.id)))
    assert {"status_changed", "priority_changed", "category_changed",
            "department_changed", "assignee_changed"} <= kinds

    # unassign and clear the department
    post(ann, f"{DESK}/tickets/{ticket.number}/update", {
        "status": "pending_admin", "priority": "urgent", "category": "payment",
        "department": "", "assignee": "",
    })
    saved = fresh(ticket.number)
    assert saved.department is None and saved.assignee_id is None


def test_update_with_an_unknown_assignee_is_400(ann, alice) -> None:
    ticket = open_one(alice)
    response = post(ann, f"{DESK}/tickets/{ticket.number}/update", {
        "status": "open", "priority": "normal", "category": "general", "department": "",
        "assignee": alice.id,  # a customer is not staff
    })
    assert response.status_code == 400
    assert "Not a staff member." in text(response)
    assert fresh(ticket.number).assignee_id is None


def test_escalate_up_the_hierarchy_then_beyond(ann, client, alice, manager, owner, plugin) -> None:
    ticket = open_one(alice)
    response = post(ann, f"{DESK}/tickets/{ticket.number}/escalate", {"reason": "Needs a refund"})
    assert response.status_code == 302
    assert fresh(ticket.number).level == "manager"
    page = text(ann.get(f"{DESK}/tickets/{ticket.number}"))
    assert "Escalated to manager." in page and "Needs a refund" in page  # note on Internal
    # Ann keeps the ticket but may not push it past the level now handling it.
    assert "Escalate to owner" not in page and "Handled at the manager level" in page
    assert post(ann, f"{DESK}/tickets/{ticket.number}/escalate").status_code == 403

    login(client, manager)
    # No reason: the page comes back with the error on the field, the level unchanged.
    response = post(client, f"{DESK}/tickets/{ticket.number}/escalate", {"reason": " "})
    assert response.status_code == 400 and fresh(ticket.number).level == "manager"
    assert "Give a reason for the escalation." in text(response)
    up = {"reason": "Owner decides"}
    assert post(client, f"{DESK}/tickets/{ticket.number}/escalate", up).status_code == 302
    login(client, owner)
    page = text(client.get(f"{DESK}/tickets/{ticket.number}"))
    assert "Hand to platform support" in page
    assert post(client, f"{DESK}/tickets/{ticket.number}/escalate", {"reason": "Bug"}).status_code == 302
    assert plugin.beyond == [ticket.number]
    saved = fresh(ticket.number)
    assert saved.escalated_beyond_ref == "PLATFORM-1"
    page = text(client.get(f"{DESK}/tickets/{ticket.number}"))
    assert "Handed to platform support (PLATFORM-1)" in page
    assert "Escalated beyond the top" in page  # timeline
    # once handed over there is nothing left to escalate
    assert post(client, f"{DESK}/tickets/{ticket.number}/escalate", up).status_code == 409
    assert plugin.beyond == [ticket.number]


def test_resolve(ann, alice) -> None:
    ticket = open_one(alice)
    assert post(ann, f"{DESK}/tickets/{ticket.number}/resolve").status_code == 302
    saved = fresh(ticket.number)
    assert saved.status is Status.RESOLVED and saved.resolved_at is not None
    page = text(ann.get(f"{DESK}/tickets/{ticket.number}"))
    assert "Ticket resolved." in page
    assert f'action="/support/desk/tickets/{ticket.number}/resolve"' not in page


def test_edit_own_message_keeps_history(ann, client, alice, agent, manager) -> None:
    ticket = open_one(alice)
    note = messages.post_message(agent, ticket.number, "First draft", channel="internal")
    page = text(ann.get(f"{DESK}/tickets/{ticket.number}"))
    assert f'href="/support/desk/messages/{note.id}/edit"' in page

    form = ann.get(f"{DESK}/messages/{note.id}/edit")
    assert form.status_code == 200 and "First draft" in text(form) and "Never edited." in text(form)
    response = post(ann, f"{DESK}/messages/{note.id}/edit", {"body": "Second draft"})
    assert response.status_code == 302
    session().expire_all()
    assert session().get(Message, note.id).body == "Second draft"
    assert [r.body for r in session().scalars(sa.select(MessageRevision))] == ["First draft"]
    history = text(ann.get(f"{DESK}/messages/{note.id}/edit"))
    assert "First draft" in history[history.index("History"):]

    # someone else's message: no edit link, and the edit URL is refused
    login(client, manager)
    assert f"/messages/{note.id}/edit" not in text(client.get(f"{DESK}/tickets/{ticket.number}"))
    assert client.get(f"{DESK}/messages/{note.id}/edit").status_code == 403
    assert post(client, f"{DESK}/messages/{note.id}/edit", {"body": "Hijack"}).status_code == 403
    session().expire_all()
    assert session().get(Message, note.id).body == "Second draft"


# -------------------------------------------------------------------------------------
# Staff files a ticket
# -------------------------------------------------------------------------------------


def test_staff_files_a_ticket_for_alice_by_email(ann, alice, agent) -> None:
    assert ann.get(f"{DESK}/new").status_code == 200
    response = post(ann, f"{DESK}/new", {
        "requester": "Alice@Example.com", "subject": "Called about her order",
        "category": "exchange", "department": "", "priority": "high", "order": "#1001",
        "body": "She wants a bigger size.",
    })
    assert response.status_code == 302
    ticket = session().scalars(sa.select(Ticket)).one()
    assert response.headers["Location"] == f"{DESK}/tickets/{ticket.number}"
    assert ticket.requester_id == alice.id and ticket.created_by_id == agent.id
    assert ticket.source is Source.STAFF and ticket.priority is Priority.HIGH
    assert ticket.reference_label == "Order #1001"
    # it is on Ann's "My open" tab
    assert numbers_in(ann.get(f"{DESK}/?tab=mine")) == [ticket.number]


def test_staff_files_a_ticket_by_customer_id(ann, bob) -> None:
    response = post(ann, f"{DESK}/new", {
        "requester": bob.id, "subject": "Phone call", "category": "general",
        "priority": "normal", "body": "Asked about delivery times.",
    })
    assert response.status_code == 302
    assert session().scalars(sa.select(Ticket)).one().requester_id == bob.id


@pytest.mark.parametrize("requester", ["nobody@example.com", "999", "bob@example.com"])
def test_filing_for_an_unknown_customer_or_with_a_foreign_order_is_400(ann, requester) -> None:
    response = post(ann, f"{DESK}/new", {
        "requester": requester, "subject": "Phone call", "category": "general",
        "priority": "normal", "body": "Hi", "order": "1001",  # Alice's order
    })
    assert response.status_code == 400
    assert "sd-has-error" in text(response) or "sd-flash-error" in text(response)
    assert count(Ticket) == 0


def test_staff_are_told_in_staff_words_that_the_order_is_not_the_customers(ann) -> None:
    response = post(ann, f"{DESK}/new", {
        "requester": "bob@example.com", "subject": "Phone call", "category": "general",
        "priority": "normal", "body": "Hi", "order": "1001",  # Alice's order
    })
    assert response.status_code == 400
    assert "No order 1001 found on this customer&#39;s account." in text(response)
    assert "your account" not in text(response)


def test_staff_files_their_own_request(ann, agent) -> None:
    response = post(ann, f"{DESK}/new", {
        "requester": "", "subject": "My monitor", "category": "technical",
        "priority": "normal", "body": "Broken.",
    })
    assert response.status_code == 302
    ticket = session().scalars(sa.select(Ticket)).one()
    assert ticket.requester_id == agent.id
    # followed as a customer: in the portal, never in the desk
    assert response.headers["Location"] == f"/support/tickets/{ticket.number}"
    assert ann.get(f"{DESK}/tickets/{ticket.number}").status_code == 403
    assert ticket.number not in numbers_in(ann.get(f"{DESK}/?tab=mine"))


# -------------------------------------------------------------------------------------
# Departments
# -------------------------------------------------------------------------------------


def test_departments_crud_by_owner(client, owner, alice) -> None:
    login(client, owner)
    page = client.get(f"{DESK}/departments")
    assert page.status_code == 200 and "No departments yet" in text(page)
    assert 'href="/support/desk/departments"' in text(client.get(f"{DESK}/"))  # in the nav

    response = post(client, f"{DESK}/departments", {"name": "Returns & Refunds", "description": "Money back"})
    assert response.status_code == 302
    department = session().scalars(sa.select(Department)).one()
    assert department.slug == "returns-refunds" and department.is_active

    taken = post(client, f"{DESK}/departments", {"name": "Other", "slug": "returns-refunds"})
    assert taken.status_code == 400 and "Another department has this slug." in text(taken)
    assert post(client, f"{DESK}/departments", {"name": ""}).status_code == 400
    assert count(Department) == 1

    edit_url = f"{DESK}/departments/{department.id}/edit"
    assert "Money back" in text(client.get(edit_url))
    response = post(client, edit_url, {"name": "Returns", "description": "", "is_active": ""})
    assert response.status_code == 302
    session().expire_all()
    saved = session().get(Department, department.id)
    assert (saved.name, saved.slug, saved.is_active) == ("Returns", "returns-refunds", False)
    assert "Inactive" in text(client.get(f"{DESK}/departments"))
    assert client.get(f"{DESK}/departments/999/edit").status_code == 404


@pytest.mark.parametrize("user_id", [10, 20])
def test_departments_are_for_owners_only(client, user_id) -> None:
    login(client, user_id)
    assert client.get(f"{DESK}/departments").status_code == 403
    assert post(client, f"{DESK}/departments", {"name": "Sneaky"}).status_code == 403
    assert count(Department) == 0
    assert 'href="/support/desk/departments"' not in text(client.get(f"{DESK}/"))


def test_customers_get_403_on_the_desk(client, alice) -> None:
    login(client, alice)
    response = client.get(f"{DESK}/")
    assert response.status_code == 403
    assert "only for the store" in text(response)


# -------------------------------------------------------------------------------------
# Query counts: pages do not grow with the rows they show
# -------------------------------------------------------------------------------------


# Counted on every page here: the statements of a page that counts (kept counts are
# tested with the counters above).
@pytest.mark.settings(counters_max_age=0)
def test_list_query_count_is_constant(app, ann, alice, agent, owner) -> None:
    departments.create_department(owner, name="Payments")

    def add(n: int) -> None:
        for i in range(n):
            ticket = open_one(alice, subject=f"Bulk {i}", department="payments" if i % 2 else None)
            tickets.update_ticket(agent, ticket.number, {"assignee": agent.id})

    url = f"{DESK}/?tab=all&page_size=50"
    add(5)
    ann.get(url)  # warm up
    with counting_queries(app) as few:
        assert len(numbers_in(ann.get(url))) == 5
    add(45)
    with counting_queries(app) as many:
        assert len(numbers_in(ann.get(url))) == 50
    assert len(few) == len(many), many
    counters = [s for s in many if "count(" in s.lower()]
    assert len(counters) == 1  # all four counters in one query


def test_ticket_page_query_count_is_constant(app, ann, alice, agent) -> None:
    ticket = open_one(alice)

    def add(n: int) -> None:
        for i in range(n):
            channel = "internal" if i % 3 == 0 else "public"
            files = [Upload.from_bytes(f"f{i}.txt", b"data\n")] if i % 2 else []
            messages.post_message(agent, ticket.number, f"Message {i}", channel=channel, attachments=files)

    url = f"{DESK}/tickets/{ticket.number}"
    add(5)
    ann.get(url)
    with counting_queries(app) as few:
        assert ann.get(url).status_code == 200
    add(45)
    with counting_queries(app) as many:
        page = text(ann.get(url))
    # 51 messages: the newest 50 are shown, the first one behind "Show earlier messages".
    assert "Message 44" in page and page.count('class="sd-message ') == 50
    assert "Show earlier messages" in page
    assert len(few) == len(many), many


# -------------------------------------------------------------------------------------
# desk.js in a real browser (skipped without Playwright and Chromium)
# -------------------------------------------------------------------------------------


@pytest.fixture
def live_desk(app: Flask) -> t.Iterator[str]:
    """The test app served over HTTP on a free loopback port."""
    import os
    import shutil

    from livesocket import serve

    pytest.importorskip("playwright.sync_api")
    chromium = os.environ.get("SUPPORTDESK_CHROMIUM", "/usr/bin/chromium")
    if not shutil.which(chromium):
        pytest.skip(f"no Chromium at {chromium}")
    with serve(app) as url:
        yield url


@pytest.mark.browser
def test_desk_keyboard_shortcuts_and_tabs(live_desk, alice, agent) -> None:
    import os

    from playwright.sync_api import sync_playwright

    made = [open_one(alice, subject=f"Keyboard {i}") for i in range(3)]
    messages.post_message(agent, made[0].number, "Secret plan", channel="internal")
    newest_first = [m.number for m in reversed(made)]

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=os.environ.get("SUPPORTDESK_CHROMIUM", "/usr/bin/chromium"),
            args=["--no-sandbox", "--disable-gpu"],
        )
        try:
            page = browser.new_page()
            page.set_default_timeout(10_000)
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{live_desk}/_test/login/{agent.id}")
            page.goto(f"{live_desk}{DESK}/?tab=all")

            # j/k move the selection, Enter opens it
            page.keyboard.press("j")
            page.keyboard.press("j")
            page.keyboard.press("k")
            selected = page.locator("tr.sd-selected")
            assert selected.count() == 1
            assert selected.get_attribute("data-href").endswith(newest_first[0])
            page.keyboard.press("/")
            assert page.evaluate("document.activeElement.name") == "q"
            page.evaluate("document.activeElement.blur()")
            page.keyboard.press("j")
            page.keyboard.press("Enter")
            page.wait_for_url(f"**/tickets/{newest_first[1]}")

            # n / p walk the list the agent came from
            page.keyboard.press("n")
            page.wait_for_url(f"**/tickets/{newest_first[2]}")
            assert made[0].number == newest_first[2]

            # Main / Internal tabs: JS shows the tab bar and one pane at a time
            assert page.locator("[data-sd-tablist]").is_visible()
            assert page.get_by_text("Secret plan").is_hidden()
            page.get_by_role("tab", name="Internal").click()
            assert page.get_by_text("Secret plan").is_visible()
            page.get_by_role("tab", name="Main").click()
            assert page.get_by_text("Secret plan").is_hidden()

            # i opens the Internal tab's composer (a note); Ctrl+Enter sends
            page.keyboard.press("i")
            assert page.get_by_text("Secret plan").is_visible()
            note = page.get_by_role("textbox", name="Internal note — only staff see this")
            assert note.evaluate("el => el === document.activeElement")
            page.keyboard.type("Typed with the keyboard")
            page.keyboard.press("Control+Enter")
            page.wait_for_url(f"**/tickets/{made[0].number}#m*")
            assert errors == []
        finally:
            browser.close()

    note = session().scalars(sa.select(Message).order_by(Message.id.desc())).first()
    session().expire_all()
    assert note.body == "Typed with the keyboard" and note.channel is Channel.INTERNAL
    assert fresh(made[0].number).status is Status.OPEN


def test_closed_ticket_and_its_follow_up_link_to_each_other(ann, alice, app) -> None:
    old = open_one(alice, "Broken zip").number
    with app.test_request_context():
        tickets.close_ticket(alice, old)
        new = tickets.open_follow_up(alice, old, body="It broke again.").number
    closed = text(ann.get(f"{DESK}/tickets/{old}"))
    assert "Continued in" in closed and f'href="{DESK}/tickets/{new}">{new}</a>' in closed
    follow_up = text(ann.get(f"{DESK}/tickets/{new}"))
    assert "Follows up on" in follow_up and f'href="{DESK}/tickets/{old}">{old}</a>' in follow_up
