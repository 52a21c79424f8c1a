"""The live protocol with real python-socketio clients against a real server on loopback:
joins, sends, catch-up, typing, receipts, presence (docs/live_chat.rst)."""

from __future__ import annotations

import time
import typing as t

import pytest
import requests
import socketio
import sqlalchemy as sa
from flask import Flask
from livesocket import Recorder
from livesocket import session_cookie

from flask_supportdesk import Actor
from flask_supportdesk import host_transaction
from flask_supportdesk._state import get_state
from flask_supportdesk.models import Connection
from flask_supportdesk.models import Message
from flask_supportdesk.models import MessageRead
from flask_supportdesk.models import Source
from flask_supportdesk.services import messages
from flask_supportdesk.services import tickets

API = "/support/api/v1"


class Chat(t.NamedTuple):
    number: str
    token: str


def start_chat(url: str, http: requests.Session | None = None, **fields: t.Any) -> Chat:
    """A visitor opens a chat over HTTP, as the widget does."""
    http = http or requests.Session()
    csrf = http.get(f"{url}/_test/csrf").text
    body = {"first_name": "Vera", "last_name": "Visitor", "email": "vera@example.com"}
    body.update(fields)
    body.setdefault("body", "Hello, is anyone there?")
    response = http.post(f"{url}{API}/chats", json=body, headers={"X-CSRFToken": csrf})
    assert response.status_code == 201, response.text
    return Chat(response.json()["ticket"]["number"], response.json()["token"])


def connect(
    clients: list[Recorder],
    url: str,
    *,
    token: str | None = None,
    user: int | None = None,
    http: requests.Session | None = None,
) -> Recorder:
    """A live client: a visitor with ``token``, or test user ``user`` logged in (over
    ``http``, whose logout then ends the session)."""
    cookie = session_cookie(http or requests.Session(), url, user) if user is not None else None
    client = Recorder().connect(url, token=token, cookie=cookie)
    clients.append(client)
    return client


def test_a_visitor_and_staff_talk_live(app: Flask, live: str, clients: list[Recorder]) -> None:
    chat = start_chat(live)
    visitor = connect(clients, live, token=chat.token)
    joined = visitor.call("join", {"ticket": chat.number})
    assert joined["ok"] and joined["ticket"]["source"] == "chat"
    assert "email" not in joined["ticket"]["requester"]  # the customer's view
    staff = connect(clients, live, user=10)
    staff_joined = staff.call("join", {"ticket": chat.number})
    assert staff_joined["ticket"]["requester"]["email"] == "vera@example.com"  # staff view

    sent = staff.call("send", {"ticket": chat.number, "body": "Hi Vera!", "client_id": "s-1"})
    assert sent["ok"] and sent["message"]["author"] == {
        "id": "10",
        "name": "Ann Agent",
        "staff": True,
    }
    got = visitor.wait_for("message", lambda d: d["message"]["id"] == sent["message"]["id"])
    assert got == {"ticket": chat.number, "message": sent["message"]}
    # The staff reply moved the status: the visitor's side hears of it, as it sees it.
    changed = visitor.wait_for("ticket", lambda d: d["ticket"]["status"] == "pending_customer")
    assert "level" not in changed["ticket"]

    reply = visitor.call(
        "send", {"ticket": chat.number, "body": "Where is my parcel?", "client_id": "v-1"}
    )
    assert reply["message"]["author"] == {"id": None, "name": "Vera Visitor", "staff": False}
    staff.wait_for("message", lambda d: d["message"]["id"] == reply["message"]["id"])
    with app.app_context():
        stored = get_state().db.session.get(Message, reply["message"]["id"])
        assert stored is not None and stored.author_is_staff is False


def test_a_repeated_client_id_stores_one_message(
    app: Flask, live: str, clients: list[Recorder]
) -> None:
    chat = start_chat(live)
    visitor = connect(clients, live, token=chat.token)
    first = visitor.call("send", {"ticket": chat.number, "body": "Once", "client_id": "retry-1"})
    again = visitor.call("send", {"ticket": chat.number, "body": "Once", "client_id": "retry-1"})
    staff = connect(clients, live, user=10)
    staff_first = staff.call(
        "send", {"ticket": chat.number, "body": "Me too", "client_id": "retry-1"}
    )
    staff_again = staff.call(
        "send", {"ticket": chat.number, "body": "Me too", "client_id": "retry-1"}
    )
    assert first == again and staff_first == staff_again
    assert first["message"]["id"] != staff_first["message"]["id"]  # per author
    with app.app_context():
        count = get_state().db.session.scalar(sa.select(sa.func.count()).select_from(Message))
    assert count == 3  # the first message, one of the visitor's, one of staff's


