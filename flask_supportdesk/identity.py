"""Who is acting in a request, and finding the people the desk is asked about.

:func:`current_actor` turns Flask-Login's ``current_user`` into an
:class:`~flask_supportdesk.Actor` through the ``supportdesk_identify`` hook, once per
request; every surface (pages, API, later sockets) and the host's own views ask it.
:func:`find_customer` resolves what staff type to name a customer (an e-mail address or a
host user id) through the ``supportdesk_find_user`` and ``supportdesk_load_user`` hooks.
"""

from __future__ import annotations

import time
import typing as t

from flask import Flask
from flask import g
from flask import session
from flask_login import current_user
from flask_login import user_logged_in
from flask_login import user_logged_out

from ._state import get_state
from .errors import Unauthorized
from .errors import ValidationError
from .i18n import gettext as _
from .services import _validate
from .values import Actor


def current_actor() -> Actor | None:
    """The logged-in user as an :class:`~flask_supportdesk.Actor` (asked once per
    request), else the guest signed in by a guest link (:func:`sign_in_guest`), or
    ``None`` for an anonymous visitor."""
    if "_supportdesk_actor" not in g:
        actor = None
        if current_user and current_user.is_authenticated:
            actor = get_state().hooks.identify(current_user._get_current_object())
        else:
            actor = _session_guest()
        g._supportdesk_actor = actor
    return t.cast("Actor | None", g._supportdesk_actor)


#: Where the signed-in guest is kept in the Flask session.
GUEST_SESSION_KEY = "supportdesk_guest"


def _session_guest() -> Actor | None:
    kept = session.get(GUEST_SESSION_KEY)
    if not isinstance(kept, dict):
        return None
    email, until = kept.get("email"), kept.get("until")
    if not isinstance(email, str) or not isinstance(until, (int, float)) or until < time.time():
        session.pop(GUEST_SESSION_KEY, None)  # expired (or not ours): signed out
        return None
    return Actor.guest(email, str(kept.get("name") or ""))


def sign_in_guest(guest: Actor) -> None:
    """Keep ``guest`` in the Flask session as the current actor of this browser, for
    ``SUPPORTDESK_GUEST_SESSION_MAX_AGE`` seconds (a host login or logout ends it).

    :param guest: An :meth:`Actor.guest <flask_supportdesk.Actor.guest>`.
    """
    until = int(time.time()) + get_state().config.guest_session_max_age
    session[GUEST_SESSION_KEY] = {"email": guest.email, "name": guest.name, "until": until}
    g.pop("_supportdesk_actor", None)


def sign_out_guest() -> None:
    """Forget the guest of this browser's session (if any)."""
    session.pop(GUEST_SESSION_KEY, None)
    g.pop("_supportdesk_actor", None)


def _forget_guest(sender: Flask, **extra: t.Any) -> None:
    if GUEST_SESSION_KEY in session:
        sign_out_guest()


def init_guest_sessions(app: Flask) -> None:
    """End a guest's session when someone logs in to or out of a host account in the
    same browser (Flask-Login's signals)."""
    user_logged_in.connect(_forget_guest, app)
    user_logged_out.connect(_forget_guest, app)


def require_actor() -> Actor:
    """The current actor.

    :raises Unauthorized: nobody is logged in.
    """
    actor = current_actor()
    if actor is None:
        raise Unauthorized()
    return actor


def find_customer(value: str | None, field: str = "requester") -> Actor | None:
    """The account holder named by an e-mail address or a host user id; ``None`` when
    ``value`` is empty.

    :raises ValidationError: nobody matches (on ``field``).
    """
    value = (value or "").strip()
    if not value:
        return None
    hooks = get_state().hooks
    if "@" in value:
        _validate.storable(value, field)
        found = hooks.find_user(value.lower()) or hooks.find_user(value)
    else:
        found = hooks.load_user(_validate.user_id(value, field))
    if found is None:
        raise ValidationError(fields={field: _("No customer with this e-mail or id.")})
    return found
