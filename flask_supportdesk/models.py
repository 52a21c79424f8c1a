"""The desk's tables, on their own MetaData, used through the host's Flask-SQLAlchemy session.

All tables are prefixed ``supportdesk_`` so they sit beside the host's without collisions,
and Alembic migrations shipped in :mod:`flask_supportdesk.migrations` create them. Host
users are referred to by their id as a string; names and e-mails are copied onto rows so
lists render without calling a hook per row.
"""

from __future__ import annotations

import datetime as dt
import enum
import typing as t

import sqlalchemy as sa
from markupsafe import Markup
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship
from sqlalchemy.orm import validates

from . import _search_index
from . import markup
from .i18n import lazy_gettext as _l

#: Constraint names are fixed so migrations are the same on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of the desk's models, with its own MetaData."""

    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> dt.datetime:
    """Now, in UTC, without tzinfo (stored the same on SQLite and PostgreSQL)."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class Status(str, enum.Enum):
    """Where a ticket is in its life (DESIGN §3)."""

    OPEN = "open"
    PENDING_ADMIN = "pending_admin"
    PENDING_CUSTOMER = "pending_customer"
    RESOLVED = "resolved"
    CLOSED = "closed"

    @property
    def customer_label(self) -> str:
        """The status in a customer's words, in the current locale."""
        return str(_CUSTOMER_LABELS[self])

    @property
    def staff_label(self) -> str:
        """The status in staff words, in the current locale."""
        return str(_STAFF_LABELS[self])


# Lazy: translated each time a label is read, in that request's locale.
_CUSTOMER_LABELS = {
    Status.OPEN: _l("Open"),
    Status.PENDING_ADMIN: _l("Awaiting support"),
    Status.PENDING_CUSTOMER: _l("Awaiting your reply"),
    Status.RESOLVED: _l("Resolved"),
    Status.CLOSED: _l("Closed"),
}
_STAFF_LABELS = {
    Status.OPEN: _l("Open"),
    Status.PENDING_ADMIN: _l("Waiting admin"),
    Status.PENDING_CUSTOMER: _l("Waiting customer"),
    Status.RESOLVED: _l("Resolved"),
    Status.CLOSED: _l("Closed"),
}


class Priority(str, enum.Enum):
    """How urgent a ticket is, lowest first: the desk sorts by this order."""

    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"

    @property
    def rank(self) -> int:
        """Position in the declared order (0 is ``low``), for sorting in SQL and Python."""
        return list(Priority).index(self)

    @property
    def label(self) -> str:
        """The priority in words, in the current locale."""
        return str(_PRIORITY_LABELS[self])


_PRIORITY_LABELS = {
    Priority.LOW: _l("Low"),
    Priority.NORMAL: _l("Normal"),
    Priority.HIGH: _l("High"),
    Priority.URGENT: _l("Urgent"),
}


class Channel(str, enum.Enum):
    """``public``: requester, delegates and staff. ``internal``: staff handling the ticket."""

    PUBLIC = "public"
    INTERNAL = "internal"


class Source(str, enum.Enum):
    """Where a ticket came from: the portal, a store form, chat, e-mail or staff."""

    CUSTOMER_PORTAL = "customer_portal"
    CONTACT_FORM = "contact_form"
    CHAT = "chat"
    EMAIL = "email"
    STAFF = "staff"
    API = "api"

    @property
    def label(self) -> str:
        """Where the ticket came from, in words of the current locale."""
        return str(_SOURCE_LABELS[self])


_SOURCE_LABELS = {
    Source.CUSTOMER_PORTAL: _l("Customer portal"),
    Source.CONTACT_FORM: _l("Contact form"),
    Source.CHAT: _l("Chat"),
    Source.EMAIL: _l("E-mail"),
    Source.STAFF: _l("Staff"),
    Source.API: _l("API"),
}

