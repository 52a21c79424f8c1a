"""The live protocol under gevent (SUPPORTDESK_SOCKETIO_ASYNC_MODE=gevent): a real
server process, monkey-patched first, on gevent's WSGIServer (tests/liveserver.py)."""

from __future__ import annotations

import pathlib
import typing as t

import pytest
import requests
from livesocket import Recorder
from livesocket import session_cookie
from test_scaleout_live import servers

from conftest import DATABASE_URL
from conftest import build_app


@pytest.fixture
def config(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> t.Iterator[dict[str, t.Any]]:
    """A gevent server's config; the tables are made by this process."""
    config = {
        "SQLALCHEMY_DATABASE_URI": DATABASE_URL or f"sqlite:///{tmp_path / 'desk.sqlite'}",
        "SUPPORTDESK_ATTACHMENT_FOLDER": str(tmp_path / "attachments"),
        "SUPPORTDESK_SOCKETIO_ASYNC_MODE": "gevent",
    }
    for _app in build_app(request, tmp_path, **config):
        yield config


def test_a_guest_chats_through_a_gevent_server(config: dict[str, t.Any]) -> None:
    with servers(config, count=1) as (url,):
        browser = requests.Session()  # the widget: the store's page gave it a CSRF token
        csrf = browser.get(f"{url}/_test/csrf", timeout=10).text
        opened = browser.post(
            f"{url}/support/api/v1/chats",
            json={"first_name": "Gina", "last_name": "Guest", "email": "gina@example.com", "body": "Hello?"},
            headers={"X-CSRFToken": csrf},
            timeout=10,
        )
        assert opened.status_code == 201, opened.text
        number, token = opened.json()["ticket"]["number"], opened.json()["token"]
        guest = Recorder().connect(url, token=token)
        staff = Recorder().connect(url, cookie=session_cookie(requests.Session(), url, 10))
        try:
            assert staff.call("join", {"ticket": number})["ok"]
            sent = guest.call("send", {"ticket": number, "body": "Is anyone there?", "client_id": "g1"})
            assert sent["ok"] and sent["message"]["body"] == "Is anyone there?"
            staff.wait_for("message", lambda d: d["message"]["body"] == "Is anyone there?")
            assert staff.call("send", {"ticket": number, "body": "Yes, Ann here.", "client_id": "s1"})["ok"]
            got = guest.wait_for("message", lambda d: d["message"]["body"] == "Yes, Ann here.")
            assert got["ticket"] == number and got["message"]["author"]["staff"] is True
        finally:
            guest.disconnect()
            staff.disconnect()
