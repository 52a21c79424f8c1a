"""The hostile test plan (HOSTILE.md §4) against the JSON API: A1, A3, A5, B2, B7, C1, C2,
D1, D4, D6, E1, E2, and closed tickets. Every case also checks that nothing was written."""

from __future__ import annotations

import json
import os
import typing as t

import pytest
import sqlalchemy as sa
from flask import Flask
from test_api import PREFIX
from test_api import Api
from test_api import as_user
from test_api import conforms
from test_api import multipart
from test_api import open_ticket

import corpus
from conftest import CANARY
from conftest import assert_no_canary
from conftest import login
from flask_supportdesk._state import get_state
from flask_supportdesk.models import Attachment
from flask_supportdesk.models import Event
from flask_supportdesk.models import Message
from flask_supportdesk.models import Ticket
from flask_supportdesk.services import attachments
from flask_supportdesk.services import escalation
from flask_supportdesk.services import messages
from flask_supportdesk.services import tickets

MISSING = "T-ZZZZZZZZZZ"


def snapshot(app: Flask) -> dict[str, t.Any]:
    """Everything a request could have written: rows of every table and stored files."""
    with app.app_context():
        session = get_state().db.session
        counts = {
            m.__name__: session.scalar(sa.select(sa.func.count()).select_from(m))
            for m in (Ticket, Message, Attachment, Event)
        }
        ticket_rows = [
            tuple(r)
            for r in session.execute(sa.select(*Ticket.__table__.columns).order_by(Ticket.id))
        ]
        bodies = list(session.scalars(sa.select(Message.body).order_by(Message.id)))
        folder = get_state().config.attachment_folder
    files = sorted(os.listdir(folder)) if folder and os.path.isdir(folder) else []
    return {"counts": counts, "tickets": ticket_rows, "bodies": bodies, "files": files}


def error_of(response: t.Any, status: int, code: str) -> dict[str, t.Any]:
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    assert response.mimetype == "application/json"
    assert response.json["error"]["code"] == code, response.json
    return t.cast(dict[str, t.Any], response.json["error"])


def not_found(response: t.Any) -> bytes:
    """The body of a 404, which must not carry the canary."""
    error_of(response, 404, "not_found")
    assert_no_canary(response)
    return t.cast(bytes, response.get_data())


# -------------------------------------------------------------------------------------
# A1, A3: no existence oracle; attachments only through visibility
# -------------------------------------------------------------------------------------


def test_a1_foreign_and_missing_tickets_answer_the_same_404(app, canary_ticket) -> None:
    bob = as_user(app, 2)
    before = snapshot(app)
    for method, suffix, body in [
        ("GET", "", None),
        ("PATCH", "", {"subject": "mine now"}),
        ("GET", "/messages", None),
        ("GET", "/messages?after=0", None),
        ("POST", "/messages", {"body": "hello"}),
        ("POST", "/escalate", {}),
    ]:
        answers = []
        for number in (canary_ticket.number, MISSING):
            if method == "GET":
                response = bob.get(f"/tickets/{number}{suffix}")
            else:
                response = bob._write(method, f"/tickets/{number}{suffix}", body)
            answers.append((not_found(response), sorted(response.headers.keys())))
        assert answers[0] == answers[1], (method, suffix)
    assert snapshot(app) == before


def test_a1_foreign_and_missing_messages_and_attachments_answer_the_same_404(
    app, canary_ticket
) -> None:
    bob = as_user(app, 2)
    own = open_ticket(bob)["number"]
    before = snapshot(app)

    def edit(number: str, message_id: int) -> bytes:
        return not_found(bob.patch(f"/tickets/{number}/messages/{message_id}", {"body": "x"}))

    # Alice's ticket answers like a missing one, whatever the message id.
    assert edit(canary_ticket.number, canary_ticket.public_message_id) == edit(MISSING, 1)
    # Through Bob's own ticket: Alice's message, a missing one and an absurd id alike.
    assert (
        len(
            {
                edit(own, canary_ticket.public_message_id),
                edit(own, 999_999),
                edit(own, 99_999_999_999_999),
                edit(own, canary_ticket.internal_message_id),
            }
        )
        == 1
    )
    attachment_answers = {
        not_found(bob.get(f"/attachments/{attachment_id}"))
        for attachment_id in (
            canary_ticket.public_attachment_id,
            canary_ticket.internal_attachment_id,
            999_999,
            "abc",
        )
    }
    assert len(attachment_answers) == 1
    assert snapshot(app) == before


