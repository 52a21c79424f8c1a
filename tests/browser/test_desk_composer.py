"""The desk's two composers in a real browser: the tab one is on decides whether the text
is a public reply or an internal note, by click or by keyboard, and the customer never
sees a note."""

from __future__ import annotations

import typing as t
import uuid

import pytest

from .conftest import LiveStore
from .conftest import log_in

pytestmark = pytest.mark.browser

NOTE_LABEL = "Internal note — only staff see this"


def _new_ticket(live_store: LiveStore) -> str:
    """A fresh ticket of Alice's (the seeded ones stay as other tests expect them)."""
    from example_store.models import User
    from example_store.models import db
    from example_store.support_plugin import actor_for
    from flask_supportdesk.services import tickets

    with live_store.app.test_request_context():
        alice = actor_for(db.session.query(User).filter_by(email="alice@example.com").one())
        subject = f"Composer {uuid.uuid4().hex[:8]}"
        tickets.open_ticket(alice, subject=subject, body="Where is my parcel?")
    return subject


def _open_ticket(page: t.Any, live_store: LiveStore, subject: str) -> None:
    """The agent opens the ticket from the desk's list."""
    page.goto(live_store("/support/desk/?tab=all"))
    page.get_by_role("link", name=subject).click()
    page.get_by_role("heading", name=subject).wait_for()
    # The heading shows before the deferred scripts (desk.js, the live client) have run:
    # a shortcut pressed then would find no key handler yet.
    page.wait_for_load_state("load")


@pytest.fixture(scope="module")
def sessions(browser: t.Any, live_store: LiveStore) -> dict[str, t.Any]:
    """Agent's and Alice's logged-in browser state, one login each for the module (the
    store rate-limits logins per e-mail, and other modules log in as them too)."""
    states = {}
    for who in ("agent", "alice"):
        context = browser.new_context()
        log_in(context.new_page(), live_store, f"{who}@example.com")
        states[who] = context.storage_state()
        context.close()
    # These two logins are set-up, not what the store's login limiter guards: give back
    # the attempts they used, so the modules after this one can still log in.
    from example_store.ratelimit import login_limiter

    with live_store.app.app_context():
        login_limiter().limiter.storage.reset()
    return states


@pytest.fixture
def as_(browser: t.Any, sessions: dict[str, t.Any]) -> t.Iterator[t.Callable[[str], t.Any]]:
    """``as_("agent")``: a page in a fresh context logged in as that person."""
    contexts: list[t.Any] = []

    def page_of(who: str) -> t.Any:
        context = browser.new_context(storage_state=sessions[who])
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield page_of
    for context in contexts:
        context.close()


def _composer(page: t.Any, pane: str) -> t.Any:
    return page.locator(f'[data-sd-composer="{pane}"]')


def _customer_sees(as_: t.Any, live_store: LiveStore, subject: str, text: str) -> bool:
    page = as_("alice")
    page.goto(live_store("/support/"))
    page.get_by_role("link", name=subject).click()
    page.get_by_role("heading", name=subject).wait_for()
    return text in page.content()


def _page_text(as_: t.Any, live_store: LiveStore, subject: str) -> str:
    page = as_("alice")
    page.goto(live_store("/support/"))
    page.get_by_role("link", name=subject).click()
    page.get_by_role("heading", name=subject).wait_for()
    return t.cast(str, page.content())


