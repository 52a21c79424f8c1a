"""The example store (``example_store/``): a real host of the desk, as the demo runs it.

Runs on a SQLite file per test, or on ``SUPPORTDESK_TEST_DATABASE_URL`` (PostgreSQL), where
every table is dropped before and after each test so migrations start from nothing.
"""

from __future__ import annotations

import os
import re
import stat
import typing as t

import pytest
import sqlalchemy as sa
from flask import Flask
from flask import url_for
from flask.testing import FlaskClient

pytest.importorskip("example_store", reason="pip install ./example_store")

from example_store import create_app
from example_store.cli import DEMO_PASSWORD
from example_store.cli import DEMO_USERS
from example_store.cli import seed_demo
from example_store.models import Order
from example_store.models import OrderLine
from example_store.models import PlatformSupportCase
from example_store.models import User
from example_store.models import db
from example_store.support_plugin import actor_for
from flask_supportdesk._state import get_state
from flask_supportdesk.migrations import VERSION_TABLE
from flask_supportdesk.models import Attachment
from flask_supportdesk.models import Base as DeskBase
from flask_supportdesk.models import Channel
from flask_supportdesk.models import Message
from flask_supportdesk.models import Status
from flask_supportdesk.models import Ticket
from flask_supportdesk.services import escalation

DATABASE_URL = os.environ.get("SUPPORTDESK_TEST_DATABASE_URL")


def drop_everything() -> None:
    """Remove the store's and the desk's tables (and the desk's migration version)."""
    db.drop_all()
    DeskBase.metadata.drop_all(db.engine)
    with db.engine.begin() as conn:
        conn.execute(sa.text(f"DROP TABLE IF EXISTS {VERSION_TABLE}"))


def build_store(tmp_path: t.Any, **config: t.Any) -> Flask:
    """The example store on the test database, in ``tmp_path``, with ``config``."""
    return create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "SQLALCHEMY_DATABASE_URI": DATABASE_URL or f"sqlite:///{tmp_path / 'store.sqlite'}",
            "SUPPORTDESK_ATTACHMENT_FOLDER": str(tmp_path / "attachments"),
            "SUPPORTDESK_LOAD_ENTRY_POINTS": False,
            # Delivered in the request, after its commit: a test counts its statements
            # and reads its outcome at once (the background thread has its own tests).
            "SUPPORTDESK_DELIVER_IN_BACKGROUND": False,
            "STORE_PASSWORD_METHOD": "pbkdf2:sha256:1000",
            **config,
        },
        instance_path=str(tmp_path / "instance"),
    )


@pytest.fixture
def store(tmp_path: t.Any, monkeypatch: pytest.MonkeyPatch) -> t.Iterator[Flask]:
    """The example store on an empty database (no tables at all)."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    app = build_store(tmp_path)
    with app.app_context():
        drop_everything()
    yield app
    close_store(app)


def close_store(app: Flask) -> None:
    """Stop the store's delivery thread and remove every table (after a test)."""
    with app.app_context():
        get_state().delivery.stop()  # type: ignore[union-attr]
        db.session.remove()
        drop_everything()
        db.engine.dispose()


@pytest.fixture
def seeded(store: Flask) -> Flask:
    seed_demo(store)
    return store


def log_in(client: FlaskClient, email: str, password: str = DEMO_PASSWORD) -> t.Any:
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert token, "the login form carries a CSRF token"
    return client.post(
        "/login", data={"email": email, "password": password, "csrf_token": token.group(1)}
    )


def form_token(page: str) -> str:
    """The CSRF token of the first form on ``page``."""
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', page
    )
    assert found, "the page has a form with a CSRF token"
    return found.group(1)


def url(app: Flask, endpoint: str, **values: t.Any) -> str:
    with app.test_request_context():
        return url_for(endpoint, **values)


def user(email: str) -> User:
    return db.session.scalars(sa.select(User).where(User.email == email)).one()


# -------------------------------------------------------------------------------------
# The app factory
# -------------------------------------------------------------------------------------


