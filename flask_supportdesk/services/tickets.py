"""Opening tickets and changing their fields under the status rules of DESIGN §3."""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
import typing as t

import sqlalchemy as sa

from .. import events
from .. import policy
from .._state import get_state
from ..errors import Conflict
from ..errors import NotFound
from ..errors import SupportDeskError
from ..errors import ValidationError
from ..i18n import gettext as _
from ..models import Channel
from ..models import Department
from ..models import Message
from ..models import Priority
from ..models import Source
from ..models import Status
from ..models import Ticket
from ..models import utcnow
from ..values import Actor
from ..values import ActorKind
from ..values import Reference
from . import _validate
from . import attachments as _attachments
from ._uow import UnitOfWork
from ._uow import transaction

# No 0/O, 1/I/L: numbers are read aloud over the phone.
_NUMBER_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"

#: Fields :func:`update_ticket` understands.
UPDATABLE_FIELDS = ("subject", "status", "priority", "category", "department", "assignee")


def new_number() -> str:
    """A fresh random public ticket number, unique in the table."""
    config = get_state().config
    session = get_state().db.session
    while True:
        number = config.ticket_number_prefix + "".join(
            secrets.choice(_NUMBER_ALPHABET) for _ in range(config.ticket_number_length)
        )
        if session.scalar(sa.select(Ticket.id).where(Ticket.number == number)) is None:
            return number


def active_departments() -> list[Department]:
    """Departments customers and staff can choose, by name."""
    stmt = sa.select(Department).where(Department.is_active).order_by(Department.name)
    return list(get_state().db.session.scalars(stmt))


def _department(slug: t.Any) -> Department | None:
    if slug in (None, ""):
        return None
    if not isinstance(slug, str) or len(slug) > 64 or not _validate.is_storable(slug):
        raise ValidationError(fields={"department": _("Unknown department.")})
    department = get_state().db.session.scalar(
        sa.select(Department).where(Department.slug == slug, Department.is_active)
    )
    if department is None:
        raise ValidationError(fields={"department": _("Unknown department.")})
    return department


def _staff_member(actor: Actor, user_id: t.Any) -> Actor | None:
    """The staff member with this id (for assignment), or ``None`` for "unassigned"."""
    if user_id in (None, ""):
        return None
    user_id = _validate.user_id(user_id, "assignee")
    member = actor if user_id == actor.user_id else get_state().hooks.load_user(user_id)
    if member is None or not policy.is_staff(member):
        raise ValidationError(fields={"assignee": _("Not a staff member.")})
    return member


def preview_reference(actor: Actor, kind: t.Any, ref: t.Any) -> Reference | None:
    """How a related object (an order) would show on a new ticket of ``actor``, before it
    is opened ("Order #1042"), or ``None`` when it is not the actor's (or does not exist).

    Writes nothing; :func:`open_ticket` resolves the reference again when it is used.
    """
    if not kind or not ref or not isinstance(kind, str) or not isinstance(ref, str):
        return None
    if not (_validate.is_storable(kind) and _validate.is_storable(ref)):
        return None
    return get_state().hooks.resolve_reference(kind[:40], ref[:120], actor)


def _reference(reference: t.Any, owner: Actor, ticket: Ticket, *, for_other: bool) -> None:
    if reference in (None, {}):
        return
    if not isinstance(reference, t.Mapping) or not reference.get("kind") or not reference.get("id"):
        raise ValidationError(fields={"reference": _("Give a kind and an id.")})
    kind, ref = str(reference["kind"])[:40], str(reference["id"])[:120]
    _validate.storable(kind, "reference.kind")
    _validate.storable(ref, "reference.id")
    resolved = get_state().hooks.resolve_reference(kind, ref, owner)
    if resolved is None:
        # The same answer for "no such order" and "not yours": no existence oracle. Staff
        # filing for a customer are told in their words, about that customer.
        if for_other:
            reason = _("No %(kind)s %(ref)s found on this customer's account.", kind=kind, ref=ref)
        else:
            reason = _("No %(kind)s %(ref)s found on your account.", kind=kind, ref=ref)
        raise ValidationError(fields={"reference": reason})
    ticket.reference_kind, ticket.reference_id = kind, ref
    ticket.reference_label, ticket.reference_url = resolved.label[:200], resolved.url


@dataclasses.dataclass(frozen=True)
class Opened:
    """What :func:`open` did: the ticket, and whether this call opened it (``False``
    when a repeated ``client_id`` returned the ticket an earlier call opened)."""

    ticket: Ticket
    created: bool


def open_ticket(actor: Actor, **options: t.Any) -> Ticket:
    """:func:`open`, returning only the ticket (opened now or by an earlier call)."""
    return open(actor, **options).ticket


