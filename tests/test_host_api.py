"""The Python API for hosts: open, post, change, escalate and list from the host's code,
with result views, and the transaction contract (never commit the host's work behind its
back; a desk change can be part of the host's transaction)."""

from __future__ import annotations

import typing as t

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

import flask_supportdesk as desk
import hostapp
from flask_supportdesk import Actor
from flask_supportdesk import ActorKind
from flask_supportdesk._state import get_state
from flask_supportdesk.errors import ForbiddenField
from flask_supportdesk.errors import NotFound
from flask_supportdesk.models import Event
from flask_supportdesk.models import Message
from flask_supportdesk.models import Status
from flask_supportdesk.models import Ticket
from flask_supportdesk.policy import Audience
from flask_supportdesk.services.attachments import Upload
from flask_supportdesk.testing import record_signals

pytestmark = pytest.mark.usefixtures("ctx")


class HostBase(DeclarativeBase):
    """The host's own tables, beside the desk's."""


class Payment(HostBase):
    """A host row written in the same session as the desk's."""

    __tablename__ = "host_payment"

    id: Mapped[int] = mapped_column(primary_key=True)
    order: Mapped[str] = mapped_column(sa.String(20))
    state: Mapped[str] = mapped_column(sa.String(20))


@pytest.fixture
def host_table(ctx: None) -> t.Iterator[None]:
    engine = get_state().db.engine
    HostBase.metadata.create_all(engine)
    yield
    get_state().db.session.rollback()
    HostBase.metadata.drop_all(engine)


def session() -> t.Any:
    return get_state().db.session


def count(model: type) -> int:
    return int(session().scalar(sa.select(sa.func.count()).select_from(model)))


def committed(model: type) -> int:
    """Rows of ``model`` another connection sees: only what is really committed."""
    table = model.__table__  # type: ignore[attr-defined]
    with get_state().db.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_open_ticket_for_a_customer_from_host_code(app, alice) -> None:
    with record_signals(app) as sent:
        view = desk.open_ticket(
            requester="1",
            subject="Payment for order 1001 failed",
            body="Your card was declined.",
            category="payment",
            reference=("order", "1001"),
        )
    assert isinstance(view, desk.TicketView)
    assert view.requester.id == "1" and view.requester.email == "alice@example.com"
    assert view.reference is not None and view.reference.label == "Order #1001"
    assert view.status is Status.OPEN and view.audience is Audience.SYSTEM
    assert view.created_at.tzinfo is not None
    assert sent.names() == ["ticket_opened"]
    ticket = session().scalar(sa.select(Ticket).where(Ticket.number == view.number))
    # The system is nobody's user: no fake id is stored or handed to hooks.
    assert ticket.created_by_id is None
    assert session().scalar(sa.select(Event.actor_id).where(Event.ticket_id == ticket.id)) is None
    # The customer finds it among their own tickets, in their own view.
    mine = desk.list_tickets(viewer=alice)
    assert [t.number for t in mine.items] == [view.number]
    assert mine.items[0].staff is None and mine.items[0].requester.email is None


def test_a_retried_task_opens_one_ticket(app) -> None:
    kwargs: dict[str, t.Any] = {
        "requester": "1", "subject": "Payment failed", "body": "Declined.",
        "client_id": "payment-failed-1001",
    }  # fmt: skip
    first = desk.open_ticket(**kwargs)
    with record_signals(app) as sent:
        again = desk.open_ticket(**kwargs)
    assert again.number == first.number and count(Ticket) == 1
    assert sent.names() == []


def test_a_reference_that_is_not_the_customers_is_refused(app) -> None:
    with pytest.raises(desk.ValidationError) as failed:
        desk.open_ticket(requester="1", subject="x", body="y", reference=("order", "2002"))
    assert "reference" in failed.value.fields and count(Ticket) == 0


