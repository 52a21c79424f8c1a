"""Small value objects that hooks return: :class:`Actor`, :class:`Reference`, :class:`Route`."""

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
    """

    id: str
    name: str
    email: str = ""
    role: str | None = None
    kind: ActorKind = ActorKind.USER

    def __post_init__(self) -> None:
        # Host ids are often integers; the desk stores and compares strings.
        object.__setattr__(self, "id", str(self.id))
        object.__setattr__(self, "kind", ActorKind(self.kind))
        if self.kind is not ActorKind.USER and self.role is not None:
            raise ValueError("Only users have a staff role.")

    @classmethod
    def system(cls, name: str = "Support desk") -> Actor:
        """The store acting on its own (a CLI command, a scheduled job, the host's code).

        The system may see and do everything staff at the top level may; it is never a
        ticket's requester.
        """
        return cls(id="system", name=name, kind=ActorKind.SYSTEM)

    @classmethod
    def guest(cls, email: str, name: str = "") -> Actor:
        """A contact known only by an e-mail address (no host account)."""
        address = email.strip().lower()
        return cls(id=f"guest:{address}", name=name or address, email=address, kind=ActorKind.GUEST)

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
