"""The Socket.IO namespace ``/supportdesk``: the desk's public live protocol (DESIGN §5).

Thin, like a blueprint: each handler checks the event's shape, asks the services (which
ask :mod:`~flask_supportdesk.policy`) and acknowledges with the result. What the change
tells other clients is emitted after commit by :mod:`flask_supportdesk.broadcast`,
never here.

**Connecting.** A chat visitor passes its conversation token as the connection's
``auth`` (``{"token": "..."}``); a logged-in user is known by the host's session cookie.
Anyone else is refused (``connect_error`` with ``{code, message}``). On connect the
server puts the connection in the rooms its identity implies (its user room, staff
rooms, the visitor's chat); ticket rooms are joined with ``join``, which the policy
checks against the database.

**Events** (client -> server, each acknowledged):

================================  =====================================================
``join {ticket}``                  ``{ok, ticket, read}``: the ticket as this actor sees
                                   it, and how far each side has read it
``leave {ticket}``                 ``{ok}``
``send {ticket, body, channel?,    ``{ok, message}``: the stored message; the same one for
client_id}``                       a repeated ``client_id``
``sync {ticket, after}``           ``{ok, messages, ticket}``: every visible message after
                                   that id, in order, and the ticket as it is now
``typing {ticket, channel?}``      ``{ok}``; others in the room get ``typing``
``read {ticket, message}``         ``{ok}``; the read receipt is stored ("Seen")
``presence {status}``              staff: ``{ok, status}`` (``online`` or ``away``); also
                                   refreshes the connection's liveness
================================  =====================================================

Errors are ``{ok: false, error: {code, message, fields?}}`` with the API's codes
(``validation_error``, ``not_found``, ``rate_limited``, ``payload_too_large``, ...).

Server -> client: ``message {ticket, message}``, ``ticket {ticket}``, ``typing {ticket,
channel, user}``, ``read {ticket, message, reader}``, ``presence``, and ``inbox {ticket,
source}`` (staff: a ticket of the lists changed; fetch them again), and to the staff
in a ticket's room ``viewing {ticket, user, state}`` (``viewing`` or ``left``) when a
colleague joins or leaves it.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import typing as t

from flask import Flask
from flask import current_app
from flask import request
from flask_login import user_logged_out
from flask_socketio import Namespace
from flask_socketio import join_room
from flask_socketio import leave_room
from socketio.exceptions import ConnectionRefusedError

from . import broadcast
from . import policy
from . import ratelimit
from ._state import get_state
from .broadcast import NAMESPACE
from .errors import Forbidden
from .errors import NotFound
from .errors import PayloadTooLarge
from .errors import SupportDeskError
from .errors import Unauthorized
from .errors import ValidationError
from .i18n import gettext as _
from .identity import current_actor
from .models import Channel
from .presentation import thread_views
from .presentation import ticket_view
from .services import _validate
from .services import chats
from .services import messages
from .services import presence
from .services import receipts
from .values import Actor

log = logging.getLogger("flask_supportdesk")

#: Most messages one ``sync`` returns; the client asks again from the last one.
SYNC_LIMIT = 200

Ack = dict[str, t.Any]


def error_ack(exc: SupportDeskError) -> Ack:
    """A desk error as the protocol's failed acknowledgement."""
    error: dict[str, t.Any] = {"code": exc.code, "message": exc.message}
    if exc.fields:
        error["fields"] = dict(exc.fields)
    if exc.retry_after is not None:
        error["retry_after"] = exc.retry_after
    return {"ok": False, "error": error}


def _event_data(
    data: t.Any, allowed: t.Collection[str], required: t.Collection[str]
) -> dict[str, t.Any]:
    """The event's payload if it is an object of known fields within the size limit.

    :raises ValidationError: not an object, an unknown field, a missing one.
    :raises PayloadTooLarge: larger than ``SUPPORTDESK_SOCKET_MAX_EVENT_SIZE``.
    """
    if not isinstance(data, dict):
        raise ValidationError(_("The event must be an object."))
    size = len(json.dumps(data, ensure_ascii=False, default=str).encode("utf-8", "surrogatepass"))
    if size > get_state().config.socket_max_event_size:
        raise PayloadTooLarge(_("The event is larger than allowed."))
    problems = {str(k): _("Unknown field.") for k in data if k not in allowed}
    problems.update({k: _("Required.") for k in required if data.get(k) in (None, "")})
    if problems:
        raise ValidationError(fields=problems)
    return data


