"""HOSTILE.md H1: the database or the file storage fails in the middle of a reply with
three attachments. The caller gets 503 (507 when the storage is full) with
``Retry-After``, nothing is half-written (no message without its files, no file without
its row), and a retry with the same ``client_id`` succeeds exactly once."""

from __future__ import annotations

import contextlib
import errno
import typing as t

import pytest
import sqlalchemy as sa
from flask import Flask
from test_api import as_user
from test_api import multipart
from test_api import open_ticket
from test_api_hostile import error_of
from test_api_hostile import snapshot
from test_portal import PORTAL
from test_portal import post

import corpus
from conftest import login
from flask_supportdesk._state import get_state
from flask_supportdesk.hooks import hookimpl
from flask_supportdesk.models import Message

THREE_FILES = [("a.png", corpus.png()), ("b.pdf", corpus.pdf()), ("c.txt", b"plain text")]


class FailingStorage:
    """Stores the first ``succeed`` files through the built-in storage, then fails."""

    def __init__(self, error: OSError, succeed: int = 2) -> None:
        self.error, self.succeed, self.calls = error, succeed, 0

    @hookimpl(tryfirst=True)
    def supportdesk_store_attachment(self) -> str | None:
        self.calls += 1
        if self.calls > self.succeed:
            raise self.error
        return None  # the built-in local storage stores it


@contextlib.contextmanager
def failing_statements(app: Flask, prefix: str) -> t.Iterator[list[str]]:
    """Every statement starting with ``prefix`` fails as a dropped connection does."""
    failed: list[str] = []
    with app.app_context():
        engine = get_state().db.engine

    def fail(conn: t.Any, cursor: t.Any, statement: str, *args: t.Any) -> None:
        if statement.lstrip().upper().startswith(prefix):
            failed.append(statement)
            raise sa.exc.OperationalError(statement, {}, Exception("server closed the connection"))

    sa.event.listen(engine, "before_cursor_execute", fail)
    try:
        yield failed
    finally:
        sa.event.remove(engine, "before_cursor_execute", fail)


def reply_with_three_files(api: t.Any, number: str, client_id: str = "retry-1") -> t.Any:
    return api.post(
        f"/tickets/{number}/messages",
        **multipart({"body": "Three files", "client_id": client_id}, THREE_FILES),
    )


def messages_with_body(app: Flask, body: str) -> list[Message]:
    with app.app_context():
        stmt = sa.select(Message).where(Message.body == body)
        return list(get_state().db.session.scalars(stmt))


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), 507, "insufficient_storage"),
        (PermissionError(errno.EACCES, "Permission denied"), 503, "service_unavailable"),
    ],
)
def test_storage_failure_on_the_third_file(app, error, status, code) -> None:
    alice = as_user(app, 1)
    number = open_ticket(alice)["number"]
    before = snapshot(app)
    storage = FailingStorage(error)
    with app.app_context():
        get_state().hooks.pm.register(storage)
    response = reply_with_three_files(alice, number)
    error_of(response, status, code)
    assert storage.calls == 3
    if status == 503:
        assert response.headers["Retry-After"] == "5"
    assert snapshot(app) == before  # the two stored files were deleted again

    with app.app_context():
        get_state().hooks.pm.unregister(storage)
    retried = reply_with_three_files(alice, number)
    assert retried.status_code == 201, retried.json
    assert len(retried.json["attachments"]) == 3
    after = snapshot(app)
    assert after["counts"]["Message"] == before["counts"]["Message"] + 1
    assert len(after["files"]) == len(before["files"]) + 4  # and the PNG's thumbnail


def test_database_failure_while_writing_the_attachment_rows(app) -> None:
    alice = as_user(app, 1)
    number = open_ticket(alice)["number"]
    before = snapshot(app)
    with failing_statements(app, "INSERT INTO SUPPORTDESK_ATTACHMENT") as failed:
        response = reply_with_three_files(alice, number)
    assert failed, "the fault was never injected"
    error_of(response, 503, "service_unavailable")
    assert response.headers["Retry-After"] == "5"
    # Rolled back: no message without its files, and the three stored files deleted.
    assert snapshot(app) == before

    first = reply_with_three_files(alice, number)
    again = reply_with_three_files(alice, number)  # the client's retry of the same send
    assert first.status_code == 201 and again.status_code == 200
    assert first.json["id"] == again.json["id"]
    assert len(messages_with_body(app, "Three files")) == 1
    assert len(snapshot(app)["files"]) == len(before["files"]) + 4  # and the PNG's thumbnail


def test_database_failure_on_a_read_is_a_json_503(app) -> None:
    alice = as_user(app, 1)
    open_ticket(alice)
    with failing_statements(app, "SELECT"):
        response = alice.get("/tickets")
    error_of(response, 503, "service_unavailable")
    assert response.headers["Retry-After"] == "5"
    assert alice.get("/tickets").status_code == 200  # the next request works again


def test_portal_reply_during_a_database_failure_is_an_error_page(app, client, alice) -> None:
    number = open_ticket(as_user(app, alice))["number"]
    login(client, alice)
    before = snapshot(app)
    with failing_statements(app, "INSERT INTO SUPPORTDESK_MESSAGE"):
        response = post(client, f"{PORTAL}/tickets/{number}/reply", {"body": "Lost?"})
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    page = response.get_data(as_text=True)
    assert "Briefly unavailable" in page and "Nothing was saved" in page
    assert "server closed the connection" not in page  # no internals on the page
    assert snapshot(app) == before
    assert post(client, f"{PORTAL}/tickets/{number}/reply", {"body": "Lost?"}).status_code == 302
    assert len(messages_with_body(app, "Lost?")) == 1
