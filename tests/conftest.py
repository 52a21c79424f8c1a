from __future__ import annotations

import os
import typing as t

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

import hostapp
from flask_supportdesk._state import get_state
from flask_supportdesk.models import Base
from flask_supportdesk.values import Actor

DATABASE_URL = os.environ.get("SUPPORTDESK_TEST_DATABASE_URL")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "settings(**kw): SUPPORTDESK_* config for this test")


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


@pytest.fixture
def app(request: pytest.FixtureRequest, tmp_path: t.Any) -> t.Iterator[Flask]:
    marker = request.node.get_closest_marker("settings")
    overrides = {f"SUPPORTDESK_{k.upper()}": v for k, v in (marker.kwargs if marker else {}).items()}
    url = DATABASE_URL or f"sqlite:///{tmp_path / 'desk.sqlite'}"
    app = hostapp.create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SUPPORTDESK_ATTACHMENT_FOLDER": str(tmp_path / "attachments"),
            **overrides,
        }
    )
    with app.app_context():
        engine = get_state().db.engine
        Base.metadata.create_all(engine)
        if DATABASE_URL:
            _reset(engine)
    yield app
    with app.app_context():
        get_state().db.session.remove()
        if DATABASE_URL:
            _reset(get_state().db.engine)
        get_state().db.engine.dispose()


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
