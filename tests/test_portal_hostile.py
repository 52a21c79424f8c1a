"""The hostile plan (HOSTILE.md §4) against the customer portal.

A1, A5, B1, C2, C5, D1/D2/D4 and E1; staff requesters are in test_portal_staff.py.
"""

from __future__ import annotations

import os
import re
import typing as t
from html.parser import HTMLParser

import pytest
from flask import Flask
from test_portal import PORTAL
from test_portal import count
from test_portal import files
from test_portal import get_ticket
from test_portal import new_ticket_number
from test_portal import open_as
from test_portal import post
from test_portal import text
from test_portal import thread_of

import corpus
from conftest import assert_no_canary
from conftest import csrf_token
from conftest import login
from flask_supportdesk._state import get_state
from flask_supportdesk.models import Attachment
from flask_supportdesk.models import Channel
from flask_supportdesk.models import Department
from flask_supportdesk.models import Event
from flask_supportdesk.models import Message
from flask_supportdesk.models import MessageRevision
from flask_supportdesk.models import Priority
from flask_supportdesk.models import Status
from flask_supportdesk.models import Ticket
from flask_supportdesk.services import tickets

#: Every table a portal form may write to.
WRITTEN = (Ticket, Message, Attachment, Event, MessageRevision)


def snapshot(app: Flask) -> tuple[tuple[int, ...], list[str]]:
    """Row counts of every written table, and the files in the attachment folder."""
    folder = app.config["SUPPORTDESK_ATTACHMENT_FOLDER"]
    stored = sorted(
        os.path.relpath(os.path.join(d, f), folder) for d, _, fs in os.walk(folder) for f in fs
    )
    return tuple(count(app, model) for model in WRITTEN), stored


CSRF_META = re.compile(r'<meta name="csrf-token" content="[^"]*">')


def same_page(a: str, b: str) -> bool:
    return CSRF_META.sub("", a) == CSRF_META.sub("", b)


def post_routes(number: str, message_id: int) -> dict[str, dict[str, t.Any]]:
    """Every state-changing portal route with a well-formed body."""
    return {
        PORTAL + "/new": {"subject": "S", "category": "general", "body": "B"},
        f"{PORTAL}/tickets/{number}/reply": {"body": "B"},
        f"{PORTAL}/tickets/{number}/subject": {"subject": "S"},
        f"{PORTAL}/tickets/{number}/messages/{message_id}/edit": {"body": "B"},
        f"{PORTAL}/tickets/{number}/close": {},
        f"{PORTAL}/tickets/{number}/follow-up": {"body": "B"},
    }


# -------------------------------------------------------------------------------------
# A1: another customer's ticket is not found, exactly like a number that does not exist
# -------------------------------------------------------------------------------------


def test_a1_foreign_and_missing_tickets_look_the_same(app, client, alice, bob) -> None:
    bobs = open_as(app, bob, subject="Bob's private matter", body="bob-secret-body")
    bobs_message = thread_of(app, bobs)[0].id
    missing = "T-" + "Z" * 10
    login(client, alice)
    before = snapshot(app)
    for path in ["", "/close", f"/messages/{bobs_message}/edit"]:
        foreign = client.get(f"{PORTAL}/tickets/{bobs}{path}")
        absent = client.get(f"{PORTAL}/tickets/{missing}{path}")
        assert foreign.status_code == absent.status_code == 404, path
        # Same page byte for byte, but for the number asked for and the per-request CSRF token.
        assert same_page(text(foreign).replace(bobs, missing), text(absent)), path
        assert "Bob" not in text(foreign) and "bob-secret" not in text(foreign)
    for url, data in post_routes(bobs, bobs_message).items():
        if url.endswith("/new"):
            continue
        response = post(client, url, data)
        assert response.status_code == 404, url
        assert "bob-secret" not in text(response)
    assert snapshot(app) == before
    assert get_ticket(app, bobs).status is Status.OPEN


