"""Bad input never gives a 500: text no database can store (NUL, lone surrogates), ids out
of range, odd user ids and a host lookup that chokes on them, on every surface (JSON API,
page forms, query strings, URL paths) and in the services a host calls from Python.

Each matrix runs every cell and reports all failures at once; every cell also checks that
no ticket, message or event was written.
"""

from __future__ import annotations

import logging
import typing as t

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import exc as sa_exc
from test_api import PREFIX
from test_api import Api
from test_api import as_user

import hostapp
from conftest import csrf_token
from conftest import login
from flask_supportdesk import hookimpl
from flask_supportdesk._state import get_state
from flask_supportdesk.errors import SupportDeskError
from flask_supportdesk.errors import ValidationError
from flask_supportdesk.models import Attachment
from flask_supportdesk.models import Department
from flask_supportdesk.models import Event
from flask_supportdesk.models import Message
from flask_supportdesk.models import Ticket
from flask_supportdesk.services import attachments
from flask_supportdesk.services import departments
from flask_supportdesk.services import escalation
from flask_supportdesk.services import listing
from flask_supportdesk.services import messages
from flask_supportdesk.services import tickets
from flask_supportdesk.services.attachments import Upload
from flask_supportdesk.values import Actor

PORTAL = "/support"
DESK = "/support/desk"
NUL = "\x00"
SURROGATE = "\udc80"
#: Through JSON (and from Python) both arrive; forms and query strings decode bytes with
#: replacement, so only NUL gets through them.
JSON_BAD = (NUL, SURROGATE)
FORM_BAD = (NUL,)
#: Ids no row can have: over SQLite's 64-bit integers, over PostgreSQL's ``integer``.
HUGE_IDS = (2**63, 10**20, 2**31)
#: User ids whose shape is wrong: "²" passes isdigit() but not int(); 65 characters.
ODD_USER_IDS = ("²", "1" * 65, "a\tb", NUL, SURROGATE)

AGENT, OWNER = 10, 30


def counts(app: Flask) -> tuple[int, int, int]:
    """Rows of tickets, messages and events."""
    with app.app_context():
        session = get_state().db.session
        return tuple(  # type: ignore[return-value]
            session.scalar(sa.select(sa.func.count()).select_from(model))
            for model in (Ticket, Message, Event)
        )


class Setup(t.NamedTuple):
    """Alice's open ticket with a message, a closed one, and a department."""

    number: str
    message_id: int
    closed: str
    department_id: int


@pytest.fixture
def setup(app: Flask, alice: Actor, agent: Actor, owner: Actor) -> Setup:
    with app.test_request_context():
        department = departments.create_department(owner, name="Billing")
        ticket = tickets.open_ticket(alice, subject="Where is my parcel?", body="It is late.")
        message = messages.post_message(alice, ticket.number, "Any news?")
        closed = tickets.open_ticket(alice, subject="Old question", body="Answered.")
        tickets.close_ticket(alice, closed.number)
        return Setup(ticket.number, message.id, closed.number, department.id)


def _problem(label: str, response: t.Any, status: int, field: str | None) -> str | None:
    """Why ``response`` is not the expected refusal (``None`` when it is)."""
    if response.status_code != status:
        return f"{label}: {response.status_code} {response.get_data(as_text=True)[:200]}"
    if response.mimetype == "application/json":
        error = response.json.get("error") if isinstance(response.json, dict) else None
        if not isinstance(error, dict) or not {"code", "message"} <= set(error):
            return f"{label}: not the error shape: {response.json}"
        if field is not None and field not in error.get("fields", {}):
            return f"{label}: field {field!r} not named: {error}"
    return None


def _report(failures: list[str | None]) -> None:
    found = [f for f in failures if f]
    assert not found, "\n".join(found)


# -------------------------------------------------------------------------------------
# JSON API
# -------------------------------------------------------------------------------------


def _with(base: dict[str, t.Any], path: str, value: t.Any) -> dict[str, t.Any]:
    """``base`` with the dotted ``path`` set to ``value``."""
    data = {k: dict(v) if isinstance(v, dict) else v for k, v in base.items()}
    head, _, tail = path.partition(".")
    if tail:
        data[head] = {**data.get(head, {}), tail: value}
    else:
        data[head] = value
    return data


