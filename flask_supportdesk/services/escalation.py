"""Escalation up the staff hierarchy, and beyond its top through a hook."""

from __future__ import annotations

import typing as t

from .. import policy
from .. import signals
from .._state import get_state
from ..errors import Conflict
from ..errors import Forbidden
from ..models import Channel
from ..models import Message
from ..models import Ticket
from ..models import utcnow
from ..values import Actor
from . import timeline
from . import _validate
from ._uow import transaction

MAX_REASON_LENGTH = 1000


def escalate(actor: Actor, number: str, *, reason: t.Any = "") -> Ticket:
    """Move a ticket's handler level one role up, or beyond the top.

    The level below keeps the ticket: escalation adds a level to the conversation and
    opens the internal channel to it. A reason is kept as an internal note. From the top
    role the ticket goes to platform support through ``supportdesk_escalate_beyond``.

    :raises Forbidden: the actor is not staff on this ticket, or ranks below its level.
    :raises TicketClosed: the ticket is closed.
    :raises Conflict: the ticket is already beyond the top, or no platform support answers.
    """
    # The body rules (no control characters, storable), but optional for now.
    reason = _validate.text(
        "" if reason is None else reason, "reason", limit=MAX_REASON_LENGTH, required=False
    )
    with transaction() as uow:
        ticket = policy.get_ticket(actor, number, for_update=True)
        scope = policy.require_staff(actor, ticket, "escalate tickets")
        policy.require_open(ticket)
        roles = scope.roles
        current = roles.index(ticket.level) if ticket.level in roles else 0
        if scope.level < current:
            raise Forbidden(f"This ticket is handled at the {ticket.level} level.")
        now = utcnow()
        if current + 1 < len(roles):
            to_level: str | None = roles[current + 1]
            ticket.level = t.cast(str, to_level)
            timeline.record(
                ticket, "escalated", actor, old=roles[current], new=to_level, reason=reason
            )
            note = f"Escalated to {to_level}."
        else:
            if ticket.escalated_beyond_at is not None:
                raise Conflict("This ticket was already handed to platform support.")
            ref = get_state().hooks.escalate_beyond(ticket, actor, reason)
            if ref is None:
                raise Conflict(
                    f"The ticket is at the top level ({roles[-1]}) and no platform support"
                    " is configured."
                )
            to_level = None
            ticket.escalated_beyond_at = now
            ticket.escalated_beyond_ref = ref[:200]
            timeline.record(
                ticket, "escalated_beyond", actor, old=roles[current], reference=ref, reason=reason
            )
            note = f"Handed to platform support ({ref})."
        if reason:
            get_state().db.session.add(
                Message(
                    ticket_id=ticket.id,
                    channel=Channel.INTERNAL,
                    body=f"{note}\n\n{reason}",
                    author_id=actor.id,
                    author_name=actor.name,
                    author_is_staff=True,
                    created_at=now,
                )
            )
        uow.send(
            signals.ticket_escalated,
            ticket=ticket,
            actor=actor,
            from_level=roles[current],
            to_level=to_level,
            reason=reason,
        )
    return ticket
