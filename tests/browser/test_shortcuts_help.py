"""`?` in the desk shows every keyboard shortcut, and closes again with `?` or Escape."""

from __future__ import annotations

import typing as t

import pytest

from .conftest import LiveStore
from .conftest import log_in

pytestmark = pytest.mark.browser


def test_question_mark_shows_the_shortcuts(page: t.Any, live_store: LiveStore) -> None:
    log_in(page, live_store, "manager@example.com")
    page.goto(live_store("/support/desk/"))
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    assert not dialog.is_visible()
    page.keyboard.press("?")
    dialog.wait_for()
    assert "Write an internal note" in dialog.inner_text()
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden")
    page.keyboard.press("?")
    dialog.wait_for()
    page.keyboard.press("?")
    dialog.wait_for(state="hidden")
    # Typing "?" into the search box is text, not a shortcut.
    page.locator("[data-sd-search]").fill("why?")
    assert not dialog.is_visible()
