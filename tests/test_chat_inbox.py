"""The staff chat inbox (services/chat_inbox.py and the desk's chat pages): tabs and
counts, policy, routing to online staff, turning a chat into a ticket, ending it,
staff-started conversations, the unanswered fallback and the mails while chatting."""

from __future__ import annotations

import datetime as dt
import re
import typing as t

import pytest
import sqlalchemy as sa
from flask import Flask

from conftest import csrf_token
from conftest import login
from flask_supportdesk import policy
from flask_supportdesk._state import get_state
from flask_supportdesk.errors import Conflict
from flask_supportdesk.errors import Forbidden
from flask_supportdesk.errors import NotFound
from flask_supportdesk.errors import ValidationError
from flask_supportdesk.models import Notification
from flask_supportdesk.models import Source
from flask_supportdesk.models import Status
from flask_supportdesk.models import Ticket
from flask_supportdesk.models import utcnow
from flask_supportdesk.services import chat_inbox
from flask_supportdesk.services import chats
from flask_supportdesk.services import messages
from flask_supportdesk.services import presence
from flask_supportdesk.services import reads
from flask_supportdesk.services import tickets
from flask_supportdesk.values import Actor

DESK = "/support/desk"
_IPS = iter(range(1, 1 << 20))


def guest_chat(body: str = "Hello, anyone there?", email: str = "vera@visitor.example") -> Ticket:
    fields = {"first_name": "Vera", "last_name": "Visitor", "email": email, "body": body}
    # A client address each: the chat rate limit per address is not what is tested here.
    n = next(_IPS)
    return chats.open_chat(
        None, fields, client_ip=f"10.{n >> 16}.{(n >> 8) & 255}.{n & 255}"
    ).ticket


def online(*members: Actor) -> None:
    for member in members:
        presence.connected(f"sid-{member.id}", member)


def kinds(app: Flask) -> list[tuple[str, str]]:
    with app.app_context():
        rows = get_state().db.session.execute(
            sa.select(Notification.kind, Notification.recipient_email).order_by(Notification.id)
        )
        return [(k, e) for k, e in rows]


@pytest.fixture
def rctx(app: Flask) -> t.Iterator[None]:
    with app.test_request_context():
        yield


# -------------------------------------------------------------------------------------
# Tabs, counts, policy
# -------------------------------------------------------------------------------------


def test_tabs_hold_live_chats_only(rctx, alice, agent) -> None:
    new = guest_chat()
    answered = guest_chat(email="w@visitor.example")
    messages.post_message(agent, answered.number, "Hi, how can I help?")
    tickets.open_ticket(alice, subject="Not a chat", body="Portal ticket")
    resolved = guest_chat(email="x@visitor.example")
    tickets.update_ticket(agent, resolved.number, {"status": "resolved"})

    def numbers(tab: str) -> set[str]:
        return {c.number for c in chat_inbox.list_chats(agent, tab)}

    assert numbers("new") == {new.number}
    assert numbers("waiting") == {new.number}  # the answered one waits for the visitor
    assert numbers("all") == {new.number, answered.number}
    # Answering an unassigned chat took it (services.messages.post).
    assert numbers("mine") == {answered.number}

    counts = chat_inbox.tab_counts(agent)
    assert {tab: c.total for tab, c in counts.items()} == {
        "new": 1,
        "waiting": 1,
        "mine": 1,
        "all": 2,
    }
    # Both unread for a staff member who never opened them; opening one reads it.
    assert counts["all"].unread == 2
    reads.mark_read(agent, policy.get_ticket(agent, new.number))
    counts = chat_inbox.tab_counts(agent)
    assert counts["all"].unread == 1 and counts["new"].unread == 0


def test_policy_other_department_and_customers(
    rctx, alice, agent, other_team_agent, manager
) -> None:
    from flask_supportdesk.services import departments

    store = Actor.system()
    departments.create_department(store, name="Billing", slug="billing")
    chat = guest_chat()
    tickets.update_ticket(agent, chat.number, {"department": "billing"})
    assert [c.number for c in chat_inbox.list_chats(agent, "all")] == [chat.number]
    # Otto works in shipping only: he neither lists nor counts it.
    assert chat_inbox.list_chats(other_team_agent, "all") == []
    assert chat_inbox.tab_counts(other_team_agent)["all"].total == 0
    with pytest.raises(NotFound):
        chat_inbox.turn_into_ticket(other_team_agent, chat.number, subject="x", category="general")
    with pytest.raises(Forbidden):
        chat_inbox.list_chats(alice, "all")
    assert [c.number for c in chat_inbox.list_chats(manager, "all")] == [chat.number]