def test_a3_attachments_cannot_be_deleted_or_reached_through_another_ticket(
    app, canary_ticket
) -> None:
    bob = as_user(app, 2)
    own = open_ticket(bob)["number"]
    before = snapshot(app)
    deleted = bob._write("DELETE", f"/attachments/{canary_ticket.public_attachment_id}")
    error_of(deleted, 405, "method_not_allowed")
    assert "DELETE" not in deleted.headers["Allow"]
    nested = bob.get(f"/tickets/{own}/attachments/{canary_ticket.public_attachment_id}")
    error_of(nested, 404, "not_found")
    assert snapshot(app) == before
    # Alice still downloads it.
    alice = as_user(app, 1)
    assert (
        alice.get(f"/attachments/{canary_ticket.public_attachment_id}").data == b"shipping label\n"
    )


# -------------------------------------------------------------------------------------
# A5: mass assignment
# -------------------------------------------------------------------------------------


def test_a5_mass_assignment_is_refused_field_by_field_and_changes_nothing(app) -> None:
    alice = as_user(app, 1)
    number = open_ticket(alice)["number"]
    before = snapshot(app)
    response = alice.patch(
        f"/tickets/{number}",
        {
            "priority": "urgent",
            "assignee_id": 7,
            "internal": True,
            "owner_id": 2,
            "escalation_level": 3,
            "status": "solved_by_agent",
            "created_at": "2001-01-01",
        },
    )
    error = error_of(response, 400, "forbidden_field")
    assert set(error["fields"]) == {
        "priority",
        "assignee_id",
        "internal",
        "owner_id",
        "escalation_level",
        "status",
        "created_at",
    }
    assert snapshot(app) == before  # the row byte for byte, and nothing else written
    # A requester's own allowed transition, sent alone, works.
    closed = alice.patch(f"/tickets/{number}", {"status": "closed"})
    assert closed.status_code == 200 and closed.json["status"] == "closed"


def test_a5_customer_cannot_set_staff_fields_when_opening_or_posting(app) -> None:
    alice = as_user(app, 1)
    before = snapshot(app)
    opened = alice.post(
        "/tickets",
        {
            "subject": "s",
            "body": "b",
            "priority": "urgent",
            "requester": "2",
            "status": "closed",
            "level": "owner",
        },
    )
    error = error_of(opened, 400, "forbidden_field")
    assert set(error["fields"]) == {"priority", "requester", "status", "level"}
    assert snapshot(app) == before
    number = open_ticket(alice)["number"]
    before = snapshot(app)
    forged = alice.post(
        f"/tickets/{number}/messages",
        {
            "body": "hi",
            "author_id": "10",
            "internal": True,
            "role": "agent",
            "created_at": "2001-01-01",
        },
    )
    assert set(error_of(forged, 400, "forbidden_field")["fields"]) == {
        "author_id",
        "internal",
        "role",
        "created_at",
    }
    note = alice.post(f"/tickets/{number}/messages", {"body": "hi", "channel": "internal"})
    assert "channel" in error_of(note, 400, "forbidden_field")["fields"]
    status = alice.post(f"/tickets/{number}/messages", {"body": "hi", "status": "resolved"})
    assert "status" in error_of(status, 400, "forbidden_field")["fields"]
    assert snapshot(app) == before


# -------------------------------------------------------------------------------------
# B2, B7: internal content never reaches a customer
# -------------------------------------------------------------------------------------


