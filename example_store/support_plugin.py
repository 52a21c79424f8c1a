"""The store's answers to the support desk's hooks (see ``flask_supportdesk/hooks/specs.py``).

This is everything a host writes to integrate the desk: who its users are, which staff
members work in which departments, what an order reference means, where a ticket goes,
and who takes a ticket beyond the store's owner.
"""

from __future__ import annotations

import logging
import typing as t

import sqlalchemy as sa
from flask import url_for

from flask_supportdesk import Actor
from flask_supportdesk import Reference
from flask_supportdesk import Route
from flask_supportdesk import hookimpl
from flask_supportdesk.models import Department

from .models import STAFF_ROLES
from .models import Order
from .models import PlatformSupportCase
from .models import User
from .models import db
from .models import parse_user_id

if t.TYPE_CHECKING:
    from flask_supportdesk.models import Ticket

log = logging.getLogger(__name__)

#: Ticket category -> department slug, applied when that department exists.
CATEGORY_DEPARTMENTS = {"payment": "billing", "exchange": "shipping"}


def actor_for(user: User) -> Actor:
    """The desk's view of a store user."""
    return Actor(id=str(user.id), name=user.name, email=user.email, role=user.role)


def _user(user_id: str) -> User | None:
    """The store user with this desk id, or ``None``."""
    # Ids come back from the desk as strings; anything else is not one of ours.
    number = parse_user_id(user_id)
    return db.session.get(User, number) if number is not None else None


class StoreSupportPlugin:
    """Hook implementations of the example store."""

    @hookimpl
    def supportdesk_identify(self, user: t.Any) -> Actor | None:
        return actor_for(user) if isinstance(user, User) else None

    @hookimpl
    def supportdesk_load_user(self, user_id: str) -> Actor | None:
        user = _user(user_id)
        return actor_for(user) if user else None

    @hookimpl
    def supportdesk_find_user(self, email: str) -> Actor | None:
        user = db.session.scalar(sa.select(User).where(sa.func.lower(User.email) == email.lower()))
        return actor_for(user) if user else None

    @hookimpl
    def supportdesk_staff_members(self) -> list[Actor]:
        staff = db.session.scalars(
            sa.select(User).where(User.role.in_(STAFF_ROLES)).order_by(User.name)
        )
        return [actor_for(user) for user in staff]

    @hookimpl
    def supportdesk_role_hierarchy(self) -> list[str]:
        return list(STAFF_ROLES)

    @hookimpl
    def supportdesk_staff_departments(self, actor: Actor) -> t.Sequence[str] | None:
        user = _user(actor.id)
        if user is None:
            return ()  # not one of ours: no department, rather than all of them
        return user.department_slugs

    @hookimpl
    def supportdesk_resolve_reference(self, kind: str, ref: str, actor: Actor) -> Reference | None:
        customer_id = parse_user_id(actor.id)
        # PostgreSQL refuses a NUL in a string; no order number has one, or is that long.
        if kind != "order" or customer_id is None or len(ref) > 20 or not ref.isprintable():
            return None
        # Only the actor's own orders: "not yours" and "no such order" look the same.
        order = db.session.scalar(
            sa.select(Order).where(Order.number == ref, Order.customer_id == customer_id)
        )
        if order is None:
            return None
        return Reference(order.label, url_for("shop.order", number=order.number))

    @hookimpl
    def supportdesk_route_ticket(self, ticket: Ticket) -> Route | None:
        slug = CATEGORY_DEPARTMENTS.get(ticket.category)
        if slug is None:
            return None
        # The desk refuses a route to a department that does not exist, so check first.
        exists = db.session.scalar(
            sa.select(Department.id).where(Department.slug == slug, Department.is_active)
        )
        return Route(department=slug) if exists else None

    @hookimpl
    def supportdesk_escalate_beyond(self, ticket: Ticket, actor: Actor, reason: str) -> str:
        # Called after the escalation was committed (from the desk's outbox), perhaps
        # again for a ticket already taken: one case per ticket, in our own transaction.
        case = db.session.scalars(
            sa.select(PlatformSupportCase).filter_by(ticket_number=ticket.number)
        ).first()
        if case is None:
            case = PlatformSupportCase(
                ticket_number=ticket.number, escalated_by=actor.name, reason=reason
            )
            db.session.add(case)
            db.session.commit()
        log.info("Ticket %s handed to platform support as %s", ticket.number, case.reference)
        return case.reference