def test_sync_catches_up_after_a_disconnect(
    app: Flask, live: str, clients: list[Recorder], agent: Actor
) -> None:
    """HOSTILE G5: offline while staff post three messages and change the status; the
    reconnected client gets exactly those, in order, and the ticket as it is now."""
    chat = start_chat(live)
    visitor = connect(clients, live, token=chat.token)
    last_seen = visitor.call("sync", {"ticket": chat.number, "after": 0})["messages"][-1]["id"]
    visitor.disconnect()
    with app.test_request_context():
        for text in ("One", "Two", "Three"):
            messages.post_message(agent, chat.number, text)
        tickets.update_ticket(agent, chat.number, {"priority": "high"})
    again = connect(clients, live, token=chat.token)
    caught = again.call("sync", {"ticket": chat.number, "after": last_seen})
    assert [m["body"] for m in caught["messages"]] == ["One", "Two", "Three"]
    assert caught["ticket"]["priority"] == "high" and caught["more"] is False
    # Nothing doubled when the client syncs again from the newest id it has.
    newest = caught["messages"][-1]["id"]
    assert again.call("sync", {"ticket": chat.number, "after": newest})["messages"] == []


def test_typing_and_read_receipts(app: Flask, live: str, clients: list[Recorder]) -> None:
    chat = start_chat(live)
    visitor = connect(clients, live, token=chat.token)
    staff = connect(clients, live, user=10)
    staff.call("join", {"ticket": chat.number})
    assert visitor.call("typing", {"ticket": chat.number}) == {"ok": True}
    typing = staff.wait_for("typing")
    assert typing == {
        "ticket": chat.number,
        "channel": "public",
        "user": {"name": "Vera Visitor", "staff": False},
    }
    assert not visitor.named("typing")  # not echoed to the one typing

    reply = staff.call("send", {"ticket": chat.number, "body": "Looking", "client_id": "a"})
    assert visitor.call("read", {"ticket": chat.number, "message": reply["message"]["id"]}) == {
        "ok": True
    }
    receipt = staff.wait_for("read")
    assert receipt["message"] == reply["message"]["id"]
    assert receipt["reader"] == {"name": "Vera Visitor", "staff": False}
    # Stored: a later join shows how far the visitor read ("Seen").
    assert staff.call("join", {"ticket": chat.number})["read"]["customer"] == reply["message"]["id"]
    # Reading an older message does not move the receipt back.
    first = visitor.call("sync", {"ticket": chat.number, "after": 0})["messages"][0]["id"]
    visitor.call("read", {"ticket": chat.number, "message": first})
    with app.app_context():
        rows = get_state().db.session.scalars(sa.select(MessageRead)).all()
        assert [(r.message_id, r.staff) for r in rows] == [(reply["message"]["id"], False)]


def test_staff_presence_decides_availability(
    app: Flask, live: str, clients: list[Recorder]
) -> None:
    http = requests.Session()
    assert http.get(f"{live}{API}/chats/availability").json() == {
        "online": False,
        "reply_within_hours": 24,
    }
    chat = start_chat(live)
    visitor = connect(clients, live, token=chat.token)
    staff = connect(clients, live, user=10)
    assert visitor.wait_for("presence") == {"online": True}
    assert http.get(f"{live}{API}/chats/availability").json()["online"] is True

    assert staff.call("presence", {"status": "away"}) == {"ok": True, "status": "away"}
    visitor.wait_for("presence", lambda d: d == {"online": False})
    assert http.get(f"{live}{API}/chats/availability").json()["online"] is False
    assert staff.call("presence", {"status": "online"})["status"] == "online"
    colleague = connect(clients, live, user=20)
    colleague.wait_for("presence", lambda d: d.get("user", {}).get("id") == "10" or True)

    staff.disconnect()
    colleague.disconnect()
    deadline = time.monotonic() + 5
    while http.get(f"{live}{API}/chats/availability").json()["online"]:
        assert time.monotonic() < deadline, "staff still online after disconnecting"
        time.sleep(0.05)
    assert visitor.call("presence", {"status": "away"})["error"]["code"] == "forbidden"


