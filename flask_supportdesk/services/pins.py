"""Support PINs (DESIGN §3): a short code a customer reads to staff on the phone.

A customer sees their PIN in the portal at any time (:func:`pin_for_owner` makes one on
first sight) and may regenerate it (:func:`regenerate`), which makes the old one stop
matching at once. Staff never see a PIN: they type what the caller reads out, and
:func:`verify` tells them only whether it matched, on a ticket (its requester's PIN,
recorded on the ticket's timeline as "PIN verified" or "PIN did not match") or on a
customer named by e-mail or id.

**Storage.** The PIN must be shown to its owner again, so it is kept recoverable:
encrypted with AES-256-GCM (``cryptography``) under a key derived from the app's
``SECRET_KEY`` with HKDF-SHA256 (its own ``info``, so the key is used for nothing else),
with a random nonce per PIN and the owner's user id as associated data (a row copied
onto another user does not decrypt). A database dump alone reveals no PIN; rotating
``SECRET_KEY`` makes the stored PINs unreadable, and each customer simply gets a new
one the next time they look (staff checks answer "no PIN" until then).

**Guessing.** A PIN has few digits, so verification attempts are limited per customer
and per staff member (``SUPPORTDESK_PIN_RATE_LIMIT_PER_CUSTOMER`` and ``..._PER_STAFF``,
through :mod:`flask_supportdesk.ratelimit`; shared across processes when its storage is
Redis). Every attempt counts, matched or not; a locked check raises
:class:`~flask_supportdesk.errors.RateLimited` and records nothing. The comparison is
constant-time (:func:`hmac.compare_digest`).
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import hmac
import secrets
import typing as t

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

from .. import events
from .. import policy
from .. import ratelimit
from .._state import get_state
from ..errors import Forbidden
from ..errors import ValidationError
from ..i18n import gettext as _
from ..models import SupportPin
from ..models import utcnow
from ..values import Actor
from ._uow import transaction

#: The version prefix of stored secrets (a new scheme gets a new prefix).
_SCHEME = "v1:"
#: HKDF's ``info``: this key is for support PINs only.
_KEY_INFO = b"flask-supportdesk support-pin v1"


def _key() -> bytes:
    secret = current_app.secret_key
    if not secret:
        raise RuntimeError("Support PINs need the app's SECRET_KEY.")
    material = secret if isinstance(secret, bytes) else str(secret).encode("utf-8")
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_KEY_INFO)
    return hkdf.derive(material)


def _encrypt(pin: str, user_id: str) -> str:
    nonce = secrets.token_bytes(12)
    sealed = AESGCM(_key()).encrypt(nonce, pin.encode("ascii"), user_id.encode("utf-8"))
    return _SCHEME + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")


def _decrypt(row: SupportPin) -> str | None:
    """The PIN of ``row``, or ``None`` when it cannot be read (another ``SECRET_KEY``)."""
    if not row.secret.startswith(_SCHEME):
        return None
    try:
        raw = base64.urlsafe_b64decode(row.secret[len(_SCHEME) :])
        plain = AESGCM(_key()).decrypt(raw[:12], raw[12:], row.user_id.encode("utf-8"))
    except (InvalidTag, ValueError):
        return None
    return plain.decode("ascii")


def _new_pin() -> str:
    length = get_state().config.pin_length
    return str(secrets.randbelow(10**length)).zfill(length)


def _row(user_id: str, *, for_update: bool = False) -> SupportPin | None:
    stmt = sa.select(SupportPin).where(SupportPin.user_id == user_id)
    if for_update:
        stmt = stmt.with_for_update()
    return get_state().db.session.scalar(stmt)


@dataclasses.dataclass(frozen=True)
class OwnPin:
    """A customer's own PIN, as the portal shows it to them (and only to them)."""

    pin: str
    created_at: t.Any
    rotated_at: t.Any


def _require_owner(actor: Actor) -> str:
    if actor.user_id is None:
        raise Forbidden(_("Only customers with an account have a support PIN."))
    return actor.user_id


def pin_for_owner(actor: Actor) -> OwnPin:
    """The actor's own support PIN, made on first sight (or again when the stored one
    can no longer be read).

    :raises Forbidden: the actor has no host account (a guest, the system).
    """
    user_id = _require_owner(actor)
    row = _row(user_id)
    pin = _decrypt(row) if row is not None else None
    if row is not None and pin is not None:
        return OwnPin(pin, row.created_at, row.rotated_at)
    return _store_new(actor, user_id, replace=False)


