"""Benchmark live chat (issue #9) on loopback, beside a bare Flask-SocketIO echo server.

    .venv/bin/python bench/chat.py                   # everything, SQLite in a temporary folder
    .venv/bin/python bench/chat.py --quick           # fewer samples and connections
    .venv/bin/python bench/chat.py --profile         # also: cProfile of the desk's round trip
    .venv/bin/python bench/chat.py --redis redis://127.0.0.1:6379/7

Every server is a process of its own (``chatserver.py``: gevent's ``WSGIServer``,
monkey-patched, the async mode one process needs for many connections); the clients are
python-socketio clients on the WebSocket transport, in this process or, for the many
connections, in worker processes of their own (``--worker``). It measures:

1. **round trip**: a customer sends; the staff client watching the ticket receives the
   stored message (send -> stored -> delivered): median and p99, with 1 and with 200
   conversations at once, beside the echo server (the floor: the same server, async
   mode and message shape, nothing stored or checked). Target: within 3x of the echo.
2. **fan-out**: one message to 500 watchers of one ticket: time until the last one (and
   the median one) receives it.
3. **sustained**: messages per second one server process stores and delivers, with
   20 senders sending back to back (each waits for its acknowledgement).
4. **memory**: the RSS of one server process before and after 1,000 widget connections
   (logged-in customers, clients in 4 other processes). Target: under 100 MB.
5. **cross-process**: the round trip when the customer is on one process and staff on
   another, through Redis, against one process without a queue (and one with it).
   Target: Redis adds under 5 ms at the median.

The clients share the machine's cores with the servers: compare figures of one run
(printed together) rather than between runs on a busy machine.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import platform
import pstats
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import typing as t
import uuid
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

NAMESPACE = "/supportdesk"
#: The servers' stderr: gevent's server logs every WebSocket closed under it.
SERVER_LOG = open(os.devnull, "w")  # noqa: SIM115  # for the whole run
STAFF_ID = 1  # the bench store's owner: handles every ticket
FIRST_CUSTOMER = 1000  # benchapp.FIRST_CUSTOMER_ID
#: No limits in the way of a load test (the desk's defaults protect a real store).
UNLIMITED = {
    "SUPPORTDESK_SOCKET_RATE_LIMIT": "1000000 per 10 seconds",
    "SUPPORTDESK_SOCKET_CONNECT_RATE_LIMIT": "1000000 per minute",
    "SUPPORTDESK_DELIVER_IN_BACKGROUND": False,
}


@dataclasses.dataclass
class Server:
    """A running ``chatserver.py`` process."""

    proc: subprocess.Popen[str]
    url: str
    pid: int

    def stop(self) -> None:
        """Terminate it (a profiling server writes its profile then)."""
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start_server(kind: str, options: dict[str, t.Any]) -> Server:
    """Start ``chatserver.py kind`` and wait until it listens."""
    proc = subprocess.Popen(
        [sys.executable, str(BENCH_DIR / "chatserver.py"), kind, json.dumps(options)],
        stdout=subprocess.PIPE, stderr=SERVER_LOG, text=True,
    )
    assert proc.stdout is not None
    words = proc.stdout.readline().split()
    assert words[:1] == ["PORT"], f"the {kind} server did not start"
    return Server(proc, f"http://127.0.0.1:{words[1]}", int(words[3]))


@contextlib.contextmanager
def server(kind: str, options: dict[str, t.Any]) -> t.Iterator[Server]:
    """A server for the block."""
    running = start_server(kind, options)
    try:
        yield running
    finally:
        running.stop()


def rss_mb(pid: int) -> float:
    """The resident memory of process ``pid`` (MB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def cookie_of(url: str, user_id: int) -> str:
    """The session Cookie header of ``user_id`` on the server at ``url``."""
    import requests

    http = requests.Session()
    response = http.get(f"{url}/_bench/login/{user_id}", timeout=30)
    response.raise_for_status()
    return "; ".join(f"{c.name}={c.value}" for c in http.cookies)


class Peer:
    """One live connection; ``arrived`` calls back on every ``message`` event."""

    def __init__(self, url: str, cookie: str | None, arrived: t.Callable[[dict[str, t.Any]], None] | None = None) -> None:
        import socketio

        self.client = socketio.Client(reconnection=False)
        if arrived is not None:
            self.client.on("message", arrived, namespace=NAMESPACE)
        self.client.connect(
            url, namespaces=[NAMESPACE], headers={"Cookie": cookie} if cookie else {},
            transports=["websocket"], wait_timeout=30,
        )

    def call(self, event: str, data: dict[str, t.Any]) -> t.Any:
        """Emit and wait for the acknowledgement."""
        ack = self.client.call(event, data, namespace=NAMESPACE, timeout=60)
        if isinstance(ack, dict) and ack.get("ok") is False:
            raise RuntimeError(f"{event}: {ack}")
        return ack

    def close(self) -> None:
        """Disconnect."""
        self.client.disconnect()


class Arrivals:
    """When each awaited body arrived (``time.monotonic()``), and who waits for it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.waiting: dict[str, threading.Event] = {}
        self.times: dict[str, float] = {}

    def expect(self, body: str) -> threading.Event:
        """An event set when ``body`` arrives."""
        event = threading.Event()
        with self.lock:
            self.waiting[body] = event
        return event

    def __call__(self, data: dict[str, t.Any]) -> None:
        now = time.monotonic()
        body = data["message"]["body"]
        with self.lock:
            event = self.waiting.pop(body, None)
            if event is not None:
                self.times[body] = now
        if event is not None:
            event.set()


def close_all(peers: t.Sequence[Peer]) -> None:
    """Disconnect ``peers`` at once: one by one, each waits for the server to close its
    WebSocket (gevent's server is slow to), which adds up to minutes."""
    threads = [threading.Thread(target=peer.close, daemon=True) for peer in peers]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 10
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))


