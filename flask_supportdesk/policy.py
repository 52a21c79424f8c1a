"""The one authority on who may see and do what.

Every surface (pages, API, downloads, later sockets and e-mails) asks this module. Lists
get a SQL filter from it, so a visibility rule is written once and a list cannot leak.

The rules (DESIGN §3):

- A **requester** sees their own tickets and only the ``public`` channel, even when they
  are staff: on their own ticket a staff member is a customer.
- **Staff** see the tickets of their departments (and tickets without one) whose entry
  level is at or below their own role, plus tickets assigned to them or filed by them;
  the top role sees everything. They see both channels.
- A **delegate** (an account holder the requester invited, who accepted) sees that
  ticket's ``public`` channel, posts public messages there, and changes nothing else.
  Their condition is a subquery on the delegate table, so a revocation takes effect on
  the next statement, whatever this module keeps built.
- A **guest** (a contact without an account, identified by a signed token or a
  verified address) is the requester of the guest tickets opened with their e-mail.
- The **system** (the CLI, jobs, the host's own code) sees and may do everything the top
  staff role may, and is never a requester.
- Anything an actor may not see is :class:`~.errors.NotFound`, never
  :class:`~.errors.Forbidden`, so nobody learns that another customer's ticket exists.

Besides visibility, this module decides which fields an actor may set (on a new ticket
and on an existing one) and whether and how far they may escalate; the services enforce
its answers and the pages ask it what to offer.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import typing as t

import sqlalchemy as sa
from flask import g
from sqlalchemy import orm

from ._state import get_state
from .errors import Conflict
from .errors import Forbidden
from .errors import ForbiddenField
from .errors import NotFound
from .errors import TicketClosed
from .i18n import gettext as _
from .i18n import lazy_gettext as _l
from .models import Attachment
from .models import Channel
from .models import Delegate
from .models import DelegateStatus
from .models import Department
from .models import Message
from .models import Status
from .models import Ticket
from .services import _validate
from .values import Actor
from .values import ActorKind

NOT_FOUND_TICKET = _l("Ticket not found.")


class Audience(str, enum.Enum):
    """How an actor sees a ticket it may see."""

    #: Staff handling it: both channels, every field.
    STAFF = "staff"
    #: Its requester (a customer, a guest, or a staff member on their own request): the
    #: public channel, the subject, closing.
    REQUESTER = "requester"
    #: Someone the requester shared it with: the public channel only, no fields.
    DELEGATE = "delegate"
    #: The store itself (CLI, jobs, host code): like staff at the top level.
    SYSTEM = "system"

    @property
    def handles(self) -> bool:
        """Whether this audience works the ticket (staff or the system)."""
        return self in (Audience.STAFF, Audience.SYSTEM)


@dataclasses.dataclass(frozen=True)
class StaffScope:
    """What a staff member can reach: their level and departments."""

    roles: tuple[str, ...]
    level: int
    departments: tuple[str, ...] | None

    @property
    def role(self) -> str:
        """The staff member's own role name."""
        return self.roles[self.level]

    @property
    def is_top(self) -> bool:
        """Whether this is the top role of the hierarchy (the store owner)."""
        return self.level == len(self.roles) - 1

    @property
    def levels_at_or_below(self) -> tuple[str, ...]:
        """The roles whose tickets this staff member reaches: their own and every lower one."""
        return self.roles[: self.level + 1]


def roles() -> tuple[str, ...]:
    """The staff roles, lowest first."""
    return get_state().hooks.role_hierarchy()


def staff_scope(actor: Actor | None) -> StaffScope | None:
    """The actor's staff scope, or ``None`` for a customer (or an unknown role).

    Asked once per actor and app context: the host's department hook may query its
    database, and one request asks policy several times.
    """
    if actor is None:
        return None
    if actor.kind is ActorKind.SYSTEM:
        hierarchy = roles()
        return StaffScope(hierarchy, len(hierarchy) - 1, None)
    if actor.role is None or not actor.is_user:
        return None
    cache: dict[Actor, StaffScope | None] = g.setdefault("_supportdesk_scopes", {})
    if actor not in cache:
        hierarchy = roles()
        if actor.role not in hierarchy:
            cache[actor] = None
        else:
            departments = get_state().hooks.staff_departments(actor)
            cache[actor] = StaffScope(hierarchy, hierarchy.index(actor.role), departments)
    return cache[actor]


