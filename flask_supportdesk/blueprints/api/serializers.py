"""Models to JSON, by allow-list and per audience: no ORM object leaves the API.

A customer (any requester, even a staff member on their own ticket) gets the
``CustomerTicket`` shape; staff handling the ticket get ``Ticket``, which adds the
handler level, the escalation state and the requester's e-mail. Fields are listed here,
never copied from the model, so a new column cannot leak by accident.
"""

from __future__ import annotations

import datetime as dt
import typing as t

import sqlalchemy as sa
from flask import url_for

from ... import policy
from ..._state import get_state
from ...models import Attachment
from ...models import Message
from ...models import Ticket
from ...values import Actor


def timestamp(value: dt.datetime | None) -> str | None:
    """A stored (naive UTC) time as ISO-8601 with a ``Z``."""
    if value is None:
        return None
    return value.replace(tzinfo=dt.timezone.utc).isoformat().replace("+00:00", "Z")


def follow_up_numbers(tickets: t.Sequence[Ticket]) -> dict[int, str]:
    """The public numbers of the tickets these follow up, in one query (not one per row)."""
    ids = {ticket.follow_up_of_id for ticket in tickets if ticket.follow_up_of_id is not None}
    if not ids:
        return {}
    rows = get_state().db.session.execute(
        sa.select(Ticket.id, Ticket.number).where(Ticket.id.in_(ids))
    )
    return {row.id: row.number for row in rows}


def ticket_json(
    actor: Actor, ticket: Ticket, follow_ups: t.Mapping[int, str] | None = None
) -> dict[str, t.Any]:
    """A ticket as ``actor`` may see it.

    :param follow_ups: Numbers from :func:`follow_up_numbers`, for lists; a single ticket
        looks its own up.
    """
    if follow_ups is None:
        follow_ups = follow_up_numbers([ticket])
    data: dict[str, t.Any] = {
        "number": ticket.number,
        "subject": ticket.subject,
        "status": ticket.status.value,
        "priority": ticket.priority.value,
        "category": ticket.category,
        "department": (
            {"slug": ticket.department.slug, "name": ticket.department.name}
            if ticket.department
            else None
        ),
        "source": ticket.source.value,
        "requester": {"id": ticket.requester_id, "name": ticket.requester_name},
        "assignee": (
            {"id": ticket.assignee_id, "name": ticket.assignee_name} if ticket.assignee_id else None
        ),
        "reference": (
            {
                "kind": ticket.reference_kind,
                "id": ticket.reference_id,
                "label": ticket.reference_label or "",
                "url": ticket.reference_url,
            }
            if ticket.reference_kind
            else None
        ),
        "follow_up_of": follow_ups.get(ticket.follow_up_of_id) if ticket.follow_up_of_id else None,
        "created_at": timestamp(ticket.created_at),
        "updated_at": timestamp(ticket.updated_at),
        "last_customer_reply_at": timestamp(ticket.last_customer_reply_at),
        "first_response_at": timestamp(ticket.first_response_at),
        "resolved_at": timestamp(ticket.resolved_at),
        "closed_at": timestamp(ticket.closed_at),
    }
    if policy.audience(actor, ticket) is policy.Audience.STAFF:
        data["requester"]["email"] = ticket.requester_email
        data["level"] = ticket.level
        data["entry_level"] = ticket.entry_level
        data["escalated_beyond"] = (
            {"at": timestamp(ticket.escalated_beyond_at), "reference": ticket.escalated_beyond_ref}
            if ticket.escalated_beyond_at
            else None
        )
    return data


def attachment_json(attachment: Attachment) -> dict[str, t.Any]:
    """An attachment as the API shows it: metadata and its download URL, never the file."""
    return {
        "id": attachment.id,
        "filename": attachment.filename,
        "size": attachment.size,
        "content_type": attachment.content_type,
        "url": url_for("supportdesk_api.attachment", attachment_id=attachment.id),
    }


def message_json(message: Message) -> dict[str, t.Any]:
    """A message the caller already may read (the services filtered it)."""
    return {
        "id": message.id,
        "channel": message.channel.value,
        "body": message.body,
        "author": {
            "id": message.author_id,
            "name": message.author_name,
            "staff": message.author_is_staff,
        },
        "created_at": timestamp(message.created_at),
        "edited_at": timestamp(message.edited_at),
        "attachments": [attachment_json(a) for a in message.attachments],
    }


def me_json(actor: Actor) -> dict[str, t.Any]:
    """The actor as the API sees it; the role only for staff."""
    data: dict[str, t.Any] = {
        "id": actor.id,
        "name": actor.name,
        "email": actor.email,
        "staff": policy.is_staff(actor),
    }
    if data["staff"]:
        data["role"] = actor.role
    return data
