"""Who is connected, in every server process: staff presence, and a user's connections.

Each live connection of a host user is a :class:`~flask_supportdesk.models.Connection`
row (its Socket.IO session id, the user, whether they connected as staff), written when
it connects and deleted when it goes; ``seen_at`` is refreshed while it lives. The
database is shared by every process, so any process can answer:

- which connections a user has (:func:`sids_of`): to take a revoked delegate out of a
  ticket's room or disconnect a user who logged out, whichever process holds them;
- whether a staff member is **online** (a fresh connection, and not set **away** by
  their own toggle), **away** (connected, but not taking chats) or **offline**
  (:func:`staff_status`), and whether anyone is online to answer a new chat
  (:func:`anyone_online`).

A process that dies leaves its rows behind; they stop counting once ``seen_at`` is older
than ``SUPPORTDESK_PRESENCE_TIMEOUT`` and are swept by the next connection.

Every change that moves a staff member between online, away and offline records a
:class:`~flask_supportdesk.events.PresenceChanged` event, announced after commit.
"""

from __future__ import annotations

import datetime as dt
import enum
import typing as t

import sqlalchemy as sa

from .. import events
from .. import policy
from .._state import get_state
from ..models import Connection
from ..models import StaffPresence
from ..models import utcnow
from ..values import Actor
from ._uow import transaction


class Presence(str, enum.Enum):
    """A staff member's presence as colleagues and the chat routing see it."""

    ONLINE = "online"
    AWAY = "away"
    OFFLINE = "offline"


def _fresh_since() -> dt.datetime:
    return utcnow() - dt.timedelta(seconds=get_state().config.presence_timeout)


def _status_of(user_id: str) -> Presence:
    session = get_state().db.session
    live = session.scalar(
        sa.select(sa.func.count())
        .select_from(Connection)
        .where(
            Connection.user_id == user_id,
            Connection.staff.is_(True),
            Connection.seen_at >= _fresh_since(),
        )
    )
    if not live:
        return Presence.OFFLINE
    away = session.scalar(sa.select(StaffPresence.away).where(StaffPresence.user_id == user_id))
    return Presence.AWAY if away else Presence.ONLINE


def _announce_if_changed(uow: t.Any, actor: Actor, before: Presence) -> None:
    after = _status_of(actor.id)
    if after is not before:
        uow.record(events.PresenceChanged(actor, actor.id, after.value))


def connected(sid: str, actor: Actor) -> None:
    """Keep the new connection ``sid`` of the host user ``actor`` (guests are not kept)."""
    if not actor.is_user:
        return
    staff = policy.is_staff(actor)
    now = utcnow()
    with transaction() as uow:
        session = get_state().db.session
        # Rows a dead process left behind: nobody refreshes them any more.
        session.execute(sa.delete(Connection).where(Connection.seen_at < _fresh_since()))
        before = _status_of(actor.id) if staff else None
        session.merge(
            Connection(sid=sid, user_id=actor.id, staff=staff, connected_at=now, seen_at=now)
        )
        session.flush()
        if before is not None:
            _announce_if_changed(uow, actor, before)


def disconnected(sid: str, actor: Actor) -> None:
    """Forget the connection ``sid`` (it closed, or the server dropped it)."""
    if not actor.is_user:
        return
    with transaction() as uow:
        session = get_state().db.session
        staff = policy.is_staff(actor)
        before = _status_of(actor.id) if staff else None
        session.execute(sa.delete(Connection).where(Connection.sid == sid))
        if before is not None:
            _announce_if_changed(uow, actor, before)


#: Connections refreshed by one statement (an ``IN`` list of this many ids at most).
_REFRESH_BATCH = 500


def refresh(*sids: str) -> None:
    """Mark the connections ``sids`` as still alive, in one transaction."""
    now = utcnow()
    with transaction():
        session = get_state().db.session
        for start in range(0, len(sids), _REFRESH_BATCH):
            batch = sids[start : start + _REFRESH_BATCH]
            session.execute(
                sa.update(Connection).where(Connection.sid.in_(batch)).values(seen_at=now)
            )


def set_away(actor: Actor, away: bool) -> Presence:
    """A staff member's own toggle: ``away`` takes them out of the chat routing while
    they stay connected. Returns their presence now.

    :raises Forbidden: ``actor`` is not staff.
    """
    from ..errors import Forbidden
    from ..i18n import gettext as _

    if not policy.is_staff(actor):
        raise Forbidden(_("Only staff have a presence."))
    with transaction() as uow:
        session = get_state().db.session
        before = _status_of(actor.id)
        session.merge(StaffPresence(user_id=actor.id, away=bool(away), changed_at=utcnow()))
        session.flush()
        _announce_if_changed(uow, actor, before)
    return _status_of(actor.id)


def is_away(user_id: str) -> bool:
    """Whether staff member ``user_id`` set themselves away (their own toggle, one query)."""
    stmt = sa.select(StaffPresence.away).where(StaffPresence.user_id == user_id)
    return bool(get_state().db.session.scalar(stmt))


def staff_status(user_ids: t.Iterable[str]) -> dict[str, Presence]:
    """The presence of each of these staff members, in two queries."""
    ids = list(dict.fromkeys(user_ids))
    if not ids:
        return {}
    session = get_state().db.session
    live = set(
        session.scalars(
            sa.select(Connection.user_id)
            .where(
                Connection.user_id.in_(ids),
                Connection.staff.is_(True),
                Connection.seen_at >= _fresh_since(),
            )
            .distinct()
        )
    )
    away = set(
        session.scalars(
            sa.select(StaffPresence.user_id).where(
                StaffPresence.user_id.in_(ids), StaffPresence.away.is_(True)
            )
        )
    )
    return {
        uid: Presence.OFFLINE
        if uid not in live
        else (Presence.AWAY if uid in away else Presence.ONLINE)
        for uid in ids
    }


def _online_statement() -> sa.Select[t.Any]:
    away = sa.select(StaffPresence.user_id).where(StaffPresence.away.is_(True))
    return sa.select(Connection.user_id).where(
        Connection.staff.is_(True),
        Connection.seen_at >= _fresh_since(),
        Connection.user_id.not_in(away),
    )


def online_staff() -> list[str]:
    """The ids of the staff members online now (connected and not away)."""
    stmt = _online_statement().distinct()
    return list(get_state().db.session.scalars(stmt))


def anyone_online() -> bool:
    """Whether any staff member is online to answer a chat now."""
    return get_state().db.session.scalar(_online_statement().limit(1)) is not None


def sids_of(user_id: str) -> list[str]:
    """The live connections of host user ``user_id``, in every process."""
    stmt = sa.select(Connection.sid).where(Connection.user_id == user_id)
    return list(get_state().db.session.scalars(stmt))


__all__ = [
    "Presence",
    "anyone_online",
    "connected",
    "disconnected",
    "is_away",
    "online_staff",
    "refresh",
    "set_away",
    "sids_of",
    "staff_status",
]
