"""A slow body render never holds the database's write lock (HOSTILE: "one customer
stalls everyone"): on SQLite one writer locks the whole database, so a render inside the
transaction made every other customer's reply wait behind it."""

from __future__ import annotations

import threading
import typing as t

import pytest

from flask_supportdesk import markup
from flask_supportdesk.services import messages
from flask_supportdesk.services import tickets

#: Long enough for a broken build to show itself, never reached by a working one.
DEADLOCK_GUARD = 30


@pytest.fixture
def stalled_render(monkeypatch: pytest.MonkeyPatch) -> t.Iterator[threading.Event]:
    """Renders of bodies containing ``STALL`` wait until the test releases them."""
    release = threading.Event()
    entered = threading.Event()
    original = markup.render

    def render(text: str) -> t.Any:
        if "STALL" in text:
            entered.set()
            release.wait(DEADLOCK_GUARD)
        return original(text)

    monkeypatch.setattr(markup, "render", render)
    release.entered = entered  # type: ignore[attr-defined]
    yield release
    release.set()


@pytest.mark.parametrize("how", ["reply", "new ticket", "edit"])
def test_another_users_reply_does_not_wait_for_a_slow_render(
    app: t.Any, alice: t.Any, bob: t.Any, stalled_render: threading.Event, how: str
) -> None:
    with app.test_request_context():
        alices = tickets.open_ticket(alice, subject="Slow one", body="Hello")
        first_id = messages.list_messages(alice, alices)[0].id
        bobs = tickets.open_ticket(bob, subject="Quick one", body="Hello")
        alices_number, bobs_number = alices.number, bobs.number
    failures: list[BaseException] = []

    def slow_writer() -> None:
        try:
            with app.test_request_context():
                if how == "reply":
                    messages.post_message(alice, alices_number, "STALL " + "[" * 50)
                elif how == "new ticket":
                    tickets.open_ticket(alice, subject="Another", body="STALL " + "[" * 50)
                else:
                    messages.edit_message(alice, first_id, "STALL " + "[" * 50)
        except BaseException as exc:  # reported below
            failures.append(exc)

    slow = threading.Thread(target=slow_writer)
    slow.start()
    assert stalled_render.entered.wait(DEADLOCK_GUARD)  # type: ignore[attr-defined]
    done = threading.Event()

    def quick_writer() -> None:
        try:
            with app.test_request_context():
                messages.post_message(bob, bobs_number, "Any news?")
        except BaseException as exc:
            failures.append(exc)
        finally:
            done.set()

    quick = threading.Thread(target=quick_writer)
    quick.start()
    finished_while_stalled = done.wait(DEADLOCK_GUARD)
    stalled_render.set()
    quick.join()
    slow.join()
    assert finished_while_stalled, "Bob's reply waited for Alice's render"
    assert not failures, failures
    with app.test_request_context():
        bodies = [m.body for m in messages.list_messages(bob, _ticket(bobs_number, bob))]
    assert bodies[-1] == "Any news?"


def _ticket(number: str, actor: t.Any) -> t.Any:
    from flask_supportdesk import policy

    return policy.get_ticket(actor, number)