def test_post_change_escalate_and_read_as_each_audience(app, alice, agent) -> None:
    opened = desk.open_ticket(requester=alice, subject="Broken lamp", body="It flickers.")
    reply = desk.post_message(opened.number, "We will send a new one.")
    assert isinstance(reply, desk.MessageView) and reply.author_is_staff
    assert "<p>We will send a new one.</p>" in reply.html
    note = desk.post_message(opened.number, "Supplier recall?", channel="internal", by=agent)
    changed = desk.update_ticket(opened.number, priority="high", assignee=agent.id)
    assert changed.priority.value == "high" and changed.assignee is not None
    escalated = desk.escalate_ticket(opened.number, reason="Recall needs a manager.")
    assert escalated.staff is not None and escalated.staff.level == "manager"
    assert escalated.status is Status.PENDING_CUSTOMER  # the system's public reply

    as_customer = desk.get_messages(opened.number, viewer=alice)
    assert [m.id for m in as_customer] == [as_customer[0].id, reply.id]
    assert all(m.channel.value == "public" for m in as_customer)
    as_staff = desk.get_messages(opened.number, viewer=agent)
    assert note.id in [m.id for m in as_staff]
    assert desk.get_ticket(opened.number, viewer=alice).staff is None
    with pytest.raises(NotFound):
        desk.get_ticket(opened.number, viewer=Actor("2", "Bob", "bob@example.com"))


def test_a_customer_acting_through_the_api_keeps_customer_rules(app, alice) -> None:
    with pytest.raises(ForbiddenField):
        desk.open_ticket(requester=alice, subject="x", body="y", priority="urgent", by=alice)
    opened = desk.open_ticket(requester=alice, subject="x", body="y", by=alice)
    with pytest.raises(ForbiddenField):
        desk.update_ticket(opened.number, priority="high", by=alice)


def test_list_tickets_filters_and_paginates_in_sql(app, alice, bob, agent) -> None:
    for n in range(7):
        desk.open_ticket(requester=alice, subject=f"Alice {n}", body="Mentions bob@example.com")
        desk.open_ticket(requester=bob, subject=f"Bob {n} alice@example.com", body="Hi")
    first = desk.list_tickets(viewer=agent, requester="1", page_size=5)
    second = desk.list_tickets(viewer=agent, requester="1", page_size=5, page=2)
    assert first.has_next and not second.has_next
    numbers = [t.number for t in first.items + second.items]
    assert len(numbers) == len(set(numbers)) == 7
    assert all(t.requester.id == "1" for t in first.items + second.items)
    assert desk.list_tickets(requester="2", closed=True).items == []


def test_guest_and_system_actors_never_reach_user_hooks(app, agent) -> None:
    asked: list[tuple[str, str]] = []

    class Spy:
        @desk.hookimpl(tryfirst=True)
        def supportdesk_load_user(self, user_id: str) -> None:
            asked.append(("load_user", user_id))

        @desk.hookimpl(tryfirst=True)
        def supportdesk_staff_departments(self, actor: Actor) -> None:
            asked.append(("staff_departments", actor.id))

        @desk.hookimpl(tryfirst=True)
        def supportdesk_resolve_reference(self, kind: str, ref: str, actor: Actor) -> None:
            asked.append(("resolve_reference", actor.id))

    spy = Spy()
    get_state().hooks.pm.register(spy)
    try:
        opened = desk.open_ticket(
            requester="1", subject="Late", body="Where is it?", reference=("order", "1001")
        )
        desk.post_message(opened.number, "On its way.")
        desk.update_ticket(opened.number, assignee=agent.id)
        desk.list_tickets()
    finally:
        get_state().hooks.pm.unregister(spy)
    # Only real user ids: the requester's, the reference checked for her, the assignee,
    # and the staff and requester the notifications go to; never "system" or a guest's.
    assert {("load_user", "1"), ("resolve_reference", "1"), ("load_user", agent.id),
            ("staff_departments", agent.id)} <= set(asked)  # fmt: skip
    assert {user_id for _, user_id in asked} <= {str(user_id) for user_id in hostapp.USERS}

    guest = Actor.guest("Visitor@Example.com", "Vera Visitor")
    assert guest.kind is ActorKind.GUEST and guest.user_id is None
    assert guest.email == "visitor@example.com"
    with pytest.raises(ValueError, match="role"):
        Actor("x", "X", kind=ActorKind.GUEST, role="owner")


