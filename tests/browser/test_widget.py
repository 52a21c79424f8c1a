"""The storefront chat widget in a real browser, on the example store's pages: a visitor
chats with staff live and keeps the conversation across a reload, a customer gets the
conversation staff start, hostile names and bodies stay text, the host page's CSS cannot
break it, and it fits a phone."""

from __future__ import annotations

import contextlib
import os
import pathlib
import re
import tempfile
import typing as t

import pytest

from .conftest import LiveStore
from .conftest import log_in
from .conftest import record_csp_violations

pytestmark = pytest.mark.browser

#: Where the screenshots go, to look at them (default: the temporary folder).
SHOTS = pathlib.Path(os.environ.get("SUPPORTDESK_SCREENSHOTS") or tempfile.gettempdir())
XSS_NAME = "<img src=x onerror=alert(1)>"
XSS_BODY = "<script>alert(2)</script><b onmouseover=alert(3)>bold?</b> & <i>tags</i>"


@pytest.fixture(autouse=True)
def _patient_expectations() -> t.Iterator[None]:
    # Two cores shared with other suites: a live round trip may take more than 5 s.
    from playwright.sync_api import expect

    expect.set_options(timeout=15_000)
    yield
    expect.set_options(timeout=5_000)  # Playwright's default, for the other modules


@pytest.fixture(autouse=True)
def _fresh_rate_limits(live_store: LiveStore) -> t.Iterator[None]:
    # The module opens many chats from one address and one e-mail within minutes; the
    # limits are tested on their own (and by the flood test below), so each test starts
    # afresh and leaves nothing behind for the next module.
    from flask_supportdesk import ratelimit

    def reset() -> None:
        with live_store.app.app_context():
            ratelimit.limiter().storage.reset()

    reset()
    yield
    reset()


def widget(page: t.Any) -> t.Any:
    """The widget's panel (inside its shadow root; Playwright's locators pierce it)."""
    return page.locator("supportdesk-widget").get_by_role("dialog", name="Chat with us")


def watch_dialogs(page: t.Any) -> list[str]:
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    return dialogs


def open_chat_as_guest(page: t.Any, live_store: LiveStore, first: str, body: str) -> str:
    """Open the widget on a store page, fill in the pre-chat form; the chat's number."""
    page.goto(live_store("/"))
    page.get_by_role("button", name="Chat", exact=True).click()
    panel = widget(page)
    panel.get_by_label("First name").fill(first)
    panel.get_by_label("Last name").fill("Guest")
    panel.get_by_label("E-mail").fill("gina.guest@example.net")
    panel.get_by_role("textbox", name="Message").fill(body)
    panel.get_by_role("button", name=re.compile("Start chat|Leave a message")).click()
    panel.locator(".sdw-mine").first.wait_for()
    stored = page.evaluate("JSON.parse(localStorage.getItem('supportdesk.widget.v1'))")
    assert stored["token"] and stored["ticket"].startswith("T-")
    return t.cast(str, stored["ticket"])


def staff_reply(browser: t.Any, live_store: LiveStore, number: str, text: str) -> None:
    """An agent answers on the desk's ticket page, in a browser of their own."""
    context = browser.new_context()
    context.set_default_timeout(10_000)
    staff = context.new_page()
    try:
        log_in(staff, live_store, "agent@example.com")
        staff.goto(live_store(f"/support/desk/tickets/{number}"))
        staff.get_by_role("textbox", name=re.compile("^Reply to")).fill(text)
        staff.get_by_role("button", name="Send reply").click()
        staff.get_by_text(text).first.wait_for()
    finally:
        context.close()


def test_a_visitor_chats_live_and_keeps_the_conversation(
    page: t.Any, browser: t.Any, live_store: LiveStore
) -> None:
    from playwright.sync_api import expect

    dialogs = watch_dialogs(page)
    csp = record_csp_violations(page)
    number = open_chat_as_guest(page, live_store, "Gina", "Do the trail shoes run small?")
    panel = widget(page)
    expect(panel.locator(".sdw-mine .sdw-text")).to_have_text("Do the trail shoes run small?")

    staff_reply(browser, live_store, number, "They run true to size.")
    # Live: no reload on the visitor's side.
    expect(panel.locator(".sdw-theirs .sdw-text")).to_have_text("They run true to size.")
    expect(panel.locator(".sdw-theirs .sdw-author")).to_have_text("Ann Agent")
    page.screenshot(path=SHOTS / "widget-guest.png", animations="disabled")

    # The visitor writes on over the socket; then another page and a reload keep it all.
    panel.get_by_role("textbox", name="Message").fill("Thanks!")
    panel.get_by_role("textbox", name="Message").press("Enter")
    expect(panel.locator(".sdw-mine:not(.sdw-pending) .sdw-text")).to_have_count(2)
    page.goto(live_store("/login"))
    page.reload()
    panel = widget(page)
    expect(panel.locator(".sdw-message:not(.sdw-pending)")).to_have_count(3)
    expect(panel.locator(".sdw-theirs .sdw-text")).to_have_text("They run true to size.")
    assert (
        page.evaluate("JSON.parse(localStorage.getItem('supportdesk.widget.v1')).ticket") == number
    )
    assert dialogs == [] and csp == []


