"""The notification outbox: who hears of a change, and delivering what is due.

**Writing.** :func:`write_outbox` is a before-commit consumer of every unit of work: it
turns the domain events into :class:`~flask_supportdesk.models.Notification` rows in the
transaction of the change, so a notification exists exactly when its change does. Who
hears what (:func:`recipients_of`):

- a new ticket: the staff of its department at its level, and an acknowledgement to its
  requester (a receipt: the one notification of someone's own action);
- a staff public reply: the requester and the ticket's accepted delegates;
- a requester's or delegate's reply: the assignee, or the staff of the ticket's level
  when unassigned;
- a delegate invitation: the invitee, with the signed link that accepts it (a security
  mail: it is never muted);
- an escalation: the staff of the new level.

An escalation beyond the top writes a row of the kind ``escalated_beyond`` instead: the
hand-off to platform support (``supportdesk_escalate_beyond``), made after commit like a
delivery and retried the same way; it is never rendered nor given to delivery plugins.

Nobody else is told of their own action, internal notes notify nobody, and every
recipient is checked against :mod:`~flask_supportdesk.policy` (they must see the ticket)
before a row is written. A row holds only the ticket's subject and the public message
that caused it.

**Delivering.** :func:`deliver` claims due rows (one worker at a time: ``FOR UPDATE SKIP
LOCKED`` on PostgreSQL, an atomic ``UPDATE`` of a claim token and lease everywhere),
renders each in its recipient's language and hands it to every
``supportdesk_deliver_notification`` implementation. A plugin that raises makes the row
wait (exponential backoff with jitter) until ``SUPPORTDESK_NOTIFICATION_MAX_ATTEMPTS``,
then it is marked failed with the error. Delivery is at least once: a worker that dies
after sending and before recording it sends again when its lease ends, with the same
``key`` and ``Message-ID``.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import datetime as dt
import functools
import hashlib
import logging
import re
import secrets
import typing as t
import urllib.parse

import css_inline
import flask_babel
import sqlalchemy as sa
from flask import has_request_context
from flask import render_template
from flask import request
from flask import url_for
from sqlalchemy import orm

from .. import events as _events
from .. import i18n
from .. import policy
from .._state import get_state
from ..errors import NotFound
from ..i18n import gettext as _
from ..models import Channel
from ..models import Event
from ..models import Message
from ..models import Notification
from ..models import NotificationStatus
from ..models import Source
from ..models import Ticket
from ..models import utcnow
from ..values import Actor
from ..values import ActorKind
from ..values import OutgoingNotification
from ..values import Recipient
from . import _validate
from . import delegates
from . import guests
from . import inbound
from . import notification_settings
from ._uow import transaction

log = logging.getLogger("flask_supportdesk")

_WRITTEN = "supportdesk_outbox_written"

#: The kinds of notification the desk writes (the ``kind`` of a payload).
KINDS = (
    "ticket_opened",
    "ticket_acknowledged",
    "reply_posted",
    "customer_replied",
    "ticket_escalated",
    "conversation_started",
    "delegate_invited",
    "pin_changed",
)
#: The hand-off of a ticket beyond the top level: an outbox row, but no notification.
HAND_OFF = "escalated_beyond"
#: Kinds whose recipient is staff (linked to the desk, not the portal).
STAFF_KINDS = frozenset({"ticket_opened", "customer_replied", "ticket_escalated"})

#: The longest wait between two attempts, whatever the backoff says.
MAX_RETRY_DELAY = 3600.0


# -------------------------------------------------------------------------------------
# Who hears what
# -------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Planned:
    """One notification a change causes: to ``recipient``, of ``kind``, for ``cause``."""

    kind: str
    recipient: Actor
    ticket: Ticket
    cause: str
    body: str = ""
    author: str = ""
    #: Where the recipient acts on it, when not their view of the ticket.
    url: str | None = None


def _same_person(a: Actor, b: Actor) -> bool:
    return a.kind is b.kind and a.id == b.id


def _requester(ticket: Ticket) -> Actor | None:
    """The requester as a recipient: a host account, or a guest known by e-mail."""
    if ticket.requester_id is not None:
        found = get_state().hooks.load_user(ticket.requester_id)
        if found is not None:
            return found
        if not ticket.requester_email:
            return None
        return Actor(ticket.requester_id, ticket.requester_name, ticket.requester_email)
    if ticket.requester_email:
        return Actor.guest(ticket.requester_email, ticket.requester_name)
    return None


def level_staff(ticket: Ticket, level: str) -> list[Actor]:
    """The staff of ``level`` who work in the ticket's department (from the host's
    ``supportdesk_staff_members`` and ``supportdesk_staff_departments``)."""
    slug = ticket.department.slug if ticket.department is not None else None
    found: list[Actor] = []
    for member in get_state().hooks.staff_members():
        if member.role != level or not member.email:
            continue
        scope = policy.staff_scope(member)  # asked once per member and request
        if scope is None:
            continue
        if slug is not None and scope.departments is not None and slug not in scope.departments:
            continue
        found.append(member)
    return found


def _assignee(ticket: Ticket) -> Actor | None:
    if ticket.assignee_id is None:
        return None
    return get_state().hooks.load_user(ticket.assignee_id)


def recipients_of(event: _events.DomainEvent) -> list[Planned]:
    """The notifications one event causes, before the policy check of
    :func:`write_outbox` (nobody is notified of their own action but the receipt)."""
    if isinstance(event, _events.TicketOpened):
        ticket, message = event.ticket, event.message
        about = _about_message(ticket, _cause("ticket", ticket, ticket.created_at), message)
        planned = [about("ticket_opened", member) for member in level_staff(ticket, ticket.level)]
        planned = [p for p in planned if not _is(p, event)]
        requester = _requester(ticket)
        if requester is not None and _same_person(requester, event.actor):
            planned.append(about("ticket_acknowledged", requester))  # the receipt
        elif requester is not None:  # staff opened it for the customer: news to them
            planned.append(about("conversation_started", requester))
        return planned
    if isinstance(event, _events.MessagePosted):
        ticket, message = event.ticket, event.message
        if message.channel is not Channel.PUBLIC:
            return []  # an internal note notifies nobody
        cause = _cause(f"message:{message.id}", ticket, message.created_at)
        about = _about_message(ticket, cause, message)
        if message.author_is_staff:
            if _live_chat(ticket):
                # The visitor reads it live in the chat: no mail per chat line. Once the
                # chat is in the ticket queue (fell back unanswered, or turned into a
                # ticket), replies are mailed as on any ticket.
                return []
            requester = _requester(ticket)
            planned = [about("reply_posted", requester)] if requester is not None else []
            planned += [about("reply_posted", d) for d in delegates.accepted_delegates(ticket)]
        else:
            assignee = _assignee(ticket)
            members = [assignee] if assignee is not None else level_staff(ticket, ticket.level)
            planned = [about("customer_replied", member) for member in members]
    elif isinstance(event, _events.DelegateInvited):
        ticket, invitation = event.ticket, event.delegate
        cause = _cause(f"delegate:{invitation.id}", ticket, invitation.created_at)
        invitee = Actor(invitation.user_id, invitation.name, invitation.email)
        url = invitation_url(delegates.invitation_token(invitation))
        planned = [
            Planned("delegate_invited", invitee, ticket, cause, author=event.actor.name, url=url)
        ]
    elif isinstance(event, _events.TicketEscalated) and event.to_level is not None:
        ticket = event.ticket
        cause = _cause(f"escalation:{event.to_level}", ticket, ticket.updated_at)
        members = level_staff(ticket, event.to_level)
        planned = [Planned("ticket_escalated", member, ticket, cause) for member in members]
    else:
        return []
    return [p for p in planned if not _is(p, event)]


def _live_chat(ticket: Ticket) -> bool:
    """Whether ``ticket`` is a chat still answered live (in the staff chat inbox)."""
    return ticket.source is Source.CHAT and ticket.chat_queued_at is None


def _about_message(
    ticket: Ticket, cause: str, message: Message
) -> t.Callable[[str, Actor], Planned]:
    """Plans of one kind and recipient about ``message`` (its text and author shown)."""

    def plan(kind: str, recipient: Actor) -> Planned:
        return Planned(kind, recipient, ticket, cause, message.body, message.author_name)

    return plan


def _cause(what: str, ticket: Ticket, at: t.Any) -> str:
    # By the ticket's number (never reused, unlike a row id: SQLite gives a deleted
    # newest row's id to the next one) and the time of the change, so that a ticket
    # escalated to the same level twice, or a new ticket where a deleted one was,
    # notifies again instead of colliding with the first notification's key.
    stamp = at.isoformat() if at is not None else ""
    return f"{what}:{ticket.number}:{stamp}"


def _is(planned: Planned, event: _events.DomainEvent) -> bool:
    return _same_person(planned.recipient, event.actor)


def _may_receive(planned: Planned, staff_who_see: t.Container[Actor]) -> bool:
    """Whether the recipient may see everything the notification carries (policy).

    :param staff_who_see: ``policy.handlers_among`` of the planned staff recipients.
    """
    recipient, ticket = planned.recipient, planned.ticket
    if not recipient.email:
        return False
    if planned.kind == "delegate_invited":
        return True  # the ticket's subject and the link: what the requester shared
    if planned.kind not in STAFF_KINDS:
        # What a requester or delegate sees of the ticket: its public side (policy).
        return policy.is_requester(recipient, ticket) or policy.is_delegate(recipient, ticket)
    return recipient in staff_who_see


# -------------------------------------------------------------------------------------
# Writing the outbox (before commit)
# -------------------------------------------------------------------------------------


def notification_key(kind: str, cause: str, recipient: Actor) -> str:
    """The idempotency key of a notification: one per kind, cause and recipient."""
    raw = f"{kind}\x00{cause}\x00{recipient.kind.value}\x00{recipient.id}"
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


def mail_domain() -> str:
    """The domain of the desk's ``Message-ID``\\ s: the public URL's host, else the
    sender's domain, else ``supportdesk.invalid``."""
    config = get_state().config
    return _mail_domain(config.public_url, config.mail_default_sender)


