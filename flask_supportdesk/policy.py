"""The one authority on who may see and do what.

Every surface (pages, API, downloads, later sockets and e-mails) asks this module. Lists
get a SQL filter from it, so a visibility rule is written once and a list cannot leak.

The rules (DESIGN §3):

- A **requester** sees their own tickets and only the ``public`` channel, even when they
  are staff: on their own ticket a staff member is a customer.
- **Staff** see the tickets of their departments (and tickets without one) whose entry
  level is at or below their own role, plus tickets assigned to them or filed by them;
  the top role sees everything. They see both channels.
- Anything an actor may not see is :class:`~.errors.NotFound`, never
  :class:`~.errors.Forbidden`, so nobody learns that another customer's ticket exists.
"""

from __future__ import annotations

import dataclasses
import enum
import typing as t

import sqlalchemy as sa
from flask import g

from ._state import get_state
from .errors import Forbidden
from .errors import ForbiddenField
from .errors import NotFound
from .errors import TicketClosed
from .models import Attachment
from .models import Channel
from .models import Department
from .models import Message
from .models import Status
from .models import Ticket
from .values import Actor

NOT_FOUND_TICKET = "Ticket not found."


class Audience(str, enum.Enum):
    """How an actor sees a ticket."""

    STAFF = "staff"
    REQUESTER = "requester"


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
    if actor is None or actor.role is None:
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
    """Whether the actor holds one of the host's staff roles."""
    return staff_scope(actor) is not None


# -------------------------------------------------------------------------------------
# Tickets
# -------------------------------------------------------------------------------------


def _not_requester(actor: Actor) -> sa.ColumnElement[bool]:
    return sa.or_(Ticket.requester_id.is_(None), Ticket.requester_id != actor.id)


def staff_ticket_filter(actor: Actor, scope: StaffScope) -> sa.ColumnElement[bool]:
    """SQL condition: tickets ``actor`` handles as staff (never their own requests)."""
    if scope.is_top:
        return _not_requester(actor)
    reach: sa.ColumnElement[bool] = Ticket.entry_level.in_(scope.levels_at_or_below)
    if scope.departments is not None:
        department_ids = sa.select(Department.id).where(Department.slug.in_(scope.departments))
        reach = sa.and_(
            reach,
            sa.or_(Ticket.department_id.is_(None), Ticket.department_id.in_(department_ids)),
        )
    return sa.and_(
        sa.or_(reach, Ticket.assignee_id == actor.id, Ticket.created_by_id == actor.id),
        _not_requester(actor),
    )


def ticket_filter(actor: Actor) -> sa.ColumnElement[bool]:
    """SQL condition: every ticket ``actor`` may see, as requester or as staff."""
    own = Ticket.requester_id == actor.id
    scope = staff_scope(actor)
    if scope is None:
        return own
    return sa.or_(own, staff_ticket_filter(actor, scope))


def get_ticket(actor: Actor, number: str, *, for_update: bool = False) -> Ticket:
    """The ticket with this public number, if ``actor`` may see it.

    With ``for_update``, the ticket stays as read until the transaction ends (a row lock
    on PostgreSQL, the database's write lock on SQLite).

    :raises NotFound: no such ticket, or not visible to the actor (the same error).
    """
    session = get_state().db.session
    stmt = sa.select(Ticket).where(Ticket.number == str(number), ticket_filter(actor))
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
    ticket = session.scalars(stmt).first()
    if ticket is None:
        raise NotFound(NOT_FOUND_TICKET)
    return ticket


def audience(actor: Actor, ticket: Ticket) -> Audience:
    """How ``actor`` sees a ticket it may see: as its requester, or as staff."""
    if ticket.requester_id == actor.id or not is_staff(actor):
        return Audience.REQUESTER
    return Audience.STAFF


def visible_channels(actor: Actor, ticket: Ticket) -> tuple[Channel, ...]:
    """The message channels the actor may read on a ticket: staff see internal notes too."""
    if audience(actor, ticket) is Audience.STAFF:
        return (Channel.PUBLIC, Channel.INTERNAL)
    return (Channel.PUBLIC,)


def message_filter(actor: Actor, ticket: Ticket) -> sa.ColumnElement[bool]:
    """SQL condition: the messages of ``ticket`` that ``actor`` may read."""
    return sa.and_(
        Message.ticket_id == ticket.id, Message.channel.in_(visible_channels(actor, ticket))
    )


