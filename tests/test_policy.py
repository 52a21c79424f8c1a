"""Who sees which tickets: departments, entry levels, assignment, the top role."""

from __future__ import annotations

import pytest

from flask_supportdesk import policy
from flask_supportdesk.errors import Forbidden
from flask_supportdesk.errors import NotFound
from flask_supportdesk.models import Status
from flask_supportdesk.services import departments
from flask_supportdesk.services import escalation
from flask_supportdesk.services import listing
from flask_supportdesk.services import messages
from flask_supportdesk.services import tickets

pytestmark = pytest.mark.usefixtures("ctx")


@pytest.fixture
def shops(owner):
    departments.create_department(owner, name="Shipping")
    departments.create_department(owner, name="Payments")


def numbers(page) -> set[str]:
    return {t.number for t in page.items}


def test_department_scope(shops, alice, agent, other_team_agent, owner) -> None:
    shipping = tickets.open_ticket(alice, subject="Late", body="b", department="shipping")
    payment = tickets.open_ticket(alice, subject="Charged twice", body="b", department="payments")
    loose = tickets.open_ticket(alice, subject="Hello", body="b")

    seen = numbers(listing.desk_tickets(other_team_agent, tab="all"))
    assert seen == {shipping.number, loose.number}
    with pytest.raises(NotFound):
        policy.get_ticket(other_team_agent, payment.number)
    with pytest.raises(NotFound):
        messages.post_message(other_team_agent, payment.number, "hi")
    assert sum(listing.desk_counters(other_team_agent).values()) == 2

    assert numbers(listing.desk_tickets(agent, tab="all")) == {s.number for s in (shipping, payment, loose)}
    assert sum(listing.desk_counters(owner).values()) == 3


def test_assignment_opens_a_ticket_outside_the_scope(shops, alice, agent, other_team_agent) -> None:
    payment = tickets.open_ticket(alice, subject="Charged twice", body="b", department="payments")
    tickets.update_ticket(agent, payment.number, {"assignee": "11"})
    assert policy.get_ticket(other_team_agent, payment.number) is payment
    assert payment.number in numbers(listing.desk_tickets(other_team_agent, tab="submitted"))


def test_escalated_tickets_stay_with_the_level_below(alice, agent, manager) -> None:
    ticket = tickets.open_ticket(alice, subject="Refund", body="b")
    escalation.escalate(agent, ticket.number, reason="Refund")
    # the agent still sees it (all tab) but it left the agent's Submitted queue
    assert ticket.number in numbers(listing.desk_tickets(agent, tab="all"))
    assert ticket.number not in numbers(listing.desk_tickets(agent, tab="submitted"))
    assert ticket.number in numbers(listing.desk_tickets(manager, tab="submitted"))


def test_higher_entry_level_is_hidden_from_lower_staff(alice, agent, manager) -> None:
    ticket = tickets.open_ticket(alice, subject="VIP", body="b")
    ticket.entry_level = "manager"
    with pytest.raises(NotFound):
        policy.get_ticket(agent, ticket.number)
    assert policy.get_ticket(manager, ticket.number) is ticket


def test_customers_see_only_their_own(alice, bob) -> None:
    mine = tickets.open_ticket(alice, subject="Mine", body="b")
    tickets.open_ticket(bob, subject="Bob's", body="b")
    assert numbers(listing.visible_tickets(alice)) == {mine.number}
    assert numbers(listing.portal_tickets(alice)) == {mine.number}
    with pytest.raises(Forbidden):
        listing.desk_tickets(alice)
    with pytest.raises(Forbidden):
        listing.desk_counters(alice)


def test_staff_own_requests_are_not_in_their_desk(agent) -> None:
    own = tickets.open_ticket(agent, subject="My laptop", body="b")
    assert own.number not in numbers(listing.desk_tickets(agent, tab="all"))
    assert own.number in numbers(listing.portal_tickets(agent))
    assert policy.audience(agent, own) is policy.Audience.REQUESTER


def test_unknown_role_is_a_customer(app) -> None:
    from flask_supportdesk import Actor

    stranger = Actor("99", "Stranger", role="janitor")
    assert policy.staff_scope(stranger) is None


def test_only_owners_manage_departments(agent, manager, owner) -> None:
    with pytest.raises(Forbidden):
        departments.create_department(agent, name="Returns")
    with pytest.raises(Forbidden):
        departments.create_department(manager, name="Returns")
    created = departments.create_department(owner, name="Returns & Exchanges")
    assert created.slug == "returns-exchanges"
    departments.update_department(owner, created.id, name="Returns", is_active=False)
    assert departments.list_departments() == []
    assert [d.name for d in departments.list_departments(include_inactive=True)] == ["Returns"]


def test_filters_and_sorting(alice, agent) -> None:
    low = tickets.open_ticket(agent, subject="Low one", body="b", requester_id="1", priority="low")
    urgent = tickets.open_ticket(agent, subject="Urgent one", body="b", requester_id="1", priority="urgent")
    tickets.update_ticket(agent, urgent.number, {"status": "resolved"})
    by_priority = listing.desk_tickets(agent, tab="all", sort="-priority").items
    assert [t.number for t in by_priority] == [urgent.number, low.number]
    resolved = listing.TicketFilters.parse({"status": "resolved"})
    assert numbers(listing.desk_tickets(agent, tab="all", filters=resolved)) == {urgent.number}
    search = listing.TicketFilters.parse({"q": "low ONE"})
    assert numbers(listing.desk_tickets(agent, tab="all", filters=search)) == {low.number}
    by_number = listing.TicketFilters.parse({"q": low.number.lower()})
    assert numbers(listing.desk_tickets(agent, tab="all", filters=by_number)) == {low.number}
    wildcard = listing.TicketFilters.parse({"q": "%"})
    assert numbers(listing.desk_tickets(agent, tab="all", filters=wildcard)) == set()
    mine = listing.desk_tickets(agent, tab="mine")
    assert numbers(mine) == {low.number, urgent.number}
    assert listing.desk_counters(agent)[Status.RESOLVED] == 1


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"sort": "password"}, "sort"),
        ({"tab": "everything"}, "tab"),
        ({"page": "-1"}, "page"),
        ({"page_size": "1000"}, "page_size"),
    ],
)
def test_bad_list_arguments_are_refused(agent, kwargs, field) -> None:
    from flask_supportdesk.errors import ValidationError

    with pytest.raises(ValidationError) as info:
        listing.desk_tickets(agent, **kwargs)
    assert field in info.value.fields


def test_bad_filter_values_are_refused() -> None:
    from flask_supportdesk.errors import ValidationError

    with pytest.raises(ValidationError):
        listing.TicketFilters.parse({"status": "solved_by_agent"})
    with pytest.raises(ValidationError):
        listing.TicketFilters.parse({"q": "x" * 201})


def test_pagination(alice) -> None:
    for i in range(7):
        tickets.open_ticket(alice, subject=f"T{i}", body="b")
    first = listing.portal_tickets(alice, page_size=5)
    second = listing.portal_tickets(alice, page=2, page_size=5)
    assert (len(first.items), first.has_next, first.has_prev) == (5, True, False)
    assert (len(second.items), second.has_next, second.has_prev) == (2, False, True)
    assert not numbers(first) & numbers(second)
