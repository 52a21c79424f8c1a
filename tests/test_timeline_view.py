"""The timeline reads newest first, in words, not raw values."""

from __future__ import annotations

import pytest

from flask_supportdesk.presentation import timeline_view
from flask_supportdesk.services import escalation
from flask_supportdesk.services import messages
from flask_supportdesk.services import tickets
from flask_supportdesk.services import timeline

pytestmark = pytest.mark.usefixtures("ctx")


def test_the_timeline_reads_newest_first_in_words(alice, agent) -> None:
    ticket = tickets.open_ticket(alice, subject="Lamp", body="It flickers.")
    messages.post_message(agent, ticket.number, "On it.", changes={"priority": "high"})
    tickets.update_ticket(agent, ticket.number, {"assignee": agent.id})
    escalation.escalate(agent, ticket.number, reason="Needs a refund.")
    texts = [e.text for e in timeline_view(timeline.list_events(agent, ticket))]
    assert texts == [
        "Escalated: Agent → Manager",
        "Assignee: — → Ann Agent",
        "Status: Open → Waiting customer",  # the reply's two changes, in one event
        "Priority: Normal → High",
        "opened the ticket (Customer portal)",
    ]
    entries = timeline_view(timeline.list_events(agent, ticket))
    assert entries[0].actor_name == "Ann Agent" and entries[0].at.tzinfo is not None
