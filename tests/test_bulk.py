"""Bulk actions on the desk list: each ticket through the same service and policy as one
by one, one event per ticket, all or nothing."""

from __future__ import annotations

import typing as t

import pytest
import sqlalchemy as sa

from conftest import csrf_token
from conftest import login
from flask_supportdesk._state import get_state
from flask_supportdesk.errors import ForbiddenField
from flask_supportdesk.errors import NotFound
from flask_supportdesk.errors import TicketClosed
from flask_supportdesk.errors import ValidationError
from flask_supportdesk.models import Event
from flask_supportdesk.models import Priority
from flask_supportdesk.models import Ticket
from flask_supportdesk.services import tickets
from flask_supportdesk.testing import record_signals


def _open(app: t.Any, actor: t.Any, n: int) -> list[str]:
    with app.test_request_context():
        return [
            tickets.open_ticket(actor, subject=f"Question {i}", body="Hello").number
            for i in range(n)
        ]


def _priorities(app: t.Any) -> dict[str, str]:
    with app.app_context():
        rows = get_state().db.session.execute(sa.select(Ticket.number, Ticket.priority))
        return {number: priority.value for number, priority in rows}


def test_update_many_changes_each_ticket_with_its_own_event(app, alice, agent) -> None:
    numbers = _open(app, alice, 3)
    with app.test_request_context(), record_signals(app) as sent:
        changed = tickets.update_many(agent, numbers, {"priority": "high", "assignee": agent.id})
        assert sorted(t.number for t in changed) == sorted(numbers)
        kinds = get_state().db.session.scalars(
            sa.select(Event.kind).where(Event.kind.in_(("priority_changed", "assignee_changed")))
        ).all()
    assert sent.names() == ["ticket_updated"] * 3
    assert {kw["ticket"].number for kw in sent.of("ticket_updated")} == set(numbers)
    assert sorted(kinds) == ["assignee_changed"] * 3 + ["priority_changed"] * 3
    assert set(_priorities(app).values()) == {Priority.HIGH.value}


def test_one_refusal_changes_nothing(app, alice, agent) -> None:
    numbers = _open(app, alice, 2)
    with app.test_request_context():
        tickets.close_ticket(alice, numbers[1])
    with (
        app.test_request_context(),
        record_signals(app) as sent,
        pytest.raises(TicketClosed) as refused,
    ):
        tickets.update_many(agent, numbers, {"priority": "urgent"})
    assert numbers[1] in refused.value.message
    assert sent.names() == [] and set(_priorities(app).values()) == {"normal"}
    # A ticket the agent may not see is not found, and nothing is changed.
    with app.test_request_context(), pytest.raises(NotFound):
        tickets.update_many(agent, [numbers[0], "T-NOSUCHONE"], {"priority": "low"})
    assert _priorities(app)[numbers[0]] == "normal"


def test_a_customer_may_not_bulk_change_their_tickets(app, alice) -> None:
    numbers = _open(app, alice, 2)
    with app.test_request_context(), pytest.raises(ForbiddenField) as refused:
        tickets.update_many(alice, numbers, {"priority": "high"})
    assert refused.value.fields.get("priority")
    with app.test_request_context():
        with pytest.raises(ValidationError):
            tickets.update_many(alice, numbers, {"subject": "All the same"})
        with pytest.raises(ValidationError):
            tickets.update_many(alice, [], {"status": "closed"})


def test_the_desk_list_applies_a_bulk_action(app, client, alice, agent) -> None:
    numbers = _open(app, alice, 3)
    login(client, agent)
    page = client.get("/support/desk/?tab=all").get_data(as_text=True)
    assert 'form="sd-bulk"' in page and 'action="/support/desk/tickets/bulk"' in page
    response = client.post(
        "/support/desk/tickets/bulk",
        data={
            "csrf_token": csrf_token(client),
            "ticket": numbers[:2],
            "priority": "urgent",
            "status": "",
            "department": "",
            "assignee": "none",
            "back": "/support/desk/?tab=all",
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/support/desk/?tab=all"
    assert "2 tickets updated." in client.get("/support/desk/?tab=all").get_data(as_text=True)
    priorities = _priorities(app)
    assert [priorities[n] for n in numbers] == ["urgent", "urgent", "normal"]


def test_a_bulk_form_never_redirects_off_the_desk(app, client, alice, agent) -> None:
    numbers = _open(app, alice, 1)
    login(client, agent)
    for back in ("//evil.example/", "https://evil.example/", "/support/desk\\..\\x", ""):
        response = client.post(
            "/support/desk/tickets/bulk",
            data={"csrf_token": csrf_token(client), "ticket": numbers, "priority": "low",
                  "back": back},
        )
        assert response.headers["Location"] == "/support/desk/"
