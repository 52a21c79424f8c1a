"""The Python API for the host's own code: views, CLI commands, Celery or RQ tasks.

Everything the desk's pages and JSON API do, a host can do from Python, under the same
rules (:mod:`~flask_supportdesk.policy`, validation, the timeline, signals)::

    from flask_supportdesk import open_ticket

    @celery.task
    def payment_failed(order_id):
        order = db.session.get(Order, order_id)
        open_ticket(
            requester=str(order.customer_id),
            subject=f"Payment for order {order.number} failed",
            body="Your card was declined. Reply here and we will help you pay.",
            category="payment",
            reference=("order", order.number),
            client_id=f"payment-failed-{order.id}",  # a retried task opens one ticket
        )

Every function needs an app context (``with app.app_context():`` in a task). ``by`` is
who acts (default: :meth:`Actor.system() <flask_supportdesk.Actor.system>`, the store
itself, which may do everything the top staff role may); ``viewer`` is whose view of the
result is returned (default: the system's, which shows everything).

**Transactions.** Each call is one transaction that the desk commits, and the signals are
sent after it. The desk never commits or rolls back your own pending work: a call made
while the session holds your uncommitted changes raises
:class:`~flask_supportdesk.errors.UncommittedHostChanges`. To make desk calls part of your
transaction, run them inside :func:`host_transaction`: then your ``commit()`` commits
them with your changes and announces them, and your ``rollback()`` leaves no trace.

Results are :mod:`~flask_supportdesk.presentation` views (frozen dataclasses), never ORM
objects of the desk's session.
"""

from __future__ import annotations

import typing as t

from . import policy
from .errors import ValidationError
from .i18n import gettext as _
from .models import Source
from .models import Status
from .presentation import DepartmentView
from .presentation import MessageView
from .presentation import TicketView
from .presentation import follow_up_numbers
from .presentation import message_view
from .presentation import ticket_view
from .services import departments as _departments
from .services import escalation as _escalation
from .services import inbound as _inbound
from .services import listing as _listing
from .services import messages as _messages
from .services import notifications as _notifications
from .services import tickets as _tickets
from .services._uow import host_transaction
from .services.attachments import Upload
from .services.inbound import Ingested
from .services.listing import Page
from .services.notifications import DeliveryReport
from .values import Actor

#: A reference as ``(kind, id)``, e.g. ``("order", "1042")``, or ``{"kind", "id"}``.
ReferenceArg: t.TypeAlias = "tuple[str, str] | t.Mapping[str, str] | None"


def _acting(actor: Actor | None) -> Actor:
    return Actor.system() if actor is None else actor


def _user_id(person: Actor | str | None, field: str) -> str | None:
    if person is None or isinstance(person, str):
        return person
    if not person.is_user:
        raise ValidationError(fields={field: _("Give a user of the store (an Actor or an id).")})
    return person.id


def _reference(reference: ReferenceArg) -> dict[str, str] | None:
    if reference is None:
        return None
    if isinstance(reference, tuple):
        kind, ref = reference
        return {"kind": kind, "id": ref}
    return dict(reference)


