"""Who is acting in a request, and finding the people the desk is asked about.

:func:`current_actor` turns Flask-Login's ``current_user`` into an
:class:`~flask_supportdesk.Actor` through the ``supportdesk_identify`` hook, once per
request; every surface (pages, API, later sockets) and the host's own views ask it.
:func:`find_customer` resolves what staff type to name a customer (an e-mail address or a
host user id) through the ``supportdesk_find_user`` and ``supportdesk_load_user`` hooks.
"""

from __future__ import annotations

import typing as t

from flask import g
from flask_login import current_user

from ._state import get_state
from .errors import Unauthorized
from .errors import ValidationError
from .i18n import gettext as _
from .services import _validate
from .values import Actor


def current_actor() -> Actor | None:
    """The logged-in user as an :class:`~flask_supportdesk.Actor` (asked once per
    request), or ``None`` for an anonymous visitor."""
    if "_supportdesk_actor" not in g:
        actor = None
        if current_user and current_user.is_authenticated:
            actor = get_state().hooks.identify(current_user._get_current_object())
        g._supportdesk_actor = actor
    return t.cast("Actor | None", g._supportdesk_actor)


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