def customer_responses(api: Api, number: str, internal_attachment_id: int) -> list[t.Any]:
    """Every response a requester can get about their ticket, errors included."""
    return [
        api.get("/me"),
        api.get("/tickets"),
        api.get(f"/tickets?q={CANARY}"),
        api.get("/tickets?q=Refund"),
        api.get(f"/tickets/{number}"),
        api.get(f"/tickets/{number}/messages"),
        api.get(f"/tickets/{number}/messages?after=0"),
        api.get(f"/tickets/{number}/messages?include=notes"),
        api.get(f"/tickets/{number}?all=true"),
        api.get(f"/attachments/{internal_attachment_id}"),
        api.post(f"/tickets/{number}/escalate", {"reason": "why?"}),
        api.patch(f"/tickets/{number}", {"priority": "low"}),
        api.post(f"/tickets/{number}/messages", {"body": "Any news?"}),
        api.get("/openapi.json"),
        api.get("/nowhere"),
    ]


def test_b2_no_canary_in_anything_the_customer_receives(app, canary_ticket) -> None:
    alice = as_user(app, 1)
    for response in customer_responses(
        alice, canary_ticket.number, canary_ticket.internal_attachment_id
    ):
        assert response.status_code < 500
        assert_no_canary(response)
    assert alice.get(f"/tickets?q={CANARY}").json["items"] == []
    ticket = alice.get(f"/tickets/{canary_ticket.number}").json
    conforms(app, ticket, "CustomerTicket")
    assert "level" not in ticket and "escalated_beyond" not in ticket
    thread = alice.get(f"/tickets/{canary_ticket.number}/messages?after=0").json
    conforms(app, thread, "MessagePage")
    assert {m["channel"] for m in thread["items"]} == {"public"}
    # The staff member does see it, so the test looks in the right place.
    assert CANARY in as_user(app, 10).get(f"/tickets/{canary_ticket.number}/messages").get_data(
        as_text=True
    )


def test_b2_staff_requester_on_their_own_escalated_ticket_is_a_customer(app, agent) -> None:
    lena = as_user(app, 12)
    number = open_ticket(lena, subject="My own payslip")["number"]
    with app.test_request_context():
        messages.post_message(
            agent,
            number,
            f"Internal: {CANARY}",
            channel="internal",
            attachments=[attachments.Upload.from_bytes(f"{CANARY}.txt", b"x")],
        )
        escalation.escalate(agent, number, reason=f"Over my head {CANARY}")
        internal_id = get_state().db.session.scalar(
            sa.select(Attachment.id).where(Attachment.filename.contains("CANARY"))
        )
    for response in customer_responses(lena, number, internal_id):
        assert response.status_code < 500
        assert_no_canary(response)
    ticket = lena.get(f"/tickets/{number}").json
    conforms(app, ticket, "CustomerTicket")
    assert [m["channel"] for m in lena.get(f"/tickets/{number}/messages").json["items"]] == [
        "public",
        "public",
    ]


def test_b7_internal_attachment_is_not_found_for_customers(app, canary_ticket) -> None:
    for user in (1, 2):
        response = as_user(app, user).get(f"/attachments/{canary_ticket.internal_attachment_id}")
        error_of(response, 404, "not_found")
        assert_no_canary(response)
    anonymous = app.test_client().get(
        f"{PREFIX}/attachments/{canary_ticket.internal_attachment_id}"
    )
    error_of(anonymous, 401, "unauthorized")
    staff = as_user(app, 10).get(f"/attachments/{canary_ticket.internal_attachment_id}")
    assert staff.status_code == 200 and CANARY.encode() in staff.data


