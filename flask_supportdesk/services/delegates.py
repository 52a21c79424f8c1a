"""Delegates: the account holders a requester shares one ticket with.

The requester invites an address; the host's ``supportdesk_find_user`` must know an
account with it. The invitee gets a mail with a signed link (itsdangerous, expiring
after ``SUPPORTDESK_DELEGATE_INVITATION_MAX_AGE`` seconds) that carries the
invitation's id and a random nonce kept on its row: accepting clears the nonce, so the
link works once, and only for the invited account. An accepted delegate reads and
posts on the ticket's public channel (:mod:`flask_supportdesk.policy` decides); the
requester or the staff handling the ticket revoke them, which takes effect with the
commit. Each call is one transaction with its domain event (timeline, outbox, signal).
"""

from __future__ import annotations

import datetime as dt
import secrets
import typing as t

import email_validator
import sqlalchemy as sa
from flask import current_app
from itsdangerous import BadSignature
from itsdangerous import SignatureExpired
from itsdangerous import URLSafeTimedSerializer

from .. import events
from .. import policy
from .._state import get_state
from ..errors import EmailMismatch
from ..errors import NotFound
from ..errors import RateLimited
from ..errors import TokenExpired
from ..errors import TokenUsed
from ..errors import ValidationError
from ..i18n import gettext as _
from ..models import Delegate
from ..models import DelegateStatus
from ..models import Ticket
from ..models import utcnow
from ..values import Actor
from . import _validate
from ._uow import transaction

#: The salt of invitation links: a token signed for anything else never passes.
SALT = "flask-supportdesk.delegate-invitation"
#: The most invitations (pending or accepted) one ticket may have at once.
MAX_ACTIVE = 10
#: The most invitations one account may send in an hour, over all its tickets: the
#: invitation mail must not become a way to send mail to many addresses.
MAX_PER_HOUR = 20
#: The longest token the desk reads (a real one is about 90 characters).
MAX_TOKEN_LENGTH = 500


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def invitation_token(delegate: Delegate) -> str:
    """The signed token of a pending invitation's link (what the invitation mail links).

    :raises ValueError: the invitation is no longer pending (its link was used or
        revoked).
    """
    if delegate.nonce is None:
        raise ValueError("The invitation is no longer pending.")
    return _serializer().dumps({"d": delegate.id, "n": delegate.nonce})


