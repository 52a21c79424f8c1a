"""The append-only timeline of a ticket: who changed what, when."""

from __future__ import annotations

import typing as t

import sqlalchemy as sa

from .. import policy
from .._state import get_state
from ..models import Event
from ..models import Ticket
from ..values import Actor


def record(ticket: Ticket, kind: str, actor: Actor | None, **data: t.Any) -> Event:
    """Add an event to the session (committed with the change it describes)."""
    event = Event(
        kind=kind,
        actor_id=actor.id if actor else None,
        actor_name=actor.name if actor else "",
        data=data,
    )
    event.ticket_id = ticket.id
    get_state().db.session.add(event)
    return event


def list_events(actor: Actor, ticket: Ticket, *, limit: int = 200) -> list[Event]:
    """The latest events of a ticket, oldest first. Staff only: they name internal work."""
    policy.require_staff(actor, ticket, "read the timeline")
    stmt = (
        sa.select(Event)
        .where(Event.ticket_id == ticket.id)
        .order_by(Event.id.desc())
        .limit(limit)
    )
    return list(reversed(get_state().db.session.scalars(stmt).all()))
