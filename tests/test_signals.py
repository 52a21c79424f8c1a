"""Every signal: sent once per change, after commit, with its documented arguments, never
for a change that was rolled back; receivers isolated from each other."""

from __future__ import annotations

import logging
import typing as t

import pytest
import sqlalchemy as sa

from flask_supportdesk import signals
from flask_supportdesk._state import get_state
from flask_supportdesk.errors import ValidationError
from flask_supportdesk.models import Channel
from flask_supportdesk.models import Message
from flask_supportdesk.models import Ticket
from flask_supportdesk.services import departments
from flask_supportdesk.services import escalation
from flask_supportdesk.services import messages
from flask_supportdesk.services import tickets
from flask_supportdesk.testing import record_signals

pytestmark = pytest.mark.usefixtures("ctx")

#: The keyword arguments each signal's docstring promises.
DOCUMENTED = {
    "ticket_opened": {"ticket", "message", "actor"},
    "follow_up_opened": {"ticket", "follow_up", "actor"},
    "message_posted": {"ticket", "message", "actor"},
    "message_edited": {"ticket", "message", "actor", "previous_body"},
    "ticket_updated": {"ticket", "actor", "changes"},
    "ticket_closed": {"ticket", "actor"},
    "ticket_escalated": {"ticket", "actor", "from_level", "to_level", "reason"},
    "department_changed": {"department", "actor"},
    "delegate_invited": {"ticket", "delegate", "actor"},
    "delegate_accepted": {"ticket", "delegate", "actor"},
    "delegate_revoked": {"ticket", "delegate", "actor"},
    "pin_checked": {"actor", "customer_id", "matched", "ticket"},
    "pin_changed": {"actor"},
}


def test_the_table_covers_every_signal() -> None:
    assert set(DOCUMENTED) == set(signals.__all__)
    for name, kwargs in DOCUMENTED.items():
        for kwarg in kwargs:
            assert f"``{kwarg}``" in _docstring(name), f"{name} does not document {kwarg}"


def _docstring(name: str) -> str:
    from sphinx.pycode import ModuleAnalyzer

    docs = ModuleAnalyzer.for_module("flask_supportdesk.signals").find_attr_docs()
    return " ".join(docs[("", name)])


def _check(sent: t.Any, name: str) -> dict[str, t.Any]:
    kwargs = sent.one(name)
    assert set(kwargs) == DOCUMENTED[name]
    return t.cast(dict[str, t.Any], kwargs)


def _open(actor: t.Any, **kw: t.Any) -> Ticket:
    kw.setdefault("subject", "Where is my parcel?")
    kw.setdefault("body", "It was due on Monday.")
    return tickets.open_ticket(actor, **kw)


def test_ticket_opened(app, alice) -> None:
    with record_signals(app) as sent:
        ticket = _open(alice)
    assert sent.names() == ["ticket_opened"]
    kwargs = _check(sent, "ticket_opened")
    assert kwargs["ticket"] is ticket and kwargs["actor"] == alice
    assert kwargs["message"].body == "It was due on Monday."
    assert sent.sent[0].sender is app


def test_a_customer_reply_announces_its_status_change(app, alice, agent) -> None:
    ticket = _open(alice)
    messages.post_message(agent, ticket.number, "We are on it.")
    with record_signals(app) as sent:
        message = messages.post_message(alice, ticket.number, "Still nothing.")
    assert sent.names() == ["message_posted", "ticket_updated"]
    assert _check(sent, "message_posted")["message"] is message
    changes = _check(sent, "ticket_updated")["changes"]
    assert changes == {"status": ("pending_customer", "pending_admin")}


def test_a_staff_reply_announces_every_change_in_one_update(app, alice, agent) -> None:
    ticket = _open(alice)
    with record_signals(app) as sent:
        messages.post_message(
            agent, ticket.number, "Escalating the priority.", changes={"priority": "high"}
        )
    assert sent.names() == ["message_posted", "ticket_updated"]
    changes = _check(sent, "ticket_updated")["changes"]
    assert changes == {"priority": ("normal", "high"), "status": ("open", "pending_customer")}


def test_an_internal_note_changes_and_announces_no_status(app, alice, agent) -> None:
    ticket = _open(alice)
    with record_signals(app) as sent:
        note = messages.post_message(agent, ticket.number, "Check the courier.", channel="internal")
    assert sent.names() == ["message_posted"]
    assert _check(sent, "message_posted")["message"].channel is Channel.INTERNAL
    assert note.ticket.status.value == "open"


def test_a_replayed_client_id_announces_nothing(app, alice) -> None:
    ticket = _open(alice)
    messages.post_message(alice, ticket.number, "Hello?", client_id="c-1")
    with record_signals(app) as sent:
        posted = messages.post(alice, ticket.number, "Hello?", client_id="c-1")
    assert posted.created is False
    assert sent.names() == []


def test_message_edited(app, alice) -> None:
    ticket = _open(alice)
    first = messages.list_messages(alice, ticket)[0]
    with record_signals(app) as sent:
        messages.edit_message(alice, first.id, "It was due on Tuesday.")
    assert sent.names() == ["message_edited"]
    kwargs = _check(sent, "message_edited")
    assert kwargs["previous_body"] == "It was due on Monday."
    assert kwargs["message"].body == "It was due on Tuesday."


def test_closing_announces_the_update_then_the_close(app, alice) -> None:
    ticket = _open(alice)
    with record_signals(app) as sent:
        tickets.close_ticket(alice, ticket.number)
    assert sent.names() == ["ticket_updated", "ticket_closed"]
    assert _check(sent, "ticket_updated")["changes"] == {"status": ("open", "closed")}
    assert _check(sent, "ticket_closed")["ticket"].number == ticket.number


