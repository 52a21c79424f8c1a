"""``flask --app example_store seed-demo``: demo data for the README's demo.

Everything on the desk's side is created through its services, exactly as the pages
would, so the demo shows real timelines, status changes and stored attachments.
Running it again changes nothing: each record is looked up before it is created.
"""

from __future__ import annotations

import dataclasses
import struct
import typing as t
import zlib

import click
import sqlalchemy as sa
from alembic import command
from flask import Flask
from flask import current_app
from flask.cli import with_appcontext

import flask_supportdesk as desk
from flask_supportdesk import Upload
from flask_supportdesk import deliver_notifications
from flask_supportdesk.migrations import alembic_config
from flask_supportdesk.models import Department
from flask_supportdesk.models import Source
from flask_supportdesk.models import Ticket

from .models import Order
from .models import OrderLine
from .models import Product
from .models import User
from .models import db
from .support_plugin import actor_for

#: Every demo account has this password (printed by the command; demo only).
DEMO_PASSWORD = "demo-password"


@dataclasses.dataclass(frozen=True)
class DemoUser:
    """A demo account: ``key`` names it in the seeding code."""

    key: str
    email: str
    name: str
    role: str | None = None
    departments: str = ""


DEMO_USERS = (
    DemoUser("alice", "alice@example.com", "Alice Andersen"),
    DemoUser("bob", "bob@example.com", "Bob Brown"),
    DemoUser("agent", "agent@example.com", "Ann Agent", "agent"),
    DemoUser("shipping", "shipping@example.com", "Sam Shipping", "agent", "shipping"),
    DemoUser("manager", "manager@example.com", "Max Manager", "manager"),
    DemoUser("owner", "owner@example.com", "Olga Owner", "owner"),
)

DEMO_PRODUCTS = (
    ("trail-shoes", "Trail running shoes", "Light shoes with a grippy sole.", 8900),
    ("rain-jacket", "Rain jacket", "Packable and waterproof.", 12900),
    ("wool-socks", "Merino socks (3 pairs)", "Warm, soft, and they do not itch.", 2400),
    ("water-bottle", "Steel water bottle", "750 ml, keeps drinks cold for a day.", 1900),
)

#: (number, customer key, [(product slug, quantity)])
DEMO_ORDERS = (
    ("1042", "alice", [("trail-shoes", 1), ("wool-socks", 2)]),
    ("1043", "alice", [("rain-jacket", 1)]),
    ("2001", "bob", [("water-bottle", 2), ("wool-socks", 1)]),
)

DEMO_DEPARTMENTS = (
    ("Billing", "billing", "Payments, refunds and invoices."),
    ("Shipping", "shipping", "Deliveries, returns and exchanges."),
)


