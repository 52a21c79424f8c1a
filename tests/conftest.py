from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import typing as t
import uuid

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

import hostapp
from flask_supportdesk._state import get_state
from flask_supportdesk.migrations import VERSION_TABLE
from flask_supportdesk.models import Base
from flask_supportdesk.values import Actor

if t.TYPE_CHECKING:
    from mailserver import SMTPServer

DATABASE_URL = os.environ.get("SUPPORTDESK_TEST_DATABASE_URL")
#: Set by .ci/run: there, every part a test needs is installed, so a skip hides a gap.
FORBID_SKIPS = os.environ.get("SUPPORTDESK_FORBID_SKIPS") == "1"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "settings(**kw): SUPPORTDESK_* config for this test")


def _skip_as_failure(report: pytest.TestReport | pytest.CollectReport) -> None:
    if FORBID_SKIPS and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped, but SUPPORTDESK_FORBID_SKIPS=1: {report.longrepr}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> t.Iterator[None]:
    outcome = yield
    _skip_as_failure(outcome.get_result())  # type: ignore[attr-defined]


@pytest.hookimpl(tryfirst=True)
def pytest_collectreport(report: pytest.CollectReport) -> None:
    _skip_as_failure(report)


def pytest_report_header() -> str:
    return f"supportdesk database: {DATABASE_URL or 'sqlite (a file per test)'}"


def _reset(engine: sa.Engine) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for name in tables:
                conn.execute(sa.text(f"DELETE FROM {name}"))


@pytest.fixture(scope="session", autouse=True)
def _fresh_schema() -> None:
    """On a shared database, start the run from the current models: tables left by an
    earlier run (of an older version, perhaps) are dropped and created again."""
    if not DATABASE_URL:
        return
    engine = sa.create_engine(DATABASE_URL)
    try:
        with engine.begin() as conn:
            Base.metadata.drop_all(conn)
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {VERSION_TABLE}"))
            Base.metadata.create_all(conn)
    finally:
        engine.dispose()


class RequestIsolatedClient(FlaskClient):
    """A test client whose every request runs in its own app context, as in production.

    Tests hold an app context open (``ctx``) to call services; without this, requests
    would share its ``g`` (the cached actor) and its database session.
    """

    def open(self, *args: t.Any, **kwargs: t.Any) -> t.Any:
        with self.application.app_context():
            return super().open(*args, **kwargs)


def build_app(
    request: pytest.FixtureRequest, tmp_path: t.Any, **config: t.Any
) -> t.Iterator[Flask]:
    """The test host app on the test database, with ``config`` and the test's
    ``settings`` marker (which wins); its tables are emptied before and after."""
    marker = request.node.get_closest_marker("settings")
    overrides = {f"SUPPORTDESK_{k.upper()}": v for k, v in (marker.kwargs if marker else {}).items()}
    url = DATABASE_URL or f"sqlite:///{tmp_path / 'desk.sqlite'}"
    app = hostapp.create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SUPPORTDESK_ATTACHMENT_FOLDER": str(tmp_path / "attachments"),
            **config,
            **overrides,
        }
    )
    app.test_client_class = RequestIsolatedClient
    with app.app_context():
        engine = get_state().db.engine
        Base.metadata.create_all(engine)
        if DATABASE_URL:
            _reset(engine)
    yield app
    with app.app_context():
        delivery = get_state().delivery
        if delivery is not None:
            delivery.stop()
        get_state().db.session.remove()
        if DATABASE_URL:
            _reset(get_state().db.engine)
        get_state().db.engine.dispose()


@pytest.fixture
def app(request: pytest.FixtureRequest, tmp_path: t.Any) -> t.Iterator[Flask]:
    yield from build_app(request, tmp_path)


@pytest.fixture
def live(app: Flask) -> t.Iterator[str]:
    """The test app served over real HTTP and Socket.IO on a free loopback port."""
    from livesocket import serve

    with serve(app) as url:
        yield url


@pytest.fixture
def clients() -> t.Iterator[list[t.Any]]:
    """Live Socket.IO clients of a test (:class:`livesocket.Recorder`), disconnected
    after it."""
    made: list[t.Any] = []
    yield made
    closing = [client.disconnect() for client in made if client.client.connected]
    for thread in closing:
        thread.join(timeout=10)


@pytest.fixture
def ctx(app: Flask) -> t.Iterator[None]:
    with app.test_request_context():
        yield


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def plugin(app: Flask) -> hostapp.StorePlugin:
    return t.cast(hostapp.StorePlugin, app.extensions["test_plugin"])