def test_staff_start_a_conversation_and_it_pops_up_for_the_customer(
    page: t.Any, live_store: LiveStore
) -> None:
    from playwright.sync_api import expect

    from example_store.models import User
    from example_store.models import db
    from flask_supportdesk.models import Source
    from flask_supportdesk.services import tickets

    log_in(page, live_store, "bob@example.com")
    page.goto(live_store("/orders"))
    launcher = page.get_by_role("button", name="Chat", exact=True)
    launcher.wait_for()
    # The widget connects on every page for a customer, even with the panel closed.
    page.wait_for_function("window.SupportDeskWidget && window.io")
    page.wait_for_timeout(500)
    with live_store.app.test_request_context("/"):
        import sqlalchemy as sa

        bob = db.session.scalar(sa.select(User).where(User.email == "bob@example.com"))
        agent = db.session.scalar(sa.select(User).where(User.email == "agent@example.com"))
        staff = live_store.app.extensions["supportdesk"].hooks.identify(agent)
        opened = tickets.open(
            staff,
            subject="Your order 2001",
            body="Hello Bob, your bottles are back in stock.",
            source=Source.CHAT,
            requester_id=str(bob.id),
        )
        number = opened.ticket.number
    panel = widget(page)
    expect(panel).to_be_visible()
    expect(panel.locator(".sdw-theirs .sdw-text")).to_have_text(
        "Hello Bob, your bottles are back in stock."
    )
    panel.get_by_role("textbox", name="Message").fill("Great, thank you!")
    panel.get_by_role("button", name="Send", exact=True).click()
    expect(panel.locator(".sdw-mine:not(.sdw-pending) .sdw-text")).to_have_text("Great, thank you!")
    with live_store.app.test_request_context("/"):
        from flask_supportdesk.services import messages as message_service

        seen = message_service.list_messages(staff, tickets_get(staff, number), after=0, limit=10)
        assert [m.body for m in seen][-1] == "Great, thank you!"


def tickets_get(actor: t.Any, number: str) -> t.Any:
    from flask_supportdesk import policy

    return policy.get_ticket(actor, number)


def test_hostile_names_and_bodies_stay_text(
    page: t.Any, browser: t.Any, live_store: LiveStore
) -> None:
    from playwright.sync_api import expect

    dialogs = watch_dialogs(page)
    number = open_chat_as_guest(page, live_store, XSS_NAME, XSS_BODY)
    panel = widget(page)
    staff_reply(browser, live_store, number, "Answer with <img src=x onerror=alert(4)> inside")
    expect(panel.locator(".sdw-theirs .sdw-text")).to_contain_text("<img src=x onerror=alert(4)>")
    expect(panel.locator(".sdw-mine .sdw-text")).to_contain_text("<script>alert(2)</script>")
    assert panel.locator(".sdw-text img, .sdw-text script, .sdw-text [onmouseover]").count() == 0
    page.mouse.move(10, 10)
    page.wait_for_timeout(300)
    assert dialogs == []
    assert page.evaluate("typeof window.pwned") == "undefined"


def test_the_host_pages_css_cannot_break_it(browser: t.Any, live_store: LiveStore) -> None:
    from playwright.sync_api import expect

    # A host page with rules of its own (its CSP would refuse a style tag added here).
    context = browser.new_context(bypass_csp=True)
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.goto(live_store("/"))
    page.add_style_tag(
        content="* { color: red !important; font-size: 30px !important; }"
        " button { display: none !important; } div { display: none !important; }"
        " supportdesk-widget { display: none !important; }"
    )
    launcher = page.get_by_role("button", name="Chat", exact=True)
    expect(launcher).to_be_visible()
    launcher.click()
    panel = widget(page)
    expect(panel.get_by_label("First name")).to_be_visible()
    colour = panel.get_by_label("First name").evaluate("el => getComputedStyle(el).color")
    assert colour != "rgb(255, 0, 0)"
    page.screenshot(path=SHOTS / "widget-hostile-css.png", animations="disabled")
    # Esc closes it and gives the focus back to the button.
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    assert launcher.evaluate("el => el.getRootNode().activeElement === el")
    context.close()