def get_attachment(actor: Actor, attachment_id: int) -> Attachment:
    """An attachment, if ``actor`` may read the message it belongs to.

    :raises NotFound: no such attachment, or not visible (the same error).
    """
    stmt = (
        sa.select(Attachment)
        .join(Message, Message.id == Attachment.message_id)
        .join(Ticket, Ticket.id == Message.ticket_id)
        .where(Attachment.id == attachment_id, ticket_filter(actor))
    )
    found = get_state().db.session.scalars(stmt).first()
    if found is None or found.message.channel not in visible_channels(actor, found.message.ticket):
        raise NotFound("Attachment not found.")
    return found


# -------------------------------------------------------------------------------------
# Actions
# -------------------------------------------------------------------------------------

#: Fields a requester may change on their own ticket (status only to ``closed``).
REQUESTER_FIELDS = frozenset({"subject", "status"})
STAFF_FIELDS = frozenset(
    {"subject", "status", "priority", "category", "department", "assignee"}
)


def require_open(ticket: Ticket) -> None:
    """:raises TicketClosed: the ticket is closed (closed is final)."""
    if ticket.status is Status.CLOSED:
        raise TicketClosed()


def require_staff(actor: Actor, ticket: Ticket, what: str = "do that") -> StaffScope:
    """:raises Forbidden: ``actor`` does not handle ``ticket`` as staff."""
    scope = staff_scope(actor)
    if scope is None or audience(actor, ticket) is not Audience.STAFF:
        raise Forbidden(f"Only staff may {what}.")
    return scope


def check_post(actor: Actor, ticket: Ticket, channel: Channel, *, status: Status | None) -> None:
    """May ``actor`` post on ``channel`` (and pick ``status``)?

    :raises TicketClosed: the ticket is closed.
    :raises ForbiddenField: a requester tried an internal note or a status.
    """
    require_open(ticket)
    if audience(actor, ticket) is Audience.STAFF:
        return
    bad = {}
    if channel is not Channel.PUBLIC:
        bad["channel"] = "Only staff may write internal notes."
    if status is not None:
        bad["status"] = "Only staff may set the status with a reply."
    if bad:
        raise ForbiddenField(fields=bad)


def check_update(actor: Actor, ticket: Ticket, changes: t.Mapping[str, t.Any]) -> None:
    """May ``actor`` change these fields of ``ticket``?

    :raises TicketClosed: the ticket is closed.
    :raises ForbiddenField: a field the actor may not set (each one listed).
    """
    require_open(ticket)
    if audience(actor, ticket) is Audience.STAFF:
        allowed = STAFF_FIELDS
    else:
        allowed = REQUESTER_FIELDS
    bad = {name: "You may not change this field." for name in changes if name not in allowed}
    if audience(actor, ticket) is Audience.REQUESTER and "status" in changes:
        if changes["status"] is not Status.CLOSED:
            bad["status"] = "You can only close your ticket."
    if bad:
        raise ForbiddenField(fields=bad)


def check_edit_message(actor: Actor, ticket: Ticket, message: Message) -> None:
    """Only a message's author may edit it, and only while the ticket is open."""
    require_open(ticket)
    if message.author_id != actor.id:
        raise Forbidden("Only the author may edit a message.")


def can_edit_message(actor: Actor, ticket: Ticket, message: Message) -> bool:
    """Whether :func:`check_edit_message` would allow it (to show an "Edit" link)."""
    try:
        check_edit_message(actor, ticket, message)
    except (TicketClosed, Forbidden):
        return False
    return True


def can_manage_departments(actor: Actor | None) -> bool:
    """Store owners (the top staff role) manage departments."""
    scope = staff_scope(actor)
    return scope is not None and scope.is_top


def require_manage_departments(actor: Actor) -> None:
    """Refuse anyone but a store owner.

    :raises Forbidden: the actor may not manage departments.
    """
    if not can_manage_departments(actor):
        raise Forbidden("Only store owners may manage departments.")


def require_file_for_others(actor: Actor) -> StaffScope:
    """Only staff may file a ticket for someone else, or set its priority."""
    scope = staff_scope(actor)
    if scope is None:
        raise Forbidden("Only staff may do that.")
    return scope
