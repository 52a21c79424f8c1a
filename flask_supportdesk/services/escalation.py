"""Escalation up the staff hierarchy, and beyond its top through a hook."""

from __future__ import annotations

import typing as t

from .. import events
from .. import policy
from .._state import get_state
from ..errors import Conflict
from ..errors import ValidationError
from ..i18n import gettext as _
from ..models import Channel
from ..models import Message
from ..models import Ticket
from ..models import utcnow
from ..values import Actor
from . import _validate
from ._uow import transaction

MAX_REASON_LENGTH = 1000


def escalate(actor: Actor, number: str, *, reason: t.Any = "") -> Ticket:
    """Move a ticket's handler level one role up, or beyond the top.

    The level below keeps the ticket: escalation adds a level to the conversation and
    opens the internal channel to it. The reason is required and kept as an internal
    note, so the level above knows why the ticket came up. From the top role the ticket
    goes to platform support: the hand-off through ``supportdesk_escalate_beyond`` is
    written to the notification outbox and made after commit (in this request when
    ``SUPPORTDESK_DELIVER_AFTER_COMMIT`` is on, else by the worker), retried until the
    hook answers; its reference is then stored on the ticket and its timeline.

    :raises Forbidden: the actor is not staff on this ticket, or ranks below its level.
    :raises TicketClosed: the ticket is closed.
    :raises Conflict: the ticket is already beyond the top, or no plugin implements
        ``supportdesk_escalate_beyond``.
    :raises ValidationError: no reason (field ``reason``), or one breaking the body rules.
    """
    # The body rules (no control characters, storable); emptiness is checked after the
    # policy, so someone who may not escalate at all hears that, not "give a reason".
    reason = _validate.text(
        "" if reason is None else reason, "reason", limit=MAX_REASON_LENGTH, required=False
    )
    with transaction() as uow:
        ticket = policy.get_ticket(actor, number, for_update=True)
        step = policy.check_escalate(actor, ticket)
        if not reason:
            raise ValidationError(
                _("Say why you escalate: the level above reads it first."),
                fields={"reason": _("Give a reason for the escalation.")},
            )
        now = utcnow()
        if step.to_level is not None:
            ticket.level = step.to_level
            note = _("Escalated to %(level)s.", level=step.to_level)
        else:
            if not get_state().hooks.has_platform_support():
                raise Conflict(
                    _(
                        "The ticket is at the top level (%(level)s) and no platform support"
                        " is configured.",
                        level=step.from_level,
                    )
                )
            # The hand-off itself (supportdesk_escalate_beyond, often a call to another
            # system) is an outbox row, made after commit: never inside this lock.
            ticket.escalated_beyond_at = now
            note = _("Handed to platform support.")
        uow.record(events.TicketEscalated(actor, ticket, step.from_level, step.to_level, reason))
        message = Message(
            ticket_id=ticket.id,
            channel=Channel.INTERNAL,
            body=f"{note}\n\n{reason}",
            author_id=actor.user_id,
            author_name=actor.name,
            author_is_staff=True,
            created_at=now,
        )
        session = get_state().db.session
        session.add(message)
        session.flush()
        uow.record(events.MessagePosted(actor, ticket, message))
    return ticket
