"""The desk in German, in Chromium: a browser asking for German (Accept-Language) gets a
German portal page and a German desk page, scripts' messages included."""

from __future__ import annotations

import typing as t

import pytest

from .conftest import LiveStore
from .conftest import log_in

pytestmark = pytest.mark.browser


@pytest.fixture
def german_page(browser: t.Any) -> t.Iterator[t.Any]:
    """A page whose browser asks for German, as a German-speaking customer's does."""
    context = browser.new_context(locale="de-DE")
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


def open_as(page: t.Any, live_store: LiveStore, email: str, path: str) -> t.Any:
    """Log in as ``email`` and open ``path``, checking the page says it is German."""
    log_in(page, live_store, email)
    page.goto(live_store(path))
    assert page.locator("html").get_attribute("lang") == "de"
    return page


def test_the_portal_in_german(german_page: t.Any, live_store: LiveStore) -> None:
    page = open_as(german_page, live_store, "bob@example.com", "/support/new")
    page.get_by_role("heading", name="Neues Ticket").wait_for()
    body = page.get_by_label("Nachricht")
    count = page.locator(".sd-char-count")
    # supportdesk.js: the message from the served catalogue, the number from Intl (de).
    assert count.inner_text() == "0 / 12.000 Zeichen"
    body.fill("x" * 12_001)
    assert count.inner_text() == "1 Zeichen zu viel (höchstens 12.000)"
    page.get_by_label("Betreff").fill("Zu lang")
    page.get_by_role("button", name="Ticket senden").click()
    page.get_by_text("Höchstens 12.000 Zeichen.").wait_for()  # the server's refusal


def test_the_desk_in_german(german_page: t.Any, live_store: LiveStore) -> None:
    page = open_as(german_page, live_store, "agent@example.com", "/support/desk/?tab=all")
    page.get_by_role("list", name="Tickets nach Status").wait_for()
    assert page.get_by_role("columnheader", name="Bearbeiter").count() == 1
    boxes = page.locator('input[type=checkbox][name=ticket][form="sd-bulk"]')
    boxes.nth(0).check()
    boxes.nth(1).check()
    # The bulk bar shows once a row is ticked.
    page.get_by_role("button", name="Auf Auswahl anwenden").wait_for()
    # desk-bulk.js: the count in German.
    assert page.locator("[data-sd-bulk-count]").inner_text() == "2 ausgewählt"
    # Shortcuts are off while a form control has the focus.
    page.evaluate("document.activeElement.blur()")
    page.keyboard.press("?")
    page.get_by_role("heading", name="Tastenkürzel").wait_for()