def actor(user_id: int) -> Actor:
    return hostapp.USERS[user_id].actor


@pytest.fixture
def alice() -> Actor:
    return actor(1)


@pytest.fixture
def bob() -> Actor:
    return actor(2)


@pytest.fixture
def agent() -> Actor:
    return actor(10)


@pytest.fixture
def other_team_agent() -> Actor:
    return actor(11)


@pytest.fixture
def manager() -> Actor:
    return actor(20)


@pytest.fixture
def owner() -> Actor:
    return actor(30)


# -------------------------------------------------------------------------------------
# Hostile-plan fixtures (HOSTILE.md §6.2): a canary in everything only staff may see.
# -------------------------------------------------------------------------------------

CANARY = f"CANARY-INTERNAL-{uuid.uuid4()}"


def assert_no_canary(blob: t.Any) -> None:
    """Fail when the canary appears in ``blob`` (a response, bytes, str, JSON or list)."""
    if hasattr(blob, "get_data"):
        blob = blob.get_data()
    if isinstance(blob, bytes):
        blob = blob.decode("utf-8", "replace")
    if not isinstance(blob, str):
        blob = json.dumps(blob, default=str)
    assert CANARY not in blob, "internal content reached someone who may not see it"


@dataclasses.dataclass
class CanaryTicket:
    """Alice's ticket with a public thread and internal content carrying the canary."""

    number: str
    public_message_id: int
    internal_message_id: int
    public_attachment_id: int
    internal_attachment_id: int


@pytest.fixture
def canary_ticket(app: Flask, alice: Actor, agent: Actor) -> CanaryTicket:
    from flask_supportdesk.models import Attachment
    from flask_supportdesk.services import escalation
    from flask_supportdesk.services import messages
    from flask_supportdesk.services import tickets
    from flask_supportdesk.services.attachments import Upload

    with app.test_request_context():
        ticket = tickets.open_ticket(alice, subject="Where is my parcel?", body="It is late.")
        public = messages.post_message(
            agent, ticket.number, "We are looking into it.",
            attachments=[Upload.from_bytes("label.txt", b"shipping label\n")],
        )
        internal = messages.post_message(
            agent, ticket.number, f"Courier lost it. {CANARY}", channel="internal",
            attachments=[Upload.from_bytes(f"{CANARY}.txt", f"{CANARY}\n".encode())],
        )
        escalation.escalate(agent, ticket.number, reason=f"Refund needed {CANARY}")
        db = get_state().db
        public_att = db.session.scalars(sa.select(Attachment).filter_by(message_id=public.id)).one()
        internal_att = db.session.scalars(sa.select(Attachment).filter_by(message_id=internal.id)).one()
        return CanaryTicket(ticket.number, public.id, internal.id, public_att.id, internal_att.id)


def login(client: FlaskClient, user: Actor | int) -> FlaskClient:
    """Log ``client`` in as a test user (an Actor or a user id)."""
    user_id = user.id if isinstance(user, Actor) else user
    assert client.get(f"/_test/login/{user_id}").status_code == 200
    return client


def csrf_token(client: FlaskClient) -> str:
    """A valid CSRF token for ``client``'s session."""
    return client.get("/_test/csrf").get_data(as_text=True)


@pytest.fixture
def smtpd() -> t.Iterator[SMTPServer]:
    """A real SMTP server on loopback (:mod:`mailserver`), running for one test."""
    from mailserver import SMTPServer

    server = SMTPServer()
    server.start()
    yield server
    server.stop()


#: The Redis of the rate-limit tests (.ci/run sets it; each test keeps to a key prefix).
REDIS_URL = os.environ.get("SUPPORTDESK_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")


@pytest.fixture
def redis_prefix() -> t.Iterator[str]:
    """A key prefix of this test's own in :data:`REDIS_URL`; its keys are deleted after."""
    import redis

    prefix = f"sd-test-{uuid.uuid4().hex}"
    yield prefix
    connection = redis.Redis.from_url(REDIS_URL)
    for key in connection.scan_iter(f"{prefix}*"):
        connection.delete(key)
    connection.close()


@contextlib.contextmanager
def two_processes(
    request: pytest.FixtureRequest, tmp_path: t.Any, **config: t.Any
) -> t.Iterator[tuple[Flask, Flask]]:
    """Two test apps with the same ``config``, as two processes of one store would be
    (each its own desk state and rate limiter; on PostgreSQL, one database)."""
    builds = []
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        builds.append(build_app(request, tmp_path / name, **config))
    try:
        yield next(builds[0]), next(builds[1])
    finally:
        for build in builds:
            next(build, None)