@functools.lru_cache(maxsize=16)
def _mail_domain(public_url: str | None, sender: str | None) -> str:
    host = urllib.parse.urlsplit(public_url).hostname if public_url else None
    if not host and sender:
        host = sender.rpartition("@")[2].strip(" >")
    host = re.sub(r"[^A-Za-z0-9.-]", "", host or "")
    return host or "supportdesk.invalid"


def thread_message_id(ticket_number: str) -> str:
    """The ``Message-ID`` every mail of a ticket answers (``In-Reply-To``), so mail
    clients thread a ticket's mails together; the same for every recipient."""
    safe = re.sub(r"[^A-Za-z0-9.-]", "", ticket_number).lower()
    return f"<ticket.{safe}@{mail_domain()}>"


def absolute_url(path: str) -> str:
    """``path`` on the desk's public address (``SUPPORTDESK_PUBLIC_URL``, else the
    request's), for links in mails."""
    # The configured address first: a request's Host header is the client's to choose.
    public = get_state().config.public_url
    if public:
        return public + path
    if has_request_context():
        return request.host_url.rstrip("/") + path
    return path


def site_url(endpoint: str, outside_a_request: str, **values: t.Any) -> str:
    """The absolute link to ``endpoint`` for a mail: built by ``url_for`` in a request,
    else ``outside_a_request`` (a path under the configured prefixes; ``values`` quoted
    into it with ``str.format``)."""
    if has_request_context():
        path = url_for(endpoint, **values)
    else:
        quoted = {name: urllib.parse.quote(str(value)) for name, value in values.items()}
        path = outside_a_request.format(**quoted)
    return absolute_url(path)


