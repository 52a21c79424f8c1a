"""The chat widget's server side: its configuration (per visitor, never an identity the
server trusts later), the ``supportdesk_widget()`` tags, the vendored Socket.IO client,
and the way in a visitor's widget takes: the configuration's CSRF token opens a chat
over real HTTP and its token opens the live connection."""

from __future__ import annotations

import hashlib
import html
import json
import pathlib
import re
import typing as t

import pytest
import requests
from flask import Flask
from flask import render_template_string
from flask.testing import FlaskClient
from livesocket import Recorder
from livesocket import serve

import flask_supportdesk
import hostapp
from conftest import login
from flask_supportdesk.blueprints.widget import CONFIG_ELEMENT_ID

CONFIG = "/support/widget/config.json"
STATIC = pathlib.Path(flask_supportdesk.__file__).parent / "static" / "supportdesk"
EVIL_NAME = "</script><script>alert(1)</script><img src=x onerror=alert(2)>"


def inline_config(page: str) -> dict[str, t.Any]:
    """The JSON data block ``supportdesk_widget()`` wrote into ``page``."""
    found = re.search(
        rf'<script type="application/json" id="{CONFIG_ELEMENT_ID}">(.*?)</script>', page, re.S
    )
    assert found, page
    return t.cast(dict[str, t.Any], json.loads(found.group(1)))


def test_a_visitor_gets_everything_the_widget_needs(client: FlaskClient) -> None:
    response = client.get(CONFIG)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert "Cookie" in response.headers["Vary"]
    config = response.get_json()
    assert config["enabled"] is True and config["version"] == 1
    assert config["customer"] is None
    assert config["api"] == "/support/api/v1"
    assert config["socket"] == {"path": "/socket.io/", "namespace": "/supportdesk"}
    assert config["css"] == "/support/static/supportdesk/widget.css"
    assert config["socketio_client"].endswith("/vendor/socket.io/socket.io.min.js")
    assert config["limits"] == {
        "max_message_length": 12000,
        "max_attachments": 5,
        "max_attachment_size": 10 * 1024 * 1024,
        "allowed_extensions": [
            "jpg", "jpeg", "png", "webp", "pdf", "doc", "docx", "xls", "xlsx", "csv", "txt", "zip",
        ],
        "token_max_age": 7200,
    }  # fmt: skip
    assert config["availability"] == {"online": False, "reply_within_hours": 24}
    assert config["messages"]["Start chat"] == "Start chat"
    # Every static file it names is served.
    for url in (config["css"], config["socketio_client"], "/support/static/supportdesk/widget.js"):
        assert client.get(url).status_code == 200, url


@pytest.mark.settings(chat_offline_reply_hours=4, max_attachments=2)
def test_the_configuration_follows_the_settings_and_the_language(client: FlaskClient) -> None:
    config = client.get(CONFIG, headers={"Accept-Language": "de"}).get_json()
    assert config["locale"] == "de"
    assert config["messages"]["Start chat"] == "Chat starten"
    assert config["messages"]["We usually reply within %(num)s hour."]["other"] == (
        "Wir antworten meist innerhalb von %(num)s Stunden."
    )
    assert config["availability"]["reply_within_hours"] == 4
    assert config["limits"]["max_attachments"] == 2
    # Only the widget's own texts: the desk's shortcuts are not sent to every store page.
    assert "%(num)s selected" not in config["messages"]


def test_a_customer_is_named_and_never_identified(client: FlaskClient, alice: t.Any) -> None:
    login(client, alice)
    config = client.get(CONFIG).get_json()
    assert config["customer"] == {"name": "Alice Customer"}
    # Nothing a page could pass back as "who I am": the session cookie is the identity.
    text = json.dumps(config)
    assert "alice@example.com" not in text
    assert '"id"' not in text and "user_id" not in text


def test_staff_get_no_widget(app: Flask, client: FlaskClient, agent: t.Any) -> None:
    login(client, agent)
    assert client.get(CONFIG).get_json() == {"version": 1, "enabled": False}
    with app.test_request_context("/"):
        login_as(app, agent)
        assert render_template_string("{{ supportdesk_widget() }}") == ""


def login_as(app: Flask, user: t.Any) -> None:
    from flask_login import login_user

    login_user(hostapp.USERS[int(user.id)])


