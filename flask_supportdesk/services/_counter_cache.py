"""The desk's counters, counted on demand and kept a few seconds per staff member.

The four counters (Open, Waiting admin, Waiting customer, Resolved) are a ``GROUP BY
status`` over every active ticket a staff member may handle. Its cost grows with the
active tickets: 1.0 ms at 10,000 tickets, 10.8 ms at a million (56,787 active), on every
page of the desk. Two ways to stop paying it per request:

**Counts maintained in the same transaction**, from the unit of work's events (a row
per status and scope, incremented and decremented with each change). Exact, but every
ticket change would update one of a handful of hot rows: concurrent replies, bulk
edits and inbound mail would queue on those row locks (on SQLite, on the one write
lock, for longer), so the desk's writes would be serialised to make its reads cheaper.
And a staff member's scope is not a sum of stored parts: it is their levels and
departments *or* assigned to them *or* filed by them, and never their own requests, so
each counter would still need a correction query per viewer.

**A short-lived cache of each staff member's counts** (this module), chosen: the count
runs at most once per :data:`~flask_supportdesk.config.SupportDeskConfig.counters_max_age`
seconds per staff member and process, whatever the page rate, and writes are not
touched. The price is staleness of a few seconds for changes made by others in other
processes, which a queue's counters can afford. Two rules keep it from being noticed:

- a change committed in this process clears the whole cache (after commit: a rolled
  back change clears nothing), so the next page counts again;
- the viewer's own changes show at once even when the next page is served by another
  process: the desk passes the time of the viewer's last change (kept in their
  session, see :func:`flask_supportdesk.blueprints.desk.note_own_changes`) and an entry
  counted before it is not used.

Per process, in memory: a cache another process need not see (it counts for itself).
"""

from __future__ import annotations

import dataclasses
import threading
import time
import typing as t

if t.TYPE_CHECKING:
    from ..models import Status


@dataclasses.dataclass(frozen=True)
class _Entry:
    counted_at: float  # wall clock (time.time) when the count began: vs. a session's change
    expires: float  # monotonic
    counts: dict[Status, int]


class CounterCache:
    """Counts by key (a staff member and their scope), each valid for a few seconds.

    A count is taken as: ``ticket = cache.start()``, count, ``cache.put(key, counts,
    ticket, max_age=...)``. The ticket carries the time the count started and the
    cache's generation then: a count that began before a :meth:`clear` (a change it may
    not have seen) is not kept.
    """

    #: Staff members kept per process; past it the cache starts again.
    MAX_ENTRIES = 4096

    def __init__(self) -> None:
        self._entries: dict[t.Hashable, _Entry] = {}
        self._generation = 0
        self._lock = threading.Lock()

    def get(self, key: t.Hashable, *, changed_at: float | None = None) -> dict[Status, int] | None:
        """The counts for ``key``, unless expired or counted before ``changed_at``.

        :param changed_at: when the viewer last changed a ticket (``time.time()``).
        """
        entry = self._entries.get(key)
        if entry is None or entry.expires <= time.monotonic():
            return None
        if changed_at is not None and entry.counted_at <= changed_at:
            return None
        return dict(entry.counts)

    def start(self) -> tuple[float, int]:
        """What :meth:`put` needs to know about a count that starts now."""
        return time.time(), self._generation

    def put(
        self,
        key: t.Hashable,
        counts: dict[Status, int],
        started: tuple[float, int],
        *,
        max_age: float,
    ) -> None:
        """Keep ``counts`` for ``key`` during ``max_age`` seconds (0: not at all).

        :param started: :meth:`start` as the count began.
        """
        counted_at, generation = started
        if max_age <= 0:
            return
        entry = _Entry(counted_at, time.monotonic() + max_age, dict(counts))
        with self._lock:
            if generation != self._generation:
                return  # a change was committed while counting: the count may miss it
            if len(self._entries) >= self.MAX_ENTRIES:
                self._entries.clear()
            self._entries[key] = entry

    def clear(self) -> None:
        """Forget every count (a ticket changed)."""
        with self._lock:
            self._generation += 1
            self._entries.clear()


V = t.TypeVar("V")


class KeptValue(t.Generic[V]):
    """One value (the store's departments), read on demand and kept a few seconds per
    process, with the counters' two rules: a change committed in this process clears
    it, and a value read before the viewer's own last change is read again.
    """

    def __init__(self) -> None:
        self._entry: tuple[float, float, V] | None = None  # expires, read at, value
        self._generation = 0
        self._lock = threading.Lock()

    def get(self, read: t.Callable[[], V], *, max_age: float, changed_at: float | None = None) -> V:
        """The kept value, or ``read()`` (kept ``max_age`` seconds; 0: never kept).

        :param changed_at: when the viewer last changed something (``time.time()``).
        """
        entry = self._entry
        if entry is not None and entry[0] > time.monotonic():
            if changed_at is None or entry[1] > changed_at:
                return entry[2]
        generation, read_at = self._generation, time.time()
        value = read()
        if max_age > 0:
            with self._lock:
                if generation == self._generation:  # no change committed while reading
                    self._entry = (time.monotonic() + max_age, read_at, value)
        return value

    def clear(self) -> None:
        """Forget the value (it changed)."""
        with self._lock:
            self._generation += 1
            self._entry = None
