"""Forms that help, in Chromium: a live character count instead of silent truncation, and
an order that is not the customer's flagged at once."""

from __future__ import annotations

import typing as t

import pytest

from .conftest import LiveStore
from .conftest import log_in

pytestmark = pytest.mark.browser


def test_message_boxes_count_characters_and_never_cut_text(
    page: t.Any, live_store: LiveStore
) -> None:
    log_in(page, live_store, "bob@example.com")
    page.goto(live_store("/support/new"))
    body = page.get_by_label("Message")
    assert body.get_attribute("maxlength") is None  # nothing is cut off silently
    count = page.locator(".sd-char-count")
    assert count.inner_text() == "0 / 12,000 characters"
    body.fill("Hello ✓")
    assert count.inner_text() == "7 / 12,000 characters"
    body.fill("x" * 12_001)
    assert count.inner_text() == "1 character too many (at most 12,000)"
    assert "sd-over" in (count.get_attribute("class") or "")
    assert len(body.input_value()) == 12_001
    page.get_by_label("Subject").fill("Too long")
    page.get_by_role("button", name="Send").click()
    page.get_by_text("At most 12,000 characters.").wait_for()  # the server's own refusal
    assert len(page.get_by_label("Message").input_value()) == 12_001  # nothing lost


def test_an_order_that_is_not_yours_is_flagged_at_once(
    page: t.Any, live_store: LiveStore
) -> None:
    log_in(page, live_store, "bob@example.com")
    page.goto(live_store("/support/new?order=1042"))  # Alice's order
    page.get_by_text("We could not find order 1042 on your account").wait_for()
    page.get_by_label("Subject").fill("About an order")
    page.get_by_label("Message").fill("Where is it?")
    page.get_by_role("button", name="Send").click()
    page.wait_for_url("**/support/tickets/**")
    assert "About:" not in page.content()
