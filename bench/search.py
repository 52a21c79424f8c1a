"""Search on the bench store: a common word, a rare word and a ticket number, as the owner
(every ticket, internal notes included), as an agent of some departments, and as a
customer (own tickets, public messages).

Times the service call the desk list and the API make (``listing.desk_tickets`` /
``listing.visible_tickets`` with ``q``: the ranked page and its snippets), in process,
so the figure is the search's own cost without HTTP::

    .venv/bin/python bench/search.py                       # SQLite, 100,000 tickets
    .venv/bin/python bench/search.py --tickets 10000
    .venv/bin/python bench/search.py --database postgresql://postgres@127.0.0.1:5432/sd_bench

A store seeded by an earlier version is brought to the newest migration first (the
time it took is printed: on PostgreSQL migration 0005 computes every row's vector).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
import typing as t
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import sqlalchemy as sa
from alembic import command
from run import DATA_DIR
from run import database_url

import benchapp
import seed
from flask_supportdesk._state import get_state
from flask_supportdesk.migrations import alembic_config
from flask_supportdesk.models import Message
from flask_supportdesk.services import listing


def _rare_word(app: t.Any) -> str:
    """A word that occurs in one message only: the random part of a seeded reference."""
    with app.app_context():
        body = get_state().db.session.scalar(sa.select(Message.body).where(Message.id == 4242))
    found = re.search(r"Ref\. \d+-\d+-(\d{6})", body or "")
    return found.group(1) if found else "zzzzzz"


def _time(call: t.Callable[[], t.Any], runs: int) -> tuple[float, float, float, int]:
    """Median and worst wall time, median CPU time of this process (ms), rows shown."""
    call()  # warm the caches the way a second visitor finds them
    samples, cpu, rows = [], [], 0
    for _ in range(runs):
        started, started_cpu = time.perf_counter(), time.process_time()
        rows = len(call().items)
        samples.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
    return statistics.median(samples), max(samples), statistics.median(cpu), rows


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
    with app.app_context():
        started = time.perf_counter()
        command.upgrade(alembic_config(), "head")  # a store seeded before a migration
        print(f"migrated to head in {time.perf_counter() - started:.1f} s")
    owner = benchapp.STAFF[benchapp.OWNER_ID].actor
    agent = benchapp.STAFF[benchapp.AGENT_ID].actor
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
    # CPU ms is this process's own: on SQLite all of the search, and unlike the wall
    # time not inflated by other work on the machine; on PostgreSQL the server's is not
    # in it.
    print(f"load average at start: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print("| query | who | median ms | max ms | CPU ms | rows |\n|---|---|---|---|---|---|")
    for label, q in queries.items():
        filters = listing.TicketFilters.parse({"q": q})
        with app.test_request_context():
            cases = {
                "owner, desk All tab": lambda f=filters: listing.desk_tickets(
                    owner, tab="all", filters=f
                ),
                "owner, API (closed too)": lambda f=filters: listing.visible_tickets(owner, f),
                "owner, desk Closed tab, page 2": lambda f=filters: listing.desk_tickets(
                    owner, tab="closed", filters=f, page=2
                ),
                "agent (departments), desk All tab": lambda f=filters: listing.desk_tickets(
                    agent, tab="all", filters=f
                ),
                "customer, portal/API": lambda f=filters: listing.visible_tickets(customer, f),
            }
            for who, call in cases.items():
                median, worst, cpu, rows = _time(call, args.runs)
                print(f"| {label} | {who} | {median:.1f} | {worst:.1f} | {cpu:.1f} | {rows} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