def test_counts_cost_one_query_whatever_the_chats(app, agent) -> None:
    from test_desk import counting_queries

    with app.test_request_context():
        chat_inbox.tab_counts(agent)  # policy's scope asked once per request
        with counting_queries(app) as few:
            chat_inbox.tab_counts(agent)
        for i in range(12):
            guest_chat(email=f"v{i}@visitor.example")
    with app.test_request_context():
        chat_inbox.tab_counts(agent)
        with counting_queries(app) as many:
            counts = chat_inbox.tab_counts(agent)
    assert counts["all"].total == 12
    assert len(few) == len(many) == 1


# -------------------------------------------------------------------------------------
# Routing
# -------------------------------------------------------------------------------------


def test_new_chat_goes_to_the_least_loaded_online_staff_member(
    rctx, agent, other_team_agent, manager
) -> None:
    lena = Actor(12, "Lena Lower-Staff", "lena@store.example", "agent")
    assert guest_chat(email="a@v.example").assignee_id is None  # nobody online: queue
    online(agent, lena, manager)
    presence.set_away(lena, True)  # away: offered nothing
    first = guest_chat(email="b@v.example")
    assert first.assignee_id == agent.id  # of the chat's level (agent), not the manager
    presence.set_away(lena, False)
    second = guest_chat(email="c@v.example")
    assert second.assignee_id == lena.id  # Ann has one already
    presence.disconnected(f"sid-{agent.id}", agent)
    presence.disconnected(f"sid-{lena.id}", lena)
    assert guest_chat(email="d@v.example").assignee_id == manager.id  # one level up


def test_staff_started_conversation(rctx, alice, agent) -> None:
    ticket = chat_inbox.start_conversation(agent, alice.id, "Hi Alice, about your order…")
    assert ticket.source is Source.CHAT and ticket.requester_id == alice.id
    assert ticket.assignee_id == agent.id
    assert [c.number for c in chat_inbox.list_chats(agent, "mine")] == [ticket.number]
    assert chat_inbox.list_chats(agent, "new") == []  # staff started it: not waiting
    with pytest.raises(Forbidden):
        chat_inbox.start_conversation(alice, "2", "Hi")
    for nobody in ("999", agent.id, "20"):  # unknown, oneself, a colleague
        with pytest.raises(ValidationError):
            chat_inbox.start_conversation(agent, nobody, "Hi")


# -------------------------------------------------------------------------------------
# Turning into a ticket, ending
# -------------------------------------------------------------------------------------


def test_turn_into_ticket_is_a_change_of_view(rctx, agent) -> None:
    from flask_supportdesk.services import timeline

    chat = guest_chat()
    messages.post_message(agent, chat.number, "Let me check.")
    converted = chat_inbox.turn_into_ticket(
        agent, chat.number, subject="Refund for order 1001", category="payment"
    )
    assert converted.chat_queued_at is not None
    assert (converted.subject, converted.category, converted.source) == (
        "Refund for order 1001",
        "payment",
        Source.CHAT,
    )
    assert converted.status is Status.PENDING_CUSTOMER  # kept
    assert chat_inbox.list_chats(agent, "all") == []
    kinds_ = [e.kind for e in timeline.list_events(agent, converted)]
    assert {"subject_changed", "category_changed", "chat_changed"} <= set(kinds_)
    with pytest.raises(Conflict):
        chat_inbox.turn_into_ticket(agent, chat.number, subject="again", category="payment")


def test_end_chat_resolves_it(rctx, agent) -> None:
    chat = guest_chat()
    ended = chat_inbox.end_chat(agent, chat.number)
    assert ended.status is Status.RESOLVED
    assert chat_inbox.list_chats(agent, "all") == []
    with pytest.raises(Conflict):
        chat_inbox.end_chat(agent, chat.number)


# -------------------------------------------------------------------------------------
# The unanswered fallback
# -------------------------------------------------------------------------------------


@pytest.mark.settings(chat_fallback_after=60)
def test_fallback_moves_unanswered_chats_once(rctx, agent) -> None:
    waiting = guest_chat()
    answered = guest_chat(email="w@visitor.example")
    messages.post_message(agent, answered.number, "Hi!")
    later = utcnow() + dt.timedelta(seconds=61)
    assert chat_inbox.fall_back_unanswered(now=utcnow()) == []  # not yet due
    assert chat_inbox.fall_back_unanswered(now=later) == [waiting.number]
    assert chat_inbox.fall_back_unanswered(now=later) == []  # idempotent
    ticket = policy.get_ticket(agent, waiting.number)
    assert ticket.chat_queued_at is not None and ticket.status is Status.OPEN
    thread = messages.list_messages(agent, ticket)
    notice = thread[-1]
    assert notice.author_id is None and notice.author_is_staff
    assert "vera@visitor.example" in notice.body and notice.channel.value == "public"
    assert [m.body for m in thread].count(notice.body) == 1
    assert chat_inbox.list_chats(agent, "all") == [policy.get_ticket(agent, answered.number)]


