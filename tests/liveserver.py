"""One server process of the test store, for the scale-out and gevent tests.

    python tests/liveserver.py serve '{"SQLALCHEMY_DATABASE_URI": ..., ...}'
    python tests/liveserver.py post  '{...}' '{"ticket": ..., "user": 10, "body": ...}'

``serve`` prints ``PORT <n>`` once it listens on a free loopback port and serves until it
is terminated: werkzeug's threaded server, or gevent's ``WSGIServer`` when the config's
``SUPPORTDESK_SOCKETIO_ASYNC_MODE`` is ``gevent`` (monkey-patched before anything else is
imported). ``post`` is a process without a Socket.IO server (a CLI command, a worker):
it posts one message through the services and exits; its live events go through the
message queue the config names.
"""

from __future__ import annotations

import json
import sys
import typing as t


def _config(arg: str) -> dict[str, t.Any]:
    config = json.loads(arg)
    assert isinstance(config, dict)
    return config


def main(argv: list[str]) -> None:
    command, config = argv[1], _config(argv[2])
    gevent = config.get("SUPPORTDESK_SOCKETIO_ASYNC_MODE") == "gevent"
    if gevent:
        from gevent import monkey

        monkey.patch_all()
    sys.path.insert(0, __file__.rsplit("/", 1)[0])
    import hostapp

    app = hostapp.create_app(config)
    if command == "post":
        from flask_supportdesk.services import messages

        job = json.loads(argv[3])
        with app.test_request_context():
            posted = messages.post(
                hostapp.USERS[job["user"]].actor, job["ticket"], job["body"],
                channel=job.get("channel", "public"),
            )
            print("POSTED", posted.message.id, flush=True)
        return
    if gevent:
        from gevent.pywsgi import WSGIServer

        server = WSGIServer(("127.0.0.1", 0), app, log=None)
        server.start()
        print("PORT", server.server_port, flush=True)
        server.serve_forever()
    else:
        from werkzeug.serving import make_server

        httpd = make_server("127.0.0.1", 0, app, threaded=True)
        print("PORT", httpd.server_port, flush=True)
        httpd.serve_forever()


if __name__ == "__main__":
    main(sys.argv)
