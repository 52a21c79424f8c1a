"""Live events: what each committed change tells the connected clients, and in which room.

:func:`prepare`, a before-commit consumer of the unit of work (see
:mod:`flask_supportdesk.events`), builds what each change tells which room, from the rows
as they are committed; :func:`broadcast`, an after-commit consumer, sends it once the
change is durable. A change that is rolled back announces nothing. Handlers never emit a
change themselves.

Rooms are named here, on the server, from the database's ids; a client never names one:

- ``ticket:<id>``: the ticket's customer side (requester, delegates, the chat visitor):
  public messages, the ticket as a customer sees it, read receipts of public messages;
- ``ticket:<id>:staff``: the staff handling it: every message of both channels, the
  ticket as staff see it, typing and receipts of both;
- ``user:<id>``: each host user's connections (a staff-started chat reaches the customer
  on whatever page they are, wherever they connected);
- ``level:<role>``: staff of one level, for the chat inbox's "something changed" hints;
- ``staff``: every staff connection (colleagues' presence); ``widgets``: every customer
  and visitor connection (whether anyone is online to answer).

With ``SUPPORTDESK_SOCKETIO_MESSAGE_QUEUE`` set, every emit goes through Redis to the
clients of all processes; a process without a Socket.IO server (a CLI command, the mail
ingester) emits through the queue the same way. Emitting is not delivering (an emit
during a Redis outage is dropped): clients catch up with ``sync`` from their last seen
message id when they reconnect, so nothing is lost for good.
"""

from __future__ import annotations

import dataclasses
import logging
import typing as t

from . import events as _events
from . import policy
from ._state import get_state
from .models import Channel
from .models import Message
from .models import Ticket
from .presentation import message_view
from .presentation import ticket_view
from .values import Actor

log = logging.getLogger("flask_supportdesk")

#: The Socket.IO namespace of the desk's public protocol (DESIGN §5).
NAMESPACE = "/supportdesk"
STAFF_ROOM = "staff"
WIDGETS_ROOM = "widgets"

_BOTH = (Channel.PUBLIC, Channel.INTERNAL)


def public_room(ticket_id: int) -> str:
    """The room of a ticket's customer side."""
    return f"ticket:{ticket_id}"


def staff_room(ticket_id: int) -> str:
    """The room of the staff handling a ticket."""
    return f"ticket:{ticket_id}:staff"


def user_room(user_id: str) -> str:
    """The room of every connection of one host user."""
    return f"user:{user_id}"


def level_room(role: str) -> str:
    """The room of the staff of one level."""
    return f"level:{role}"


def rooms_for_channel(ticket: Ticket, channel: Channel | str) -> list[str]:
    """Who may hear of something on ``channel`` of ``ticket``: both sides for public,
    staff only for internal."""
    if Channel(channel) is Channel.PUBLIC:
        return [public_room(ticket.id), staff_room(ticket.id)]
    return [staff_room(ticket.id)]


def requester_of(ticket: Ticket) -> Actor:
    """The ticket's requester as an actor, to build the customer's view of it."""
    if ticket.requester_id is not None:
        return Actor(ticket.requester_id, ticket.requester_name, ticket.requester_email)
    return Actor.guest(ticket.requester_email, ticket.requester_name, conversation=ticket.number)


def customer_ticket_json(ticket: Ticket) -> dict[str, t.Any]:
    """The ticket as its customer side sees it (no staff fields)."""
    return ticket_view(requester_of(ticket), ticket).to_json()


def staff_ticket_json(ticket: Ticket) -> dict[str, t.Any]:
    """The ticket as the staff handling it see it."""
    return ticket_view(Actor.system(), ticket).to_json()


def message_json(ticket: Ticket, message: Message) -> dict[str, t.Any]:
    """A message as the API shows it; the same for everyone allowed to read it."""
    return message_view(Actor.system(), ticket, message, channels=_BOTH).to_json()


#: Where :func:`prepare` keeps a message's JSON on the message object: not a mapped
#: attribute, so the commit's expiry leaves it, and the sender's acknowledgement is
#: answered from it without reloading the ticket, the message and its attachments.
_KEPT_JSON = "_supportdesk_committed_json"


def committed_message_json(message: Message) -> dict[str, t.Any] | None:
    """The JSON :func:`prepare` built for ``message`` in its transaction (the same for
    everyone who may read it), or ``None`` if none was built."""
    kept = vars(message).get(_KEPT_JSON)
    return t.cast("dict[str, t.Any] | None", kept)


def inbox_rooms(ticket: Ticket) -> list[str]:
    """The staff who may see ``ticket`` in their lists: the levels at or above the one it
    entered at, and its assignee (departments are checked when the list is fetched)."""
    roles = policy.roles()
    start = roles.index(ticket.entry_level) if ticket.entry_level in roles else 0
    rooms = [level_room(role) for role in roles[start:]]
    if ticket.assignee_id:
        rooms.append(user_room(ticket.assignee_id))
    return rooms


@dataclasses.dataclass(frozen=True)
class Emit:
    """One emit of a unit of work: ``event`` with ``data`` to the rooms ``to``."""

    event: str
    data: t.Any
    to: str | list[str]


@dataclasses.dataclass(frozen=True)
class Leave:
    """Take the connections ``sids`` out of ``room`` (a revoked delegate's)."""

    sids: tuple[str, ...]
    room: str


