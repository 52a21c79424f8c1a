"""Why a page is slow: its SQL statements, their time, and the database's plan for each.

Runs each page in-process (Flask test client, same database), records every statement
with its parameters and time, then asks the database how it runs the slowest ones:
``EXPLAIN QUERY PLAN`` on SQLite, ``EXPLAIN (ANALYZE, BUFFERS)`` on PostgreSQL.
"""

from __future__ import annotations

import time
import typing as t

import sqlalchemy as sa
from flask import Flask

from flask_supportdesk._state import get_state

if t.TYPE_CHECKING:
    from run import Scenario

SHOWN_PER_PAGE = 4


def _capture(engine: sa.Engine) -> tuple[list[tuple[float, str, t.Any]], t.Callable[[], None]]:
    """Record (seconds, statement, parameters) of every statement until ``stop()``."""
    captured: list[tuple[float, str, t.Any]] = []

    def before(conn: t.Any, cursor: t.Any, statement: str, params: t.Any, context: t.Any, many: bool) -> None:
        conn.info["explain_started"] = time.perf_counter()

    def after(conn: t.Any, cursor: t.Any, statement: str, params: t.Any, context: t.Any, many: bool) -> None:
        captured.append((time.perf_counter() - conn.info.pop("explain_started"), statement, params))

    sa.event.listen(engine, "before_cursor_execute", before)
    sa.event.listen(engine, "after_cursor_execute", after)

    def stop() -> None:
        sa.event.remove(engine, "before_cursor_execute", before)
        sa.event.remove(engine, "after_cursor_execute", after)

    return captured, stop


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
        method, path, body = scenario.request(0)
        http = app.test_client()
        assert http.get(f"/_bench/login/{scenario.users[0]}").status_code == 200
        http.open(path, method=method, data=body)  # warm caches, as the bench's warm-up does
        captured, stop = _capture(engine)
        started = time.perf_counter()
        response = http.open(path, method=method, data=body)
        total = time.perf_counter() - started
        stop()
        sql = sum(seconds for seconds, _, _ in captured)
        print(f"\n== {scenario.name}: {method} {path} -> {response.status_code}, "
              f"{total * 1000:.1f} ms in-process, {len(captured)} statements, {sql * 1000:.1f} ms SQL")
        for seconds, statement, params in sorted(captured, key=lambda c: -c[0])[:SHOWN_PER_PAGE]:
            print(f"-- {seconds * 1000:.2f} ms: {' '.join(statement.split())[:600]}")
            print(f"   params: {params!r}"[:300])
            print(_plan(engine, statement, params))
