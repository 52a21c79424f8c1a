"""Delivering a change's notifications in the background of the process that wrote them.

With ``SUPPORTDESK_DELIVER_AFTER_COMMIT`` (the default), the notifications a request
wrote are handed to one daemon thread per app after commit, so the request answers at
once: an SMTP server that is slow or down never holds a reply up, and the request pays
only for writing the outbox rows (``bench/outbox.py``). The thread starts with the first
notification and then also sends, every ``SUPPORTDESK_DELIVER_INTERVAL`` seconds, what is
due again (retries after a failure, rows another process left behind), so a small store
needs no separate worker. Several processes each run one; a row is claimed by one of
them at a time (:func:`~flask_supportdesk.services.notifications.deliver`).

Nothing is lost when the process stops: it first finishes what it was handed (for up to
ten seconds), and anything left is still queued in the outbox, for the next process or
``flask supportdesk deliver``.
``SUPPORTDESK_DELIVER_IN_BACKGROUND = False`` delivers in the request instead, after
its commit (deterministic: tests use it).
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
import typing as t

from flask import Flask

if t.TYPE_CHECKING:
    from .._state import State

log = logging.getLogger("flask_supportdesk")

_STOP = object()


class DeliveryThread:
    """One app's background deliverer: a daemon thread reading notification ids."""

    def __init__(self, app: Flask, interval: float) -> None:
        self.app = app
        self.interval = interval
        self._queue: queue.SimpleQueue[t.Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._exit_registered = False
        self._started_once = False

    def submit(self, ids: t.Sequence[int]) -> None:
        """Deliver the notifications ``ids`` soon (starting the thread if need be)."""
        self._queue.put(list(ids))
        self.start()

    def start(self) -> None:
        """Start the thread unless it runs: it then also sends what other processes left
        queued (the app's first request starts it, so a restarted server catches up)."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(
                target=self._run, name="supportdesk-delivery", daemon=True
            )
            self._queue.put(None)  # a first round of what is due, at once
            self._thread.start()
            if not self._exit_registered:
                # A process that ends (a CLI command, a server stopping) first finishes
                # what it holds: a mail cut off mid-send would be sent again later.
                atexit.register(self.stop)
                self._exit_registered = True

    def start_once(self, state: State) -> None:
        """:meth:`start` the first time it is called, if anything delivers notifications
        (a ``before_request`` function: every later call returns at once)."""
        if self._started_once:
            return
        self._started_once = True
        if state.delivers_notifications:
            self.start()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything handed over so far was tried; whether it was in time."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                return True
        done = threading.Event()
        self._queue.put(done)
        return done.wait(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Finish what was handed over, then end the thread."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None and thread.is_alive():
            self._queue.put(_STOP)
            thread.join(timeout)

    def _take(self, first: t.Any) -> tuple[list[int] | None, list[threading.Event], bool]:
        # The first item and everything handed over since, as one batch.
        ids: list[int] | None = None
        waiting: list[threading.Event] = []
        stop = False
        item = first
        while True:
            if item is _STOP:
                stop = True
            elif isinstance(item, threading.Event):
                waiting.append(item)
            elif item is not None:
                ids = [*(ids or ()), *item]
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return ids, waiting, stop

    def _run(self) -> None:
        from .notifications import deliver

        while True:
            try:
                first = self._queue.get(timeout=self.interval)
            except queue.Empty:
                first = None  # a quiet while: send what has come due meanwhile
            ids, waiting, stop = self._take(first)
            if ids or (first is None and not stop):
                try:
                    with self.app.app_context():
                        if ids:
                            deliver(limit=len(ids), ids=ids)
                        else:
                            _quiet_round(deliver)
                except Exception:  # a bug, or the database gone: the rows wait in the outbox
                    log.exception("Background delivery of notifications failed")
            for event in waiting:
                event.set()
            if stop:
                return


def _quiet_round(deliver: t.Callable[[], t.Any]) -> None:
    """A round of the thread's timer: the unanswered chats fall back to the ticket queue
    (their notices are mail too), then everything due is sent."""
    from .chat_inbox import fall_back_unanswered

    try:
        fall_back_unanswered()
    except Exception:  # the sweep must never stop the mail
        log.exception("The unanswered-chat fallback failed")
    deliver()