def regenerate(actor: Actor) -> OwnPin:
    """Give the actor a new support PIN; the old one stops matching at once.

    :raises Forbidden: the actor has no host account.
    """
    return _store_new(actor, _require_owner(actor), replace=True)


def _store_new(actor: Actor, user_id: str, *, replace: bool) -> OwnPin:
    pin = _new_pin()
    now = utcnow()
    try:
        with transaction() as uow:
            row = _row(user_id, for_update=True)
            if row is None:
                row = SupportPin(user_id=user_id, created_at=now)
                get_state().db.session.add(row)
            elif not replace and _decrypt(row) is not None:
                # Another request made it meanwhile: that one is the PIN.
                return OwnPin(t.cast(str, _decrypt(row)), row.created_at, row.rotated_at)
            else:
                row.rotated_at = now
            row.secret = _encrypt(pin, user_id)
            if replace:
                uow.record(events.PinChanged(actor))
    except sa.exc.IntegrityError:
        # Two first looks raced and the other one won: show the PIN it stored.
        if replace:
            raise
        return pin_for_owner(actor)
    return OwnPin(pin, row.created_at, row.rotated_at)


class Outcome(str, enum.Enum):
    """What a PIN check found."""

    #: The PIN the caller gave is the customer's.
    MATCHED = "matched"
    #: It is not.
    MISMATCH = "mismatch"
    #: The customer has no (readable) PIN yet: they look it up in the portal first.
    NO_PIN = "no_pin"


@dataclasses.dataclass(frozen=True)
class PinCheck:
    """The answer to a PIN check: the outcome and whose PIN it was (never the PIN)."""

    outcome: Outcome
    customer_id: str

    @property
    def matched(self) -> bool:
        """Whether the PIN matched."""
        return self.outcome is Outcome.MATCHED


def _given_pin(value: t.Any) -> str:
    if not isinstance(value, str):
        raise ValidationError(fields={"pin": _("Must be text.")})
    digits = "".join(ch for ch in value if ch not in " -")
    if not digits:
        raise ValidationError(fields={"pin": _("Required.")})
    if not (digits.isascii() and digits.isdigit()) or len(digits) > 12:
        raise ValidationError(fields={"pin": _("A support PIN is digits only.")})
    return digits


def verify(
    actor: Actor, pin: t.Any, *, number: str | None = None, customer: Actor | None = None
) -> PinCheck:
    """Check the PIN a caller read out against a customer's: the requester of ticket
    ``number`` (recorded on its timeline) or ``customer``.

    :raises NotFound: no such ticket, or not visible to the actor.
    :raises Forbidden: the actor is not staff, or does not handle the ticket.
    :raises ValidationError: the PIN is not digits, or the ticket's requester has no
        account (a guest has no PIN); nothing is counted.
    :raises RateLimited: too many checks on this customer or by this staff member;
        nothing is recorded.
    """
    ticket = None
    if number is not None:
        ticket = policy.get_ticket(actor, number)
        policy.require_staff(actor, ticket, _("Only staff may check a support PIN."))
        customer_id = ticket.requester_id
        if customer_id is None:
            raise ValidationError(
                fields={"pin": _("The requester has no account, so no support PIN.")}
            )
    elif customer is not None and customer.user_id is not None:
        if not policy.is_staff(actor):
            raise Forbidden(_("Only staff may check a support PIN."))
        customer_id = customer.user_id
    else:
        raise ValidationError(fields={"customer": _("Give the customer or the ticket.")})
    given = _given_pin(pin)
    config = get_state().config
    ratelimit.hit("pin-customer", customer_id, config.pin_rate_limit_per_customer)
    ratelimit.hit("pin-staff", actor.id, config.pin_rate_limit_per_staff)
    row = _row(customer_id)
    stored = _decrypt(row) if row is not None else None
    if stored is None:
        outcome = Outcome.NO_PIN
    elif hmac.compare_digest(stored.encode("ascii"), given.encode("ascii")):
        outcome = Outcome.MATCHED
    else:
        outcome = Outcome.MISMATCH
    if outcome is Outcome.NO_PIN:
        return PinCheck(outcome, customer_id)  # nothing was compared: nothing to record
    with transaction() as uow:
        if ticket is not None:
            ticket = policy.get_ticket(actor, ticket.number)  # in this transaction
        uow.record(
            events.PinChecked(actor, customer_id, outcome is Outcome.MATCHED, ticket=ticket)
        )
    return PinCheck(outcome, customer_id)
