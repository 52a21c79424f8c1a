"""The storefront: products, a customer's orders, and the staff's customer pages."""

from __future__ import annotations

import functools
import typing as t

import sqlalchemy as sa
from flask import Blueprint
from flask import abort
from flask import render_template
from flask import request
from flask_login import current_user
from flask_login import login_required
from sqlalchemy.orm import selectinload

from flask_supportdesk import list_tickets

from .models import MAX_USER_ID
from .models import Order
from .models import OrderLine
from .models import Product
from .models import User
from .models import db
from .support_plugin import actor_for

bp = Blueprint("shop", __name__)

F = t.TypeVar("F", bound=t.Callable[..., t.Any])


def staff_required(view: F) -> F:
    """Only staff members; others get a 404, as if the page did not exist."""

    @functools.wraps(view)
    @login_required
    def wrapped(*args: t.Any, **kwargs: t.Any) -> t.Any:
        if not current_user.is_staff:
            abort(404)
        return view(*args, **kwargs)

    return t.cast(F, wrapped)


@bp.before_request
def _refuse_unstorable_input() -> None:
    """PostgreSQL refuses NUL in text: an order number or slug with one is no page (the
    desk's own pages guard their input themselves)."""
    if "\x00" in request.path or any("\x00" in value for value in request.args.values()):
        abort(404)


def _order_query() -> sa.Select[tuple[Order]]:
    # Lines and their products in two extra queries, however many orders are listed.
    return sa.select(Order).options(selectinload(Order.lines).selectinload(OrderLine.product))


@bp.get("/")
def home() -> str:
    """The storefront: every product."""
    products = db.session.scalars(sa.select(Product).order_by(Product.name))
    return render_template("shop/home.html", products=list(products))


@bp.get("/products/<slug>")
def product(slug: str) -> str:
    """One product, with a way to ask support about it."""
    item = db.session.scalar(sa.select(Product).where(Product.slug == slug)) or abort(404)
    return render_template("shop/product.html", product=item)


@bp.get("/orders")
@login_required
def orders() -> str:
    """The logged-in customer's orders, newest first."""
    stmt = _order_query().where(Order.customer_id == current_user.id).order_by(Order.id.desc())
    return render_template("shop/orders.html", orders=list(db.session.scalars(stmt)))


@bp.get("/orders/<number>")
@login_required
def order(number: str) -> str:
    """One order, with the "Get help with this order" button for its customer."""
    stmt = _order_query().where(Order.number == number)
    # A customer sees only their own orders; staff see every order (from a ticket link).
    if not current_user.is_staff:
        stmt = stmt.where(Order.customer_id == current_user.id)
    found = db.session.scalar(stmt) or abort(404)
    return render_template("shop/order.html", order=found)


@bp.get("/staff/customers")
@staff_required
def customers() -> str:
    """Staff: every customer."""
    stmt = sa.select(User).where(User.role.is_(None)).order_by(User.name)
    return render_template("shop/customers.html", customers=list(db.session.scalars(stmt)))


# Bounded, so a number past the id column is a 404 instead of a database overflow.
@bp.get(f"/staff/customers/<int(max={MAX_USER_ID}):user_id>")
@staff_required
def customer(user_id: int) -> str:
    """Staff: one customer's orders and the tickets this staff member may see."""
    found = db.session.get(User, user_id)
    if found is None or found.is_staff:
        abort(404)
    orders = db.session.scalars(
        _order_query().where(Order.customer_id == found.id).order_by(Order.id.desc())
    )
    # The customer's tickets as this staff member may see them (the desk's policy decides),
    # filtered by requester and paginated in SQL through the desk's public API.
    page = request.args.get("page", "1")
    tickets = list_tickets(
        viewer=actor_for(current_user),
        requester=str(found.id),
        page=int(page) if page.isascii() and page.isdigit() and len(page) < 6 else 1,
        page_size=20,
    )
    return render_template(
        "shop/customer.html", customer=found, orders=list(orders), tickets=tickets
    )
