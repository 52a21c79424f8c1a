"""A form submitted twice (a double click, a resent POST after a slow answer) writes once,
as the API's writes do with ``client_id``."""

from __future__ import annotations

import re
import typing as t

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from conftest import csrf_token
from conftest import login
from flask_supportdesk._state import get_state
from flask_supportdesk.models import Message
from flask_supportdesk.models import Ticket


def count(app: Flask, model: type) -> int:
    with app.app_context():
        return int(get_state().db.session.scalar(sa.select(sa.func.count()).select_from(model)))


def form_client_id(page: str, action: str) -> str:
    """The hidden client_id of the form posting to ``action`` on ``page``."""
    form = page[page.index(f'action="{action}"') :]
    found = re.search(r'name="client_id"[^>]*value="([^"]+)"', form[: form.index("</form>")])
    assert found, f"no client_id in the form posting to {action}"
    return found.group(1)


def submit_twice(client: FlaskClient, url: str, data: dict[str, t.Any]) -> list[t.Any]:
    data = {"csrf_token": csrf_token(client), **data}
    return [client.post(url, data=data) for _ in range(2)]


def test_a_new_ticket_form_submitted_twice_opens_one_ticket(app, client, alice) -> None:
    login(client, alice)
    page = client.get("/support/new").get_data(as_text=True)
    key = form_client_id(page, "/support/new")
    data = {"subject": "Parcel", "body": "Late.", "category": "general", "client_id": key}
    first, second = submit_twice(client, "/support/new", data)
    assert first.status_code == second.status_code == 302
    assert first.headers["Location"] == second.headers["Location"]
    assert count(app, Ticket) == 1
    # A new visit of the form gets a new key: the next ticket is a new one.
    again = client.get("/support/new").get_data(as_text=True)
    assert form_client_id(again, "/support/new") != key


def test_a_reply_form_submitted_twice_posts_one_reply(app, client, alice) -> None:
    login(client, alice)
    first = submit_twice(
        client, "/support/new",
        {"subject": "Parcel", "body": "Late.", "category": "general", "client_id": "k1"},
    )[0]  # fmt: skip
    url = first.headers["Location"]
    page = client.get(url).get_data(as_text=True)
    action = url.split("#")[0] + "/reply"
    key = form_client_id(page, action)
    replies = submit_twice(client, action, {"body": "Any news?", "client_id": key})
    assert [r.status_code for r in replies] == [302, 302]
    assert count(app, Message) == 2  # the first message and one reply


def test_a_staff_reply_and_a_staff_ticket_submitted_twice_write_once(app, client, agent) -> None:
    login(client, agent)
    page = client.get("/support/desk/new").get_data(as_text=True)
    key = form_client_id(page, "/support/desk/new")
    data = {
        "requester": "alice@example.com", "subject": "Your refund", "category": "payment",
        "priority": "normal", "body": "It is on its way.", "client_id": key,
    }  # fmt: skip
    first, second = submit_twice(client, "/support/desk/new", data)
    assert first.headers["Location"] == second.headers["Location"]
    assert count(app, Ticket) == 1
    url = first.headers["Location"]
    page = client.get(url).get_data(as_text=True)
    action = url + "/reply"
    key = form_client_id(page, action)
    replies = submit_twice(
        client,
        action,
        {"body": "Sent today.", "channel": "public", "priority": "normal", "client_id": key},
    )
    assert [r.status_code for r in replies] == [302, 302]
    assert count(app, Message) == 2


def test_the_api_answers_a_repeated_client_id_with_the_first_ticket(app, client, alice) -> None:
    login(client, alice)
    headers = {"X-CSRFToken": csrf_token(client)}
    body = {"subject": "Parcel", "body": "Late.", "client_id": "order-1001-late"}
    first = client.post("/support/api/v1/tickets", json=body, headers=headers)
    second = client.post("/support/api/v1/tickets", json=body, headers=headers)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.get_json()["number"] == second.get_json()["number"]
    assert count(app, Ticket) == 1
    # Another customer's same key is theirs alone.
    login(client, 2)
    headers = {"X-CSRFToken": csrf_token(client)}
    third = client.post("/support/api/v1/tickets", json=body, headers=headers)
    assert third.status_code == 201 and count(app, Ticket) == 2