def test_api_json_fields_refuse_text_no_database_can_store(app: Flask, setup: Setup) -> None:
    agent, alice = as_user(app, AGENT), as_user(app, 1)
    new = {"subject": "Hi", "body": "Hello", "category": "general", "department": "billing",
           "priority": "high", "reference": {"kind": "order", "id": "1001"}, "requester": "1"}
    cells: list[tuple[Api, str, str, dict[str, t.Any], list[str]]] = [
        (agent, "POST", "/tickets", new, [*new, "reference.kind", "reference.id"]),
        (agent, "PATCH", f"/tickets/{setup.number}", {"subject": "New subject"},
         ["subject", "status", "priority", "category", "department", "assignee"]),
        (agent, "POST", f"/tickets/{setup.number}/escalate", {"reason": "Needs a refund"},
         ["reason"]),
        (agent, "POST", f"/tickets/{setup.number}/messages",
         {"body": "Reply", "channel": "public", "client_id": "c-1"},
         ["body", "channel", "status", "client_id"]),
        (alice, "PATCH", f"/tickets/{setup.number}/messages/{setup.message_id}",
         {"body": "Edited"}, ["body"]),
    ]
    before = counts(app)
    failures = []
    for api, method, path, base, fields in cells:
        for field in fields:
            for bad in JSON_BAD:
                data = _with(base, field, f"x{bad}y")
                response = api._write(method, path, data)
                failures.append(_problem(f"{method} {path} {field}={bad!r}", response, 400, field))
        # A key no database can store is refused too, and named.
        response = api._write(method, path, {**base, f"k{SURROGATE}": "v"})
        failures.append(_problem(f"{method} {path} key", response, 400, None))
    _report(failures)
    assert counts(app) == before


def test_api_query_and_path_refuse_nul_and_ids_out_of_range(app: Flask, setup: Setup) -> None:
    agent = as_user(app, AGENT)
    before = counts(app)
    failures = []
    for name in ("q", "status", "priority", "department", "assignee", "source", "sort",
                 "page", "page_size"):
        for bad in FORM_BAD:
            response = agent.get("/tickets", query_string={name: f"x{bad}"})
            failures.append(_problem(f"GET /tickets?{name}", response, 400, name))
    for name in ("after", "limit", "channel"):
        response = agent.get(f"/tickets/{setup.number}/messages", query_string={name: NUL})
        failures.append(_problem(f"GET messages?{name}", response, 400, name))
    for path in ("/tickets/%00", "/tickets/%00/messages", "/attachments/%00"):
        failures.append(_problem(f"GET {path}", agent.get(path), 404, None))
    failures.append(_problem("PATCH /tickets/%00", agent.patch("/tickets/%00", {}), 404, None))
    for huge in HUGE_IDS:
        failures.append(_problem(f"GET /attachments/{huge}", agent.get(f"/attachments/{huge}"),
                                 404, None))
        response = agent.patch(f"/tickets/{setup.number}/messages/{huge}", {"body": "x"})
        failures.append(_problem(f"PATCH message {huge}", response, 404, None))
    _report(failures)
    assert counts(app) == before


# -------------------------------------------------------------------------------------
# Pages: forms, query strings, paths
# -------------------------------------------------------------------------------------


def _form(client: FlaskClient, url: str, data: dict[str, str]) -> t.Any:
    return client.post(url, data={"csrf_token": csrf_token(client), **data})


