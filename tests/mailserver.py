"""A real SMTP server on loopback (aiosmtpd) and the helpers to read what it received
as a person would: every test of mail out or in shares them (fixture ``smtpd`` in
conftest)."""

from __future__ import annotations

import dataclasses
import email
import email.message
import email.policy
import pathlib
import socket
import threading
import typing as t
import urllib.parse
import uuid

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from flask import Flask

from conftest import build_app
from flask_supportdesk._state import get_state
from flask_supportdesk.models import Notification

PUBLIC_URL = "http://localhost"
#: Real mails of several clients (tests/mail/*.eml), with ``__PLACEHOLDERS__`` to fill.
MAIL_FOLDER = pathlib.Path(__file__).parent / "mail"


# -------------------------------------------------------------------------------------
# A real SMTP server
# -------------------------------------------------------------------------------------


@dataclasses.dataclass
class Received:
    """One mail as the server got it."""

    rcpt: list[str]
    raw: bytes
    #: The client's address: one per SMTP connection.
    peer: t.Any = None

    @property
    def message(self) -> email.message.EmailMessage:
        return t.cast(
            email.message.EmailMessage,
            email.message_from_bytes(self.raw, policy=email.policy.default),
        )

    @property
    def text(self) -> str:
        part = self.message.get_body(("plain",))
        assert part is not None
        return t.cast(str, part.get_content())

    @property
    def html(self) -> str:
        part = self.message.get_body(("html",))
        assert part is not None
        return t.cast(str, part.get_content())

    def everything(self) -> str:
        """Every header and every decoded part, as one text."""
        message = self.message
        parts = [f"{k}: {v}" for k, v in message.items()]
        for part in message.walk():
            if not part.is_multipart():
                parts.append(str(part.get_content()))
        return "\n".join(parts) + self.raw.decode("utf-8", "replace")


class _Handler:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: t.Any, session: t.Any, envelope: t.Any) -> str:
        with self.lock:
            self.received.append(
                Received(list(envelope.rcpt_tos), bytes(envelope.content), tuple(session.peer))
            )
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SMTPServer:
    """aiosmtpd on loopback, which a test can stop and start again on the same port."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.handler = _Handler()
        self.controller: Controller | None = None

    def start(self, **options: t.Any) -> None:
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, **options)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def mails(self) -> list[Received]:
        with self.handler.lock:
            return list(self.handler.received)

    def to(self, address: str) -> list[Received]:
        return [m for m in self.mails if address in m.rcpt]

    def clear(self) -> None:
        with self.handler.lock:
            self.handler.received.clear()


def mail_app(
    request: pytest.FixtureRequest, tmp_path: t.Any, smtpd: SMTPServer, **config: t.Any
) -> t.Iterator[Flask]:
    """The test store, mailing through ``smtpd`` with links to :data:`PUBLIC_URL`."""
    yield from build_app(
        request,
        tmp_path,
        SUPPORTDESK_MAIL_SERVER="127.0.0.1",
        SUPPORTDESK_MAIL_PORT=smtpd.port,
        SUPPORTDESK_MAIL_DEFAULT_SENDER="Store Support <support@store.example>",
        SUPPORTDESK_PUBLIC_URL=PUBLIC_URL,
        SUPPORTDESK_MAIL_TIMEOUT=5,
        **config,
    )


def outbox_rows(app: Flask) -> list[Notification]:
    with app.app_context():
        session = get_state().db.session
        rows = list(session.scalars(sa.select(Notification).order_by(Notification.id)))
        session.expunge_all()
        return rows


def url_path(url: str) -> str:
    assert url.startswith(PUBLIC_URL + "/"), url
    return urllib.parse.urlsplit(url).path


def mail_link(mail: Received) -> str:
    links = [w for w in mail.text.split() if w.startswith(PUBLIC_URL)]
    assert links, mail.text
    assert f'href="{links[0]}"' in mail.html
    return url_path(links[0])


def portal_ticket(
    client: t.Any, subject: str = "Parcel missing", body: str = "It never came."
) -> str:
    from conftest import csrf_token

    response = client.post(
        "/support/new",
        data={"subject": subject, "body": body, "category": "general",
              "csrf_token": csrf_token(client)},
    )  # fmt: skip
    assert response.status_code == 302, response.get_data(as_text=True)
    return response.headers["Location"].rstrip("/").rsplit("/", 1)[1]


def eml(name: str, **values: str) -> bytes:
    """A mail of tests/mail with its ``__FROM__``, ``__TO__``, ``__IN_REPLY_TO__``,
    ``__REFERENCES__`` and ``__MESSAGE_ID__`` filled in (Alice to the support address,
    answering nothing, a fresh Message-ID, unless given)."""
    raw = (MAIL_FOLDER / name).read_bytes()
    defaults = {
        "FROM": "Alice Customer <alice@example.com>",
        "TO": "support@store.example",
        "IN_REPLY_TO": "",
        "REFERENCES": "",
        "MESSAGE_ID": f"<{uuid.uuid4()}@mail.example.com>",
    }
    for key, value in {**defaults, **values}.items():
        raw = raw.replace(f"__{key}__".encode(), value.encode())
    assert b"__" not in raw.split(b"\n\n", 1)[0], "a placeholder is left"
    return raw
