"""Live chats: opening one from the widget, the visitor's conversation token, and who is
there to answer.

A chat is a ticket whose source is ``chat`` (DESIGN §3): it is opened, answered,
assigned, escalated and searched like any ticket, by the same services and policy. What
this module adds is the way in:

- :func:`open_chat` opens one for a logged-in customer (identified by the session) or a
  guest of the pre-chat form (first and last name, e-mail, optional phone), counted
  against the rate limits per client address and per e-mail address;
- a guest gets a **conversation token** (:func:`make_token`): signed with the app's
  ``SECRET_KEY`` (itsdangerous, its own salt), valid ``SUPPORTDESK_CHAT_TOKEN_MAX_AGE``
  seconds, renewable while valid (:func:`renew_token`), and bound to that one chat: the
  actor it names (:func:`read_token`) is an :meth:`Actor.guest
  <flask_supportdesk.Actor.guest>` whose ``conversation`` is the chat's number, so it
  sees that ticket and nothing else of the e-mail address it typed (nobody checked it);
- :func:`availability` tells the widget whether staff are online to answer now.
"""

from __future__ import annotations

import dataclasses
import typing as t

from flask import current_app
from itsdangerous import BadSignature
from itsdangerous import SignatureExpired
from itsdangerous import URLSafeTimedSerializer

from .. import policy
from .. import ratelimit
from .._state import get_state
from ..errors import Forbidden
from ..errors import ForbiddenField
from ..errors import TokenExpired
from ..errors import Unauthorized
from ..errors import ValidationError
from ..i18n import gettext as _
from ..i18n import lazy_gettext as _l
from ..models import Source
from ..models import Ticket
from ..values import Actor
from ..values import ActorKind
from . import _validate
from . import contact
from . import presence
from . import tickets

#: The itsdangerous salt of conversation tokens: no other signed value passes as one.
SALT = "flask-supportdesk.chat-token"
#: The longest token accepted (a real one is about 150 characters).
MAX_TOKEN_LENGTH = 1024
#: The longest first or last name, and phone number, of the pre-chat form.
MAX_NAME_LENGTH = 100
MAX_PHONE_LENGTH = 40
#: How much of the first message names a chat until staff give it a subject.
SUBJECT_LENGTH = 80

_PHONE_CHARACTERS = frozenset("0123456789+-()./ ")
_INVALID_TOKEN = _l("This conversation link is not valid. Please start a new chat.")


class ChatTokenExpired(TokenExpired):
    """A visitor's conversation token is older than ``SUPPORTDESK_CHAT_TOKEN_MAX_AGE``."""

    default_message = _l("This conversation has timed out. Please start a new chat.")


@dataclasses.dataclass(frozen=True)
class OpenedChat:
    """What :func:`open_chat` did: the chat's ticket, the guest's token (``None`` for a
    logged-in customer, whom the session identifies) and the actor who opened it."""

    ticket: Ticket
    token: str | None
    actor: Actor
    created: bool


def _serializer() -> URLSafeTimedSerializer:
    if not current_app.secret_key:
        raise RuntimeError("Chat tokens need the app's SECRET_KEY.")
    return URLSafeTimedSerializer(current_app.secret_key, salt=SALT)


def make_token(guest: Actor) -> str:
    """A signed conversation token for ``guest`` (an :meth:`Actor.guest` bound to one
    chat by its ``conversation``).

    :raises ValueError: ``guest`` is not a guest bound to a conversation.
    """
    if guest.kind is not ActorKind.GUEST or guest.conversation is None:
        raise ValueError("A conversation token is for a guest bound to one chat.")
    return _serializer().dumps({"e": guest.email, "n": guest.name, "t": guest.conversation})


def read_token(token: t.Any) -> Actor:
    """The chat visitor ``token`` names (valid, unexpired).

    :raises Unauthorized: not a token of this app (tampered, another secret or kind).
    :raises ChatTokenExpired: older than ``SUPPORTDESK_CHAT_TOKEN_MAX_AGE``.
    """
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        raise Unauthorized(_INVALID_TOKEN)
    try:
        data = _serializer().loads(token, max_age=get_state().config.chat_token_max_age)
    except SignatureExpired as exc:
        raise ChatTokenExpired() from exc
    except BadSignature as exc:
        raise Unauthorized(_INVALID_TOKEN) from exc
    if not (
        isinstance(data, dict)
        and all(isinstance(data.get(key), str) and data.get(key) for key in ("e", "t"))
        and isinstance(data.get("n", ""), str)
    ):
        raise Unauthorized(_INVALID_TOKEN)
    return Actor.guest(data["e"], data.get("n") or "", conversation=data["t"])


def renew_token(token: t.Any) -> str:
    """A fresh token for the visitor of a valid ``token``, if their chat still exists.

    :raises Unauthorized: the token is not valid, or its chat is gone.
    :raises ChatTokenExpired: the token expired already (the visitor starts a new chat).
    """
    guest = read_token(token)
    policy.get_ticket(guest, t.cast(str, guest.conversation))  # NotFound: chat deleted
    return make_token(guest)