def test_page_forms_and_queries_refuse_nul(app: Flask, setup: Setup) -> None:
    customer = login(app.test_client(), 1)
    staff = login(app.test_client(), AGENT)
    owner = login(app.test_client(), OWNER)
    n, m, d = setup.number, setup.message_id, setup.department_id
    new = {"subject": "Hi", "body": "Hello", "category": "general", "department": "billing",
           "order": "1001"}
    desk_new = {**new, "requester": "1", "priority": "high"}
    reply = {"body": "Reply", "channel": "public", "status": "", "priority": "normal",
             "assignee": ""}
    fields = {"status": "open", "priority": "normal", "category": "general",
              "department": "", "assignee": ""}
    department = {"name": "Shipping", "slug": "shipping", "description": "Parcels"}
    forms: list[tuple[FlaskClient, str, dict[str, str]]] = [
        (customer, f"{PORTAL}/new", new),
        (customer, f"{PORTAL}/tickets/{n}/reply", {"body": "More"}),
        (customer, f"{PORTAL}/tickets/{n}/subject", {"subject": "Renamed"}),
        (customer, f"{PORTAL}/tickets/{n}/messages/{m}/edit", {"body": "Edited"}),
        (customer, f"{PORTAL}/tickets/{setup.closed}/follow-up", {"body": "Again"}),
        (staff, f"{DESK}/new", desk_new),
        (staff, f"{DESK}/tickets/{n}/reply", reply),
        (staff, f"{DESK}/tickets/{n}/update", fields),
        (staff, f"{DESK}/tickets/{n}/escalate", {"reason": "Refund"}),
        (owner, f"{DESK}/departments", department),
        (owner, f"{DESK}/departments/{d}/edit", department),
    ]
    queries: list[tuple[FlaskClient, str, tuple[str, ...]]] = [
        (customer, f"{PORTAL}/", ("tab", "page")),
        (customer, f"{PORTAL}/new", ("order",)),
        (staff, f"{DESK}/", ("tab", "q", "status", "priority", "department", "assignee",
                             "source", "sort", "page")),
    ]
    before = counts(app)
    failures = []
    for client, url, base in forms:
        for name in base:
            for bad in FORM_BAD:
                response = _form(client, url, {**base, name: f"x{bad}y"})
                failures.append(_problem(f"POST {url} {name}", response, 400, None))
    for client, url, names in queries:
        for name in names:
            response = client.get(url, query_string={name: NUL})
            failures.append(_problem(f"GET {url}?{name}", response, 400, None))
    _report(failures)
    assert counts(app) == before


def test_page_paths_with_nul_or_ids_out_of_range_are_not_found(app: Flask, setup: Setup) -> None:
    customer = login(app.test_client(), 1)
    staff = login(app.test_client(), AGENT)
    owner = login(app.test_client(), OWNER)
    get, post, both = ("GET",), ("POST",), ("GET", "POST")
    cells: list[tuple[FlaskClient, str, tuple[str, ...]]] = [
        (customer, f"{PORTAL}/tickets/%00", get),
        (customer, f"{PORTAL}/tickets/%00/reply", post),
        (customer, f"{PORTAL}/tickets/%00/close", both),
        (staff, f"{DESK}/tickets/%00", get),
        (staff, f"{DESK}/tickets/%00/update", post),
    ]
    for huge in HUGE_IDS:
        cells += [
            (customer, f"{PORTAL}/tickets/{setup.number}/messages/{huge}/edit", both),
            (staff, f"{DESK}/messages/{huge}/edit", both),
            (owner, f"{DESK}/departments/{huge}/edit", both),
        ]
    before = counts(app)
    failures = []
    for client, url, methods in cells:
        if "GET" in methods:
            failures.append(_problem(f"GET {url}", client.get(url), 404, None))
        if "POST" in methods:
            response = _form(client, url, {"body": "x", "name": "x"})
            failures.append(_problem(f"POST {url}", response, 404, None))
    _report(failures)
    assert counts(app) == before


# -------------------------------------------------------------------------------------
# The services, as a host calls them from Python
# -------------------------------------------------------------------------------------


