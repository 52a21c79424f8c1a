"""Staff members in the portal: their own requests, seen as a customer sees them."""

from __future__ import annotations

from test_portal import PORTAL
from test_portal import new_ticket_number
from test_portal import open_as
from test_portal import post
from test_portal import text
from test_portal import thread_of
from test_portal_hostile import every_page

from conftest import CANARY
from conftest import assert_no_canary
from conftest import login
from flask_supportdesk.services import escalation
from flask_supportdesk.services import messages


def test_staff_see_their_own_requests_as_customers(app, client, alice, agent) -> None:
    mine = open_as(app, agent, subject="My payslip is wrong")
    customers = open_as(app, alice, subject="Alice's parcel")
    login(client, agent)
    listing = text(client.get(PORTAL + "/"))
    assert "My payslip is wrong" in listing and "Alice" not in listing
    assert client.get(f"{PORTAL}/tickets/{mine}").status_code == 200
    # A ticket Ann handles as staff is not hers in the portal: not found, as for anyone.
    assert client.get(f"{PORTAL}/tickets/{customers}").status_code == 404
    assert post(client, f"{PORTAL}/tickets/{customers}/reply", {"body": "Hi"}).status_code == 404
    assert len(thread_of(app, customers)) == 1


def test_b1_canary_never_reaches_a_staff_requester(app, client, agent, manager) -> None:
    """Lena (agent) asks for help; the ticket is escalated to managers with a note."""
    lena = login(client, 12)
    response = post(
        lena, PORTAL + "/new", {"subject": "My payslip", "category": "general", "body": "Wrong"}
    )
    number = new_ticket_number(response)
    with app.test_request_context():
        messages.post_message(agent, number, "Checking with payroll.")
        messages.post_message(agent, number, f"HR says {CANARY}", channel="internal")
        escalation.escalate(agent, number, reason=f"Needs a manager {CANARY}")
        messages.post_message(manager, number, f"Manager note {CANARY}", channel="internal")
        internal_id = thread_of(app, number)[-1].id
    first = thread_of(app, number)[0].id
    for url in every_page(number, first, internal_id):
        response = lena.get(url)
        assert response.status_code in (200, 404), url
        assert_no_canary(response)
    page = text(lena.get(f"{PORTAL}/tickets/{number}"))
    assert "Checking with payroll." in page and "Internal note" not in page