# -------------------------------------------------------------------------------------
# C1, C2: malformed input never causes a 500
# -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"[]",
        b'"x"',
        b"null",
        b"42",
        b"{",
        b"{'a': 1}",
        b'{"subject": NaN}',
        b"\xff\xfe",
        b"[" * 10_000 + b"]" * 10_000,
        b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
    ],
)
def test_c1_bodies_that_are_not_json_objects_are_bad_requests(app, raw) -> None:
    alice = as_user(app, 1)
    number = open_ticket(alice)["number"]
    before = snapshot(app)
    for path, method in [
        ("/tickets", "POST"),
        (f"/tickets/{number}", "PATCH"),
        (f"/tickets/{number}/messages", "POST"),
    ]:
        response = alice._write(method, path, data=raw, content_type="application/json")
        error_of(response, 400, "bad_request")
    assert snapshot(app) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"subject": "s", "body": {}}, "body"),
        ({"subject": ["s"], "body": "b"}, "subject"),
        ({"subject": "s", "body": "b", "category": True}, "category"),
        ({"subject": "s", "body": "b", "department": 7}, "department"),
        ({"subject": "s", "body": "b", "reference": "order 1001"}, "reference"),
        ({"subject": "s", "body": "b", "reference": {"kind": "order"}}, "reference.id"),
        (
            {"subject": "s", "body": "b", "reference": {"kind": "order", "id": "1", "x": 1}},
            "reference.x",
        ),
        ({"subject": "s"}, "body"),
        ({"subject": "\t", "body": "b"}, "subject"),
    ],
)
def test_c1_wrong_types_are_validation_errors_with_their_path(app, body, field) -> None:
    before = snapshot(app)
    error = error_of(as_user(app, 1).post("/tickets", body), 400, "validation_error")
    assert field in error["fields"]
    assert snapshot(app) == before


def test_c1_wrong_types_in_patch_and_messages(app) -> None:
    alice, staff = as_user(app, 1), as_user(app, 20)
    number = open_ticket(alice)["number"]
    before = snapshot(app)
    assert (
        "priority"
        in error_of(staff.patch(f"/tickets/{number}", {"priority": True}), 400, "validation_error")[
            "fields"
        ]
    )
    assert (
        "assignee"
        in error_of(staff.patch(f"/tickets/{number}", {"assignee": {}}), 400, "validation_error")[
            "fields"
        ]
    )
    assert (
        "ticket_id"
        in error_of(
            staff.patch(f"/tickets/{number}", {"ticket_id": "1 OR 1=1"}), 400, "forbidden_field"
        )["fields"]
    )
    assert (
        "body"
        in error_of(
            alice.post(f"/tickets/{number}/messages", {"body": 5}), 400, "validation_error"
        )["fields"]
    )
    assert (
        "client_id"
        in error_of(
            alice.post(f"/tickets/{number}/messages", {"body": "b", "client_id": "x" * 65}),
            400,
            "validation_error",
        )["fields"]
    )
    assert (
        "reason"
        in error_of(
            staff.post(f"/tickets/{number}/escalate", {"reason": 1}), 400, "validation_error"
        )["fields"]
    )
    assert snapshot(app) == before


@pytest.mark.settings(max_subject_length=20, max_message_length=100)
def test_c2_lengths_at_and_over_the_limits(app) -> None:
    alice = as_user(app, 1)
    assert alice.post("/tickets", {"subject": "x", "body": "b"}).status_code == 201
    assert alice.post("/tickets", {"subject": "x" * 20, "body": "b" * 100}).status_code == 201
    before = snapshot(app)
    for body, field in [
        ({"subject": "", "body": "b"}, "subject"),
        ({"subject": "x" * 21, "body": "b"}, "subject"),
        ({"subject": "x", "body": "b" * 101}, "body"),
    ]:
        assert field in error_of(alice.post("/tickets", body), 400, "validation_error")["fields"]
    # Far over what any JSON body may need: refused by size before it is parsed.
    huge = alice.post("/tickets", {"subject": "x", "body": "b" * 200_000})
    error_of(huge, 413, "payload_too_large")
    key = alice.post("/tickets", {"k" * 1_000_000: 1})
    error_of(key, 413, "payload_too_large")
    assert snapshot(app) == before


# -------------------------------------------------------------------------------------
# D1, D4, D6: uploads and downloads
# -------------------------------------------------------------------------------------


def test_d1_every_allowed_type_is_accepted(app) -> None:
    alice = as_user(app, 1)
    number = open_ticket(alice)["number"]
    for name, make in corpus.GENUINE.items():
        response = alice.post(
            f"/tickets/{number}/messages", **multipart({"body": name}, [(name, make())])
        )
        assert response.status_code == 201, (name, response.json)
        assert response.json["attachments"][0]["filename"] == name


