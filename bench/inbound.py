"""Inbound e-mail throughput (issue #8 item 5): mails per second through ``ingest``.

    .venv/bin/python bench/inbound.py                  # SQLite in a temporary folder
    .venv/bin/python bench/inbound.py --mails 400 --cli 20
    .venv/bin/python bench/inbound.py --database postgresql+psycopg://postgres@127.0.0.1:5432/sd_inbound

Three passes, each on fresh tables:

- **replies in process**: ``services.inbound.ingest`` called in one app context, one
  mail after the other: a Gmail-style reply (text and HTML parts, quoted history to cut)
  from a ticket's customer, threaded by the ticket's ``Message-ID``; the customer_replied
  notification is written to the outbox (delivery left to a worker);
- **auto-replies in process**: out-of-office mails, refused by the loop guards before
  any query;
- **the CLI**: ``flask supportdesk ingest-email`` run as an MTA would, one process per
  mail (so this is mostly Python's and the app's start-up).

Wall time (``perf_counter``); the machine's load is printed with the figures. The
PostgreSQL database is emptied first: give one of its own.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import platform
import subprocess
import sys
import tempfile
import time
import typing as t
import uuid

import sqlalchemy as sa
from flask import Flask

import benchapp
from flask_supportdesk._state import get_state
from flask_supportdesk.models import Base
from flask_supportdesk.services import inbound
from flask_supportdesk.services import tickets

MAIL = pathlib.Path(__file__).resolve().parent.parent / "tests" / "mail"
SETTINGS = {
    "SUPPORTDESK_MAIL_SERVER": "127.0.0.1",
    "SUPPORTDESK_MAIL_PORT": 9,  # never reached: delivery is left to a worker
    "SUPPORTDESK_MAIL_DEFAULT_SENDER": "Support <support@bench.example>",
    "SUPPORTDESK_PUBLIC_URL": "http://shop.bench.example",
    "SUPPORTDESK_DELIVER_AFTER_COMMIT": False,
    "SUPPORTDESK_INBOUND_ADDRESS": "support@bench.example",
}


def _app(url: str, folder: str) -> Flask:
    app = benchapp.create_app(url, {**SETTINGS, "SUPPORTDESK_ATTACHMENT_FOLDER": folder})
    with app.app_context():
        engine = get_state().db.engine
        Base.metadata.drop_all(engine)
        Base.metadata.create_all(engine)
    return app


def _mail(name: str, customer: int, number: str) -> bytes:
    raw = (MAIL / name).read_bytes()
    root = f"<ticket.{number.lower()}@shop.bench.example>"
    values = {
        "FROM": f"Customer {customer} <customer{customer}@bench.example>",
        "TO": "support@bench.example",
        "IN_REPLY_TO": root,
        "REFERENCES": root,
        "MESSAGE_ID": f"<{uuid.uuid4()}@mail.bench.example>",
    }
    for key, value in values.items():
        raw = raw.replace(f"__{key}__".encode(), value.encode())
    return raw


def _tickets(app: Flask, count: int) -> list[tuple[int, str]]:
    opened = []
    with app.test_request_context():
        hooks = get_state().hooks
        for n in range(count):
            customer_id = benchapp.FIRST_CUSTOMER_ID + n
            customer = hooks.load_user(str(customer_id))
            assert customer is not None
            number = tickets.open_ticket(customer, subject=f"Inbound {n}", body="Where is it?").number
            opened.append((customer_id, number))
    return opened


def in_process(app: Flask, mails: int, name: str, expected: str) -> float:
    """Mails per second through ``inbound.ingest`` in one app context."""
    targets = _tickets(app, min(mails, 50))
    raws = [_mail(name, *targets[n % len(targets)]) for n in range(mails)]
    with app.app_context():
        inbound.ingest(raws[0])  # warm up (imports, compiled regular expressions)
        started = time.perf_counter()
        for raw in raws[1:]:
            result = inbound.ingest(raw)
            assert result.outcome == expected, result
        return (len(raws) - 1) / (time.perf_counter() - started)


def via_cli(app: Flask, url: str, mails: int, folder: str) -> float:
    """Mails per second through ``flask supportdesk ingest-email``, a process per mail."""
    targets = _tickets(app, min(mails, 10))
    module = pathlib.Path(folder) / "bench_inbound_store.py"
    module.write_text(
        "import os\nimport benchapp\nfrom inbound import SETTINGS\n"
        "app = benchapp.create_app(os.environ['BENCH_DATABASE_URL'],"
        " {**SETTINGS, 'SUPPORTDESK_ATTACHMENT_FOLDER': os.environ['BENCH_FILES']})\n"
    )
    bench = pathlib.Path(__file__).resolve().parent
    env = {**os.environ, "BENCH_DATABASE_URL": url, "BENCH_FILES": folder,
           "PYTHONPATH": os.pathsep.join([folder, str(bench)])}  # fmt: skip
    flask = pathlib.Path(sys.executable).with_name("flask")
    started = time.perf_counter()
    for n in range(mails):
        done = subprocess.run(
            [str(flask), "--app", "bench_inbound_store", "supportdesk", "ingest-email"],
            input=_mail("gmail_reply.eml", *targets[n % len(targets)]),
            capture_output=True, env=env, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    return mails / (time.perf_counter() - started)


def main(argv: t.Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", help="SQLAlchemy URL (default: SQLite in a temporary folder)")
    parser.add_argument("--mails", type=int, default=300, help="mails per in-process pass")
    parser.add_argument("--cli", type=int, default=10, help="mails through the CLI")
    args = parser.parse_args(argv)
    folder = tempfile.mkdtemp(prefix="sd-inbound-")
    url = args.database or f"sqlite:///{folder}/inbound.sqlite"
    print(f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores, "
          f"load {os.getloadavg()[0]:.2f}; {sa.make_url(url).get_backend_name()}")
    replies = in_process(_app(url, folder), args.mails, "gmail_reply.eml", "posted")
    print(f"replies in process:      {replies:8.1f} mails/s")
    with_files = in_process(_app(url, folder), args.mails // 3, "attachments.eml", "posted")
    print(f"replies with 4 files:    {with_files:8.1f} mails/s (2 stored, 2 dropped)")
    ignored = in_process(_app(url, folder), args.mails, "auto_reply.eml", "ignored")
    print(f"auto-replies ignored:    {ignored:8.1f} mails/s")
    cli = via_cli(_app(url, folder), url, args.cli, folder)
    print(f"CLI, a process per mail: {cli:8.1f} mails/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