def open_ticket(
    *,
    requester: Actor | str,
    subject: str,
    body: str,
    category: str | None = None,
    department: str | None = None,
    priority: str | None = None,
    reference: ReferenceArg = None,
    attachments: t.Sequence[Upload] = (),
    client_id: str | None = None,
    source: Source = Source.API,
    by: Actor | None = None,
) -> TicketView:
    """Open a ticket for ``requester`` with its first message.

    :param requester: The customer (an :class:`~flask_supportdesk.Actor` or a host user
        id, looked up through ``supportdesk_load_user``).
    :param department: A department slug; otherwise routing decides.
    :param priority: ``low``, ``normal`` (default), ``high`` or ``urgent``.
    :param reference: The object the ticket is about, e.g. ``("order", "1042")``, resolved
        through ``supportdesk_resolve_reference`` for the requester (only their own).
    :param attachments: Files as :class:`~flask_supportdesk.services.attachments.Upload`
        (``Upload.from_bytes(name, data)``), checked like uploads.
    :param client_id: An idempotency key: calling again with the same key (from the same
        ``by``) returns the ticket the first call opened and writes nothing.
    :param source: Where the ticket came from (default ``api``).
    :param by: Who opens it (default: the system). A customer may only open their own.
    :raises ValidationError: a field breaks a rule, or the requester is unknown.
    :raises ForbiddenField: ``by`` is a customer setting staff-only fields.
    """
    actor = _acting(by)
    ticket = _tickets.open_ticket(
        actor,
        subject=subject,
        body=body,
        category=category,
        department=department,
        priority=priority,
        reference=_reference(reference),
        source=source,
        requester_id=_user_id(requester, "requester"),
        attachments=attachments,
        client_id=client_id,
    )
    return ticket_view(actor, ticket)


def post_message(
    number: str,
    body: str,
    *,
    channel: str = "public",
    status: str | Status | None = None,
    attachments: t.Sequence[Upload] = (),
    client_id: str | None = None,
    by: Actor | None = None,
) -> MessageView:
    """Post a public reply or (``channel="internal"``) an internal note on a ticket.

    The status rules apply as on the desk: a reply from staff or the system moves the
    ticket to ``status`` (default ``pending_customer``), a customer's to
    ``pending_admin``; a note changes no status unless one is given.

    :param client_id: An idempotency key: a repeated call returns the first message.
    :raises NotFound: ``by`` may not see the ticket.
    :raises TicketClosed: the ticket is closed.
    """
    actor = _acting(by)
    message = _messages.post_message(
        actor,
        number,
        body,
        channel=channel,
        status=status,
        attachments=attachments,
        client_id=client_id,
    )
    return message_view(actor, message.ticket, message)


def update_ticket(number: str, *, by: Actor | None = None, **changes: t.Any) -> TicketView:
    """Change fields of a ticket: ``subject``, ``status``, ``priority``, ``category``,
    ``department`` (a slug or ``None``) and ``assignee`` (a staff user id or ``None``).

    :raises NotFound: ``by`` may not see the ticket.
    :raises TicketClosed: the ticket is closed.
    :raises ForbiddenField: ``by`` may not set one of the fields.
    """
    actor = _acting(by)
    return ticket_view(actor, _tickets.update_ticket(actor, number, changes))


def escalate_ticket(number: str, *, reason: str = "", by: Actor | None = None) -> TicketView:
    """Escalate a ticket one level up the staff hierarchy, or beyond the top level to
    platform support (``supportdesk_escalate_beyond``). The reason is required and kept
    as an internal note.

    :raises ValidationError: no reason (field ``reason``).
    :raises Forbidden: ``by`` does not handle the ticket or ranks below its level.
    :raises Conflict: it was already handed beyond the top, or nobody takes it there.
    """
    actor = _acting(by)
    return ticket_view(actor, _escalation.escalate(actor, number, reason=reason))


def deliver_notifications(limit: int = 100, *, now: bool = False) -> DeliveryReport:
    """Deliver up to ``limit`` notifications of the outbox that are due, through every
    ``supportdesk_deliver_notification`` implementation (the built-in one sends
    e-mail), and record what became of each.

    What ``flask supportdesk deliver`` runs; call it from a periodic task of Celery, RQ
    or Dramatiq (:doc:`notifications`). Safe in several workers at once: each
    notification is claimed by one. A delivery that raises is retried later with
    exponential backoff, and given up after ``SUPPORTDESK_NOTIFICATION_MAX_ATTEMPTS``.

    :param now: Also deliver what waits for a later retry (after an outage).
    :return: How many were sent, are waiting for a retry, or were given up.
    """
    return _notifications.deliver(limit=limit, now=now)


