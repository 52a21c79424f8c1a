"""Serve the bench store with gunicorn on 127.0.0.1, in a subprocess we start and stop.

gunicorn's threaded worker (``gthread``) keeps connections alive, as a production
deployment behind a proxy does; two worker processes match the machine's two cores.
"""

from __future__ import annotations

import contextlib
import http.client
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
import typing as t
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent


def free_port() -> int:
    """A TCP port nobody listens on now, on the loopback interface."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_up(port: int, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}; see its log")
        with contextlib.suppress(OSError):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/_bench/ping")
            if conn.getresponse().status == 200:
                conn.close()
                return
        time.sleep(0.1)
    raise RuntimeError(f"gunicorn did not answer on port {port} within {timeout:.0f} s")


@contextlib.contextmanager
def serve(
    database_url: str,
    *,
    workers: int = 2,
    threads: int = 4,
    log_path: Path | None = None,
    port: int | None = None,
) -> t.Iterator[int]:
    """Run gunicorn serving ``benchapp`` on ``database_url``; yields its port.

    :param port: where to listen (a firewall or a profiler may need a known one);
        default: a free port.
    """
    if importlib.util.find_spec("gunicorn") is None:
        raise SystemExit("The benchmark serves the store with gunicorn: pip install 'flask-supportdesk[bench]'")
    if port is None:
        port = free_port()
    else:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError as exc:
                raise SystemExit(f"--port {port}: cannot listen there ({exc.strerror})") from None
    env = dict(os.environ, BENCH_DATABASE_URL=database_url, BENCH_COUNT_QUERIES="1")
    command = [
        sys.executable, "-m", "gunicorn",
        "--bind", f"127.0.0.1:{port}",
        "--worker-class", "gthread",
        "--workers", str(workers),
        "--threads", str(threads),
        "--keep-alive", "30",
        "--graceful-timeout", "5",
        "--pythonpath", str(BENCH_DIR),
        "benchapp:create_app()",
    ]
    log = open(log_path, "wb") if log_path else subprocess.DEVNULL  # noqa: SIM115 - closed in finally
    process = subprocess.Popen(command, env=env, stdout=log, stderr=log, cwd=BENCH_DIR)
    try:
        _wait_until_up(port, process, timeout=60)
        yield port
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if log is not subprocess.DEVNULL:
            log.close()
