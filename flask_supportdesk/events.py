"""Domain events: what a service changed, recorded on its unit of work.

A service never sends a signal, writes a timeline row or (later) an outbox row or a
socket emit itself. It records a typed event on the unit of work
(:meth:`~flask_supportdesk.services._uow.UnitOfWork.record`), and the events are consumed
in two phases:

**Before commit**, inside the transaction, by consumers that must write with the change:
what they add is committed with it, or rolled back with it. The ticket's timeline
(:mod:`flask_supportdesk.services.timeline`) is one; the notification outbox will be
another. A consumer that raises rolls the whole change back.

**After commit**, once the change is durable, by consumers that announce it: the
:mod:`~flask_supportdesk.signals` (and, later, Socket.IO emits). Each receiver is
isolated: one that raises is logged and never fails the request nor stops the receivers
after it. A change that is rolled back announces nothing.

Consumers are registered per app on the desk's state (``before_commit`` and
``after_commit`` lists of callables taking the list of events); built-in ones are added by
:meth:`~flask_supportdesk.SupportDesk.init_app`.
"""

from __future__ import annotations

import dataclasses
import logging
import typing as t

from blinker import Signal
from flask import Flask

from . import signals

if t.TYPE_CHECKING:
    from .models import Delegate
    from .models import Department
    from .models import Message
    from .models import Ticket
    from .values import Actor

log = logging.getLogger("flask_supportdesk")

#: What a consumer of either phase is: it receives every event of one unit of work.
Consumer = t.Callable[[t.Sequence["DomainEvent"]], None]


@dataclasses.dataclass(frozen=True)
class DomainEvent:
    """Base class of the events; ``actor`` is who caused it."""

    actor: Actor

    #: The blinker signal that announces this event after commit (``None``: not announced).
    signal: t.ClassVar[Signal | None] = None

    def signal_kwargs(self) -> dict[str, t.Any]:
        """The documented keyword arguments of :attr:`signal` for this event."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


@dataclasses.dataclass(frozen=True)
class TicketOpened(DomainEvent):
    """A ticket was opened with its first message (``follow_up_of``: the closed ticket
    it continues)."""

    ticket: Ticket
    message: Message
    follow_up_of: Ticket | None = None

    signal = signals.ticket_opened

    def signal_kwargs(self) -> dict[str, t.Any]:
        """``ticket``, ``message`` and ``actor``."""
        return {"ticket": self.ticket, "message": self.message, "actor": self.actor}


@dataclasses.dataclass(frozen=True)
class FollowUpOpened(DomainEvent):
    """A follow-up ticket (``follow_up``) was opened to continue the closed ``ticket``."""

    ticket: Ticket
    follow_up: Ticket

    signal = signals.follow_up_opened


@dataclasses.dataclass(frozen=True)
class MessagePosted(DomainEvent):
    """A public reply or an internal note was posted (escalation notes included)."""

    ticket: Ticket
    message: Message

    signal = signals.message_posted


@dataclasses.dataclass(frozen=True)
class MessageEdited(DomainEvent):
    """A message's body was replaced; ``previous_body`` is kept as a revision."""

    ticket: Ticket
    message: Message
    previous_body: str

    signal = signals.message_edited


@dataclasses.dataclass(frozen=True)
class TicketUpdated(DomainEvent):
    """Fields of a ticket changed: ``changes`` maps each field to ``(old, new)``.

    Status changes made by a reply are announced here too.
    """

    ticket: Ticket
    changes: t.Mapping[str, tuple[t.Any, t.Any]]

    signal = signals.ticket_updated


@dataclasses.dataclass(frozen=True)
class TicketClosed(DomainEvent):
    """A ticket was closed for good (recorded after its :class:`TicketUpdated`)."""

    ticket: Ticket

    signal = signals.ticket_closed