@pytest.mark.settings(chat_fallback_after=1)
def test_fallback_command(app) -> None:
    import time

    with app.test_request_context():
        number = guest_chat().number
    time.sleep(1.1)
    result = app.test_cli_runner().invoke(args=["supportdesk", "chat-fallback"])
    assert result.exit_code == 0, result.output
    assert number in result.output and "moved 1" in result.output
    again = app.test_cli_runner().invoke(args=["supportdesk", "chat-fallback"])
    assert again.exit_code == 0 and "moved 0" in again.output


def test_fallback_command_fails_loudly(app, monkeypatch) -> None:
    def broken(**kwargs: t.Any) -> list[str]:
        raise RuntimeError("database gone")

    monkeypatch.setattr(chat_inbox, "fall_back_unanswered", broken)
    result = app.test_cli_runner().invoke(args=["supportdesk", "chat-fallback"])
    assert result.exit_code == 1
    assert "database gone" in result.output


# -------------------------------------------------------------------------------------
# Mail while chatting (through the real SMTP test server)
# -------------------------------------------------------------------------------------


@pytest.fixture
def mail(request: pytest.FixtureRequest, tmp_path: t.Any, smtpd: t.Any) -> t.Iterator[Flask]:
    from mailserver import mail_app

    yield from mail_app(request, tmp_path, smtpd, SUPPORTDESK_CHAT_FALLBACK_AFTER=60)


def test_no_mail_per_chat_line_until_it_falls_back(mail, smtpd, agent) -> None:
    with mail.test_request_context():
        chat = guest_chat()
        for line in ("Hi!", "One moment please.", "Found it."):
            messages.post_message(agent, chat.number, line)
    # The chat's acknowledgement only: no mail per line while the visitor chats.
    assert not any("Found it." in m.text for m in smtpd.to("vera@visitor.example"))
    assert [k for k, e in kinds(mail) if e == "vera@visitor.example" and k == "reply_posted"] == []

    with mail.test_request_context():
        other = guest_chat(email="wim@visitor.example")
        chat_inbox.fall_back_unanswered(now=utcnow() + dt.timedelta(seconds=61))
        messages.post_message(agent, other.number, "Sorry for the wait: here is your answer.")
    texts = [m.text for m in smtpd.to("wim@visitor.example")]
    assert any("here is your answer" in text for text in texts)


def test_conversation_started_mail_opens_the_conversation(mail, smtpd, alice, agent) -> None:
    from mailserver import mail_link

    with mail.test_request_context():
        ticket = chat_inbox.start_conversation(agent, alice.id, "Hi Alice, your parcel is here.")
        number = ticket.number
        messages.post_message(agent, number, "Are you there?")
    received = smtpd.to("alice@example.com")
    assert len(received) == 1  # the start, not the second line
    assert "your parcel is here" in received[0].text
    link = mail_link(received[0])
    assert link.endswith(f"/support/tickets/{number}")
    client = mail.test_client()
    login(client, alice)
    assert "your parcel is here" in client.get(link).get_data(as_text=True)


# -------------------------------------------------------------------------------------
# The desk's pages
# -------------------------------------------------------------------------------------


def page(client: t.Any, url: str, status: int = 200) -> str:
    response = client.get(url)
    assert response.status_code == status, response.get_data(as_text=True)[:2000]
    return response.get_data(as_text=True)