@pytest.mark.parametrize(("name", "content"), corpus.DISGUISED)
def test_d1_disallowed_and_disguised_files_are_refused_with_nothing_stored(
    app, name, content
) -> None:
    alice = as_user(app, 1)
    number = open_ticket(alice)["number"]
    before = snapshot(app)
    reply = alice.post(
        f"/tickets/{number}/messages",
        **multipart({"body": "see file"}, [("notes.txt", b"fine\n"), (name, content)]),
    )
    error_of(reply, 415, "file_type_not_allowed")
    opened = alice.post("/tickets", **multipart({"subject": "s", "body": "b"}, [(name, content)]))
    error_of(opened, 415, "file_type_not_allowed")
    assert snapshot(app) == before


@pytest.mark.settings(max_attachment_size=1024)
def test_d4_counts_and_sizes(app) -> None:
    alice = as_user(app, 1)
    number = open_ticket(alice)["number"]
    at_limit = b"a" * 1024
    before = snapshot(app)
    six = alice.post(
        f"/tickets/{number}/messages",
        **multipart({"body": "six"}, [(f"f{i}.txt", at_limit) for i in range(6)]),
    )
    error_of(six, 400, "too_many_attachments")
    over = alice.post(
        f"/tickets/{number}/messages", **multipart({"body": "big"}, [("big.txt", at_limit + b"a")])
    )
    error_of(over, 413, "payload_too_large")
    # A whole request far over the cap is refused before it is read.
    flood = alice.post(
        f"/tickets/{number}/messages",
        **multipart({"body": "flood"}, [("x.txt", b"a" * (2 * 1024 * 1024))]),
    )
    error_of(flood, 413, "payload_too_large")
    assert snapshot(app) == before
    five = alice.post(
        f"/tickets/{number}/messages",
        **multipart({"body": "five"}, [(f"f{i}.txt", at_limit) for i in range(5)]),
    )
    assert five.status_code == 201
    assert [a["size"] for a in five.json["attachments"]] == [1024] * 5


def test_d4_unknown_file_fields_and_repeated_fields_are_refused(app) -> None:
    alice = as_user(app, 1)
    number = open_ticket(alice)["number"]
    before = snapshot(app)
    data = {"body": "b", "file": (__import__("io").BytesIO(b"x"), "a.txt")}
    error_of(
        alice.post(f"/tickets/{number}/messages", data=data, content_type="multipart/form-data"),
        400,
        "forbidden_field",
    )
    repeated = alice.post(
        f"/tickets/{number}/messages",
        data={"body": ["one", "two"]},
        content_type="multipart/form-data",
    )
    assert "body" in error_of(repeated, 400, "validation_error")["fields"]
    assert snapshot(app) == before


def test_d6_download_headers_for_every_type(app) -> None:
    alice = as_user(app, 1)
    number = open_ticket(alice)["number"]
    # Built once: zip-based files carry a timestamp, so a second build may differ.
    files = [(name, make()) for name, make in corpus.GENUINE.items()]
    contents = dict(files)
    response, more, rest = (
        alice.post(
            f"/tickets/{number}/messages", **multipart({"body": "all"}, files[start : start + 5])
        )
        for start in (0, 5, 10)
    )
    listed = [a for r in (response, more, rest) for a in r.json["attachments"]]
    assert len(listed) == len(corpus.GENUINE)
    for item in listed:
        download = alice.get(item["url"].removeprefix(PREFIX))
        assert download.status_code == 200
        assert download.data == contents[item["filename"]]
        extension = item["filename"].rpartition(".")[2]
        assert download.headers["Content-Type"] == attachments.CONTENT_TYPES[extension]
        for bad in ("html", "svg", "javascript", "ecmascript", "text/xml", "application/xml"):
            assert bad not in download.headers["Content-Type"]
        disposition = download.headers["Content-Disposition"]
        assert disposition.startswith("attachment;") and item["filename"] in disposition
        assert download.headers["X-Content-Type-Options"] == "nosniff"
        assert download.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
        assert "private" in download.headers["Cache-Control"]
        assert "Access-Control-Allow-Origin" not in download.headers


