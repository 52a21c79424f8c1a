"""Replies, internal notes, edits with history, and reading a thread."""

from __future__ import annotations

import dataclasses
import functools
import typing as t

import sqlalchemy as sa

from .. import events
from .. import markup
from .. import policy
from .._state import get_state
from ..errors import NotFound
from ..errors import ValidationError
from ..i18n import gettext as _
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
from ._uow import transaction


@dataclasses.dataclass(frozen=True)
class Posted:
    """What :func:`post` did: the message, and whether this call created it (``False``
    when a repeated ``client_id`` returned the message an earlier call stored)."""

    message: Message
    created: bool
    #: The message's ticket, as :func:`post` checked it (the live ``send`` answers with
    #: it without reading it again).
    ticket: Ticket | None = None


def post_message(actor: Actor, number: str, body: t.Any, **options: t.Any) -> Message:
    """:func:`post`, returning only the message (created now or earlier)."""
    return post(actor, number, body, **options).message


def post(
    actor: Actor,
    number: str,
    body: t.Any,
    *,
    channel: t.Any = Channel.PUBLIC,
    status: t.Any = None,
    changes: t.Mapping[str, t.Any] | None = None,
    client_id: t.Any = None,
    attachments: t.Sequence[_attachments.Upload] = (),
    email_message_id: str | None = None,
) -> Posted:
    """Post a public reply or an internal note, and apply the status rules.

    - a requester's message moves the ticket to ``pending_admin`` (reopening ``resolved``);
    - a staff public reply moves it to ``status`` (default ``pending_customer``);
    - an internal note changes no status unless staff pick one;
    - a staff public reply to an unassigned chat assigns it to its author.

    Staff may change other fields in the same transaction with ``changes`` (e.g.
    ``{"priority": "high", "assignee": "7"}``). A repeated ``client_id`` returns the first
    message and writes nothing (``created`` is then ``False``). ``email_message_id`` is
    the ``Message-ID`` of the mail the message came in by (:mod:`.inbound`).

    The body is rendered before the transaction: on SQLite the write lock is held from
    the ticket's lock to the commit, and a slow render there would stall every writer.

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
    bad = {k: _("Unknown field.") for k in changes if k not in _tickets.UPDATABLE_FIELDS}
    if "status" in changes:
        bad["status"] = "Pass the status as the status argument."
    if bad:
        raise ValidationError(fields=bad)
    checked = _attachments.check_uploads(attachments)
    message = Message(
        channel=channel,
        body=body,  # rendered here, outside the lock
        author_id=actor.user_id,
        author_name=actor.name,
        client_id=client_id,
        email_message_id=email_message_id,
        # A new message's files are the ones attached below: an empty list known now,
        # not a SELECT of what a brand-new row cannot have yet.
        attachments=[],
    )

    with transaction() as uow:
        ticket = policy.get_ticket(actor, number, for_update=True)
        if client_id is not None:
            earlier = get_state().db.session.scalar(
                sa.select(Message).where(
                    Message.ticket_id == ticket.id,
                    _author_is(actor),
                    Message.client_id == client_id,
                )
            )
            if earlier is not None:
                return Posted(earlier, created=False, ticket=ticket)
        policy.check_post(actor, ticket, channel, status=status)
        as_staff = policy.audience(actor, ticket).handles
        if _takes_the_chat(actor, ticket, channel, as_staff) and "assignee" not in changes:
            changes["assignee"] = actor.id
        if changes:
            policy.check_update(actor, ticket, changes)
        now = utcnow()
        message.ticket_id = ticket.id
        message.author_is_staff = as_staff
        message.created_at = now
        session = get_state().db.session
        session.add(message)
        session.flush()
        _attachments.attach(uow, message, checked)
        changed = _tickets.apply_changes(actor, ticket, changes) if changes else {}
        if not as_staff:
            ticket.last_customer_reply_at = now
            new_status: Status | None = Status.PENDING_ADMIN
        elif channel is Channel.PUBLIC:
            if ticket.first_response_at is None:
                ticket.first_response_at = now
            new_status = status or Status.PENDING_CUSTOMER
        else:
            new_status = status
        status_change = _tickets.apply_status(ticket, new_status) if new_status else None
        if status_change is not None:
            changed["status"] = status_change
        if channel is Channel.PUBLIC:
            ticket.updated_at = now
        uow.record(events.MessagePosted(actor, ticket, message))
        _tickets.record_changes(uow, actor, ticket, changed)
    return Posted(message, created=True, ticket=ticket)


def _takes_the_chat(actor: Actor, ticket: Ticket, channel: Channel, as_staff: bool) -> bool:
    """Whether this reply assigns the chat to its author: a staff member answering an
    unassigned chat takes it, as in every chat desk (it moves to their *Mine*, and the
    visitor's next message goes to them, not to the whole level)."""
    return (
        as_staff
        and actor.is_user
        and channel is Channel.PUBLIC
        and ticket.is_chat
        and ticket.assignee_id is None
    )


def _author_is(actor: Actor) -> sa.ColumnElement[bool]:
    if actor.user_id is None:
        return sa.and_(Message.author_id.is_(None), Message.author_name == actor.name)
    return Message.author_id == actor.user_id


def edit_message(actor: Actor, message_id: int, body: t.Any) -> Message:
    """Replace a message's body, keeping the previous text as a revision.

    :raises NotFound: the actor may not see the message.
    :raises Forbidden: the actor is not its author.
    :raises TicketClosed: the ticket is closed.
    """
    body = _validate.body(body)
    html = markup.render(body)  # before the lock, like a new message
    with transaction() as uow:
        message = _visible_message(actor, message_id)
        ticket = policy.get_ticket(actor, message.ticket.number, for_update=True)
        policy.check_edit_message(actor, ticket, message)
        if body == message.body:
            return message
        previous = message.body
        get_state().db.session.add(
            MessageRevision(message_id=message.id, body=previous, editor_id=actor.user_id)
        )
        message.set_body(body, html)
        message.edited_at = utcnow()
        uow.record(events.MessageEdited(actor, ticket, message, previous))
    return message


def _visible_message(actor: Actor, message_id: t.Any) -> Message:
    message_id = _validate.object_id(message_id, "Message")
    stmt = (
        sa.select(Message)
        .join(Ticket, Ticket.id == Message.ticket_id)
        .where(Message.id == message_id, policy.ticket_filter(actor))
    )
    message = get_state().db.session.scalar(stmt)
    if message is None or message.channel not in policy.visible_channels(actor, message.ticket):
        raise NotFound(_("Message not found."))
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


#: How many messages a ticket page shows at once (the newest; earlier ones on demand).
THREAD_PAGE = 50


@dataclasses.dataclass(frozen=True)
class ThreadPage:
    """The newest messages of a thread (oldest of them first), and where earlier ones
    start: ``earlier`` is the ``before`` that shows the page before this one."""

    messages: list[Message]
    earlier: int | None


def latest_messages(
    actor: Actor, ticket: Ticket, *, before: t.Any = None, limit: int = THREAD_PAGE
) -> ThreadPage:
    """The newest ``limit`` messages the actor may read, before the message ``before``.

    A ticket page costs the same with 2,000 messages as with 50: one query, an index
    range (``ticket_id, channel, id``) read backwards.

    :param before: A message id from :attr:`ThreadPage.earlier` (empty: the newest).
    :raises ValidationError: ``before`` is not a message id.
    """
    session = get_state().db.session
    if before in (None, ""):
        # The usual page, the newest messages: a statement built once per set of
        # channels the viewer may read (policy says which), the ticket a parameter.
        stmt = _newest_messages(policy.visible_channels(actor, ticket), limit + 1)
        rows = list(session.scalars(stmt, {"ticket_id": ticket.id}))
    else:
        if not _validate.is_object_id(before):
            raise ValidationError(fields={"before": _("A message id.")})
        stmt = sa.select(Message).where(
            policy.message_filter(actor, ticket), Message.id < int(before)
        )
        rows = list(session.scalars(stmt.order_by(Message.id.desc()).limit(limit + 1)))
    earlier = rows[limit - 1].id if len(rows) > limit else None
    return ThreadPage(list(reversed(rows[:limit])), earlier)


@functools.lru_cache(maxsize=16)
def _newest_messages(channels: tuple[Channel, ...], count: int) -> sa.Select[t.Any]:
    return (
        sa.select(Message)
        .where(Message.ticket_id == sa.bindparam("ticket_id"), Message.channel.in_(channels))
        .order_by(Message.id.desc())
        .limit(count)
    )


def revisions(actor: Actor, message_id: int) -> list[MessageRevision]:
    """Earlier texts of a message the actor may read, oldest first."""
    message = _visible_message(actor, message_id)
    stmt = (
        sa.select(MessageRevision)
        .where(MessageRevision.message_id == message.id)
        .order_by(MessageRevision.id)
    )
    return list(get_state().db.session.scalars(stmt))