def seed(database: str, conversations: int) -> list[str]:
    """The schema and one open ticket per customer (``FIRST_CUSTOMER + i``): their numbers."""
    import benchapp
    from flask_supportdesk._state import get_state
    from flask_supportdesk.models import Base
    from flask_supportdesk.services import tickets

    app = benchapp.create_app(database, {"SUPPORTDESK_DELIVER_IN_BACKGROUND": False})
    numbers = []
    with app.app_context():
        Base.metadata.create_all(get_state().db.engine)
    for i in range(conversations):
        with app.test_request_context():
            customer = benchapp.get_user(FIRST_CUSTOMER + i)
            assert customer is not None
            numbers.append(tickets.open_ticket(customer.actor, subject=f"Chat {i}", body="Hello").number)
    with app.app_context():
        get_state().db.engine.dispose()
    return numbers


def percentile(values: t.Sequence[float], q: float) -> float:
    """The ``q`` quantile (0-1) of ``values``, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


@dataclasses.dataclass
class Pairs:
    """Customer and staff connections, pair ``i`` on ticket ``numbers[i]``."""

    numbers: list[str]
    customers: list[Peer]
    staff: list[Peer]
    arrivals: Arrivals

    def close(self) -> None:
        """Disconnect everyone."""
        close_all(self.customers + self.staff)


def pairs(customer_url: str, staff_url: str, numbers: list[str], cookies: dict[str, list[str]]) -> Pairs:
    """Connect a customer and a staff member to each ticket of ``numbers``, joined."""
    arrivals = Arrivals()
    customers, staff = [], []
    for i, number in enumerate(numbers):
        customer = Peer(customer_url, cookies[customer_url][i] if cookies else None)
        watcher = Peer(staff_url, cookies[staff_url][-1] if cookies else None, arrivals)
        customer.call("join", {"ticket": number})
        watcher.call("join", {"ticket": number})
        customers.append(customer)
        staff.append(watcher)
    return Pairs(numbers, customers, staff, arrivals)


def round_trips(connected: Pairs, per_pair: int) -> list[float]:
    """Each pair at once: the customer sends ``per_pair`` messages one after another,
    each once the staff client received the one before; the round trips (ms)."""
    results: list[float] = []
    lock = threading.Lock()

    def converse(i: int) -> None:
        mine = []
        for k in range(per_pair):
            body = f"rt {i} {k} {uuid.uuid4().hex}"
            arrived = connected.arrivals.expect(body)
            start = time.monotonic()
            connected.customers[i].client.emit(
                "send", {"ticket": connected.numbers[i], "body": body, "client_id": body[-32:]},
                namespace=NAMESPACE,
            )
            if not arrived.wait(60):
                raise RuntimeError(f"message {body!r} never arrived")
            mine.append((connected.arrivals.times[body] - start) * 1000)
        with lock:
            results.extend(mine)

    threads = [threading.Thread(target=converse, args=(i,)) for i in range(len(connected.numbers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def sustained(connected: Pairs, seconds: float) -> float:
    """Messages per second: every customer sends back to back (waiting for its
    acknowledgement) for ``seconds``."""
    counts = [0] * len(connected.numbers)
    stop = time.monotonic() + seconds

    def send(i: int) -> None:
        while time.monotonic() < stop:
            body = f"s {i} {uuid.uuid4().hex}"
            connected.customers[i].call("send", {"ticket": connected.numbers[i], "body": body, "client_id": body[-32:]})
            counts[i] += 1

    started = time.monotonic()
    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(connected.numbers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.monotonic() - started)


def workers(url: str, jobs: list[dict[str, t.Any]]) -> list[subprocess.Popen[str]]:
    """Client processes (``--worker``), each until it printed READY."""
    procs = []
    for job in jobs:
        procs.append(subprocess.Popen(
            [sys.executable, __file__, "--worker", json.dumps({"url": url, **job})],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        ))
    for proc in procs:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip() == "READY", f"a client process failed: {line!r}"
    return procs


def worker(job: dict[str, t.Any]) -> None:
    """``--worker``: open ``count`` connections (users from ``first_user``, or all as
    ``user``), join ``ticket`` if given, print READY, then wait for a line on stdin:
    ``quit``, or a body to wait for (prints the arrival times as JSON)."""
    arrivals: list[float] = []
    lock = threading.Lock()
    awaited: dict[str, t.Any] = {"body": None, "done": threading.Event(), "count": job["count"]}

    def arrived(data: dict[str, t.Any]) -> None:
        now = time.monotonic()
        if data["message"]["body"] == awaited["body"] or awaited["body"] is None:
            with lock:
                arrivals.append(now)
                if len(arrivals) >= awaited["count"]:
                    awaited["done"].set()

    peers = []
    shared = cookie_of(job["url"], job["user"]) if "user" in job else None
    for n in range(job["count"]):
        cookie = shared if "first_user" not in job else cookie_of(job["url"], job["first_user"] + n)
        peer = Peer(job["url"], cookie, arrived if job.get("ticket") else None)
        if job.get("ticket"):
            peer.call("join", {"ticket": job["ticket"]})
        peers.append(peer)
    print("READY", flush=True)
    line = sys.stdin.readline().strip()
    if line and line != "quit":
        awaited["body"] = line
        awaited["done"].wait(60)
        print(json.dumps(arrivals), flush=True)
        sys.stdin.readline()
    close_all(peers)


def finish(procs: list[subprocess.Popen[str]]) -> None:
    """Tell client processes to quit, and wait for them."""
    for proc in procs:
        with contextlib.suppress(Exception):
            assert proc.stdin is not None
            proc.stdin.write("quit\n")
            proc.stdin.flush()
    for proc in procs:
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()


def fan_out(url: str, number: str, watchers: int, processes: int, *, login: bool) -> tuple[float, float]:
    """One staff message to ``watchers`` staff connections on ``number``: (median, last) ms."""
    per = watchers // processes
    who = {"user": STAFF_ID} if login else {}
    procs = workers(url, [{**who, "count": per, "ticket": number} for _ in range(processes)])
    try:
        sender = Peer(url, cookie_of(url, STAFF_ID) if login else None)
        body = f"fan {uuid.uuid4().hex}"
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write(body + "\n")
            proc.stdin.flush()
        time.sleep(0.5)  # the workers are waiting for it
        start = time.monotonic()
        sender.call("send", {"ticket": number, "body": body, "client_id": body[-32:]})
        times = []
        for proc in procs:
            assert proc.stdout is not None
            times.extend(json.loads(proc.stdout.readline()))
        close_all([sender])
    finally:
        finish(procs)
    if len(times) < per * processes:
        raise RuntimeError(f"only {len(times)} of {per * processes} watchers received the message")
    late = [(moment - start) * 1000 for moment in times]
    return statistics.median(late), max(late)


def memory(database: str, connections: int, processes: int) -> tuple[float, float]:
    """RSS (MB) of one desk process before and after ``connections`` widgets."""
    with server("desk", {"database": database, "config": UNLIMITED}) as desk:
        warm = Peer(desk.url, cookie_of(desk.url, FIRST_CUSTOMER))
        close_all([warm])
        time.sleep(0.5)
        before = rss_mb(desk.pid)
        per = connections // processes
        procs = workers(desk.url, [
            {"first_user": FIRST_CUSTOMER + 10_000 + p * per, "count": per} for p in range(processes)
        ])
        try:
            time.sleep(1)
            after = rss_mb(desk.pid)
        finally:
            finish(procs)
    return before, after


def step(text: str) -> None:
    """A progress line (stderr), with the time."""
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def summary(values: t.Sequence[float]) -> str:
    """``median / p99 ms (n)``."""
    return f"{statistics.median(values):7.2f} / {percentile(values, 0.99):7.2f} ms  (n={len(values)})"


def main() -> None:
    """Run every measurement and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples and connections")
    parser.add_argument("--profile", action="store_true", help="cProfile the desk's one-conversation round trip")
    parser.add_argument("--redis", default=os.environ.get("SUPPORTDESK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--database", help="SQLAlchemy URL (default: SQLite in a temporary folder)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(json.loads(args.worker))
        return
    quick = args.quick
    many, samples, watchers, widgets = (40, 100, 100, 200) if quick else (200, 400, 500, 1000)
    folder = Path(tempfile.mkdtemp(prefix="sd-chat-bench-"))
    database = args.database or f"sqlite:///{folder / 'chat.sqlite'}"
    print(f"chat benchmark: {platform.python_version()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}, "
          f"{'SQLite' if database.startswith('sqlite') else database.split(':')[0]}, gevent servers")
    step("seeding")
    numbers = seed(database, many)
    desk_options = {"database": database, "config": UNLIMITED}
    figures: dict[str, t.Any] = {}

    for kind in ("echo", "desk"):
        options = desk_options if kind == "desk" else {}
        with server(kind, options) as running:
            cookies = {running.url: [cookie_of(running.url, FIRST_CUSTOMER + i) for i in range(many)]
                       + [cookie_of(running.url, STAFF_ID)]} if kind == "desk" else {}
            step(f"{kind}: one conversation")
            one = pairs(running.url, running.url, numbers[:1], cookies)
            round_trips(one, 20)  # warm-up
            figures[kind, "rt1"] = round_trips(one, samples)
            one.close()
            step(f"{kind}: {many} conversations")
            crowd = pairs(running.url, running.url, numbers[:many], cookies)
            round_trips(crowd, 2)
            figures[kind, "rtN"] = round_trips(crowd, 3)
            crowd.close()
            step(f"{kind}: sustained")
            senders = pairs(running.url, running.url, numbers[:20], cookies)
            figures[kind, "rate"] = sustained(senders, 5 if quick else 10)
            senders.close()
            step(f"{kind}: fan-out")
            figures[kind, "fan"] = fan_out(running.url, numbers[0], watchers, 2 if quick else 4, login=kind == "desk")

    step("memory")
    before, after = memory(database, widgets, 2 if quick else 4)

    queue = {"SUPPORTDESK_SOCKETIO_MESSAGE_QUEUE": args.redis, "SUPPORTDESK_SOCKETIO_CHANNEL": f"sd-bench-{uuid.uuid4().hex}"}
    queued = {"database": database, "config": {**UNLIMITED, **queue}}
    step("cross-process")
    with server("desk", queued) as one_q:
        cookies = {one_q.url: [cookie_of(one_q.url, FIRST_CUSTOMER), cookie_of(one_q.url, STAFF_ID)]}
        connected = pairs(one_q.url, one_q.url, numbers[:1], cookies)
        round_trips(connected, 20)
        figures["one-queue"] = round_trips(connected, samples)
        connected.close()
        with server("desk", queued) as two_q:
            cookies = {one_q.url: [cookie_of(one_q.url, FIRST_CUSTOMER)], two_q.url: [cookie_of(two_q.url, STAFF_ID)]}
            connected = pairs(one_q.url, two_q.url, numbers[:1], cookies)
            round_trips(connected, 20)
            figures["two-queue"] = round_trips(connected, samples)
            connected.close()

    echo1, desk1 = figures["echo", "rt1"], figures["desk", "rt1"]
    echoN, deskN = figures["echo", "rtN"], figures["desk", "rtN"]
    ratio1 = statistics.median(desk1) / statistics.median(echo1)
    ratioN = statistics.median(deskN) / statistics.median(echoN)
    added = statistics.median(figures["two-queue"]) - statistics.median(desk1)
    print()
    print("round trip (send -> stored -> delivered), median / p99:")
    print(f"  1 conversation    echo {summary(echo1)}   desk {summary(desk1)}   desk/echo {ratio1:.1f}x (target < 3x)")
    print(f"  {many} conversations echo {summary(echoN)}   desk {summary(deskN)}   desk/echo {ratioN:.1f}x")
    for kind in ("echo", "desk"):
        median, last = figures[kind, "fan"]
        print(f"fan-out to {watchers} watchers ({kind}): median {median:.1f} ms, last {last:.1f} ms")
    print(f"sustained, 20 senders: echo {figures['echo', 'rate']:.0f} msg/s, desk {figures['desk', 'rate']:.0f} msg/s per process")
    print(f"memory, {widgets} widget connections on one gevent process: RSS {before:.1f} -> {after:.1f} MB "
          f"({(after - before) * 1024 / widgets:.1f} KB per connection; target: under 100 MB)")
    print(f"cross-process through Redis: one process {statistics.median(desk1):.2f} ms, one process with the queue "
          f"{statistics.median(figures['one-queue']):.2f} ms, two processes {statistics.median(figures['two-queue']):.2f} ms "
          f"(median; Redis adds {added:.2f} ms, target < 5 ms)")

    if args.profile:
        profile_round_trip(database, numbers[0], samples)


def profile_round_trip(database: str, number: str, samples: int) -> None:
    """cProfile of a desk process while one conversation sends ``samples`` messages."""
    path = Path(tempfile.mkdtemp(prefix="sd-chat-profile-")) / "desk.prof"
    running = start_server("desk", {"database": database, "config": UNLIMITED, "profile": str(path)})
    try:
        cookies = {running.url: [cookie_of(running.url, FIRST_CUSTOMER), cookie_of(running.url, STAFF_ID)]}
        connected = pairs(running.url, running.url, [number], cookies)
        round_trips(connected, samples)
        connected.close()
    finally:
        running.stop()
    print(f"\nprofile of the desk server ({samples} round trips, {path}):")
    stats = pstats.Stats(str(path))
    stats.sort_stats("cumulative").print_stats(r"flask_supportdesk", 30)


if __name__ == "__main__":
    main()
