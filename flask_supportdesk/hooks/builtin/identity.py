"""Flask-Login's ``current_user`` as an :class:`~flask_supportdesk.Actor`."""

from __future__ import annotations

import typing as t

from ...values import Actor
from .. import hookimpl


@hookimpl(trylast=True)
def supportdesk_identify(user: t.Any) -> Actor | None:
    """Read ``get_id()``, ``name`` (or ``username``), ``email`` and ``supportdesk_role``."""
    user_id = user.get_id()
    if user_id is None:
        return None
    name = getattr(user, "name", None) or getattr(user, "username", None) or str(user_id)
    return Actor(
        id=str(user_id),
        name=str(name),
        email=str(getattr(user, "email", "") or ""),
        role=getattr(user, "supportdesk_role", None) or None,
    )
