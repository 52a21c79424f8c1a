"""The store the benchmark serves: users in memory, a login route, SQL counting.

Served by gunicorn as ``benchapp:create_app()`` (see :mod:`server`); configured through
the environment, because gunicorn imports it in its own worker processes:

``BENCH_DATABASE_URL``
    The seeded database (see :mod:`seed`).
``BENCH_COUNT_QUERIES``
    ``1``: every response carries ``X-Bench-Queries`` (SQL statements the request ran),
    ``X-Bench-SQL-ms`` (time spent in the database driver running them and fetching
    their rows: see :class:`TimedCursor`),
    ``X-Bench-App-ms`` (wall time inside Flask) and ``X-Bench-CPU-ms`` (CPU time of the
    request's thread: unlike wall time, hardly skewed by other work on the machine).

Like a real store it keeps users in its own storage (here: in memory, customers made up
from their id) and answers the desk's hooks from them.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
import typing as t

import sqlalchemy as sa
from flask import Flask
from flask import Response
from flask import abort
from flask import g
from flask_login import LoginManager
from flask_login import current_user
from flask_login import login_user
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import generate_csrf

from flask_supportdesk import Actor
from flask_supportdesk import SupportDesk
from flask_supportdesk import hookimpl

#: Customers have ids from here on; lower ids are staff.
FIRST_CUSTOMER_ID = 1000

#: Departments of the bench store: (slug, name).
DEPARTMENTS = (
    ("payments", "Payments"),
    ("shipping", "Shipping"),
    ("returns", "Returns & exchanges"),
    ("technical", "Technical support"),
    ("accounts", "Accounts"),
)


@dataclasses.dataclass(frozen=True)
class User:
    """A store user, as Flask-Login and the desk's identify hook read it."""

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


def _staff() -> dict[int, User]:
    owner = [User(1, "Olga Owner", "olga@bench.example", "owner")]
    managers = [
        User(2, "Max Manager", "max@bench.example", "manager"),
        User(3, "Mia Manager", "mia@bench.example", "manager", ("payments", "accounts")),
    ]
    # Twenty agents, most working in one or two departments, two in all of them.
    slugs = [slug for slug, _ in DEPARTMENTS]
    agents = []
    for n in range(20):
        user_id = 10 + n
        if n in (1, 2):
            departments = None
        elif n == 0:
            departments = ("shipping", "returns")
        else:
            departments = (slugs[n % len(slugs)],) + ((slugs[(n + 2) % len(slugs)],) if n % 3 else ())
        agents.append(User(user_id, f"Agent {user_id}", f"agent{user_id}@bench.example", "agent", departments))
    return {u.id: u for u in owner + managers + agents}


#: Staff by id: 1 owner, 2-3 managers, 10-29 agents (10 is the bench's agent).
STAFF = _staff()
OWNER_ID, AGENT_ID = 1, 10


def get_user(user_id: int) -> User | None:
    """A staff member, or a made-up customer for any id from :data:`FIRST_CUSTOMER_ID`."""
    if user_id in STAFF:
        return STAFF[user_id]
    if user_id >= FIRST_CUSTOMER_ID:
        return User(user_id, f"Customer {user_id}", f"customer{user_id}@bench.example")
    return None


class BenchStorePlugin:
    """The bench store's answers to the desk's hooks."""

    @hookimpl
    def supportdesk_load_user(self, user_id: str) -> Actor | None:
        user = get_user(int(user_id)) if user_id.isdigit() else None
        return user.actor if user else None

    @hookimpl
    def supportdesk_find_user(self, email: str) -> Actor | None:
        local, _, domain = email.partition("@")
        if domain != "bench.example":
            return None
        for prefix in ("customer", "agent"):
            if local.startswith(prefix) and local[len(prefix):].isdigit():
                user = get_user(int(local[len(prefix):]))
                return user.actor if user else None
        return None

    @hookimpl
    def supportdesk_staff_members(self) -> list[Actor]:
        return [user.actor for user in STAFF.values()]

    @hookimpl
    def supportdesk_staff_departments(self, actor: Actor) -> t.Sequence[str] | None:
        user = get_user(int(actor.id)) if actor.id.isdigit() else None
        return user.departments if user else None


def _sqlite_pragmas(dbapi_connection: t.Any, _record: t.Any) -> None:
    # What a store serving SQLite from several processes sets: readers do not block the
    # writer (WAL) and a writer waits for the lock instead of failing at once.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


class SQLClock(threading.local):
    """The statements this thread's driver ran while recording, each with its time.

    Each entry is ``[seconds, statement, parameters]``; its time grows while the rows of
    the statement are fetched.
    """

    def __init__(self) -> None:
        self.statements: list[list[t.Any]] | None = None
        #: While a new connection sets itself up (pragmas, the dialect's own queries):
        #: those statements belong to the pool, not to the request that opened it.
        self.paused = False

    def start(self) -> list[list[t.Any]]:
        """Record from now on; returns the list the entries go to."""
        self.statements = []
        return self.statements

    def stop(self) -> list[list[t.Any]]:
        """Stop recording; returns what was recorded."""
        statements, self.statements = self.statements or [], None
        return statements

    def entry(self, statement: t.Any, params: t.Any) -> list[t.Any]:
        """A new statement's entry, recorded unless paused or not recording."""
        entry = [0.0, statement, params]
        if self.statements is not None and not self.paused:
            self.statements.append(entry)
        return entry


#: Every thread's SQL clock (a gunicorn gthread worker serves one request per thread).
SQL_CLOCK = SQLClock()


