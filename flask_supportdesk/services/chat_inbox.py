"""The staff chat inbox: live chats by tab, routing a new chat to online staff, turning a
chat into a ticket, ending it, staff-started conversations and the unanswered fallback.

A chat is a ticket (``source`` ``chat``, DESIGN §3), so everything here goes through the
ticket services and :mod:`~flask_supportdesk.policy`; this module only decides which
tickets are **live chats** and what the inbox shows of them:

- a live chat is a ticket of source ``chat`` that is neither resolved nor closed and has
  not left the inbox for the ticket queue (``chat_queued_at`` is empty: it was not turned
  into a ticket and did not fall back unanswered);
- the tabs (:data:`TABS`): ``new`` waits for its first staff answer and is unassigned or
  offered to me (a visitor's chat; a conversation staff started is never "new"),
  ``waiting`` waits for us (status ``open`` or ``pending_admin``), ``mine`` is assigned
  to me, ``all`` is every live chat I may see;
- :func:`tab_counts` counts every tab and its unread chats (:mod:`.reads`) in one query.

**Routing** (:func:`pick_assignee`): a new chat is offered only to staff who are online
(connected, not away: :mod:`.presence`). When the host's routing hook assigned nobody,
the chat goes to the online staff member of its level who has the fewest live chats
(one above its level when nobody of its level is online); with nobody online it stays
unassigned in the queue, and :func:`fall_back_unanswered` turns it into a ticket
answered by e-mail once ``SUPPORTDESK_CHAT_FALLBACK_AFTER`` seconds passed without a
staff answer. A conversation staff start is theirs.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import typing as t

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from .. import events
from .. import policy
from .._state import get_state
from ..errors import Conflict
from ..errors import Forbidden
from ..errors import ValidationError
from ..i18n import gettext as _
from ..models import Channel
from ..models import Message
from ..models import Source
from ..models import Status
from ..models import Ticket
from ..models import TicketRead
from ..models import utcnow
from ..values import Actor
from ..values import ActorKind
from . import _validate
from . import presence
from . import reads
from . import tickets
from ._uow import transaction

#: The inbox's tabs, in the order the page shows them.
TABS = ("new", "waiting", "mine", "all")
#: The statuses of a chat still in the inbox.
LIVE_STATUSES = (Status.OPEN, Status.PENDING_ADMIN, Status.PENDING_CUSTOMER)
#: How many chats one tab lists at most (the newest activity first).
LIST_LIMIT = 100
#: How many unanswered chats one sweep turns into tickets at most (the next takes the rest).
SWEEP_BATCH = 200
#: The timeline's value of the ``chat`` change.
LIVE, QUEUED = "live", "queued"


def live_chat() -> sa.ColumnElement[bool]:
    """SQL condition: the ticket is a live chat (in the inbox, see the module doc)."""
    return sa.and_(
        Ticket.source == Source.CHAT,
        Ticket.chat_queued_at.is_(None),
        Ticket.status.in_(LIVE_STATUSES),
    )


def _visitor_started() -> sa.ColumnElement[bool]:
    # A guest's chat has no creator id; a customer's was created by the customer.
    return sa.or_(Ticket.created_by_id.is_(None), Ticket.created_by_id == Ticket.requester_id)


def is_live_chat(ticket: Ticket) -> bool:
    """Whether ``ticket`` is a live chat (the Python twin of :func:`live_chat`)."""
    return (
        ticket.source is Source.CHAT
        and ticket.chat_queued_at is None
        and ticket.status in LIVE_STATUSES
    )


def tab_condition(actor: Actor, tab: str) -> sa.ColumnElement[bool]:
    """SQL condition of one tab for staff member ``actor`` (live chats only).

    :raises ValidationError: an unknown tab.
    """
    if tab == "new":
        offered = sa.or_(Ticket.assignee_id.is_(None), Ticket.assignee_id == actor.id)
        return sa.and_(Ticket.first_response_at.is_(None), _visitor_started(), offered)
    if tab == "waiting":
        return Ticket.status.in_((Status.OPEN, Status.PENDING_ADMIN))
    if tab == "mine":
        return Ticket.assignee_id == actor.id
    if tab == "all":
        return sa.true()
    raise ValidationError(fields={"tab": _("Unknown tab.")})


def _scope(actor: Actor) -> sa.ColumnElement[bool]:
    """The chats ``actor`` handles as staff (policy's SQL filter).

    :raises Forbidden: ``actor`` is not staff.
    """
    scope = policy.staff_scope(actor)
    if scope is None:
        raise Forbidden(_("The chat inbox is only for the store's staff."))
    if actor.kind is ActorKind.SYSTEM:
        return sa.true()
    return sa.and_(policy.staff_ticket_filter(actor, scope), live_chat())


def list_chats(actor: Actor, tab: str = "all", *, limit: int = LIST_LIMIT) -> list[Ticket]:
    """The live chats of one tab that ``actor`` handles, the newest activity first.

    :raises Forbidden: ``actor`` is not staff.
    :raises ValidationError: an unknown tab.
    """
    stmt = (
        sa.select(Ticket)
        .where(_scope(actor), tab_condition(actor, tab))
        .order_by(Ticket.updated_at.desc(), Ticket.id.desc())
        .limit(limit)
    )
    return list(get_state().db.session.scalars(stmt))


@dataclasses.dataclass(frozen=True)
class TabCount:
    """How many live chats a tab holds, and how many of them are unread for me."""

    total: int
    unread: int


def tab_counts(actor: Actor) -> dict[str, TabCount]:
    """Every tab's count and unread count for ``actor``, in one query whatever the
    number of chats.

    :raises Forbidden: ``actor`` is not staff.
    """
    read = aliased(TicketRead)
    unread = reads.unread_clause(read)
    columns: list[t.Any] = []
    for tab in TABS:
        condition = tab_condition(actor, tab)
        columns.append(sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0))
        both = sa.and_(condition, unread)
        columns.append(sa.func.coalesce(sa.func.sum(sa.case((both, 1), else_=0)), 0))
    stmt = (
        sa.select(*columns)
        .select_from(Ticket)
        .outerjoin(read, sa.and_(read.ticket_id == Ticket.id, read.user_id == (actor.id or "")))
        .where(_scope(actor))
    )
    row = get_state().db.session.execute(stmt).one()
    return {tab: TabCount(int(row[2 * i]), int(row[2 * i + 1])) for i, tab in enumerate(TABS)}


def unread_total(actor: Actor) -> int:
    """How many live chats ``actor`` handles are unread for them (the desk's chat icon)."""
    return tab_counts(actor)["all"].unread


def other_tickets(actor: Actor, ticket: Ticket, *, limit: int = 10) -> list[Ticket]:
    """The requester's other tickets that ``actor`` handles, the newest activity first:
    those of their account and those a guest opened with the same e-mail address
    (policy-filtered: only tickets ``actor`` may see)."""
    scope = policy.staff_scope(actor)
    if scope is None:
        return []
    as_guest = sa.and_(
        Ticket.requester_id.is_(None), Ticket.requester_email == ticket.requester_email
    )
    if ticket.requester_id is not None and ticket.requester_email:
        same: sa.ColumnElement[bool] = sa.or_(Ticket.requester_id == ticket.requester_id, as_guest)
    elif ticket.requester_id is not None:
        same = Ticket.requester_id == ticket.requester_id
    elif ticket.requester_email:
        same = as_guest
    else:
        return []
    visible = (
        sa.true() if actor.kind is ActorKind.SYSTEM else policy.staff_ticket_filter(actor, scope)
    )
    stmt = (
        sa.select(Ticket)
        .where(same, Ticket.id != ticket.id, visible)
        .order_by(Ticket.updated_at.desc(), Ticket.id.desc())
        .limit(limit)
    )
    return list(get_state().db.session.scalars(stmt))


# -------------------------------------------------------------------------------------
# Routing a new chat
# -------------------------------------------------------------------------------------


def _load(user_ids: t.Sequence[str]) -> dict[str, int]:
    """How many live chats each of these staff members is assigned (one query)."""
    if not user_ids:
        return {}
    stmt = (
        sa.select(Ticket.assignee_id, sa.func.count())
        .where(live_chat(), Ticket.assignee_id.in_(user_ids))
        .group_by(Ticket.assignee_id)
    )
    return {str(uid): int(n) for uid, n in get_state().db.session.execute(stmt)}


def pick_assignee(ticket: Ticket, opener: Actor) -> Actor | None:
    """Who a new chat goes to (``ticket`` is not saved yet; see the module doc).

    Staff who start a conversation keep it. Otherwise the online staff member who
    handles the chat (policy) and has the fewest live chats, those of the chat's level
    first; ``None`` when nobody who handles it is online (it waits in the queue).
    """
    if opener.is_user and policy.is_staff(opener):
        return opener
    online = set(presence.online_staff())
    if not online:
        return None
    candidates = [
        member
        for member in get_state().hooks.staff_members()
        if member.id in online and policy.handles(member, ticket)
    ]
    if not candidates:
        return None
    load = _load([m.id for m in candidates])
    roles = policy.roles()

    def rank(member: Actor) -> tuple[int, int, int, str]:
        distance = roles.index(member.role) if member.role in roles else len(roles)
        return (member.role != ticket.level, load.get(member.id, 0), distance, member.id)

    return min(candidates, key=rank)


# -------------------------------------------------------------------------------------
# Changing a chat
# -------------------------------------------------------------------------------------


def _staff_live_chat(actor: Actor, number: str, *, for_update: bool = False) -> Ticket:
    ticket = policy.get_ticket(actor, number, for_update=for_update)
    policy.require_staff(actor, ticket)
    if not is_live_chat(ticket):
        raise Conflict(_("This is not a live chat any more."))
    return ticket


def turn_into_ticket(actor: Actor, number: str, *, subject: t.Any, category: t.Any) -> Ticket:
    """Take a live chat out of the inbox into the ticket queue, with a subject and a
    category: a change of view, in one transaction through the ticket service's update
    path (the timeline records it, the usual events follow). Everything else stays: the
    thread, the requester, the assignee, the status.

    :raises NotFound: the actor may not see the chat.
    :raises Forbidden: the actor does not handle it as staff.
    :raises Conflict: it is not a live chat (any more).
    :raises ValidationError: the subject or the category is invalid.
    """
    changes = {"subject": subject, "category": category}
    with transaction() as uow:
        ticket = _staff_live_chat(actor, number, for_update=True)
        policy.check_update(actor, ticket, changes)
        applied = tickets.apply_changes(actor, ticket, changes)
        ticket.chat_queued_at = utcnow()
        applied["chat"] = (LIVE, QUEUED)
        tickets.record_changes(uow, actor, ticket, applied)
    return ticket


def end_chat(actor: Actor, number: str) -> Ticket:
    """End a live chat: it is resolved (the ticket service's status change; a message
    from the customer reopens it as any resolved ticket).

    :raises NotFound: the actor may not see the chat.
    :raises Forbidden: the actor does not handle it as staff.
    :raises Conflict: it is not a live chat (any more).
    """
    _staff_live_chat(actor, number)
    return tickets.update_ticket(actor, number, {"status": Status.RESOLVED})


def start_conversation(
    actor: Actor,
    customer_id: t.Any,
    body: t.Any,
    *,
    subject: t.Any = None,
    client_id: t.Any = None,
) -> Ticket:
    """Staff start a chat with a customer (a host user id) with its first message.

    It is a chat ticket opened by staff for the customer (:func:`tickets.open`), assigned
    to the staff member who started it: the customer's connections get a ``ticket``
    event with ``started_by_staff`` at once, and the outbox a ``conversation_started``
    mail whose link opens the conversation in the portal (the e-mail fallback when the
    customer is away). A repeated ``client_id`` returns the first conversation.

    :raises Forbidden: ``actor`` is not staff.
    :raises ValidationError: no such customer, a staff member, or an invalid message.
    """
    if not (actor.is_user and policy.is_staff(actor)):
        raise Forbidden(_("Only staff start conversations with customers."))
    customer_id = _validate.user_id(customer_id, "customer")
    customer = get_state().hooks.load_user(customer_id)
    if customer is None or policy.is_staff(customer) or customer.id == actor.id:
        raise ValidationError(fields={"customer": _("Unknown customer.")})
    body = _validate.body(body)
    if subject in (None, ""):
        from .chats import subject_from

        subject = subject_from(body)
    opened = tickets.open(
        actor,
        subject=subject,
        body=body,
        source=Source.CHAT,
        requester_id=customer.id,
        client_id=client_id,
    )
    return opened.ticket


# -------------------------------------------------------------------------------------
# The unanswered-chat fallback
# -------------------------------------------------------------------------------------


def _fallback_text(ticket: Ticket) -> str:
    if ticket.requester_email:
        return _(
            "Nobody could answer right away. We will reply by e-mail to %(email)s.",
            email=ticket.requester_email,
        )
    return _("Nobody could answer right away. We will reply here as soon as we can.")


def _unanswered() -> sa.ColumnElement[bool]:
    return sa.and_(live_chat(), Ticket.first_response_at.is_(None), _visitor_started())


def fall_back_unanswered(*, now: dt.datetime | None = None) -> list[str]:
    """Move the chats nobody answered within ``SUPPORTDESK_CHAT_FALLBACK_AFTER`` seconds
    to the ticket queue, telling each visitor in the chat that the answer comes by e-mail
    (a public message of the store). Returns the numbers of the chats moved.

    Idempotent and safe with several processes: each chat is taken by a conditional
    ``UPDATE`` (still live, still unanswered), so only one process moves it and writes
    its message; a chat answered meanwhile is left alone. From then on staff replies
    reach the visitor by e-mail (:mod:`.notifications`).
    """
    now = now or utcnow()
    cutoff = now - dt.timedelta(seconds=get_state().config.chat_fallback_after)
    session = get_state().db.session
    due = list(
        session.scalars(
            sa.select(Ticket.id)
            .where(_unanswered(), Ticket.created_at <= cutoff)
            .order_by(Ticket.id)
            .limit(SWEEP_BATCH)
        )
    )
    moved: list[str] = []
    store = Actor.system()
    for ticket_id in due:
        with transaction() as uow:
            taken = session.execute(
                sa.update(Ticket)
                .where(Ticket.id == ticket_id, _unanswered(), Ticket.created_at <= cutoff)
                .values(chat_queued_at=now, updated_at=now)
                .execution_options(synchronize_session=False)
            )
            if t.cast(t.Any, taken).rowcount != 1:
                continue  # answered, ended or taken by another process meanwhile
            ticket = session.scalars(
                sa.select(Ticket)
                .where(Ticket.id == ticket_id)
                .execution_options(populate_existing=True)
            ).one()
            message = Message(
                ticket_id=ticket.id,
                channel=Channel.PUBLIC,
                body=_fallback_text(ticket),
                author_id=None,
                author_name=_("Support"),
                author_is_staff=True,
                created_at=now,
            )
            session.add(message)
            session.flush()
            uow.record(events.MessagePosted(store, ticket, message))
            uow.record(events.TicketUpdated(store, ticket, {"chat": (LIVE, QUEUED)}))
            moved.append(ticket.number)
    return moved


__all__ = [
    "LIVE_STATUSES",
    "TABS",
    "TabCount",
    "end_chat",
    "fall_back_unanswered",
    "is_live_chat",
    "list_chats",
    "live_chat",
    "other_tickets",
    "pick_assignee",
    "start_conversation",
    "tab_condition",
    "tab_counts",
    "turn_into_ticket",
    "unread_total",
]
