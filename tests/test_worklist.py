"""The desk list as a worklist: filter chips, the sort choices, unread marks."""

from __future__ import annotations

import re
import typing as t

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from test_desk import DESK
from test_desk import counting_queries
from test_desk import numbers_in
from test_desk import open_one
from test_desk import post
from test_desk import text

from conftest import login
from flask_supportdesk._state import get_state
from flask_supportdesk.models import TicketRead
from flask_supportdesk.services import messages
from flask_supportdesk.services import tickets
from flask_supportdesk.values import Actor

pytestmark = pytest.mark.usefixtures("ctx")


@pytest.fixture
def ann(client: FlaskClient, agent: Actor) -> FlaskClient:
    return login(client, agent)


def unread_in(response: t.Any) -> list[str]:
    """Numbers of the rows marked unread, in list order."""
    rows = re.findall(r'<tr data-href="/support/desk/tickets/(T-[A-Z0-9]+)" class="([^"]*)"', text(response))
    return [number for number, classes in rows if "sd-unread" in classes.split()]


def reads() -> list[tuple[str, int]]:
    session = get_state().db.session
    session.expire_all()
    return [(r.user_id, r.ticket_id) for r in session.scalars(sa.select(TicketRead))]


# -------------------------------------------------------------------------------------
# Filters fold away; applied ones are chips
# -------------------------------------------------------------------------------------


def test_applied_filters_are_chips_that_each_drop_their_filter(ann, alice) -> None:
    open_one(alice)
    page = text(ann.get(f"{DESK}/?tab=all&status=open&priority=&q=parcel&sort=-priority&page=2"))
    chips = dict(re.findall(r'<a class="sd-chip" href="([^"]+)" data-sd-chip="(\w+)"', page))
    by_name = {name: href.replace("&amp;", "&") for href, name in chips.items()}
    assert set(by_name) == {"status", "q", "sort"}  # empty values are no filter
    assert by_name["status"] == f"{DESK}/?tab=all&q=parcel&sort=-priority"  # and page 1
    assert by_name["q"] == f"{DESK}/?tab=all&status=open&sort=-priority"
    assert "<span>Status: <strong>Open</strong></span>" in page
    assert "Sort: <strong>Priority, highest first</strong>" in page
    assert 'class="sd-chip-clear" href="/support/desk/?tab=all"' in page
    # The panel is closed on every load: the chips say what is applied.
    assert re.search(r"<details class=\"sd-filter-panel\" data-sd-filters>", page)
    assert "<details class=\"sd-filter-panel\" data-sd-filters open" not in page


def test_no_chips_without_filters_and_the_usual_sort_is_no_chip(ann, alice) -> None:
    open_one(alice)
    page = text(ann.get(f"{DESK}/?tab=all&status=&sort=-updated&page_size=25"))
    assert 'class="sd-chips"' not in page


def test_best_match_is_offered_only_for_a_search(ann, alice) -> None:
    open_one(alice)
    assert '<option value="relevance"' not in text(ann.get(f"{DESK}/"))
    assert '<option value="relevance"' not in text(ann.get(f"{DESK}/?sort=relevance"))
    assert '<option value="relevance"' in text(ann.get(f"{DESK}/?q=parcel"))


def test_a_bad_filter_is_a_form_error_with_its_chip_still_removable(ann) -> None:
    response = ann.get(f"{DESK}/?tab=all&status=bogus")
    assert response.status_code == 400
    assert 'data-sd-chip="status"' in text(response)


# -------------------------------------------------------------------------------------
# Unread marks
# -------------------------------------------------------------------------------------


def test_a_ticket_is_unread_until_opened_and_again_after_someone_elses_reply(
    app, ann, alice, agent
) -> None:
    ticket = open_one(alice)
    assert unread_in(ann.get(f"{DESK}/?tab=all")) == [ticket.number]
    page = text(ann.get(f"{DESK}/?tab=all"))
    assert '<span class="sd-visually-hidden" data-sd-unread>Unread</span>' in page

    assert ann.get(f"{DESK}/tickets/{ticket.number}").status_code == 200
    assert unread_in(ann.get(f"{DESK}/?tab=all")) == []

    messages.post_message(alice, ticket.number, "Any news?")
    assert unread_in(ann.get(f"{DESK}/?tab=all")) == [ticket.number]


