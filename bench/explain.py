"""Why a page is slow: its SQL statements and their plans, or where its Python time goes.

Runs each page in-process (Flask test client, same database). :func:`explain_pages`
records every statement with its parameters and time, then asks the database how it
runs the slowest ones: ``EXPLAIN QUERY PLAN`` on SQLite, ``EXPLAIN (ANALYZE, BUFFERS)``
on PostgreSQL. :func:`profile_pages` shows the functions a page spends its CPU in.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import time
import typing as t

import sqlalchemy as sa
from flask import Flask

from benchapp import SQL_CLOCK
from flask_supportdesk._state import get_state

if t.TYPE_CHECKING:
    from run import Scenario

SHOWN_PER_PAGE = 4


def _capture() -> tuple[list[list[t.Any]], t.Callable[[], object]]:
    """Record [seconds, statement, parameters] of every statement until ``stop()``.

    The seconds are the driver's, fetches included (:class:`benchapp.TimedCursor`).
    """
    captured = SQL_CLOCK.start()
    return captured, SQL_CLOCK.stop


def _plan(engine: sa.Engine, statement: str, params: t.Any) -> str:
    prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN (ANALYZE, BUFFERS) "
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(prefix + statement, params).fetchall()
    if engine.dialect.name == "sqlite":
        return "\n".join(f"  {row[-1]}" for row in rows)
    return "\n".join(f"  {row[0]}" for row in rows)


def explain_pages(app: Flask, scenarios: t.Sequence[Scenario]) -> None:
    """Print each page's statements, slowest first, with their plans."""
    with app.app_context():
        engine = get_state().db.engine
    for scenario in scenarios:
        http, headers = _client(app, scenario)
        method, path, _ = scenario.request(0)
        _send(http, headers, scenario, 0)  # warm caches, as the bench's warm-up does
        captured, stop = _capture()
        started = time.perf_counter()
        response = _send(http, headers, scenario, 1)
        total = time.perf_counter() - started
        stop()
        sql = sum(seconds for seconds, _, _ in captured)
        print(f"\n== {scenario.name}: {method} {path} -> {response.status_code}, "
              f"{total * 1000:.1f} ms in-process, {len(captured)} statements, {sql * 1000:.1f} ms SQL")
        for seconds, statement, params in sorted(captured, key=lambda c: -c[0])[:SHOWN_PER_PAGE]:
            print(f"-- {seconds * 1000:.2f} ms: {' '.join(statement.split())[:600]}")
            print(f"   params: {params!r}"[:300])
            print(_plan(engine, statement, params))


PROFILED_REQUESTS = 10
SHOWN_FUNCTIONS = 18


def _client(app: Flask, scenario: Scenario) -> tuple[t.Any, dict[str, str]]:
    """A test client logged in as the scenario's first user, and headers for its writes."""
    http = app.test_client()
    response = http.get(f"/_bench/login/{scenario.users[0]}")
    assert response.status_code == 200
    return http, {"X-CSRFToken": response.get_data(as_text=True), "Content-Type": "application/json"}


def _send(http: t.Any, headers: dict[str, str], scenario: Scenario, n: int) -> t.Any:
    method, path, body = scenario.request(n)
    return http.open(path, method=method, data=body, headers=headers if body else {})


def profile_pages(app: Flask, scenarios: t.Sequence[Scenario], *, sort: str = "tottime") -> None:
    """Print, per page, the CPU per request and the functions it is spent in.

    :param sort: ``tottime`` (own time: the hot functions) or ``cumulative`` (time
        under each call: which part of the request it is in).
    """
    for scenario in scenarios:
        http, headers = _client(app, scenario)
        method, path, _ = scenario.request(0)
        for n in range(3):
            _send(http, headers, scenario, n)
        cpu = time.thread_time()
        for n in range(PROFILED_REQUESTS):
            _send(http, headers, scenario, 100 + n)
        per_request = (time.thread_time() - cpu) / PROFILED_REQUESTS * 1000
        profile = cProfile.Profile()
        profile.enable()
        for n in range(PROFILED_REQUESTS):
            _send(http, headers, scenario, 200 + n)
        profile.disable()
        out = io.StringIO()
        stats = pstats.Stats(profile, stream=out)
        stats.sort_stats(sort).print_stats(SHOWN_FUNCTIONS if sort == "tottime" else 3 * SHOWN_FUNCTIONS)
        by = "own time" if sort == "tottime" else sort
        # Function calls do not vary with what else the machine runs, unlike CPU time.
        calls = stats.total_calls / PROFILED_REQUESTS  # type: ignore[attr-defined]
        print(f"\n== {scenario.name}: {method} {path}: {per_request:.1f} ms CPU per request "
              f"(unprofiled), {calls:,.0f} Python function calls; functions by {by} over "
              f"{PROFILED_REQUESTS} profiled requests:")
        lines = [line for line in out.getvalue().splitlines() if line.strip()]
        print("\n".join(lines[lines.index(next(x for x in lines if "ncalls" in x)) :]))
