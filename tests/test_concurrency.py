"""HOSTILE.md I1 and I3, and concurrent retries (G6 over HTTP): requests racing each other
through the API, each thread with its own client and database connection, on SQLite (a
file) and on PostgreSQL alike."""

from __future__ import annotations

import threading
import typing as t

import sqlalchemy as sa
from flask import Flask
from test_api import Api
from test_api import as_user
from test_api import open_ticket

from flask_supportdesk._state import get_state
from flask_supportdesk.models import Message
from flask_supportdesk.models import Status
from flask_supportdesk.models import Ticket

T = t.TypeVar("T")


def race(calls: t.Sequence[t.Callable[[], T]]) -> list[T]:
    """Run the calls in threads released at the same moment; re-raise the first failure."""
    barrier = threading.Barrier(len(calls))
    results: list[t.Any] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(i: int, call: t.Callable[[], T]) -> None:
        try:
            barrier.wait(timeout=10)
            results[i] = call()
        except BaseException as exc:  # reported to the test below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    if errors:
        raise errors[0]
    return results


def test_concurrent_ticket_creation_gives_distinct_numbers(app: Flask) -> None:
    # I1: four clients open 25 tickets each, all at once.
    users = (1, 1, 2, 2)
    clients = [as_user(app, user) for user in users]

    def open_many(api: Api) -> list[t.Any]:
        return [
            api.post("/tickets", {"subject": f"Parcel {i}", "body": "Where is it?"})
            for i in range(25)
        ]

    responses = [r for batch in race([lambda a=a: open_many(a) for a in clients]) for r in batch]
    assert sorted({r.status_code for r in responses}) == [201]
    numbers = [r.json["number"] for r in responses]
    assert len(set(numbers)) == 100
    with app.app_context():
        rows = get_state().db.session.execute(sa.select(Ticket.number, Ticket.requester_id))
        # A Result has keys(), so dict() would read it as a mapping, not as pairs.
        stored = {number: requester for number, requester in rows}  # noqa: C416
    assert len(stored) == 100
    for user, batch in zip(users, [responses[i * 25 : (i + 1) * 25] for i in range(4)], strict=True):
        assert {stored[r.json["number"]] for r in batch} == {str(user)}


def test_simultaneous_replies_keep_every_message_and_a_consistent_status(app: Flask) -> None:
    # I3: the customer and two staff members answer at the same moment, five times over.
    alice, ann, max_ = as_user(app, 1), as_user(app, 10), as_user(app, 20)
    number = open_ticket(alice)["number"]
    for round_ in range(5):
        replies = race([
            lambda: alice.post(f"/tickets/{number}/messages", {"body": f"customer {round_}"}),
            lambda: ann.post(f"/tickets/{number}/messages", {"body": f"ann {round_}"}),
            lambda: max_.post(f"/tickets/{number}/messages", {"body": f"max {round_}"}),
        ])  # fmt: skip
        assert [r.status_code for r in replies] == [201, 201, 201]
        with app.app_context():
            session = get_state().db.session
            ticket = session.scalar(sa.select(Ticket).where(Ticket.number == number))
            last = session.scalar(
                sa.select(Message).where(Message.ticket_id == ticket.id).order_by(Message.id.desc())
            )
            count = session.scalar(
                sa.select(sa.func.count()).where(Message.ticket_id == ticket.id)
            )
            # The status is the one the last stored message implies: no lost update.
            expected = Status.PENDING_CUSTOMER if last.author_is_staff else Status.PENDING_ADMIN
            assert ticket.status is expected, (round_, last.author_name, ticket.status)
        assert count == 1 + 3 * (round_ + 1)


def test_a_send_retried_while_the_first_is_in_flight_is_stored_once(app: Flask) -> None:
    # The same client_id sent twice at once (a retry racing the original) is one message.
    alice = as_user(app, 1)
    twin = as_user(app, 1)
    number = open_ticket(alice)["number"]
    for i in range(5):
        body = {"body": "Are you there?", "client_id": f"send-{i}"}
        first, second = race([
            lambda: alice.post(f"/tickets/{number}/messages", body),
            lambda: twin.post(f"/tickets/{number}/messages", body),
        ])  # fmt: skip
        assert sorted([first.status_code, second.status_code]) == [200, 201]
        assert first.json["id"] == second.json["id"]
    with app.app_context():
        stmt = sa.select(sa.func.count()).where(Message.body == "Are you there?")
        assert get_state().db.session.scalar(stmt) == 5
