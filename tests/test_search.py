"""Search over tickets and messages: what each actor finds, ranking, snippets, hostile queries.

Runs on SQLite (FTS5) and, with SUPPORTDESK_TEST_DATABASE_URL, on PostgreSQL (GIN).
"""

from __future__ import annotations

import typing as t

import pytest
import sqlalchemy as sa
from flask import Flask
from test_api import as_user
from test_api import conforms
from test_desk import DESK
from test_desk import numbers_in
from test_desk import text

from conftest import CANARY
from conftest import assert_no_canary
from conftest import login
from flask_supportdesk._state import get_state
from flask_supportdesk.models import Message
from flask_supportdesk.services import departments
from flask_supportdesk.services import listing
from flask_supportdesk.services import messages
from flask_supportdesk.services import search
from flask_supportdesk.services import tickets
from flask_supportdesk.values import Actor

pytestmark = pytest.mark.usefixtures("ctx")

HOSTILE_QUERIES = [
    '"', '""', "'", "*", "a*", "-", "-parcel", "NEAR", "NEAR(parcel late)", "parcel NEAR/2 late",
    "(", ")", "((parcel", ":", "body:parcel", "subject : x", "^parcel", "parcel AND OR NOT",
    "!", "&", "|", "a & | b", "parcel:*", "'; DROP TABLE supportdesk_message; --", "%", "_",
    "\\", "{}", "[", "<script>", "ü", "🙂", "\u200b", "a" * 200, "x " * 100,
]  # fmt: skip


def desk_numbers(actor: Actor, q: str, **kw: t.Any) -> list[str]:
    filters = listing.TicketFilters.parse({"q": q})
    return [t.number for t in listing.desk_tickets(actor, tab="all", filters=filters, **kw).items]


def portal_numbers(actor: Actor, q: str) -> list[str]:
    return [t.number for t in listing.portal_tickets(actor, q=q).items]


def test_staff_find_public_replies_and_internal_notes(alice, agent) -> None:
    ticket = tickets.open_ticket(alice, subject="Parcel", body="The box never came")
    messages.post_message(agent, ticket.number, "Courier says tangerine van")
    messages.post_message(agent, ticket.number, "Warehouse mislabelled it", channel="internal")
    other = tickets.open_ticket(alice, subject="Refund", body="Money back please")
    assert desk_numbers(agent, "tangerine") == [ticket.number]
    assert desk_numbers(agent, "mislabelled") == [ticket.number]
    assert desk_numbers(agent, "MONEY back") == [other.number]
    assert desk_numbers(agent, "wareh") == [ticket.number]  # the last word is a prefix
    assert desk_numbers(agent, ticket.number.lower()) == [ticket.number]
    # The customer finds public words only.
    assert portal_numbers(alice, "tangerine") == [ticket.number]
    assert portal_numbers(alice, "mislabelled") == []


def test_a_customer_never_gets_a_ticket_count_or_snippet_from_a_note(
    app: Flask, canary_ticket, alice, agent
) -> None:
    words = [CANARY, "Courier lost", "Refund needed", CANARY.split("-")[-1]]
    canary_id = get_ticket_id(canary_ticket.number)
    notes = (
        get_state()
        .db.session.scalars(
            sa.select(Message.id).where(
                Message.ticket_id == canary_id, Message.channel == "internal"
            )
        )
        .all()
    )
    assert notes
    for q in words:
        page = listing.portal_tickets(alice, q=q)
        assert page.items == [] and page.snippets == {}
        assert_no_canary(
            listing.visible_tickets(alice, listing.TicketFilters.parse({"q": q})).items
        )
        # Even handed a note's id, the snippets re-check what she may read.
        for note in notes:
            assert search.snippets(alice, q, {canary_id: note}) == {}
        # Staff do find them, with the note's words in the snippet.
        assert desk_numbers(agent, q) == [canary_ticket.number]
    api = as_user(app, alice)
    portal = login(app.test_client(), alice)
    for q in words:
        response = api.get("/tickets", query_string={"q": q})
        assert response.status_code == 200
        assert response.json["items"] == [] and response.json["snippets"] == {}
        assert_no_canary(response)
        page = portal.get("/support/", query_string={"q": q})
        assert page.status_code == 200
        assert_no_canary(text(page).replace(f'value="{q}"', ""))  # the search box echoes q
        assert canary_ticket.number not in text(page)
    # Her public words still find the ticket, with a public snippet.
    response = api.get("/tickets", query_string={"q": "looking into"})
    assert [i["number"] for i in response.json["items"]] == [canary_ticket.number]
    assert (
        "<mark>looking</mark> <mark>into</mark>" in response.json["snippets"][canary_ticket.number]
    )
    assert_no_canary(response)
    conforms(app, response.json, "TicketPage")