def _side(*, staff: bool) -> tuple[str, str]:
    # The blueprint a recipient acts in, and where it is mounted.
    config = get_state().config
    if staff:
        return "supportdesk_desk", config.desk_url_prefix
    return "supportdesk_portal", config.url_prefix


def ticket_url(number: str, *, staff: bool) -> str:
    """Where a recipient opens the ticket: the desk for staff, the portal otherwise."""
    blueprint, prefix = _side(staff=staff)
    return site_url(f"{blueprint}.ticket", prefix + "/tickets/{number}", number=number)


def settings_url(*, staff: bool) -> str:
    """Where an account holder chooses which notifications they get."""
    blueprint, prefix = _side(staff=staff)
    return site_url(f"{blueprint}.notification_settings", prefix + "/notifications/settings")


def invitation_url(token: str) -> str:
    """The absolute link that accepts a delegate invitation (the portal's page)."""
    prefix = get_state().config.url_prefix
    return site_url("supportdesk_portal.invitation", prefix + "/invitations/{token}", token=token)


def _current_locale() -> str | None:
    if not has_request_context():
        return None

    locale = flask_babel.get_locale()
    return None if locale is None else str(locale)


#: The events that may notify someone.
_OUTBOX_EVENTS = (
    _events.TicketOpened,
    _events.MessagePosted,
    _events.TicketEscalated,
    _events.DelegateInvited,
)