def test_d6_a_stored_name_cannot_choose_the_header(app, alice) -> None:
    with app.test_request_context():
        ticket = tickets.open_ticket(
            alice,
            subject="s",
            body="b",
            attachments=[
                attachments.Upload.from_bytes('../../etc/"evil"\r\nX-Injected: 1.txt', b"hi\n")
            ],
        )
        attachment_id = get_state().db.session.scalar(
            sa.select(Attachment.id).join(Message).where(Message.ticket_id == ticket.id)
        )
    download = as_user(app, 1).get(f"/attachments/{attachment_id}")
    assert download.status_code == 200
    assert "X-Injected" not in download.headers
    assert "/" not in download.headers["Content-Disposition"].split("filename", 1)[1]


# -------------------------------------------------------------------------------------
# E1, E2: CSRF, content types, CORS
# -------------------------------------------------------------------------------------


def test_e1_writes_without_a_valid_csrf_token_are_refused(app, canary_ticket) -> None:
    client = login(app.test_client(), 1)
    other = as_user(app, 2)  # a valid token, but of another session
    number = canary_ticket.number
    before = snapshot(app)
    for method, path, body in [
        ("POST", "/tickets", {"subject": "s", "body": "b"}),
        ("PATCH", f"/tickets/{number}", {"status": "closed"}),
        ("POST", f"/tickets/{number}/messages", {"body": "b"}),
        ("PATCH", f"/tickets/{number}/messages/{canary_ticket.public_message_id}", {"body": "b"}),
        ("POST", f"/tickets/{number}/escalate", {}),
    ]:
        for headers in ({}, {"X-CSRFToken": other.token}, {"X-CSRFToken": "forged"}):
            response = client.open(PREFIX + path, method=method, json=body, headers=headers)
            error_of(response, 400, "csrf_failed")
            assert_no_canary(response)
    assert snapshot(app) == before


def test_e2_state_changes_need_a_json_or_multipart_body(app) -> None:
    alice = as_user(app, 1)
    number = open_ticket(alice)["number"]
    before = snapshot(app)
    body = json.dumps({"body": "sneaky"})
    for content_type in ("text/plain", "application/x-www-form-urlencoded"):
        for method, path in [
            ("POST", f"/tickets/{number}/messages"),
            ("PATCH", f"/tickets/{number}"),
            ("POST", "/tickets"),
        ]:
            response = alice._write(method, path, data=body, content_type=content_type)
            error_of(response, 400, "bad_request")
    # Multipart only where files are accepted.
    patched = alice._write(
        "PATCH", f"/tickets/{number}", data={"subject": "x"}, content_type="multipart/form-data"
    )
    error_of(patched, 400, "bad_request")
    assert snapshot(app) == before


def test_e2_never_any_cors_header(app) -> None:
    alice = as_user(app, 1)
    number = open_ticket(alice)["number"]
    evil = {"Origin": "https://evil.example"}
    responses = [
        alice.get(f"/tickets/{number}", headers=evil),
        alice.get("/tickets", headers=evil),
        alice.client.options(
            f"{PREFIX}/tickets/{number}",
            headers={
                **evil,
                "Access-Control-Request-Method": "PATCH",
                "Access-Control-Request-Headers": "X-CSRFToken, Content-Type",
            },
        ),
        alice.patch(f"/tickets/{number}", {"subject": "x"}, headers=evil),
    ]
    for response in responses:
        # Werkzeug's Headers iterates (name, value) pairs: the names are its keys().
        assert not any(h.lower().startswith("access-control-") for h in response.headers.keys())  # noqa: SIM118


# -------------------------------------------------------------------------------------
# Flask's own errors, authentication, closed tickets
# -------------------------------------------------------------------------------------


def test_flask_errors_under_the_prefix_are_json(app, client) -> None:
    error_of(client.get(f"{PREFIX}/no/such/thing"), 404, "not_found")
    error_of(client.get(PREFIX), 404, "not_found")
    not_allowed = client.put(f"{PREFIX}/tickets")
    error_of(not_allowed, 405, "method_not_allowed")
    assert set(not_allowed.headers["Allow"].split(", ")) >= {"GET", "POST"}
    # Outside the prefix the host's own pages are untouched.
    outside = client.get("/no/such/page")
    assert outside.status_code == 404 and outside.mimetype == "text/html"


