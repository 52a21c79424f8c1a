"""Benchmark the desk on a seeded store served by a real HTTP server (issue #2).

    python bench/run.py                     # 100,000 tickets on SQLite (bench/.data/)
    python bench/run.py --quick             # small scale smoke run, nothing recorded
    python bench/run.py --database postgresql://postgres@127.0.0.1:5432/sd_bench
    python bench/run.py --explain           # also: query plans of every measured page
    python bench/run.py --profile --only-diagnose   # where each page spends its CPU

Seeds the store once per scale (see ``seed.py``), starts gunicorn on 127.0.0.1 (see
``server.py``) and measures each page with one client (latency) and with several
(throughput): median and p95 latency, requests per second and SQL statements per
request. Full runs record their table in ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import os
import platform
import sqlite3
import subprocess
import sys
import typing as t
from pathlib import Path
from urllib.parse import urlencode

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import sqlalchemy as sa  # noqa: E402
from flask import Flask  # noqa: E402
from werkzeug.routing import Rule  # noqa: E402

import benchapp  # noqa: E402
import client  # noqa: E402
import results  # noqa: E402
import seed  # noqa: E402
import server  # noqa: E402

DATA_DIR = BENCH_DIR / ".data"
FULL_TICKETS = 100_000
QUICK_TICKETS = 2_000


@dataclasses.dataclass(frozen=True)
class Scenario:
    """One thing measured: a request, who sends it, and the target it must meet."""

    name: str
    users: tuple[int, ...]
    request: client.RequestFactory
    expect: int = 200
    #: ("median_ms", 30.0): median under 30 ms; ("per_second", 200.0): above 200/s.
    target: tuple[str, float] | None = None


def database_url(arg: str | None, tickets: int) -> str:
    """The SQLAlchemy URL: the given one (psycopg 3 for PostgreSQL) or a file per scale."""
    DATA_DIR.mkdir(exist_ok=True)
    if arg is None:
        return f"sqlite:///{DATA_DIR / f'bench-{tickets}.sqlite'}"
    if arg.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + arg.split("://", 1)[1]
    return arg


def _rule(app: Flask, endpoint: str) -> Rule | None:
    rules = app.url_map.iter_rules(endpoint) if endpoint in app.view_functions else []
    return next(iter(rules), None)


def find_path(app: Flask, method: str, endpoints: t.Sequence[str], **values: t.Any) -> str | None:
    """The URL of the first existing endpoint among ``endpoints`` (pages land in parallel)."""
    with app.test_request_context():
        from flask import url_for

        for endpoint in endpoints:
            rule = _rule(app, endpoint)
            if rule is not None and method in (rule.methods or ()):
                return url_for(endpoint, **{k: v for k, v in values.items() if k in rule.arguments})
    return None


def find_ticket_page(app: Flask, blueprint: str, number: str) -> str | None:
    """The staff ticket page: the blueprint's GET rule taking only the ticket number."""
    candidates = sorted(
        (
            r for r in app.url_map.iter_rules()
            if r.endpoint.startswith(blueprint + ".") and r.arguments == {"number"}
            and "GET" in (r.methods or ())
        ),
        key=lambda r: len(r.rule),
    )
    if not candidates:
        return None
    return find_path(app, "GET", [candidates[0].endpoint], number=number)