def test_an_escalation_announces_itself_and_its_note(app, alice, agent) -> None:
    ticket = _open(alice)
    with record_signals(app) as sent:
        escalation.escalate(agent, ticket.number, reason="Refund above my limit.")
    assert sent.names() == ["ticket_escalated", "message_posted"]
    kwargs = _check(sent, "ticket_escalated")
    assert (kwargs["from_level"], kwargs["to_level"]) == ("agent", "manager")
    assert kwargs["reason"] == "Refund above my limit."
    note = _check(sent, "message_posted")["message"]
    assert note.channel is Channel.INTERNAL and "Refund above my limit." in note.body


def test_an_escalation_beyond_the_top(app, alice, owner) -> None:
    ticket = _open(alice)
    escalation.escalate(owner, ticket.number, reason="Up")
    escalation.escalate(owner, ticket.number, reason="Up again")
    with record_signals(app) as sent:
        escalation.escalate(owner, ticket.number, reason="Gateway bug")
    assert sent.names() == ["ticket_escalated", "message_posted"]
    kwargs = _check(sent, "ticket_escalated")
    assert (kwargs["from_level"], kwargs["to_level"]) == ("owner", None)


def test_a_follow_up(app, alice) -> None:
    ticket = _open(alice)
    tickets.close_ticket(alice, ticket.number)
    with record_signals(app) as sent:
        new = tickets.open_follow_up(alice, ticket.number, body="It came broken.")
    assert sent.names() == ["ticket_opened", "follow_up_opened"]
    kwargs = _check(sent, "follow_up_opened")
    assert kwargs["ticket"].number == ticket.number and kwargs["follow_up"] is new


def test_department_changed(app, owner) -> None:
    with record_signals(app) as sent:
        department = departments.create_department(owner, name="Billing")
        departments.update_department(owner, department.id, name="Payments")
    assert sent.names() == ["department_changed", "department_changed"]
    assert all(set(kw) == DOCUMENTED["department_changed"] for kw in sent.of("department_changed"))


def _count(model: type) -> int:
    return int(get_state().db.session.scalar(sa.select(sa.func.count()).select_from(model)))


def test_a_refused_change_announces_and_writes_nothing(app, alice, agent) -> None:
    ticket = _open(alice)
    before = _count(Message)
    with record_signals(app) as sent, pytest.raises(ValidationError):
        messages.post_message(agent, ticket.number, "x", changes={"assignee": "999"})
    assert sent.names() == [] and _count(Message) == before


def test_a_change_rolled_back_at_commit_announces_nothing(app, alice, monkeypatch) -> None:
    ticket = _open(alice)
    before = _count(Message)

    def failing_commit() -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(get_state().db.session, "commit", failing_commit)
    with record_signals(app) as sent, pytest.raises(RuntimeError):
        messages.post_message(alice, ticket.number, "Anyone?")
    monkeypatch.undo()
    assert sent.names() == [] and _count(Message) == before


def test_a_before_commit_consumer_that_fails_rolls_the_change_back(app, alice) -> None:
    ticket = _open(alice)
    before = _count(Message)

    def broken(events: t.Any) -> None:
        raise RuntimeError("outbox full")

    get_state().before_commit.append(broken)
    try:
        with record_signals(app) as sent, pytest.raises(RuntimeError):
            messages.post_message(alice, ticket.number, "Anyone?")
    finally:
        get_state().before_commit.remove(broken)
    assert sent.names() == [] and _count(Message) == before


def test_a_failing_receiver_is_logged_and_the_others_still_run(app, alice, caplog) -> None:
    heard = []

    def broken(sender: t.Any, **kwargs: t.Any) -> None:
        raise RuntimeError("the CRM is down")

    def working(sender: t.Any, **kwargs: t.Any) -> None:
        heard.append(kwargs["ticket"].number)

    with (
        signals.ticket_opened.connected_to(broken, sender=app),
        signals.ticket_opened.connected_to(working, sender=app),
        caplog.at_level(logging.ERROR, logger="flask_supportdesk"),
    ):
        ticket = _open(alice)
    assert heard == [ticket.number]
    assert "the CRM is down" in caplog.text
    assert _count(Ticket) == 1  # committed although a receiver failed


def test_a_failing_receiver_does_not_fail_the_request(app, client, alice) -> None:
    from conftest import csrf_token
    from conftest import login

    def broken(sender: t.Any, **kwargs: t.Any) -> None:
        raise RuntimeError("observer bug")

    login(client, alice)
    with signals.ticket_opened.connected_to(broken, sender=app):
        response = client.post(
            "/support/new",
            data={
                "csrf_token": csrf_token(client),
                "subject": "Hello",
                "body": "Is anyone there?",
                "category": "general",
            },
        )
    assert response.status_code == 302


def test_delegate_signals(app, alice, bob, agent) -> None:
    from flask_supportdesk import hookimpl
    from flask_supportdesk.services import delegates

    class Delivery:  # the host's own mail service: invitations need one
        @hookimpl
        def supportdesk_deliver_notification(self, notification: t.Any) -> None:
            pass

    get_state(app).desk.register(Delivery(), app=app)
    ticket = _open(alice)
    with record_signals(app) as sent:
        invited = delegates.invite(alice, ticket.number, bob.email)
        delegates.accept(bob, delegates.invitation_token(invited))
        delegates.revoke(agent, ticket.number, invited.id)
    assert sent.names() == ["delegate_invited", "delegate_accepted", "delegate_revoked"]
    for name, actor in (("delegate_invited", alice), ("delegate_accepted", bob),
                        ("delegate_revoked", agent)):  # fmt: skip
        kwargs = _check(sent, name)
        assert kwargs["actor"] == actor and kwargs["delegate"].id == invited.id
        assert kwargs["ticket"].number == ticket.number