def test_a1_message_of_another_ticket_is_not_found(app, client, alice, bob) -> None:
    mine = open_as(app, alice)
    bobs_message = thread_of(app, open_as(app, bob, body="bob-secret-body"))[0].id
    login(client, alice)
    url = f"{PORTAL}/tickets/{mine}/messages/{bobs_message}/edit"
    foreign = client.get(url)
    absent = client.get(f"{PORTAL}/tickets/{mine}/messages/999999/edit")
    assert foreign.status_code == absent.status_code == 404
    assert same_page(text(foreign), text(absent))
    assert post(client, url, {"body": "Mine now"}).status_code == 404
    with app.app_context():
        assert get_state().db.session.get(Message, bobs_message).body == "bob-secret-body"


# -------------------------------------------------------------------------------------
# A5: staff-only fields sent with a customer's form are never applied
# -------------------------------------------------------------------------------------

EXTRA_FIELDS = {
    "status": "resolved",
    "priority": "urgent",
    "internal": "1",
    "channel": "internal",
    "assignee": "10",
    "requester": "2",
    "level": "owner",
}


def test_a5_extra_fields_on_a_new_ticket_are_ignored(app, client, alice) -> None:
    login(client, alice)
    response = post(
        client,
        PORTAL + "/new",
        {"subject": "Hi", "category": "general", "body": "Hello", **EXTRA_FIELDS},
    )
    assert response.status_code == 302
    ticket = get_ticket(app, new_ticket_number(response))
    assert ticket.status is Status.OPEN and ticket.priority is Priority.NORMAL
    assert ticket.assignee_id is None and ticket.requester_id == alice.id
    assert ticket.level == "agent"
    assert [m.channel for m in thread_of(app, ticket.number)] == [Channel.PUBLIC]


def test_a5_extra_fields_on_a_reply_are_ignored(app, client, alice) -> None:
    number = open_as(app, alice)
    login(client, alice)
    response = post(client, f"{PORTAL}/tickets/{number}/reply", {"body": "More", **EXTRA_FIELDS})
    assert response.status_code == 302
    ticket = get_ticket(app, number)
    assert ticket.status is Status.PENDING_ADMIN and ticket.priority is Priority.NORMAL
    assert ticket.assignee_id is None
    assert [m.channel for m in thread_of(app, number)] == [Channel.PUBLIC, Channel.PUBLIC]


def test_a5_subject_form_changes_only_the_subject(app, client, alice) -> None:
    number = open_as(app, alice)
    login(client, alice)
    data = {"subject": "New", **EXTRA_FIELDS}
    response = post(client, f"{PORTAL}/tickets/{number}/subject", data)
    assert response.status_code == 302
    ticket = get_ticket(app, number)
    assert ticket.subject == "New" and ticket.status is Status.OPEN
    assert ticket.priority is Priority.NORMAL and ticket.assignee_id is None


# -------------------------------------------------------------------------------------
# B1: no internal content on any portal page
# -------------------------------------------------------------------------------------


def every_page(number: str, message_id: int, internal_id: int) -> list[str]:
    return [
        PORTAL + "/",
        PORTAL + "/?tab=closed",
        PORTAL + "/new",
        f"{PORTAL}/tickets/{number}",
        f"{PORTAL}/tickets/{number}/close",
        f"{PORTAL}/tickets/{number}/messages/{message_id}/edit",
        # Error pages: the internal note's edit page, a missing ticket.
        f"{PORTAL}/tickets/{number}/messages/{internal_id}/edit",
        f"{PORTAL}/tickets/T-ZZZZZZZZZZ",
    ]


