"""Live ticket pages and counters (static/supportdesk/live.js): what the server gives
them, and the ``viewing`` event of the desk's collision hints (docs/live_chat.rst)."""

from __future__ import annotations

import time

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from livesocket import Recorder
from livesocket import serve
from livesocket import session_cookie
from test_desk import counting_queries

from conftest import login
from flask_supportdesk.services import messages
from flask_supportdesk.services import tickets
from flask_supportdesk.values import Actor

DESK = "/support/desk"
SCRIPTS = ("supportdesk/live.js", "supportdesk/vendor/socket.io/socket.io.min.js")


def open_one(app: Flask, actor: Actor, subject: str = "Parcel missing") -> str:
    with app.test_request_context():
        return tickets.open_ticket(actor, subject=subject, body="It never came.").number


@pytest.mark.parametrize(
    ("user", "page", "view"),
    [(1, "/support/tickets/{number}", "portal"), (10, DESK + "/tickets/{number}", "desk"), (10, DESK + "/", "list")],
)
def test_live_pages_opt_in_and_stay_whole_without_scripts(
    app: Flask, client: FlaskClient, alice: Actor, user: int, page: str, view: str
) -> None:
    number = open_one(app, alice)
    login(client, user)
    html = client.get(page.format(number=number)).get_data(as_text=True)
    assert f'data-sd-live="{view}"' in html
    for script in SCRIPTS:
        assert f"/{script}" in html
        assert client.get(f"/support/static/{script}").status_code == 200
    if view != "list":
        assert f'data-ticket="{number}"' in html
        assert "It never came." in html  # the thread is in the page: nothing waits for a script
    else:
        assert f'data-counters="{DESK}/counters"' in html


@pytest.mark.settings(counters_max_age=3600)
def test_the_counters_fragment_counts_afresh_in_one_query(
    app: Flask, client: FlaskClient, alice: Actor
) -> None:
    open_one(app, alice)
    login(client, 10)
    assert client.get(f"{DESK}/").status_code == 200  # the counts are kept now
    open_one(app, alice, "Another one")
    with app.app_context(), counting_queries(app) as statements:
        response = client.get(f"{DESK}/counters?status=open")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    assert html.count('class="sd-counter ') == 4 and "<strong>2</strong><span>Open</span>" in html
    assert "sd-counter-open sd-active" in html
    assert len([s for s in statements if "count(" in s.lower()]) == 1


def test_the_counters_fragment_is_for_staff_only(app: Flask, client: FlaskClient) -> None:
    login(client, 1)
    response = client.get(f"{DESK}/counters")
    assert response.status_code == 403
    assert "sd-counters" not in response.get_data(as_text=True)


def _connect(url: str, user_id: int) -> Recorder:
    return Recorder().connect(url, cookie=session_cookie(requests.Session(), url, user_id))


def test_staff_on_the_same_ticket_hear_who_is_viewing(app: Flask, alice: Actor) -> None:
    number = open_one(app, alice)
    with serve(app) as url:
        ann, max_, customer = _connect(url, 10), _connect(url, 20), _connect(url, 1)
        try:
            assert ann.call("join", {"ticket": number})["ok"]
            assert customer.call("join", {"ticket": number})["ok"]
            assert max_.call("join", {"ticket": number})["ok"]
            seen = ann.wait_for("viewing", lambda d: d["state"] == "viewing")
            assert seen == {"ticket": number, "user": {"id": "20", "name": "Max Manager"}, "state": "viewing"}
            assert max_.call("leave", {"ticket": number})["ok"]
            ann.wait_for("viewing", lambda d: d["state"] == "left")
            assert max_.call("join", {"ticket": number})["ok"]
            max_.disconnect()
            deadline = time.monotonic() + 5
            while len(ann.named("viewing")) < 4 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert [d["state"] for d in ann.named("viewing")] == ["viewing", "left", "viewing", "left"]
            assert all(d["user"]["id"] == "10" for d in max_.named("viewing"))  # never itself
            # The customer's side never hears of staff viewing.
            assert customer.named("viewing") == []
        finally:
            ann.disconnect()
            customer.disconnect()


def test_a_live_page_catches_up_with_sync_from_the_newest_message_it_shows(
    app: Flask, alice: Actor, agent: Actor
) -> None:
    number = open_one(app, alice)
    with app.test_request_context():
        note = messages.post_message(agent, number, "Internal only.", channel="internal").id
        shown = messages.post_message(agent, number, "Shown on the page.").id
        later = messages.post_message(agent, number, "Posted after the page was served.").id
    with serve(app) as url:
        customer = _connect(url, 1)
        try:
            assert customer.call("join", {"ticket": number})["ok"]
            synced = customer.call("sync", {"ticket": number, "after": shown})
            assert [m["id"] for m in synced["messages"]] == [later]
            everything = customer.call("sync", {"ticket": number, "after": 0})
            assert note not in [m["id"] for m in everything["messages"]]
        finally:
            customer.disconnect()


def test_a_live_send_costs_a_fixed_number_of_statements(app: Flask, alice: Actor) -> None:
    """The send path (bench/chat.py's round trip) reads the ticket once, and its cost
    does not grow with the thread."""
    number = open_one(app, alice)
    with serve(app) as url:
        staff = _connect(url, 10)
        assert staff.call("join", {"ticket": number})["ok"]

        def send(n: int) -> list[str]:
            with app.app_context(), counting_queries(app) as statements:
                ack = staff.call("send", {"ticket": number, "body": f"Reply {n}", "client_id": f"c{n}"})
            assert ack["ok"], ack
            return statements

        try:
            send(0)  # warm-up
            few = send(1)
            for n in range(2, 12):
                send(n)
            many = send(12)
        finally:
            staff.disconnect()
    assert len(few) == len(many), many
    # The ticket: locked and read through the policy once; the acknowledgement is the
    # message JSON built inside the transaction, so nothing is reloaded after the commit.
    tickets_read = [s for s in many if s.lstrip().upper().startswith("SELECT") and "FROM supportdesk_ticket " in s]
    assert len(tickets_read) == 1, tickets_read
    # 10 before on_send stopped reading the ticket again, 9 before the ack reused the
    # JSON, 7 before a new message's empty attachment list stopped being loaded.
    assert len(many) <= 6, many