def _address(value: t.Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(fields={"email": _("Required.")})
    if len(value) > 254 or not _validate.is_storable(value):
        raise ValidationError(fields={"email": _("Enter one e-mail address.")})
    try:
        checked = email_validator.validate_email(value.strip(), check_deliverability=False)
    except email_validator.EmailNotValidError:
        raise ValidationError(fields={"email": _("Enter one e-mail address.")}) from None
    return str(checked.normalized).lower()


def _active(ticket: Ticket) -> list[Delegate]:
    stmt = sa.select(Delegate).where(
        Delegate.ticket_id == ticket.id, Delegate.status != DelegateStatus.REVOKED
    )
    return list(get_state().db.session.scalars(stmt))


def invite(actor: Actor, number: str, email: t.Any) -> Delegate:
    """Invite the account holder with ``email`` to follow the ticket as a delegate.

    :raises NotFound: the actor may not see the ticket.
    :raises TicketClosed: the ticket is closed.
    :raises Forbidden: the actor is not its requester (delegates invite nobody).
    :raises ValidationError: not an address, no account uses it, it is the requester's
        own, it is invited already, the ticket has :data:`MAX_ACTIVE` delegates, or
        nothing delivers notifications (the invitation is a mail).
    :raises RateLimited: the actor sent :data:`MAX_PER_HOUR` invitations in the last hour.
    """
    address = _address(email)
    if not get_state().delivers_notifications:  # the link could never reach them
        raise ValidationError(
            fields={"email": _("This store cannot send e-mail yet, so it cannot send invitations.")}
        )
    with transaction() as uow:
        ticket = policy.get_ticket(actor, number, for_update=True)
        policy.check_invite_delegates(actor, ticket)
        _check_rate(actor)
        invitee = get_state().hooks.find_user(address)
        if invitee is None or not invitee.is_user:
            raise ValidationError(
                fields={"email": _("No account uses this address: delegates need an account.")}
            )
        if policy.is_requester(invitee, ticket):
            raise ValidationError(fields={"email": _("This is your own account.")})
        active = _active(ticket)
        if any(d.user_id == invitee.id for d in active):
            raise ValidationError(fields={"email": _("This account is invited already.")})
        if len(active) >= MAX_ACTIVE:
            raise ValidationError(
                fields={"email": _("At most %(num)s delegates per ticket.", num=MAX_ACTIVE)}
            )
        delegate = Delegate(
            ticket_id=ticket.id,
            email=address,
            user_id=invitee.id,
            name=invitee.name,
            status=DelegateStatus.INVITED,
            invited_by_id=actor.user_id,
            invited_by_name=actor.name,
            nonce=secrets.token_urlsafe(24),
            created_at=utcnow(),
        )
        session = get_state().db.session
        session.add(delegate)
        session.flush()
        uow.record(events.DelegateInvited(actor, ticket, delegate))
    return delegate


def _check_rate(actor: Actor) -> None:
    """:raises RateLimited: ``actor`` sent :data:`MAX_PER_HOUR` invitations in the last
    hour (revoked ones count: inviting and revoking must not get round it)."""
    since = utcnow() - dt.timedelta(hours=1)
    stmt = sa.select(Delegate.created_at).where(
        Delegate.invited_by_id == actor.user_id, Delegate.created_at > since
    )
    recent = list(
        get_state().db.session.scalars(stmt.order_by(Delegate.created_at).limit(MAX_PER_HOUR))
    )
    if len(recent) >= MAX_PER_HOUR:
        error = RateLimited(_("You sent many invitations. Please try again later."))
        # When the oldest of them leaves the hour.
        error.retry_after = max(1, int((recent[0] - since).total_seconds()) + 1)
        raise error


def _read_token(token: t.Any) -> tuple[int, str]:
    """The invitation id and nonce a token carries.

    :raises NotFound: not a token the desk signed (tampered, cut, empty).
    :raises TokenExpired: signed, but older than the setting allows.
    """
    not_found = NotFound(_("This invitation link is not valid."))
    if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN_LENGTH:
        raise not_found
    max_age = get_state().config.delegate_invitation_max_age
    try:
        data = _serializer().loads(token, max_age=max_age)
    except SignatureExpired:
        raise TokenExpired() from None
    except BadSignature:
        raise not_found from None
    if (
        not isinstance(data, dict)
        or not _validate.is_object_id(data.get("d"))
        or not isinstance(data.get("n"), str)
    ):
        raise not_found
    return int(data["d"]), data["n"]


def invitation(actor: Actor, token: t.Any) -> Delegate:
    """The pending invitation a link carries, if ``actor`` may accept it (the accept
    page shows it before the invitee confirms). Changes nothing.

    :raises NotFound: not a valid link.
    :raises TokenExpired: the link is too old.
    :raises EmailMismatch: the invitation is for another account.
    :raises TokenUsed: it was accepted or revoked already.
    """
    delegate_id, nonce = _read_token(token)
    delegate = get_state().db.session.get(Delegate, delegate_id)
    if delegate is None:
        raise NotFound(_("This invitation link is not valid."))
    if not actor.is_user or delegate.user_id != actor.id:
        raise EmailMismatch()
    if delegate.nonce is None or not secrets.compare_digest(delegate.nonce, nonce):
        raise TokenUsed()
    return delegate


def accept(actor: Actor, token: t.Any) -> Delegate:
    """Accept the invitation a link carries: ``actor`` becomes a delegate of its ticket.

    The link works once: its nonce is cleared in the same statement that checks it, so
    of two simultaneous accepts one wins and the other is told it was used.

    :raises NotFound: not a valid link (tampered, cut, empty).
    :raises TokenExpired: the link is older than ``SUPPORTDESK_DELEGATE_INVITATION_MAX_AGE``.
    :raises EmailMismatch: ``actor`` is not the invited account.
    :raises TokenUsed: the invitation was accepted or revoked already.
    """
    with transaction() as uow:
        delegate = invitation(actor, token)
        table = t.cast(sa.Table, Delegate.__table__)
        now = utcnow()
        session = get_state().db.session
        result = session.execute(
            sa.update(table)
            .where(
                table.c.id == delegate.id,
                table.c.nonce == delegate.nonce,
                table.c.status == DelegateStatus.INVITED.value,
            )
            .values(status=DelegateStatus.ACCEPTED.value, nonce=None, accepted_at=now)
        )
        if t.cast(sa.CursorResult[t.Any], result).rowcount != 1:
            raise TokenUsed()
        session.refresh(delegate)
        ticket = session.get_one(Ticket, delegate.ticket_id)
        uow.record(events.DelegateAccepted(actor, ticket, delegate))
    return delegate


def revoke(actor: Actor, number: str, delegate_id: t.Any) -> Delegate:
    """Revoke a delegate or a pending invitation of the ticket, at once (revoking a
    revoked one changes nothing).

    :raises NotFound: the actor may not see the ticket, or it has no such delegate.
    :raises Forbidden: the actor is neither its requester nor staff handling it.
    """
    delegate_id = _validate.object_id(delegate_id, "Delegate")
    with transaction() as uow:
        ticket = policy.get_ticket(actor, number, for_update=True)
        policy.check_manage_delegates(actor, ticket)
        session = get_state().db.session
        delegate = session.scalar(
            sa.select(Delegate).where(Delegate.id == delegate_id, Delegate.ticket_id == ticket.id)
        )
        if delegate is None:
            raise NotFound(_("Delegate not found."))
        if delegate.status is DelegateStatus.REVOKED:
            return delegate
        delegate.status = DelegateStatus.REVOKED
        delegate.nonce = None
        delegate.revoked_at = utcnow()
        delegate.revoked_by_id = actor.user_id
        uow.record(events.DelegateRevoked(actor, ticket, delegate))
    return delegate


def list_delegates(actor: Actor, ticket: Ticket) -> list[Delegate]:
    """Every invitation of ``ticket`` (pending, accepted, revoked), oldest first.

    :raises Forbidden: the actor is neither its requester nor staff handling it.
    """
    policy.check_manage_delegates(actor, ticket)
    return list(get_state().db.session.scalars(_OF_TICKET, {"ticket_id": ticket.id}))


def accepted_delegates(ticket: Ticket) -> list[Actor]:
    """The accepted delegates of ``ticket``, as recipients (the outbox)."""
    hooks = get_state().hooks
    found = get_state().db.session.scalars(_ACCEPTED_OF_TICKET, {"ticket_id": ticket.id})
    return [hooks.load_user(d.user_id) or Actor(d.user_id, d.name, d.email) for d in found]


# Built once, the ticket a parameter: every ticket page and every staff reply asks them,
# and building a statement cost about what running it does.
_OF_TICKET = (
    sa.select(Delegate)
    .where(Delegate.ticket_id == sa.bindparam("ticket_id"))
    .order_by(Delegate.id)
)
_ACCEPTED_OF_TICKET = sa.select(Delegate).where(
    Delegate.ticket_id == sa.bindparam("ticket_id"),
    Delegate.status == DelegateStatus.ACCEPTED,
)