def test_b1_canary_never_reaches_the_customer(app, client, alice, canary_ticket) -> None:
    first = thread_of(app, canary_ticket.number)[0]
    login(client, alice)
    pages = every_page(canary_ticket.number, first.id, canary_ticket.internal_message_id)
    statuses = []
    for url in pages:
        response = client.get(url)
        statuses.append(response.status_code)
        assert_no_canary(response)
        assert "Internal note" not in text(response)
    assert statuses == [200, 200, 200, 200, 200, 200, 404, 404]
    thread = text(client.get(f"{PORTAL}/tickets/{canary_ticket.number}"))
    assert "We are looking into it." in thread and "label.txt" in thread
    # Agent-only facts: the handling level, the assignee's e-mail, the escalation.
    assert "manager" not in thread.lower() and "@store.example" not in thread
    assert "escalat" not in thread.lower()

    # Error pages after a refused form and after a 409 carry no canary either.
    refused = post(client, f"{PORTAL}/tickets/{canary_ticket.number}/reply", {"body": ""})
    assert refused.status_code == 400
    assert_no_canary(refused)
    with app.test_request_context():
        tickets.close_ticket(alice, canary_ticket.number)
    for url in pages[:6]:
        response = client.get(url)
        assert_no_canary(response)
    closed = post(client, f"{PORTAL}/tickets/{canary_ticket.number}/reply", {"body": "x"})
    assert closed.status_code == 409
    assert_no_canary(closed)
    follow = post(client, f"{PORTAL}/tickets/{canary_ticket.number}/follow-up", {"body": "Again"})
    assert follow.status_code == 302
    assert_no_canary(client.get(follow.headers["Location"]))



# -------------------------------------------------------------------------------------
# C2: lengths
# -------------------------------------------------------------------------------------

LONG_SUBJECT = "s" * 201
LONG_BODY = "b" * 12001


@pytest.mark.parametrize(
    ("data", "field", "reason"),
    [
        ({"subject": LONG_SUBJECT, "body": "ok"}, "subject", "At most 200 characters."),
        ({"subject": "ok", "body": LONG_BODY}, "body", "At most 12,000 characters."),
        ({"subject": "ok", "body": ""}, "body", "This field is required."),
        ({"subject": "", "body": "ok"}, "subject", "This field is required."),
        ({"subject": "line\u2028break", "body": "ok"}, "subject", "without control characters"),
    ],
)
def test_c2_new_ticket_lengths(app, client, alice, data, field, reason) -> None:
    login(client, alice)
    before = snapshot(app)
    response = post(client, PORTAL + "/new", {"category": "general", **data})
    assert response.status_code == 400
    page = text(response)
    assert reason in page and f'for="{field}"' in page
    assert snapshot(app) == before


def test_c2_limits_are_exact(app, client, alice) -> None:
    login(client, alice)
    response = post(
        client, PORTAL + "/new", {"category": "general", "subject": "s" * 200, "body": "b" * 12000}
    )
    assert response.status_code == 302


def test_c2_reply_and_edits_lengths(app, client, alice) -> None:
    number = open_as(app, alice)
    first = thread_of(app, number)[0].id
    login(client, alice)
    before = snapshot(app)
    for url, data in [
        (f"{PORTAL}/tickets/{number}/reply", {"body": LONG_BODY}),
        (f"{PORTAL}/tickets/{number}/reply", {"body": "   "}),
        (f"{PORTAL}/tickets/{number}/subject", {"subject": LONG_SUBJECT}),
        (f"{PORTAL}/tickets/{number}/messages/{first}/edit", {"body": LONG_BODY}),
    ]:
        response = post(client, url, data)
        assert response.status_code == 400, url
        assert "sd-error" in text(response)
    assert snapshot(app) == before


# -------------------------------------------------------------------------------------
# C5: stored XSS is shown as text
# -------------------------------------------------------------------------------------

XSS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "<details open ontoggle=alert(1)>",
    "<svg onload=alert(1)>",
    "[click](javascript:alert(1))",
    "[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
]
UNSAFE_SCHEMES = ("javascript:", "data:", "vbscript:")
DANGEROUS_TAGS = {"script", "img", "svg", "iframe", "object", "embed", "math"}


