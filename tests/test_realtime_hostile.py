"""HOSTILE.md §4 against the live protocol and the chat API: real python-socketio
clients on loopback (G1-G6, A8, B3, F2) and the HTTP side of chats."""

from __future__ import annotations

import time
import typing as t

import pytest
import requests
import socketio
import sqlalchemy as sa
from flask import Flask
from itsdangerous import URLSafeTimedSerializer
from livesocket import NAMESPACE
from livesocket import Recorder
from livesocket import session_cookie
from test_realtime import API
from test_realtime import connect
from test_realtime import start_chat

from conftest import CANARY
from conftest import assert_no_canary
from conftest import csrf_token
from conftest import login
from flask_supportdesk import Actor
from flask_supportdesk._state import get_state
from flask_supportdesk.models import Message
from flask_supportdesk.models import Ticket
from flask_supportdesk.services import contact
from flask_supportdesk.services import delegates
from flask_supportdesk.services import messages
from flask_supportdesk.services import receipts
from flask_supportdesk.services import tickets


def refused(url: str, **kwargs: t.Any) -> str:
    """Connect and expect a refusal; the error code the server gave (``connect_error``)."""
    client = socketio.Client(reconnection=False)
    errors: list[t.Any] = []
    client.on("connect_error", errors.append, namespace=NAMESPACE)
    with pytest.raises(socketio.exceptions.ConnectionError):
        client.connect(
            url, namespaces=[NAMESPACE], transports=["websocket"], wait_timeout=5, **kwargs
        )
    client.disconnect()
    assert errors and isinstance(errors[0], dict), errors
    assert errors[0]["message"] == errors[0]["data"]["message"]
    return str(errors[0]["data"]["code"])


# G1: connecting ------------------------------------------------------------------------