def is_staff(actor: Actor | None) -> bool:
    """Whether ``actor`` works on the desk: a staff member, or the system."""
    return staff_scope(actor) is not None


# -------------------------------------------------------------------------------------
# Tickets
# -------------------------------------------------------------------------------------


def _not_requester(actor_id: str | None) -> sa.ColumnElement[bool]:
    return sa.or_(Ticket.requester_id.is_(None), Ticket.requester_id != actor_id)


def staff_ticket_filter(actor: Actor, scope: StaffScope) -> sa.ColumnElement[bool]:
    """SQL condition: tickets ``actor`` handles as staff (never their own requests).

    Built once per staff member and scope, per process: SQL expressions are immutable,
    and building this one cost more than running the query that uses it.
    """
    return _staff_ticket_filter(actor.id, scope)


@functools.lru_cache(maxsize=4096)
def _staff_ticket_filter(actor_id: str | None, scope: StaffScope) -> sa.ColumnElement[bool]:
    if scope.is_top:
        return _not_requester(actor_id)
    reach: sa.ColumnElement[bool] = Ticket.entry_level.in_(scope.levels_at_or_below)
    if scope.departments is not None:
        department_ids = sa.select(Department.id).where(Department.slug.in_(scope.departments))
        reach = sa.and_(
            reach,
            sa.or_(Ticket.department_id.is_(None), Ticket.department_id.in_(department_ids)),
        )
    return sa.and_(
        sa.or_(reach, Ticket.assignee_id == actor_id, Ticket.created_by_id == actor_id),
        _not_requester(actor_id),
    )


def requester_filter(actor: Actor) -> sa.ColumnElement[bool]:
    """SQL condition: the tickets ``actor`` requested (a guest: by their e-mail)."""
    if actor.kind is ActorKind.GUEST:
        own = sa.and_(Ticket.requester_id.is_(None), Ticket.requester_email == actor.email)
        if actor.conversation is not None:  # a chat token: that one chat
            return sa.and_(own, Ticket.number == actor.conversation)
        return own
    if actor.kind is ActorKind.SYSTEM:
        return sa.false()
    return Ticket.requester_id == actor.id


#: The ticket table once more, for subqueries inside a query of tickets.
_OwnTicket = orm.aliased(Ticket, name="supportdesk_own_ticket")


def customer_filter(actor: Actor) -> sa.ColumnElement[bool]:
    """SQL condition: the tickets ``actor`` follows as a customer: requested, or shared
    with them (the portal's list; their public channel only). The delegate part is a
    subquery on the delegate table, evaluated by every statement: cached statements that
    contain it still see a revocation at once.

    One ``IN`` of the ids of both, not an ``OR``: PostgreSQL cannot combine an index
    with the delegate subquery in an ``OR``, and read every ticket of the store for a
    customer's list (28 ms at 200,000 tickets, against 0.2 ms this way).
    """
    if not actor.is_user:
        return requester_filter(actor)
    requested = sa.select(_OwnTicket.id).where(_OwnTicket.requester_id == actor.id)
    shared = sa.select(Delegate.ticket_id).where(
        Delegate.user_id == actor.id, Delegate.status == DelegateStatus.ACCEPTED
    )
    return Ticket.id.in_(sa.union_all(requested, shared))


def ticket_filter(actor: Actor) -> sa.ColumnElement[bool]:
    """SQL condition: every ticket ``actor`` may see, as requester, delegate or staff
    (built once per actor and scope, as :func:`staff_ticket_filter`)."""
    return _ticket_filter(actor, staff_scope(actor))


@functools.lru_cache(maxsize=4096)
def _ticket_filter(actor: Actor, scope: StaffScope | None) -> sa.ColumnElement[bool]:
    if actor.kind is ActorKind.SYSTEM:
        return sa.true()
    own = customer_filter(actor)
    if scope is None:
        return own
    return sa.or_(own, staff_ticket_filter(actor, scope))