def test_keyboard_focus_stays_in_the_open_panel(page: t.Any, live_store: LiveStore) -> None:
    page.goto(live_store("/"))
    page.get_by_role("button", name="Chat", exact=True).focus()
    page.keyboard.press("Enter")
    panel = widget(page)
    panel.get_by_label("First name").wait_for()
    inside = "el => el.getRootNode().activeElement && el.contains(el.getRootNode().activeElement)"
    for _ in range(15):
        page.keyboard.press("Tab")
        assert panel.evaluate(inside)
    for _ in range(3):
        page.keyboard.press("Shift+Tab")
        assert panel.evaluate(inside)


def test_it_fits_a_phone(browser: t.Any, live_store: LiveStore) -> None:
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, reduced_motion="reduce"
    )
    page = context.new_page()
    try:
        page.goto(live_store("/"))
        page.get_by_role("button", name="Chat", exact=True).click()
        panel = widget(page)
        panel.get_by_label("First name").wait_for()
        box = panel.bounding_box()
        assert box is not None
        assert box["x"] == 0 and box["y"] == 0
        assert box["width"] == 390 and box["height"] == 844
        submit = panel.get_by_role("button", name=re.compile("Start chat|Leave a message"))
        submit.scroll_into_view_if_needed()
        assert submit.is_visible()
        page.screenshot(path=SHOTS / "widget-phone.png", animations="disabled")
    finally:
        context.close()


def staff_actor(live_store: LiveStore, email: str) -> t.Any:
    """The desk's actor for a demo staff account (call inside an app context)."""
    import sqlalchemy as sa

    from example_store.models import User
    from example_store.models import db

    user = db.session.scalar(sa.select(User).where(User.email == email))
    return live_store.app.extensions["supportdesk"].hooks.identify(user)


@contextlib.contextmanager
def staff_socket(browser: t.Any, live_store: LiveStore) -> t.Iterator[t.Any]:
    """A python-socketio client logged in as the demo agent (its browser's cookies)."""
    from livesocket import Recorder

    context = browser.new_context()
    page = context.new_page()
    log_in(page, live_store, "agent@example.com")
    cookie = "; ".join(f"{c['name']}={c['value']}" for c in context.cookies())
    staff = Recorder().connect(live_store.url, cookie=cookie)
    try:
        yield staff
    finally:
        staff.disconnect()
        context.close()


def test_typing_seen_unread_and_the_end_of_a_conversation(
    page: t.Any, browser: t.Any, live_store: LiveStore
) -> None:
    from playwright.sync_api import expect

    from flask_supportdesk.services import tickets

    number = open_chat_as_guest(page, live_store, "Tess", "Is the jacket warm?")
    panel = widget(page)
    with staff_socket(browser, live_store) as staff:
        assert staff.call("join", {"ticket": number})["ok"]
        asked = staff.call("sync", {"ticket": number, "after": 0})["messages"][-1]
        assert staff.call("typing", {"ticket": number})["ok"]
        expect(panel.get_by_text("Support is typing…")).to_be_visible()
        assert staff.call("read", {"ticket": number, "message": asked["id"]})["ok"]
        expect(panel.locator(".sdw-mine .sdw-seen")).to_have_text("Seen")
        # The visitor's typing reaches staff, at most once in 3 seconds.
        box = panel.get_by_role("textbox", name="Message")
        box.press_sequentially("Also", delay=50)
        typing = staff.wait_for("typing", lambda d: d["ticket"] == number)
        assert typing["user"] == {"name": "Tess Guest", "staff": False}
        assert len(staff.named("typing")) == 1
        box.fill("")
        # Sound is off until the visitor turns it on.
        sound = panel.get_by_role("button", name="Sound for new messages")
        expect(sound).to_have_attribute("aria-pressed", "false")
        sound.click()
        expect(sound).to_have_attribute("aria-pressed", "true")

        # Closed panel: an answer counts on the button, and opening it reads it.
        page.keyboard.press("Escape")
        expect(panel).to_be_hidden()
        answer = staff.call(
            "send", {"ticket": number, "body": "It is lined.", "client_id": "a" * 32}
        )
        assert answer["ok"]
        launcher = page.get_by_role("button", name="Chat, 1 new message")
        expect(launcher).to_be_visible()
        expect(page.locator("supportdesk-widget .sdw-badge")).to_have_text("1")
        launcher.click()
        expect(panel.locator(".sdw-theirs .sdw-text")).to_have_text("It is lined.")
        read = staff.wait_for("read", lambda d: d["message"] == answer["message"]["id"])
        assert read["reader"]["staff"] is False
        expect(page.locator("supportdesk-widget .sdw-badge")).to_be_hidden()
        page.screenshot(path=SHOTS / "widget-seen.png", animations="disabled")

        with live_store.app.test_request_context("/"):
            agent = staff_actor(live_store, "agent@example.com")
            tickets.update_ticket(agent, number, {"status": "resolved"})
    expect(panel.get_by_text("This conversation has ended.")).to_be_visible()
    expect(panel.get_by_role("textbox", name="Message")).to_be_hidden()
    page.screenshot(path=SHOTS / "widget-ended.png", animations="disabled")
    panel.get_by_role("button", name="Start a new conversation").click()
    expect(panel.get_by_label("First name")).to_be_visible()
    assert page.evaluate("localStorage.getItem('supportdesk.widget.v1')") is None


