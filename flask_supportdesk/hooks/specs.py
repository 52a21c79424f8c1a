"""Hook specifications: every place where the desk asks the host for an answer.

Each docstring is the reference documentation of its hook. Call hooks with keyword
arguments only, so an implementation may accept fewer arguments than the spec.
Built-in implementations are registered with ``trylast=True``: a host's implementation
always wins, whatever the registration order.
"""

from __future__ import annotations

import typing as t

from . import hookspec

if t.TYPE_CHECKING:
    from ..models import Ticket
    from ..values import Actor
    from ..values import OutgoingNotification
    from ..values import Reference
    from ..values import Route

# -------------------------------------------------------------------------------------
# Identity: who the host's users are
# -------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def supportdesk_identify(user: t.Any) -> Actor | None:
    """Return the :class:`~flask_supportdesk.Actor` for the logged-in host user.

    Called on every desk request with Flask-Login's ``current_user`` (already checked to
    be authenticated). Set ``role`` to a role of ``supportdesk_role_hierarchy`` for staff
    and to ``None`` for customers.

    Stops at first non-None result. The built-in implementation reads ``user.get_id()``
    and the attributes ``name`` (or ``username``), ``email`` and ``supportdesk_role``.

    :param user: Flask-Login's ``current_user``.

    .. versionadded:: 0.1
    """


@hookspec(firstresult=True)
def supportdesk_load_user(user_id: str) -> Actor | None:
    """Return the :class:`~flask_supportdesk.Actor` for a host user id, or ``None``.

    Called when the desk needs a person it only knows by id: a new assignee, the
    requester of a ticket staff file on a customer's behalf.

    Stops at first non-None result. The built-in implementation returns ``None``.

    :param user_id: The id, as the string ``supportdesk_identify`` put in ``Actor.id``.

    .. versionadded:: 0.1
    """


@hookspec(firstresult=True)
def supportdesk_find_user(email: str) -> Actor | None:
    """Return the account holder with this e-mail address, or ``None``.

    Used for delegate invitations and inbound e-mail.

    Stops at first non-None result. The built-in implementation returns ``None``.

    :param email: A normalised e-mail address.

    .. versionadded:: 0.1
    """


@hookspec(firstresult=True)
def supportdesk_staff_members() -> t.Sequence[Actor] | None:
    """Return the staff members tickets can be assigned to.

    Fills the assignee choice on the staff desk. Not in the founding design: assignment
    needs a list of candidates, which only the host knows.

    Stops at first non-None result. The built-in implementation returns ``None``; staff can
    then assign tickets only to themselves.

    .. versionadded:: 0.1
    """


# -------------------------------------------------------------------------------------
# Staff organisation: roles, departments, routing, escalation
# -------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def supportdesk_role_hierarchy() -> t.Sequence[str] | None:
    """Return the staff role names, lowest first (e.g. ``["agent", "manager", "owner"]``).

    The highest role sees every ticket and manages departments. Escalation moves a ticket
    one role up.

    Stops at first non-None result. The built-in implementation returns
    ``SUPPORTDESK_ROLE_HIERARCHY``.

    .. versionadded:: 0.1
    """


@hookspec(firstresult=True)
def supportdesk_staff_departments(actor: Actor) -> t.Sequence[str] | None:
    """Return the slugs of the departments a staff member works in, or ``None`` for all.

    Staff see the tickets of their departments (and tickets without a department) whose
    entry level is at or below their own role, plus the tickets assigned to them.

    Stops at first non-None result. The built-in implementation returns ``None``.

    :param actor: A staff member.

    .. versionadded:: 0.1
    """


@hookspec(firstresult=True)
def supportdesk_route_ticket(ticket: Ticket) -> Route | None:
    """Return a :class:`~flask_supportdesk.Route` for a new ticket, or ``None``.

    Called before the ticket is first saved; the route's department (a slug) and assignee
    are applied unless the ticket already has them.

    Stops at first non-None result. The built-in implementation returns ``None``.

    :param ticket: The new ticket (not yet committed).

    .. versionadded:: 0.1
    """