def _name(value: t.Any, field: str, *, required: bool) -> str:
    if value in (None, "") and not required:
        return ""
    name = _validate.subject(value, field)
    if len(name) > MAX_NAME_LENGTH:
        raise ValidationError(fields={field: _validate.too_long(MAX_NAME_LENGTH)})
    return name


def _phone(value: t.Any) -> str | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise ValidationError(fields={"phone": _("Must be text.")})
    phone = value.strip()
    if len(phone) > MAX_PHONE_LENGTH:
        raise ValidationError(fields={"phone": _validate.too_long(MAX_PHONE_LENGTH)})
    if not phone or not set(phone) <= _PHONE_CHARACTERS or not any(c.isdigit() for c in phone):
        reason = _("Enter a phone number (digits, +, - and spaces).")
        raise ValidationError(fields={"phone": reason})
    return phone


def subject_from(body: str) -> str:
    """A provisional subject for a chat: the start of its first message, on one line."""
    line = " ".join(body.split())
    if len(line) > SUBJECT_LENGTH:
        line = line[: SUBJECT_LENGTH - 1].rstrip() + "…"
    return _validate.subject(line or _("Chat"))


def open_chat(
    actor: Actor | None,
    fields: t.Mapping[str, t.Any],
    *,
    client_ip: str,
) -> OpenedChat:
    """Open a chat with its first message.

    A logged-in customer (``actor``) sends only ``body`` (and optionally ``client_id``);
    a guest (``actor`` is ``None``) sends ``first_name``, ``last_name``, ``email``,
    optional ``phone`` and ``body``. A repeated ``client_id`` returns the first chat.

    :param client_ip: The client's address, for its rate limit.
    :raises ValidationError: a field is missing or invalid (every field is checked and
        reported at once); nothing is counted or written.
    :raises ForbiddenField: a logged-in user sent the guest's fields.
    :raises Forbidden: a staff member or the system tried to open a chat.
    :raises RateLimited: this address or client started too many chats.
    """
    config = get_state().config
    allowed = {"body", "client_id"}
    guest_fields = {"first_name", "last_name", "email", "phone"}
    if actor is None:
        allowed |= guest_fields
    unknown = sorted(set(fields) - allowed)
    if unknown:
        reason = _("Unknown field.")
        raise ForbiddenField(fields=dict.fromkeys(unknown, reason))
    if actor is not None and (not actor.is_user or policy.is_staff(actor)):
        raise Forbidden(_("Only customers and visitors start chats."))

    checks: list[tuple[str, t.Callable[[], t.Any]]] = [
        ("body", lambda: _validate.body(fields.get("body"))),
        ("client_id", lambda: _validate.client_id(fields.get("client_id"))),
    ]
    if actor is None:
        checks += [
            ("first_name", lambda: _name(fields.get("first_name"), "first_name", required=True)),
            ("last_name", lambda: _name(fields.get("last_name"), "last_name", required=False)),
            ("email", lambda: contact.address(fields.get("email"))),
            ("phone", lambda: _phone(fields.get("phone"))),
        ]
    checked = _validate.each_field(checks)

    who = checked.get("email") or t.cast(Actor, actor).id
    ratelimit.hit("chat-address", who, config.chat_rate_limit_per_address)
    ratelimit.hit("chat-ip", client_ip or "unknown", config.chat_rate_limit_per_ip)
    if actor is None:
        name = " ".join(filter(None, (checked["first_name"], checked["last_name"])))
        opener = Actor.guest(checked["email"], name)
    else:
        opener = actor
    opened = tickets.open(
        opener,
        subject=subject_from(checked["body"]),
        body=checked["body"],
        source=Source.CHAT,
        client_id=checked["client_id"],
        requester_phone=checked.get("phone"),
    )
    ticket = opened.ticket
    if actor is not None:
        return OpenedChat(ticket, None, actor, opened.created)
    guest = Actor.guest(opener.email, opener.name, conversation=ticket.number)
    return OpenedChat(ticket, make_token(guest), guest, opened.created)


@dataclasses.dataclass(frozen=True)
class Availability:
    """What the widget tells a visitor: whether staff are online to answer now, and
    otherwise how soon they usually reply (hours)."""

    online: bool
    reply_within_hours: int

    def to_json(self) -> dict[str, t.Any]:
        """``{"online", "reply_within_hours"}``."""
        return dataclasses.asdict(self)


def availability() -> Availability:
    """Whether any staff member is online (connected and not away)."""
    config = get_state().config
    return Availability(presence.anyone_online(), config.chat_offline_reply_hours)


__all__ = [
    "Availability",
    "ChatTokenExpired",
    "OpenedChat",
    "availability",
    "make_token",
    "open_chat",
    "read_token",
    "renew_token",
]