def write_outbox(events: t.Sequence[_events.DomainEvent]) -> None:
    """Before commit: write the notifications of a unit of work's events (see the module
    doc), and remember the requester's locale for the mails they get."""
    interesting = [
        e
        for e in events
        if isinstance(e, _OUTBOX_EVENTS)
    ]
    if not interesting:
        return
    state = get_state()
    for event in interesting:
        ticket = t.cast(Ticket, getattr(event, "ticket"))  # noqa: B009
        if policy.is_requester(event.actor, ticket):
            locale = _current_locale()  # asked only then: it parses Accept-Language
            if locale is not None:
                ticket.requester_locale = locale
    # Nobody to deliver to (no mail server, no delivery plugin): notifications are off,
    # and a change pays nothing for them. The hand-off beyond the top still goes out.
    delivers = state.delivers_notifications
    session = state.db.session
    rows: dict[str, dict[str, t.Any]] = {}
    planned_rows: list[tuple[Planned, str]] = []
    keys: set[str] = set()
    for event in interesting:
        if isinstance(event, _events.TicketEscalated) and event.to_level is None:
            row = _hand_off_row(event)
            rows.setdefault(row["key"], row)
            keys.add(row["key"])
            continue
        if not delivers:
            continue
        session.flush()  # new tickets and messages need their ids (once: then a no-op)
        planned_here = recipients_of(event)
        ticket = t.cast(Ticket, getattr(event, "ticket"))  # noqa: B009
        staff = [p.recipient for p in planned_here if p.kind in STAFF_KINDS]
        seeing = policy.handlers_among(ticket, staff)
        for planned in planned_here:
            key = notification_key(planned.kind, planned.cause, planned.recipient)
            if key in keys or not _may_receive(planned, seeing):
                continue
            keys.add(key)
            planned_rows.append((planned, key))
    # Everyone's settings in one query: what they muted, the language of their mails.
    settings = notification_settings.for_recipients(p.recipient.user_id for p, _k in planned_rows)
    for planned, key in planned_rows:
        chosen = settings.get(planned.recipient.user_id or "", notification_settings.DEFAULT)
        if chosen.hears(planned.kind):
            rows[key] = _row(planned, key, chosen.locale)
    if not rows:
        return
    _insert(list(rows.values()))


_INSERT = sa.insert(t.cast(sa.Table, Notification.__table__))


def _insert(values: list[dict[str, t.Any]]) -> None:
    """Write outbox rows in the unit of work's transaction, noting their ids for the
    delivery after commit."""
    # One INSERT of plain rows: the ORM's unit of work for new objects cost more than
    # everything else the outbox does in a request (bench/outbox.py).
    state = get_state()
    session = state.db.session
    table = t.cast(sa.Table, Notification.__table__)
    connection = session.connection()  # Core, in the unit of work's transaction
    if not state.config.deliver_after_commit:
        connection.execute(_INSERT, values)  # the worker finds them: no ids needed
        return
    written = connection.execute(_INSERT.returning(table.c.id), values)
    session.info.setdefault(_WRITTEN, []).extend(written.scalars())


def _row(planned: Planned, key: str, locale: str | None = None) -> dict[str, t.Any]:
    """The outbox row of ``planned``, in the recipient's chosen ``locale`` (else, for a
    requester, the language they last used; for staff, the desk's default)."""
    ticket, recipient = planned.ticket, planned.recipient
    staff = planned.kind in STAFF_KINDS
    url = planned.url  # where the notification itself says to act (an invitation)
    if url is None and recipient.kind is ActorKind.GUEST:
        # A guest has no account to log in with: their link signs them in (once).
        url = guests.guest_url(recipient.email, ticket.number)
    if url is None:
        url = ticket_url(ticket.number, staff=staff)
    payload = {
        "ticket_number": ticket.number,
        "ticket_subject": ticket.subject,
        "url": url,
        # Built here, where a request knows the site's address (a worker may not).
        "settings_url": settings_url(staff=staff) if recipient.user_id is not None else "",
        "body": planned.body,
        "author": planned.author,
        "level": ticket.level,
    }
    return _queued(
        key=key,
        kind=planned.kind,
        ticket_id=ticket.id,
        recipient_id=recipient.user_id,
        recipient_email=recipient.email,
        recipient_name=recipient.name,
        recipient_role=recipient.role,
        locale=locale or (None if staff else ticket.requester_locale),
        payload=payload,
    )


