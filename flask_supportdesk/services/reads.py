"""Read states: which tickets changed since a staff member last opened them.

A staff member's row for a ticket (:class:`~flask_supportdesk.models.TicketRead`) holds
when they last opened it and the newest internal note there was then. The ticket is
*unread* for them when it changed after that (``Ticket.updated_at`` is later: a public
message or a change of fields), when a newer internal note was written (notes do not
touch ``updated_at``, which customers see), or when they never opened it. Two things
move the mark
forward: opening the ticket page (:func:`mark_read`, its own small transaction) and the
staff member's own change on a ticket they had read up to then (:func:`record_own_changes`,
a before-commit consumer, so it is written in the transaction of the change): what one
did oneself is never news, but it does not hide what others did meanwhile.

The list asks for the read states of the tickets it shows in one query
(:func:`unread_ticket_ids`), whatever the number of rows.
"""

from __future__ import annotations

import functools
import typing as t

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import aliased

from .. import events as _events
from .. import policy
from .._state import get_state
from ..models import Channel
from ..models import Event
from ..models import Message
from ..models import Ticket
from ..models import TicketRead
from ..models import utcnow
from ..values import Actor
from ._uow import transaction

_UPSERTS: dict[str, t.Any] = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def _newest_note() -> sa.ScalarSelect[t.Any]:
    """The id of the newest internal note of the ticket in the enclosing query (one
    index lookup: ``ix_supportdesk_message_ticket_channel``)."""
    return (
        sa.select(sa.func.max(Message.id))
        .where(Message.ticket_id == Ticket.id, Message.channel == Channel.INTERNAL)
        .scalar_subquery()
    )


def _upsert(pairs: t.Sequence[tuple[str, int]]) -> None:
    """Mark each ``(user_id, ticket_id)`` read now, in the open transaction."""
    if not pairs:
        return
    session = get_state().db.session
    ids = sorted({ticket for _user, ticket in pairs})
    found = session.execute(sa.select(Ticket.id, _newest_note()).where(Ticket.id.in_(ids)))
    notes: dict[int, int | None] = dict(found.all())
    now = utcnow()
    rows = [
        {"user_id": user, "ticket_id": ticket, "read_at": now, "note_id": notes.get(ticket)}
        for user, ticket in pairs
    ]
    insert = _UPSERTS.get(session.get_bind().dialect.name)
    if insert is not None:
        # One statement, safe against a concurrent first visit (two tabs, two processes).
        stmt = insert(TicketRead).values(rows)
        stmt = stmt.on_conflict_do_update(
            index_elements=["user_id", "ticket_id"],
            set_={"read_at": stmt.excluded.read_at, "note_id": stmt.excluded.note_id},
        )
        session.execute(stmt)
        return
    for row in rows:  # other databases: update, else insert
        found = session.execute(
            sa.update(TicketRead)
            .where(TicketRead.user_id == row["user_id"], TicketRead.ticket_id == row["ticket_id"])
            .values(read_at=row["read_at"], note_id=row["note_id"])
        )
        if not t.cast(t.Any, found).rowcount:
            session.add(TicketRead(**row))


def mark_read(actor: Actor, ticket: Ticket) -> None:
    """Record that ``actor`` (staff) has just opened ``ticket``, in its own transaction.

    Call it once the page was built from a ticket the actor may see: a request refused
    by policy never gets this far, so it marks nothing.
    """
    if actor.user_id is None:
        return  # the system reads nothing
    if ticket.id not in unread_ticket_ids(actor, [ticket]):
        # Read already, and nothing by anyone since: one SELECT instead of a write on
        # every view (staff open the same tickets again and again).
        return
    with transaction():
        _upsert([(actor.user_id, ticket.id)])