@functools.lru_cache(maxsize=4096)
def _ticket_by_number(visible: sa.ColumnElement[bool]) -> sa.Select[t.Any]:
    # The statement of get_ticket for one actor's condition, the number a parameter.
    return sa.select(Ticket).where(Ticket.number == sa.bindparam("number"), visible)


def get_ticket(actor: Actor, number: str, *, for_update: bool = False) -> Ticket:
    """The ticket with this public number, if ``actor`` may see it.

    With ``for_update``, the ticket stays as read until the transaction ends (a row lock
    on PostgreSQL, the database's write lock on SQLite).

    :raises NotFound: no such ticket, or not visible to the actor (the same error).
    """
    # A number no row can have (NUL, a lone surrogate) would fail in SQL: not found.
    if not isinstance(number, str) or not _validate.is_storable(number):
        raise NotFound(NOT_FOUND_TICKET)
    session = get_state().db.session
    # Built once per actor's condition; the number is a parameter.
    stmt: sa.Select[t.Any] = _ticket_by_number(ticket_filter(actor))
    if for_update:
        stmt = stmt.with_for_update(of=Ticket)
        if session.get_bind().dialect.name == "sqlite":
            # SQLite has no FOR UPDATE: a write statement takes its database write lock
            # now, so the ticket read below stays current until the commit. Without it,
            # two simultaneous replies could both read the old status and one status
            # change be lost.
            table = t.cast("sa.Table", Ticket.__table__)
            touch = sa.update(table).where(table.c.number == str(number))
            session.execute(touch.values(number=table.c.number))
    ticket: Ticket | None = session.scalars(stmt, {"number": number}).first()
    if ticket is None:
        raise NotFound(NOT_FOUND_TICKET)
    return ticket


def is_requester(actor: Actor, ticket: Ticket) -> bool:
    """Whether ``actor`` requested ``ticket``."""
    if actor.kind is ActorKind.GUEST:
        return (
            ticket.requester_id is None
            and ticket.requester_email == actor.email
            and actor.conversation in (None, ticket.number)
        )
    return actor.is_user and ticket.requester_id == actor.id


def is_delegate(actor: Actor, ticket: Ticket) -> bool:
    """Whether ``actor`` is an accepted delegate of ``ticket`` (asked of the database
    each time: a revocation counts at once)."""
    if not actor.is_user:
        return False
    stmt = sa.select(Delegate.id).where(
        Delegate.ticket_id == ticket.id,
        Delegate.user_id == actor.id,
        Delegate.status == DelegateStatus.ACCEPTED,
    )
    return get_state().db.session.scalar(stmt.limit(1)) is not None


def handles(actor: Actor, ticket: Ticket) -> bool:
    """Whether staff member ``actor`` handles ``ticket``: :func:`staff_ticket_filter`
    on the loaded row, without a query (the same rule, kept beside it)."""
    scope = staff_scope(actor)
    if scope is None or is_requester(actor, ticket):
        return False
    if scope.is_top or actor.id in (ticket.assignee_id, ticket.created_by_id):
        return True
    if ticket.entry_level not in scope.levels_at_or_below:
        return False
    department = ticket.department
    return scope.departments is None or department is None or department.slug in scope.departments


def audience(actor: Actor, ticket: Ticket) -> Audience:
    """How ``actor`` sees a ticket it may see (:func:`get_ticket` checked that).

    Anyone who may see a ticket and neither requested nor handles it sees it as a
    delegate: the public channel, no fields.
    """
    if actor.kind is ActorKind.SYSTEM:
        return Audience.SYSTEM
    if is_requester(actor, ticket):
        return Audience.REQUESTER
    if handles(actor, ticket):
        return Audience.STAFF
    return Audience.DELEGATE


def visible_channels(actor: Actor, ticket: Ticket) -> tuple[Channel, ...]:
    """The channels of ``ticket`` that ``actor`` may read."""
    if audience(actor, ticket).handles:
        return (Channel.PUBLIC, Channel.INTERNAL)
    return (Channel.PUBLIC,)