# The default categories (SUPPORTDESK_CATEGORIES); a store's own are shown as named.
_CATEGORY_LABELS = {
    "exchange": _l("Exchange"),
    "payment": _l("Payment"),
    "verification": _l("Verification"),
    "technical": _l("Technical"),
    "general": _l("General"),
    "other": _l("Other"),
}


def category_label(name: str) -> str:
    """A ticket category in words: translated for the built-in ones, else capitalised."""
    label = _CATEGORY_LABELS.get(name)
    return str(label) if label is not None else name.replace("_", " ").capitalize()


def _enum_column(enum_cls: type[enum.Enum], **kw: t.Any) -> t.Any:
    # Plain strings with a CHECK constraint: portable, and readable in raw SQL.
    return mapped_column(
        sa.Enum(
            enum_cls,
            native_enum=False,
            values_callable=lambda e: [m.value for m in e],
            length=24,
            validate_strings=True,
            create_constraint=True,
            name=enum_cls.__name__.lower(),
        ),
        **kw,
    )


class Department(Base):
    """A team of the store that tickets are routed to (e.g. Payments, Shipping)."""

    __tablename__ = "supportdesk_department"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Ticket(Base):
    """One conversation between a requester and the store's staff.

    A live chat is a ticket whose source is ``chat``. ``level`` is the staff role currently
    handling it (raised by escalation); ``entry_level`` the role it entered at, which
    decides which staff see it.
    """

    __tablename__ = "supportdesk_ticket"
    __table_args__ = (
        sa.Index("ix_supportdesk_ticket_status_updated", "status", "updated_at"),
        sa.Index("ix_supportdesk_ticket_requester_updated", "requester_id", "updated_at"),
        sa.Index("ix_supportdesk_ticket_assignee_status", "assignee_id", "status"),
        sa.Index("ix_supportdesk_ticket_department_status", "department_id", "status"),
        sa.Index("ix_supportdesk_ticket_creator_updated", "created_by_id", "updated_at"),
        sa.Index("ix_supportdesk_ticket_updated", "updated_at"),
        sa.Index("ix_supportdesk_ticket_created", "created_at"),
        # The desk's open tabs in their order, without the closed history (migration
        # 0007): the list query writes its predicate the same way, or SQLite ignores it.
        sa.Index(
            "ix_supportdesk_ticket_active_updated",
            "updated_at",
            "id",
            sqlite_where=sa.text("status <> 'closed'"),
            postgresql_where=sa.text("status <> 'closed'"),
        ),
        # Every column of the staff scope filter, after the status: the desk's counters
        # of active tickets are answered from this index without reading the table.
        sa.Index(
            "ix_supportdesk_ticket_scope",
            "status",
            "entry_level",
            "department_id",
            "assignee_id",
            "created_by_id",
            "requester_id",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(sa.String(40), unique=True)
    subject: Mapped[str] = mapped_column(sa.String(255))
    status: Mapped[Status] = _enum_column(Status, default=Status.OPEN)
    priority: Mapped[Priority] = _enum_column(Priority, default=Priority.NORMAL)
    category: Mapped[str] = mapped_column(sa.String(40))
    source: Mapped[Source] = _enum_column(Source)
    department_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("supportdesk_department.id", ondelete="SET NULL")
    )
    department: Mapped[Department | None] = relationship(lazy="joined")

    requester_id: Mapped[str | None] = mapped_column(sa.String(64))
    requester_name: Mapped[str] = mapped_column(sa.String(200), default="")
    requester_email: Mapped[str] = mapped_column(sa.String(254), default="")
    #: A phone number the requester gave (the chat widget's pre-chat form; migration 0013).
    requester_phone: Mapped[str | None] = mapped_column(sa.String(40))
    created_by_id: Mapped[str | None] = mapped_column(sa.String(64))
    assignee_id: Mapped[str | None] = mapped_column(sa.String(64))
    assignee_name: Mapped[str] = mapped_column(sa.String(200), default="")

    entry_level: Mapped[str] = mapped_column(sa.String(64))
    level: Mapped[str] = mapped_column(sa.String(64))
    #: Set when the ticket was handed beyond the top level (platform support).
    escalated_beyond_at: Mapped[dt.datetime | None]
    escalated_beyond_ref: Mapped[str | None] = mapped_column(sa.String(200))

    reference_kind: Mapped[str | None] = mapped_column(sa.String(40))
    reference_id: Mapped[str | None] = mapped_column(sa.String(120))
    reference_label: Mapped[str | None] = mapped_column(sa.String(200))
    reference_url: Mapped[str | None] = mapped_column(sa.String(500))

    #: A digest of who opened it and their ``client_id``: the same form or task submitted
    #: twice opens one ticket (:func:`~flask_supportdesk.services.tickets.open`).
    idempotency_key: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    #: The locale the requester last used on the desk (``de``), for the mails they get;
    #: ``None`` until they act in a request (migration 0008).
    requester_locale: Mapped[str | None] = mapped_column(sa.String(16))

    follow_up_of_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("supportdesk_ticket.id", ondelete="SET NULL"), index=True
    )
    follow_up_of: Mapped[Ticket | None] = relationship(remote_side=[id], lazy="select")

    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_customer_reply_at: Mapped[dt.datetime | None]
    first_response_at: Mapped[dt.datetime | None]
    resolved_at: Mapped[dt.datetime | None]
    closed_at: Mapped[dt.datetime | None]
    #: When a chat left the live chat inbox for the ticket queue: it fell back unanswered
    #: (the visitor was told they will get an e-mail) or staff turned it into a ticket.
    #: ``None`` for tickets and for live chats.
    chat_queued_at: Mapped[dt.datetime | None]

    @property
    def is_chat(self) -> bool:
        """Whether the ticket is a live chat (its source is ``chat``)."""
        return self.source is Source.CHAT

    @property
    def is_closed(self) -> bool:
        """Whether the ticket is closed: it then takes no message, edit or status change."""
        return self.status is Status.CLOSED

    def __repr__(self) -> str:
        return f"<Ticket {self.number} {self.status.value}>"