@dataclasses.dataclass(frozen=True)
class LiveUpdates(_events.DomainEvent):
    """What a unit of work will tell the connected clients once it is committed: the
    payloads are built inside the transaction, from the rows as they are committed, so
    announcing them needs no query after the commit (where a host's transaction allows
    none) and every payload shows exactly the committed state."""

    updates: tuple[Emit | Leave, ...]


class _Plan:
    """The emits of one unit of work, in order."""

    def __init__(self) -> None:
        self.updates: list[Emit | Leave] = []

    def emit(self, event: str, data: t.Any, to: str | list[str]) -> None:
        self.updates.append(Emit(event, data, to))

    def inbox(self, ticket: Ticket) -> None:
        self.emit(
            "inbox",
            {"ticket": ticket.number, "source": ticket.source.value},
            to=inbox_rooms(ticket),
        )

    def ticket(self, ticket: Ticket, *, customer_side: bool = True) -> None:
        self.emit("ticket", {"ticket": staff_ticket_json(ticket)}, to=staff_room(ticket.id))
        if customer_side:
            self.emit(
                "ticket", {"ticket": customer_ticket_json(ticket)}, to=public_room(ticket.id)
            )
        self.inbox(ticket)

    def leave(self, user_id: str | None, room: str) -> None:
        from .services import presence

        if user_id is not None:
            self.updates.append(Leave(tuple(presence.sids_of(user_id)), room))


def prepare(events: t.Sequence[_events.DomainEvent]) -> None:
    """Before commit: build what the change will tell the clients (see
    :class:`LiveUpdates`) and record it with the unit's events."""
    if get_state().socketio is None or not events:
        return
    plan = _Plan()
    for event in events:
        _plan_one(plan, event)
    if plan.updates:
        # The same list reaches the after-commit consumers (services/_uow.py).
        t.cast("list[_events.DomainEvent]", events).append(
            LiveUpdates(events[0].actor, tuple(plan.updates))
        )


def broadcast(events: t.Sequence[_events.DomainEvent]) -> None:
    """After commit: send what :func:`prepare` built (see the module doc)."""
    socketio = get_state().socketio
    if socketio is None:
        return
    for event in events:
        if isinstance(event, LiveUpdates):
            for update in event.updates:
                _send(socketio, update)


def _send(socketio: t.Any, update: Emit | Leave) -> None:
    # Each isolated: the change is durable; one failed emit must not stop the others.
    try:
        if isinstance(update, Emit):
            socketio.emit(update.event, update.data, to=update.to, namespace=NAMESPACE)
        else:
            for sid in update.sids:
                socketio.server.leave_room(sid, update.room, namespace=NAMESPACE)
    except Exception:
        log.exception("Could not send the live update %r", update)


def _plan_one(plan: _Plan, event: _events.DomainEvent) -> None:
    if isinstance(event, (_events.MessagePosted, _events.MessageEdited)):
        ticket, message = event.ticket, event.message
        payload = message_json(ticket, message)
        vars(message)[_KEPT_JSON] = payload
        posted = {"ticket": ticket.number, "message": payload}
        plan.emit("message", posted, to=rooms_for_channel(ticket, message.channel))
        plan.inbox(ticket)
    elif isinstance(event, _events.TicketOpened):
        ticket = event.ticket
        plan.inbox(ticket)
        if ticket.requester_id is not None and ticket.created_by_id != ticket.requester_id:
            # Opened by staff for the customer (a staff-started chat): it reaches them on
            # whatever page they have open; their client joins it by policy.
            plan.emit(
                "ticket",
                {"ticket": customer_ticket_json(ticket), "started_by_staff": True},
                to=user_room(ticket.requester_id),
            )
    elif isinstance(event, _events.TicketUpdated):
        customer_fields = set(event.changes) - {"level", "entry_level"}
        plan.ticket(event.ticket, customer_side=bool(customer_fields))
    elif isinstance(event, _events.TicketEscalated):
        plan.ticket(event.ticket, customer_side=False)
    elif isinstance(event, _events.MessagesRead):
        reader = {"name": event.actor.name, "staff": event.staff}
        data: dict[str, t.Any] = {
            "ticket": event.ticket.number,
            "message": event.message_id,
            "reader": reader,
        }
        plan.emit("read", data, to=rooms_for_channel(event.ticket, event.channel))
    elif isinstance(event, _events.PresenceChanged):
        from .services import presence

        who = {"id": event.user_id, "name": event.actor.name}
        plan.emit("presence", {"user": who, "status": event.status}, to=STAFF_ROOM)
        plan.emit("presence", {"online": presence.anyone_online()}, to=WIDGETS_ROOM)
    elif isinstance(event, _events.DelegateRevoked):
        plan.leave(event.delegate.user_id, public_room(event.ticket.id))


def disconnect_user(user_id: str) -> None:
    """Close every live connection of ``user_id`` (they logged out), in any process."""
    socketio = get_state().socketio
    if socketio is None:
        return
    from .services import presence

    for sid in presence.sids_of(user_id):
        try:
            socketio.server.disconnect(sid, namespace=NAMESPACE)
        except Exception:
            log.exception("Could not disconnect %s", sid)


__all__ = [
    "NAMESPACE",
    "STAFF_ROOM",
    "WIDGETS_ROOM",
    "Emit",
    "Leave",
    "LiveUpdates",
    "broadcast",
    "committed_message_json",
    "disconnect_user",
    "level_room",
    "prepare",
    "public_room",
    "rooms_for_channel",
    "staff_room",
    "user_room",
]
