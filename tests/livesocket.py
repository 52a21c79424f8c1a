"""A real server on loopback for the live tests, and real python-socketio clients."""

from __future__ import annotations

import contextlib
import threading
import typing as t

import socketio
from flask import Flask
from werkzeug.serving import make_server

NAMESPACE = "/supportdesk"


@contextlib.contextmanager
def serve(app: Flask) -> t.Iterator[str]:
    """Serve ``app`` (HTTP and Socket.IO, threading mode) on a free loopback port."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


class Recorder:
    """A python-socketio client that records every server event it receives."""

    def __init__(self) -> None:
        self.client = socketio.Client(reconnection=False)
        self.events: list[tuple[str, t.Any]] = []
        self._arrived = threading.Condition()
        self.client.on("*", self._record, namespace=NAMESPACE)

    def _record(self, event: str, data: t.Any = None) -> None:
        with self._arrived:
            self.events.append((event, data))
            self._arrived.notify_all()

    def connect(
        self, url: str, *, token: str | None = None, cookie: str | None = None, **kwargs: t.Any
    ) -> Recorder:
        headers = {"Cookie": cookie} if cookie else {}
        self.client.connect(
            url,
            namespaces=[NAMESPACE],
            auth={"token": token} if token else None,
            headers=headers,
            transports=["websocket"],
            wait_timeout=5,
            **kwargs,
        )
        return self

    def call(self, event: str, data: t.Any = None, timeout: float = 5) -> t.Any:
        return self.client.call(event, data, namespace=NAMESPACE, timeout=timeout)

    def wait_for(
        self, event: str, predicate: t.Callable[[t.Any], bool] = lambda d: True, timeout: float = 5
    ) -> t.Any:
        """The first recorded ``event`` whose data passes ``predicate`` (waiting for it)."""
        with self._arrived:
            found = self._arrived.wait_for(
                lambda: (
                    next((d for e, d in self.events if e == event and predicate(d)), None)
                    is not None
                ),
                timeout,
            )
            if not found:
                raise AssertionError(f"no {event!r} event arrived; got {self.events!r}")
            return next(d for e, d in self.events if e == event and predicate(d))

    def named(self, event: str) -> list[t.Any]:
        return [d for e, d in self.events if e == event]

    def disconnect(self) -> threading.Thread:
        """Disconnect in the background: the server hears of it at once, but the
        client then waits 3 s for werkzeug to answer its WebSocket close frame."""
        thread = threading.Thread(target=self.client.disconnect, daemon=True)
        thread.start()
        return thread


def session_cookie(http: t.Any, url: str, user_id: int) -> str:
    """Log ``user_id`` in over real HTTP and return the Cookie header that carries it."""
    response = http.get(f"{url}/_test/login/{user_id}")
    assert response.status_code == 200, response.text
    return "; ".join(f"{c.name}={c.value}" for c in http.cookies)