@hookspec(firstresult=True)
def supportdesk_escalate_beyond(ticket: Ticket, actor: Actor, reason: str) -> str | None:
    """Hand a ticket beyond the top staff level (to the platform vendor, the store's IT).

    Called **after** the escalation is committed, from the notification outbox: by the
    request that escalated (``SUPPORTDESK_DELIVER_AFTER_COMMIT``) or by ``flask
    supportdesk deliver``, never while the desk holds the ticket's lock. Write what you
    keep in your own transaction (commit it yourself). Return a reference for the
    ticket and its timeline (an external ticket id, an address it was sent to).

    Raising, or returning ``None``, means "try again later": the hand-off is retried
    with backoff and, after ``SUPPORTDESK_NOTIFICATION_MAX_ATTEMPTS``, shown to the store
    owner among the failed deliveries. It may be called again after it succeeded (a
    worker that died before recording it): answer the same reference for a ticket you
    already took.

    Stops at first non-None result. There is no built-in implementation: without one,
    the desk refuses the escalation ("no platform support is configured").

    :param ticket: The ticket, already at the top level.
    :param actor: Who escalates.
    :param reason: Why, as the staff member wrote it.

    .. versionadded:: 0.1
    .. versionchanged:: 0.1
       Called after commit through the outbox, not inside the escalation's transaction.
    """


# -------------------------------------------------------------------------------------
# Store context
# -------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def supportdesk_resolve_reference(kind: str, ref: str, actor: Actor) -> Reference | None:
    """Describe a related object (``kind="order"``, ``ref="1042"``) for ``actor``.

    Return a :class:`~flask_supportdesk.Reference`, or ``None`` when the object does not
    exist **or is not the actor's**: a customer may only link what is theirs, and the
    desk refuses a reference this hook does not resolve.

    Stops at first non-None result. The built-in implementation returns ``None``.

    :param kind: The kind of object, e.g. ``"order"``.
    :param ref: Its id in the host.
    :param actor: Who links it (for a staff member filing for a customer, the staff member).

    .. versionadded:: 0.1
    """


# -------------------------------------------------------------------------------------
# Delivery and storage
# -------------------------------------------------------------------------------------


@hookspec
def supportdesk_deliver_notification(notification: OutgoingNotification) -> None:
    """Deliver one notification (e-mail, SMS, webhook...).

    Called after commit, by the request that caused the notification
    (``SUPPORTDESK_DELIVER_AFTER_COMMIT``) or by ``flask supportdesk deliver`` /
    :func:`~flask_supportdesk.deliver_notifications` in a worker. Every implementation
    is called; the built-in one sends e-mail over SMTP when ``SUPPORTDESK_MAIL_SERVER``
    is set. ``notification`` is an :class:`~flask_supportdesk.OutgoingNotification`:
    ``kind``, ``recipient``, ``subject``, ``text``, ``html``, ``ticket_number``,
    ``url``, the idempotency ``key``, and the threading fields ``message_id`` and
    ``reply_to``.

    Raising means "retry later": the notification is tried again with exponential
    backoff, every implementation again, so an implementation that may be retried after
    it delivered should skip a ``key`` it has already handled. After
    ``SUPPORTDESK_NOTIFICATION_MAX_ATTEMPTS`` it is given up, with the error kept.

    :param notification: The notification to deliver, rendered in the recipient's
        language.

    .. versionadded:: 0.1
    """


@hookspec(firstresult=True)
def supportdesk_store_attachment(
    stream: t.BinaryIO, filename: str, content_type: str, size: int
) -> str | None:
    """Store an attachment's bytes and return a key to find them again.

    The desk has already checked the type, size and name. The key is stored on the
    attachment row and given back to ``supportdesk_open_attachment``.

    Stops at first non-None result. The built-in implementation writes to
    ``SUPPORTDESK_ATTACHMENT_FOLDER`` under a random name.

    :param stream: A binary file object positioned at the start.
    :param filename: The sanitised original file name (for storages that keep it).
    :param content_type: The sniffed content type.
    :param size: The size in bytes.

    .. versionadded:: 0.1
    """


@hookspec(firstresult=True)
def supportdesk_open_attachment(key: str) -> t.BinaryIO | None:
    """Open a stored attachment for reading, or return ``None`` if it is not yours.

    Stops at first non-None result.

    :param key: What ``supportdesk_store_attachment`` returned.

    .. versionadded:: 0.1
    """


@hookspec(firstresult=True)
def supportdesk_delete_attachment(key: str) -> bool | None:
    """Delete a stored attachment; return ``True`` when it was yours.

    Called to remove files whose message was not saved, so a failed upload leaves no
    orphan file. Not in the founding design, which had no way to clean up.

    Stops at first non-None result.

    :param key: What ``supportdesk_store_attachment`` returned.

    .. versionadded:: 0.1
    """