class Message(Base):
    """A message on a ticket's ``public`` or ``internal`` channel."""

    __tablename__ = "supportdesk_message"
    __table_args__ = (
        sa.Index("ix_supportdesk_message_ticket_channel", "ticket_id", "channel", "id"),
        # A staff thread (both channels), newest first (migration 0007): with only the
        # index above, PostgreSQL read the primary key backwards from the newest message
        # of the store to reach an old ticket's thread.
        sa.Index("ix_supportdesk_message_ticket_id", "ticket_id", "id"),
        # A client message id makes a send idempotent: a retry returns the first message.
        sa.UniqueConstraint(
            "ticket_id", "author_id", "client_id", name="uq_supportdesk_message_client"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(
        sa.ForeignKey("supportdesk_ticket.id", ondelete="CASCADE")
    )
    ticket: Mapped[Ticket] = relationship(lazy="select")
    channel: Mapped[Channel] = _enum_column(Channel, default=Channel.PUBLIC)
    body: Mapped[str] = mapped_column(sa.Text)
    #: ``body`` rendered by :func:`flask_supportdesk.markup.render`, set whenever ``body``
    #: is assigned, with the renderer's version. :attr:`html` renders again when either
    #: is missing (rows written without the ORM) or the version is older.
    body_html: Mapped[str | None] = mapped_column(sa.Text)
    body_html_version: Mapped[int | None]
    author_id: Mapped[str | None] = mapped_column(sa.String(64))
    author_name: Mapped[str] = mapped_column(sa.String(200), default="")
    author_is_staff: Mapped[bool] = mapped_column(default=False)
    client_id: Mapped[str | None] = mapped_column(sa.String(64))
    #: The ``Message-ID`` of the mail this message came in by (``None``: not by mail);
    #: unique, so a mail the MTA delivers twice is stored once (migration 0010).
    email_message_id: Mapped[str | None] = mapped_column(sa.String(255), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    edited_at: Mapped[dt.datetime | None]

    attachments: Mapped[list[Attachment]] = relationship(
        back_populates="message", order_by="Attachment.id", lazy="selectin"
    )

    def set_body(self, body: str, html: Markup | None = None) -> None:
        """Replace the body; ``html`` is its :func:`~flask_supportdesk.markup.render`
        output when the caller rendered it already (outside a lock), else it is rendered."""
        if html is not None:
            vars(self)["_rendered"] = (body, str(html))
        self.body = body

    @validates("body")
    def _render_body(self, key: str, body: str) -> str:
        # Rendered once when written, not on every view: a thread page shows hundreds
        # of messages, and Markdown plus sanitising is most of its cost.
        rendered = vars(self).pop("_rendered", None)
        if rendered is not None and rendered[0] == body:
            self.body_html = rendered[1]
        else:
            self.body_html = str(markup.render(body))
        self.body_html_version = markup.RENDER_VERSION
        return body

    @property
    def html(self) -> Markup:
        """The body as sanitised HTML, safe to insert into a page."""
        if self.body_html is None or self.body_html_version != markup.RENDER_VERSION:
            return markup.render(self.body)
        return Markup(self.body_html)  # noqa: S704 - sanitised by this version, when written


class MessageRevision(Base):
    """An earlier text of an edited message (or subject): edits keep their history."""

    __tablename__ = "supportdesk_message_revision"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(
        sa.ForeignKey("supportdesk_message.id", ondelete="CASCADE"), index=True
    )
    body: Mapped[str] = mapped_column(sa.Text)
    editor_id: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Attachment(Base):
    """A file on a message. ``storage_key`` is what the storage hook returned."""

    __tablename__ = "supportdesk_attachment"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(
        sa.ForeignKey("supportdesk_message.id", ondelete="CASCADE"), index=True
    )
    message: Mapped[Message] = relationship(back_populates="attachments")
    # Copied from the message so a download checks ticket and channel in one query.
    ticket_id: Mapped[int] = mapped_column(
        sa.ForeignKey("supportdesk_ticket.id", ondelete="CASCADE"), index=True
    )
    filename: Mapped[str] = mapped_column(sa.String(255))
    content_type: Mapped[str] = mapped_column(sa.String(100))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(sa.String(64))
    storage_key: Mapped[str] = mapped_column(sa.String(255))
    #: The storage key of a small re-encoded preview (images only; ``None`` when the
    #: file is not an image or did not decode).
    thumbnail_key: Mapped[str | None] = mapped_column(sa.String(255))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Event(Base):
    """One entry of a ticket's append-only timeline (created, status changed, ...)."""

    __tablename__ = "supportdesk_event"
    __table_args__ = (sa.Index("ix_supportdesk_event_ticket", "ticket_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(
        sa.ForeignKey("supportdesk_ticket.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(sa.String(40))
    actor_id: Mapped[str | None] = mapped_column(sa.String(64))
    actor_name: Mapped[str] = mapped_column(sa.String(200), default="")
    data: Mapped[dict[str, t.Any]] = mapped_column(sa.JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class NotificationStatus(str, enum.Enum):
    """Where a notification of the outbox is: waiting, delivered, or given up."""

    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"


class Notification(Base):
    """One notification in the outbox, written in the transaction of its cause.

    ``payload`` holds what the mail is rendered from (never internal content);
    ``key`` is unique per recipient and cause, so a cause notifies a person once.
    Delivery claims a row by setting ``claim_token`` and ``claimed_until`` (a lease):
    one worker at a time, and a worker that died lets the row go when the lease ends.
    """

    __tablename__ = "supportdesk_notification"
    __table_args__ = (
        # What `deliver` asks for: queued rows whose time has come, oldest first.
        sa.Index("ix_supportdesk_notification_due", "status", "next_attempt_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(64), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(40))
    ticket_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("supportdesk_ticket.id", ondelete="CASCADE"), index=True
    )
    recipient_id: Mapped[str | None] = mapped_column(sa.String(64))
    recipient_email: Mapped[str] = mapped_column(sa.String(254))
    recipient_name: Mapped[str] = mapped_column(sa.String(200), default="")
    recipient_role: Mapped[str | None] = mapped_column(sa.String(64))
    locale: Mapped[str | None] = mapped_column(sa.String(16))
    payload: Mapped[dict[str, t.Any]] = mapped_column(sa.JSON, default=dict)
    #: The ``Message-ID`` of the mail (``<...@domain>``), unique: inbound replies name it.
    message_id: Mapped[str] = mapped_column(sa.String(255), unique=True)
    status: Mapped[NotificationStatus] = _enum_column(
        NotificationStatus, default=NotificationStatus.QUEUED
    )
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    claim_token: Mapped[str | None] = mapped_column(sa.String(32))
    claimed_until: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[dt.datetime | None]


class NotificationSettings(Base):
    """What one host user wants to hear: the kinds they muted and the language of their
    mails (``None``: the language they last used, else the desk's default).

    One row per user, read for all of a change's recipients in one query when the
    outbox is written. Security kinds (``SECURITY_KINDS`` of
    :mod:`~flask_supportdesk.services.notification_settings`) are delivered whatever
    ``muted_kinds`` says.
    """

    __tablename__ = "supportdesk_notification_settings"

    user_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    muted_kinds: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    locale: Mapped[str | None] = mapped_column(sa.String(16))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


# The full-text index is the database's own structure beside the message table.
_search_index.attach(t.cast(sa.Table, Message.__table__))

__all__ = [
    "Attachment",
    "Base",
    "Channel",
    "Delegate",
    "DelegateStatus",
    "Department",
    "Event",
    "Message",
    "MessageRevision",
    "Notification",
    "NotificationSettings",
    "NotificationStatus",
    "Priority",
    "Source",
    "Status",
    "Ticket",
]


class TicketRead(Base):
    """When a staff member last opened a ticket: the list marks it unread after a change.

    One row per user and ticket, moved forward when they open the ticket page or change
    the ticket themselves (so their own change never makes it unread for them).
    ``note_id`` is the newest internal note then: notes leave ``Ticket.updated_at``
    alone (customers see it), so a newer note is how a colleague's note shows as news.
    """

    __tablename__ = "supportdesk_ticket_read"
    __table_args__ = (sa.UniqueConstraint("user_id", "ticket_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[str] = mapped_column(sa.String(64))
    ticket_id: Mapped[int] = mapped_column(
        sa.ForeignKey("supportdesk_ticket.id", ondelete="CASCADE"), index=True
    )
    read_at: Mapped[dt.datetime]
    note_id: Mapped[int | None]


class DelegateStatus(str, enum.Enum):
    """Where a delegate's access to a ticket is: invited, accepted, or revoked."""

    INVITED = "invited"
    ACCEPTED = "accepted"
    REVOKED = "revoked"

    @property
    def label(self) -> str:
        """The status in words, in the current locale."""
        return str(_DELEGATE_STATUS_LABELS[self])


_DELEGATE_STATUS_LABELS = {
    DelegateStatus.INVITED: _l("Invited"),
    DelegateStatus.ACCEPTED: _l("Accepted"),
    DelegateStatus.REVOKED: _l("Revoked"),
}


class Delegate(Base):
    """An account holder the requester shared one ticket with (migration 0009).

    ``invited`` until the invitee accepts the signed link of the invitation mail,
    ``accepted`` while they may read and post public messages, ``revoked`` for good (a
    new invitation is a new row). ``nonce`` is the one-time part of the link: it is
    cleared when the invitation is accepted or revoked, so a link works once.
    """

    __tablename__ = "supportdesk_delegate"
    __table_args__ = (
        # What policy asks on every request of a delegate: their accepted tickets.
        sa.Index("ix_supportdesk_delegate_user_status", "user_id", "status", "ticket_id"),
        sa.Index("ix_supportdesk_delegate_ticket", "ticket_id", "id"),
        # The requester's invitations of the last hour (the cap on invitations).
        sa.Index("ix_supportdesk_delegate_inviter", "invited_by_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(
        sa.ForeignKey("supportdesk_ticket.id", ondelete="CASCADE")
    )
    ticket: Mapped[Ticket] = relationship(lazy="select")
    #: The address the requester typed (normalised to lower case).
    email: Mapped[str] = mapped_column(sa.String(254))
    #: The invitee's host user id (``supportdesk_find_user`` found it) and name.
    user_id: Mapped[str] = mapped_column(sa.String(64))
    name: Mapped[str] = mapped_column(sa.String(200), default="")
    status: Mapped[DelegateStatus] = _enum_column(DelegateStatus, default=DelegateStatus.INVITED)
    invited_by_id: Mapped[str | None] = mapped_column(sa.String(64))
    invited_by_name: Mapped[str] = mapped_column(sa.String(200), default="")
    #: The one-time part of the invitation link; ``None`` once used or revoked.
    nonce: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    accepted_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]
    revoked_by_id: Mapped[str | None] = mapped_column(sa.String(64))

    @property
    def is_active(self) -> bool:
        """Whether the invitation is pending or accepted (not revoked)."""
        return self.status is not DelegateStatus.REVOKED


class SupportPin(Base):
    """A customer's support PIN, which they read to staff on the phone (DESIGN §3).

    Kept encrypted (``secret``, by :mod:`flask_supportdesk.services.pins` with a key
    derived from the app's ``SECRET_KEY``), so its owner can look it up again; staff only
    ever learn whether a PIN they were told matches. ``rotated_at`` is when it was last
    regenerated (``None``: never).
    """

    __tablename__ = "supportdesk_support_pin"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    secret: Mapped[str] = mapped_column(sa.String(255))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    rotated_at: Mapped[dt.datetime | None]


class GuestLinkUse(Base):
    """A guest's one-time link that was used: the digest of its token (unique, so a link
    signs a guest in once, even when two requests race)."""

    __tablename__ = "supportdesk_guest_link_use"

    id: Mapped[int] = mapped_column(primary_key=True)
    digest: Mapped[str] = mapped_column(sa.String(64), unique=True)
    used_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class MessageRead(Base):
    """How far one reader has read a ticket's thread: the newest message id they saw.

    One row per ticket and reader (a host user id, or ``guest:<e-mail>`` for a guest),
    moved forward only. ``staff`` says on which side the reader is: a customer's "Seen"
    mark is the newest staff row's message and the other way round (migration 0013).
    """

    __tablename__ = "supportdesk_message_read"
    __table_args__ = (sa.UniqueConstraint("ticket_id", "reader_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(
        sa.ForeignKey("supportdesk_ticket.id", ondelete="CASCADE")
    )
    reader_id: Mapped[str] = mapped_column(sa.String(300))
    reader_name: Mapped[str] = mapped_column(sa.String(200), default="")
    staff: Mapped[bool] = mapped_column(default=False)
    message_id: Mapped[int]
    read_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Connection(Base):
    """A live Socket.IO connection of a host user, in any server process.

    Kept in the database (not in a process's memory) so that every process can find a
    user's connections: to take a revoked delegate out of a ticket's room, to disconnect
    a user who logged out, and to know which staff are online (``seen_at`` is refreshed
    while the connection lives; a process that died leaves rows that simply go stale).
    Guests' connections are not kept: a guest token is bound to one conversation.
    """

    __tablename__ = "supportdesk_connection"

    sid: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    staff: Mapped[bool] = mapped_column(default=False)
    connected_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class StaffPresence(Base):
    """A staff member's own presence choice: ``away`` keeps new chats from them even
    while they are connected (``online`` is the default without a row)."""

    __tablename__ = "supportdesk_staff_presence"

    user_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    away: Mapped[bool] = mapped_column(default=False)
    changed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
