"""Small value objects that hooks return: :class:`Actor`, :class:`Reference`, :class:`Route`."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Actor:
    """A person acting on the desk, as the host describes them.

    :param id: The host's user id, as a string (integers, UUIDs and e-mails all work).
    :param name: The name shown to others.
    :param email: Where notifications go.
    :param role: A staff role from ``supportdesk_role_hierarchy``; ``None`` for a customer.
    """

    id: str
    name: str
    email: str = ""
    role: str | None = None

    def __post_init__(self) -> None:
        # Host ids are often integers; the desk stores and compares strings.
        object.__setattr__(self, "id", str(self.id))


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