def test_factory_defaults_to_sqlite_and_a_generated_key_in_the_instance_folder(
    tmp_path: t.Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("FLASK_SECRET_KEY", raising=False)
    instance = tmp_path / "instance"
    app = create_app(instance_path=str(instance))
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{instance / 'store.sqlite'}"
    key_file = instance / "secret_key"
    assert app.config["SECRET_KEY"] == key_file.read_text()
    assert len(app.config["SECRET_KEY"]) >= 40
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600  # readable by the app only
    # The same key on the next start, so sessions survive a restart.
    assert create_app(instance_path=str(instance)).config["SECRET_KEY"] == app.config["SECRET_KEY"]
    assert app.config["SUPPORTDESK_BASE_TEMPLATE"] == "layout.html"


def test_environment_chooses_database_and_key(tmp_path: t.Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'other.sqlite'}")
    monkeypatch.setenv("FLASK_SECRET_KEY", "from-the-environment")
    app = create_app(instance_path=str(tmp_path / "instance"))
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'other.sqlite'}"
    assert app.config["SECRET_KEY"] == "from-the-environment"
    assert not (tmp_path / "instance" / "secret_key").exists()


# -------------------------------------------------------------------------------------
# Migrations and demo data (what `make demo` runs)
# -------------------------------------------------------------------------------------


def test_desk_migrations_then_seed_demo_on_the_store(store: Flask) -> None:
    runner = store.test_cli_runner()
    result = runner.invoke(args=["supportdesk", "db", "upgrade"])
    assert result.exit_code == 0, result.output
    with store.app_context():
        tables = set(sa.inspect(db.engine).get_table_names())
    assert {"supportdesk_ticket", "supportdesk_message", VERSION_TABLE} <= tables
    assert "store_user" not in tables  # the desk's migrations never touch the host's tables

    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    with store.app_context():
        tables = set(sa.inspect(db.engine).get_table_names())
    assert {"store_user", "store_order", "store_product"} <= tables


def test_seed_demo_is_idempotent_and_prints_the_logins(store: Flask) -> None:
    runner = store.test_cli_runner()
    first = runner.invoke(args=["seed-demo"])
    assert first.exit_code == 0, first.output
    for demo in DEMO_USERS:
        assert demo.email in first.output
    assert DEMO_PASSWORD in first.output
    assert "http://127.0.0.1:5000/" in first.output

    def counts() -> dict[str, int]:
        with store.app_context():
            return {
                model.__name__: db.session.scalar(sa.select(sa.func.count()).select_from(model))
                for model in (User, Order, OrderLine, Ticket, Message)
            }

    before = counts()
    second = runner.invoke(args=["seed-demo"])
    assert second.exit_code == 0, second.output
    assert "0 new tickets" in second.output
    assert counts() == before


def test_seed_demo_covers_every_status_notes_escalation_and_attachments(seeded: Flask) -> None:
    with seeded.app_context():
        tickets = list(db.session.scalars(sa.select(Ticket)))
        assert {ticket.status for ticket in tickets} == set(Status)
        assert any(ticket.level == "manager" for ticket in tickets)  # escalated once
        notes = db.session.scalar(
            sa.select(sa.func.count()).select_from(Message).where(Message.channel == Channel.INTERNAL)
        )
        assert notes >= 2
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Attachment)) >= 2
        # Routing hook: a payment question lands in the billing department.
        charged = next(t_ for t_ in tickets if t_.subject == "I was charged twice")
        assert charged.department is not None and charged.department.slug == "billing"
        assert charged.reference_label == "Order #1043"
        assert charged.reference_url == "/orders/1043"


# -------------------------------------------------------------------------------------
# Logging in
# -------------------------------------------------------------------------------------


