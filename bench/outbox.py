"""What the notification outbox costs (issue #8): a staff reply with notifications off,
with their rows written for a worker, delivered by the background thread (the default)
and delivered in the request; then mails per second from the outbox to a local SMTP
server, with one and with two workers.

    .venv/bin/python bench/outbox.py                 # SQLite in a temporary folder
    .venv/bin/python bench/outbox.py --replies 400 --mails 1000
    .venv/bin/python bench/outbox.py --database postgresql+psycopg://postgres@127.0.0.1:5432/sd_outbox

The SMTP server is aiosmtpd on loopback (the ``test`` extra), accepting every mail. A
reply is timed twice: the desk's reply request (the form's POST through the WSGI app)
and the service call alone (``messages.post_message`` in a request context), each in
the CPU of the request's thread (median, after a warm-up); each notifies the requester. The throughput pass
writes ``--mails`` replies with delivery left to the worker, then drains the outbox
with ``deliver_notifications()`` from one thread, then again from two at once.
The PostgreSQL database is emptied first: give one of its own.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import platform
import socket
import statistics
import tempfile
import threading
import time
import typing as t

import sqlalchemy as sa
from aiosmtpd.controller import Controller
from flask import Flask

import benchapp
from flask_supportdesk import deliver_notifications
from flask_supportdesk._state import get_state
from flask_supportdesk.models import Base
from flask_supportdesk.services import messages
from flask_supportdesk.services import tickets
from flask_supportdesk.values import Actor

CUSTOMER_ID = benchapp.FIRST_CUSTOMER_ID


class _Counting:
    """An SMTP handler that keeps only how many mails arrived."""

    def __init__(self) -> None:
        self.count = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server: t.Any, session: t.Any, envelope: t.Any) -> str:
        with self.lock:
            self.count += 1
        return "250 OK"


def _app(url: str, port: int, **settings: t.Any) -> Flask:
    config = {
        "SUPPORTDESK_MAIL_SERVER": "127.0.0.1",
        "SUPPORTDESK_MAIL_PORT": port,
        "SUPPORTDESK_MAIL_DEFAULT_SENDER": "Support <support@bench.example>",
        "SUPPORTDESK_PUBLIC_URL": "http://shop.bench.example",
        **{f"SUPPORTDESK_{name.upper()}": value for name, value in settings.items()},
    }
    app = benchapp.create_app(url, config)
    with app.app_context():
        engine = get_state().db.engine
        Base.metadata.drop_all(engine)
        Base.metadata.create_all(engine)
    return app


def _actors(app: Flask) -> tuple[Actor, Actor]:
    with app.app_context():
        hooks = get_state().hooks
        customer, agent = hooks.load_user(str(CUSTOMER_ID)), hooks.load_user(str(benchapp.AGENT_ID))
    assert customer is not None
    assert agent is not None
    return customer, agent


def reply_cost(app: Flask, replies: int) -> float:
    """Median thread CPU (ms) of a staff reply on one ticket."""
    customer, agent = _actors(app)
    with app.test_request_context():
        number = tickets.open_ticket(customer, subject="Outbox bench", body="Where is it?").number
    samples = []
    for n in range(replies):
        with app.test_request_context():
            started = time.thread_time()
            messages.post_message(agent, number, f"Reply {n}: it is on its way.")
            samples.append((time.thread_time() - started) * 1000)
    return statistics.median(samples[len(samples) // 5 :])  # after a warm-up


def reply_request_cost(app: Flask, replies: int) -> float:
    """Median thread CPU (ms) of the desk's reply request (the form a staff member
    sends: ``POST /support/desk/tickets/<number>/reply``, answered with a redirect)."""
    customer, _agent = _actors(app)
    with app.test_request_context():
        number = tickets.open_ticket(customer, subject="Outbox bench", body="Where is it?").number
    http = app.test_client()
    token = http.get(f"/_bench/login/{benchapp.AGENT_ID}").get_data(as_text=True)
    samples = []
    for n in range(replies):
        form = {"csrf_token": token, "channel": "public", "body": f"Reply {n}: on its way."}
        started = time.thread_time()
        response = http.post(f"/support/desk/tickets/{number}/reply", data=form)
        samples.append((time.thread_time() - started) * 1000)
        assert response.status_code == 302, response.get_data(as_text=True)[:300]
    return statistics.median(samples[len(samples) // 5 :])


def throughput(app: Flask, mails: int, workers: int) -> tuple[float, int]:
    """Mails per second draining ``mails`` notifications with ``workers`` threads."""
    customer, agent = _actors(app)
    with app.test_request_context():
        number = tickets.open_ticket(customer, subject="Throughput", body="x").number
        for n in range(mails):
            messages.post_message(agent, number, f"Reply {n}")

    def worker() -> int:
        sent = 0
        with app.app_context():
            while True:
                report = deliver_notifications(now=True)
                sent += report.sent
                if not report.claimed:
                    return sent

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        sent = sum(pool.map(lambda _: worker(), range(workers)))
    return sent / (time.perf_counter() - started), sent


def main(argv: t.Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", help="SQLAlchemy URL (default: SQLite in a temporary folder)")
    parser.add_argument("--replies", type=int, default=200, help="replies timed per variant")
    parser.add_argument("--mails", type=int, default=500, help="notifications drained per pass")
    args = parser.parse_args(argv)

    handler = _Counting()
    with socket.socket() as probe:  # a free port (aiosmtpd cannot be given port 0)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    folder = tempfile.mkdtemp(prefix="sd-outbox-")
    url = args.database or f"sqlite:///{folder}/outbox.sqlite"
    print(f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores, "
          f"load {os.getloadavg()[0]:.2f}; {sa.make_url(url).get_backend_name()}")
    try:
        reply_cost(_app(url, port, mail_server=None), args.replies // 4)  # warm the process
        reply_request_cost(_app(url, port, mail_server=None), args.replies // 4)
        for what, measure in (("reply request (desk form)", reply_request_cost),
                              ("reply service call", reply_cost)):  # fmt: skip
            off = measure(_app(url, port, mail_server=None), args.replies)
            rows = measure(_app(url, port, deliver_after_commit=False), args.replies)
            threaded = _app(url, port)  # the defaults: delivered by the background thread
            background = measure(threaded, args.replies)
            get_state(threaded).delivery.stop()  # type: ignore[union-attr]
            sent = measure(_app(url, port, deliver_in_background=False), args.replies)
            print(f"{what}, CPU ms of the request's thread (median of {args.replies}):")
            print(f"  notifications off          {off:6.2f}")
            for label, cost in (("rows written (worker)", rows),
                                ("delivered in background", background),
                                ("delivered in the request", sent)):  # fmt: skip
                print(f"  {label:26s} {cost:6.2f}  (+{(cost / off - 1) * 100:.0f} %)")
        for workers in (1, 2):
            rate, count = throughput(_app(url, port, deliver_after_commit=False), args.mails, workers)
            print(f"outbox to SMTP, {workers} worker{'s' if workers > 1 else ''}: {rate:7.1f} mails/s ({count} sent)")
    finally:
        controller.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