def test_emits_follow_the_commit_never_a_rollback(
    app: Flask, live: str, clients: list[Recorder], agent: Actor
) -> None:
    chat = start_chat(live)
    visitor = connect(clients, live, token=chat.token)
    db = None
    with app.test_request_context():
        db = get_state().db
        with host_transaction():
            messages.post_message(agent, chat.number, "Never sent")
        db.session.rollback()
        with host_transaction():
            messages.post_message(agent, chat.number, "Sent on commit")
        time.sleep(0.3)
        assert not visitor.named("message")  # written, not yet committed: nothing told
        db.session.commit()
    got = visitor.wait_for("message")
    assert got["message"]["body"] == "Sent on commit"
    time.sleep(0.2)
    assert [d["message"]["body"] for d in visitor.named("message")] == ["Sent on commit"]


def test_a_staff_started_chat_reaches_the_customer_anywhere(
    app: Flask, live: str, clients: list[Recorder], agent: Actor
) -> None:
    customer = connect(clients, live, user=1)
    with app.test_request_context():
        opened = tickets.open_ticket(
            agent,
            subject="About your order",
            body="Can we help?",
            source=Source.CHAT,
            requester_id="1",
        )
        number = opened.number
    popup = customer.wait_for("ticket", lambda d: d.get("started_by_staff"))
    assert popup["ticket"]["number"] == number and "level" not in popup["ticket"]
    joined = customer.call("join", {"ticket": number})
    assert joined["ok"]
    assert [m["body"] for m in customer.call("sync", {"ticket": number})["messages"]] == [
        "Can we help?"
    ]


def test_connections_are_kept_in_the_database_while_open(
    app: Flask, live: str, clients: list[Recorder]
) -> None:
    staff = connect(clients, live, user=10)
    customer = connect(clients, live, user=1)
    with app.app_context():
        rows = get_state().db.session.execute(sa.select(Connection.user_id, Connection.staff)).all()
    assert sorted(rows) == [("1", False), ("10", True)]
    staff.disconnect()
    customer.disconnect()
    deadline = time.monotonic() + 5
    while True:
        with app.app_context():
            left = get_state().db.session.scalar(sa.select(sa.func.count()).select_from(Connection))
        if not left:
            break
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_the_desk_creates_its_socketio_or_uses_the_hosts(app: Flask) -> None:
    from flask_socketio import SocketIO

    assert isinstance(app.extensions["socketio"], SocketIO)
    assert get_state(app).socketio is app.extensions["socketio"]
    import hostapp

    def host_socketio(host: Flask) -> None:
        host.extensions["host_socketio"] = SocketIO(host)

    host = hostapp.create_app(before_desk=host_socketio)
    assert get_state(host).socketio is host.extensions["host_socketio"]
    assert "/supportdesk" in host.extensions["host_socketio"].server.namespace_handlers


def test_the_namespace_is_reachable_with_the_test_client(app: Flask) -> None:
    """Flask-SocketIO's own test client works too (for hosts' unit tests)."""
    socketio_ext = app.extensions["socketio"]
    client = app.test_client()
    client.get("/_test/login/10")
    sio = socketio_ext.test_client(app, namespace="/supportdesk", flask_test_client=client)
    assert sio.is_connected("/supportdesk")
    ack = sio.emit("sync", {"ticket": "T-NOPE"}, namespace="/supportdesk", callback=True)
    assert ack["ok"] is False and ack["error"]["code"] == "not_found"
    sio.disconnect(namespace="/supportdesk")


def test_a_socketio_client_without_a_namespace_handler_gets_nothing(live: str) -> None:
    """The default namespace is not the desk's: connecting there gives no access."""
    client = socketio.Client(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        client.connect(live, namespaces=["/supportdesk"], transports=["websocket"], wait_timeout=5)
    client.disconnect()


@pytest.mark.settings(presence_timeout=3)
def test_an_idle_connection_stays_online_and_a_dead_process_rows_do_not(
    app: Flask, live: str, clients: list[Recorder]
) -> None:
    """Each process refreshes its own connections' rows; a process that died leaves rows
    nobody refreshes, which stop counting after SUPPORTDESK_PRESENCE_TIMEOUT."""
    import datetime as dt

    from flask_supportdesk.models import utcnow
    from flask_supportdesk.services import presence

    connect(clients, live, user=10)  # sends nothing more: idle
    with app.app_context():
        session = get_state().db.session
        session.add(
            Connection(
                sid="dead-process",
                user_id="20",
                staff=True,
                seen_at=utcnow() - dt.timedelta(seconds=10),
            )
        )
        session.commit()
    time.sleep(4)  # past the timeout: only a refresh keeps user 10 online
    with app.app_context():
        status = presence.staff_status(["10", "20"])
        assert {k: v.value for k, v in status.items()} == {"10": "online", "20": "offline"}
    assert requests.get(f"{live}{API}/chats/availability", timeout=5).json()["online"] is True