def test_login_and_logout(seeded: Flask) -> None:
    client = seeded.test_client()
    wrong = log_in(client, "alice@example.com", "not-the-password")
    assert wrong.status_code == 400
    assert "Wrong e-mail or password." in wrong.get_data(as_text=True)

    response = log_in(client, "ALICE@example.com")
    assert response.status_code == 302
    home = client.get("/").get_data(as_text=True)
    assert "Alice Andersen" in home and "My orders" in home

    # Logging out needs the form's CSRF token: a bare cross-site POST changes nothing.
    client.post("/logout")
    assert "Alice Andersen" in client.get("/").get_data(as_text=True)
    client.post("/logout", data={"csrf_token": form_token(home)})
    page = client.get("/").get_data(as_text=True)
    assert "Alice Andersen" not in page and "Log in" in page


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example"])
def test_login_never_redirects_off_site(seeded: Flask, target: str) -> None:
    client = seeded.test_client()
    page = client.get(f"/login?next={target}").get_data(as_text=True)
    response = client.post(
        "/login",
        data={"email": "bob@example.com", "password": DEMO_PASSWORD, "next": target,
              "csrf_token": form_token(page)},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_login_returns_to_the_page_asked_for(seeded: Flask) -> None:
    client = seeded.test_client()
    response = client.get("/orders")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    response = client.post(
        "/login",
        data={"email": "bob@example.com", "password": DEMO_PASSWORD, "next": "/orders",
              "csrf_token": form_token(page)},
    )
    assert response.headers["Location"] == "/orders"


# -------------------------------------------------------------------------------------
# Orders and "Get help with this order"
# -------------------------------------------------------------------------------------


def test_get_help_with_an_order_opens_a_ticket_linked_to_it(seeded: Flask) -> None:
    client = seeded.test_client()
    log_in(client, "alice@example.com")
    order_page = client.get("/orders/1042").get_data(as_text=True)
    help_url = url(seeded, "supportdesk_portal.new_ticket", order="1042")
    assert "Get help with this order" in order_page
    assert f'href="{help_url}"' in order_page.replace("&amp;", "&")

    form = client.get(help_url)
    assert form.status_code == 200
    page = form.get_data(as_text=True)
    assert "Order #1042" in page
    assert 'aria-label="Store"' in page  # the portal sits inside the store's layout

    response = client.post(
        help_url,
        data={"subject": "Box arrived crushed", "body": "One shoe is squashed.", "order": "1042",
              "category": "exchange", "department": "", "csrf_token": form_token(page)},
    )
    assert response.status_code in (302, 303), response.get_data(as_text=True)
    with seeded.app_context():
        ticket = db.session.scalars(sa.select(Ticket).filter_by(subject="Box arrived crushed")).one()
        assert (ticket.reference_kind, ticket.reference_id) == ("order", "1042")
        assert ticket.reference_label == "Order #1042"
        assert ticket.requester_id == str(user("alice@example.com").id)


def test_a_customer_cannot_link_or_see_another_customers_order(seeded: Flask) -> None:
    client = seeded.test_client()
    log_in(client, "alice@example.com")
    assert client.get("/orders/2001").status_code == 404  # Bob's
    assert "Order #2001" not in client.get("/orders").get_data(as_text=True)

    help_url = url(seeded, "supportdesk_portal.new_ticket", order="2001")
    page = client.get(help_url).get_data(as_text=True)
    assert "Order #2001" not in page
    response = client.post(
        help_url,
        data={"subject": "Not my order", "body": "Let me see it.", "order": "2001",
              "category": "general", "department": "", "csrf_token": form_token(page)},
    )
    assert response.status_code == 400
    assert "Order #2001" not in response.get_data(as_text=True)
    with seeded.app_context():
        alice_id = str(user("alice@example.com").id)
        linked = db.session.scalars(sa.select(Ticket).filter_by(reference_id="2001")).all()
        assert [t_.requester_id for t_ in linked if t_.requester_id == alice_id] == []
        assert not db.session.scalars(sa.select(Ticket).filter_by(subject="Not my order")).all()


def count_queries(app: Flask, client: FlaskClient, path: str) -> int:
    """How many SQL statements one GET of ``path`` runs."""
    statements: list[str] = []

    def count(*args: t.Any) -> None:
        statements.append(args[2])

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        assert client.get(path).status_code == 200, path
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    return len(statements)


def add_orders_and_tickets(app: Flask, email: str, count: int) -> None:
    """``count`` more orders of two lines, and as many tickets, for a customer."""
    from flask_supportdesk.services import tickets

    with app.test_request_context():
        customer = user(email)
        lines = db.session.scalars(sa.select(OrderLine)).all()[:2]
        for n in range(count):
            order = Order(number=f"9{n:03d}", customer_id=customer.id)
            db.session.add(order)
            for line in lines:
                db.session.add(OrderLine(order=order, product_id=line.product_id, quantity=1,
                                         unit_price_cents=line.unit_price_cents))
        db.session.commit()
        for n in range(count):
            tickets.open_ticket(actor_for(customer), subject=f"Question {n}", body="Hello?",
                                reference={"kind": "order", "id": f"9{n:03d}"})


def test_page_queries_do_not_grow_with_orders_or_tickets(seeded: Flask) -> None:
    customer, staff = seeded.test_client(), seeded.test_client()
    log_in(customer, "alice@example.com")
    log_in(staff, "agent@example.com")
    with seeded.app_context():
        alice_page = f"/staff/customers/{user('alice@example.com').id}"
    pages = ((customer, "/orders"), (staff, alice_page))
    before = [count_queries(seeded, client, path) for client, path in pages]
    add_orders_and_tickets(seeded, "alice@example.com", 10)
    assert [count_queries(seeded, client, path) for client, path in pages] == before


# -------------------------------------------------------------------------------------
# Staff: the desk inside the store, customer pages, escalation beyond the owner
# -------------------------------------------------------------------------------------


def test_desk_pages_render_inside_the_store_layout(seeded: Flask) -> None:
    client = seeded.test_client()
    log_in(client, "agent@example.com")
    for endpoint in ("supportdesk_desk.index", "supportdesk_portal.tickets"):
        response = client.get(url(seeded, endpoint))
        assert response.status_code == 200, endpoint
        page = response.get_data(as_text=True)
        assert 'aria-label="Store"' in page and "Trailhead Outfitters" in page
        assert "store.css" in page and "supportdesk.css" in page
        assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
    home = client.get("/").get_data(as_text=True)
    assert url(seeded, "supportdesk_desk.index") in home  # staff get the desk in the nav


def test_store_pages_send_a_strict_content_security_policy(seeded: Flask) -> None:
    response = seeded.test_client().get("/")
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_customer_pages_are_for_staff_only(seeded: Flask) -> None:
    client = seeded.test_client()
    log_in(client, "alice@example.com")
    assert client.get("/staff/customers").status_code == 404
    assert url(seeded, "supportdesk_desk.index") not in client.get("/").get_data(as_text=True)

    staff = seeded.test_client()
    log_in(staff, "agent@example.com")
    listing = staff.get("/staff/customers").get_data(as_text=True)
    assert "alice@example.com" in listing and "agent@example.com" not in listing
    with seeded.app_context():
        alice_id = user("alice@example.com").id
    page = staff.get(f"/staff/customers/{alice_id}").get_data(as_text=True)
    assert "Order #1042" in page and "I was charged twice" in page
    assert "Shoes are one size too small" not in page  # Bob's ticket
    # "Open conversation" starts a chat with this customer in the desk.
    start = url(seeded, "supportdesk_desk.start_conversation", customer=alice_id)
    assert f'href="{start}"' in page.replace("&amp;", "&")
    assert "Open conversation" in staff.get(start).get_data(as_text=True)
    # Staff may open any order from a ticket's link.
    assert staff.get("/orders/2001").status_code == 200


def test_escalation_beyond_the_owner_records_a_platform_case(seeded: Flask) -> None:
    with seeded.test_request_context():
        ticket = db.session.scalars(sa.select(Ticket).filter_by(subject="Refund for the rain jacket")).one()
        owner = actor_for(user("owner@example.com"))
        escalation.escalate(owner, ticket.number, reason="Manager wants a second opinion")
        escalation.escalate(owner, ticket.number, reason="Payment provider bug")
        # The hand-off is made after commit (in the request here; by the delivery thread in
        # a store on the defaults).
        assert get_state().delivery.flush(timeout=20)  # type: ignore[union-attr]
        db.session.expire_all()
        escalated = db.session.get(Ticket, ticket.id)
        case = db.session.scalars(sa.select(PlatformSupportCase)).one()
        assert escalated is not None and escalated.escalated_beyond_ref == case.reference
        assert case.ticket_number == ticket.number and case.reason == "Payment provider bug"
        assert case.escalated_by == "Olga Owner"


def test_staff_file_a_ticket_for_a_customer_about_their_order(seeded: Flask) -> None:
    client = seeded.test_client()
    log_in(client, "agent@example.com")
    new_url = url(seeded, "supportdesk_desk.new_ticket")
    page = client.get(new_url).get_data(as_text=True)
    response = client.post(
        new_url,
        data={"requester": "Alice@Example.com", "subject": "Called about a late parcel",
              "body": "Customer phoned in.", "order": "#1042", "category": "exchange",
              "department": "", "priority": "high", "csrf_token": form_token(page)},
    )
    assert response.status_code in (302, 303), response.get_data(as_text=True)
    with seeded.app_context():
        ticket = db.session.scalars(sa.select(Ticket).filter_by(subject="Called about a late parcel")).one()
        # find_user matched the e-mail, and the order was resolved as the customer's own.
        assert ticket.requester_id == str(user("alice@example.com").id)
        assert ticket.reference_label == "Order #1042"
        assert ticket.department is not None and ticket.department.slug == "shipping"


def test_a_department_agent_sees_only_their_departments_tickets(seeded: Flask) -> None:
    client = seeded.test_client()
    log_in(client, "shipping@example.com")
    page = client.get(url(seeded, "supportdesk_desk.index", tab="all")).get_data(as_text=True)
    assert "My parcel has not arrived" in page  # shipping
    assert "I was charged twice" not in page  # billing


def test_the_store_uses_only_the_desks_public_api() -> None:
    """Hosts copy the example store: it must not reach into the desk's internals."""
    import ast
    import pathlib

    import example_store

    folder = pathlib.Path(example_store.__file__).parent
    for path in folder.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                assert not name.startswith("flask_supportdesk.services"), f"{path}: {name}"
                assert not name.startswith("flask_supportdesk.blueprints"), f"{path}: {name}"


def test_a_customers_page_lists_their_tickets_page_by_page(seeded: Flask) -> None:
    import flask_supportdesk as desk

    with seeded.test_request_context():
        alice, bob = user("alice@example.com"), user("bob@example.com")
        alice_id = alice.id
        # Bob's tickets mention Alice's address: a search would have found them too.
        for n in range(25):
            desk.open_ticket(requester=str(bob.id), subject=f"About alice@example.com {n}", body="x")
        for n in range(23):
            desk.open_ticket(requester=str(alice.id), subject=f"Alice question {n}", body="x")
    staff = seeded.test_client()
    log_in(staff, "owner@example.com")
    first = staff.get(f"/staff/customers/{alice_id}").get_data(as_text=True)
    second = staff.get(f"/staff/customers/{alice_id}?page=2").get_data(as_text=True)
    assert "About alice@example.com" not in first + second
    listed = re.findall(r"Alice question (\d+)", first + second)
    # 23 new ones and the 5 seeded ones: 20 on the first page, the rest on the second.
    assert len(set(listed)) == 23
    assert first.count("<li><a href=") == 20 and "Older tickets" in first
    assert "Newer tickets" in second and "Older tickets" not in second


def test_the_login_page_lists_the_demo_accounts_and_staff_land_on_the_desk(
    seeded: Flask,
) -> None:
    client = seeded.test_client()
    page = client.get("/login").get_data(as_text=True)
    assert "Demo accounts" in page and DEMO_PASSWORD in page
    assert all(demo.email in page for demo in DEMO_USERS)
    response = log_in(client, "agent@example.com")
    assert response.headers["Location"] == url(seeded, "supportdesk_desk.index")
    customer = seeded.test_client()
    assert log_in(customer, "alice@example.com").headers["Location"] == url(seeded, "shop.home")


def test_a_store_without_demo_data_lists_no_demo_accounts(store: Flask) -> None:
    with store.app_context():
        db.create_all()
    page = store.test_client().get("/login").get_data(as_text=True)
    assert "Password for all" not in page and DEMO_PASSWORD not in page


def test_make_demo_prints_the_port_it_serves() -> None:
    import pathlib

    makefile = (pathlib.Path(__file__).parent.parent / "Makefile").read_text(encoding="utf-8")
    assert "seed-demo --url http://127.0.0.1:$(PORT)/" in makefile
    assert "run --port $(PORT)" in makefile