def test_the_internal_tab_writes_a_note_the_customer_never_sees(
    as_: t.Any, live_store: LiveStore
) -> None:
    from playwright.sync_api import expect

    note, reply = f"NOTE-{uuid.uuid4()}", f"REPLY-{uuid.uuid4()}"
    subject = _new_ticket(live_store)
    page = as_("agent")
    _open_ticket(page, live_store, subject)

    # On Main: a white box addressed to the customer, "Send reply".
    main = _composer(page, "main")
    expect(main).to_be_visible()
    expect(_composer(page, "internal")).to_be_hidden()
    expect(main.get_by_text("Reply to Alice Andersen — the customer sees this")).to_be_visible()
    expect(main.get_by_role("button", name="Send reply")).to_be_visible()
    main_bg = main.evaluate("el => getComputedStyle(el).backgroundColor")

    # Click Internal and type: the composer is the note's, tinted, "Add internal note".
    page.get_by_role("tab", name="Internal").click()
    internal = _composer(page, "internal")
    expect(internal).to_be_visible()
    expect(main).to_be_hidden()
    expect(internal.get_by_text(NOTE_LABEL)).to_be_visible()
    assert internal.evaluate("el => getComputedStyle(el).backgroundColor") != main_bg
    page.get_by_role("textbox", name=NOTE_LABEL).fill(note)
    internal.get_by_role("button", name="Add internal note").click()
    page.get_by_text("Internal note added.").wait_for()
    # Back on the Internal tab's thread (staff see it there)...
    page.get_by_role("tab", name="Internal").click()
    expect(page.locator("#sd-pane-internal")).to_contain_text(note)
    expect(page.locator("#sd-pane-main")).not_to_contain_text(note)

    # ... and Main sends a public reply.
    page.get_by_role("tab", name="Main").click()
    page.get_by_role("textbox", name="Reply to Alice Andersen").fill(reply)
    main.get_by_role("button", name="Send reply").click()
    page.get_by_text("Reply sent.").wait_for()
    expect(page.locator("#sd-pane-main")).to_contain_text(reply)

    customer = _customer_sees(as_, live_store, subject, note)
    assert not customer
    assert reply in _page_text(as_, live_store, subject)


def test_the_shortcuts_follow_the_tabs(as_: t.Any, live_store: LiveStore) -> None:
    from playwright.sync_api import expect

    note, reply = f"KEY-NOTE-{uuid.uuid4()}", f"KEY-REPLY-{uuid.uuid4()}"
    subject = _new_ticket(live_store)
    page = as_("agent")
    _open_ticket(page, live_store, subject)

    # i: the Internal tab and its composer, focused; Ctrl+Enter adds the note.
    page.evaluate("document.activeElement && document.activeElement.blur()")
    page.keyboard.press("i")
    expect(page.get_by_role("tab", name="Internal")).to_have_attribute("aria-selected", "true")
    box = page.get_by_role("textbox", name=NOTE_LABEL)
    assert box.evaluate("el => el === document.activeElement")
    assert box.input_value() == ""  # the key opened the box; it typed nothing
    page.keyboard.type(note)
    page.keyboard.press("Control+Enter")
    page.get_by_text("Internal note added.").wait_for()

    # r: back to Main and the customer's composer, even from the Internal tab.
    page.get_by_role("tab", name="Internal").click()
    page.evaluate("document.activeElement && document.activeElement.blur()")
    page.keyboard.press("r")
    expect(page.get_by_role("tab", name="Main")).to_have_attribute("aria-selected", "true")
    box = page.get_by_role("textbox", name="Reply to Alice Andersen")
    assert box.evaluate("el => el === document.activeElement")
    page.keyboard.type(reply)
    page.keyboard.press("Control+Enter")
    page.get_by_text("Reply sent.").wait_for()

    page.get_by_role("tab", name="Internal").click()
    expect(page.locator("#sd-pane-internal")).to_contain_text(note)
    expect(page.locator("#sd-pane-main")).to_contain_text(reply)
    customer = _customer_sees(as_, live_store, subject, note)
    assert not customer
    assert reply in _page_text(as_, live_store, subject)


def test_a_failed_note_comes_back_on_the_internal_tab(as_: t.Any, live_store: LiveStore) -> None:
    from playwright.sync_api import expect

    subject = _new_ticket(live_store)
    page = as_("agent")
    _open_ticket(page, live_store, subject)
    page.get_by_role("tab", name="Internal").click()
    box = page.get_by_role("textbox", name=NOTE_LABEL)
    # Set, not typed: 12,001 keystrokes are slow on a loaded machine.
    box.evaluate("(el, text) => { el.value = text; }", "x" * 12_001)
    with page.expect_navigation():
        box.press("Control+Enter")
    expect(page.get_by_role("tab", name="Internal")).to_have_attribute("aria-selected", "true")
    expect(_composer(page, "internal")).to_be_visible()
    assert page.get_by_role("textbox", name=NOTE_LABEL).input_value() == "x" * 12_001
    expect(_composer(page, "main")).to_be_hidden()
