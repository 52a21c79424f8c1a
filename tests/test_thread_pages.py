"""Long threads are paginated: a ticket page shows the newest 50 messages and links to
the earlier ones, in the desk and the portal."""

from __future__ import annotations

import re
import typing as t

from conftest import login
from flask_supportdesk.services import messages
from flask_supportdesk.services import tickets


def _long_ticket(app: t.Any, alice: t.Any, agent: t.Any, replies: int) -> str:
    with app.test_request_context():
        number = tickets.open_ticket(alice, subject="Long one", body="Message 0").number
        for n in range(1, replies + 1):
            messages.post_message(agent if n % 2 else alice, number, f"Message {n}")
    return number


def _shown(page: str) -> list[int]:
    return [int(n) for n in re.findall(r"<p>Message (\d+)</p>", page)]


def test_the_desk_shows_the_newest_50_and_earlier_ones_on_demand(app, client, alice, agent):
    number = _long_ticket(app, alice, agent, 59)  # 60 messages
    login(client, agent)
    page = client.get(f"/support/desk/tickets/{number}").get_data(as_text=True)
    assert _shown(page) == list(range(10, 60))  # the newest 50, oldest of them first
    link = re.search(r'href="([^"]+before=\d+)">Show earlier messages', page)
    assert link
    earlier = client.get(link.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert _shown(earlier) == list(range(10))
    assert "Show earlier messages" not in earlier
    assert client.get(f"/support/desk/tickets/{number}?before=x").status_code == 400


def test_the_portal_pages_its_thread_too(app, client, alice, agent) -> None:
    number = _long_ticket(app, alice, agent, 54)
    login(client, alice)
    page = client.get(f"/support/tickets/{number}").get_data(as_text=True)
    assert _shown(page) == list(range(5, 55)) and "Show earlier messages" in page
    short = _long_ticket(app, alice, agent, 3)
    assert "Show earlier messages" not in client.get(f"/support/tickets/{short}").get_data(
        as_text=True
    )