def message_filter(actor: Actor, ticket: Ticket) -> sa.ColumnElement[bool]:
    """SQL condition: the messages of ``ticket`` that ``actor`` may read."""
    return sa.and_(
        Message.ticket_id == ticket.id, Message.channel.in_(visible_channels(actor, ticket))
    )


def message_search_filter(actor: Actor) -> sa.ColumnElement[bool]:
    """SQL condition on messages joined to their ticket: those ``actor`` may read, across
    every ticket (search, and anything else that lists messages of many tickets).

    The same rule as :func:`ticket_filter` with :func:`visible_channels`, in SQL: the
    tickets ``actor`` may see, and of those the internal channel only where they handle
    the ticket as staff (never on their own requests).
    """
    public = Message.channel == Channel.PUBLIC
    if actor.kind is ActorKind.SYSTEM:
        return sa.true()
    scope = staff_scope(actor)
    if scope is None:
        return sa.and_(customer_filter(actor), public)
    handled = staff_ticket_filter(actor, scope)
    return sa.or_(handled, sa.and_(customer_filter(actor), public))


def get_attachment(actor: Actor, attachment_id: int) -> Attachment:
    """An attachment, if ``actor`` may read the message it belongs to.

    :raises NotFound: no such attachment, or not visible (the same error).
    """
    attachment_id = _validate.object_id(attachment_id, "Attachment")
    stmt = (
        sa.select(Attachment)
        .join(Message, Message.id == Attachment.message_id)
        .join(Ticket, Ticket.id == Message.ticket_id)
        .where(Attachment.id == attachment_id, ticket_filter(actor))
    )
    found = get_state().db.session.scalars(stmt).first()
    if found is None or found.message.channel not in visible_channels(actor, found.message.ticket):
        raise NotFound(_("Attachment not found."))
    return found


# -------------------------------------------------------------------------------------
# Actions
# -------------------------------------------------------------------------------------

#: Fields a requester may change on their own ticket (status only to ``closed``).
REQUESTER_FIELDS = frozenset({"subject", "status"})
#: Fields staff (and the system) may change.
STAFF_FIELDS = frozenset({"subject", "status", "priority", "category", "department", "assignee"})
#: Fields of a new ticket only staff may set: the priority, and someone else as requester.
STAFF_ONLY_ON_OPEN = ("priority", "requester")


def settable_fields(actor: Actor, ticket: Ticket) -> frozenset[str]:
    """The fields of ``ticket`` that ``actor`` may change."""
    seen_as = audience(actor, ticket)
    if seen_as.handles:
        return STAFF_FIELDS
    if seen_as is Audience.REQUESTER:
        return REQUESTER_FIELDS
    return frozenset()


def open_refusals(actor: Actor, fields: t.Mapping[str, t.Any]) -> dict[str, str]:
    """The fields of a new ticket that ``actor`` may not set, with the reason for each.

    Only staff set a priority or file for another requester (a ``requester`` that is the
    actor is fine).
    """
    if is_staff(actor):
        return {}
    refused = {}
    if fields.get("priority") not in (None, ""):
        refused["priority"] = _("Only staff may set the priority.")
    requester = fields.get("requester")
    if requester not in (None, "") and str(requester) != actor.id:
        refused["requester"] = _("You can only open tickets for yourself.")
    return refused


def require_account(actor: Actor) -> None:
    """Guests (signed in by a guest link, no host account) read, answer and close their
    tickets, but open new ones only through the contact form (rate limited), and have no
    support PIN: the portal's and the API's other ways of opening a ticket refuse them.

    :raises Forbidden: ``actor`` is a guest.
    """
    if actor.kind is ActorKind.GUEST:
        raise Forbidden(_("This needs a customer account."))


def check_open(actor: Actor, fields: t.Mapping[str, t.Any]) -> None:
    """:raises ForbiddenField: ``actor`` set a field of a new ticket only staff may set."""
    refused = open_refusals(actor, fields)
    if refused:
        raise ForbiddenField(fields=refused)


