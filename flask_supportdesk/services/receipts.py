"""Read receipts: how far each side of a conversation has read it ("Seen").

A reader (a host user, or a guest by e-mail address) tells the desk the newest message
they have seen (:func:`mark_read`); one :class:`~flask_supportdesk.models.MessageRead`
row per ticket and reader moves forward, never back. :func:`seen` answers, for a viewer,
the newest message the *other* side has seen: staff see how far the customer side read;
customers see how far staff read, among public messages only, so a note's existence
never shows through a receipt.
"""

from __future__ import annotations

import dataclasses
import typing as t

import sqlalchemy as sa

from .. import events
from .. import policy
from .._state import get_state
from ..errors import NotFound
from ..i18n import gettext as _
from ..models import Channel
from ..models import Message
from ..models import MessageRead
from ..models import Ticket
from ..models import utcnow
from ..values import Actor
from . import _validate
from ._uow import transaction


@dataclasses.dataclass(frozen=True)
class Seen:
    """The newest message id each side has read (``None``: nothing yet)."""

    staff: int | None
    customer: int | None

    def to_json(self) -> dict[str, int | None]:
        """``{"staff", "customer"}``."""
        return dataclasses.asdict(self)


def mark_read(actor: Actor, number: str, message_id: t.Any) -> bool:
    """Record that ``actor`` has read ``number``'s thread up to ``message_id`` (a
    message they may see). Returns whether the receipt moved forward.

    :raises NotFound: the actor may not see the ticket or the message.
    """
    message_id = _validate.object_id(message_id, "message")
    with transaction() as uow:
        ticket = policy.get_ticket(actor, number)
        channels = policy.visible_channels(actor, ticket)
        session = get_state().db.session
        channel = session.scalar(
            sa.select(Message.channel).where(
                Message.id == message_id,
                Message.ticket_id == ticket.id,
                Message.channel.in_(channels),
            )
        )
        if channel is None:
            raise NotFound(_("Message not found."))
        staff = policy.audience(actor, ticket).handles
        row = session.scalar(
            sa.select(MessageRead).where(
                MessageRead.ticket_id == ticket.id, MessageRead.reader_id == actor.id
            )
        )
        if row is not None and row.message_id >= message_id:
            return False
        if row is None:
            row = MessageRead(ticket_id=ticket.id, reader_id=actor.id)
            session.add(row)
        row.reader_name, row.staff = actor.name, staff
        row.message_id, row.read_at = message_id, utcnow()
        uow.record(events.MessagesRead(actor, ticket, message_id, channel.value, staff))
    return True


def seen(viewer: Actor, ticket: Ticket) -> Seen:
    """How far each side has read ``ticket`` (which ``viewer`` may see), as ``viewer``
    may know it: customers learn staff's position among public messages only."""
    session = get_state().db.session
    rows = session.execute(
        sa.select(MessageRead.staff, sa.func.max(MessageRead.message_id))
        .where(MessageRead.ticket_id == ticket.id)
        .group_by(MessageRead.staff)
    ).all()
    by_side = {bool(staff): newest for staff, newest in rows}
    staff_read = by_side.get(True)
    if staff_read is not None and not policy.audience(viewer, ticket).handles:
        staff_read = session.scalar(
            sa.select(sa.func.max(Message.id)).where(
                Message.ticket_id == ticket.id,
                Message.channel == Channel.PUBLIC,
                Message.id <= staff_read,
            )
        )
    return Seen(staff=staff_read, customer=by_side.get(False))


__all__ = ["Seen", "mark_read", "seen"]
