"""The public contact form: a guest's question becomes a ``contact_form`` ticket.

:func:`submit` validates the form's fields, counts the submission against the rate
limits per e-mail address and per client address (``SUPPORTDESK_CONTACT_RATE_LIMIT_*``)
and opens a ticket of category ``general`` whose requester is the guest
(:meth:`Actor.guest <flask_supportdesk.Actor.guest>`). The outbox then tells the staff
of its level (``ticket_opened``) and sends the guest their receipt
(``ticket_acknowledged``) with a one-time guest link
(:mod:`~flask_supportdesk.services.guests`) to follow and answer the ticket.
"""

from __future__ import annotations

import typing as t

import email_validator

from .. import ratelimit
from .._state import get_state
from ..errors import ValidationError
from ..i18n import gettext as _
from ..models import Source
from ..values import Actor
from . import _validate
from . import tickets

#: The longest e-mail address accepted (RFC 5321's path limit).
MAX_EMAIL_LENGTH = 254
#: The category of contact-form tickets (DESIGN §5), when the store has it.
CATEGORY = "general"


def address(value: t.Any, field: str = "email") -> str:
    """One plain e-mail address (no display name, no list, no line break), normalised:
    stripped and lower-cased.

    :raises ValidationError: empty, too long, or not one valid address.
    """
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(fields={field: _("Required.")})
    value = _validate.storable(value.strip(), field)
    if len(value) > MAX_EMAIL_LENGTH:
        raise ValidationError(fields={field: _validate.too_long(MAX_EMAIL_LENGTH)})
    try:
        checked = email_validator.validate_email(value, check_deliverability=False)
    except email_validator.EmailNotValidError as exc:
        raise ValidationError(fields={field: _("Enter one valid e-mail address.")}) from exc
    return checked.normalized.lower()


def submit(
    *,
    name: t.Any,
    email: t.Any,
    subject: t.Any,
    body: t.Any,
    client_ip: str,
    client_id: t.Any = None,
) -> tickets.Opened:
    """Open a contact-form ticket for the guest ``email`` (every field checked first).

    A repeated ``client_id`` from the same address (a double click) returns the first
    ticket and writes nothing.

    :param client_ip: The client's address, for its rate limit (behind a proxy, the host
        sets Werkzeug's ``ProxyFix`` so that ``request.remote_addr`` is the visitor's).
    :raises ValidationError: a field is missing or invalid (a name or subject with a line
        break, more than one address); nothing is counted or written.
    :raises RateLimited: this address or client sent the form too often; nothing written.
    """
    checks: tuple[tuple[str, t.Callable[[], str]], ...] = (
        ("name", lambda: _validate.subject(name, "name")),
        ("email", lambda: address(email)),
        ("subject", lambda: _validate.subject(subject)),
        ("body", lambda: _validate.body(body)),
    )
    checked = _validate.each_field(checks)
    config = get_state().config
    ratelimit.hit("contact-address", checked["email"], config.contact_rate_limit_per_address)
    ratelimit.hit("contact-ip", client_ip or "unknown", config.contact_rate_limit_per_ip)
    guest = Actor.guest(checked["email"], checked["name"])
    category = CATEGORY if CATEGORY in config.categories else config.default_category
    return tickets.open(
        guest,
        subject=checked["subject"],
        body=checked["body"],
        category=category,
        source=Source.CONTACT_FORM,
        client_id=client_id,
    )
