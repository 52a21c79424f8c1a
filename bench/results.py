"""The figures of a run: a text table for the terminal, a section of ``RESULTS.md``.

``RESULTS.md`` keeps one generated section per database and scale, between marker
comments; a new run replaces its own section and leaves the others and the hand-written
analysis around them alone.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from pathlib import Path

from client import RECONNECT_EVERY
from client import Figures


@dataclasses.dataclass(frozen=True)
class Row:
    """One scenario: the serial pass (latency), the loaded pass (throughput), its target."""

    name: str
    serial: Figures | None
    loaded: Figures | None
    target: tuple[str, float] | None

    def verdict(self) -> str:
        """``met``/``MISSED`` against the target, blank without one."""
        if self.target is None or self.serial is None or self.loaded is None:
            return ""
        kind, limit = self.target
        if kind == "median_ms":
            return f"< {limit:g} ms: " + ("met" if self.serial.median_ms < limit else "MISSED")
        return f"> {limit:g}/s: " + ("met" if self.loaded.per_second > limit else "MISSED")


@dataclasses.dataclass(frozen=True)
class Run:
    date: dt.datetime
    database: str
    server_version: str
    tickets: int
    messages: int
    seed_seconds: float
    machine: dict[str, str]
    server: str
    concurrency: int
    rows: list[Row]
    label: str = ""

    @property
    def key(self) -> str:
        variant = re.sub(r"[^a-z0-9]+", "-", self.label.lower()).strip("-")
        return f"{self.database}-{self.tickets}" + (f"-{variant}" if variant else "")

    @property
    def title(self) -> str:
        return f"{self.database}, {self.tickets:,} tickets" + (f", {self.label}" if self.label else "")


HEADER = (
    "scenario", "SQL/req", "p50 ms", "p95 ms", "app ms", "SQL ms", "CPU ms",
    "req/s", "p50 ms", "p95 ms", "errors", "target",
)


def _cells(run: Run) -> list[tuple[str, ...]]:
    lines = []
    for row in run.rows:
        s, l = row.serial, row.loaded  # noqa: E741 - serial/loaded, as in the table
        if s is None or l is None:
            lines.append((row.name, *("-" for _ in HEADER[1:-1]), "page not built"))
            continue
        lines.append((
            row.name,
            s.query_count,
            f"{s.median_ms:.1f}",
            f"{s.p95_ms:.1f}",
            f"{s.app_median_ms:.1f}",
            f"{s.sql_median_ms:.1f}",
            f"{s.cpu_median_ms:.1f}",
            f"{l.per_second:.0f}",
            f"{l.median_ms:.1f}",
            f"{l.p95_ms:.1f}",
            str(len(s.errors) + len(l.errors)),
            row.verdict(),
        ))
    return lines


def table(run: Run) -> str:
    """A fixed-width table for the terminal."""
    lines = [HEADER, *_cells(run)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADER))]
    out = [
        f"{run.title} ({run.server_version}), {run.messages:,} messages;"
        f" {run.server}; 1 client, then {run.concurrency} clients",
        " | ".join(cell.ljust(widths[i]) for i, cell in enumerate(HEADER)),
        "-+-".join("-" * w for w in widths),
    ]
    for line in lines[1:]:
        out.append(" | ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)))
    return "\n".join(out)


def markdown(run: Run) -> str:
    """The run as a section of RESULTS.md."""
    c = run.concurrency
    header = (
        "scenario", "SQL/req", "p50 ms (1 client)", "p95 ms (1 client)", "in app ms (p50)",
        "in SQL ms (p50)", "CPU ms (p50)",
        f"req/s ({c} clients)", f"p50 ms ({c})", f"p95 ms ({c})", "errors", "target",
    )
    lines = [
        f"### {run.title}",
        "",
        f"- date: {run.date:%Y-%m-%d %H:%M} UTC, commit {run.machine['commit']}",
        f"- machine: {run.machine['cpu']}; Python {run.machine['python']}, "
        f"SQLAlchemy {run.machine['sqlalchemy']}; load average at start {run.machine['load']}",
        f"- database: {run.server_version}; scale {run.tickets:,} tickets, {run.messages:,} messages"
        f" (seeded in {run.seed_seconds:.0f} s)",
        f"- server: {run.server}, on 127.0.0.1; client: http.client threads on the same "
        f"machine, keep-alive, reconnecting every {RECONNECT_EVERY} requests",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    lines += ["| " + " | ".join(cells) + " |" for cells in _cells(run)]
    return "\n".join(lines)


def record(path: Path, run: Run) -> Path:
    """Put the run's section into ``path``, replacing an earlier one of the same key."""
    begin, end = f"<!-- bench:{run.key} -->", f"<!-- /bench:{run.key} -->"
    section = f"{begin}\n{markdown(run)}\n{end}"
    text = path.read_text() if path.exists() else "# Benchmark results\n\n## Figures\n"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _m: section, text)
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)
    return path