def idempotency_key(actor: Actor, client_id: str) -> str:
    """The stored key of a ticket opened by ``actor`` with ``client_id`` (a digest, so
    keys of different actors never collide and any id fits the column)."""
    raw = f"{actor.kind.value}\x00{actor.id}\x00{client_id}"
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


def _opened_earlier(key: str | None) -> Ticket | None:
    if key is None:
        return None
    stmt = sa.select(Ticket).where(Ticket.idempotency_key == key)
    return get_state().db.session.scalar(stmt)


def open(
    actor: Actor,
    *,
    subject: t.Any,
    body: t.Any,
    category: t.Any = None,
    department: t.Any = None,
    priority: t.Any = None,
    reference: t.Mapping[str, t.Any] | None = None,
    source: Source = Source.CUSTOMER_PORTAL,
    requester_id: str | None = None,
    attachments: t.Sequence[_attachments.Upload] = (),
    follow_up_of: Ticket | None = None,
    client_id: t.Any = None,
    email_message_id: str | None = None,
    requester_phone: str | None = None,
) -> Opened:
    """Open a ticket with its first message.

    Customers open tickets for themselves. Staff may also file one for a customer
    (``requester_id``) and set its ``priority``. A repeated ``client_id`` from the same
    actor (a form submitted twice, a retried task) returns the first ticket and writes
    nothing.

    :param reference: ``{"kind": "order", "id": "1042"}``, resolved through
        ``supportdesk_resolve_reference`` for the requester: only their own objects.
    :param email_message_id: The ``Message-ID`` of the mail the ticket was opened by
        (:mod:`.inbound`), kept on its first message.
    :param requester_phone: A phone number the requester gave (checked by the caller:
        the chat's pre-chat form).
    :raises ValidationError: a field breaks a rule (all checked before anything is saved).
    :raises ForbiddenField: a customer set the priority or another requester.
    """
    subject = _validate.subject(subject)
    body = _validate.body(body)
    category = _validate.category(category)
    client_id = _validate.client_id(client_id)
    key = None if client_id is None else idempotency_key(actor, client_id)
    policy.check_open(actor, {"priority": priority, "requester": requester_id})
    requester = actor
    if requester_id not in (None, ""):
        requester_id = _validate.user_id(requester_id, "requester")
    if requester_id not in (None, "") and requester_id != actor.id:
        found = get_state().hooks.load_user(requester_id)
        if found is None:
            raise ValidationError(fields={"requester": _("Unknown customer.")})
        requester = found
    if requester.kind is ActorKind.SYSTEM:
        raise ValidationError(fields={"requester": _("Give the customer the ticket is for.")})
    priority = (
        Priority.NORMAL
        if priority in (None, "")
        else _validate.choice(Priority, priority, "priority")
    )
    checked = _attachments.check_uploads(attachments)
    roles = policy.roles()
    now = utcnow()
    ticket = Ticket(
        number=new_number(),
        subject=subject,
        status=Status.OPEN,
        priority=priority,
        category=category,
        source=source,
        requester_id=requester.user_id,
        requester_name=requester.name,
        requester_email=requester.email,
        requester_phone=requester_phone,
        created_by_id=actor.user_id,
        entry_level=roles[0],
        level=roles[0],
        follow_up_of_id=follow_up_of.id if follow_up_of else None,
        idempotency_key=key,
        created_at=now,
        updated_at=now,
        last_customer_reply_at=now if requester is actor else None,
    )
    ticket.department = _department(department)
    _reference(reference, requester, ticket, for_other=requester is not actor)
    route = get_state().hooks.route_ticket(ticket)
    if route is not None:
        if ticket.department is None and route.department:
            ticket.department = _department(route.department)
        if route.assignee is not None:
            ticket.assignee_id, ticket.assignee_name = route.assignee.id, route.assignee.name
    if source is Source.CHAT and ticket.assignee_id is None:
        # A new chat is offered only to staff who are online (services/chat_inbox.py).
        from . import chat_inbox

        chosen = chat_inbox.pick_assignee(ticket, actor)
        if chosen is not None:
            ticket.assignee_id, ticket.assignee_name = chosen.id, chosen.name

    # Built (and its body rendered) before the transaction: on SQLite the write lock is
    # held from the first INSERT to the commit, and every other writer waits for it.
    message = Message(
        ticket=ticket,
        channel=Channel.PUBLIC,
        body=body,
        author_id=actor.user_id,
        author_name=actor.name,
        author_is_staff=requester is not actor,
        email_message_id=email_message_id,
        created_at=now,
        attachments=[],  # known empty: no SELECT for the rows attached below
    )
    try:
        with transaction() as uow:
            earlier = _opened_earlier(key)
            if earlier is not None:
                return Opened(earlier, created=False)
            session = get_state().db.session
            session.add(ticket)
            session.add(message)
            session.flush()
            _attachments.attach(uow, message, checked)
            uow.record(events.TicketOpened(actor, ticket, message, follow_up_of))
            if follow_up_of is not None:
                uow.record(events.FollowUpOpened(actor, follow_up_of, ticket))
    except sa.exc.IntegrityError:
        # The same client_id raced this call and won: its ticket is the answer.
        earlier = _opened_earlier(key)
        if earlier is None:
            raise
        return Opened(earlier, created=False)
    return Opened(ticket, created=True)