def test_services_refuse_text_no_database_can_store(
    app: Flask, ctx: None, setup: Setup, alice: Actor, agent: Actor, owner: Actor
) -> None:
    n, m = setup.number, setup.message_id

    def open_with(**kw: t.Any) -> t.Callable[[], t.Any]:
        fields = {"subject": "Hi", "body": "Hello", **kw}
        return lambda: tickets.open_ticket(agent, **fields)

    calls: dict[str, t.Callable[[str], t.Callable[[], t.Any]]] = {
        "open.subject": lambda bad: open_with(subject=f"x{bad}"),
        "open.body": lambda bad: open_with(body=f"x{bad}"),
        "open.category": lambda bad: open_with(category=f"x{bad}"),
        "open.department": lambda bad: open_with(department=f"x{bad}"),
        "open.priority": lambda bad: open_with(priority=f"x{bad}"),
        "open.reference.kind": lambda bad: open_with(reference={"kind": bad, "id": "1001"}),
        "open.reference.id": lambda bad: open_with(reference={"kind": "order", "id": bad}),
        "open.requester": lambda bad: open_with(requester_id=f"1{bad}"),
        **{
            f"update.{name}": (lambda name: lambda bad: lambda: tickets.update_ticket(
                agent, n, {name: f"x{bad}"}))(name)  # noqa: B023 - bound by the outer lambda
            for name in tickets.UPDATABLE_FIELDS
        },
        "post.body": lambda bad: lambda: messages.post_message(agent, n, f"x{bad}"),
        "post.channel": lambda bad: lambda: messages.post_message(agent, n, "x", channel=bad),
        "post.status": lambda bad: lambda: messages.post_message(agent, n, "x", status=bad),
        "post.client_id": lambda bad: lambda: messages.post_message(agent, n, "x", client_id=bad),
        "edit.body": lambda bad: lambda: messages.edit_message(alice, m, f"x{bad}"),
        "escalate.reason": lambda bad: lambda: escalation.escalate(agent, n, reason=f"x{bad}"),
        "get_ticket": lambda bad: lambda: tickets.update_ticket(agent, f"T-{bad}", {}),
        "follow_up": lambda bad: lambda: tickets.open_follow_up(alice, setup.closed, body=bad),
        **{
            f"filter.{name}": (lambda name: lambda bad: lambda: listing.visible_tickets(
                agent, listing.TicketFilters.parse({name: f"x{bad}"})))(name)  # noqa: B023
            for name in ("q", "status", "priority", "department", "assignee", "source")
        },
        "desk.q": lambda bad: lambda: listing.desk_tickets(
            agent, filters=listing.TicketFilters.parse({"q": bad})),
        "department.name": lambda bad: lambda: departments.create_department(owner, name=bad),
        "department.slug": lambda bad: lambda: departments.create_department(
            owner, name="Shipping", slug=bad),
        "department.description": lambda bad: lambda: departments.create_department(
            owner, name="Shipping", description=bad),
        "attachment.name": lambda bad: lambda: messages.post_message(
            alice, n, "See file", attachments=[Upload.from_bytes(f"a{bad}b.txt", b"text\n")]),
    }
    before = counts(app)
    failures = []
    for label, make in calls.items():
        for bad in JSON_BAD:
            try:
                make(bad)()
            except SupportDeskError as exc:
                if not 400 <= exc.status < 500:
                    failures.append(f"{label} {bad!r}: {exc.status}")
            except Exception as exc:
                failures.append(f"{label} {bad!r}: {type(exc).__name__}: {exc}")
                get_state().db.session.rollback()
            else:
                failures.append(f"{label} {bad!r}: accepted")
    _report(failures)
    assert counts(app) == before


def test_services_treat_ids_out_of_range_as_not_found(
    app: Flask, ctx: None, setup: Setup, alice: Actor, owner: Actor
) -> None:
    calls: list[tuple[str, t.Callable[[int], t.Any]]] = [
        ("get_message", lambda i: messages.get_message(alice, i)),
        ("edit_message", lambda i: messages.edit_message(alice, i, "x")),
        ("revisions", lambda i: messages.revisions(alice, i)),
        ("open_attachment", lambda i: attachments.open_attachment(alice, i)),
        ("get_department", lambda i: departments.get_department(i)),
        ("update_department", lambda i: departments.update_department(owner, i, name="X")),
    ]
    failures = []
    for label, call in calls:
        for huge in (*HUGE_IDS, -1, 0):
            try:
                call(huge)
            except SupportDeskError as exc:
                if exc.status != 404:
                    failures.append(f"{label}({huge}): {exc.status}")
            except Exception as exc:
                failures.append(f"{label}({huge}): {type(exc).__name__}: {exc}")
                get_state().db.session.rollback()
            else:
                failures.append(f"{label}({huge}): found")
    assert not failures, "\n".join(failures)


# -------------------------------------------------------------------------------------
# User ids from input, and a host lookup that chokes on them
# -------------------------------------------------------------------------------------


class NaiveUsers:
    """A host whose user lookup does ``int(user_id)`` and a query, as many do."""

    @hookimpl(tryfirst=True)
    def supportdesk_load_user(self, user_id: str) -> Actor | None:
        number = int(user_id)  # "²" raises ValueError
        # On SQLite, 40 digits raise OverflowError; PostgreSQL compares them as numeric.
        found = get_state().db.session.scalar(sa.select(Ticket.id).where(Ticket.id == number))
        user = hostapp.USERS.get(number) if found is None else None
        return user.actor if user else None


class BrokenDatabaseUsers:
    """A host whose user lookup meets a database outage."""

    @hookimpl(tryfirst=True)
    def supportdesk_load_user(self, user_id: str) -> Actor | None:
        raise sa_exc.OperationalError("SELECT user", {}, Exception("server closed the connection"))


@pytest.fixture
def naive_app(app: Flask) -> Flask:
    get_state(app).hooks.pm.register(NaiveUsers())
    return app