def record_own_changes(events: t.Sequence[_events.DomainEvent]) -> None:
    """Before commit: a staff member's own change keeps the ticket read for them.

    Only when it was read up to then: a ticket they opened, where nobody else wrote or
    changed anything since (one query). A priority set from the list over a customer's
    unseen reply must leave that reply unread. A ticket they open themselves is read.
    """
    opened: set[tuple[str, int]] = set()
    changed: set[tuple[str, int]] = set()
    staff: dict[str, bool] = {}
    for event in events:
        ticket = getattr(event, "ticket", None)
        user_id = event.actor.user_id
        if not isinstance(ticket, Ticket) or user_id is None:
            continue
        if user_id not in staff:
            staff[user_id] = policy.is_staff(event.actor)
        if staff[user_id]:
            is_new = isinstance(event, _events.TicketOpened | _events.FollowUpOpened)
            (opened if is_new else changed).add((user_id, ticket.id))
    if not opened and not changed:
        return
    get_state().db.session.flush()  # a new ticket needs its id
    _upsert(sorted(opened | _caught_up(changed - opened)))


def _by_others_since(read: t.Any, model: t.Any, who: t.Any) -> sa.Exists:
    """Whether a row of ``model`` (messages or timeline events) on the read ticket is
    newer than the read mark and not by the reader (``who``: its author column)."""
    return (
        sa.select(model.id)
        .where(
            model.ticket_id == read.ticket_id,
            model.created_at > read.read_at,
            sa.or_(who.is_(None), who != read.user_id),
        )
        .exists()
    )


def _caught_up(pairs: set[tuple[str, int]]) -> set[tuple[str, int]]:
    """The pairs whose staff member had read the ticket with nothing by others since."""
    if not pairs:
        return set()
    rows = get_state().db.session.execute(_caught_up_statement(), {"pairs": sorted(pairs)})
    return {(user, ticket) for user, ticket in rows}


@functools.cache
def _caught_up_statement() -> sa.Select[t.Any]:
    # Built once per process, the pairs a parameter: every staff change asks it, and
    # building it anew cost a third of a reply.
    read = aliased(TicketRead)
    stmt = sa.select(read.user_id, read.ticket_id).where(
        sa.tuple_(read.user_id, read.ticket_id).in_(sa.bindparam("pairs", expanding=True)),
        ~_by_others_since(read, Message, Message.author_id),
        ~_by_others_since(read, Event, Event.actor_id),
    )
    return t.cast("sa.Select[t.Any]", stmt)


def unread_ticket_ids(actor: Actor, tickets: t.Sequence[t.Any]) -> set[int]:
    """The ids of ``tickets`` that changed since ``actor`` last opened them (or that they
    never opened), in one query for the whole page.

    :param tickets: tickets, or rows of the desk list: anything with their ``id``.
    """
    if actor.user_id is None or not tickets:
        return set()
    params = {"user_id": actor.user_id, "ids": [ticket.id for ticket in tickets]}
    return set(get_state().db.session.scalars(_unread_statement(), params))


@functools.cache
def _unread_statement() -> sa.Select[t.Any]:
    # Built once per process with bound parameters: constructing this statement anew
    # cost more than running it (the desk list asks it on every view).
    read = aliased(TicketRead)
    return (
        sa.select(Ticket.id)
        .outerjoin(
            read,
            sa.and_(read.ticket_id == Ticket.id, read.user_id == sa.bindparam("user_id")),
        )
        .where(
            Ticket.id.in_(sa.bindparam("ids", expanding=True)),
            unread_clause(read),
        )
    )


def unread_clause(read: t.Any) -> sa.ColumnElement[bool]:
    """SQL condition on tickets outer-joined to ``read`` (an alias of
    :class:`~flask_supportdesk.models.TicketRead` for one staff member): the ticket is
    unread for them (the rule of the module doc), for counts over many tickets."""
    return sa.or_(
        read.id.is_(None),
        Ticket.updated_at > read.read_at,
        sa.func.coalesce(_newest_note(), 0) > sa.func.coalesce(read.note_id, 0),
    )