def test_ones_own_changes_never_make_a_ticket_unread(app, ann, alice, agent, manager) -> None:
    ticket = open_one(alice)
    ann.get(f"{DESK}/tickets/{ticket.number}")
    response = post(ann, f"{DESK}/tickets/{ticket.number}/reply", {"body": "On its way.", "channel": "public"})
    assert response.status_code == 302
    tickets.update_ticket(agent, ticket.number, {"priority": "high"})
    post(ann, f"{DESK}/tickets/bulk", {"ticket": ticket.number, "status": "open", "back": f"{DESK}/"})
    assert unread_in(ann.get(f"{DESK}/?tab=all")) == []
    # Someone else's change (a manager's note) is news for Ann.
    messages.post_message(manager, ticket.number, "Check the courier.", channel="internal")
    assert unread_in(ann.get(f"{DESK}/?tab=all")) == [ticket.number]


def test_ones_own_change_does_not_hide_what_others_did_meanwhile(ann, alice, agent, manager) -> None:
    replied, changed, never_opened = open_one(alice), open_one(alice), open_one(alice)
    for ticket in (replied, changed):
        ann.get(f"{DESK}/tickets/{ticket.number}")
    messages.post_message(alice, replied.number, "It arrived broken.")
    tickets.update_ticket(manager, changed.number, {"priority": "high"})
    # Ann changes all three from the list without opening them.
    numbers = [replied.number, changed.number, never_opened.number]
    post(ann, f"{DESK}/tickets/bulk", {"ticket": numbers, "status": "open", "back": f"{DESK}/"})
    assert sorted(unread_in(ann.get(f"{DESK}/?tab=all"))) == sorted(numbers)
    # Once she has seen them, her own changes keep them read.
    for number in numbers:
        ann.get(f"{DESK}/tickets/{number}")
    post(ann, f"{DESK}/tickets/bulk", {"ticket": numbers, "priority": "low", "back": f"{DESK}/"})
    assert unread_in(ann.get(f"{DESK}/?tab=all")) == []


def test_a_ticket_staff_file_themselves_starts_read_for_them(ann, alice, agent) -> None:
    ticket = open_one(agent, requester_id=alice.id, subject="Filed by Ann")
    assert ticket.number in numbers_in(ann.get(f"{DESK}/?tab=all"))
    assert unread_in(ann.get(f"{DESK}/?tab=all")) == []


def test_read_states_are_per_staff_member(app, client, alice, agent, manager) -> None:
    ticket = open_one(alice)
    login(client, agent)
    client.get(f"{DESK}/tickets/{ticket.number}")
    assert unread_in(client.get(f"{DESK}/?tab=all")) == []
    login(client, manager)
    assert unread_in(client.get(f"{DESK}/?tab=all")) == [ticket.number]


def test_opening_a_ticket_one_may_not_see_marks_nothing(
    client, alice, bob, agent, other_team_agent
) -> None:
    ticket = open_one(alice)
    login(client, alice)  # a customer: the desk is 403
    assert client.get(f"{DESK}/tickets/{ticket.number}").status_code == 403
    login(client, agent)
    assert client.get(f"{DESK}/tickets/T-NOSUCH").status_code == 404
    assert reads() == []


def test_a_customers_changes_write_no_read_rows(alice) -> None:
    ticket = open_one(alice)
    messages.post_message(alice, ticket.number, "Hello?")
    assert reads() == []


def test_marking_read_twice_keeps_one_row(ann, alice, agent) -> None:
    ticket = open_one(alice)
    ann.get(f"{DESK}/tickets/{ticket.number}")
    ann.get(f"{DESK}/tickets/{ticket.number}")
    assert reads() == [(agent.id, ticket.id)]


@pytest.mark.settings(counters_max_age=0)  # the counters query on both requests
def test_list_read_states_cost_one_query_whatever_the_rows(app: Flask, ann, alice, agent) -> None:
    def add(n: int, *, open_them: bool) -> None:
        for i in range(n):
            ticket = open_one(alice, subject=f"Read {i}")
            if open_them and i % 2:
                ann.get(f"{DESK}/tickets/{ticket.number}")

    url = f"{DESK}/?tab=all&page_size=50"
    add(3, open_them=True)
    ann.get(url)  # warm up
    with counting_queries(app) as few:
        response = ann.get(url)
    assert len(numbers_in(response)) == 3 and len(unread_in(response)) == 2
    add(27, open_them=True)
    with counting_queries(app) as many:
        response = ann.get(url)
    assert len(numbers_in(response)) == 30 and len(unread_in(response)) == 16
    assert len(few) == len(many), many
    # The list's read states in one query; the navigation's chat icon counts the unread
    # live chats in one more (tests/test_chat_inbox.py), whatever the rows too.
    list_reads = [s for s in many if "supportdesk_ticket_read" in s and "chat_queued_at" not in s]
    assert len(list_reads) == 1
