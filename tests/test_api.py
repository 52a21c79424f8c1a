"""The JSON API v1: every route's happy path, filters, pagination, idempotency, uploads,
downloads, query counts and the OpenAPI document (which real responses must match)."""

from __future__ import annotations

import io
import typing as t

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

import corpus
from conftest import csrf_token
from conftest import login
from flask_supportdesk._state import get_state
from flask_supportdesk.blueprints.api.schemas import component_schemas
from flask_supportdesk.blueprints.api.schemas import validate
from flask_supportdesk.models import Attachment
from flask_supportdesk.models import Department
from flask_supportdesk.models import Message
from flask_supportdesk.models import Ticket
from flask_supportdesk.services import attachments
from flask_supportdesk.services import tickets
from flask_supportdesk.values import Actor

PREFIX = "/support/api/v1"


class Api:
    """A test client speaking to the API as one user, with the CSRF header on writes."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        self.token = csrf_token(client)

    def get(self, path: str, **kw: t.Any) -> t.Any:
        return self.client.get(PREFIX + path, **kw)

    def _write(self, method: str, path: str, json: t.Any = None, **kw: t.Any) -> t.Any:
        headers = {"X-CSRFToken": self.token, **kw.pop("headers", {})}
        if json is not None:
            kw["json"] = json
        return self.client.open(PREFIX + path, method=method, headers=headers, **kw)

    def post(self, path: str, json: t.Any = None, **kw: t.Any) -> t.Any:
        return self._write("POST", path, json, **kw)

    def patch(self, path: str, json: t.Any = None, **kw: t.Any) -> t.Any:
        return self._write("PATCH", path, json, **kw)


def as_user(app: Flask, user: Actor | int) -> Api:
    """A fresh client logged in as ``user``."""
    return Api(login(app.test_client(), user))


def conforms(app: Flask, data: t.Any, schema: str) -> None:
    """``data`` matches the OpenAPI component ``schema`` (closed objects)."""
    with app.app_context():
        components = component_schemas(get_state().config)
    problems = validate(data, {"$ref": f"#/components/schemas/{schema}"}, components)
    assert problems == {}, problems


def rows(app: Flask, model: type) -> int:
    with app.app_context():
        return get_state().db.session.scalar(sa.select(sa.func.count()).select_from(model))


def open_ticket(api: Api, **fields: t.Any) -> dict[str, t.Any]:
    fields.setdefault("subject", "Where is my parcel?")
    fields.setdefault("body", "It was due on Monday.")
    response = api.post("/tickets", fields)
    assert response.status_code == 201, response.json
    return t.cast(dict[str, t.Any], response.json)


@pytest.fixture
def shipping(app: Flask) -> None:
    with app.app_context():
        session = get_state().db.session
        session.add_all(
            [
                Department(slug="shipping", name="Shipping"),
                Department(slug="old", name="Old", is_active=False),
            ]
        )
        session.commit()


# -------------------------------------------------------------------------------------
# Me, departments
# -------------------------------------------------------------------------------------


def test_me_for_a_customer_and_for_staff(app) -> None:
    customer = as_user(app, 1).get("/me")
    assert customer.status_code == 200
    assert customer.json == {
        "id": "1",
        "name": "Alice Customer",
        "email": "alice@example.com",
        "staff": False,
    }
    conforms(app, customer.json, "Me")
    staff = as_user(app, 20).get("/me").json
    assert staff["staff"] is True and staff["role"] == "manager"
    conforms(app, staff, "Me")


def test_departments_lists_only_active_ones(app, shipping) -> None:
    response = as_user(app, 1).get("/departments")
    assert response.status_code == 200
    assert [(d["slug"], d["name"]) for d in response.json["items"]] == [("shipping", "Shipping")]
    conforms(app, response.json, "DepartmentList")


# -------------------------------------------------------------------------------------
# Tickets
# -------------------------------------------------------------------------------------


def test_customer_opens_reads_and_lists_a_ticket(app, shipping) -> None:
    api = as_user(app, 1)
    response = api.post(
        "/tickets",
        {
            "subject": "Refund",
            "body": "Please refund order 1001.",
            "category": "payment",
            "department": "shipping",
            "reference": {"kind": "order", "id": "1001"},
        },
    )
    assert response.status_code == 201
    ticket = response.json
    assert response.headers["Location"] == f"{PREFIX}/tickets/{ticket['number']}"
    assert ticket["status"] == "open" and ticket["source"] == "api"
    assert ticket["department"] == {"slug": "shipping", "name": "Shipping"}
    assert ticket["reference"] == {
        "kind": "order",
        "id": "1001",
        "label": "Order #1001",
        "url": "/orders/1001",
    }
    assert ticket["requester"] == {"id": "1", "name": "Alice Customer"}
    assert ticket["created_at"].endswith("Z")
    # A customer never sees the handler level or escalation state.
    assert "level" not in ticket and "escalated_beyond" not in ticket
    conforms(app, ticket, "CustomerTicket")

    assert api.get(response.headers["Location"].removeprefix(PREFIX)).json == ticket
    listed = api.get("/tickets").json
    assert [t["number"] for t in listed["items"]] == [ticket["number"]]
    assert listed["page"] == 1 and listed["next"] is None
    conforms(app, listed, "TicketPage")


def test_staff_see_the_staff_shape_and_file_for_a_customer(app) -> None:
    staff = as_user(app, 10)
    ticket = open_ticket(staff, requester="1", priority="high")
    assert ticket["requester"] == {
        "id": "1",
        "name": "Alice Customer",
        "email": "alice@example.com",
    }
    assert ticket["priority"] == "high" and ticket["level"] == "agent"
    conforms(app, ticket, "Ticket")
    # ...and Alice sees it as her own, in the customer shape.
    seen = as_user(app, 1).get(f"/tickets/{ticket['number']}").json
    assert seen["priority"] == "high" and "level" not in seen
    conforms(app, seen, "CustomerTicket")


def test_patch_subject_and_close_as_requester(app) -> None:
    api = as_user(app, 1)
    number = open_ticket(api)["number"]
    renamed = api.patch(f"/tickets/{number}", {"subject": "Parcel lost"})
    assert renamed.status_code == 200 and renamed.json["subject"] == "Parcel lost"
    closed = api.patch(f"/tickets/{number}", {"status": "closed"})
    assert closed.status_code == 200
    assert closed.json["status"] == "closed" and closed.json["closed_at"] is not None


def test_patch_everything_as_staff(app, shipping) -> None:
    number = open_ticket(as_user(app, 1))["number"]
    response = as_user(app, 20).patch(
        f"/tickets/{number}",
        {
            "status": "resolved",
            "priority": "urgent",
            "category": "technical",
            "department": "shipping",
            "assignee": 10,
        },
    )
    assert response.status_code == 200, response.json
    ticket = response.json
    assert (ticket["status"], ticket["priority"], ticket["category"]) == (
        "resolved",
        "urgent",
        "technical",
    )
    assert ticket["assignee"] == {"id": "10", "name": "Ann Agent"}
    assert ticket["department"]["slug"] == "shipping" and ticket["resolved_at"]
    unassigned = as_user(app, 20).patch(f"/tickets/{number}", {"assignee": None}).json
    assert unassigned["assignee"] is None


def test_escalate_moves_the_level_up_and_beyond(app, plugin) -> None:
    number = open_ticket(as_user(app, 1))["number"]
    owner = as_user(app, 30)
    assert (
        as_user(app, 10).post(f"/tickets/{number}/escalate", {"reason": "Refund"}).json["level"]
        == "manager"
    )
    # No reason: refused with a field error, and nothing moves.
    refused = owner.post(f"/tickets/{number}/escalate", {})
    assert refused.status_code == 400 and "reason" in refused.json["error"]["fields"]
    blank = owner.post(f"/tickets/{number}/escalate", {"reason": "  "})
    assert blank.status_code == 400 and "reason" in blank.json["error"]["fields"]
    up = {"reason": "Needs the owner"}
    assert owner.post(f"/tickets/{number}/escalate", up).json["level"] == "owner"
    beyond = owner.post(f"/tickets/{number}/escalate", up)
    assert beyond.status_code == 200
    assert beyond.json["escalated_beyond"]["reference"] == "PLATFORM-1"
    conforms(app, beyond.json, "Ticket")
    again = owner.post(f"/tickets/{number}/escalate", up)
    assert again.status_code == 409 and again.json["error"]["code"] == "conflict"


def test_customer_may_not_escalate(app) -> None:
    api = as_user(app, 1)
    number = open_ticket(api)["number"]
    response = api.post(f"/tickets/{number}/escalate", {"reason": "now"})
    assert response.status_code == 403 and response.json["error"]["code"] == "forbidden"


def test_list_filters_sort_and_pages(app, shipping) -> None:
    alice = as_user(app, 1)
    numbers = [open_ticket(alice, subject=f"Question {i}")["number"] for i in range(5)]
    staff = as_user(app, 20)
    staff.patch(
        f"/tickets/{numbers[0]}", {"priority": "urgent", "department": "shipping", "assignee": "20"}
    )
    staff.patch(f"/tickets/{numbers[1]}", {"status": "resolved"})

    def listed(api: Api, query: str) -> list[str]:
        response = api.get(f"/tickets?{query}")
        assert response.status_code == 200, response.json
        return [item["number"] for item in response.json["items"]]

    assert listed(staff, "priority=urgent") == [numbers[0]]
    assert listed(staff, "department=shipping") == [numbers[0]]
    assert listed(staff, "assignee=me") == [numbers[0]]
    assert set(listed(staff, "assignee=none")) == set(numbers[1:])
    assert listed(staff, "status=resolved") == [numbers[1]]
    assert listed(staff, "source=api&q=question 3") == [numbers[3]]
    assert listed(staff, "sort=created") == numbers
    assert listed(staff, "sort=-priority")[0] == numbers[0]

    first = staff.get("/tickets?sort=created&page_size=2").json
    assert [i["number"] for i in first["items"]] == numbers[:2] and first["next"] == 2
    last = staff.get("/tickets?sort=created&page_size=2&page=3").json
    assert [i["number"] for i in last["items"]] == numbers[4:] and last["next"] is None
    # Bob sees none of Alice's tickets.
    assert listed(as_user(app, 2), "") == []


def test_bad_list_parameters_are_validation_errors(app) -> None:
    api = as_user(app, 1)
    for query, field in [
        ("status=lost", "status"),
        ("sort=secret", "sort"),
        ("page=0", "page"),
        ("page_size=1000", "page_size"),
        ("page=x", "page"),
        ("include=notes", "include"),
        ("all=true", "all"),
    ]:
        response = api.get(f"/tickets?{query}")
        assert response.status_code == 400, query
        assert response.json["error"]["code"] == "validation_error"
        assert field in response.json["error"]["fields"], query


# -------------------------------------------------------------------------------------
# Messages
# -------------------------------------------------------------------------------------


def test_reply_flow_and_catch_up_after_an_id(app) -> None:
    alice = as_user(app, 1)
    number = open_ticket(alice)["number"]
    staff = as_user(app, 10)
    reply = staff.post(f"/tickets/{number}/messages", {"body": "On its way.", "status": "resolved"})
    assert reply.status_code == 201
    assert reply.json["author"] == {"id": "10", "name": "Ann Agent", "staff": True}
    conforms(app, reply.json, "Message")
    note = staff.post(
        f"/tickets/{number}/messages", {"body": "Courier called.", "channel": "internal"}
    )
    assert note.status_code == 201 and note.json["channel"] == "internal"
    assert alice.get(f"/tickets/{number}").json["status"] == "resolved"

    thread = alice.get(f"/tickets/{number}/messages").json
    assert [m["body"] for m in thread["items"]] == ["It was due on Monday.", "On its way."]
    conforms(app, thread, "MessagePage")
    staff_thread = staff.get(f"/tickets/{number}/messages").json["items"]
    assert [m["channel"] for m in staff_thread] == ["public", "public", "internal"]

    first_id = thread["items"][0]["id"]
    after = alice.get(f"/tickets/{number}/messages?after={first_id}").json
    assert [m["body"] for m in after["items"]] == ["On its way."]
    # A customer reply reopens a resolved ticket as "awaiting support".
    assert alice.post(f"/tickets/{number}/messages", {"body": "Thanks!"}).status_code == 201
    assert alice.get(f"/tickets/{number}").json["status"] == "pending_admin"


def test_messages_paginate_by_id(app) -> None:
    alice = as_user(app, 1)
    number = open_ticket(alice)["number"]
    for i in range(4):
        alice.post(f"/tickets/{number}/messages", {"body": f"more {i}"})
    page = alice.get(f"/tickets/{number}/messages?limit=2").json
    assert len(page["items"]) == 2 and page["next"] == page["items"][-1]["id"]
    rest = alice.get(f"/tickets/{number}/messages?limit=10&after={page['next']}").json
    assert [m["body"] for m in rest["items"]] == ["more 1", "more 2", "more 3"]
    assert rest["next"] is None


def test_repeated_client_id_returns_the_same_message(app) -> None:
    alice = as_user(app, 1)
    number = open_ticket(alice)["number"]
    first = alice.post(f"/tickets/{number}/messages", {"body": "Hello", "client_id": "c-1"})
    again = alice.post(f"/tickets/{number}/messages", {"body": "Hello", "client_id": "c-1"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json == first.json
    assert rows(app, Message) == 2  # the opening message and one reply
    other = alice.post(f"/tickets/{number}/messages", {"body": "Hello", "client_id": "c-2"})
    assert other.status_code == 201 and other.json["id"] != first.json["id"]


def test_author_edits_a_message(app) -> None:
    alice = as_user(app, 1)
    number = open_ticket(alice)["number"]
    message_id = alice.get(f"/tickets/{number}/messages").json["items"][0]["id"]
    edited = alice.patch(f"/tickets/{number}/messages/{message_id}", {"body": "Due on Tuesday."})
    assert edited.status_code == 200
    assert edited.json["body"] == "Due on Tuesday." and edited.json["edited_at"]
    # Staff may read it but not edit it.
    staff = as_user(app, 10).patch(f"/tickets/{number}/messages/{message_id}", {"body": "x"})
    assert staff.status_code == 403 and staff.json["error"]["code"] == "forbidden"


def test_a_message_is_addressed_through_its_own_ticket(app) -> None:
    alice = as_user(app, 1)
    first, second = open_ticket(alice)["number"], open_ticket(alice)["number"]
    message_id = alice.get(f"/tickets/{first}/messages").json["items"][0]["id"]
    response = alice.patch(f"/tickets/{second}/messages/{message_id}", {"body": "moved"})
    assert response.status_code == 404
    assert alice.get(f"/tickets/{first}/messages").json["items"][0]["body"] != "moved"


# -------------------------------------------------------------------------------------
# Uploads and downloads
# -------------------------------------------------------------------------------------


def multipart(fields: dict[str, str], files: list[tuple[str, bytes]]) -> dict[str, t.Any]:
    data: dict[str, t.Any] = dict(fields)
    data["files"] = [(io.BytesIO(content), name) for name, content in files]
    return {"data": data, "content_type": "multipart/form-data"}


def test_open_a_ticket_with_files_and_download_them(app) -> None:
    alice = as_user(app, 1)
    response = alice.post(
        "/tickets",
        **multipart(
            {
                "subject": "Broken",
                "body": "See photo",
                "reference.kind": "order",
                "reference.id": "1001",
            },
            [("photo.png", corpus.png()), ("notes.txt", b"hello\n")],
        ),
    )
    assert response.status_code == 201, response.json
    assert response.json["reference"]["label"] == "Order #1001"
    number = response.json["number"]
    first = alice.get(f"/tickets/{number}/messages").json["items"][0]
    assert [(a["filename"], a["content_type"]) for a in first["attachments"]] == [
        ("photo.png", "image/png"),
        ("notes.txt", "text/plain; charset=utf-8"),
    ]
    download = alice.get(first["attachments"][0]["url"].removeprefix(PREFIX))
    assert download.status_code == 200 and download.data == corpus.png()
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert download.headers["Content-Type"] == "image/png"
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    assert download.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert "private" in download.headers["Cache-Control"]


def test_reply_with_files_over_multipart(app) -> None:
    alice = as_user(app, 1)
    number = open_ticket(alice)["number"]
    response = alice.post(
        f"/tickets/{number}/messages",
        **multipart(
            {"body": "Invoice attached", "client_id": "m-1"}, [("invoice.pdf", corpus.pdf())]
        ),
    )
    assert response.status_code == 201, response.json
    assert [a["filename"] for a in response.json["attachments"]] == ["invoice.pdf"]
    assert response.json["attachments"][0]["size"] == len(corpus.pdf())
    conforms(app, response.json, "Message")


# -------------------------------------------------------------------------------------
# Query counts do not grow with the rows
# -------------------------------------------------------------------------------------


def count_queries(app: Flask, request: t.Callable[[], t.Any]) -> int:
    with app.app_context():
        engine = get_state().db.engine
    seen: list[str] = []

    def record(*args: t.Any) -> None:
        seen.append(args[2])

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        response = request()
        assert response.status_code == 200
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    return len(seen)


def test_ticket_list_query_count_is_flat(app, alice, agent) -> None:
    api = as_user(app, 1)
    counts = []
    for total in (3, 12):
        with app.test_request_context():
            while get_state().db.session.scalar(sa.select(sa.func.count(Ticket.id))) < total:
                ticket = tickets.open_ticket(alice, subject="Hi", body="Hello")
                tickets.close_ticket(alice, ticket.number)
                tickets.open_follow_up(
                    alice,
                    ticket.number,
                    body="Again",
                    attachments=[attachments.Upload.from_bytes("a.txt", b"a")],
                )
        counts.append(count_queries(app, lambda: api.get("/tickets?page_size=50")))
    assert counts[0] == counts[1]


def test_message_list_query_count_is_flat(app, alice, agent) -> None:
    api = as_user(app, 1)
    number = open_ticket(api)["number"]
    counts = []
    for total in (3, 12):
        while rows(app, Message) < total:
            api.post(
                f"/tickets/{number}/messages",
                **multipart({"body": "More"}, [("a.txt", b"a"), ("b.txt", b"b")]),
            )
        counts.append(count_queries(app, lambda: api.get(f"/tickets/{number}/messages?limit=50")))
    assert counts[0] == counts[1]
    assert rows(app, Attachment) >= 10


# -------------------------------------------------------------------------------------
# OpenAPI
# -------------------------------------------------------------------------------------


def test_openapi_describes_every_api_rule(app, client) -> None:
    document = client.get(f"{PREFIX}/openapi.json").json
    assert document["openapi"] == "3.1.0"
    api_rules = [r for r in app.url_map.iter_rules() if r.endpoint.startswith("supportdesk_api.")]
    assert len(api_rules) >= 9
    for rule in api_rules:
        path = rule.rule.removeprefix(PREFIX).replace("<", "{").replace(">", "}")
        assert path in document["paths"], path
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            op = document["paths"][path][method.lower()]
            assert op["summary"] and op["responses"], (path, method)
            if method in {"POST", "PATCH"} and path not in {
                "/inbound/email",  # the mail server's secret
                "/chats/token",  # a chat visitor's token only
            }:
                assert {"cookieAuth": [], "csrfToken": []} in op["security"]
    schemas = document["components"]["schemas"]
    for name in ("Ticket", "CustomerTicket", "Message", "Attachment", "Error"):
        assert schemas[name]["additionalProperties"] is False, name
    assert document["components"]["securitySchemes"]["csrfToken"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-CSRFToken",
    }
    # Every reference points at a schema that exists.
    text = str(document)
    for name in {part.split("'")[0] for part in text.split("#/components/schemas/")[1:]}:
        assert name in schemas, name


@pytest.mark.settings(max_subject_length=50)
def test_openapi_limits_follow_the_configuration(app, client) -> None:
    schemas = client.get(f"{PREFIX}/openapi.json").json["components"]["schemas"]
    assert schemas["TicketCreate"]["properties"]["subject"]["maxLength"] == 50


def test_the_validator_catches_what_it_should(app) -> None:
    with app.app_context():
        components = component_schemas(get_state().config)
    good = {"error": {"code": "x", "message": "y"}}
    ref = {"$ref": "#/components/schemas/Error"}
    assert validate(good, ref, components) == {}
    assert validate({"error": {"code": "x", "message": "y", "leak": 1}}, ref, components) == {
        "error.leak": "Unknown field."
    }
    assert validate({"error": {"code": 1, "message": "y"}}, ref, components) == {
        "error.code": "Must be string."
    }
    assert "error.message" in validate({"error": {"code": "x"}}, ref, components)
    assert validate(True, {"type": "integer"}, components) == {"": "Must be integer."}


def test_real_responses_match_the_documented_status_and_schema(app, canary_ticket) -> None:
    """Every answer of a whole session, errors included, is what the document promises."""
    document = app.test_client().get(f"{PREFIX}/openapi.json").json
    components = document["components"]["schemas"]
    adapter = app.url_map.bind("localhost")
    alice, bob, staff = as_user(app, 1), as_user(app, 2), as_user(app, 20)
    number = canary_ticket.number
    calls: list[tuple[Api, str, str, t.Any]] = [
        (alice, "GET", "/me", None),
        (staff, "GET", "/me", None),
        (alice, "GET", "/departments", None),
        (alice, "GET", "/tickets", None),
        (staff, "GET", "/tickets?sort=-priority", None),
        (alice, "GET", "/tickets?status=lost", None),
        (alice, "GET", f"/tickets/{number}", None),
        (staff, "GET", f"/tickets/{number}", None),
        (bob, "GET", f"/tickets/{number}", None),
        (alice, "POST", "/tickets", {"subject": "New", "body": "Hello"}),
        (alice, "POST", "/tickets", {"subject": "New"}),
        (alice, "POST", "/tickets", {"subject": "s", "body": "b", "priority": "high"}),
        (alice, "PATCH", f"/tickets/{number}", {"subject": "Renamed"}),
        (staff, "PATCH", f"/tickets/{number}", {"priority": "high", "assignee": "20"}),
        (alice, "POST", f"/tickets/{number}/escalate", {}),
        (staff, "POST", f"/tickets/{number}/escalate", {"reason": "Refund"}),
        (alice, "GET", f"/tickets/{number}/messages?after=0", None),
        (staff, "GET", f"/tickets/{number}/messages", None),
        (alice, "POST", f"/tickets/{number}/messages", {"body": "Hi", "client_id": "k"}),
        (alice, "POST", f"/tickets/{number}/messages", {"body": "Hi", "client_id": "k"}),
        (
            alice,
            "PATCH",
            f"/tickets/{number}/messages/{canary_ticket.public_message_id}",
            {"body": "x"},
        ),
        (alice, "GET", f"/attachments/{canary_ticket.internal_attachment_id}", None),
        (alice, "GET", f"/attachments/{canary_ticket.public_attachment_id}", None),
        (alice, "PATCH", f"/tickets/{number}", {"status": "closed"}),
        (alice, "POST", f"/tickets/{number}/messages", {"body": "Too late"}),
    ]
    statuses = set()
    for api, method, path, body in calls:
        if method == "GET":
            response = api.get(path)
        else:
            response = api._write(method, path, body)
        endpoint, _ = adapter.match(PREFIX + path.split("?")[0], method=method)
        rule = next(iter(app.url_map.iter_rules(endpoint)))
        documented = rule.rule.removeprefix(PREFIX).replace("<", "{").replace(">", "}")
        responses = document["paths"][documented][method.lower()]["responses"]
        assert str(response.status_code) in responses, (method, path, response.status_code)
        statuses.add(response.status_code)
        content = responses[str(response.status_code)]["content"]
        if response.mimetype == "application/json":
            schema = content["application/json"]["schema"]
            problems = validate(response.json, schema, document["components"]["schemas"])
            assert problems == {}, (method, path, problems)
        else:
            assert "application/octet-stream" in content
    assert statuses >= {200, 201, 400, 403, 404, 409}
    assert components["Error"]["additionalProperties"] is False


def test_an_unexpected_failure_is_a_json_500_that_says_nothing(app, plugin) -> None:
    from flask_supportdesk import hookimpl

    class Broken:
        @hookimpl(tryfirst=True)
        def supportdesk_resolve_reference(self, kind: str, ref: str, actor: Actor) -> None:
            raise RuntimeError("secret database password in this message")

    with app.app_context():
        get_state().hooks.pm.register(Broken())
    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = as_user(app, 1).post(
        "/tickets", {"subject": "s", "body": "b", "reference": {"kind": "order", "id": "1001"}}
    )
    assert response.status_code == 500 and response.mimetype == "application/json"
    assert response.json["error"]["code"] == "internal_error"
    assert b"secret" not in response.data