def scenarios(app: Flask, seeded: seed.Seeded, concurrency: int) -> list[tuple[str, Scenario | None]]:
    """Every measured request; ``None`` where the page does not exist (yet)."""
    desk = find_path(app, "GET", ["supportdesk_desk.index"])
    pages = {
        count: find_ticket_page(app, "supportdesk_desk", number)
        for count, number in seeded.threads.items()
    }
    short_thread = seed.THREADS[-1]
    searches = {
        f"common word ({seed.COMMON_WORD})": seed.COMMON_WORD,
        f"common words ({seed.COMMON_WORDS})": seed.COMMON_WORDS,
        f"rare word ({seed.RARE_WORD})": seed.RARE_WORD,
        "ticket number": seeded.threads[short_thread],
    }
    portal = find_path(app, "GET", ["supportdesk_portal.tickets", "supportdesk_portal.index"])
    create = app.config["SUPPORTDESK_API_URL_PREFIX"] + "/tickets"
    create_exists = any(r.rule == create and "POST" in (r.methods or ()) for r in app.url_map.iter_rules())
    customers = tuple(benchapp.FIRST_CUSTOMER_ID + 1 + i for i in range(concurrency))

    def new_ticket(n: int) -> dict[str, t.Any]:
        return {
            "subject": f"Bench ticket {n}: where is my parcel?",
            "body": "Hello,\n\nmy order has not arrived yet. Could you check?\n\nThanks",
            "category": "general",
            "department": "shipping",
        }

    heavy = seeded.scale.heavy_customer_tickets + 1
    named = [
        # The floor every page stands on: Flask, Flask-Login and gunicorn, no desk code.
        ("floor: login check only", Scenario(
            "floor: login check only", (benchapp.AGENT_ID,), client.get("/_bench/ping"))),
        ("desk list (owner)", desk and Scenario(
            "desk list (owner)", (benchapp.OWNER_ID,), client.get(desk), target=("median_ms", 30.0))),
        ("desk list (agent)", desk and Scenario(
            "desk list (agent)", (benchapp.AGENT_ID,), client.get(desk), target=("median_ms", 30.0))),
        *(
            (f"desk ticket, {count} messages (agent)", page and Scenario(
                f"desk ticket, {count} messages (agent)", (benchapp.AGENT_ID,), client.get(page),
                target=("median_ms", 30.0)))
            for count, page in sorted(pages.items())
        ),
        # The All tab: a search looks beyond the tickets at one's own level.
        *(
            (f"desk search, {label} (owner)", desk and Scenario(
                f"desk search, {label} (owner)", (benchapp.OWNER_ID,),
                client.get(f"{desk}?{urlencode({'tab': 'all', 'q': q})}")))
            for label, q in searches.items()
        ),
        (f"portal list (customer, {heavy} tickets)", portal and Scenario(
            f"portal list (customer, {heavy} tickets)", (seeded.heavy_customer_id,),
            client.get(portal))),
        ("API: open a ticket (POST)", Scenario(
            "API: open a ticket (POST)", customers, client.post_json(create, new_ticket),
            expect=201, target=("per_second", 200.0)) if create_exists else None),
    ]
    return named


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=BENCH_DIR, capture_output=True, text=True
    ).stdout.strip()
    return {
        "commit": commit or "unknown",
        "cpu": f"{cpu}, {os.cpu_count()} cores",
        # Other work on the machine skews the figures: the load when the run started.
        "load": load,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "sqlalchemy": sa.__version__,
    }