def test_files_go_with_a_message_and_refusals_are_shown(
    page: t.Any, live_store: LiveStore, tmp_path: pathlib.Path
) -> None:
    from playwright.sync_api import expect

    from example_store.cli import tiny_png

    open_chat_as_guest(page, live_store, "Finn", "A photo of the box follows.")
    panel = widget(page)
    files = panel.locator("input[type=file]")
    box = panel.get_by_role("textbox", name="Message")

    photo = tmp_path / "box.png"
    photo.write_bytes(tiny_png(8, 8))
    files.set_input_files(str(photo))
    expect(panel.get_by_role("list", name="Files to send")).to_contain_text("box.png")
    box.fill("Here it is")
    panel.get_by_role("button", name="Send", exact=True).click()
    link = panel.locator(".sdw-mine .sdw-file", has_text="box.png")
    expect(link).to_be_visible()
    # A visitor's download carries its token (a plain link could not).
    with page.expect_download() as download:
        link.click()
    assert pathlib.Path(download.value.path()).read_bytes() == photo.read_bytes()

    # Refused before uploading: a type the desk does not take.
    program = tmp_path / "setup.exe"
    program.write_bytes(b"MZ\x90\x00")
    files.set_input_files(str(program))
    expect(panel.get_by_role("alert")).to_contain_text(
        "setup.exe: this type of file is not allowed."
    )

    # Refused by the server: HTML dressed as a picture (the content is sniffed).
    fake = tmp_path / "fake.png"
    fake.write_text("<html><script>alert(1)</script></html>", encoding="utf-8")
    files.set_input_files(str(fake))
    box.fill("And this one")
    panel.get_by_role("button", name="Send", exact=True).click()
    expect(panel.get_by_role("alert")).to_be_visible()
    assert panel.locator(".sdw-mine .sdw-file", has_text="fake.png").count() == 0
    expect(box).to_have_value("And this one")  # nothing typed is lost
    page.screenshot(path=SHOTS / "widget-refused.png", animations="disabled")


def test_a_customer_starts_a_chat_with_just_a_message(page: t.Any, live_store: LiveStore) -> None:
    from playwright.sync_api import expect

    log_in(page, live_store, "alice@example.com")
    page.get_by_role("button", name="Chat", exact=True).click()
    panel = widget(page)
    # No pre-chat form: the session says who she is.
    expect(panel.get_by_label("First name")).to_be_hidden()
    box = panel.get_by_role("textbox", name="Message")
    box.fill("Can I change the size of order 1043?")
    box.press("Enter")
    expect(panel.locator(".sdw-mine:not(.sdw-pending) .sdw-text")).to_have_text(
        "Can I change the size of order 1043?"
    )
    # The next page continues it.
    page.goto(live_store("/orders"))
    expect(widget(page).locator(".sdw-mine .sdw-text")).to_have_text(
        "Can I change the size of order 1043?"
    )


