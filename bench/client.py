"""A keep-alive HTTP load client: a few threads, one logged-in connection each.

Each thread logs in as its own user (session cookie + CSRF token), then sends its share
of requests over a persistent connection and records each latency. The connection is
reopened every :data:`RECONNECT_EVERY` requests: a kept-alive connection stays with the
worker process that accepted it, and four of them could all land on one of the two
workers (one core busy, the other idle: throughput varied 2x between runs). Reopening
spreads them as the many connections of real clients are spread. The run is bounded
both in requests and in seconds, and only ever talks to 127.0.0.1.
"""

from __future__ import annotations

import dataclasses
import http.client
import itertools
import json
import statistics
import threading
import time
import typing as t

#: Makes one request, (method, path, body or None), from a sequence number.
RequestFactory = t.Callable[[int], tuple[str, str, "bytes | None"]]
#: Requests sent over one connection before it is closed and opened again.
RECONNECT_EVERY = 10


@dataclasses.dataclass
class Session:
    """A logged-in keep-alive connection to the bench server."""

    port: int
    user_id: int
    conn: http.client.HTTPConnection = dataclasses.field(init=False)
    cookie: str = ""
    csrf_token: str = ""
    sent: int = 0

    def __post_init__(self) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        response = self.send("GET", f"/_bench/login/{self.user_id}")
        if response.status != 200:
            raise RuntimeError(f"login as {self.user_id} failed: HTTP {response.status}")
        self.csrf_token = response.body.decode()

    def send(self, method: str, path: str, body: bytes | None = None) -> Response:
        if self.sent and self.sent % RECONNECT_EVERY == 0:
            self.conn.close()  # the next request connects again, maybe to another worker
        self.sent += 1
        headers = {"Cookie": self.cookie} if self.cookie else {}
        if body is not None:
            headers["Content-Type"] = "application/json"
            headers["X-CSRFToken"] = self.csrf_token
        self.conn.request(method, path, body=body, headers=headers)
        raw = self.conn.getresponse()
        data = raw.read()
        for header, value in raw.getheaders():
            if header.lower() == "set-cookie" and value.startswith("session="):
                self.cookie = value.split(";", 1)[0]
        return Response(
            raw.status,
            data,
            int(raw.getheader("X-Bench-Queries") or -1),
            float(raw.getheader("X-Bench-SQL-ms") or 0.0),
            float(raw.getheader("X-Bench-App-ms") or 0.0),
            float(raw.getheader("X-Bench-CPU-ms") or 0.0),
        )

    def close(self) -> None:
        self.conn.close()


@dataclasses.dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    queries: int
    sql_ms: float
    app_ms: float
    cpu_ms: float


@dataclasses.dataclass
class Figures:
    """What one measurement found."""

    concurrency: int
    latencies_ms: list[float]
    seconds: float
    errors: list[str]
    queries: list[int]
    sql_ms: list[float]
    app_ms: list[float]
    cpu_ms: list[float]

    @property
    def count(self) -> int:
        return len(self.latencies_ms)

    @property
    def median_ms(self) -> float:
        return statistics.median(self.latencies_ms) if self.latencies_ms else float("nan")

    @property
    def p95_ms(self) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]

    @property
    def per_second(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    @property
    def query_count(self) -> str:
        """The statements per request: one number, or the range when it varied."""
        if not self.queries:
            return "?"
        low, high = min(self.queries), max(self.queries)
        return str(low) if low == high else f"{low}-{high}"

    @property
    def sql_median_ms(self) -> float:
        """Median time in SQL statements, as the server measured it."""
        return statistics.median(self.sql_ms) if self.sql_ms else float("nan")

    @property
    def app_median_ms(self) -> float:
        """Median wall time inside Flask (no HTTP, no client)."""
        return statistics.median(self.app_ms) if self.app_ms else float("nan")

    @property
    def cpu_median_ms(self) -> float:
        """Median CPU time of the serving thread: the cost, whatever else the machine runs."""
        return statistics.median(self.cpu_ms) if self.cpu_ms else float("nan")


def measure(
    port: int,
    users: t.Sequence[int],
    make_request: RequestFactory,
    *,
    concurrency: int,
    requests: int,
    warmup: int,
    max_seconds: float,
    expect: int = 200,
) -> Figures:
    """Send ``requests`` requests from ``concurrency`` threads (user ``users[i % len]``).

    Each thread first sends ``warmup`` unmeasured requests (caches, connection pools,
    the workers' first imports). Stops early after ``max_seconds``.
    """
    sessions = [Session(port, users[i % len(users)]) for i in range(concurrency)]
    counter = itertools.count()
    lock = threading.Lock()
    latencies: list[float] = []
    errors: list[str] = []
    queries: list[int] = []
    sql_ms: list[float] = []
    app_ms: list[float] = []
    cpu_ms: list[float] = []
    clock = {"started": 0.0, "deadline": 0.0}

    def start_clock() -> None:
        # Run once, when every thread has warmed up: the measured time starts here.
        clock["started"] = time.perf_counter()
        clock["deadline"] = clock["started"] + max_seconds

    start_gate = threading.Barrier(concurrency, action=start_clock)

    def worker(session: Session) -> None:
        try:
            run(session)
        except Exception as exc:  # a dead server or connection: report it, never hang
            start_gate.abort()
            with lock:
                errors.append(f"{type(exc).__name__}: {exc}")

    def run(session: Session) -> None:
        for _ in range(warmup):
            session.send(*make_request(next(counter)))
        start_gate.wait()
        while time.perf_counter() < clock["deadline"]:
            with lock:
                if len(latencies) + len(errors) >= requests:
                    return
            method, path, body = make_request(next(counter))
            started = time.perf_counter()
            response = session.send(method, path, body)
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                if response.status == expect:
                    latencies.append(elapsed)
                    queries.append(response.queries)
                    sql_ms.append(response.sql_ms)
                    app_ms.append(response.app_ms)
                    cpu_ms.append(response.cpu_ms)
                else:
                    errors.append(f"HTTP {response.status} {method} {path}: {response.body[:200]!r}")

    threads = [threading.Thread(target=worker, args=(s,), daemon=True) for s in sessions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - clock["started"] if clock["started"] else 0.0
    for session in sessions:
        session.close()
    return Figures(concurrency, latencies, seconds, errors, queries, sql_ms, app_ms, cpu_ms)


def get(path: str) -> RequestFactory:
    """The same GET every time."""
    return lambda _n: ("GET", path, None)


def post_json(path: str, make_body: t.Callable[[int], dict[str, t.Any]]) -> RequestFactory:
    """A JSON POST whose body depends on the sequence number (unique subjects)."""
    return lambda n: ("POST", path, json.dumps(make_body(n)).encode())