def get_ticket_id(number: str) -> int:
    from flask_supportdesk.models import Ticket

    return int(get_state().db.session.scalar(sa.select(Ticket.id).where(Ticket.number == number)))


def test_staff_requester_of_their_own_ticket_sees_no_notes_in_search(alice, agent, manager) -> None:
    # On their own request a staff member is a customer: another agent's note stays hidden.
    own = tickets.open_ticket(agent, subject="My own laptop", body="Screen flickers")
    messages.post_message(
        manager, own.number, "Replace under warranty zucchini", channel="internal"
    )
    assert desk_numbers(manager, "zucchini") == [own.number]
    assert portal_numbers(agent, "zucchini") == []
    assert desk_numbers(agent, "zucchini") == []
    assert portal_numbers(agent, "flickers") == [own.number]


def test_other_customers_and_other_teams_never_match(alice, bob, agent, other_team_agent) -> None:
    mine = tickets.open_ticket(alice, subject="Lost parcel", body="Kumquat delivery")
    theirs = tickets.open_ticket(bob, subject="Also lost", body="Kumquat delivery too")
    assert portal_numbers(alice, "kumquat") == [mine.number]
    assert portal_numbers(bob, "kumquat") == [theirs.number]
    assert portal_numbers(bob, "lost parcel") == []
    assert sorted(desk_numbers(agent, "kumquat")) == sorted([mine.number, theirs.number])
    # The other-team agent (shipping only) searches only the tickets they may open.
    visible = {
        t.number for t in listing.desk_tickets(other_team_agent, tab="all", page_size=100).items
    }
    assert set(desk_numbers(other_team_agent, "kumquat")) == visible & {mine.number, theirs.number}


def test_edits_reindex(alice, agent) -> None:
    ticket = tickets.open_ticket(alice, subject="Quince", body="Please send aubergine")
    first = (
        get_state()
        .db.session.scalars(
            sa.select(Message).where(Message.ticket_id == get_ticket_id(ticket.number))
        )
        .one()
    )
    assert portal_numbers(alice, "aubergine") == [ticket.number]
    messages.edit_message(alice, first.id, "Please send courgette")
    assert portal_numbers(alice, "aubergine") == []
    assert portal_numbers(alice, "courgette") == [ticket.number]
    tickets.update_ticket(alice, ticket.number, {"subject": "Pomegranate"})
    assert desk_numbers(agent, "pomegranate") == [ticket.number]
    assert desk_numbers(agent, "quince") == []


def test_ranking_puts_the_better_match_first(alice, agent) -> None:
    weak = tickets.open_ticket(
        alice, subject="One", body="Papaya. " + "Many other words about the weather. " * 20
    )
    strong = tickets.open_ticket(alice, subject="Two", body="Papaya papaya papaya.")
    other = tickets.open_ticket(alice, subject="Three", body="Nothing to see")
    assert desk_numbers(agent, "papaya") == [strong.number, weak.number]
    assert portal_numbers(alice, "papaya") == [strong.number, weak.number]
    # An exact number beats every text match; an explicit sort is kept.
    messages.post_message(agent, other.number, f"See {strong.number}")
    assert desk_numbers(agent, strong.number)[0] == strong.number
    by_created = desk_numbers(agent, "papaya", sort="created")
    assert by_created == [weak.number, strong.number]


def test_snippets_are_escaped_and_highlighted(app: Flask, alice, agent) -> None:
    ticket = tickets.open_ticket(
        alice, subject="Markup", body='Look <script>alert("x")</script> & <b>bold</b> plum'
    )
    page = listing.desk_tickets(
        agent, tab="all", filters=listing.TicketFilters.parse({"q": "plum"})
    )
    snippet = str(page.snippets[page.items[0].id])
    assert "<script>" not in snippet and "<b>" not in snippet
    assert "&lt;script&gt;" in snippet and "&amp;" in snippet
    assert snippet.endswith("<mark>plum</mark>")
    desk = login(app.test_client(), agent).get(f"{DESK}/", query_string={"tab": "all", "q": "plum"})
    assert numbers_in(desk) == [ticket.number]
    assert "<mark>plum</mark>" in text(desk) and "<script>alert" not in text(desk)
    portal = login(app.test_client(), alice).get("/support/", query_string={"q": "SCRIPT"})
    assert "<mark>script</mark>" in text(portal) and "<script>alert" not in text(portal)


def test_highlight_of_long_bodies_shows_the_match() -> None:
    body = "start " + "filler " * 200 + "needle in the middle " + "filler " * 200
    snippet = str(search.highlight(body, search.Query.parse("needle")))
    assert snippet.startswith("…") and snippet.endswith("…")
    assert "<mark>needle</mark> in the middle" in snippet
    assert len(snippet) < 400


