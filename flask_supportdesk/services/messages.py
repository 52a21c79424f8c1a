"""Replies, internal notes, edits with history, and reading a thread."""

from __future__ import annotations

import typing as t

import sqlalchemy as sa

from .. import policy
from .. import signals
from .._state import get_state
from ..errors import NotFound
from ..errors import ValidationError
from ..models import Channel
from ..models import Message
from ..models import MessageRevision
from ..models import Status
from ..models import Ticket
from ..models import utcnow
from ..values import Actor
from . import _validate
from . import attachments as _attachments
from . import tickets as _tickets
from . import timeline
from ._uow import transaction


def post_message(
    actor: Actor,
    number: str,
    body: t.Any,
    *,
    channel: t.Any = Channel.PUBLIC,
    status: t.Any = None,
    changes: t.Mapping[str, t.Any] | None = None,
    client_id: t.Any = None,
    attachments: t.Sequence[_attachments.Upload] = (),
) -> Message:
    """Post a public reply or an internal note, and apply the status rules.

    - a requester's message moves the ticket to ``pending_admin`` (reopening ``resolved``);
    - a staff public reply moves it to ``status`` (default ``pending_customer``);
    - an internal note changes no status unless staff pick one.

    Staff may change other fields in the same transaction with ``changes`` (e.g.
    ``{"priority": "high", "assignee": "7"}``). A repeated ``client_id`` returns the first
    message and writes nothing.

    :raises NotFound: the actor may not see the ticket.
    :raises TicketClosed: the ticket is closed.
    :raises ForbiddenField: a requester asked for an internal note, a status or changes.
    :raises ValidationError: the body or a change is invalid.
    """
    body = _validate.body(body)
    channel = _validate.choice(Channel, channel, "channel")
    status = None if status in (None, "") else _validate.choice(Status, status, "status")
    client_id = _validate.client_id(client_id)
    changes = dict(changes or {})
    bad = {k: "Unknown field." for k in changes if k not in _tickets.UPDATABLE_FIELDS}
    if "status" in changes:
        bad["status"] = "Pass the status as the status argument."
    if bad:
        raise ValidationError(fields=bad)
    checked = _attachments.check_uploads(attachments)

    with transaction() as uow:
        ticket = policy.get_ticket(actor, number, for_update=True)
        if client_id is not None:
            earlier = get_state().db.session.scalar(
                sa.select(Message).where(
                    Message.ticket_id == ticket.id,
                    Message.author_id == actor.id,
                    Message.client_id == client_id,
                )
            )
            if earlier is not None:
                return earlier
        policy.check_post(actor, ticket, channel, status=status)
        if changes:
            policy.check_update(actor, ticket, changes)
        as_staff = policy.audience(actor, ticket) is policy.Audience.STAFF
        now = utcnow()
        message = Message(
            ticket_id=ticket.id,
            channel=channel,
            body=body,
            author_id=actor.id,
            author_name=actor.name,
            author_is_staff=as_staff,
            client_id=client_id,
            created_at=now,
        )
        session = get_state().db.session
        session.add(message)
        session.flush()
        _attachments.attach(uow, message, checked)
        if changes:
            _tickets.apply_changes(uow, actor, ticket, changes)
        if not as_staff:
            ticket.last_customer_reply_at = now
            _tickets.apply_status(ticket, Status.PENDING_ADMIN, actor)
        elif channel is Channel.PUBLIC:
            if ticket.first_response_at is None:
                ticket.first_response_at = now
            _tickets.apply_status(ticket, status or Status.PENDING_CUSTOMER, actor)
        elif status is not None:
            _tickets.apply_status(ticket, status, actor)
        if channel is Channel.PUBLIC:
            ticket.updated_at = now
        uow.send(signals.message_posted, ticket=ticket, message=message, actor=actor)
    return message


def edit_message(actor: Actor, message_id: int, body: t.Any) -> Message:
    """Replace a message's body, keeping the previous text as a revision.

    :raises NotFound: the actor may not see the message.
    :raises Forbidden: the actor is not its author.
    :raises TicketClosed: the ticket is closed.
    """
    body = _validate.body(body)
    with transaction() as uow:
        message = _visible_message(actor, message_id)
        ticket = policy.get_ticket(actor, message.ticket.number, for_update=True)
        policy.check_edit_message(actor, ticket, message)
        if body == message.body:
            return message
        previous = message.body
        get_state().db.session.add(
            MessageRevision(message_id=message.id, body=previous, editor_id=actor.id)
        )
        message.body = body
        message.edited_at = utcnow()
        timeline.record(
            ticket, "message_edited", actor, message=message.id, channel=message.channel.value
        )
        uow.send(
            signals.message_edited,
            ticket=ticket,
            message=message,
            actor=actor,
            previous_body=previous,
        )
    return message


def _visible_message(actor: Actor, message_id: t.Any) -> Message:
    try:
        message_id = int(message_id)
    except (TypeError, ValueError):
        raise NotFound("Message not found.") from None
    stmt = (
        sa.select(Message)
        .join(Ticket, Ticket.id == Message.ticket_id)
        .where(Message.id == message_id, policy.ticket_filter(actor))
    )
    message = get_state().db.session.scalar(stmt)
    if message is None or message.channel not in policy.visible_channels(actor, message.ticket):
        raise NotFound("Message not found.")
    return message


def get_message(actor: Actor, message_id: t.Any) -> Message:
    """One message the actor may read.

    :raises NotFound: no such message, or not visible (the same error).
    """
    return _visible_message(actor, message_id)


def list_messages(
    actor: Actor,
    ticket: Ticket,
    *,
    after: int | None = None,
    limit: int | None = None,
    channel: Channel | None = None,
) -> list[Message]:
    """The messages of ``ticket`` the actor may read, oldest first.

    :param after: Only messages with a larger id (catch-up from the last one seen).
    :param limit: At most this many (the first ones after ``after``).
    :param channel: Only this channel (if the actor may read it).
    """
    stmt = sa.select(Message).where(policy.message_filter(actor, ticket)).order_by(Message.id)
    if channel is not None:
        stmt = stmt.where(Message.channel == channel)
    if after is not None:
        stmt = stmt.where(Message.id > after)
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(get_state().db.session.scalars(stmt))


def revisions(actor: Actor, message_id: int) -> list[MessageRevision]:
    """Earlier texts of a message the actor may read, oldest first."""
    message = _visible_message(actor, message_id)
    stmt = (
        sa.select(MessageRevision)
        .where(MessageRevision.message_id == message.id)
        .order_by(MessageRevision.id)
    )
    return list(get_state().db.session.scalars(stmt))