def write_security_notices(events: t.Sequence[_events.DomainEvent]) -> None:
    """Before commit: tell a customer that their support PIN was changed
    (``pin_changed``, a security kind nobody mutes), so a change they did not make does
    not go unnoticed."""
    changed = [e for e in events if isinstance(e, _events.PinChanged) and e.actor.email]
    if not changed:
        return
    state = get_state()
    if not state.delivers_notifications:
        return
    if has_request_context():
        path = url_for("supportdesk_portal.pin")
    else:
        path = f"{state.config.url_prefix}/pin"
    settings = notification_settings.for_recipients(e.actor.user_id for e in changed)
    rows = []
    for event in changed:
        who = event.actor
        chosen = settings.get(who.user_id or "", notification_settings.DEFAULT)
        key = notification_key("pin_changed", f"pin:{utcnow().isoformat()}", who)
        rows.append(
            _queued(
                key=key,
                kind="pin_changed",
                ticket_id=None,
                recipient_id=who.user_id,
                recipient_email=who.email,
                recipient_name=who.name,
                recipient_role=who.role,
                locale=chosen.locale or _current_locale(),
                payload={"url": absolute_url(path)},
            )
        )
    _insert(rows)


def _queued(**values: t.Any) -> dict[str, t.Any]:
    """An outbox row's values, queued and due now, with its own ``Message-ID``."""
    moment = utcnow()
    return {
        "message_id": f"<n.{values['key'][:32]}@{mail_domain()}>",
        "status": NotificationStatus.QUEUED,
        "attempts": 0,
        "next_attempt_at": moment,
        "created_at": moment,
        "recipient_role": None,
        "locale": None,
        **values,
    }


def _hand_off_row(event: _events.TicketEscalated) -> dict[str, t.Any]:
    # What the hook needs after commit: who escalated and why. The reason is internal:
    # this row is handed to supportdesk_escalate_beyond only, never rendered or mailed.
    ticket, actor = event.ticket, event.actor
    key = notification_key(HAND_OFF, f"ticket:{ticket.number}", Actor.system())  # once per ticket
    return _queued(
        key=key,
        kind=HAND_OFF,
        ticket_id=ticket.id,
        recipient_id=None,
        recipient_email="",
        recipient_name="platform support",
        payload={
            "ticket_number": ticket.number,
            "reason": event.reason,
            "actor": {
                "id": actor.id,
                "name": actor.name,
                "email": actor.email,
                "role": actor.role,
                "kind": actor.kind.value,
            },
        },
    )


def _hand_off(session: orm.Session, row: Notification) -> None:
    """Hand the row's ticket to platform support and keep the reference it answers (on
    the ticket and its timeline, committed with the row's outcome).

    :raises LookupError: no plugin took it (``None``): try again later.
    """
    ticket = session.get(Ticket, row.ticket_id)
    if ticket is None:
        return  # deleted since: nothing left to hand over
    data = row.payload["actor"]
    actor = Actor(data["id"], data["name"], data["email"], data["role"], data["kind"])
    reason = str(row.payload.get("reason") or "")
    reference = get_state().hooks.escalate_beyond(ticket, actor, reason)
    if reference is None:
        raise LookupError("No supportdesk_escalate_beyond implementation took the ticket.")
    ticket.escalated_beyond_ref = reference[:200]
    session.add(
        Event(
            ticket_id=ticket.id,
            kind="handed_beyond",
            actor_id=actor.user_id,
            actor_name=actor.name,
            data={"reference": ticket.escalated_beyond_ref},
        )
    )


def deliver_written(events: t.Sequence[_events.DomainEvent]) -> None:
    """After commit: deliver the notifications just written, from this process
    (``SUPPORTDESK_DELIVER_AFTER_COMMIT``): handed to the background thread, or in the
    request. What fails is retried later."""
    state = get_state()
    ids: list[int] = state.db.session().info.pop(_WRITTEN, [])
    if not ids or not state.config.deliver_after_commit:
        return
    if state.config.deliver_in_background and state.delivery is not None:
        state.delivery.submit(ids)  # the request answers now (services/delivery_thread.py)
        return
    deliver(limit=len(ids), ids=ids)


