"""A small host store for the tests: users in memory, Flask-Login, a plugin with hooks."""

from __future__ import annotations

import dataclasses
import typing as t

from flask import Flask
from flask import abort
from flask import render_template_string
from flask_login import LoginManager
from flask_login import login_user
from flask_login import logout_user
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import generate_csrf

from flask_supportdesk import Actor
from flask_supportdesk import Reference
from flask_supportdesk import SupportDesk
from flask_supportdesk import hookimpl


@dataclasses.dataclass
class User:
    id: int
    name: str
    email: str
    supportdesk_role: str | None = None
    departments: tuple[str, ...] | None = None
    is_authenticated: bool = True
    is_active: bool = True
    is_anonymous: bool = False

    def get_id(self) -> str:
        return str(self.id)

    @property
    def actor(self) -> Actor:
        return Actor(self.id, self.name, self.email, self.supportdesk_role)


USERS: dict[int, User] = {
    u.id: u
    for u in [
        User(1, "Alice Customer", "alice@example.com"),
        User(2, "Bob Customer", "bob@example.com"),
        User(10, "Ann Agent", "ann@store.example", "agent"),
        User(11, "Otto Other-Team", "otto@store.example", "agent", ("shipping",)),
        User(12, "Lena Lower-Staff", "lena@store.example", "agent"),
        User(20, "Max Manager", "max@store.example", "manager"),
        User(30, "Olga Owner", "olga@store.example", "owner"),
    ]
}

#: Orders by id: (owner user id, label).
ORDERS = {"1001": (1, "Order #1001"), "2002": (2, "Order #2002")}


class StorePlugin:
    """The host's answers to the desk's hooks."""

    def __init__(self) -> None:
        self.beyond: list[str] = []

    @hookimpl
    def supportdesk_load_user(self, user_id: str) -> Actor | None:
        user = USERS.get(int(user_id)) if user_id.isdigit() else None
        return user.actor if user else None

    @hookimpl
    def supportdesk_find_user(self, email: str) -> Actor | None:
        for user in USERS.values():
            if user.email == email:
                return user.actor
        return None

    @hookimpl
    def supportdesk_staff_members(self) -> list[Actor]:
        return [u.actor for u in USERS.values() if u.supportdesk_role]

    @hookimpl
    def supportdesk_staff_departments(self, actor: Actor) -> t.Sequence[str] | None:
        user = USERS.get(int(actor.id)) if actor.id.isdigit() else None
        return user.departments if user else None

    @hookimpl
    def supportdesk_resolve_reference(self, kind: str, ref: str, actor: Actor) -> Reference | None:
        order = ORDERS.get(ref) if kind == "order" else None
        if order is None or str(order[0]) != actor.id:
            return None
        return Reference(order[1], f"/orders/{ref}")

    @hookimpl
    def supportdesk_escalate_beyond(self, ticket: t.Any, actor: Actor, reason: str) -> str:
        self.beyond.append(ticket.number)
        return f"PLATFORM-{len(self.beyond)}"


def create_app(
    config: dict[str, t.Any] | None = None,
    *,
    plugins: t.Sequence[object] = (),
    before_desk: t.Callable[[Flask], object] | None = None,
) -> Flask:
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY="test-secret",
        TESTING=True,
        SQLALCHEMY_DATABASE_URI="sqlite://",
        SUPPORTDESK_LOAD_ENTRY_POINTS=False,
        # In the request, after its commit: a test reads the mail right after its change
        # (tests/test_notifications.py tests the background thread itself).
        SUPPORTDESK_DELIVER_IN_BACKGROUND=False,
    )
    app.config.update(config or {})
    db = SQLAlchemy(app)
    login = LoginManager(app)
    login.user_loader(lambda user_id: USERS.get(int(user_id)))
    plugin = StorePlugin()
    app.extensions["test_plugin"] = plugin
    if before_desk is not None:  # what a host sets up first (e.g. its own Flask-Babel)
        before_desk(app)
    SupportDesk(app, db=db, plugins=[plugin, *plugins])

    @app.get("/_test/login/<int:user_id>")
    def _login(user_id: int) -> str:
        user = USERS.get(user_id) or abort(404)
        login_user(user)
        return "ok"

    @app.get("/_test/logout")
    def _logout() -> str:
        logout_user()
        return "ok"

    @app.get("/_test/csrf")
    def _csrf() -> str:
        return generate_csrf()

    @app.get("/")
    def index() -> str:
        return render_template_string("<h1>Test store</h1>")

    return app
