"""Search on the bench store: a common word, a rare word and a ticket number, as the owner
(every ticket, internal notes included) and as a customer (own tickets, public messages).

Times the service call the desk list and the API make (``listing.desk_tickets`` /
``listing.visible_tickets`` with ``q``: the ranked page and its snippets), in process,
so the figure is the search's own cost without HTTP::

    .venv/bin/python bench/search.py                       # SQLite, 100,000 tickets
    .venv/bin/python bench/search.py --tickets 10000
    .venv/bin/python bench/search.py --database postgresql://postgres@127.0.0.1:5432/sd_bench
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
import typing as t
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import sqlalchemy as sa
from run import DATA_DIR
from run import database_url

import benchapp
import seed
from flask_supportdesk._state import get_state
from flask_supportdesk.models import Message
from flask_supportdesk.services import listing


def _rare_word(app: t.Any) -> str:
    """A word that occurs in one message only: the random part of a seeded reference."""
    with app.app_context():
        body = get_state().db.session.scalar(sa.select(Message.body).where(Message.id == 4242))
    found = re.search(r"Ref\. \d+-\d+-(\d{6})", body or "")
    return found.group(1) if found else "zzzzzz"


def _time(call: t.Callable[[], t.Any], runs: int) -> tuple[float, float, int]:
    call()  # warm the caches the way a second visitor finds them
    samples, rows = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        rows = len(call().items)
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), max(samples), rows


def main(argv: t.Sequence[str] | None = None) -> int:
    """Seed (or reuse) the bench store and print the search timings."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", help="SQLAlchemy URL (default: SQLite in bench/.data/)")
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args(argv)
    url = database_url(args.database, args.tickets)
    app = benchapp.create_app(url)
    seeded = seed.ensure_seeded(app, seed.Scale(args.tickets), lock_dir=DATA_DIR)
    owner = benchapp.STAFF[benchapp.OWNER_ID].actor
    customer_user = benchapp.get_user(seeded.heavy_customer_id)
    assert customer_user is not None
    customer = customer_user.actor
    queries = {
        "common word (courier)": "courier",
        "two common words": "refund working days",
        "rare word": _rare_word(app),
        "ticket number": seeded.long_ticket_number,
        "no match": "xylophone",
    }
    dialect = sa.make_url(url).get_backend_name()
    print(f"{args.tickets:,} tickets, {args.tickets * seed.MESSAGES_PER_TICKET:,} messages, "
          f"{dialect}, {args.runs} runs each")
    print("| query | who | median ms | max ms | rows |\n|---|---|---|---|---|")
    for label, q in queries.items():
        filters = listing.TicketFilters.parse({"q": q})
        with app.test_request_context():
            cases = {
                "owner, desk All tab": lambda f=filters: listing.desk_tickets(
                    owner, tab="all", filters=f
                ),
                "owner, API (closed too)": lambda f=filters: listing.visible_tickets(owner, f),
                "customer, portal/API": lambda f=filters: listing.visible_tickets(customer, f),
            }
            for who, call in cases.items():
                median, worst, rows = _time(call, args.runs)
                print(f"| {label} | {who} | {median:.1f} | {worst:.1f} | {rows} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