class _TagAudit(HTMLParser):
    """Collects what a browser would really build from a page: tags and attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        own_script = tag == "script" and (values.get("src") or "").startswith("/support/static/")
        # The desk's own icons (the vendored sprite) and attachment thumbnails (its API).
        own_icon = tag == "svg" and values.get("class") == "sd-icon"
        src = values.get("src") or ""
        own_thumbnail = tag == "img" and re.fullmatch(r"/support/api/v1/attachments/\d+/thumbnail", src)
        if tag in DANGEROUS_TAGS and not (own_script or own_icon or own_thumbnail):
            self.problems.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"{tag}[{name}]")
            unsafe_url = (value or "").strip().lower().startswith(UNSAFE_SCHEMES)
            if name in ("href", "src", "action") and unsafe_url:
                self.problems.append(f"{tag}[{name}={value}]")


def assert_inert(page: str) -> None:
    """No element or attribute of the payloads made it into the page as markup."""
    audit = _TagAudit()
    audit.feed(page)
    assert audit.problems == []


@pytest.mark.parametrize("payload", XSS)
def test_c5_xss_in_subject_body_and_file_name(app, client, alice, payload) -> None:
    login(client, alice)
    response = post(
        client,
        PORTAL + "/new",
        {
            "subject": f"Subject {payload}",
            "category": "general",
            "body": f"Body {payload}",
            "files": files((f"{payload}.txt", b"plain text\n")),
        },
    )
    assert response.status_code == 302
    number = new_ticket_number(response)
    first = thread_of(app, number)[0].id
    for url in [
        PORTAL + "/",
        f"{PORTAL}/tickets/{number}",
        f"{PORTAL}/tickets/{number}/close",
        f"{PORTAL}/tickets/{number}/messages/{first}/edit",
    ]:
        page = client.get(url)
        assert page.status_code == 200
        assert_inert(text(page))
    # Shown as text: the escaped subject is there.
    assert "Subject " in text(client.get(f"{PORTAL}/tickets/{number}"))
    # A refused form echoes the input escaped, too.
    refused = post(client, PORTAL + "/new", {"subject": payload, "category": "general", "body": ""})
    assert refused.status_code == 400
    assert_inert(text(refused))


@pytest.mark.parametrize("payload", XSS)
def test_c5_xss_in_query_strings_is_inert(client, alice, payload) -> None:
    login(client, alice)
    for url in (f"{PORTAL}/new?order={payload}", f"{PORTAL}/?tab={payload}"):
        response = client.get(url)
        assert response.status_code == 200
        assert_inert(text(response))
    assert client.get(PORTAL + "/", query_string={"page": payload}).status_code == 400


def test_c5_xss_in_a_department_name(app, client, alice) -> None:
    with app.app_context():
        session = get_state().db.session
        session.add(Department(slug="evil", name='<script>alert(1)</script>"><svg onload=x>'))
        session.commit()
    login(client, alice)
    form = text(client.get(PORTAL + "/new"))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in form
    assert_inert(form)
    response = post(
        client,
        PORTAL + "/new",
        {"subject": "Hi", "department": "evil", "category": "general", "body": "Hello"},
    )
    assert_inert(text(client.get(response.headers["Location"])))


def test_pages_send_the_security_headers(app, client, alice) -> None:
    login(client, alice)
    response = client.get(PORTAL + "/")
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"


# -------------------------------------------------------------------------------------
# D1 / D2 / D4: uploads through the forms, atomic
# -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "data"), corpus.DISGUISED, ids=[n for n, _ in corpus.DISGUISED])
def test_d1_d2_disguised_files_are_refused_on_the_form(app, client, alice, name, data) -> None:
    login(client, alice)
    before = snapshot(app)
    response = post(
        client,
        PORTAL + "/new",
        {
            "subject": "Look at this",
            "category": "general",
            "body": "Attached",
            "files": files(("fine.txt", b"fine\n"), (name, data)),
        },
    )
    assert response.status_code == 415
    page = text(response)
    reasons = ("files are not allowed", "does not contain what", "no file type")
    assert any(reason in page for reason in reasons)
    assert 'class="sd-field  sd-has-error"' in page
    assert 'value="Look at this"' in page  # the input is kept
    assert snapshot(app) == before


@pytest.mark.settings(max_attachments=5)
def test_d4_a_sixth_file_is_refused_and_nothing_stored(app, client, alice) -> None:
    number = open_as(app, alice)
    login(client, alice)
    before = snapshot(app)
    six = [(f"note{i}.txt", b"hello\n") for i in range(6)]
    for url, data in [
        (PORTAL + "/new", {"subject": "Six", "category": "general", "body": "files"}),
        (f"{PORTAL}/tickets/{number}/reply", {"body": "files"}),
    ]:
        response = post(client, url, {**data, "files": files(*six)})
        assert response.status_code == 400, url
        assert "At most 5 attachments per message." in text(response) or "At most 5 files." in text(
            response
        )
    assert snapshot(app) == before
    five = post(client, f"{PORTAL}/tickets/{number}/reply", {"body": "5", "files": files(*six[:5])})
    assert five.status_code == 302
    assert count(app, Attachment) == 5


#: A file exactly at the size limit of the tests below.
AT_LIMIT = b"x" * 1024
#: Far more than max_attachments * max_attachment_size + 1 MiB of slack.
HUGE = b"x" * (3 << 20)


@pytest.mark.settings(max_attachment_size=1024)
def test_d4_an_oversized_file_is_refused_and_nothing_stored(app, client, alice) -> None:
    number = open_as(app, alice)
    with app.test_request_context():
        tickets.close_ticket(alice, number)
    login(client, alice)
    before = snapshot(app)
    over = ("big.txt", b"x" * 1025)
    for url, data in [
        (PORTAL + "/new", {"subject": "Big", "category": "general", "body": "file"}),
        (f"{PORTAL}/tickets/{number}/follow-up", {"body": "file"}),
    ]:
        response = post(client, url, {**data, "files": files(("ok.txt", b"ok\n"), over)})
        assert response.status_code == 413, url
        assert "big.txt is larger than 1 KiB." in text(response)
    assert snapshot(app) == before
    at_limit = post(
        client,
        PORTAL + "/new",
        {"subject": "Limit", "category": "general", "body": "f", "files": files(("m.txt", AT_LIMIT))},
    )
    assert at_limit.status_code == 302


@pytest.mark.settings(max_attachment_size=1024, max_attachments=2)
def test_d4_a_request_over_the_size_cap_is_a_413_page(app, client, alice) -> None:
    login(client, alice)
    before = snapshot(app)
    response = post(
        client,
        PORTAL + "/new",
        {"subject": "Huge", "category": "general", "body": "x", "files": files(("h.txt", HUGE))},
    )
    assert response.status_code == 413
    assert "larger than allowed" in text(response)
    assert snapshot(app) == before


# -------------------------------------------------------------------------------------
# E1: CSRF on every POST route; GET never changes anything
# -------------------------------------------------------------------------------------


def test_e1_every_post_needs_this_sessions_csrf_token(app, client, alice, bob) -> None:
    app.config["WTF_CSRF_ENABLED"] = True  # explicit: the hostile case must not rely on defaults
    number = open_as(app, alice, subject="Untouched")
    first = thread_of(app, number)[0].id
    other = app.test_client()
    login(other, bob)
    foreign_token = csrf_token(other)
    login(client, alice)
    before = snapshot(app)
    for url, data in post_routes(number, first).items():
        for token in (None, "", "not-a-token", foreign_token):
            body = dict(data) if token is None else {**data, "csrf_token": token}
            response = client.post(url, data=body)
            assert response.status_code == 400, (url, token)
            assert "did not come from this site" in text(response) or "CSRF" in text(response)
    # Every GET of the portal leaves the data alone.
    for url in [*every_page(number, first, first), f"{PORTAL}/tickets/{number}/reply"]:
        client.get(url)
    assert snapshot(app) == before
    ticket = get_ticket(app, number)
    assert ticket.subject == "Untouched" and ticket.status is Status.OPEN
