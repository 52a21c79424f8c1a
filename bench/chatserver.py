"""One server process of the chat benchmark (``bench/chat.py`` starts it).

    python bench/chatserver.py desk '{"database": ..., "config": {...}, "async_mode": "gevent"}'
    python bench/chatserver.py echo '{"async_mode": "gevent"}'

``desk`` serves the bench store (``benchapp.py``) with the desk's Socket.IO namespace;
``echo`` is the floor: bare Flask-SocketIO on the same namespace, with the same server,
async mode and message shape, that stores nothing and checks nothing (``join`` enters a
room, ``send`` emits the body to it). Both print ``PORT <n> PID <pid>`` once they
listen on a free loopback port. Under ``gevent`` the process is monkey-patched first
and served by gevent's ``WSGIServer``; under ``threading`` by werkzeug's threaded server.
With ``"profile": "<file>"`` the desk's server writes a cProfile of the whole process
to that file when it is terminated.
"""

from __future__ import annotations

import itertools
import json
import signal
import sys
import typing as t


def _echo_app(async_mode: str) -> t.Any:
    from flask import Flask
    from flask import request
    from flask_socketio import SocketIO
    from flask_socketio import join_room

    app = Flask(__name__)
    socketio = SocketIO(app, async_mode=async_mode)
    ids = itertools.count(1)

    @socketio.on("join", namespace="/supportdesk")
    def join(data: dict[str, t.Any]) -> dict[str, t.Any]:
        join_room(data["ticket"])
        return {"ok": True}

    @socketio.on("send", namespace="/supportdesk")
    def send(data: dict[str, t.Any]) -> dict[str, t.Any]:
        message = {"id": next(ids), "body": data["body"], "author": {"id": request.sid}}
        socketio.emit(
            "message", {"ticket": data["ticket"], "message": message},
            to=data["ticket"], namespace="/supportdesk",
        )
        return {"ok": True, "message": message}

    return app


def main(argv: list[str]) -> None:
    """Serve the ``desk`` or ``echo`` app until terminated (see the module doc)."""
    kind, options = argv[1], json.loads(argv[2])
    async_mode = options.get("async_mode", "gevent")
    if async_mode == "gevent":
        from gevent import monkey

        monkey.patch_all()
    sys.path.insert(0, __file__.rsplit("/", 1)[0])
    profiler = None
    if options.get("profile"):
        import cProfile

        profiler = cProfile.Profile()
    if kind == "desk":
        import benchapp

        config = {"SUPPORTDESK_SOCKETIO_ASYNC_MODE": async_mode, **options.get("config", {})}
        app = benchapp.create_app(options["database"], config)
    else:
        app = _echo_app(async_mode)

    def stop(*_args: t.Any) -> None:
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(options["profile"])
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    if profiler is not None:
        profiler.enable()
    if async_mode == "gevent":
        from gevent.pywsgi import WSGIServer

        server = WSGIServer(("127.0.0.1", 0), app, log=None, backlog=2048)
        server.start()
        print("PORT", server.server_port, "PID", __import__("os").getpid(), flush=True)
        server.serve_forever()
    else:
        from werkzeug.serving import WSGIRequestHandler
        from werkzeug.serving import make_server

        class Quiet(WSGIRequestHandler):
            def log_request(self, *args: t.Any, **kwargs: t.Any) -> None:
                pass

        httpd = make_server("127.0.0.1", 0, app, threaded=True, request_handler=Quiet)
        print("PORT", httpd.server_port, "PID", __import__("os").getpid(), flush=True)
        httpd.serve_forever()


if __name__ == "__main__":
    main(sys.argv)
