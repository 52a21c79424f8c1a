"""The append-only timeline of a ticket: who changed what, when."""

from __future__ import annotations

import functools
import typing as t

import sqlalchemy as sa

from .. import events as _events
from .. import policy
from .._state import get_state
from ..i18n import gettext as _
from ..models import Event
from ..models import Ticket
from ..values import Actor

#: The timeline kind of each delegate event (the invitee's address is kept with it).
_DELEGATE_EVENTS: dict[type[t.Any], str] = {
    _events.DelegateInvited: "delegate_invited",
    _events.DelegateAccepted: "delegate_accepted",
    _events.DelegateRevoked: "delegate_revoked",
}


def record_events(events: t.Sequence[_events.DomainEvent]) -> None:
    """Before commit: write the timeline rows of a unit of work's domain events.

    The timeline is a projection of the events, so every surface and the host's Python
    calls leave the same trail, written in the transaction of the change it describes.
    """
    if not events:
        return
    get_state().db.session.flush()  # new tickets need their ids
    for event in events:
        if isinstance(event, _events.TicketOpened):
            follow_up_of = event.follow_up_of.number if event.follow_up_of else None
            record(
                event.ticket, "created", event.actor,
                source=event.ticket.source.value, follow_up_of=follow_up_of,
            )  # fmt: skip
        elif isinstance(event, _events.FollowUpOpened):
            record(event.ticket, "follow_up_opened", event.actor, number=event.follow_up.number)
        elif isinstance(event, _events.TicketUpdated):
            for name, (old, new) in event.changes.items():
                record(event.ticket, f"{name}_changed", event.actor, old=old, new=new)
        elif isinstance(event, _events.MessageEdited):
            record(
                event.ticket, "message_edited", event.actor,
                message=event.message.id, channel=event.message.channel.value,
            )  # fmt: skip
        elif isinstance(
            event, (_events.DelegateInvited, _events.DelegateAccepted, _events.DelegateRevoked)
        ):
            kind = _DELEGATE_EVENTS[type(event)]
            record(event.ticket, kind, event.actor, email=event.delegate.email)
        elif isinstance(event, _events.PinChecked) and event.ticket is not None:
            # Whether it matched, never the PIN (nor what the caller said).
            kind = "pin_verified" if event.matched else "pin_mismatch"
            record(event.ticket, kind, event.actor, customer=event.customer_id)
        elif isinstance(event, _events.TicketEscalated):
            if event.to_level is None:
                record(
                    event.ticket, "escalated_beyond", event.actor,
                    old=event.from_level, reference=event.reference, reason=event.reason,
                )  # fmt: skip
            else:
                record(
                    event.ticket, "escalated", event.actor,
                    old=event.from_level, new=event.to_level, reason=event.reason,
                )  # fmt: skip


def record(ticket: Ticket, kind: str, actor: Actor | None, **data: t.Any) -> Event:
    """Add one timeline row to the session (committed with the change it describes)."""
    event = Event(
        kind=kind,
        actor_id=actor.user_id if actor else None,
        actor_name=actor.name if actor else "",
        data=data,
    )
    event.ticket_id = ticket.id
    get_state().db.session.add(event)
    return event


def list_events(actor: Actor, ticket: Ticket, *, limit: int = 200) -> list[Event]:
    """The latest events of a ticket, oldest first. Staff only: they name internal work."""
    policy.require_staff(actor, ticket, _("Only staff may read the timeline."))
    rows = get_state().db.session.scalars(_latest_events(limit), {"ticket_id": ticket.id})
    return list(reversed(rows.all()))


@functools.lru_cache(maxsize=16)
def _latest_events(limit: int) -> sa.Select[t.Any]:
    # Built once: the ticket is a parameter.
    stmt = sa.select(Event).where(Event.ticket_id == sa.bindparam("ticket_id"))
    return stmt.order_by(Event.id.desc()).limit(limit)