@pytest.mark.parametrize("q", HOSTILE_QUERIES)
def test_hostile_queries_never_fail(app: Flask, alice, agent, q: str) -> None:
    tickets.open_ticket(alice, subject="Parcel late", body="The parcel is late (again): *sigh*")
    api = as_user(app, alice)
    staff = login(app.test_client(), agent)
    portal = login(app.test_client(), alice)
    for response in (
        api.get("/tickets", query_string={"q": q}),
        as_user(app, agent).get("/tickets", query_string={"q": q}),
        staff.get(f"{DESK}/", query_string={"tab": "all", "q": q}),
        portal.get("/support/", query_string={"q": q}),
    ):
        assert response.status_code in (200, 400), (q, response.status_code)


def test_too_long_or_unstorable_queries_are_a_clear_400(app: Flask, alice) -> None:
    api = as_user(app, alice)
    for q in ("x" * 201, "a\x00b"):
        response = api.get("/tickets", query_string={"q": q})
        assert response.status_code == 400
        assert "q" in response.json["error"]["fields"]
    assert login(app.test_client(), alice).get("/support/?q=" + "x" * 201).status_code == 400


def test_query_words_are_never_operators() -> None:
    query = search.Query.parse('"NEAR(a b)" -c* d:e OR')
    assert query.words == ("near", "a", "b", "c", "d", "e", "or")
    assert query.fts5() == '"near" "a" "b" "c" "d" "e" "or"*'
    assert query.tsquery() == "near & a & b & c & d & e & or:*"
    assert search.Query.parse("*** ()").words == ()


# -------------------------------------------------------------------------------------
# Candidates: only the newest matches are ranked, cut within the list searched
# -------------------------------------------------------------------------------------


def test_only_the_newest_candidates_are_ranked(monkeypatch, alice, agent) -> None:
    opened = [tickets.open_ticket(alice, subject=f"T{i}", body="Lychee again") for i in range(4)]
    monkeypatch.setattr(search, "CANDIDATES", 2)
    newest = [opened[3].number, opened[2].number]
    assert sorted(desk_numbers(agent, "lychee")) == sorted(newest)
    assert sorted(portal_numbers(alice, "lychee")) == sorted(newest)
    # A rarer word of an old ticket is still found: the cut is per search.
    messages.post_message(agent, opened[0].number, "Lychee and rambutan")
    assert desk_numbers(agent, "rambutan") == [opened[0].number]


def test_the_lists_filters_apply_before_the_cut(
    monkeypatch, alice, agent, owner, other_team_agent
) -> None:
    # The older tickets are closed: the Closed tab still finds them all, however many
    # newer active tickets match.
    older = [tickets.open_ticket(alice, subject=f"Old {i}", body="Mango box") for i in range(2)]
    for ticket in older:
        tickets.update_ticket(agent, ticket.number, {"status": "closed"})
    newer = [tickets.open_ticket(alice, subject=f"New {i}", body="Mango box") for i in range(3)]
    monkeypatch.setattr(search, "CANDIDATES", 2)
    closed = listing.desk_tickets(
        agent, tab="closed", filters=listing.TicketFilters.parse({"q": "mango"})
    )
    assert sorted(t.number for t in closed.items) == sorted(t.number for t in older)
    assert sorted(desk_numbers(agent, "mango")) == sorted(t.number for t in newer[1:])
    portal_closed = listing.portal_tickets(alice, q="mango", closed=True).items
    assert sorted(t.number for t in portal_closed) == sorted(t.number for t in older)
    # A staff member's department scope too: newer tickets of other departments do
    # not crowd out the older one of theirs.
    departments.create_department(owner, name="Shipping")
    departments.create_department(owner, name="Payments")
    theirs = tickets.open_ticket(alice, subject="Ship", body="Guava", department="shipping")
    for i in range(3):
        tickets.open_ticket(alice, subject=f"Pay {i}", body="Guava", department="payments")
    visible = {t.number for t in listing.desk_tickets(other_team_agent, tab="all").items}
    found = set(desk_numbers(other_team_agent, "guava"))
    assert theirs.number in found and found <= visible


def test_newer_notes_never_crowd_out_a_customers_public_match(monkeypatch, alice, agent) -> None:
    ticket = tickets.open_ticket(alice, subject="Parcel", body="Where is my durian")
    for i in range(3):
        messages.post_message(agent, ticket.number, f"Durian note {i}", channel="internal")
    monkeypatch.setattr(search, "CANDIDATES", 2)
    page = listing.portal_tickets(alice, q="durian")
    assert [t.number for t in page.items] == [ticket.number]
    assert "note" not in str(page.snippets[page.items[0].id])
    assert "<mark>durian</mark>" in str(page.snippets[page.items[0].id])
    # Staff see the newest matches, notes included.
    staff = listing.desk_tickets(
        agent, tab="all", filters=listing.TicketFilters.parse({"q": "durian"})
    )
    assert "note" in str(staff.snippets[staff.items[0].id])