def test_odd_user_ids_are_refused_before_the_hook(naive_app: Flask, setup: Setup) -> None:
    app = naive_app
    agent = as_user(app, AGENT)
    staff = login(app.test_client(), AGENT)
    before = counts(app)
    failures = []
    for odd in ODD_USER_IDS:
        body = {"subject": "Hi", "body": "Hello", "requester": odd}
        failures.append(_problem(f"API requester {odd!r}", agent.post("/tickets", body), 400,
                                 "requester"))
        response = agent.patch(f"/tickets/{setup.number}", {"assignee": odd})
        failures.append(_problem(f"API assignee {odd!r}", response, 400, "assignee"))
        if odd not in (SURROGATE, "²"):  # "²" is a well-formed id: the filter finds none
            response = agent.get("/tickets", query_string={"assignee": odd})
            failures.append(_problem(f"API filter {odd!r}", response, 400, "assignee"))
        if odd != SURROGATE:  # a query string or a form cannot carry a lone surrogate
            form = {"requester": odd, "subject": "Hi", "body": "Hello", "category": "general",
                    "priority": "normal"}
            response = _form(staff, f"{DESK}/new", form)
            failures.append(_problem(f"desk form requester {odd!r}", response, 400, None))
    _report(failures)
    assert counts(app) == before


def test_a_hook_that_chokes_on_an_id_means_no_such_user(
    naive_app: Flask, setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    app = naive_app
    agent = as_user(app, AGENT)
    staff = login(app.test_client(), AGENT)
    before = counts(app)
    # Well-formed ids that the host's int() or its database cannot take.
    ids = ("1" * 40, "abc", "٣")  # 40 digits, letters, an Arabic-Indic digit
    failures = []
    with caplog.at_level(logging.WARNING):
        for user_id in ids:
            body = {"subject": "Hi", "body": "Hello", "requester": user_id}
            response = agent.post("/tickets", body)
            failures.append(_problem(f"API requester {user_id}", response, 400, "requester"))
            response = agent.patch(f"/tickets/{setup.number}", {"assignee": user_id})
            failures.append(_problem(f"API assignee {user_id}", response, 400, "assignee"))
            form = {"requester": user_id, "subject": "Hi", "body": "Hello",
                    "category": "general", "priority": "normal"}
            response = _form(staff, f"{DESK}/new", form)
            failures.append(_problem(f"desk requester {user_id}", response, 400, None))
            if response.status_code == 400:
                assert "No customer with this e-mail or id." in response.get_data(as_text=True)
    _report(failures)
    assert counts(app) == before
    assert any("supportdesk_load_user raised" in r.getMessage() for r in caplog.records)
    # The lookup still works for a real id.
    body = {"subject": "For Alice", "body": "Filed by staff", "requester": "1"}
    created = agent.post("/tickets", body)
    assert created.status_code == 201, created.json
    assert created.json["requester"]["id"] == "1"
    # A database outage in the lookup is no odd id: it still answers 503.
    get_state(app).hooks.pm.register(BrokenDatabaseUsers())
    before = counts(app)
    response = agent.post("/tickets", body)
    assert response.status_code == 503, response.json
    assert response.json["error"]["code"] == "service_unavailable"
    assert counts(app) == before


# -------------------------------------------------------------------------------------
# Weak spots
# -------------------------------------------------------------------------------------


@pytest.mark.parametrize("reason", ["before\x00after", "bell\x07", "esc\x1b[31m"])
def test_the_escalation_reason_follows_the_body_rules(
    app: Flask, ctx: None, setup: Setup, agent: Actor, reason: str
) -> None:
    before = counts(app)
    with pytest.raises(ValidationError) as caught:
        escalation.escalate(agent, setup.number, reason=reason)
    assert "reason" in caught.value.fields
    assert counts(app) == before
    # The reason is required: empty or blank is refused with a field error, writing nothing.
    for empty in ("", "  \n ", None):
        with pytest.raises(ValidationError) as caught:
            escalation.escalate(agent, setup.number, reason=empty)
        assert caught.value.fields == {"reason": "Give a reason for the escalation."}
    assert counts(app) == before
    assert escalation.escalate(agent, setup.number, reason="Refund").level == "manager"


def test_a_department_slug_with_a_trailing_newline_is_refused(
    app: Flask, ctx: None, owner: Actor
) -> None:
    with pytest.raises(ValidationError) as caught:
        departments.create_department(owner, name="Shipping", slug="shipping\n")
    assert "slug" in caught.value.fields
    assert get_state().db.session.scalar(sa.select(sa.func.count()).select_from(Department)) == 0


DECEPTIVE = ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068",
             "\u2069", "\u200b", "\u2060", "\ufeff", "\u200e", "\u200f", "\u061c"]


