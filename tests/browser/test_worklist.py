"""The desk list as a worklist, and times and thumbnails in the thread, in Chromium.

Screenshots of each case go to ``$SUPPORTDESK_SCREENSHOTS`` (default: the live store's
instance folder), to look at after a change.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import typing as t
import zoneinfo

import pytest

from .conftest import LiveStore
from .conftest import log_in

pytestmark = pytest.mark.browser

ABOVE_FOLD = "e => e.getBoundingClientRect().bottom <= innerHeight"
SIZES = {"desktop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}


def shot(page: t.Any, live_store: LiveStore, name: str, **kw: t.Any) -> None:
    folder = os.environ.get("SUPPORTDESK_SCREENSHOTS") or live_store.app.instance_path
    page.screenshot(path=f"{folder}/{name}.png", **kw)


def actors(live_store: LiveStore) -> dict[str, t.Any]:
    from example_store.models import User
    from example_store.models import db
    from example_store.support_plugin import actor_for

    return {
        user.email.split("@")[0]: actor_for(user)
        for user in db.session.query(User).filter(User.email.like("%@example.com"))
    }


def open_ticket(live_store: LiveStore, subject: str, **kw: t.Any) -> str:
    import flask_supportdesk as desk

    with live_store.app.test_request_context():
        alice = actors(live_store)["alice"]
        return str(desk.open_ticket(requester=alice, by=alice, subject=subject, body="Hi", **kw).number)


def row(page: t.Any, number: str) -> t.Any:
    return page.locator(f'tr[data-href$="/tickets/{number}"]')


@pytest.mark.parametrize("size", sorted(SIZES))
def test_the_first_ticket_row_is_above_the_fold(browser: t.Any, live_store: LiveStore, size: str) -> None:
    context = browser.new_context(viewport=SIZES[size])
    page = context.new_page()
    try:
        log_in(page, live_store, "owner@example.com")
        page.goto(live_store("/support/desk/?tab=all"))
        first = page.locator("tbody tr[data-href]").first
        assert first.evaluate(ABOVE_FOLD), f"the first row is below the fold at {SIZES[size]}"
        assert not page.locator("#sd-bulk").is_visible()
        shot(page, live_store, f"worklist-{size}")
        page.locator("[data-sd-filters] > summary").click()
        shot(page, live_store, f"worklist-{size}-filters")
    finally:
        context.close()


def test_filter_chips_apply_and_remove(page: t.Any, live_store: LiveStore) -> None:
    log_in(page, live_store, "owner@example.com")
    page.goto(live_store("/support/desk/?tab=all"))
    panel = page.locator("[data-sd-filters]")
    assert panel.get_attribute("open") is None  # folded away until used
    assert not page.locator("#sd-f-status").is_visible()
    panel.locator("summary").click()
    page.select_option("#sd-f-status", "open")
    page.select_option("#sd-f-priority", "normal")
    page.get_by_role("button", name="Apply filters").click()
    page.locator('[data-sd-chip="status"]').wait_for()
    assert "status=open" in page.url
    # The address holds what is applied, not every empty field of the form.
    assert "q=" not in page.url and "department=" not in page.url and "source=" not in page.url
    assert page.locator("[data-sd-filters]").get_attribute("open") is None  # closed again
    chips = page.get_by_role("list", name="Applied filters")
    assert "Status: Open" in chips.inner_text() and "Priority: Normal" in chips.inner_text()
    shot(page, live_store, "worklist-chips")
    page.locator('[data-sd-chip="status"]').click()
    page.wait_for_url(re.compile(r"priority=normal"))
    assert "status=" not in page.url
    assert page.locator('[data-sd-chip="status"]').count() == 0
    assert page.locator('[data-sd-chip="priority"]').count() == 1
    page.locator('[data-sd-chip="priority"]').click()
    page.wait_for_url(lambda url: "priority=" not in url)
    assert "tab=all" in page.url and "status=" not in page.url
    assert page.locator(".sd-chips").count() == 0


def test_the_bulk_bar_shows_only_while_a_row_is_ticked(page: t.Any, live_store: LiveStore) -> None:
    page.set_viewport_size(SIZES["desktop"])
    log_in(page, live_store, "owner@example.com")
    page.goto(live_store("/support/desk/?tab=all"))
    bar = page.locator("#sd-bulk")
    first = page.locator("tbody tr[data-href]").first
    top = first.bounding_box()["y"]
    assert not bar.is_visible()
    first.locator('input[name="ticket"]').check()
    assert bar.is_visible()
    assert first.bounding_box()["y"] == top  # the rows did not move
    assert bar.evaluate(ABOVE_FOLD)  # at the bottom of the window, in view
    shot(page, live_store, "worklist-bulk")
    first.locator('input[name="ticket"]').uncheck()
    assert not bar.is_visible()


def test_unread_after_another_users_reply_and_read_after_opening(
    page: t.Any, live_store: LiveStore
) -> None:
    import flask_supportdesk as desk

    number = open_ticket(live_store, "Unread mark check")
    log_in(page, live_store, "agent@example.com")
    page.goto(live_store(f"/support/desk/tickets/{number}"))
    page.goto(live_store("/support/desk/?tab=all"))
    assert "sd-unread" not in (row(page, number).get_attribute("class") or "")

    with live_store.app.test_request_context():
        desk.post_message(number, "Any news on this?", by=actors(live_store)["alice"])
    page.reload()
    marked = row(page, number)
    assert "sd-unread" in (marked.get_attribute("class") or "")
    assert marked.locator(".sd-unread-dot").is_visible()
    assert marked.locator("[data-sd-unread]").text_content() == "Unread"
    assert marked.locator("td.sd-subject a").evaluate("e => getComputedStyle(e).fontWeight") == "700"
    shot(page, live_store, "worklist-unread")

    marked.locator("td.sd-subject a").click()
    page.wait_for_url(re.compile(f"/tickets/{number}"))
    page.goto(live_store("/support/desk/?tab=all"))
    assert "sd-unread" not in (row(page, number).get_attribute("class") or "")
    assert row(page, number).locator(".sd-unread-dot").count() == 0


def test_times_read_relative_with_the_exact_time_in_the_viewers_zone(
    browser: t.Any, live_store: LiveStore
) -> None:
    import flask_supportdesk as desk
    from flask_supportdesk.models import Message
    from flask_supportdesk.models import utcnow

    number = open_ticket(live_store, "Times check")
    posted = utcnow().replace(microsecond=0) - dt.timedelta(minutes=7)
    with live_store.app.test_request_context():
        message = desk.post_message(number, "Seven minutes ago", by=actors(live_store)["agent"])
        from example_store.models import db

        db.session.get(Message, message.id).created_at = posted
        db.session.commit()
    context = browser.new_context(
        viewport=SIZES["desktop"], timezone_id="America/New_York", locale="en-US"
    )
    page = context.new_page()
    try:
        log_in(page, live_store, "alice@example.com")
        page.goto(live_store(f"/support/tickets/{number}"))
        when = page.locator(f"#m{message.id} time")
        assert re.fullmatch(r"7 min\.? ago", when.inner_text()), when.inner_text()
        assert when.get_attribute("datetime").startswith(posted.isoformat())
        local = posted.replace(tzinfo=dt.timezone.utc).astimezone(zoneinfo.ZoneInfo("America/New_York"))
        title = when.get_attribute("title")
        assert f"{local:%-I}:{local:%M}:{local:%S}" in title and ("EST" in title or "EDT" in title), title
        assert str(local.day) in title and f"{local:%Y}" in title
        shot(page, live_store, "times-portal")
    finally:
        context.close()


def test_an_image_attachment_shows_its_thumbnail(browser: t.Any, live_store: LiveStore) -> None:
    from PIL import Image

    import flask_supportdesk as desk
    from flask_supportdesk.services.attachments import Upload

    picture = Image.new("RGB", (900, 600), (30, 120, 200))
    data = io.BytesIO()
    picture.save(data, format="PNG")
    number = open_ticket(live_store, "Photo of the parcel")
    with live_store.app.test_request_context():
        desk.post_message(
            number, "Here it is.", by=actors(live_store)["alice"],
            attachments=[Upload.from_bytes("parcel.png", data.getvalue())],
        )  # fmt: skip
    for size in ("desktop", "phone"):
        context = browser.new_context(viewport=SIZES[size])
        page = context.new_page()
        try:
            for email, path in (("alice@example.com", "/support/tickets/"), ("agent@example.com", "/support/desk/tickets/")):
                log_in(page, live_store, email)
                page.goto(live_store(path + number))
                img = page.locator(".sd-thumb img").last
                img.scroll_into_view_if_needed()
                assert img.evaluate("e => e.complete && e.naturalWidth") == 320
                assert img.evaluate("e => e.getBoundingClientRect().width") <= 160
                shot(page, live_store, f"thumbnail-{size}-{'desk' if 'desk' in path else 'portal'}")
                page.get_by_role("button", name="Log out").click()
        finally:
            context.close()
