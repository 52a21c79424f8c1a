"""Uploads through the services (HOSTILE §4 D1, D2, D4, D8): every allowed type is taken,
everything else is refused, and a refused or failed upload leaves no row and no file."""

from __future__ import annotations

import os
import stat
import typing as t

import pytest
import sqlalchemy as sa

import corpus
from flask_supportdesk._state import get_state
from flask_supportdesk.errors import FileTypeNotAllowed
from flask_supportdesk.errors import PayloadTooLarge
from flask_supportdesk.errors import TooManyAttachments
from flask_supportdesk.errors import ValidationError
from flask_supportdesk.models import Attachment
from flask_supportdesk.models import Message
from flask_supportdesk.models import Ticket
from flask_supportdesk.services import messages
from flask_supportdesk.services import tickets
from flask_supportdesk.services.attachments import Upload
from flask_supportdesk.services.attachments import open_attachment
from flask_supportdesk.services.attachments import safe_filename

pytestmark = pytest.mark.usefixtures("ctx")


def count(model: type) -> int:
    return get_state().db.session.scalar(sa.select(sa.func.count()).select_from(model))


def stored_files() -> list[str]:
    folder = get_state().config.attachment_folder
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


def snapshot() -> tuple[int, int, int, list[str]]:
    return count(Ticket), count(Message), count(Attachment), stored_files()


def attachments_of(ticket: Ticket) -> list[Attachment]:
    stmt = sa.select(Attachment).where(Attachment.ticket_id == ticket.id).order_by(Attachment.id)
    return list(get_state().db.session.scalars(stmt))


def open_with(actor: t.Any, *files: tuple[str, bytes]) -> Ticket:
    return tickets.open_ticket(
        actor,
        subject="Photos of the damage",
        body="See the files.",
        attachments=[Upload.from_bytes(name, data) for name, data in files],
    )


@pytest.mark.parametrize("name", sorted(corpus.GENUINE))
def test_every_allowed_type_with_genuine_content_is_stored(alice, name) -> None:
    data = corpus.GENUINE[name]()
    ticket = open_with(alice, (name, data))
    (attachment,) = attachments_of(ticket)
    assert attachment.filename == name and attachment.size == len(data)
    stored, stream = open_attachment(alice, attachment.id)
    with stream:
        assert stream.read() == data
    assert stored.content_type.split(";")[0] not in {"text/html", "image/svg+xml"}


@pytest.mark.parametrize(("name", "data"), corpus.DISGUISED, ids=[n for n, _ in corpus.DISGUISED])
def test_disallowed_or_disguised_files_are_refused_and_nothing_is_written(alice, name, data) -> None:
    before = snapshot()
    with pytest.raises(FileTypeNotAllowed) as info:
        open_with(alice, ("ok.txt", b"fine\n"), (name, data))
    assert info.value.status == 415 and info.value.code == "file_type_not_allowed"
    assert snapshot() == before


def test_sixth_attachment_refuses_the_whole_message(alice) -> None:
    before = snapshot()
    files = [(f"note{i}.txt", b"text\n") for i in range(6)]
    with pytest.raises(TooManyAttachments) as info:
        open_with(alice, *files)
    assert info.value.status == 400 and info.value.code == "too_many_attachments"
    assert snapshot() == before
    ticket = open_with(alice, *files[:5])
    assert len(attachments_of(ticket)) == 5


@pytest.mark.settings(max_attachment_size=1024)
def test_size_limit_is_exact(alice) -> None:
    before = snapshot()
    with pytest.raises(PayloadTooLarge) as info:
        open_with(alice, ("big.txt", b"x" * 1025))
    assert info.value.status == 413
    assert snapshot() == before
    ticket = open_with(alice, *[(f"f{i}.txt", b"x" * 1024) for i in range(5)])
    assert [a.size for a in attachments_of(ticket)] == [1024] * 5


def test_empty_file_is_a_validation_error(alice) -> None:
    before = snapshot()
    with pytest.raises(ValidationError):
        open_with(alice, ("empty.txt", b""))
    assert snapshot() == before


def test_a_failing_transaction_removes_the_files_it_stored(alice, app, monkeypatch) -> None:
    ticket = tickets.open_ticket(alice, subject="Receipt", body="Attached.")
    before = snapshot()

    def broken_flush(*args: t.Any, **kwargs: t.Any) -> None:
        raise RuntimeError("database went away")

    # The files are written, then the commit fails: they must be deleted again.
    monkeypatch.setattr(get_state().db.session, "commit", broken_flush)
    with pytest.raises(RuntimeError):
        messages.post_message(
            alice, ticket.number, "Two files",
            attachments=[Upload.from_bytes("a.txt", b"a\n"), Upload.from_bytes("b.pdf", corpus.pdf())],
        )
    monkeypatch.undo()
    get_state().db.session.rollback()
    assert snapshot() == before


def test_stored_files_are_private_to_the_app(alice) -> None:
    open_with(alice, ("a.txt", b"a\n"), ("b.png", corpus.png()))
    folder = get_state().config.attachment_folder
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    for name in stored_files():
        assert stat.S_IMODE(os.stat(os.path.join(folder, name)).st_mode) == 0o600
        assert name.isalnum()  # a random key, never the uploaded name


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("../../etc/passwd.txt", "passwd.txt"),
        ("C:\\Users\\me\\report.pdf", "report.pdf"),
        ("invoice\u202egpj.exe.txt", "invoicegpj.exe.txt"),  # bidi override removed
        ("<script>alert(1)</script>.txt", "script.txt"),  # "/" of </script> starts the name
        ("..hidden.txt", "hidden.txt"),
        ("a" * 300 + ".pdf", "a" * 116 + ".pdf"),
    ],
)
def test_file_names_are_made_safe(raw, safe) -> None:
    assert safe_filename(raw) == safe


def test_a_missing_file_is_not_found_not_an_error(alice) -> None:
    from flask_supportdesk.errors import NotFound

    ticket = open_with(alice, ("a.txt", b"a\n"))
    attachment = attachments_of(ticket)[0]
    for name in stored_files():
        os.unlink(os.path.join(get_state().config.attachment_folder, name))
    with pytest.raises(NotFound):
        open_attachment(alice, attachment.id)