@pytest.mark.settings(chat_token_max_age=1)
def test_g1_connections_without_valid_credentials_are_refused(app: Flask, live: str) -> None:
    assert "unauthorized" in refused(live)
    assert "unauthorized" in refused(live, auth={"token": "not-a-token"})
    assert "unauthorized" in refused(live, auth={"token": ["a", "list"]})
    chat = start_chat(live)
    assert "unauthorized" in refused(live, auth={"token": chat.token[:-2] + "xx"})  # tampered
    # A token of another kind (a guest link, another salt) never passes as a chat token.
    with app.test_request_context():
        other = URLSafeTimedSerializer(app.secret_key, salt="flask-supportdesk.guest-link")
        forged = other.dumps({"e": "vera@example.com", "t": chat.number, "n": "x"})
    assert "unauthorized" in refused(live, auth={"token": forged})
    # Another store's secret.
    elsewhere = URLSafeTimedSerializer("another-secret", salt="flask-supportdesk.chat-token")
    assert "unauthorized" in refused(
        live, auth={"token": elsewhere.dumps({"e": "v@x.com", "t": chat.number})}
    )
    time.sleep(2.1)
    assert "token_expired" in refused(live, auth={"token": chat.token})
    # A foreign page's browser (Origin) is refused by the same-origin default.
    client = socketio.Client(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        client.connect(
            live,
            namespaces=[NAMESPACE],
            auth={"token": start_chat(live, email="w@example.com").token},
            headers={"Origin": "https://evil.example"},
            transports=["websocket"],
            wait_timeout=5,
        )


# A: whose rooms ------------------------------------------------------------------------


def test_a_visitor_sees_its_own_chat_and_nothing_else(
    app: Flask, live: str, clients: list[Recorder], alice: Actor
) -> None:
    mine = start_chat(live)
    theirs = start_chat(live, email="other@example.com", first_name="Otto")
    with app.test_request_context():
        # The same address's contact-form ticket: the chat visitor never proved the address.
        contact_form = contact.submit(
            name="Vera",
            email="vera@example.com",
            subject="Refund",
            body="Private",
            client_ip="1.2.3.4",
        ).ticket.number
        alices = tickets.open_ticket(alice, subject="Alice's", body="Mine").number
    visitor = connect(clients, live, token=mine.token)
    missing = visitor.call("join", {"ticket": "T-DOESNOTEXIST"})
    for number in (theirs.number, contact_form, alices):
        for event in ("join", "sync", "typing"):
            answer = visitor.call(event, {"ticket": number})
            assert answer == missing | ({} if event == "join" else answer), (event, number)
            assert answer["ok"] is False and answer["error"]["code"] == "not_found"
        sent = visitor.call("send", {"ticket": number, "body": "hi", "client_id": "x"})
        assert sent["error"]["code"] == "not_found"
    # Over HTTP with the token as bearer: the same one chat.
    http = requests.Session()
    bearer = {"Authorization": f"Bearer {mine.token}"}
    listed = http.get(f"{live}{API}/tickets", headers=bearer).json()["items"]
    assert [t["number"] for t in listed] == [mine.number]
    for number in (theirs.number, contact_form, alices):
        assert http.get(f"{live}{API}/tickets/{number}", headers=bearer).status_code == 404
    # A visitor's token beside a logged-in cookie: the token is the caller.
    login_http = requests.Session()
    session_cookie(login_http, live, 1)
    as_token = login_http.get(f"{live}{API}/tickets", headers=bearer).json()["items"]
    assert [t["number"] for t in as_token] == [mine.number]
    with app.app_context():
        assert (
            get_state().db.session.scalar(
                sa.select(sa.func.count()).select_from(Message).where(Message.body == "hi")
            )
            == 0
        )


def test_a_customer_joins_their_side_only_and_never_another_customers(
    app: Flask, live: str, clients: list[Recorder], alice: Actor, bob: Actor
) -> None:
    with app.test_request_context():
        bobs = tickets.open_ticket(bob, subject="Bob's", body="Private").number
    customer = connect(clients, live, user=1)
    answer = customer.call("join", {"ticket": bobs})
    assert answer["ok"] is False and answer["error"]["code"] == "not_found"
    assert customer.call("sync", {"ticket": bobs})["error"]["code"] == "not_found"


# B3: internal content on sockets ---------------------------------------------------------


def test_b3_nothing_internal_reaches_a_customer_or_visitor_connection(
    app: Flask, live: str, clients: list[Recorder], alice: Actor, agent: Actor, canary_ticket: t.Any
) -> None:
    chat = start_chat(live)
    customer = connect(clients, live, user=1)
    assert customer.call("join", {"ticket": canary_ticket.number})["ok"]
    visitor = connect(clients, live, token=chat.token)
    staff = connect(clients, live, user=10)
    for number in (canary_ticket.number, chat.number):
        assert staff.call("join", {"ticket": number})["ok"]
        note = staff.call(
            "send",
            {"ticket": number, "body": f"Note {CANARY}", "channel": "internal", "client_id": "n"},
        )
        assert note["ok"]
        assert staff.call("typing", {"ticket": number, "channel": "internal"}) == {"ok": True}
        assert staff.call("read", {"ticket": number, "message": note["message"]["id"]}) == {
            "ok": True
        }
        with app.test_request_context():
            messages.edit_message(agent, note["message"]["id"], f"Edited {CANARY}")
    # Staff hear of all of it (the test would prove nothing if nothing was emitted).
    staff.wait_for("message", lambda d: "Edited" in d["message"]["body"])
    staff.wait_for("typing", lambda d: d["channel"] == "internal") if len(clients) > 3 else None
    time.sleep(0.5)
    for side in (customer, visitor):
        assert_no_canary(side.events)
        assert not side.named("message") and not side.named("typing") and not side.named("read")
        # Nor the "ticket" and inbox hints a note could bump: a note changes no field.
        assert not side.named("ticket") and not side.named("inbox")
    # Catch-up and the join answer carry nothing internal either.
    assert_no_canary(customer.call("sync", {"ticket": canary_ticket.number, "after": 0}))
    assert_no_canary(customer.call("join", {"ticket": canary_ticket.number}))
    assert_no_canary(visitor.call("sync", {"ticket": chat.number, "after": 0}))
    # Staff's read position, seen by the customer, is a public message's id at most.
    with app.test_request_context():
        seen = receipts.seen(
            alice,
            get_state().db.session.scalar(sa.select(Ticket).filter_by(number=canary_ticket.number)),
        )
    assert (
        seen.staff in (None, canary_ticket.public_message_id)
        or seen.staff < canary_ticket.internal_message_id
    )


# G3: forged author, channel, fields ------------------------------------------------------


def test_g3_forged_fields_are_refused_and_the_server_sets_the_author(
    app: Flask, live: str, clients: list[Recorder]
) -> None:
    chat = start_chat(live)
    visitor = connect(clients, live, token=chat.token)
    forged = visitor.call(
        "send",
        {
            "ticket": chat.number,
            "body": "I am the agent",
            "author_id": "10",
            "internal": True,
            "role": "agent",
            "created_at": "2001-01-01T00:00:00Z",
            "client_id": "f-1",
        },
    )
    assert forged["ok"] is False and forged["error"]["code"] == "validation_error"
    assert set(forged["error"]["fields"]) == {"author_id", "internal", "role", "created_at"}
    note = visitor.call("send", {"ticket": chat.number, "body": "secret", "channel": "internal"})
    assert note["error"]["code"] == "forbidden_field"
    customer = connect(clients, live, user=1)
    with app.test_request_context():
        own = tickets.open_ticket(
            Actor("1", "Alice Customer", "alice@example.com"), subject="Mine", body="x"
        ).number
    assert (
        customer.call("send", {"ticket": own, "body": "note", "channel": "internal"})["error"][
            "code"
        ]
        == "forbidden_field"
    )
    with app.app_context():
        bodies = get_state().db.session.scalars(sa.select(Message.body)).all()
    assert "I am the agent" not in bodies and "secret" not in bodies and "note" not in bodies


def test_oversized_and_malformed_events_get_error_acks(
    app: Flask, live: str, clients: list[Recorder]
) -> None:
    chat = start_chat(live)
    visitor = connect(clients, live, token=chat.token)
    huge = visitor.call("send", {"ticket": chat.number, "body": "x" * 70_000, "client_id": "big"})
    assert huge["error"]["code"] == "payload_too_large"
    long_body = visitor.call("send", {"ticket": chat.number, "body": "x" * 12_001})
    assert (
        long_body["error"]["code"] == "validation_error" and "body" in long_body["error"]["fields"]
    )
    for bad in ("a string", ["a", "list"], None, 42):
        answer = visitor.call("send", bad)
        assert answer["ok"] is False and answer["error"]["code"] == "validation_error", bad
    wrong_types = [
        ({"ticket": 42, "body": "x"}, "ticket"),
        ({"ticket": chat.number, "body": {"html": "<b>"}}, "body"),
        ({"ticket": chat.number, "body": "x", "channel": "shout"}, "channel"),
        ({"ticket": chat.number, "body": "x", "client_id": ["x"]}, "client_id"),
        ({"ticket": chat.number, "body": "a\x00b"}, "body"),
    ]
    for data, field in wrong_types:
        answer = visitor.call("send", data)
        assert (
            answer["error"]["code"] == "validation_error" and field in answer["error"]["fields"]
        ), data
    assert visitor.call("sync", {"ticket": chat.number, "after": "1; DROP"})["error"]["fields"] == {
        "after": "Must be a message id."
    }
    assert visitor.call("read", {"ticket": chat.number, "message": 2**40})["error"]["code"] in {
        "validation_error",
        "not_found",
    }
    assert visitor.call("join", {"ticket": "T-\ud800"})["ok"] is False
    # The connection still works after all of it.
    assert visitor.call("send", {"ticket": chat.number, "body": "Still here", "client_id": "ok"})[
        "ok"
    ]


@pytest.mark.settings(socket_rate_limit="5 per 10 seconds")
def test_a_flooding_connection_is_limited_and_others_are_not(
    app: Flask, live: str, clients: list[Recorder]
) -> None:
    chat = start_chat(live)
    flooder = connect(clients, live, token=chat.token)
    other_chat = start_chat(live, email="calm@example.com")
    calm = connect(clients, live, token=other_chat.token)
    answers = [flooder.call("typing", {"ticket": chat.number}) for _ in range(8)]
    assert [a["ok"] for a in answers[:5]] == [True] * 5
    limited = answers[5]
    assert limited["error"]["code"] == "rate_limited" and limited["error"]["retry_after"] >= 1
    assert calm.call("send", {"ticket": other_chat.number, "body": "Fine", "client_id": "c"})["ok"]


# A8: revocation and logout ---------------------------------------------------------------


@pytest.fixture
def mailing_app(app: Flask) -> Flask:
    """Invitations are mails: the store delivers them itself (tests/test_delegates.py)."""
    from test_delegates import DeliveredHere

    get_state(app).desk.register(DeliveredHere(), app=app)
    return app


def test_a8_a_revoked_delegate_stops_receiving_at_once(
    mailing_app: Flask,
    app: Flask,
    live: str,
    clients: list[Recorder],
    alice: Actor,
    bob: Actor,
    agent: Actor,
) -> None:
    with app.test_request_context():
        number = tickets.open_ticket(alice, subject="Shared", body="Please help").number
        invitation = delegates.invite(alice, number, bob.email)
        delegates.accept(bob, delegates.invitation_token(invitation))
        invitation_id = invitation.id
    delegate = connect(clients, live, user=2)
    assert delegate.call("join", {"ticket": number})["ok"]
    with app.test_request_context():
        messages.post_message(agent, number, "Before")
    delegate.wait_for("message", lambda d: d["message"]["body"] == "Before")
    with app.test_request_context():
        delegates.revoke(alice, number, invitation_id)
        messages.post_message(agent, number, "After revocation")
    time.sleep(0.5)
    assert [d["message"]["body"] for d in delegate.named("message")] == ["Before"]
    assert delegate.call("join", {"ticket": number})["error"]["code"] == "not_found"
    assert delegate.call("sync", {"ticket": number})["error"]["code"] == "not_found"


def test_logging_out_closes_the_users_connections(
    app: Flask, live: str, clients: list[Recorder]
) -> None:
    http = requests.Session()
    staff = connect(clients, live, user=10, http=http)
    assert staff.client.connected
    assert http.get(f"{live}/_test/logout").status_code == 200
    deadline = time.monotonic() + 5
    while staff.client.connected:
        assert time.monotonic() < deadline, "still connected after logging out"
        time.sleep(0.05)


def test_a_closed_chat_takes_no_message(
    app: Flask, live: str, clients: list[Recorder], agent: Actor
) -> None:
    chat = start_chat(live)
    visitor = connect(clients, live, token=chat.token)
    with app.test_request_context():
        tickets.update_ticket(agent, chat.number, {"status": "closed"})
    closed = visitor.wait_for("ticket", lambda d: d["ticket"]["status"] == "closed")
    assert closed["ticket"]["closed_at"]
    answer = visitor.call("send", {"ticket": chat.number, "body": "Hello?", "client_id": "late"})
    assert answer["error"]["code"] == "ticket_closed"


# The chat API ----------------------------------------------------------------------------


def _open(client: t.Any, body: dict[str, t.Any], ip: str = "10.0.0.1", **kw: t.Any) -> t.Any:
    return client.post(
        f"{API}/chats",
        json=body,
        headers={"X-CSRFToken": csrf_token(client)},
        environ_base={"REMOTE_ADDR": ip},
        **kw,
    )


GUEST = {"first_name": "Vera", "last_name": "V", "email": "vera@example.com", "body": "Hi"}


def test_the_pre_chat_form_reports_every_bad_field(client: t.Any) -> None:
    answer = _open(
        client, {"first_name": "A\nB", "email": "not-an-address", "phone": "call me", "body": "Hi"}
    )
    assert answer.status_code == 400, answer.json
    assert set(answer.json["error"]["fields"]) == {"first_name", "email", "phone"}
    assert _open(client, {**GUEST, "body": "  "}).json["error"]["fields"].keys() == {"body"}
    assert _open(client, {**GUEST, "first_name": ""}).json["error"]["fields"] == {
        "first_name": "Required."
    }
    assert _open(client, {**GUEST, "body": "x" * 12_001}).status_code == 400
    assert _open(client, {**GUEST, "user_id": "10"}).json["error"]["code"] == "forbidden_field"
    assert _open(client, [1, 2]).status_code == 400  # type: ignore[arg-type]
    no_csrf = client.post(f"{API}/chats", json=GUEST)
    assert no_csrf.status_code == 400 and no_csrf.json["error"]["code"] == "csrf_failed"


def test_html_in_the_pre_chat_form_is_kept_as_text(app: Flask, client: t.Any) -> None:
    evil = "<img src=x onerror=alert(1)>"
    answer = _open(
        client, {**GUEST, "first_name": evil, "body": f"{evil} <script>alert(2)</script>"}
    )
    assert answer.status_code == 201
    assert answer.json["ticket"]["requester"]["name"].startswith(
        evil
    )  # JSON: text, escaped by readers
    with app.app_context():
        message = get_state().db.session.scalars(sa.select(Message)).one()
        assert "<script" not in message.html and "<img" not in message.html
        assert "&lt;img src=x onerror=alert(1)&gt;" in message.html  # shown as text


def test_customers_send_only_the_body_and_staff_do_not_open_chats(client: t.Any) -> None:
    login(client, 1)
    mine = _open(client, {"body": "Is my order shipped?", "client_id": "c-1"})
    assert mine.status_code == 201 and mine.json["token"] is None
    assert mine.json["ticket"]["requester"]["id"] == "1"
    again = _open(client, {"body": "Is my order shipped?", "client_id": "c-1"})
    assert (
        again.status_code == 200 and again.json["ticket"]["number"] == mine.json["ticket"]["number"]
    )
    assert _open(client, {**GUEST}).json["error"]["code"] == "forbidden_field"
    login(client, 10)
    assert _open(client, {"body": "hi"}).status_code == 403


@pytest.mark.settings(chat_rate_limit_per_ip="3 per hour", chat_rate_limit_per_address="2 per hour")
def test_f2_a_guest_cannot_start_hundreds_of_chats(app: Flask, client: t.Any) -> None:
    statuses = [
        _open(client, {**GUEST, "email": f"v{i}@example.com"}, ip="10.0.0.9").status_code
        for i in range(5)
    ]
    assert statuses == [201, 201, 201, 429, 429]
    limited = _open(client, {**GUEST, "email": "v9@example.com"}, ip="10.0.0.9")
    assert (
        limited.json["error"]["code"] == "rate_limited" and int(limited.headers["Retry-After"]) > 0
    )
    per_address = [
        _open(client, {**GUEST, "email": "same@example.com"}, ip=f"10.1.0.{i}").status_code
        for i in range(4)
    ]
    assert per_address == [201, 201, 429, 429]
    assert _open(client, {**GUEST, "email": "fresh@example.com"}, ip="10.2.0.1").status_code == 201
    with app.app_context():
        count = get_state().db.session.scalar(sa.select(sa.func.count()).select_from(Ticket))
    assert count == 3 + 2 + 1


def test_tokens_renew_while_valid_and_are_bound_to_their_chat(app: Flask, client: t.Any) -> None:
    opened = _open(client, GUEST).json
    token, number = opened["token"], opened["ticket"]["number"]
    other = _open(client, {**GUEST, "email": "other@example.com"}).json
    fresh = client.post(f"{API}/chats/token", headers={"Authorization": f"Bearer {token}"})
    assert fresh.status_code == 200 and fresh.json["token"]
    bearer = {"Authorization": f"Bearer {fresh.json['token']}"}
    assert client.get(f"{API}/tickets/{number}", headers=bearer).status_code == 200
    assert (
        client.get(f"{API}/tickets/{other['ticket']['number']}", headers=bearer).status_code == 404
    )
    # Posting with the bearer token needs no CSRF token; the server sets the author.
    posted = client.post(
        f"{API}/tickets/{number}/messages", json={"body": "By token"}, headers=bearer
    )
    assert posted.status_code == 201 and posted.json["author"]["staff"] is False
    internal = client.post(
        f"{API}/tickets/{number}/messages",
        json={"body": "x", "channel": "internal"},
        headers=bearer,
    )
    assert internal.status_code == 400 and internal.json["error"]["code"] == "forbidden_field"
    assert client.post(f"{API}/chats/token").status_code == 401
    damaged = client.post(f"{API}/chats/token", headers={"Authorization": "Bearer abc.def"})
    assert damaged.status_code == 401 and damaged.json["error"]["code"] == "unauthorized"
    assert (
        client.get(f"{API}/tickets", headers={"Authorization": "Bearer " + "x" * 5000}).status_code
        == 401
    )


@pytest.mark.settings(chat_token_max_age=1)
def test_an_expired_token_is_410_and_cannot_be_renewed(client: t.Any) -> None:
    token = _open(client, GUEST).json["token"]
    time.sleep(2.1)
    answer = client.post(f"{API}/chats/token", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 410 and answer.json["error"]["code"] == "token_expired"
    assert (
        client.get(f"{API}/tickets", headers={"Authorization": f"Bearer {token}"}).status_code
        == 410
    )