@dataclasses.dataclass(frozen=True)
class TicketEscalated(DomainEvent):
    """A ticket moved one level up (``to_level``), or beyond the top (``to_level`` is
    ``None``: the hand-off to platform support follows after commit, through the outbox,
    and ``reference`` stays ``None``)."""

    ticket: Ticket
    from_level: str
    to_level: str | None
    reason: str
    reference: str | None = None

    signal = signals.ticket_escalated

    def signal_kwargs(self) -> dict[str, t.Any]:
        """``ticket``, ``actor``, ``from_level``, ``to_level`` and ``reason``."""
        kwargs = super().signal_kwargs()
        del kwargs["reference"]
        return kwargs


@dataclasses.dataclass(frozen=True)
class DepartmentChanged(DomainEvent):
    """A department was created or edited."""

    department: Department

    signal = signals.department_changed


@dataclasses.dataclass(frozen=True)
class DelegateInvited(DomainEvent):
    """The requester invited an account holder to ``ticket`` (``delegate`` is invited)."""

    ticket: Ticket
    delegate: Delegate

    signal = signals.delegate_invited


@dataclasses.dataclass(frozen=True)
class DelegateAccepted(DomainEvent):
    """The invitee (``actor``) accepted: ``delegate`` is accepted."""

    ticket: Ticket
    delegate: Delegate

    signal = signals.delegate_accepted


@dataclasses.dataclass(frozen=True)
class DelegateRevoked(DomainEvent):
    """A delegate or pending invitation was revoked (by the requester or staff)."""

    ticket: Ticket
    delegate: Delegate

    signal = signals.delegate_revoked


@dataclasses.dataclass(frozen=True)
class PinChecked(DomainEvent):
    """A staff member (``actor``) checked the support PIN of the host user
    ``customer_id``, on ``ticket`` or on the customer alone; never carries the PIN."""

    customer_id: str
    matched: bool
    ticket: Ticket | None = None

    signal = signals.pin_checked


@dataclasses.dataclass(frozen=True)
class PinChanged(DomainEvent):
    """A customer (``actor``) regenerated their support PIN."""

    signal = signals.pin_changed


@dataclasses.dataclass(frozen=True)
class PresenceChanged(DomainEvent):
    """Staff member ``user_id`` went ``online``, ``away`` or ``offline`` (their live
    connections or their own toggle); announced to staff and to the chat widgets."""

    user_id: str
    status: str


@dataclasses.dataclass(frozen=True)
class MessagesRead(DomainEvent):
    """``actor`` read ``ticket``'s thread up to ``message_id`` (a read receipt: "Seen");
    ``channel`` is that message's channel, so a note's receipt stays among staff."""

    ticket: Ticket
    message_id: int
    channel: str
    staff: bool


def send_signals(app: Flask, events: t.Sequence[DomainEvent]) -> None:
    """After commit: send each event's signal, every receiver isolated from the others."""
    for event in events:
        if event.signal is not None:
            send_isolated(app, event.signal, **event.signal_kwargs())


def send_isolated(app: Flask, signal: Signal, **kwargs: t.Any) -> None:
    """Send ``signal`` from ``app`` like :meth:`blinker.Signal.send`, except that a
    receiver that raises is logged and the others still run.

    The change is already committed: a failing observer must neither turn the request
    into an error nor keep the receivers after it from hearing of the change.
    """
    if not signal.receivers:
        return
    for receiver in signal.receivers_for(app):
        try:
            app.ensure_sync(receiver)(app, **kwargs)
        except Exception:
            log.exception("A receiver of %r failed: %r", getattr(signal, "name", signal), receiver)


def run_after_commit(consumers: t.Sequence[Consumer], events: t.Sequence[DomainEvent]) -> None:
    """Run the after-commit consumers, each isolated: the change is durable already."""
    for consumer in consumers:
        try:
            consumer(events)
        except Exception:
            log.exception("An after-commit consumer failed: %r", consumer)


__all__ = [
    "DelegateAccepted",
    "DelegateInvited",
    "DelegateRevoked",
    "DepartmentChanged",
    "DomainEvent",
    "FollowUpOpened",
    "MessageEdited",
    "MessagePosted",
    "MessagesRead",
    "PinChanged",
    "PinChecked",
    "PresenceChanged",
    "TicketClosed",
    "TicketEscalated",
    "TicketOpened",
    "TicketUpdated",
]