# -------------------------------------------------------------------------------------
# Delivering (after commit, in a worker)
# -------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class DeliveryReport:
    """What one :func:`deliver` call did: ``sent``, ``retrying`` (failed this time, will
    be tried again) and ``failed`` (given up now) notifications."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0

    @property
    def claimed(self) -> int:
        """How many notifications this call took."""
        return self.sent + self.retrying + self.failed


_batch: contextvars.ContextVar[contextlib.ExitStack | None] = contextvars.ContextVar(
    "supportdesk_delivery_batch", default=None
)
_batch_resources: contextvars.ContextVar[dict[str, t.Any] | None] = contextvars.ContextVar(
    "supportdesk_delivery_resources", default=None
)


def batch_resource(name: str, factory: t.Callable[[], t.ContextManager[t.Any]]) -> t.Any:
    """A resource shared by the deliveries of one :func:`deliver` batch (the built-in
    SMTP connection): made by ``factory`` (a context manager) on first use, and exited
    when the batch ends.

    :raises RuntimeError: called outside a delivery.
    """
    stack, resources = _batch.get(), _batch_resources.get()
    if stack is None or resources is None:
        raise RuntimeError("batch_resource() is only available while delivering.")
    if name not in resources:
        resources[name] = stack.enter_context(factory())
    return resources[name]


def drop_batch_resource(name: str) -> None:
    """Forget a batch resource that broke (a dropped connection): the next use makes a
    new one. The broken one is still closed when the batch ends."""
    resources = _batch_resources.get()
    if resources is not None:
        resources.pop(name, None)


@contextlib.contextmanager
def _delivery_batch() -> t.Iterator[None]:
    with contextlib.ExitStack() as stack:
        token, resources = _batch.set(stack), _batch_resources.set({})
        try:
            yield
        finally:
            _batch.reset(token)
            _batch_resources.reset(resources)


def _claim(
    session: orm.Session, token: str, limit: int, *, now: bool, ids: t.Sequence[int] | None
) -> list[Notification]:
    moment = utcnow()
    lease = dt.timedelta(seconds=get_state().config.notification_lease)
    due = (
        sa.select(Notification.id)
        .where(
            Notification.status == NotificationStatus.QUEUED,
            sa.or_(Notification.claimed_until.is_(None), Notification.claimed_until < moment),
        )
        .order_by(Notification.next_attempt_at, Notification.id)
        .limit(limit)
    )
    if not now:
        due = due.where(Notification.next_attempt_at <= moment)
    if ids is not None:
        due = due.where(Notification.id.in_(list(ids)))
    # PostgreSQL: rows another worker is claiming are skipped, not waited for. SQLite has
    # no FOR UPDATE (SQLAlchemy leaves it out): its UPDATE holds the database's write
    # lock, so the subquery and the claim are one atomic step there.
    due = due.with_for_update(skip_locked=True)
    table = t.cast(sa.Table, Notification.__table__)
    session.execute(
        sa.update(table)
        .where(table.c.id.in_(due.scalar_subquery()))
        .values(claim_token=token, claimed_until=moment + lease)
    )
    session.commit()
    claimed = sa.select(Notification).where(Notification.claim_token == token)
    return list(session.scalars(claimed.order_by(Notification.id)))


def _retry_delay(attempts: int) -> float:
    base = get_state().config.notification_retry_delay
    delay = min(base * 2.0 ** max(attempts - 1, 0), MAX_RETRY_DELAY)
    # Jitter: the rows an outage made fail together do not all come back at once.
    return float(delay * secrets.SystemRandom().uniform(0.5, 1.0))


def _finish(
    session: orm.Session, row: Notification, token: str, error: BaseException | None
) -> str:
    """Record one attempt, if the claim is still ours; returns what became of the row."""
    attempts = row.attempts + 1
    values: dict[str, t.Any] = {"attempts": attempts, "claim_token": None, "claimed_until": None}
    if error is None:
        outcome = "sent"
        values.update(status=NotificationStatus.SENT, sent_at=utcnow(), last_error=None)
    else:
        values["last_error"] = f"{type(error).__name__}: {error}"[:2000]
        if attempts >= get_state().config.notification_max_attempts:
            outcome = "failed"
            values["status"] = NotificationStatus.FAILED
        else:
            outcome = "retrying"
            delay = dt.timedelta(seconds=_retry_delay(attempts))
            values["next_attempt_at"] = utcnow() + delay
    table = t.cast(sa.Table, Notification.__table__)
    result = session.execute(
        sa.update(table).where(table.c.id == row.id, table.c.claim_token == token).values(**values)
    )
    session.commit()
    if t.cast(sa.CursorResult[t.Any], result).rowcount != 1:
        log.warning(
            "Notification %s was delivered after its lease ended; another worker may"
            " deliver it again (raise SUPPORTDESK_NOTIFICATION_LEASE).",
            row.id,
        )
    return outcome


def deliver(
    limit: int = 100, *, now: bool = False, ids: t.Sequence[int] | None = None
) -> DeliveryReport:
    """Deliver up to ``limit`` notifications that are due, through every
    ``supportdesk_deliver_notification`` implementation.

    Needs an app context. Safe to run in several processes at once: each notification
    is claimed by one of them. Uses its own database session, never the host's.

    :param limit: The most notifications to take in this batch.
    :param now: Also take those waiting for a later retry (after an outage).
    :param ids: Only these notifications (the ones a request just wrote).
    :return: How many were sent, will be retried, or were given up.
    """
    state = get_state()
    token = secrets.token_hex(16)
    counts = {"sent": 0, "retrying": 0, "failed": 0}
    with orm.Session(state.db.engine, expire_on_commit=False) as session:
        rows = _claim(session, token, limit, now=now, ids=ids)
        if not rows:
            return DeliveryReport()
        with _delivery_batch():
            for row in rows:
                error: BaseException | None = None
                try:
                    if row.kind == HAND_OFF:
                        _hand_off(session, row)
                    else:
                        notification = render(row)
                        state.hooks.hook.supportdesk_deliver_notification(notification=notification)
                except Exception as exc:
                    session.rollback()  # nothing of a failed hand-off is kept
                    error = exc
                    log.warning("Delivery of notification %s failed: %s", row.id, exc)
                counts[_finish(session, row, token, error)] += 1
    return DeliveryReport(**counts)


def retry_failed(actor: Actor, notification_id: t.Any) -> None:
    """Queue a notification that was given up again, due now, with a fresh count of
    attempts (the store owner's "retry", after fixing what made it fail).

    :raises Forbidden: ``actor`` is not a store owner.
    :raises NotFound: no such notification, or it is not failed (retried already).
    """

    policy.require_manage_notifications(actor)
    notification_id = _validate.object_id(notification_id, "Notification")
    table = t.cast(sa.Table, Notification.__table__)
    with transaction():
        result = get_state().db.session.execute(
            sa.update(table)
            .where(table.c.id == notification_id, table.c.status == NotificationStatus.FAILED.value)
            .values(
                status=NotificationStatus.QUEUED.value,
                attempts=0,
                next_attempt_at=utcnow(),
                claim_token=None,
                claimed_until=None,
            )
        )
        if t.cast(sa.CursorResult[t.Any], result).rowcount != 1:
            raise NotFound(_("No failed delivery with this id."))


def prune(*, older_than_days: float, include_failed: bool = False) -> int:
    """Delete the outbox rows delivered more than ``older_than_days`` ago (and, with
    ``include_failed``, those given up that were written that long ago); the number
    deleted.

    Queued rows are never deleted: they are still owed to someone. A pruned row only
    loses the record of the delivery: replies to its mail still thread into the ticket
    by the ticket's own ``Message-ID`` in ``References``. Uses its own session.
    """
    cutoff = utcnow() - dt.timedelta(days=older_than_days)
    table = t.cast(sa.Table, Notification.__table__)
    done = sa.and_(table.c.status == NotificationStatus.SENT.value, table.c.sent_at < cutoff)
    if include_failed:
        given_up = sa.and_(
            table.c.status == NotificationStatus.FAILED.value, table.c.created_at < cutoff
        )
        done = sa.or_(done, given_up)
    with orm.Session(get_state().db.engine) as session, session.begin():
        result = t.cast("sa.CursorResult[t.Any]", session.execute(sa.delete(table).where(done)))
        return int(result.rowcount or 0)


def list_failed(actor: Actor, *, limit: int = 100) -> list[Notification]:
    """The notifications given up, newest first, for the store owner's desk page.

    :raises Forbidden: ``actor`` is not a store owner.
    """
    policy.require_manage_notifications(actor)
    stmt = (
        sa.select(Notification)
        .where(Notification.status == NotificationStatus.FAILED)
        .order_by(Notification.id.desc())
        .limit(limit)
    )
    return list(get_state().db.session.scalars(stmt))


# -------------------------------------------------------------------------------------
# Rendering
# -------------------------------------------------------------------------------------


def one_line(text: str, limit: int = 200) -> str:
    """``text`` on one line: every run of whitespace (CR and LF included) becomes one
    space, control characters are dropped, and it is cut at ``limit`` characters."""
    cleaned = "".join(ch for ch in text if ch.isprintable() or ch.isspace())
    return " ".join(cleaned.split())[:limit]


def _subject(kind: str, number: str, subject: str) -> str:

    if kind == "ticket_opened":
        text = _("New ticket %(number)s: %(subject)s", number=number, subject=subject)
    elif kind == "ticket_acknowledged":
        text = _("We received your request %(number)s: %(subject)s", number=number, subject=subject)
    elif kind == "reply_posted":
        text = _("New reply on %(number)s: %(subject)s", number=number, subject=subject)
    elif kind == "delegate_invited":
        text = _("You are invited to follow the support request %(number)s", number=number)
    elif kind == "customer_replied":
        text = _("Customer replied on %(number)s: %(subject)s", number=number, subject=subject)
    elif kind == "conversation_started":
        text = _(
            "Support wrote to you about %(number)s: %(subject)s", number=number, subject=subject
        )
    elif kind == "pin_changed":
        text = _("Your support PIN was changed")
    else:
        text = _("Ticket %(number)s escalated to you: %(subject)s", number=number, subject=subject)
    return one_line(text, 250)


def _recipient(row: Notification) -> Recipient:
    actor = None
    if row.recipient_id is not None:
        actor = Actor(row.recipient_id, row.recipient_name, row.recipient_email, row.recipient_role)
    return Recipient(email=row.recipient_email, name=one_line(row.recipient_name), actor=actor)


def _locale(row: Notification) -> str:

    if row.locale:
        return row.locale
    return str(flask_babel.get_babel().instance.default_locale)


def _settings_link(row: Notification) -> str:
    # Kept in the payload when the row was written; rows written before, built now.
    kept = str(row.payload.get("settings_url") or "")
    if kept or row.recipient_id is None:  # guests have no account to keep settings in
        return kept
    return settings_url(staff=row.kind in STAFF_KINDS)


def render(row: Notification) -> OutgoingNotification:
    """The notification as delivery plugins receive it, rendered in its recipient's
    language from the templates ``supportdesk/mail/<kind>.txt`` and ``.html`` (a host
    overrides them by path); the HTML's CSS is inlined."""

    payload = row.payload
    number = str(payload.get("ticket_number") or "")
    with flask_babel.force_locale(_locale(row)):
        subject = _subject(row.kind, number, str(payload.get("ticket_subject") or ""))
        recipient = _recipient(row)
        context = {
            "kind": row.kind,
            "recipient": recipient,
            "subject": subject,
            "ticket_number": number,
            "ticket_subject": one_line(str(payload.get("ticket_subject") or ""), 255),
            "url": str(payload.get("url") or ""),
            "body": str(payload.get("body") or ""),
            "author": one_line(str(payload.get("author") or "")),
            "level": str(payload.get("level") or ""),
            "staff": row.kind in STAFF_KINDS,
            "settings_url": _settings_link(row),
            **i18n.template_callables(),
        }
        text = render_template(f"supportdesk/mail/{row.kind}.txt", **context)
        html = render_template(f"supportdesk/mail/{row.kind}.html", **context)
    html = css_inline.inline(html)
    return OutgoingNotification(
        kind=row.kind,
        recipient=recipient,
        subject=subject,
        text=text,
        html=html,
        ticket_number=number or None,
        url=context["url"],
        key=row.key,
        message_id=row.message_id,
        reply_to=thread_message_id(number) if number else None,
        reply_address=inbound.reply_address(number) if number else None,
    )