def test_inbox_page_lists_and_counts(app, client, alice, agent) -> None:
    with app.test_request_context():
        first = chats.open_chat(
            None,
            {
                "first_name": "Vera",
                "email": "vera@visitor.example",
                "body": "Hi",
                "phone": "+49 30 1234",
            },
            client_ip="10.9.9.9",
        ).ticket.number
        tickets.open_ticket(alice, subject="Portal only", body="Not a chat")
    login(client, agent)
    html = page(client, f"{DESK}/chats")
    assert first in html and "Portal only" not in html
    assert "data-sd-chat-unread" in html and re.search(r"data-sd-chat-unread[^>]*>1<", html)
    assert re.search(r'data-sd-chat-tab="new"[^>]*>\s*New\s*<span class="sd-count">1</span>', html)
    # Every desk page shows the chat icon with its count.
    assert re.search(r"data-sd-chat-unread[^>]*>1<", page(client, f"{DESK}/"))
    conversation = page(client, f"{DESK}/chats/{first}")
    assert "+49 30 1234" in conversation and "vera@visitor.example" in conversation
    assert "Guest" in conversation and 'data-sd-composer="internal"' in conversation
    # Opening it read it: the icon's count is gone.
    assert re.search(r"data-sd-chat-unread[^>]*hidden", page(client, f"{DESK}/chats"))
    fragment = page(client, f"{DESK}/chats/list?tab=new")
    assert first in fragment and "<html" not in fragment
    page(client, f"{DESK}/chats/list?tab=bogus", 400)


def test_inbox_pages_policy(app, client, alice, other_team_agent, agent) -> None:
    from flask_supportdesk.services import departments

    with app.test_request_context():
        departments.create_department(Actor.system(), name="Billing", slug="billing")
        number = guest_chat().number
        tickets.update_ticket(agent, number, {"department": "billing"})
    login(client, alice)
    page(client, f"{DESK}/chats", 403)  # the desk is for staff (every desk page)
    page(client, f"{DESK}/chats/{number}", 403)
    other = app.test_client()
    login(other, other_team_agent)
    assert number not in page(other, f"{DESK}/chats")
    page(other, f"{DESK}/chats/{number}", 404)
    page(other, f"{DESK}/chats/list?current={number}")  # marks nothing, shows nothing
    token = csrf_token(other)
    for action in ("reply", "end", "convert"):
        data = {"csrf_token": token, "body": "x", "channel": "public", "subject": "x"}
        assert other.post(f"{DESK}/chats/{number}/{action}", data=data).status_code == 404


def test_reply_note_convert_and_end_from_the_inbox(app, client, agent) -> None:
    with app.test_request_context():
        number = guest_chat().number
        other = guest_chat(email="w@visitor.example").number
    login(client, agent)
    token = csrf_token(client)
    sent = client.post(
        f"{DESK}/chats/{number}/reply",
        data={"csrf_token": token, "body": "Hello Vera!", "channel": "public"},
    )
    assert sent.status_code == 302 and sent.headers["Location"].endswith(f"/chats/{number}")
    noted = client.post(
        f"{DESK}/chats/{number}/reply",
        data={"csrf_token": token, "body": "VIP customer", "channel": "internal"},
    )
    assert noted.status_code == 302
    html = page(client, f"{DESK}/chats/{number}")
    assert "Hello Vera!" in html and "VIP customer" in html
    assigned = client.post(
        f"{DESK}/chats/{number}/update",
        data={"csrf_token": token, "assignee": agent.id, "priority": "high", "status": "pending_customer",
              "category": "general", "department": ""},
    )  # fmt: skip
    assert assigned.status_code == 302
    converted = client.post(
        f"{DESK}/chats/{number}/convert",
        data={"csrf_token": token, "subject": "Parcel lost", "category": "technical"},
    )
    assert converted.status_code == 302
    assert converted.headers["Location"].endswith(f"/tickets/{number}")
    with app.test_request_context():
        ticket = policy.get_ticket(agent, number)
        assert (ticket.subject, ticket.category, ticket.assignee_id) == (
            "Parcel lost",
            "technical",
            agent.id,
        )
        assert ticket.priority.value == "high" and ticket.chat_queued_at is not None
    bad = client.post(f"{DESK}/chats/{other}/convert", data={"csrf_token": token, "subject": ""})
    assert bad.status_code == 400
    ended = client.post(f"{DESK}/chats/{other}/end", data={"csrf_token": token})
    assert ended.status_code == 302
    with app.test_request_context():
        assert policy.get_ticket(agent, other).status is Status.RESOLVED
    assert client.post(f"{DESK}/chats/{other}/end", data={"csrf_token": token}).status_code == 409


def test_start_conversation_page(app, client, alice, agent) -> None:
    login(client, agent)
    form = page(client, f"{DESK}/conversations/new?customer={alice.id}")
    assert "Alice Customer" in form and "alice@example.com" in form
    assert "Unknown customer" in page(client, f"{DESK}/conversations/new?customer=999")
    token = csrf_token(client)
    data = {"csrf_token": token, "customer": alice.id, "body": "Hi Alice!", "client_id": "c-1"}
    created = client.post(f"{DESK}/conversations/new", data=data)
    assert created.status_code == 302
    number = created.headers["Location"].rsplit("/", 1)[1]
    again = client.post(f"{DESK}/conversations/new", data=data)  # a double click: one chat
    assert again.headers["Location"] == created.headers["Location"]
    assert "Hi Alice!" in page(client, f"{DESK}/chats/{number}")
    missing = client.post(
        f"{DESK}/conversations/new", data={**data, "customer": "999", "client_id": "c-2"}
    )
    assert missing.status_code == 400


