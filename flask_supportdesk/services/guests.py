"""Guest links: how a contact without an account follows their tickets.

A guest (someone who wrote through the contact form) gets every mail of their ticket
with a signed link, ``/support/guest/<token>``. The token is signed with the app's
``SECRET_KEY`` (itsdangerous, its own salt), names the guest's e-mail address and the
ticket the mail is about, expires after ``SUPPORTDESK_GUEST_LINK_MAX_AGE`` and can be used
**once**: using it signs the guest in to the portal (:func:`~flask_supportdesk.identity.
sign_in_guest`) as :meth:`Actor.guest <flask_supportdesk.Actor.guest>` of that address,
like a magic-link sign-in. The guest then sees the guest tickets of that address (the
ones opened with it and no account), never a customer's, and may reply and close.

One use, because a mail is forwarded and mailboxes are shared: a link that was used is
spent (:class:`~flask_supportdesk.errors.GuestLinkUsed`), the next mail brings a new one.
Opening the link only shows a "Continue" button; the POST behind it spends the token, so
a mail scanner that fetches every link does not use it up.
"""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
import typing as t

import sqlalchemy as sa
from flask import current_app
from itsdangerous import BadSignature
from itsdangerous import SignatureExpired
from itsdangerous import URLSafeTimedSerializer

from .._state import get_state
from ..errors import GuestLinkExpired
from ..errors import GuestLinkUsed
from ..errors import NotFound
from ..i18n import gettext as _
from ..models import GuestLinkUse
from ..values import Actor
from ._uow import transaction

#: The itsdangerous salt of guest links: a token of another kind never passes as one.
SALT = "flask-supportdesk.guest-link"

#: The longest token accepted (a real one is about 130 characters).
MAX_TOKEN_LENGTH = 512


@dataclasses.dataclass(frozen=True)
class GuestLink:
    """What a valid guest link says: who (``email``) and which ticket it came with."""

    email: str
    ticket_number: str
    token: str

    @property
    def actor(self) -> Actor:
        """The guest this link signs in."""
        return Actor.guest(self.email)


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key or "", salt=SALT)


def make_token(email: str, ticket_number: str) -> str:
    """A new one-time token for ``email`` about ``ticket_number`` (each call a new one,
    so spending one mail's link leaves the others usable).

    :raises RuntimeError: the app has no ``SECRET_KEY``.
    """
    if not current_app.secret_key:
        raise RuntimeError("Guest links need the app's SECRET_KEY.")
    data = {"e": email.strip().lower(), "t": ticket_number, "n": secrets.token_urlsafe(9)}
    return _serializer().dumps(data)


def guest_url(email: str, ticket_number: str) -> str:
    """The absolute guest link for a mail to ``email`` about ``ticket_number``."""
    from .notifications import site_url

    token = make_token(email, ticket_number)
    prefix = get_state().config.url_prefix
    return site_url("supportdesk_contact.guest", prefix + "/guest/{token}", token=token)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def read(token: t.Any, *, used_ok: bool = False) -> GuestLink:
    """What ``token`` says, if it is valid and unused (or, with ``used_ok``, used);
    spends nothing.

    :raises NotFound: not a guest link of this app (tampered, another secret or salt).
    :raises GuestLinkExpired: older than ``SUPPORTDESK_GUEST_LINK_MAX_AGE``.
    :raises GuestLinkUsed: used already.
    """
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        raise NotFound(_("This link is not valid."))
    max_age = get_state().config.guest_link_max_age
    try:
        data = _serializer().loads(token, max_age=max_age)
    except SignatureExpired as exc:
        raise GuestLinkExpired() from exc
    except BadSignature as exc:
        raise NotFound(_("This link is not valid.")) from exc
    if not (isinstance(data, dict) and isinstance(data.get("e"), str)):
        raise NotFound(_("This link is not valid."))
    session = get_state().db.session
    used = sa.select(GuestLinkUse.id).where(GuestLinkUse.digest == _digest(token))
    if not used_ok and session.scalar(used) is not None:
        raise GuestLinkUsed()
    return GuestLink(email=data["e"], ticket_number=str(data.get("t") or ""), token=token)


def redeem(token: t.Any) -> GuestLink:
    """Spend ``token``: valid once, the first of two racing requests wins.

    :raises NotFound: not a guest link of this app.
    :raises GuestLinkExpired: too old.
    :raises GuestLinkUsed: used already (by an earlier or a simultaneous request).
    """
    link = read(token)
    try:
        with transaction():
            get_state().db.session.add(GuestLinkUse(digest=_digest(link.token)))
    except sa.exc.IntegrityError as exc:
        raise GuestLinkUsed() from exc
    return link
