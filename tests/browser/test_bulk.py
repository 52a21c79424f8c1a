"""Bulk actions in Chromium: ticking rows selects them (it never opens the ticket), and
"Apply to selected" changes exactly those."""

from __future__ import annotations

import typing as t

import pytest

from .conftest import LiveStore
from .conftest import log_in

pytestmark = pytest.mark.browser


def test_select_rows_and_apply_a_priority(page: t.Any, live_store: LiveStore) -> None:
    log_in(page, live_store, "owner@example.com")
    page.goto(live_store("/support/desk/?tab=all&sort=number"))
    boxes = page.locator('input[name="ticket"][form="sd-bulk"]')
    assert boxes.count() >= 2
    first, second = (boxes.nth(i).get_attribute("value") for i in range(2))
    boxes.nth(0).check()
    boxes.nth(1).check()
    assert "/support/desk/" in page.url and "/tickets/" not in page.url  # still the list
    assert page.locator("[data-sd-bulk-count]").inner_text() == "2 selected"
    page.select_option("#sd-bulk-priority", "urgent")
    page.get_by_role("button", name="Apply to selected").click()
    page.get_by_text("2 tickets updated.").wait_for()
    assert "tab=all" in page.url  # back on the same list
    for number in (first, second):
        row = page.locator("tr", has=page.locator(f'input[value="{number}"]'))
        assert "Urgent" in row.inner_text()
    # Select all on the page, then none.
    page.locator("[data-sd-bulk-all]").check()
    assert page.locator("[data-sd-bulk-count]").inner_text() == f"{boxes.count()} selected"
    page.locator("[data-sd-bulk-all]").uncheck()
    assert page.locator("[data-sd-bulk-count]").inner_text() == ""
    page.screenshot(path=str(live_store.app.instance_path) + "/bulk.png", full_page=True)