def require_open(ticket: Ticket) -> None:
    """:raises TicketClosed: the ticket is closed (closed is final)."""
    if ticket.status is Status.CLOSED:
        raise TicketClosed()


def handlers_among(ticket: Ticket, members: t.Sequence[Actor]) -> set[Actor]:
    """The staff members among ``members`` who handle ``ticket`` (never their own
    request), in one query whatever their number: a column per member, their
    :func:`ticket_filter` on the ticket's row. For the outbox, which must know who of a
    change's recipients may read the ticket before it mails them."""
    candidates = [m for m in members if is_staff(m) and not is_requester(m, ticket)]
    if not candidates:
        return set()
    # What they handle as staff: a staff member who is also a delegate of the ticket
    # is not a handler of it.
    conditions = [
        sa.case((staff_ticket_filter(m, t.cast(StaffScope, staff_scope(m))), 1), else_=0)
        for m in candidates
    ]
    row = (
        get_state().db.session.execute(sa.select(*conditions).where(Ticket.id == ticket.id)).first()
    )
    if row is None:
        return set()
    return {member for member, sees in zip(candidates, row, strict=True) if sees}


def can_invite_delegates(actor: Actor, ticket: Ticket) -> bool:
    """Whether ``actor`` may invite delegates to ``ticket``: its requester (an account
    holder), while it is open. Delegates invite nobody."""
    return actor.is_user and audience(actor, ticket) is Audience.REQUESTER and not ticket.is_closed


def check_invite_delegates(actor: Actor, ticket: Ticket) -> None:
    """:raises TicketClosed: the ticket is closed.
    :raises Forbidden: ``actor`` is not the ticket's requester."""
    if can_invite_delegates(actor, ticket):
        return
    require_open(ticket)
    raise Forbidden(_("Only the requester may invite delegates."))


def can_manage_delegates(actor: Actor, ticket: Ticket) -> bool:
    """Whether ``actor`` may list and revoke the delegates of ``ticket``: its requester,
    and the staff who handle it (also once it is closed)."""
    seen_as = audience(actor, ticket)
    return seen_as is Audience.REQUESTER or seen_as.handles


def check_manage_delegates(actor: Actor, ticket: Ticket) -> None:
    """:raises Forbidden: ``actor`` is neither the requester nor staff handling it."""
    if not can_manage_delegates(actor, ticket):
        raise Forbidden(_("Only the requester and staff may manage delegates."))


def require_staff(actor: Actor, ticket: Ticket, refusal: str | None = None) -> StaffScope:
    """The actor's scope, if they handle ``ticket`` as staff (or are the system).

    :param refusal: The sentence of the refusal, in words for the actor.
    :raises Forbidden: ``actor`` does not handle ``ticket``.
    """
    scope = staff_scope(actor)
    if scope is None or not audience(actor, ticket).handles:
        raise Forbidden(refusal or _("Only staff may do that."))
    return scope


def check_post(actor: Actor, ticket: Ticket, channel: Channel, *, status: Status | None) -> None:
    """May ``actor`` post on ``channel`` (and pick ``status``)?

    :raises TicketClosed: the ticket is closed.
    :raises ForbiddenField: a requester or delegate tried an internal note or a status.
    """
    require_open(ticket)
    if audience(actor, ticket).handles:
        return
    bad = {}
    if channel is not Channel.PUBLIC:
        bad["channel"] = _("Only staff may write internal notes.")
    if status is not None:
        bad["status"] = _("Only staff may set the status with a reply.")
    if bad:
        raise ForbiddenField(fields=bad)


def check_update(actor: Actor, ticket: Ticket, changes: t.Mapping[str, t.Any]) -> None:
    """May ``actor`` change these fields of ``ticket``?

    :raises TicketClosed: the ticket is closed.
    :raises ForbiddenField: a field the actor may not set (each one listed).
    """
    require_open(ticket)
    allowed = settable_fields(actor, ticket)
    bad = {name: _("You may not change this field.") for name in changes if name not in allowed}
    if not audience(actor, ticket).handles and "status" in changes and "status" in allowed:
        if changes["status"] not in (Status.CLOSED, Status.CLOSED.value):
            bad["status"] = _("You can only close your ticket.")
    if bad:
        raise ForbiddenField(fields=bad)


