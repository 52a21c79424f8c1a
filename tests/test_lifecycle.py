"""The ticket lifecycle through the services: statuses, channels, closing, follow-ups."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from flask_supportdesk import signals
from flask_supportdesk._state import get_state
from flask_supportdesk.errors import Conflict
from flask_supportdesk.errors import Forbidden
from flask_supportdesk.errors import ForbiddenField
from flask_supportdesk.errors import NotFound
from flask_supportdesk.errors import TicketClosed
from flask_supportdesk.errors import ValidationError
from flask_supportdesk.models import Channel
from flask_supportdesk.models import Event
from flask_supportdesk.models import Message
from flask_supportdesk.models import Status
from flask_supportdesk.models import Ticket
from flask_supportdesk.services import escalation
from flask_supportdesk.services import messages
from flask_supportdesk.services import tickets

pytestmark = pytest.mark.usefixtures("ctx")


def count(model: type) -> int:
    return get_state().db.session.scalar(sa.select(sa.func.count()).select_from(model))


def events(ticket: Ticket) -> list[str]:
    stmt = sa.select(Event.kind).where(Event.ticket_id == ticket.id).order_by(Event.id)
    return list(get_state().db.session.scalars(stmt))


def open_one(actor, **kw):
    kw.setdefault("subject", "Where is my parcel?")
    kw.setdefault("body", "It was due on Monday.")
    return tickets.open_ticket(actor, **kw)


def test_open_ticket_records_everything(alice) -> None:
    ticket = open_one(alice, category="payment")
    assert ticket.status is Status.OPEN
    assert ticket.requester_id == "1" and ticket.requester_email == "alice@example.com"
    assert ticket.category == "payment" and ticket.level == "agent"
    assert ticket.number.startswith("T-") and len(ticket.number) == 12
    assert ticket.last_customer_reply_at is not None and ticket.first_response_at is None
    assert events(ticket) == ["created"]
    assert count(Message) == 1


def test_numbers_are_random_and_unique(alice) -> None:
    numbers = {open_one(alice).number for _ in range(20)}
    assert len(numbers) == 20
    # not sequential: no common prefix beyond the configured one
    assert len({n[2:4] for n in numbers}) > 5


def test_status_rules(alice, agent) -> None:
    ticket = open_one(alice)
    messages.post_message(agent, ticket.number, "Which address?")
    assert ticket.status is Status.PENDING_CUSTOMER
    first = ticket.first_response_at
    assert first is not None

    messages.post_message(alice, ticket.number, "12 High Street")
    assert ticket.status is Status.PENDING_ADMIN

    messages.post_message(agent, ticket.number, "note", channel="internal")
    assert ticket.status is Status.PENDING_ADMIN  # notes change no status

    messages.post_message(agent, ticket.number, "Sent again.", status="resolved")
    assert ticket.status is Status.RESOLVED and ticket.resolved_at is not None
    assert ticket.first_response_at == first

    messages.post_message(alice, ticket.number, "Still nothing")  # reopens resolved
    assert ticket.status is Status.PENDING_ADMIN
    assert "status_changed" in events(ticket)


def test_internal_notes_never_reach_the_requester(alice, agent) -> None:
    ticket = open_one(alice)
    messages.post_message(agent, ticket.number, "CANARY internal", channel="internal")
    seen = messages.list_messages(alice, ticket)
    assert [m.channel for m in seen] == [Channel.PUBLIC]
    note = get_state().db.session.scalar(sa.select(Message).where(Message.channel == Channel.INTERNAL))
    with pytest.raises(NotFound):
        messages.get_message(alice, note.id)
    assert len(messages.list_messages(agent, ticket)) == 2


def test_staff_requester_is_a_customer_on_their_own_ticket(agent, manager) -> None:
    lena = __import__("hostapp").USERS[12].actor
    ticket = open_one(lena)  # a lower-level staff member asking for help
    messages.post_message(manager, ticket.number, "CANARY note", channel="internal")
    assert [m.channel for m in messages.list_messages(lena, ticket)] == [Channel.PUBLIC]
    with pytest.raises(ForbiddenField):
        messages.post_message(lena, ticket.number, "sneaky", channel="internal")
    with pytest.raises(ForbiddenField):
        tickets.update_ticket(lena, ticket.number, {"priority": "urgent"})


def test_customer_cannot_set_staff_fields(alice) -> None:
    ticket = open_one(alice)
    with pytest.raises(ForbiddenField) as info:
        tickets.update_ticket(
            alice, ticket.number, {"priority": "urgent", "assignee": "10", "status": "resolved"}
        )
    assert set(info.value.fields) == {"priority", "assignee", "status"}
    with pytest.raises(ForbiddenField):
        open_one(alice, priority="urgent")
    with pytest.raises(ForbiddenField):
        messages.post_message(alice, ticket.number, "hi", status="resolved")
    get_state().db.session.refresh(ticket)
    assert ticket.priority.value == "normal" and ticket.assignee_id is None


def test_requester_can_edit_subject_and_close(alice, agent) -> None:
    ticket = open_one(alice)
    tickets.update_ticket(alice, ticket.number, {"subject": "New subject"})
    assert ticket.subject == "New subject"
    tickets.close_ticket(alice, ticket.number)
    assert ticket.status is Status.CLOSED and ticket.closed_at is not None


def test_closed_is_final(alice, agent) -> None:
    ticket = open_one(alice)
    tickets.close_ticket(alice, ticket.number)
    before = (count(Message), count(Event))
    with pytest.raises(TicketClosed):
        messages.post_message(alice, ticket.number, "hello?")
    with pytest.raises(TicketClosed):
        messages.post_message(agent, ticket.number, "reopen", status="open")
    with pytest.raises(TicketClosed):
        tickets.update_ticket(agent, ticket.number, {"status": "open"})
    with pytest.raises(TicketClosed):
        tickets.update_ticket(alice, ticket.number, {"subject": "x"})
    first = messages.list_messages(alice, ticket)[0]
    with pytest.raises(TicketClosed):
        messages.edit_message(alice, first.id, "changed")
    with pytest.raises(TicketClosed):
        escalation.escalate(agent, ticket.number)
    assert (count(Message), count(Event)) == before


def test_follow_up_links_to_closed_ticket(alice) -> None:
    ticket = open_one(alice, category="payment")
    with pytest.raises(Conflict):
        tickets.open_follow_up(alice, ticket.number, body="more")
    tickets.close_ticket(alice, ticket.number)
    follow = tickets.open_follow_up(alice, ticket.number, body="It happened again")
    assert follow.follow_up_of_id == ticket.id
    assert follow.subject == "Re: Where is my parcel?" and follow.category == "payment"
    assert "follow_up_opened" in events(ticket)


def test_edit_keeps_history(alice, agent) -> None:
    ticket = open_one(alice)
    first = messages.list_messages(alice, ticket)[0]
    messages.edit_message(alice, first.id, "Corrected text")
    assert first.body == "Corrected text" and first.edited_at is not None
    assert [r.body for r in messages.revisions(alice, first.id)] == ["It was due on Monday."]
    with pytest.raises(Forbidden):
        messages.edit_message(agent, first.id, "not mine")


def test_rendered_body_is_stored_when_written_and_edited(alice) -> None:
    ticket = open_one(alice, body="**Broken** <script>alert(1)</script>")
    first = messages.list_messages(alice, ticket)[0]
    assert "<strong>Broken</strong>" in first.body_html
    assert "<script>" not in first.body_html and "&lt;script&gt;" in first.body_html
    messages.edit_message(alice, first.id, "_Fixed_ [link](javascript:alert(1))")
    get_state().db.session.expire_all()
    stored = get_state().db.session.get(Message, first.id)
    assert "<em>Fixed</em>" in stored.body_html and "<a" not in stored.body_html
    assert stored.html == stored.body_html


def test_messages_written_without_the_orm_are_rendered_when_shown(alice) -> None:
    # Rows from before migration 0002, or inserted in bulk, have no stored HTML.
    ticket = open_one(alice)
    session = get_state().db.session
    session.execute(sa.update(Message).values(body="<b>raw</b> *em*", body_html=None))
    session.commit()
    session.expire_all()
    message = messages.list_messages(alice, ticket)[0]
    assert message.body_html is None
    assert message.html == "<p>&lt;b&gt;raw&lt;/b&gt; <em>em</em></p>\n"


def test_html_stored_by_an_older_renderer_is_rendered_again(alice) -> None:
    # After a change of the sanitiser's rules, HTML stored under the old rules is not served.
    ticket = open_one(alice, body="*fine*")
    session = get_state().db.session
    session.execute(sa.update(Message).values(body_html="<script>stale</script>"))
    session.commit()
    session.expire_all()
    message = messages.list_messages(alice, ticket)[0]
    assert message.html == "<script>stale</script>"  # same version: trusted as stored
    session.execute(sa.update(Message).values(body_html_version=0))
    session.commit()
    session.expire_all()
    message = messages.list_messages(alice, ticket)[0]
    assert message.html == "<p><em>fine</em></p>\n"


def test_another_customers_ticket_is_not_found(alice, bob) -> None:
    ticket = open_one(alice)
    with pytest.raises(NotFound) as hidden:
        messages.post_message(bob, ticket.number, "hi")
    with pytest.raises(NotFound) as missing:
        messages.post_message(bob, "T-DOESNOTEXIST", "hi")
    assert hidden.value.to_dict() == missing.value.to_dict()


def test_validation_limits(alice) -> None:
    with pytest.raises(ValidationError):
        open_one(alice, body="   ")
    with pytest.raises(ValidationError):
        open_one(alice, body="x" * 12001)
    with pytest.raises(ValidationError):
        open_one(alice, subject="two\nlines")
    with pytest.raises(ValidationError):
        open_one(alice, subject={"$ne": 1})
    with pytest.raises(ValidationError):
        open_one(alice, category="nonsense")
    assert count(Ticket) == 0
    assert open_one(alice, body="x" * 12000).id


def test_reference_must_be_the_customers(alice, bob) -> None:
    ticket = open_one(alice, reference={"kind": "order", "id": "1001"})
    assert ticket.reference_label == "Order #1001"
    with pytest.raises(ValidationError) as info:
        open_one(bob, reference={"kind": "order", "id": "1001"})
    assert "reference" in info.value.fields
    assert count(Ticket) == 1


def test_staff_files_for_a_customer(agent, alice) -> None:
    ticket = tickets.open_ticket(
        agent, subject="Refund", body="As discussed", requester_id="1", priority="high",
        reference={"kind": "order", "id": "1001"},
    )
    assert ticket.requester_id == "1" and ticket.created_by_id == "10"
    assert ticket.priority.value == "high"
    assert tickets.open_ticket(alice, subject="s", body="b").requester_id == "1"


def test_assignment_needs_a_staff_member(alice, agent, manager) -> None:
    ticket = open_one(alice)
    tickets.update_ticket(agent, ticket.number, {"assignee": "20", "priority": "high"})
    assert ticket.assignee_id == "20" and ticket.assignee_name == "Max Manager"
    with pytest.raises(ValidationError):
        tickets.update_ticket(agent, ticket.number, {"assignee": "1"})
    tickets.update_ticket(agent, ticket.number, {"assignee": None})
    assert ticket.assignee_id is None


def test_escalation_up_and_beyond(alice, agent, manager, owner, plugin) -> None:
    ticket = open_one(alice)
    escalation.escalate(agent, ticket.number, reason="Needs a refund")
    assert ticket.level == "manager"
    # the escalating agent keeps the ticket and its internal channel
    assert len(messages.list_messages(agent, ticket, channel=Channel.INTERNAL)) == 1
    with pytest.raises(Forbidden):
        escalation.escalate(agent, ticket.number)  # now above the agent's level
    escalation.escalate(manager, ticket.number, reason="Owner decides")
    assert ticket.level == "owner"
    escalation.escalate(owner, ticket.number, reason="Payment gateway bug")
    assert ticket.escalated_beyond_ref == "PLATFORM-1"
    with pytest.raises(Conflict):
        escalation.escalate(owner, ticket.number, reason="Again")
    assert events(ticket).count("escalated") == 2 and "escalated_beyond" in events(ticket)
    with pytest.raises(Forbidden):
        escalation.escalate(alice, ticket.number)


def test_escalation_beyond_without_platform_support(alice, owner, app) -> None:
    plugin = app.extensions["test_plugin"]
    get_state().hooks.pm.unregister(plugin)
    try:
        ticket = open_one(alice)
        ticket.level = "owner"
        get_state().db.session.commit()  # the desk never commits a host's pending change
        with pytest.raises(Conflict):
            escalation.escalate(owner, ticket.number, reason="Gateway bug")
        assert ticket.escalated_beyond_at is None
    finally:
        get_state().hooks.pm.register(plugin)


def test_signals_are_sent_after_commit(alice, agent, app) -> None:
    seen = []

    def on_posted(sender, ticket, message, actor, **extra):
        # committed: a fresh connection sees the row
        with get_state().db.engine.connect() as conn:
            found = conn.execute(sa.text("select count(*) from supportdesk_message where id=:i"), {"i": message.id}).scalar()
        seen.append((sender, message.channel, found))

    with signals.message_posted.connected_to(on_posted):
        ticket = open_one(alice)
        messages.post_message(agent, ticket.number, "note", channel="internal")
    assert seen == [(app, Channel.INTERNAL, 1)]


def test_client_id_makes_posting_idempotent(alice) -> None:
    ticket = open_one(alice)
    one = messages.post_message(alice, ticket.number, "hello", client_id="c-1")
    two = messages.post_message(alice, ticket.number, "hello", client_id="c-1")
    assert one.id == two.id and count(Message) == 2