def test_older_matches_beyond_the_recent_rows_are_found(monkeypatch, alice, agent) -> None:
    # PostgreSQL reads the newest RECENT_ROWS rows one by one, then asks its index for
    # the older ones; with a window of one row, every search takes both paths.
    first = tickets.open_ticket(alice, subject="Kiwi", body="Persimmon please")
    second = tickets.open_ticket(alice, subject="Other", body="Persimmon too")
    for i in range(3):
        tickets.open_ticket(alice, subject=f"Filler {i}", body="Nothing here")
    expected = desk_numbers(agent, "persimmon")
    assert sorted(expected) == sorted([first.number, second.number])
    monkeypatch.setattr(search, "RECENT_ROWS", 1)
    monkeypatch.setattr(search, "RECENT_TICKETS", 1)
    assert desk_numbers(agent, "persimmon") == expected
    assert desk_numbers(agent, "kiwi") == [first.number]
    monkeypatch.setattr(search, "CANDIDATES", 1)
    assert desk_numbers(agent, "persimmon") == [second.number]


def test_matches_read_further_back_by_id_are_the_newest_of_the_list(
    monkeypatch, alice, agent
) -> None:
    # PostgreSQL: when the recent rows hold some of the list's matches but too few, it
    # reads FURTHER windows before them by id, then asks the index for the rest. The
    # closed ticket matches too, but is not on the All tab: it must not take a place.
    opened = [tickets.open_ticket(alice, subject=f"S{i}", body="Quince jelly") for i in range(5)]
    tickets.update_ticket(agent, opened[1].number, {"status": "closed"})
    listed = [t.number for t in opened if t is not opened[1]]
    monkeypatch.setattr(search, "RECENT_ROWS", 1)
    monkeypatch.setattr(search, "FURTHER", 2)
    # One match in the recent row is enough for the next two rows to be read by id, and
    # they complete the three candidates: the oldest ticket is left out.
    monkeypatch.setattr(search, "CANDIDATES", 3)
    assert sorted(desk_numbers(agent, "quince")) == sorted(listed[1:])
    # Four candidates: one recent match is too few for the window, the index finds the rest.
    monkeypatch.setattr(search, "CANDIDATES", 4)
    assert sorted(desk_numbers(agent, "quince")) == sorted(listed)
    # All three ways in one search: two recent rows, two rows further (one of the closed
    # ticket), the index for the last one.
    monkeypatch.setattr(search, "RECENT_ROWS", 2)
    monkeypatch.setattr(search, "FURTHER", 1)
    assert sorted(desk_numbers(agent, "quince")) == sorted(listed)
    monkeypatch.setattr(search, "CANDIDATES", 3)
    assert sorted(desk_numbers(agent, "quince")) == sorted(listed[1:])


def test_search_pages_do_not_repeat_or_lose_tickets(alice, agent) -> None:
    opened = {tickets.open_ticket(alice, subject=f"P{i}", body=f"Pear {'pear ' * i}").number
              for i in range(7)}  # fmt: skip
    filters = listing.TicketFilters.parse({"q": "pear"})
    seen: list[str] = []
    page_number = 1
    while True:
        page = listing.desk_tickets(
            agent, tab="all", filters=filters, page=page_number, page_size=3
        )
        seen += [t.number for t in page.items]
        assert set(page.snippets) == {t.id for t in page.items}
        if not page.has_next:
            break
        page_number += 1
    assert page_number == 3 and len(seen) == 7 and set(seen) == opened


def _statements(app: Flask, call: t.Callable[[int], t.Any], size: int) -> int:
    count = 0

    def before(*args: t.Any) -> None:
        nonlocal count
        count += 1

    engine = get_state(app).db.engine
    sa.event.listen(engine, "before_cursor_execute", before)
    try:
        call(size)
    finally:
        sa.event.remove(engine, "before_cursor_execute", before)
    return count


def test_statements_per_search_page_do_not_grow_with_its_rows(app: Flask, alice, agent) -> None:
    for i in range(30):
        tickets.open_ticket(alice, subject=f"Plum {i}", body="Plum jam")
    filters = listing.TicketFilters.parse({"q": "plum"})
    for who, call in {
        "staff": lambda size: listing.desk_tickets(
            agent, tab="all", filters=filters, page_size=size
        ),
        "customer": lambda size: listing.portal_tickets(alice, q="plum", page_size=size),
        "api": lambda size: listing.visible_tickets(alice, filters, page_size=size),
    }.items():
        assert len(call(25).items) == 25
        small = _statements(app, call, 5)
        assert small == _statements(app, call, 25), who
        assert small <= 3, who  # the page, its departments, its snippets