@pytest.mark.parametrize("char", DECEPTIVE, ids=[f"U+{ord(c):04X}" for c in DECEPTIVE])
def test_bidi_and_invisible_characters_are_refused_in_names(
    app: Flask, ctx: None, setup: Setup, alice: Actor, owner: Actor, char: str
) -> None:
    before = counts(app)
    with pytest.raises(ValidationError) as caught:
        tickets.open_ticket(alice, subject=f"invoice{char}fdp.exe", body="Hello")
    assert "invisible" in caught.value.fields["subject"]
    with pytest.raises(ValidationError) as caught:
        tickets.update_ticket(alice, setup.number, {"subject": f"a{char}b"})
    assert "subject" in caught.value.fields
    with pytest.raises(ValidationError) as caught:
        departments.create_department(owner, name=f"Bil{char}ling")
    assert "name" in caught.value.fields
    with pytest.raises(ValidationError) as caught:
        departments.update_department(owner, setup.department_id, name=f"Bil{char}ling")
    assert "name" in caught.value.fields
    upload = Upload.from_bytes(f"invoice{char}gpj.exe.txt", b"text\n")
    with pytest.raises(ValidationError) as caught:
        messages.post_message(alice, setup.number, "See file", attachments=[upload])
    assert "files" in caught.value.fields
    assert counts(app) == before


def test_joiners_that_words_and_emoji_need_are_kept(app: Flask, ctx: None, alice: Actor) -> None:
    persian = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"  # "I want", with a ZWNJ
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    ticket = tickets.open_ticket(
        alice,
        subject=f"{persian} {family}",
        body="Hello",
        attachments=[Upload.from_bytes(f"{persian}.txt", b"text\n")],
    )
    assert ticket.subject == f"{persian} {family}"
    names = get_state().db.session.scalars(sa.select(Attachment.filename)).all()
    assert names == [f"{persian}.txt"]


def test_disabled_plugins_from_the_environment_are_comma_separated(
    tmp_path: t.Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = "supportdesk.builtin.storage, other"
    monkeypatch.setenv("FLASK_SUPPORTDESK_DISABLED_PLUGINS", names)
    app = Flask(__name__)
    app.config.from_prefixed_env()  # FLASK_SUPPORTDESK_X -> SUPPORTDESK_X, as a string
    assert app.config["SUPPORTDESK_DISABLED_PLUGINS"] == names
    from flask_supportdesk.config import load

    config = load(app)
    assert config.disabled_plugins == ("supportdesk.builtin.storage", "other")


def test_every_desk_response_refuses_framing(app: Flask, setup: Setup) -> None:
    customer = login(app.test_client(), 1)
    staff = login(app.test_client(), AGENT)
    responses = [
        customer.get(f"{PORTAL}/"),
        customer.get(f"{PORTAL}/tickets/{setup.number}"),
        customer.get(f"{PORTAL}/tickets/T-MISSING"),
        staff.get(f"{DESK}/"),
        staff.get(f"{PREFIX}/tickets"),
        staff.get(f"{PREFIX}/tickets/T-MISSING"),
    ]
    for response in responses:
        assert response.headers.get("X-Frame-Options") == "DENY", response.request.path


def test_a_follow_up_opens_after_its_department_was_deactivated(
    app: Flask, alice: Actor, owner: Actor
) -> None:
    with app.test_request_context():
        department = departments.create_department(owner, name="Returns")
        old = tickets.open_ticket(alice, subject="Refund?", body="Hi", department="returns")
        tickets.close_ticket(alice, old.number)
        departments.update_department(owner, department.id, name="Returns", is_active=False)
        number = old.number
    customer = login(app.test_client(), 1)
    response = _form(customer, f"{PORTAL}/tickets/{number}/follow-up", {"body": "Still no refund"})
    assert response.status_code == 302, response.get_data(as_text=True)
    with app.app_context():
        follow_up = get_state().db.session.scalars(
            sa.select(Ticket).where(Ticket.follow_up_of_id.is_not(None))
        ).one()
        assert follow_up.department is None
        assert follow_up.subject == "Re: Refund?"
