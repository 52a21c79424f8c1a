"""Small value objects that hooks exchange: :class:`Actor`, :class:`Reference`,
:class:`Route`, and what delivery plugins receive (:class:`OutgoingNotification`)."""

from __future__ import annotations

import dataclasses
import enum


class ActorKind(str, enum.Enum):
    """What kind of party an :class:`Actor` is."""

    #: An account of the host: a customer, or staff with a role.
    USER = "user"
    #: A contact with an e-mail and no host account (contact form, chat, inbound mail).
    GUEST = "guest"
    #: The store itself: the CLI, scheduled jobs, mail processing, the host's own code.
    SYSTEM = "system"


@dataclasses.dataclass(frozen=True)
class Actor:
    """A party acting on the desk, as the host describes them.

    Hooks build users (``Actor(id, name, email, role)``); :meth:`guest` and
    :meth:`system` build the others. Only a user's id is ever handed to the host's hooks
    or stored as a user id.

    :param id: The host's user id, as a string (integers, UUIDs and e-mails all work).
    :param name: The name shown to others.
    :param email: Where notifications go.
    :param role: A staff role from ``supportdesk_role_hierarchy``; ``None`` for a customer.
    :param kind: A user (the default), a guest or the system.
    :param conversation: For a guest known only by a chat token: the number of the one
        ticket (their chat) they may see. A chat visitor typed their e-mail address and
        nobody checked it, so they never see the other tickets of that address; a guest
        who proved the address (a mailed link, a reply by e-mail) has ``None`` here.
    """

    id: str
    name: str
    email: str = ""
    role: str | None = None
    kind: ActorKind = ActorKind.USER
    conversation: str | None = None

    def __post_init__(self) -> None:
        # Host ids are often integers; the desk stores and compares strings.
        object.__setattr__(self, "id", str(self.id))
        object.__setattr__(self, "kind", ActorKind(self.kind))
        if self.kind is not ActorKind.USER and self.role is not None:
            raise ValueError("Only users have a staff role.")
        if self.kind is not ActorKind.GUEST and self.conversation is not None:
            raise ValueError("Only guests are bound to one conversation.")

    @classmethod
    def system(cls, name: str = "Support desk") -> Actor:
        """The store acting on its own (a CLI command, a scheduled job, the host's code).

        The system may see and do everything staff at the top level may; it is never a
        ticket's requester.
        """
        return cls(id="system", name=name, kind=ActorKind.SYSTEM)

    @classmethod
    def guest(cls, email: str, name: str = "", conversation: str | None = None) -> Actor:
        """A contact known only by an e-mail address (no host account); with
        ``conversation``, a chat visitor who may see that one ticket only."""
        address = email.strip().lower()
        return cls(
            id=f"guest:{address}",
            name=name or address,
            email=address,
            kind=ActorKind.GUEST,
            conversation=conversation,
        )

    @property
    def is_user(self) -> bool:
        """Whether this is an account of the host (customer or staff)."""
        return self.kind is ActorKind.USER

    @property
    def user_id(self) -> str | None:
        """The host user id to store and to hand to hooks; ``None`` for guests and the
        system, whose ids mean nothing to the host."""
        return self.id if self.kind is ActorKind.USER else None


@dataclasses.dataclass(frozen=True)
class Reference:
    """What ``supportdesk_resolve_reference`` returns for a related object (an order).

    :param label: Shown on the ticket ("Order #1042").
    :param url: Where staff and the customer can open it, or ``None``.
    """

    label: str
    url: str | None = None


@dataclasses.dataclass(frozen=True)
class Route:
    """What ``supportdesk_route_ticket`` returns: where a new ticket goes.

    :param department: A department slug, or ``None`` to leave it as chosen.
    :param assignee: The staff member to assign, or ``None``.
    """

    department: str | None = None
    assignee: Actor | None = None


@dataclasses.dataclass(frozen=True)
class Recipient:
    """Who a notification is for.

    :param email: The address to deliver to.
    :param name: The name to greet them by (any text: escape it, never paste it into a
        header by hand).
    :param actor: The host account, when the recipient has one (``None`` for a guest).
    """

    email: str
    name: str
    actor: Actor | None = None


@dataclasses.dataclass(frozen=True)
class OutgoingNotification:
    """What ``supportdesk_deliver_notification`` receives: one notification, rendered in
    the recipient's language, ready to send by any channel.

    It never carries internal notes or another customer's data: the desk writes a
    notification only to someone who may see everything in it.

    :param kind: What happened: ``ticket_opened`` (to staff), ``ticket_acknowledged``
        (to the customer who opened it), ``reply_posted`` (a staff reply, to the
        requester), ``customer_replied`` (to the assignee or the level's staff),
        ``ticket_escalated`` (to the new level's staff), ``delegate_invited`` (to the
        invitee of a delegate invitation; ``url`` is the link that accepts it; a
        security mail, never muted). ``reply_posted`` also goes to accepted delegates.
    :param recipient: Who it is for.
    :param subject: A one-line subject, already translated (may contain any character
        a customer typed: set it through an API that encodes headers).
    :param text: The plain-text body.
    :param html: The HTML body, with its CSS inlined.
    :param ticket_number: The public number of the ticket it is about.
    :param url: Where the recipient acts on it (their view of the ticket), absolute when
        ``SUPPORTDESK_PUBLIC_URL`` is set or it was written in a request.
    :param key: The idempotency key: one per recipient and cause. A plugin that might be
        retried after it delivered can skip a key it has seen.
    :param message_id: This notification's own ``Message-ID`` (``<...@domain>``).
    :param reply_to: The ``Message-ID`` it answers: the ticket's thread root, for
        ``In-Reply-To`` and ``References``, so every mail of a ticket threads together.
    :param reply_address: Where a reply to this notification should go (set it as the
        mail's ``Reply-To``): the ticket's signed inbound address
        ``support+<token>@...`` when ``SUPPORTDESK_INBOUND_ADDRESS`` is set, else ``None``.
        A reply sent there (or answering ``message_id``) threads into the ticket.

    .. versionadded:: 0.1
    """

    kind: str
    recipient: Recipient
    subject: str
    text: str
    html: str
    ticket_number: str | None
    url: str
    key: str
    message_id: str
    reply_to: str | None
    reply_address: str | None = None
