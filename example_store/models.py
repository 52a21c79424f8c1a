"""The store's own tables: users (customers and staff), products, orders.

The support desk keeps its tables apart (``supportdesk_*``, created by its migrations);
these are created with ``db.create_all()`` by ``flask seed-demo``.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import secrets

import sqlalchemy as sa
from flask import current_app
from flask_login import UserMixin
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship
from werkzeug.security import check_password_hash
from werkzeug.security import generate_password_hash


class Base(DeclarativeBase):
    """The store's own metadata (the desk keeps separate metadata for its tables)."""


db = SQLAlchemy(model_class=Base)

#: Staff roles, lowest first; the desk's default ``SUPPORTDESK_ROLE_HIERARCHY`` is the same.
STAFF_ROLES = ("agent", "manager", "owner")

#: The largest ``store_user.id``: the column is an ``INTEGER``, 32 bits on PostgreSQL (the
#: narrowest of the databases the store runs on), so a larger number matches no user.
MAX_USER_ID = 2**31 - 1

#: A user id as the store writes it: ASCII digits, no sign, no leading zero, no spaces. Not
#: ``str.isdigit``, which accepts "²" and other digits that ``int()`` refuses.
_USER_ID = re.compile(r"[1-9][0-9]{0,9}")


def parse_user_id(value: str) -> int | None:
    """The ``store_user.id`` written in ``value``, or ``None`` if it is not one.

    Session and desk ids come from outside (a cookie, a stored ticket), so anything but the
    canonical decimal form of a possible id is refused here instead of raising in ``int()``
    or overflowing the database's integer.

    :param value: The id as a string (Flask-Login's and the desk's form).
    """
    if not isinstance(value, str) or not _USER_ID.fullmatch(value):
        return None
    number = int(value)
    return number if number <= MAX_USER_ID else None


def password_method() -> str:
    """The hashing method for new passwords: ``STORE_PASSWORD_METHOD``, else scrypt."""
    # Tests choose a cheap method; werkzeug's default otherwise.
    return str(current_app.config.get("STORE_PASSWORD_METHOD") or "scrypt")


@functools.lru_cache(maxsize=8)
def _dummy_hash(method: str) -> str:
    return generate_password_hash(secrets.token_urlsafe(32), method=method)


def check_login_password(user: User | None, password: str) -> bool:
    """Whether ``password`` is ``user``'s; one hash check whether or not ``user`` exists.

    Without an account the password is checked against a hash of a random secret made
    with the same method, so the time a login takes does not tell which e-mails have one.

    :param user: The account the submitted e-mail names, or ``None``.
    :param password: The submitted password.
    """
    if user is None:
        check_password_hash(_dummy_hash(password_method()), password)
        return False
    return user.check_password(password)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class User(UserMixin, db.Model):  # type: ignore[name-defined,misc]
    """A customer (``role`` is ``None``) or a staff member (``role`` in :data:`STAFF_ROLES`)."""

    __tablename__ = "store_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(200), unique=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    password_hash: Mapped[str] = mapped_column(sa.String(300))
    role: Mapped[str | None] = mapped_column(sa.String(20))
    #: Comma-separated department slugs a staff member works in; empty means all of them.
    departments: Mapped[str] = mapped_column(sa.String(300), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=_now)

    orders: Mapped[list[Order]] = relationship(
        back_populates="customer", order_by="Order.id.desc()"
    )

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password, method=password_method())

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES

    @property
    def department_slugs(self) -> tuple[str, ...] | None:
        """The departments of a staff member, or ``None`` for all of them."""
        slugs = tuple(s.strip() for s in self.departments.split(",") if s.strip())
        return slugs or None


class Product(db.Model):  # type: ignore[name-defined,misc]
    """Something the store sells."""

    __tablename__ = "store_product"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(sa.String(80), unique=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    price_cents: Mapped[int]

    @property
    def price(self) -> str:
        return format_price(self.price_cents)


class Order(db.Model):  # type: ignore[name-defined,misc]
    """An order; ``number`` is what customers see ("Order #1042") and tickets link to."""

    __tablename__ = "store_order"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(sa.String(20), unique=True)
    customer_id: Mapped[int] = mapped_column(sa.ForeignKey("store_user.id"), index=True)
    status: Mapped[str] = mapped_column(sa.String(20), default="paid")
    created_at: Mapped[dt.datetime] = mapped_column(default=_now)

    customer: Mapped[User] = relationship(back_populates="orders")
    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="OrderLine.id"
    )

    @property
    def label(self) -> str:
        return f"Order #{self.number}"

    @property
    def total(self) -> str:
        return format_price(sum(line.quantity * line.unit_price_cents for line in self.lines))


class OrderLine(db.Model):  # type: ignore[name-defined,misc]
    """One product on an order, at the price paid."""

    __tablename__ = "store_order_line"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(sa.ForeignKey("store_order.id"), index=True)
    product_id: Mapped[int] = mapped_column(sa.ForeignKey("store_product.id"))
    quantity: Mapped[int] = mapped_column(default=1)
    unit_price_cents: Mapped[int]

    order: Mapped[Order] = relationship(back_populates="lines")
    product: Mapped[Product] = relationship()


class PlatformSupportCase(db.Model):  # type: ignore[name-defined,misc]
    """A ticket handed beyond the owner to the platform's support (``escalate_beyond``).

    A real store would call its vendor's API here; the demo keeps a record and logs it.
    """

    __tablename__ = "store_platform_support_case"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_number: Mapped[str] = mapped_column(sa.String(40), index=True)
    escalated_by: Mapped[str] = mapped_column(sa.String(120))
    reason: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=_now)

    @property
    def reference(self) -> str:
        return f"PLATFORM-{self.id}"


def format_price(cents: int) -> str:
    """Euros for display: ``format_price(8900) == "€89.00"``."""
    return f"€{cents // 100}.{cents % 100:02d}"


class DemoMail(db.Model):  # type: ignore[name-defined,misc]
    """A mail the desk sent, kept by the demo mailbox (``STORE_DEMO_MAILBOX``) instead
    of going to a mail server; ``key`` is the notification's idempotency key."""

    __tablename__ = "store_demo_mail"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(200), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(40))
    recipient_name: Mapped[str] = mapped_column(sa.String(200), default="")
    recipient_email: Mapped[str] = mapped_column(sa.String(320))
    subject: Mapped[str] = mapped_column(sa.Text)
    text: Mapped[str] = mapped_column(sa.Text)
    html: Mapped[str] = mapped_column(sa.Text)
    ticket_number: Mapped[str | None] = mapped_column(sa.String(40))
    url: Mapped[str] = mapped_column(sa.Text, default="")
    message_id: Mapped[str] = mapped_column(sa.String(300))
    reply_to: Mapped[str | None] = mapped_column(sa.String(300))
    reply_address: Mapped[str | None] = mapped_column(sa.String(320))
    created_at: Mapped[dt.datetime] = mapped_column(default=_now)