def _ticket_number(data: t.Mapping[str, t.Any]) -> str:
    number = data.get("ticket")
    if not isinstance(number, str):
        raise ValidationError(fields={"ticket": _("Must be a ticket number.")})
    return number


def _channel(data: t.Mapping[str, t.Any]) -> Channel:
    return _validate.choice(Channel, data.get("channel") or Channel.PUBLIC.value, "channel")


def handler(
    allowed: t.Collection[str] = (), required: t.Collection[str] = ()
) -> t.Callable[[t.Callable[..., Ack]], t.Callable[..., Ack]]:
    """Wrap an event handler: find the actor, check and count the event, and turn every
    failure into an error acknowledgement (never an exception the client cannot see)."""

    def wrap(func: t.Callable[..., Ack]) -> t.Callable[..., Ack]:
        @functools.wraps(func)
        def run(self: SupportDeskNamespace, data: t.Any = None) -> Ack:
            try:
                actor = self.actor()
                ratelimit.hit("socket", self._sid(), get_state().config.socket_rate_limit)
                checked = _event_data(data, allowed, required)
                return func(self, actor, checked)
            except SupportDeskError as exc:
                return error_ack(exc)
            except Exception:
                log.exception("The live event %r failed", func.__name__)
                get_state().db.session.rollback()
                return {
                    "ok": False,
                    "error": {
                        "code": "internal_error",
                        "message": _("Something went wrong. Please try again."),
                    },
                }

        return run

    return wrap


@dataclasses.dataclass
class _Live:
    """One connection of this process: who it authenticated as, and the tickets whose
    staff room it joined (id -> number), to tell colleagues it left when it goes."""

    actor: Actor
    viewing: dict[int, str] = dataclasses.field(default_factory=dict)