def open_follow_up(
    actor: Actor,
    number: str,
    *,
    body: t.Any,
    subject: t.Any = None,
    attachments: t.Sequence[_attachments.Upload] = (),
    source: Source = Source.CUSTOMER_PORTAL,
    client_id: t.Any = None,
    email_message_id: str | None = None,
) -> Ticket:
    """Open a new ticket that continues a closed one (closed tickets stay closed).

    :raises Conflict: the ticket is not closed (reply to it instead).
    """
    previous = policy.get_ticket(actor, number)
    if previous.status is not Status.CLOSED:
        raise Conflict(_("This ticket is still open: reply to it instead."))
    if subject in (None, ""):
        subject = (
            previous.subject if previous.subject.startswith("Re: ") else f"Re: {previous.subject}"
        )
        subject = subject[: get_state().config.max_subject_length]
    return open_ticket(
        actor,
        subject=subject,
        body=body,
        category=previous.category,
        # A department deactivated since is not offered again: routing decides.
        department=previous.department.slug
        if previous.department and previous.department.is_active
        else None,
        requester_id=previous.requester_id,
        source=source,
        attachments=attachments,
        follow_up_of=previous,
        client_id=client_id,
        email_message_id=email_message_id,
    )


def follow_ups(actor: Actor, ticket: Ticket) -> list[Ticket]:
    """The tickets opened to continue ``ticket`` that ``actor`` may see, oldest first.

    Only a closed ticket can have follow-ups, so an open one costs no query.
    """
    if not ticket.is_closed:
        return []
    stmt = (
        sa.select(Ticket)
        .where(Ticket.follow_up_of_id == ticket.id, policy.ticket_filter(actor))
        .order_by(Ticket.id)
    )
    return list(get_state().db.session.scalars(stmt))


def apply_status(ticket: Ticket, status: Status) -> tuple[str, str] | None:
    """Set a status with its timestamps (no permission check).

    :return: ``(old, new)`` for the change, or ``None`` when the status stays.
    """
    if ticket.status is status:
        return None
    change = (ticket.status.value, status.value)
    now = utcnow()
    ticket.status = status
    if status is Status.RESOLVED:
        ticket.resolved_at = now
    elif status is Status.CLOSED:
        ticket.closed_at = now
    ticket.updated_at = now
    return change


def apply_changes(
    actor: Actor, ticket: Ticket, changes: t.Mapping[str, t.Any]
) -> dict[str, tuple[t.Any, t.Any]]:
    """Validate and apply field changes after :func:`policy.check_update` allowed them.

    Records nothing: the caller records one :class:`~flask_supportdesk.events.TicketUpdated`
    with everything its call changed (see :func:`record_changes`).

    :return: the fields that really changed, as ``{name: (old, new)}``.
    """
    applied: dict[str, tuple[t.Any, t.Any]] = {}
    parsed: dict[str, t.Any] = {}
    for name, value in changes.items():
        if name == "subject":
            parsed[name] = _validate.subject(value)
        elif name == "status":
            parsed[name] = _validate.choice(Status, value, "status")
        elif name == "priority":
            parsed[name] = _validate.choice(Priority, value, "priority")
        elif name == "category":
            parsed[name] = _validate.category(value)
        elif name == "department":
            parsed[name] = _department(value)
        elif name == "assignee":
            parsed[name] = _staff_member(actor, value)
    for name, value in parsed.items():
        if name == "subject" and value != ticket.subject:
            applied[name] = (ticket.subject, value)
            ticket.subject = value
        elif name == "priority" and value is not ticket.priority:
            applied[name] = (ticket.priority.value, value.value)
            ticket.priority = value
        elif name == "category" and value != ticket.category:
            applied[name] = (ticket.category, value)
            ticket.category = value
        elif name == "department" and value is not ticket.department:
            old = ticket.department.slug if ticket.department else None
            applied[name] = (old, value.slug if value else None)
            ticket.department = value
        elif name == "assignee" and (value.id if value else None) != ticket.assignee_id:
            applied[name] = (ticket.assignee_name or None, value.name if value else None)
            ticket.assignee_id = value.id if value else None
            ticket.assignee_name = value.name if value else ""
    if "status" in parsed:
        status_change = apply_status(ticket, parsed["status"])
        if status_change is not None:
            applied["status"] = status_change
    if applied:
        ticket.updated_at = utcnow()
    return applied