def tiny_png(width: int = 8, height: int = 8, rgb: tuple[int, int, int] = (200, 60, 60)) -> bytes:
    """A real PNG image of one colour, built here so the demo needs no binary file."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


def _seed_store() -> dict[str, User]:
    users: dict[str, User] = {}
    for demo in DEMO_USERS:
        user = db.session.scalar(sa.select(User).where(User.email == demo.email))
        if user is None:
            user = User(
                email=demo.email, name=demo.name, role=demo.role, departments=demo.departments
            )
            user.set_password(DEMO_PASSWORD)
            db.session.add(user)
        users[demo.key] = user
    products: dict[str, Product] = {}
    for slug, name, description, price in DEMO_PRODUCTS:
        product = db.session.scalar(sa.select(Product).where(Product.slug == slug))
        if product is None:
            product = Product(slug=slug, name=name, description=description, price_cents=price)
            db.session.add(product)
        products[slug] = product
    for number, customer, lines in DEMO_ORDERS:
        if db.session.scalar(sa.select(Order.id).where(Order.number == number)) is None:
            order = Order(number=number, customer=users[customer])
            order.lines = [
                OrderLine(
                    product=products[slug],
                    quantity=qty,
                    unit_price_cents=products[slug].price_cents,
                )
                for slug, qty in lines
            ]
            db.session.add(order)
    db.session.commit()
    return users


#: The demo tickets look as customers would have opened them, from the portal.
PORTAL = Source.CUSTOMER_PORTAL


def _seed_departments(owner: User) -> None:
    for name, slug, description in DEMO_DEPARTMENTS:
        if db.session.scalar(sa.select(Department.id).where(Department.slug == slug)) is None:
            desk.create_department(name, slug=slug, description=description, by=actor_for(owner))


def _ticket_exists(requester: User, subject: str) -> bool:
    stmt = sa.select(Ticket.id).where(
        Ticket.requester_id == str(requester.id), Ticket.subject == subject
    )
    return db.session.scalar(stmt) is not None


def _seed_tickets(users: dict[str, User]) -> int:
    """One ticket in every status (and an escalated one); returns how many were created."""
    alice, bob = actor_for(users["alice"]), actor_for(users["bob"])
    agent, manager = actor_for(users["agent"]), actor_for(users["manager"])
    created = 0

    def new(requester: User, subject: str) -> bool:
        nonlocal created
        if _ticket_exists(requester, subject):
            return False
        created += 1
        return True

    subject = "My parcel has not arrived"
    if new(users["alice"], subject):  # open, with an order and a photo
        desk.open_ticket(
            requester=alice, by=alice, source=PORTAL,
            subject=subject, category="exchange",
            body="The tracking page has said *in transit* for a week. Can you check?",
            reference={"kind": "order", "id": "1042"},
            attachments=[Upload.from_bytes("tracking-screenshot.png", tiny_png())],
        )

    subject = "I was charged twice"
    if new(users["alice"], subject):  # pending_customer, with an internal note
        ticket = desk.open_ticket(
            requester=alice, by=alice, source=PORTAL,
            subject=subject, category="payment",
            body="My card statement shows two payments for order 1043.",
            reference={"kind": "order", "id": "1043"},
        )
        desk.post_message(
            ticket.number, by=agent, body="The payment provider shows one capture and one "
            "authorisation that will expire.", channel="internal",
        )
        desk.post_message(
            ticket.number, by=agent, body="One of the two is only a hold and will disappear within "
            "7 days. Could you send a screenshot if it is still there next week?",
        )

    subject = "Shoes are one size too small"
    if new(users["bob"], subject):  # pending_admin: the customer answered staff
        ticket = desk.open_ticket(
            requester=bob, by=bob, source=PORTAL,
            subject=subject, category="exchange", body="Can I exchange them for a 44?",
            reference={"kind": "order", "id": "2001"},
        )
        desk.post_message(ticket.number, "Of course. Are they unworn?", by=agent)
        desk.post_message(
            ticket.number, by=bob, body="Yes, still in the box.",
            attachments=[Upload.from_bytes("box-label.txt", b"Return label request\nSize: 44\n")],
        )

    subject = "How do I change my delivery address?"
    if new(users["bob"], subject):  # resolved
        ticket = desk.open_ticket(
            requester=bob, by=bob, source=PORTAL,
            subject=subject, body="I am moving next month."
        )
        desk.post_message(
            ticket.number, by=agent, body="Go to *My orders*, open the order and choose "
            "**Change address** before it ships.", status="resolved",
        )

    subject = "Discount code did not work"
    if new(users["alice"], subject):  # closed by the customer
        ticket = desk.open_ticket(
            requester=alice, by=alice, source=PORTAL,
            subject=subject, category="payment", body="SPRING10 was refused."
        )
        desk.post_message(
            ticket.number, "It expired on Sunday; I refunded 10% instead.", by=agent
        )
        desk.update_ticket(ticket.number, status="closed", by=alice)

    subject = "Refund for the rain jacket"
    if new(users["alice"], subject):  # escalated to the manager, with internal notes
        ticket = desk.open_ticket(
            requester=alice, by=alice, source=PORTAL,
            subject=subject, body="The seam leaks after two weeks. I would like a refund.",
        )
        desk.post_message(
            ticket.number, by=agent, body="Photos show a factory defect; refund is above my limit.",
            channel="internal",
        )
        desk.escalate_ticket(
            ticket.number, reason="Refund over 100 EUR needs a manager.", by=agent
        )
        desk.post_message(
            ticket.number, by=manager, body="Approved; refund it in full.", channel="internal",
        )
    return created


def seed_demo(app: Flask, url: str = "http://localhost/") -> int:
    """Create the store's tables, bring the desk's up to date and add the demo data.

    :param url: Where the store will be served: the links of the desk's mails point there.
    :return: the number of demo tickets created (0 when they all existed).
    """
    # url_for in the reference hook needs a request; the demo runs at the site's root.
    with app.test_request_context("/", base_url=url):
        db.create_all()
        command.upgrade(alembic_config(), "head")
        users = _seed_store()
        _seed_departments(users["owner"])
        return _seed_tickets(users)


def init_app(app: Flask) -> None:
    """Add the store's commands to ``flask``."""
    app.cli.add_command(seed_demo_command)


@click.command("seed-demo")
@with_appcontext
@click.option("--url", default="http://127.0.0.1:5000/", show_default=True,
              help="Where the store will be served, for the message at the end.")
def seed_demo_command(url: str) -> None:
    """Add demo products, customers, staff, orders, departments and tickets (idempotent)."""
    app = t.cast(Flask, current_app._get_current_object())  # type: ignore[attr-defined]
    created = seed_demo(app, url)
    if app.config.get("STORE_DEMO_MAILBOX"):
        # The mails of the demo tickets are in the mailbox before this command ends.
        deliver_notifications()
    click.echo(f"Demo data ready ({created} new tickets).")
    click.echo(f"\nLog in at {url.rstrip('/')}/login with (password for all: {DEMO_PASSWORD}):")
    for demo in DEMO_USERS:
        who = demo.role or "customer"
        if demo.departments:
            who += f", {demo.departments}"
        click.echo(f"  {demo.email:<24} {who}")
    base = url.rstrip("/")
    click.echo(f"\nShop: {base}/")
    click.echo(f"Support portal: {base}{app.config['SUPPORTDESK_URL_PREFIX']}")
    click.echo(f"Staff desk: {base}{app.config['SUPPORTDESK_DESK_URL_PREFIX']}")
    if app.config.get("STORE_DEMO_MAILBOX"):
        click.echo(f"Demo mailbox (every mail the desk sends): {base}/mailbox/")