class SupportDeskNamespace(Namespace):
    """The ``/supportdesk`` namespace (see the module doc for the protocol)."""

    def __init__(self, namespace: str = NAMESPACE) -> None:
        super().__init__(namespace)
        # The connections this process holds, by session id. Only this process needs
        # them (the connection lives here); what others need is in the database.
        self._live: dict[str, _Live] = {}
        self._keeping_alive = False

    @staticmethod
    def _sid() -> str:
        return t.cast(str, request.sid)  # type: ignore[attr-defined]

    def actor(self) -> Actor:
        """The connection's actor, checked again on every event: a user is identified
        through the hooks each time (a changed role counts at once); a visitor is the
        one its token named at connect.

        :raises Unauthorized: the user is no longer logged in.
        """
        live = self._live.get(self._sid())
        if live is None:
            raise Unauthorized()
        kept = live.actor
        if kept.is_user:
            actor = current_actor()
            if actor is None or actor.id != kept.id:
                raise Unauthorized()
            return actor
        return kept

    def _keep_alive(self, app: Flask) -> None:
        """Refresh, every third of ``SUPPORTDESK_PRESENCE_TIMEOUT``, the database rows
        of the connections this process holds: a process that dies stops refreshing, and
        its rows stop counting (presence) without anyone having to say goodbye."""
        interval = get_state(app).config.presence_timeout / 3
        while True:
            get_state(app).socketio.sleep(interval)
            sids = list(self._live)
            if not sids:
                continue
            try:
                with app.app_context():
                    presence.refresh(*sids)
            except Exception:
                log.exception("Could not refresh this process's live connections")

    def _start_keep_alive(self) -> None:
        if self._keeping_alive:
            return
        self._keeping_alive = True
        app = t.cast(Flask, current_app._get_current_object())  # type: ignore[attr-defined]
        get_state(app).socketio.start_background_task(self._keep_alive, app)

    def on_connect(self, auth: t.Any = None) -> None:
        """Authenticate the connection and put it in the rooms its identity implies."""
        try:
            actor = self._authenticate(auth)
        except SupportDeskError as exc:
            raise ConnectionRefusedError(exc.message, error_ack(exc)["error"]) from None
        sid = self._sid()
        if actor.is_user:
            join_room(broadcast.user_room(actor.id))
        scope = policy.staff_scope(actor)
        if scope is not None:
            join_room(broadcast.STAFF_ROOM)
            join_room(broadcast.level_room(scope.role))
        else:
            join_room(broadcast.WIDGETS_ROOM)
        if actor.conversation is not None:
            # A visitor's connection is for its one chat: in its room from the start.
            try:
                ticket = policy.get_ticket(actor, actor.conversation)
            except NotFound:
                missing = NotFound(policy.NOT_FOUND_TICKET)
                raise ConnectionRefusedError(missing.message, error_ack(missing)["error"]) from None
            join_room(broadcast.public_room(ticket.id))
        presence.connected(sid, actor)
        self._live[sid] = _Live(actor)
        self._start_keep_alive()

    def _authenticate(self, auth: t.Any) -> Actor:
        # Counted before anything else: one client opening hundreds of connections is
        # refused whoever it claims to be (HOSTILE G4).
        ip = request.remote_addr or "unknown"
        ratelimit.hit("socket-connect-ip", ip, get_state().config.socket_connect_rate_limit)
        token = auth.get("token") if isinstance(auth, dict) else None
        if token is not None:
            return chats.read_token(token)
        actor = current_actor()
        if actor is None:
            raise Unauthorized()
        return actor

    def on_disconnect(self, reason: t.Any = None) -> None:
        """Forget the connection (rooms go with it)."""
        sid = self._sid()
        live = self._live.pop(sid, None)
        if live is not None:
            for ticket_id, number in live.viewing.items():
                _viewing(live.actor, ticket_id, number, "left")
            try:
                presence.disconnected(sid, live.actor)
            except Exception:
                log.exception("Could not forget connection %s", sid)

    @handler(allowed={"ticket"}, required={"ticket"})
    def on_join(self, actor: Actor, data: dict[str, t.Any]) -> Ack:
        """Join a ticket's room (the policy decides which: customer or staff side)."""
        ticket = policy.get_ticket(actor, _ticket_number(data))
        if policy.audience(actor, ticket).handles:
            join_room(broadcast.staff_room(ticket.id))
            self._live[self._sid()].viewing[ticket.id] = ticket.number
            _viewing(actor, ticket.id, ticket.number, "viewing")
        else:
            join_room(broadcast.public_room(ticket.id))
        view = ticket_view(actor, ticket).to_json()
        return {"ok": True, "ticket": view, "read": receipts.seen(actor, ticket).to_json()}

    @handler(allowed={"ticket"}, required={"ticket"})
    def on_leave(self, actor: Actor, data: dict[str, t.Any]) -> Ack:
        """Leave a ticket's rooms (no policy needed: leaving is always allowed)."""
        ticket = policy.get_ticket(actor, _ticket_number(data))
        leave_room(broadcast.public_room(ticket.id))
        leave_room(broadcast.staff_room(ticket.id))
        if self._live[self._sid()].viewing.pop(ticket.id, None) is not None:
            _viewing(actor, ticket.id, ticket.number, "left")
        return {"ok": True}

    @handler(allowed={"ticket", "body", "channel", "client_id"}, required={"ticket", "body"})
    def on_send(self, actor: Actor, data: dict[str, t.Any]) -> Ack:
        """Post a message; the server sets the author, the policy the channel rules."""
        number = _ticket_number(data)
        posted = messages.post(
            actor, number, data.get("body"), channel=_channel(data), client_id=data.get("client_id")
        )
        # The ticket post() checked and locked, as the broadcast left it: reading it again
        # through the policy cost a query and a tenth of the send (bench/chat.py).
        kept = broadcast.committed_message_json(posted.message)
        if kept is not None:  # built inside the transaction: no query after the commit
            return {"ok": True, "message": kept}
        ticket = posted.ticket or policy.get_ticket(actor, number)
        view = thread_views(actor, ticket, [posted.message])[0]
        return {"ok": True, "message": view.to_json()}

    @handler(allowed={"ticket", "after"}, required={"ticket"})
    def on_sync(self, actor: Actor, data: dict[str, t.Any]) -> Ack:
        """Everything visible after the client's last seen message id, in order."""
        ticket = policy.get_ticket(actor, _ticket_number(data))
        after = data.get("after")
        if after in (None, 0):
            after = 0
        elif not _validate.is_object_id(after):
            raise ValidationError(fields={"after": _("Must be a message id.")})
        found = messages.list_messages(actor, ticket, after=int(after), limit=SYNC_LIMIT)
        return {
            "ok": True,
            "messages": [view.to_json() for view in thread_views(actor, ticket, found)],
            "ticket": ticket_view(actor, ticket).to_json(),
            "more": len(found) == SYNC_LIMIT,
        }

    @handler(allowed={"ticket", "channel"}, required={"ticket"})
    def on_typing(self, actor: Actor, data: dict[str, t.Any]) -> Ack:
        """Tell the others in the room that ``actor`` is typing (nothing is stored)."""
        ticket = policy.get_ticket(actor, _ticket_number(data))
        channel = _channel(data)
        staff = policy.audience(actor, ticket).handles
        if channel is Channel.INTERNAL and not staff:
            raise NotFound(_("Ticket not found."))
        payload = {
            "ticket": ticket.number,
            "channel": channel.value,
            "user": {"name": actor.name, "staff": staff},
        }
        get_state().socketio.emit(
            "typing",
            payload,
            to=broadcast.rooms_for_channel(ticket, channel),
            skip_sid=self._sid(),
            namespace=NAMESPACE,
        )
        return {"ok": True}

    @handler(allowed={"ticket", "message"}, required={"ticket", "message"})
    def on_read(self, actor: Actor, data: dict[str, t.Any]) -> Ack:
        """Store a read receipt up to ``message``."""
        receipts.mark_read(actor, _ticket_number(data), data.get("message"))
        return {"ok": True}

    @handler(allowed={"status"})
    def on_presence(self, actor: Actor, data: dict[str, t.Any]) -> Ack:
        """Staff: set ``online`` or ``away`` (without a status: only stay alive)."""
        status = data.get("status")
        if status is None:
            presence.refresh(self._sid())  # a client's own "still here"
            return {"ok": True}
        if status not in ("online", "away"):
            raise ValidationError(fields={"status": _("Must be online or away.")})
        if not policy.is_staff(actor):
            raise Forbidden(_("Only staff have a presence."))
        now = presence.set_away(actor, status == "away")
        return {"ok": True, "status": now.value}