def test_the_jinja_global_writes_an_inert_configuration(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    evil = hostapp.User(99, EVIL_NAME, "evil@example.com")
    monkeypatch.setitem(hostapp.USERS, 99, evil)
    with app.test_request_context("/"):
        login_as(app, evil)
        page = render_template_string("<body>{{ supportdesk_widget() }}</body>")
    # One data block and two deferred scripts from the desk's static folder, no inline code.
    assert page.count("<script") == 3
    assert page.count("</script>") == 3
    assert "<img" not in page and "alert(1)</script>" not in page
    scripts = re.findall(r'<script src="([^"]+)" defer></script>', page)
    assert scripts == [
        "/support/static/supportdesk/vendor/socket.io/socket.io.min.js",
        "/support/static/supportdesk/widget.js",
    ]
    config = inline_config(page)
    assert config["customer"] == {"name": EVIL_NAME}
    assert config["csrf_token"]  # a customer has a session already
    assert "availability" not in config  # the widget asks when it opens (no query per page)
    assert "99" not in json.dumps(config["customer"])


def test_the_desk_pages_never_show_it(app: Flask) -> None:
    with app.test_request_context("/support/desk/"):
        assert render_template_string("{{ supportdesk_widget() }}") == ""


def test_a_visitors_page_sets_no_cookie(app: Flask, client: FlaskClient) -> None:
    """Looking at the shop starts no session: the page's configuration has no CSRF token
    for a visitor; the widget fetches one (and with it the session) when it first writes."""
    from flask import session

    with app.test_request_context("/"):
        config = inline_config(render_template_string("{{ supportdesk_widget() }}"))
        assert config["csrf_token"] is None
        assert not session.modified
    fetched = client.get(CONFIG)
    assert fetched.get_json()["csrf_token"] and "Set-Cookie" in fetched.headers


def test_a_host_without_the_desk_on_this_app_renders_nothing() -> None:
    other = Flask("other")
    from flask_supportdesk.blueprints.widget import widget_tags

    with other.test_request_context("/"):
        assert widget_tags() == ""


def test_the_vendored_socketio_client_is_shipped_with_its_licence() -> None:
    folder = STATIC / "vendor" / "socket.io"
    client = (folder / "socket.io.min.js").read_bytes()
    readme = (folder / "README.txt").read_text(encoding="utf-8")
    assert client.startswith(b"/*!\n * Socket.IO v4.8.1\n")
    assert "socket.io-client@4.8.1" in readme
    assert hashlib.sha256(client).hexdigest() in readme
    assert "Socket.IO protocol 5" in readme
    assert "The MIT License" in (folder / "LICENSE").read_text(encoding="utf-8")


def test_the_script_sets_no_html_but_the_servers_sanitised_body() -> None:
    script = (STATIC / "widget.js").read_text(encoding="utf-8")
    assert re.findall(
        r"(?:innerHTML|outerHTML|insertAdjacentHTML|document\.write)\b.*", script
    ) == ['innerHTML = message.html || "";']
    # No eval-like code and nothing from another site.
    assert not re.search(r"\beval\(|new Function|https?://(?!www\.w3\.org/2000/svg)", script)


def test_a_visitor_opens_a_chat_and_connects_with_what_the_widget_gets(app: Flask) -> None:
    """The widget's way in, over real HTTP and a real Socket.IO connection."""
    with serve(app) as url:
        http = requests.Session()
        config = http.get(url + CONFIG, timeout=5).json()
        opened = http.post(
            url + config["api"] + "/chats",
            json={
                "first_name": "Gina",
                "last_name": "Guest",
                "email": "gina@example.net",
                "body": "Hello <b>there</b>",
                "client_id": "6a1c1a8e-2f7e-4a47-9d54-5c1a8b7f0c11",
            },
            headers={"X-CSRFToken": config["csrf_token"]},
            timeout=5,
        )
        assert opened.status_code == 201, opened.text
        token, number = opened.json()["token"], opened.json()["ticket"]["number"]
        visitor = Recorder().connect(url, token=token, socketio_path=config["socket"]["path"])
        try:
            joined = visitor.call("join", {"ticket": number})
            assert joined["ok"] and joined["ticket"]["status"] == "open"
            synced = visitor.call("sync", {"ticket": number, "after": 0})
            assert [m["body"] for m in synced["messages"]] == ["Hello <b>there</b>"]
            assert "<b>" not in synced["messages"][0]["html"]
            assert html.unescape(synced["messages"][0]["html"]).count("Hello <b>there</b>") == 1
            # The token renewal the widget does every 30 minutes.
            renewed = http.post(
                url + config["api"] + "/chats/token",
                headers={"Authorization": f"Bearer {token}"},
                timeout=5,
            )
            assert renewed.status_code == 200 and renewed.json()["token"]
        finally:
            visitor.disconnect()


def test_the_configuration_holds_no_internal_content(
    client: FlaskClient, canary_ticket: t.Any, alice: t.Any
) -> None:
    from conftest import assert_no_canary

    login(client, alice)
    assert_no_canary(client.get(CONFIG))


def test_a_guest_signed_in_by_a_guest_link_chats_as_a_visitor(app: Flask) -> None:
    """The portal's signed-in guest (a contact-form link) gets the visitor's widget, and
    its pre-chat form opens a chat like any visitor's."""
    import time

    from flask_supportdesk.identity import GUEST_SESSION_KEY

    client = app.test_client()
    with client.session_transaction() as session:
        session[GUEST_SESSION_KEY] = {"email": "gina@example.net", "until": time.time() + 600}
    config = client.get(CONFIG).get_json()
    assert config["enabled"] and config["customer"] is None
    opened = client.post(
        config["api"] + "/chats",
        json={"first_name": "Gina", "email": "gina@example.net", "body": "Hello"},
        headers={"X-CSRFToken": config["csrf_token"]},
    )
    assert opened.status_code == 201, opened.get_json()
    assert opened.get_json()["token"]