def main(argv: t.Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", help="SQLAlchemy URL (default: a SQLite file in bench/.data/)")
    parser.add_argument("--tickets", type=int, help=f"scale (default {FULL_TICKETS:,}; messages are 4x)")
    parser.add_argument("--quick", action="store_true", help=f"smoke run: {QUICK_TICKETS:,} tickets, few requests")
    parser.add_argument("--concurrency", type=int, default=4, help="client threads of the loaded pass")
    parser.add_argument("--requests", type=int, help="requests per pass (default 200, quick 30)")
    parser.add_argument("--seconds", type=float, default=20.0, help="time limit per pass")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    parser.add_argument("--port", type=int, help="the server's port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--only", metavar="TEXT", help="measure only the scenarios whose name contains TEXT")
    parser.add_argument("--seed-only", action="store_true", help="seed (or check) the store and stop")
    parser.add_argument("--explain", action="store_true", help="print the query plans of each page")
    parser.add_argument("--profile", action="store_true", help="print where each request spends its CPU")
    parser.add_argument("--profile-sort", choices=("tottime", "cumulative"), default="tottime",
                        help="with --profile: by own time (default) or by time under each call")
    parser.add_argument("--only-diagnose", action="store_true",
                        help="with --explain/--profile: skip the HTTP measurement")
    parser.add_argument("--label", default="",
                        help="names a variant (e.g. a proposed fix): its own section in RESULTS.md")
    parser.add_argument("--record", action=argparse.BooleanOptionalAction, default=None,
                        help="write the figures to bench/RESULTS.md (default: not for --quick or --only)")
    args = parser.parse_args(argv)

    measured_on = machine()  # before the run: its load average and commit
    tickets = args.tickets or (QUICK_TICKETS if args.quick else FULL_TICKETS)
    requests = args.requests or (30 if args.quick else 200)
    # Only full runs replace a section of RESULTS.md unless asked.
    record = not (args.quick or args.only) if args.record is None else args.record
    url = database_url(args.database, tickets)
    app = benchapp.create_app(url)
    dialect = sa.make_url(url).get_backend_name()
    print(f"store: {tickets:,} tickets, {tickets * seed.MESSAGES_PER_TICKET:,} messages on {dialect}")
    seeded = seed.ensure_seeded(
        app, seed.Scale(tickets), lock_dir=DATA_DIR, log=lambda line: print("  " + line)
    )
    if args.seed_only:
        return 0
    planned = scenarios(app, seeded, args.concurrency)
    if args.only:
        planned = [(name, s) for name, s in planned if args.only.lower() in name.lower()]
    if args.explain or args.profile:
        import explain

        measured = [s for _, s in planned if s is not None]
        if args.explain:
            explain.explain_pages(app, [s for s in measured if s.expect == 200])
        if args.profile:
            explain.profile_pages(app, measured, sort=args.profile_sort)
        if args.only_diagnose:
            return 0

    rows: list[results.Row] = []
    with server.serve(url, workers=args.workers, threads=args.threads,
                      log_path=DATA_DIR / "gunicorn.log", port=args.port) as port:
        for name, scenario in planned:
            if scenario is None:
                print(f"  {name}: not built yet, skipped")
                rows.append(results.Row(name, None, None, None))
                continue
            print(f"  {name} ...", flush=True)
            common = dict(make_request=scenario.request, requests=requests, max_seconds=args.seconds,
                          expect=scenario.expect)
            serial = client.measure(port, scenario.users, concurrency=1, warmup=3, **common)
            loaded = client.measure(port, scenario.users, concurrency=args.concurrency, warmup=2, **common)
            rows.append(results.Row(name, serial, loaded, scenario.target))
            for error in (serial.errors + loaded.errors)[:3]:
                print(f"    error: {error}")

    run = results.Run(
        date=dt.datetime.now(dt.timezone.utc),
        database=dialect,
        server_version=_server_version(app),
        tickets=tickets,
        messages=tickets * seed.MESSAGES_PER_TICKET,
        seed_seconds=seeded.seed_seconds,
        machine=measured_on,
        server=f"gunicorn gthread, {args.workers} workers x {args.threads} threads",
        concurrency=args.concurrency,
        rows=rows,
        label=args.label,
    )
    print()
    print(results.table(run))
    if record:
        path = results.record(BENCH_DIR / "RESULTS.md", run)
        print(f"\nrecorded in {path}")
    return 0


def _server_version(app: Flask) -> str:
    from flask_supportdesk._state import get_state

    with app.app_context():
        engine = get_state().db.engine
        if engine.dialect.name == "sqlite":
            return f"SQLite {sqlite3.sqlite_version}"
        with engine.connect() as conn:
            return "PostgreSQL " + str(conn.exec_driver_sql("SHOW server_version").scalar())


if __name__ == "__main__":
    sys.exit(main())