def test_the_plain_script_tag_on_a_page_without_jinja_in_german(
    browser: t.Any, live_store: LiveStore
) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(locale="de-DE")
    context.set_default_timeout(10_000)
    page = context.new_page()
    plain = (
        "<!doctype html><html><head><title>Static page</title>"
        '<script src="/support/static/supportdesk/widget.js" data-supportdesk="/support" defer>'
        "</script></head><body><h1>A static page</h1></body></html>"
    )
    page.route(
        live_store("/static-page.html"),
        lambda route: route.fulfill(status=200, content_type="text/html", body=plain),
    )
    try:
        page.goto(live_store("/static-page.html"))
        page.get_by_role("button", name="Chat", exact=True).click()
        panel = page.locator("supportdesk-widget").get_by_role("dialog", name="Chatten Sie mit uns")
        expect(panel.get_by_label("Vorname")).to_be_visible()
        expect(panel.get_by_role("button", name="Chat schließen")).to_be_visible()
    finally:
        context.close()


def test_a_flood_is_told_to_wait(page: t.Any, live_store: LiveStore) -> None:
    """HOSTILE F2: past the socket's rate limit the widget shows the server's answer with
    its wait, and keeps the text that was not sent."""
    from playwright.sync_api import expect

    open_chat_as_guest(page, live_store, "Flo", "First")
    panel = widget(page)
    box = panel.get_by_role("textbox", name="Message")
    alert = panel.get_by_role("alert")
    for number in range(40):
        box.fill(f"message {number}")
        box.press("Enter")
        if alert.is_visible():
            break
    expect(alert).to_contain_text(re.compile(r"try again in \d+ seconds?\.", re.I))
    assert len(re.findall(r"again in", alert.inner_text())) == 1
    # The thread follows the newest message.
    last = panel.locator(".sdw-message").last
    expect(last).to_be_in_viewport()
    expect(box).not_to_have_value("")
    page.screenshot(path=SHOTS / "widget-rate-limited.png", animations="disabled")


def test_what_a_dropped_connection_missed_comes_by_sync(page: t.Any, live_store: LiveStore) -> None:
    """HOSTILE G5: messages emitted while the visitor heard nothing arrive, once each and
    in order, when the connection is back (join, then sync from the last id)."""
    from playwright.sync_api import expect

    from flask_supportdesk import broadcast
    from flask_supportdesk import policy
    from flask_supportdesk.services import messages

    number = open_chat_as_guest(page, live_store, "Gus", "Anyone there?")
    panel = widget(page)
    server = live_store.app.extensions["socketio"].server
    with live_store.app.test_request_context("/"):
        agent = staff_actor(live_store, "agent@example.com")
        room = broadcast.public_room(policy.get_ticket(agent, number).id)
        visitors = [sid for sid, _eio in server.manager.get_participants(broadcast.NAMESPACE, room)]
        assert len(visitors) == 1
        # The visitor stops hearing the chat (as in a Redis outage: the emits are lost)...
        server.leave_room(visitors[0], room, namespace=broadcast.NAMESPACE)
        for text in ("Missed one", "Missed two"):
            messages.post_message(agent, number, text)
    page.wait_for_timeout(1000)
    expect(panel.locator(".sdw-theirs")).to_have_count(0)
    # ...and then its connection drops; the widget reconnects and catches up.
    server.disconnect(visitors[0], namespace=broadcast.NAMESPACE)
    expect(panel.locator(".sdw-theirs .sdw-text")).to_have_text(["Missed one", "Missed two"])
    page.wait_for_timeout(500)
    expect(panel.locator(".sdw-message")).to_have_count(3)


def test_a_renewal_cut_off_keeps_the_conversation(page: t.Any, live_store: LiveStore) -> None:
    """A token renewal whose answer never fully arrives (the visitor left the page while
    it ran) must not be taken for an empty answer: the token and the chat stay."""
    from playwright.sync_api import expect

    number = open_chat_as_guest(page, live_store, "Cora", "Still there after this?")
    token = page.evaluate("JSON.parse(localStorage.getItem('supportdesk.widget.v1')).token")
    page.route(
        "**/chats/token",
        lambda route: route.fulfill(status=200, content_type="application/json", body=""),
    )
    page.reload()
    expect(widget(page).locator(".sdw-mine .sdw-text")).to_have_text("Still there after this?")
    stored = page.evaluate("JSON.parse(localStorage.getItem('supportdesk.widget.v1'))")
    assert stored == {"token": token, "ticket": number, "readUpTo": stored["readUpTo"]}