# -------------------------------------------------------------------------------------
# Live: the staff connection hears of a new chat
# -------------------------------------------------------------------------------------


def test_staff_socket_gets_the_inbox_hint_when_a_visitor_opens_a_chat(app, agent) -> None:
    import requests
    from livesocket import Recorder
    from livesocket import serve
    from livesocket import session_cookie

    with serve(app) as url:
        http = requests.Session()
        staff = Recorder().connect(url, cookie=session_cookie(http, url, int(agent.id)))
        try:
            visitor = requests.Session()  # a storefront page's session and CSRF token
            token = visitor.get(f"{url}/_test/csrf", timeout=10).text
            opened = visitor.post(
                f"{url}/support/api/v1/chats",
                json={"first_name": "Vera", "email": "vera@visitor.example", "body": "Hello?"},
                headers={"X-CSRFToken": token},
                timeout=10,
            )
            assert opened.status_code == 201, opened.text
            number = opened.json()["ticket"]["number"]
            hint = staff.wait_for("inbox", lambda d: d.get("ticket") == number)
            assert hint == {"ticket": number, "source": "chat"}
            # The list the hint says to fetch again shows it (policy decides, over HTTP).
            assert number in http.get(f"{url}{DESK}/chats/list?tab=new", timeout=10).text
        finally:
            staff.disconnect()


def test_other_tickets_of_the_visitor(rctx, alice, agent, other_team_agent) -> None:
    from flask_supportdesk.services import departments

    departments.create_department(Actor.system(), name="Billing", slug="billing")
    chat = guest_chat(email="alice@example.com")
    earlier = guest_chat(email="alice@example.com", body="An older chat")
    own = tickets.open_ticket(alice, subject="Account ticket", body="Mine", department="billing")
    tickets.open_ticket(Actor("2", "Bob Customer", "bob@example.com"), subject="Bob's", body="x")
    found = {t_.number for t_ in chat_inbox.other_tickets(agent, chat)}
    assert found == {earlier.number}  # a guest's: same e-mail, as a guest only
    account_chat = tickets.open(alice, subject="Hi", body="Hi", source=Source.CHAT).ticket
    found = {t_.number for t_ in chat_inbox.other_tickets(agent, account_chat)}
    assert found == {chat.number, earlier.number, own.number}
    # Policy decides: Otto (shipping only) does not see the billing ticket.
    assert own.number not in {
        t_.number for t_ in chat_inbox.other_tickets(other_team_agent, account_chat)
    }


def test_inbox_page_queries_do_not_grow_with_the_chats(app, client, agent) -> None:
    from test_desk import counting_queries

    with app.test_request_context():
        number = guest_chat().number
        for i in range(2):
            guest_chat(email=f"a{i}@visitor.example")
    login(client, agent)
    url = f"{DESK}/chats/{number}"
    page(client, url)  # warm up (and read it)
    with app.app_context(), counting_queries(app) as few:
        page(client, url)
    with app.test_request_context():
        for i in range(25):
            guest_chat(email=f"b{i}@visitor.example")
            messages.post_message(agent, number, f"Line {i}")
    page(client, url)
    with app.app_context(), counting_queries(app) as many:
        html = page(client, url)
    assert html.count('<li class="sd-chat-item') == 28
    assert len(few) == len(many), many


def test_answering_an_unassigned_chat_takes_it_and_a_note_does_not(rctx, alice, agent, manager) -> None:
    def assignee(number: str) -> str | None:
        return policy.get_ticket(agent, number).assignee_id

    chat = guest_chat(email="take@visitor.example")
    assert chat.assignee_id is None
    messages.post_message(agent, chat.number, "Looking into it", channel="internal")
    assert assignee(chat.number) is None  # a note takes nothing
    messages.post_message(agent, chat.number, "Hi, Ann here!")
    assert assignee(chat.number) == agent.id
    messages.post_message(manager, chat.number, "Max here too.")  # taken already: stays
    assert assignee(chat.number) == agent.id
    # A portal ticket is never assigned by a reply.
    ticket = tickets.open_ticket(alice, subject="Portal", body="x")
    messages.post_message(agent, ticket.number, "Answered")
    assert assignee(ticket.number) is None