def ingest_email(
    raw: bytes, *, sender: str | None = None, recipients: t.Sequence[str] = ()
) -> Ingested:
    """Take one inbound mail: thread it into its ticket, open one (when
    ``SUPPORTDESK_INBOUND_OPENS_TICKETS``), or ignore it (auto-replies, bounces, list
    mail). What ``flask supportdesk ingest-email`` and ``POST /inbound/email`` run, for a
    host that receives mail its own way (:ref:`inbound-email`).

    :param raw: The RFC 822 message.
    :param sender: The envelope sender if known (``""``: the null sender of a bounce).
    :param recipients: The envelope recipients if known (one may be the reply address).
    :raises SupportDeskError: the mail is refused; ``code`` says why (``mail_refused``,
        ``unreadable_mail``, ``mail_too_large``, ``too_many_parts``, ``ticket_closed``).
    """
    return _inbound.ingest(raw, sender=sender, recipients=recipients)


def get_ticket(number: str, *, viewer: Actor | None = None) -> TicketView:
    """One ticket as ``viewer`` sees it.

    :raises NotFound: no such ticket, or ``viewer`` may not see it.
    """
    actor = _acting(viewer)
    return ticket_view(actor, policy.get_ticket(actor, number))


def get_messages(
    number: str, *, viewer: Actor | None = None, after: int | None = None
) -> list[MessageView]:
    """The messages of a ticket ``viewer`` may read, oldest first (a customer reads the
    public channel only).

    :param after: Only messages with a larger id (catch up from the last one seen).
    :raises NotFound: ``viewer`` may not see the ticket.
    """
    actor = _acting(viewer)
    ticket = policy.get_ticket(actor, number)
    rows = _messages.list_messages(actor, ticket, after=after)
    return [message_view(actor, ticket, message) for message in rows]


def list_tickets(
    *,
    viewer: Actor | None = None,
    requester: Actor | str | None = None,
    assignee: Actor | str | None = None,
    status: str | Status | None = None,
    closed: bool | None = None,
    page: int = 1,
    page_size: int | None = None,
) -> Page[TicketView]:
    """Tickets ``viewer`` may see, most recently updated first, one page at a time.

    Filtered and paginated in SQL, so a page is right and costs the same however many
    tickets there are::

        # a customer's page in the store's back office, as this staff member may see it
        page = list_tickets(viewer=current_actor(), requester=str(customer.id))

    :param requester: Only tickets this customer requested.
    :param assignee: Only tickets assigned to this staff member.
    :param status: Only this status.
    :param closed: ``True`` only closed tickets, ``False`` only active ones.
    :raises ValidationError: a bad status, page or page size.
    """
    actor = _acting(viewer)
    filters = _listing.TicketFilters.parse(
        {
            "status": status.value if isinstance(status, Status) else status,
            "requester": _user_id(requester, "requester"),
            "assignee": _user_id(assignee, "assignee"),
        }
    )
    found = _listing.visible_tickets(actor, filters, closed=closed, page=page, page_size=page_size)
    follow_ups = follow_up_numbers(found.items)
    return Page(
        [ticket_view(actor, ticket, follow_ups) for ticket in found.items],
        found.page,
        found.page_size,
        found.has_next,
    )


def create_department(
    name: str, *, slug: str | None = None, description: str = "", by: Actor | None = None
) -> DepartmentView:
    """Create a department (store owners and the system may).

    :param slug: A stable identifier (default: from the name).
    :raises ValidationError: a missing name, or a slug that is invalid or taken.
    :raises Forbidden: ``by`` is not a store owner.
    """
    department = _departments.create_department(
        _acting(by), name=name, slug=slug, description=description
    )
    return DepartmentView(department.slug, department.name)


__all__ = [
    "create_department",
    "deliver_notifications",
    "escalate_ticket",
    "get_messages",
    "get_ticket",
    "host_transaction",
    "ingest_email",
    "list_tickets",
    "open_ticket",
    "post_message",
    "update_ticket",
]