def test_not_logged_in_is_a_json_401_never_a_redirect(app, client) -> None:
    app.login_manager.login_view = "index"  # a host that redirects pages to its login form
    for path in (
        "/me",
        "/tickets",
        "/tickets/T-ANY",
        "/departments",
        "/tickets/T-ANY/messages",
        "/attachments/1",
    ):
        error_of(client.get(PREFIX + path), 401, "unauthorized")
    # With a valid CSRF token (an anonymous session), writes are 401 too.
    api = Api(client)
    error_of(api.post("/tickets", {"subject": "s", "body": "b"}), 401, "unauthorized")
    assert client.get(f"{PREFIX}/openapi.json").status_code == 200


def test_closed_ticket_refuses_everything_with_409_and_writes_nothing(app) -> None:
    alice, staff = as_user(app, 1), as_user(app, 20)
    number = open_ticket(alice)["number"]
    message_id = alice.get(f"/tickets/{number}/messages").json["items"][0]["id"]
    assert alice.patch(f"/tickets/{number}", {"status": "closed"}).status_code == 200
    before = snapshot(app)
    for api, method, path, body in [
        (alice, "POST", f"/tickets/{number}/messages", {"body": "one more thing"}),
        (alice, "PATCH", f"/tickets/{number}", {"subject": "reopen?"}),
        (alice, "PATCH", f"/tickets/{number}", {"status": "closed"}),
        (alice, "PATCH", f"/tickets/{number}/messages/{message_id}", {"body": "edited"}),
        (staff, "POST", f"/tickets/{number}/messages", {"body": "note", "channel": "internal"}),
        (staff, "PATCH", f"/tickets/{number}", {"status": "open"}),
        (staff, "POST", f"/tickets/{number}/escalate", {}),
    ]:
        error_of(api._write(method, path, body), 409, "ticket_closed")
    uploaded = alice.post(
        f"/tickets/{number}/messages", **multipart({"body": "file"}, [("notes.txt", b"hi\n")])
    )
    error_of(uploaded, 409, "ticket_closed")
    assert snapshot(app) == before


def test_e1_a_host_csrfprotect_failure_is_answered_in_json(app) -> None:
    from flask_wtf.csrf import CSRFProtect

    CSRFProtect(app)
    alice = as_user(app, 1)
    before = snapshot(app)
    response = alice.client.post(f"{PREFIX}/tickets", json={"subject": "s", "body": "b"})
    error_of(response, 400, "csrf_failed")
    assert snapshot(app) == before
    assert alice.post("/tickets", {"subject": "s", "body": "b"}).status_code == 201


def test_a6_staff_of_another_team_get_the_same_404_as_for_a_missing_ticket(app) -> None:
    from flask_supportdesk.models import Department

    with app.app_context():
        session = get_state().db.session
        session.add_all(
            [
                Department(slug="payments", name="Payments"),
                Department(slug="shipping", name="Shipping"),
            ]
        )
        session.commit()
    alice = as_user(app, 1)
    payments = open_ticket(alice, department="payments")["number"]
    shipping = open_ticket(alice, department="shipping")["number"]
    otto = as_user(app, 11)  # an agent of the shipping team only
    assert otto.get(f"/tickets/{shipping}").status_code == 200
    before = snapshot(app)
    answers = {not_found(otto.get(f"/tickets/{number}")) for number in (payments, MISSING)} | {
        not_found(otto.post(f"/tickets/{number}/messages", {"body": "x", "channel": "internal"}))
        for number in (payments, MISSING)
    }
    assert len(answers) == 1
    assert [i["number"] for i in otto.get("/tickets").json["items"]] == [shipping]
    assert snapshot(app) == before


def test_a6_a_lower_level_cannot_escalate_a_ticket_above_it(app) -> None:
    number = open_ticket(as_user(app, 1))["number"]
    up = {"reason": "Over my head"}
    assert as_user(app, 20).post(f"/tickets/{number}/escalate", up).json["level"] == "manager"
    assert as_user(app, 20).post(f"/tickets/{number}/escalate", up).json["level"] == "owner"
    before = snapshot(app)
    error_of(as_user(app, 10).post(f"/tickets/{number}/escalate", {}), 403, "forbidden")
    assert snapshot(app) == before
