"""What each audience is shown of a ticket and its messages, for every surface.

One view per audience, built here and nowhere else, so the JSON API, the host's Python
calls, and later socket events and e-mails show the same person the same thing. Fields
are listed one by one, never copied from a model, so a new column cannot leak by
accident; what only staff may see (the requester's e-mail, the handler level, the
escalation state) is left out of a requester's view, and a message on a channel the
viewer may not read cannot be turned into a view at all.

Views are frozen dataclasses with typed values (enums, aware UTC datetimes); ``to_json()``
gives the API's shape (DESIGN §5).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import typing as t

import sqlalchemy as sa
from flask import has_request_context
from flask import url_for
from markupsafe import Markup

from . import policy
from ._state import get_state
from .errors import NotFound
from .i18n import gettext as _
from .i18n import lazy_gettext as _l
from .models import Attachment
from .models import Channel
from .models import Event
from .models import Message
from .models import Priority
from .models import Source
from .models import Status
from .models import Ticket
from .models import category_label
from .services.thumbnails import has_thumbnail
from .values import Actor


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    # Stored naive in UTC (the same on SQLite and PostgreSQL); shown as aware times.
    return None if value is None else value.replace(tzinfo=dt.timezone.utc)


def timestamp(value: dt.datetime | None) -> str | None:
    """A time as ISO-8601 in UTC with a ``Z`` (naive values are taken as UTC)."""
    aware = value if value is None or value.tzinfo else _utc(value)
    return None if aware is None else aware.isoformat().replace("+00:00", "Z")


@dataclasses.dataclass(frozen=True)
class PersonView:
    """Someone on a ticket: their host user id (``None`` for guests and the system), the
    name shown, and the e-mail where the viewer may see it."""

    id: str | None
    name: str
    email: str | None = None

    def to_json(self) -> dict[str, t.Any]:
        """``{"id", "name"}``, plus ``"email"`` when the viewer may see it."""
        data: dict[str, t.Any] = {"id": self.id, "name": self.name}
        if self.email is not None:
            data["email"] = self.email
        return data


@dataclasses.dataclass(frozen=True)
class DepartmentView:
    """A ticket's department."""

    slug: str
    name: str


@dataclasses.dataclass(frozen=True)
class ReferenceView:
    """The object a ticket is about (an order), as the reference hook described it."""

    kind: str
    id: str
    label: str
    url: str | None


@dataclasses.dataclass(frozen=True)
class StaffDetails:
    """What only staff see of a ticket: who handles it and how far it was escalated."""

    level: str
    entry_level: str
    escalated_beyond_at: dt.datetime | None
    escalated_beyond_ref: str | None


@dataclasses.dataclass(frozen=True)
class TicketView:
    """A ticket as one viewer may see it (:func:`ticket_view`)."""

    number: str
    subject: str
    status: Status
    priority: Priority
    category: str
    department: DepartmentView | None
    source: Source
    requester: PersonView
    assignee: PersonView | None
    reference: ReferenceView | None
    follow_up_of: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    last_customer_reply_at: dt.datetime | None
    first_response_at: dt.datetime | None
    resolved_at: dt.datetime | None
    closed_at: dt.datetime | None
    #: How the viewer sees the ticket (requester, staff, ...).
    audience: policy.Audience
    #: ``None`` unless the viewer handles the ticket.
    staff: StaffDetails | None = None

    @property
    def is_closed(self) -> bool:
        """Whether the ticket is closed for good."""
        return self.status is Status.CLOSED

    def to_json(self) -> dict[str, t.Any]:
        """The API's ``CustomerTicket`` or, for staff, ``Ticket``."""
        data: dict[str, t.Any] = {
            "number": self.number,
            "subject": self.subject,
            "status": self.status.value,
            "priority": self.priority.value,
            "category": self.category,
            "department": dataclasses.asdict(self.department) if self.department else None,
            "source": self.source.value,
            "requester": self.requester.to_json(),
            "assignee": self.assignee.to_json() if self.assignee else None,
            "reference": dataclasses.asdict(self.reference) if self.reference else None,
            "follow_up_of": self.follow_up_of,
            "created_at": timestamp(self.created_at),
            "updated_at": timestamp(self.updated_at),
            "last_customer_reply_at": timestamp(self.last_customer_reply_at),
            "first_response_at": timestamp(self.first_response_at),
            "resolved_at": timestamp(self.resolved_at),
            "closed_at": timestamp(self.closed_at),
        }
        if self.staff is not None:
            data["level"] = self.staff.level
            data["entry_level"] = self.staff.entry_level
            data["escalated_beyond"] = (
                {
                    "at": timestamp(self.staff.escalated_beyond_at),
                    "reference": self.staff.escalated_beyond_ref,
                }
                if self.staff.escalated_beyond_at
                else None
            )
        return data