def _viewing(actor: Actor, ticket_id: int, number: str, state: str) -> None:
    """Tell the other staff in a ticket's room that ``actor`` opened it or went
    (``viewing {ticket, user, state}``: the desk's "Ann is viewing")."""
    payload = {"ticket": number, "user": {"id": actor.id, "name": actor.name}, "state": state}
    try:
        get_state().socketio.emit(
            "viewing",
            payload,
            to=broadcast.staff_room(ticket_id),
            skip_sid=request.sid,  # type: ignore[attr-defined]
            namespace=NAMESPACE,
        )
    except Exception:
        log.exception("Could not announce %r on ticket %s", state, number)


def init_realtime(app: Flask, socketio: t.Any) -> None:
    """Register the namespace on ``socketio`` (the host's, or one made for the desk),
    and close a user's live connections when they log out of the host."""
    socketio.on_namespace(SupportDeskNamespace(NAMESPACE))
    user_logged_out.connect(_logged_out, app)


def _logged_out(sender: Flask, user: t.Any = None, **extra: t.Any) -> None:
    # Flask-SocketIO keeps the session a connection started with: without this, a
    # connection would stay logged in after the HTTP logout (Flask-SocketIO #1253).
    if user is None or not getattr(user, "is_authenticated", False):
        return
    actor = get_state().hooks.identify(user)
    if actor is not None:
        broadcast.disconnect_user(actor.id)


__all__ = ["NAMESPACE", "SupportDeskNamespace", "error_ack", "init_realtime"]