def record_changes(
    uow: UnitOfWork, actor: Actor, ticket: Ticket, changes: t.Mapping[str, tuple[t.Any, t.Any]]
) -> None:
    """Record what one call changed on ``ticket``: one update event, and a close event
    when the ticket was closed."""
    if not changes:
        return
    uow.record(events.TicketUpdated(actor, ticket, dict(changes)))
    if "status" in changes and changes["status"][1] == Status.CLOSED.value:
        uow.record(events.TicketClosed(actor, ticket))


def update_ticket(actor: Actor, number: str, changes: t.Mapping[str, t.Any]) -> Ticket:
    """Change a ticket's fields: ``subject``, ``status``, ``priority``, ``category``,
    ``department`` (a slug) and ``assignee`` (a staff id, or ``None``).

    Requesters may change the subject and close their ticket; staff may change anything.

    :raises NotFound: the actor may not see the ticket.
    :raises TicketClosed: the ticket is closed.
    :raises ForbiddenField: the actor may not set one of the fields (all are listed).
    :raises ValidationError: a value is invalid, or a field is unknown.
    """
    unknown = {k: _("Unknown field.") for k in changes if k not in UPDATABLE_FIELDS}
    if unknown:
        raise ValidationError(fields=unknown)
    changes = _with_status(changes)
    with transaction() as uow:
        return _change_locked(uow, actor, number, changes)


def _with_status(changes: t.Mapping[str, t.Any]) -> t.Mapping[str, t.Any]:
    # Policy compares the status as a member ("only closing"), so parse it first.
    if "status" not in changes:
        return changes
    return {**changes, "status": _validate.choice(Status, changes["status"], "status")}


def _change_locked(
    uow: UnitOfWork, actor: Actor, number: str, changes: t.Mapping[str, t.Any]
) -> Ticket:
    """Lock one ticket, ask policy, apply ``changes`` and record them (in ``uow``)."""
    ticket = policy.get_ticket(actor, number, for_update=True)
    policy.check_update(actor, ticket, changes)
    record_changes(uow, actor, ticket, apply_changes(actor, ticket, changes))
    return ticket


#: Fields a bulk action may set (the subject is one ticket's own).
BULK_FIELDS = ("status", "priority", "department", "assignee")


def update_many(
    actor: Actor, numbers: t.Sequence[str], changes: t.Mapping[str, t.Any]
) -> list[Ticket]:
    """Apply the same field changes to several tickets, all or nothing.

    Each ticket goes through the same policy and rules as :func:`update_ticket` and
    records its own events (one update event per ticket that changed). If any ticket
    refuses (not visible, closed, a field the actor may not set), nothing is changed and
    the error names that ticket.

    :param numbers: Public ticket numbers, at most ``SUPPORTDESK_MAX_PAGE_SIZE``.
    :param changes: ``status``, ``priority``, ``department`` (slug or ``None``) and
        ``assignee`` (staff id or ``None``).
    :raises ValidationError: no ticket, too many, a repeated number, no change, or a bad
        value.
    """
    unique = list(dict.fromkeys(str(number) for number in numbers))
    limit = get_state().config.max_page_size
    if not unique:
        raise ValidationError(fields={"tickets": _("Select at least one ticket.")})
    if len(unique) > limit:
        raise ValidationError(fields={"tickets": _("At most %(num)s tickets at once.", num=limit)})
    bad = {name: _("Not a bulk field.") for name in changes if name not in BULK_FIELDS}
    if bad:
        raise ValidationError(fields=bad)
    if not changes:
        raise ValidationError(fields={"changes": _("Choose what to change.")})
    changes = _with_status(changes)
    changed: list[Ticket] = []
    with transaction() as uow:
        # Sorted, so two bulk actions over the same tickets lock them in the same order.
        for number in sorted(unique):
            try:
                changed.append(_change_locked(uow, actor, number, changes))
            except SupportDeskError as exc:
                if not isinstance(exc, NotFound):
                    exc.message = f"{number}: {exc.message}"
                raise
    return changed


def close_ticket(actor: Actor, number: str) -> Ticket:
    """Close a ticket for good (the requester may do so at any time)."""
    return update_ticket(actor, number, {"status": Status.CLOSED})