@dataclasses.dataclass(frozen=True)
class AttachmentView:
    """A file on a message; ``url`` downloads it and ``thumbnail_url`` (images only,
    else ``None``) shows a small re-encoded preview, both with the same access checks."""

    id: int
    filename: str
    size: int
    content_type: str
    url: str
    thumbnail_url: str | None = None

    def to_json(self) -> dict[str, t.Any]:
        """The API's ``Attachment``."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class MessageView:
    """A message the viewer may read, with its body as sanitised HTML."""

    id: int
    ticket_number: str
    channel: Channel
    body: str
    html: Markup
    author: PersonView
    author_is_staff: bool
    created_at: dt.datetime
    edited_at: dt.datetime | None
    attachments: tuple[AttachmentView, ...]

    @property
    def author_name(self) -> str:
        """The name shown for the author."""
        return self.author.name

    def to_json(self) -> dict[str, t.Any]:
        """The API's ``Message``."""
        return {
            "id": self.id,
            "channel": self.channel.value,
            "body": self.body,
            "html": str(self.html),
            "author": {
                "id": self.author.id,
                "name": self.author.name,
                "staff": self.author_is_staff,
            },
            "created_at": timestamp(self.created_at),
            "edited_at": timestamp(self.edited_at),
            "attachments": [a.to_json() for a in self.attachments],
        }


def follow_up_numbers(tickets: t.Sequence[Ticket]) -> dict[int, str]:
    """The numbers of the tickets these follow up, in one query (not one per row)."""
    ids = {ticket.follow_up_of_id for ticket in tickets if ticket.follow_up_of_id is not None}
    if not ids:
        return {}
    rows = get_state().db.session.execute(
        sa.select(Ticket.id, Ticket.number).where(Ticket.id.in_(ids))
    )
    return {row.id: row.number for row in rows}


def ticket_view(
    viewer: Actor, ticket: Ticket, follow_ups: t.Mapping[int, str] | None = None
) -> TicketView:
    """``ticket`` as ``viewer`` may see it (who already passed :func:`policy.get_ticket`).

    :param follow_ups: Numbers from :func:`follow_up_numbers`, for lists; a single
        ticket looks its own up.
    """
    if follow_ups is None:
        follow_ups = follow_up_numbers([ticket])
    seen_as = policy.audience(viewer, ticket)
    handles = seen_as.handles
    return TicketView(
        number=ticket.number,
        subject=ticket.subject,
        status=ticket.status,
        priority=ticket.priority,
        category=ticket.category,
        department=(
            DepartmentView(ticket.department.slug, ticket.department.name)
            if ticket.department
            else None
        ),
        source=ticket.source,
        requester=PersonView(
            ticket.requester_id, ticket.requester_name, ticket.requester_email if handles else None
        ),
        assignee=(
            PersonView(ticket.assignee_id, ticket.assignee_name) if ticket.assignee_id else None
        ),
        reference=(
            ReferenceView(
                ticket.reference_kind,
                ticket.reference_id or "",
                ticket.reference_label or "",
                ticket.reference_url,
            )
            if ticket.reference_kind
            else None
        ),
        follow_up_of=follow_ups.get(ticket.follow_up_of_id) if ticket.follow_up_of_id else None,
        created_at=t.cast(dt.datetime, _utc(ticket.created_at)),
        updated_at=t.cast(dt.datetime, _utc(ticket.updated_at)),
        last_customer_reply_at=_utc(ticket.last_customer_reply_at),
        first_response_at=_utc(ticket.first_response_at),
        resolved_at=_utc(ticket.resolved_at),
        closed_at=_utc(ticket.closed_at),
        audience=seen_as,
        staff=(
            StaffDetails(
                ticket.level,
                ticket.entry_level,
                _utc(ticket.escalated_beyond_at),
                ticket.escalated_beyond_ref,
            )
            if handles
            else None
        ),
    )


def attachment_url(attachment_id: int, *, thumbnail: bool = False) -> str:
    """Where an attachment is downloaded, or (``thumbnail``) its preview is shown: the
    API's routes, which check access."""
    if has_request_context():
        endpoint = "attachment_thumbnail" if thumbnail else "attachment"
        return url_for(f"supportdesk_api.{endpoint}", attachment_id=attachment_id)
    suffix = "/thumbnail" if thumbnail else ""
    return f"{get_state().config.api_url_prefix}/attachments/{attachment_id}{suffix}"


def attachment_view(attachment: Attachment) -> AttachmentView:
    """An attachment of a message the caller may read."""
    return AttachmentView(
        id=attachment.id,
        filename=attachment.filename,
        size=attachment.size,
        content_type=attachment.content_type,
        url=attachment_url(attachment.id),
        thumbnail_url=(
            attachment_url(attachment.id, thumbnail=True) if has_thumbnail(attachment) else None
        ),
    )