# -------------------------------------------------------------------------------------
# The transaction contract
# -------------------------------------------------------------------------------------


@pytest.mark.usefixtures("host_table")
def test_the_desk_refuses_to_commit_the_hosts_pending_work(app) -> None:
    payment = Payment(order="1001", state="failed")
    session().add(payment)
    with pytest.raises(desk.UncommittedHostChanges):
        desk.open_ticket(requester="1", subject="Payment failed", body="Declined.")
    assert committed(Payment) == 0 and committed(Ticket) == 0
    assert payment in session()  # the host's change is still there, still its own
    with pytest.raises(desk.UncommittedHostChanges):  # flushed is pending work too
        desk.post_message("T-ANY", "x")
    session().rollback()
    session().add(Payment(order="1002", state="ok"))
    session().commit()
    session().scalars(sa.select(Payment)).one().state = "refunded"  # a loaded row changed
    with pytest.raises(desk.UncommittedHostChanges):
        desk.open_ticket(requester="1", subject="Payment failed", body="Declined.")
    session().rollback()
    session().execute(sa.insert(Payment).values(order="1001", state="failed"))
    with pytest.raises(desk.UncommittedHostChanges):
        desk.open_ticket(requester="1", subject="Payment failed", body="Declined.")
    session().rollback()
    assert committed(Payment) == 1 and committed(Ticket) == 0


@pytest.mark.usefixtures("host_table")
def test_host_commits_its_transaction_with_the_desks_change(app) -> None:
    with record_signals(app) as sent:
        with desk.host_transaction():
            session().add(Payment(order="1001", state="failed"))
            opened = desk.open_ticket(requester="1", subject="Payment failed", body="Declined.")
            desk.post_message(opened.number, "Please try another card.")
        assert sent.names() == []  # nothing is announced before the host commits
        assert committed(Ticket) == 0 and committed(Payment) == 0
        session().commit()
    assert sent.names() == ["ticket_opened", "message_posted", "ticket_updated"]
    assert committed(Ticket) == 1 and committed(Payment) == 1 and committed(Message) == 2


@pytest.mark.usefixtures("host_table")
def test_host_rolls_back_and_the_desk_leaves_no_trace(app, tmp_path) -> None:
    folder = tmp_path / "attachments"
    with record_signals(app) as sent:
        with desk.host_transaction():
            session().add(Payment(order="1001", state="failed"))
            desk.open_ticket(
                requester="1",
                subject="Payment failed",
                body="Declined.",
                attachments=[Upload.from_bytes("receipt.txt", b"declined\n")],
            )
            assert any(p.is_file() for p in folder.rglob("*"))
        session().rollback()
    assert sent.names() == []
    assert committed(Ticket) == 0 and committed(Event) == 0 and committed(Payment) == 0
    assert not any(p.is_file() for p in folder.rglob("*")), "the stored file stays"


@pytest.mark.usefixtures("host_table")
def test_a_failed_desk_call_inside_undoes_only_itself(app) -> None:
    with desk.host_transaction():
        session().add(Payment(order="1001", state="failed"))
        kept = desk.open_ticket(requester="1", subject="Payment failed", body="Declined.")
        with pytest.raises(desk.ValidationError):
            desk.open_ticket(requester="1", subject="Another", body="x", category="nope")
        with pytest.raises(desk.ValidationError):  # fails after writing: its savepoint goes
            desk.post_message(kept.number, "x", status="nope")
    session().commit()
    assert committed(Payment) == 1 and committed(Ticket) == 1 and committed(Message) == 1


@pytest.mark.usefixtures("host_table")
def test_nested_host_transactions_commit_once(app) -> None:
    with record_signals(app) as sent:
        with desk.host_transaction():
            desk.open_ticket(requester="1", subject="One", body="x")
            with desk.host_transaction():
                desk.open_ticket(requester="2", subject="Two", body="y")
            assert committed(Ticket) == 0
        session().commit()
    assert sent.names() == ["ticket_opened", "ticket_opened"]
    assert committed(Ticket) == 2