class _Timed:
    """Mixed into a driver's cursor class: times ``execute`` *and* the fetches of its rows.

    Timing only ``cursor.execute`` (as SQLAlchemy's before/after_cursor_execute events
    do) under-counts SQLite: its ``execute`` only starts the statement, and the rows are
    found while they are fetched. Each statement's entry grows from execute to the last
    fetch, and nothing of SQLAlchemy's own (Python) work on the rows is counted.
    """

    _entry: list[t.Any]

    def _timed(self, method: t.Callable[..., t.Any], *args: t.Any, **kwargs: t.Any) -> t.Any:
        started = time.perf_counter()
        try:
            return method(*args, **kwargs)
        finally:
            entry = getattr(self, "_entry", None)
            if entry is not None:
                entry[0] += time.perf_counter() - started

    def execute(self, statement: t.Any, *args: t.Any, **kwargs: t.Any) -> t.Any:
        self._entry = SQL_CLOCK.entry(statement, args[0] if args else kwargs.get("params"))
        return self._timed(super().execute, statement, *args, **kwargs)  # type: ignore[misc]

    def executemany(self, statement: t.Any, *args: t.Any, **kwargs: t.Any) -> t.Any:
        self._entry = SQL_CLOCK.entry(statement, args[0] if args else kwargs.get("params_seq"))
        return self._timed(super().executemany, statement, *args, **kwargs)  # type: ignore[misc]

    def fetchone(self) -> t.Any:
        return self._timed(super().fetchone)  # type: ignore[misc]

    def fetchmany(self, *args: t.Any, **kwargs: t.Any) -> t.Any:
        return self._timed(super().fetchmany, *args, **kwargs)  # type: ignore[misc]

    def fetchall(self) -> t.Any:
        return self._timed(super().fetchall)  # type: ignore[misc]


def time_driver(engine: sa.Engine) -> None:
    """Make every new connection of ``engine`` time its statements (see :class:`_Timed`).

    Through the drivers' own extension points: sqlite3's connection ``factory`` (whose
    cursors are a timed subclass) and psycopg's ``cursor_factory``.
    """
    if engine.dialect.name == "sqlite":
        import sqlite3

        class SQLiteCursor(_Timed, sqlite3.Cursor):
            pass

        class SQLiteConnection(sqlite3.Connection):
            def cursor(self, factory: t.Any = SQLiteCursor) -> t.Any:  # type: ignore[override]
                return super().cursor(factory)

        options: dict[str, t.Any] = {"factory": SQLiteConnection}
    elif engine.dialect.driver == "psycopg":
        import psycopg

        class PsycopgCursor(_Timed, psycopg.Cursor):  # type: ignore[type-arg]
            pass

        options = {"cursor_factory": PsycopgCursor}
    else:
        return

    def connect(_dialect: t.Any, _record: t.Any, _cargs: t.Any, cparams: dict[str, t.Any]) -> None:
        cparams.update(options)
        SQL_CLOCK.paused = True  # until the pool hands the connection out (checkout)

    def checkout(_dbapi_connection: t.Any, _record: t.Any, _proxy: t.Any) -> None:
        SQL_CLOCK.paused = False

    sa.event.listen(engine, "do_connect", connect)
    sa.event.listen(engine, "checkout", checkout)
    engine.dispose()  # connections opened before this would not be timed


def install_probes(app: Flask) -> None:
    """Measure each request (SQL statements and time, app time, CPU), returned as headers."""

    @app.before_request
    def _start() -> None:
        g.bench_started = (time.perf_counter(), time.thread_time())
        SQL_CLOCK.start()

    @app.after_request
    def _headers(response: Response) -> Response:
        statements = SQL_CLOCK.stop()
        response.headers["X-Bench-Queries"] = str(len(statements))
        sql_ms = sum(entry[0] for entry in statements) * 1000
        response.headers["X-Bench-SQL-ms"] = f"{sql_ms:.2f}"
        wall, cpu = g.get("bench_started", (time.perf_counter(), time.thread_time()))
        response.headers["X-Bench-App-ms"] = f"{(time.perf_counter() - wall) * 1000:.2f}"
        response.headers["X-Bench-CPU-ms"] = f"{(time.thread_time() - cpu) * 1000:.2f}"
        return response


def create_app(database_url: str | None = None, config: t.Mapping[str, t.Any] | None = None) -> Flask:
    """The bench store on ``database_url`` (default: ``BENCH_DATABASE_URL``), with
    ``config`` (``SUPPORTDESK_MAIL_SERVER``, ...) added to its settings."""
    url = database_url or os.environ["BENCH_DATABASE_URL"]
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY="bench-secret-not-for-production",
        SQLALCHEMY_DATABASE_URI=url,
        SUPPORTDESK_LOAD_ENTRY_POINTS=False,
        **(config or {}),
    )
    if url.startswith("sqlite"):
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"connect_args": {"timeout": 10}}
    db = SQLAlchemy(app)
    login = LoginManager(app)
    login.user_loader(lambda user_id: get_user(int(user_id)) if user_id.isdigit() else None)
    SupportDesk(app, db=db, plugins=[BenchStorePlugin()])

    with app.app_context():
        engine = db.engine
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    time_driver(engine)
    if os.environ.get("BENCH_COUNT_QUERIES") == "1":
        install_probes(app)

    @app.get("/_bench/login/<int:user_id>")
    def _login(user_id: int) -> str:
        """Log in as anyone (loopback-only bench server); answers a CSRF token."""
        user = get_user(user_id) or abort(404)
        login_user(user)
        return generate_csrf()

    @app.get("/_bench/ping")
    def _ping() -> str:
        """Readiness probe, and the bench's floor: loads the logged-in user, nothing more."""
        return "ok" if current_user.is_authenticated else "anonymous"

    return app