def check_edit_message(actor: Actor, ticket: Ticket, message: Message) -> None:
    """Only a message's author may edit it, and only while the ticket is open.

    :raises TicketClosed: the ticket is closed.
    :raises Forbidden: ``actor`` did not write the message.
    """
    require_open(ticket)
    if not can_edit_message(actor, ticket, message):
        raise Forbidden(_("Only the author may edit a message."))


def can_edit_message(actor: Actor, ticket: Ticket, message: Message) -> bool:
    """Whether :func:`check_edit_message` would allow it (to show an "Edit" link): the
    author, while the ticket is open. A predicate, not a caught refusal: a thread page
    asks it of every message it shows."""
    return (
        ticket.status is not Status.CLOSED
        and actor.user_id is not None
        and message.author_id == actor.user_id
    )


@dataclasses.dataclass(frozen=True)
class EscalationStep:
    """Where escalating a ticket would take it, and whether this actor may do it.

    :param from_level: The role handling the ticket now.
    :param to_level: The next role up, or ``None`` beyond the top (platform support).
    :param allowed: Whether the actor may escalate now.
    :param refusal: Why not, in words for the actor (empty when allowed).
    """

    from_level: str
    to_level: str | None
    allowed: bool
    refusal: str = ""

    @property
    def beyond(self) -> bool:
        """Whether the step hands the ticket beyond the top level."""
        return self.to_level is None


def escalation_step(actor: Actor, ticket: Ticket) -> EscalationStep:
    """The escalation ``actor`` could make on ``ticket``: one role up, or beyond the top.

    Staff may escalate a ticket at or below their own level; nobody escalates a closed
    ticket or one already handed beyond the top.
    """
    scope = staff_scope(actor)
    hierarchy = scope.roles if scope is not None else roles()
    current = hierarchy.index(ticket.level) if ticket.level in hierarchy else 0
    to_level = hierarchy[current + 1] if current + 1 < len(hierarchy) else None
    step = functools.partial(EscalationStep, hierarchy[current], to_level)
    if scope is None or not audience(actor, ticket).handles:
        return step(False, _("Only staff may escalate tickets."))
    if ticket.is_closed:
        return step(False, str(TicketClosed.default_message))
    if to_level is None and ticket.escalated_beyond_at is not None:
        return step(False, _("This ticket was already handed to platform support."))
    if scope.level < current:
        return step(False, _("This ticket is handled at the %(level)s level.", level=ticket.level))
    return step(True)


def check_escalate(actor: Actor, ticket: Ticket) -> EscalationStep:
    """The step ``actor`` may take.

    :raises TicketClosed: the ticket is closed.
    :raises Conflict: it was already handed beyond the top.
    :raises Forbidden: ``actor`` does not handle it, or ranks below its level.
    """
    step = escalation_step(actor, ticket)
    if step.allowed:
        return step
    require_staff(actor, ticket, _("Only staff may escalate tickets."))
    require_open(ticket)
    if step.beyond and ticket.escalated_beyond_at is not None:
        raise Conflict(step.refusal)
    raise Forbidden(step.refusal)


def can_manage_departments(actor: Actor | None) -> bool:
    """Store owners (the top staff role) and the system manage departments."""
    scope = staff_scope(actor)
    return scope is not None and scope.is_top


def require_manage_departments(actor: Actor) -> None:
    """:raises Forbidden: ``actor`` may not manage departments."""
    if not can_manage_departments(actor):
        raise Forbidden(_("Only store owners may manage departments."))


def can_manage_notifications(actor: Actor | None) -> bool:
    """Store owners (the top staff role) and the system see and retry failed deliveries:
    the list names every recipient, of every department."""
    scope = staff_scope(actor)
    return scope is not None and scope.is_top


def require_manage_notifications(actor: Actor) -> None:
    """:raises Forbidden: ``actor`` may not see or retry failed deliveries."""
    if not can_manage_notifications(actor):
        raise Forbidden(_("Only store owners may see failed deliveries."))
