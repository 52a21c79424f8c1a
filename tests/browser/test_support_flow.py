"""Issue #2's scenario in a real browser: a customer asks about an order with a photo,
staff reply and leave an internal note, the customer reads the reply (never the note) and
downloads the photo."""

from __future__ import annotations

import re
import typing as t
import uuid

import pytest

from .conftest import LiveStore
from .conftest import log_in
from .conftest import log_out
from .conftest import store_nav

pytestmark = pytest.mark.browser

CANARY = f"CANARY-BROWSER-{uuid.uuid4()}"


def test_customer_staff_customer_round_trip(
    page: t.Any, live_store: LiveStore, tmp_path: t.Any
) -> None:
    from playwright.sync_api import expect

    from example_store.cli import tiny_png

    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    photo = tmp_path / "crushed-box.png"
    photo.write_bytes(tiny_png(16, 16, (40, 90, 200)))

    # The customer asks about an order from the order's page, attaching a photo.
    log_in(page, live_store, "alice@example.com")
    store_nav(page).get_by_role("link", name="My orders").click()
    page.get_by_role("link", name="Order #1042").click()
    page.get_by_role("link", name="Get help with this order").click()
    assert page.get_by_text("Order #1042").first.is_visible()
    page.get_by_label("Subject").fill("The box arrived crushed")
    page.get_by_label("Message").fill("The left shoe is squashed. Photo attached.")
    with page.expect_file_chooser() as chooser:
        page.get_by_label("Attachments").click()
    chooser.value.set_files(str(photo))
    page.get_by_role("button", name="Send ticket").click()
    page.get_by_role("heading", name="The box arrived crushed").wait_for()
    number = page.url.rstrip("/").rsplit("/", 1)[-1]
    assert re.fullmatch(r"T-[A-Z0-9]+", number), page.url
    log_out(page)

    # Staff find it in the desk, reply publicly, then leave an internal note.
    log_in(page, live_store, "agent@example.com")
    store_nav(page).get_by_role("link", name="Staff desk").click()
    page.get_by_role("link", name="The box arrived crushed").click()
    page.get_by_role("heading", name="The box arrived crushed").wait_for()
    page.get_by_role("textbox", name="Reply to Alice").fill(
        "Sorry about that! A new pair is on its way."
    )
    page.get_by_role("button", name="Send reply").click()
    page.get_by_text("A new pair is on its way.").wait_for()
    page.get_by_role("tab", name="Internal").click()
    note = page.get_by_role("textbox", name="Internal note — only staff")
    note.fill(f"Courier damage claim filed. {CANARY}")
    page.get_by_role("button", name="Add internal note").click()
    # Staff do see it (on the Internal tab, hidden or not: textContent counts both).
    expect(page.locator("main")).to_contain_text(CANARY)
    # The order the customer linked opens in the store, for staff too.
    page.get_by_role("link", name="Order #1042").click()
    page.get_by_role("heading", name="Order #1042").wait_for()
    assert page.get_by_text("Trail running shoes").is_visible()
    log_out(page)

    # The customer reads the reply, never the note, and downloads the photo.
    log_in(page, live_store, "alice@example.com")
    store_nav(page).get_by_role("link", name="Support", exact=True).click()
    page.get_by_role("link", name="The box arrived crushed").click()
    page.get_by_text("A new pair is on its way.").wait_for()
    assert CANARY not in page.content()
    with page.expect_download() as download:
        page.get_by_role("link", name=re.compile(r"crushed-box\.png")).click()
    saved = tmp_path / "downloaded.png"
    download.value.save_as(saved)
    assert saved.read_bytes() == photo.read_bytes()
    assert CANARY not in download.value.suggested_filename
    assert dialogs == []