def message_view(
    viewer: Actor,
    ticket: Ticket,
    message: Message,
    *,
    channels: t.Container[Channel] | None = None,
) -> MessageView:
    """``message`` of ``ticket`` as ``viewer`` may see it.

    :param channels: ``policy.visible_channels(viewer, ticket)``, when the caller asked
        it once for a whole thread.
    :raises NotFound: the message is on a channel the viewer may not read (or of another
        ticket): a second line of defence behind the services' filters.
    """
    if channels is None:
        channels = policy.visible_channels(viewer, ticket)
    if message.ticket_id != ticket.id or message.channel not in channels:
        raise NotFound(_("Message not found."))
    return MessageView(
        id=message.id,
        ticket_number=ticket.number,
        channel=message.channel,
        body=message.body,
        html=message.html,
        author=PersonView(message.author_id, message.author_name),
        author_is_staff=message.author_is_staff,
        created_at=t.cast(dt.datetime, _utc(message.created_at)),
        edited_at=_utc(message.edited_at),
        attachments=tuple(attachment_view(a) for a in message.attachments),
    )


def thread_views(viewer: Actor, ticket: Ticket, thread: t.Sequence[Message]) -> list[MessageView]:
    """The views of messages the services listed for ``viewer`` (pages, API, sockets)."""
    channels = policy.visible_channels(viewer, ticket)  # once, not once per message
    return [message_view(viewer, ticket, message, channels=channels) for message in thread]


@dataclasses.dataclass(frozen=True)
class TimelineEntry:
    """One line of a ticket's timeline, in words ("Priority: Normal → High")."""

    at: dt.datetime
    actor_name: str
    kind: str
    text: str


_FIELD_NAMES = {
    "status": _l("Status"),
    "priority": _l("Priority"),
    "category": _l("Category"),
    "department": _l("Department"),
    "assignee": _l("Assignee"),
    "subject": _l("Subject"),
    "chat": _l("Chat"),
}


def _field_value(field: str, value: t.Any) -> str:
    if value in (None, ""):
        return "—"
    if field == "status" and value in Status._value2member_map_:
        return Status(value).staff_label
    if field == "priority" and value in Priority._value2member_map_:
        return Priority(value).label
    if field == "category":
        return category_label(str(value))
    if field == "chat":
        return _("ticket queue") if value == "queued" else _("live chat")
    if field == "department":
        return str(value).replace("-", " ").replace("_", " ").capitalize()
    return str(value)


def _event_text(event: Event) -> str:
    data = event.data or {}
    kind = event.kind
    if kind == "created":
        source = Source(data["source"]).label if data.get("source") else ""
        follows = data.get("follow_up_of")
        if source and follows:
            return _(
                "opened the ticket (%(source)s) to continue %(number)s",
                source=source,
                number=follows,
            )
        if follows:
            return _("opened the ticket to continue %(number)s", number=follows)
        if source:
            return _("opened the ticket (%(source)s)", source=source)
        return _("opened the ticket")
    if kind.endswith("_changed") and kind[: -len("_changed")] in _FIELD_NAMES:
        field = kind[: -len("_changed")]
        old, new = _field_value(field, data.get("old")), _field_value(field, data.get("new"))
        return _("%(field)s: %(old)s → %(new)s", field=_FIELD_NAMES[field], old=old, new=new)
    if kind == "escalated":
        old, new = str(data.get("old", "")), str(data.get("new", ""))
        return _("Escalated: %(old)s → %(new)s", old=old.capitalize(), new=new.capitalize())
    if kind == "escalated_beyond":
        if data.get("reference") is None:  # the hand-off follows after commit
            return _("Escalated beyond the top: handed to platform support")
        return _(
            "Escalated beyond the top: handed to platform support (%(reference)s)",
            reference=data.get("reference"),
        )
    if kind == "handed_beyond":
        reference = data.get("reference")
        return _("Platform support took the ticket (%(reference)s)", reference=reference)
    if kind == "message_edited":
        note = data.get("channel") == Channel.INTERNAL.value
        return _("edited an internal note") if note else _("edited a message")
    if kind == "follow_up_opened":
        return _("Follow-up %(number)s opened", number=data.get("number"))
    if kind == "delegate_invited":
        return _("invited %(email)s as a delegate", email=data.get("email"))
    if kind == "delegate_accepted":
        return _("accepted the invitation as a delegate (%(email)s)", email=data.get("email"))
    if kind == "delegate_revoked":
        return _("revoked the delegate %(email)s", email=data.get("email"))
    if kind == "pin_verified":
        return _("PIN verified")
    if kind == "pin_mismatch":
        return _("PIN did not match")
    return kind.replace("_", " ")


def timeline_view(events: t.Sequence[Event]) -> list[TimelineEntry]:
    """A ticket's timeline for staff, newest first, each event in words."""
    return [
        TimelineEntry(
            at=t.cast(dt.datetime, _utc(event.created_at)),
            actor_name=event.actor_name or _("The store"),
            kind=event.kind,
            text=_event_text(event),
        )
        for event in reversed(events)
    ]


def me_json(actor: Actor) -> dict[str, t.Any]:
    """The actor as the API shows them to themselves; the role only for staff."""
    data: dict[str, t.Any] = {
        "id": actor.id,
        "name": actor.name,
        "email": actor.email,
        "staff": policy.is_staff(actor),
    }
    if data["staff"]:
        data["role"] = actor.role
    return data
