"""Uploads: checked by count, size, extension and sniffed content; stored via hooks.

An upload is validated completely before anything is stored, and stored files are
deleted again if the transaction that would reference them rolls back, so a refused or
failed message leaves neither rows nor files behind.
"""

from __future__ import annotations

import dataclasses
import errno
import functools
import hashlib
import io
import os
import re
import typing as t
import unicodedata

import filetype
from flask import current_app

from .. import policy
from .._state import get_state
from ..errors import FileTypeNotAllowed
from ..errors import InsufficientStorage
from ..errors import NotFound
from ..errors import PayloadTooLarge
from ..errors import ServiceUnavailable
from ..errors import TooManyAttachments
from ..errors import ValidationError
from ..i18n import gettext as _
from ..models import Attachment
from ..models import Message
from ..values import Actor
from . import _validate
from ._uow import UnitOfWork
from .thumbnails import THUMBNAIL_TYPE
from .thumbnails import has_thumbnail
from .thumbnails import make_thumbnail

#: Sniffed kinds (filetype's extension names, or "text") accepted for each extension.
#: OOXML files are zip archives; a zip that filetype cannot tell apart is still accepted.
_ACCEPTED_KINDS: dict[str, frozenset[str]] = {
    "jpg": frozenset({"jpg"}),
    "jpeg": frozenset({"jpg"}),
    "png": frozenset({"png"}),
    "webp": frozenset({"webp"}),
    # Not in the default SUPPORTDESK_ALLOWED_EXTENSIONS; a host may allow it.
    "gif": frozenset({"gif"}),
    "pdf": frozenset({"pdf"}),
    "doc": frozenset({"doc"}),
    "xls": frozenset({"xls"}),
    "docx": frozenset({"docx", "zip"}),
    "xlsx": frozenset({"xlsx", "zip"}),
    "zip": frozenset({"zip", "docx", "xlsx"}),
    "csv": frozenset({"text"}),
    "txt": frozenset({"text"}),
}

#: The Content-Type an attachment is served with. Never HTML, SVG or script.
CONTENT_TYPES = {
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "gif": "image/gif",
    "pdf": "application/pdf",
    "doc": "application/msword",
    "xls": "application/vnd.ms-excel",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "zip": "application/zip",
    "csv": "text/csv; charset=utf-8",
    "txt": "text/plain; charset=utf-8",
}

# Text that a browser (or a careless viewer) would treat as a document or script.
_MARKUP = re.compile(rb"^\s*<(\?xml|!doctype|html|svg|script|head|body|iframe|!--)", re.I)
# Path separators, characters Windows forbids, controls, bidi controls and invisible
# characters; U+200C/U+200D stay (Persian words and emoji sequences need them).
_UNSAFE_NAME = re.compile(
    r"[\x00-\x1f\x7f-\x9f/\\:*?\"<>|"
    r"\u061c\u200b\u200e\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]"
)


@dataclasses.dataclass
class Upload:
    """A file as a surface received it: a name and a binary stream."""

    filename: str
    stream: t.BinaryIO

    @classmethod
    def from_bytes(cls, filename: str, data: bytes) -> Upload:
        """An upload from bytes in memory: for the CLI, the tests and plugins."""
        return cls(filename, io.BytesIO(data))


@dataclasses.dataclass
class CheckedUpload:
    """An upload that passed every check, ready to store."""

    filename: str
    extension: str
    content_type: str
    data: bytes
    sha256: str
    #: A re-encoded preview for images (:mod:`.thumbnails`), else ``None``.
    thumbnail: bytes | None = None


def safe_filename(name: str) -> str:
    """A display name without paths, control or bidi characters; at most 120 characters."""
    name = unicodedata.normalize("NFKC", name or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE_NAME.sub("", name).strip().lstrip(".").strip()
    if len(name) > 120:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 119 - len(ext)] + dot + ext) if dot and len(ext) <= 10 else name[:120]
    return name


def _sniff(data: bytes) -> str | None:
    kind = filetype.guess(data[:8192] if len(data) > 8192 else data)
    if kind is not None:
        return str(kind.extension)
    if b"\x00" in data:
        return None
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if _MARKUP.match(data.removeprefix(b"\xef\xbb\xbf")):
        return "markup"
    return "text"


def check_uploads(uploads: t.Sequence[Upload]) -> list[CheckedUpload]:
    """Validate every upload; nothing is stored.

    :raises TooManyAttachments: more than ``SUPPORTDESK_MAX_ATTACHMENTS``.
    :raises PayloadTooLarge: a file over ``SUPPORTDESK_MAX_ATTACHMENT_SIZE``.
    :raises FileTypeNotAllowed: an extension off the allow-list, or content that is not
        what the extension says.
    :raises ValidationError: an empty file or a name with nothing left after cleaning.
    """
    config = get_state().config
    if len(uploads) > config.max_attachments:
        raise TooManyAttachments(
            _("At most %(num)s attachments per message.", num=config.max_attachments),
            fields={"files": _("At most %(num)s files.", num=config.max_attachments)},
        )
    checked = []
    for upload in uploads:
        # Refused rather than stripped: a name that hides its real text is an attack
        # (CVE-2026-28289 slipped "\u200b.htaccess" past a check that ran before stripping).
        _validate.storable(upload.filename or "", "files")
        _validate.no_deceptive(upload.filename or "", "files")
        name = safe_filename(upload.filename)
        stem, dot, ext = name.rpartition(".")
        ext = ext.lower() if dot else ""
        if not stem or not ext:
            raise FileTypeNotAllowed(
                _(
                    "%(name)s has no file type. Allowed: %(types)s.",
                    name=name or _("A file"),
                    types=", ".join(config.allowed_extensions),
                ),
                fields={"files": _("File type not allowed.")},
            )
        if ext not in config.allowed_extensions or ext not in _ACCEPTED_KINDS:
            raise FileTypeNotAllowed(
                _(
                    "%(name)s: .%(ext)s files are not allowed. Allowed: %(types)s.",
                    name=name,
                    ext=ext,
                    types=", ".join(config.allowed_extensions),
                ),
                fields={"files": _("File type not allowed.")},
            )
        # Read one byte past the limit: enough to refuse without reading a huge stream.
        data = upload.stream.read(config.max_attachment_size + 1)
        if len(data) > config.max_attachment_size:
            raise PayloadTooLarge(
                _(
                    "%(name)s is larger than %(size)s KiB.",
                    name=name,
                    size=config.max_attachment_size // 1024,
                ),
                fields={"files": _("File too large.")},
            )
        if not data:
            raise ValidationError(
                _("%(name)s is empty.", name=name), fields={"files": _("Empty file.")}
            )
        kind = _sniff(data)
        if kind not in _ACCEPTED_KINDS[ext]:
            raise FileTypeNotAllowed(
                _("%(name)s does not contain what a .%(ext)s file should.", name=name, ext=ext),
                fields={"files": _("File content does not match its type.")},
            )
        checked.append(
            CheckedUpload(
                filename=name,
                extension=ext,
                content_type=CONTENT_TYPES[ext],
                data=data,
                sha256=hashlib.sha256(data).hexdigest(),
                # Made here, before any transaction starts: decoding takes a moment.
                thumbnail=make_thumbnail(data, CONTENT_TYPES[ext]),
            )
        )
    return checked


def attach(uow: UnitOfWork, message: Message, uploads: t.Sequence[CheckedUpload]) -> None:
    """Store checked uploads and add their rows to ``message`` inside ``uow``.

    A stored file is deleted again if the transaction rolls back.

    :raises InsufficientStorage: the storage is full.
    :raises ServiceUnavailable: the storage failed otherwise.
    """
    for upload in uploads:
        key = _store(uow, upload.data, upload.filename, upload.content_type)
        thumbnail_key = None
        if upload.thumbnail is not None:
            thumbnail_key = _store(uow, upload.thumbnail, "thumbnail.webp", THUMBNAIL_TYPE)
        message.attachments.append(
            Attachment(
                ticket_id=message.ticket_id,
                filename=upload.filename,
                content_type=upload.content_type,
                size=len(upload.data),
                sha256=upload.sha256,
                storage_key=key,
                thumbnail_key=thumbnail_key,
            )
        )


def _store(uow: UnitOfWork, data: bytes, filename: str, content_type: str) -> str:
    """Store one file through the storage hook; deleted again if ``uow`` rolls back."""
    hooks = get_state().hooks
    try:
        key = hooks.store_attachment(io.BytesIO(data), filename, content_type, len(data))
    except OSError as exc:
        # The transaction rolls back and deletes the files stored before this one.
        current_app.logger.exception("Storing an attachment failed")
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise InsufficientStorage() from exc
        raise ServiceUnavailable() from exc
    uow.after_rollback(functools.partial(hooks.delete_attachment, key))
    return key


def open_attachment(actor: Actor, attachment_id: int) -> tuple[Attachment, t.BinaryIO]:
    """An attachment and its bytes, if ``actor`` may read its message.

    :raises NotFound: no such attachment, not visible, or its file is gone.
    """
    attachment = policy.get_attachment(actor, attachment_id)
    stream = get_state().hooks.open_attachment(attachment.storage_key)
    if stream is None:
        raise NotFound(_("Attachment not found."))
    return attachment, stream


def open_thumbnail(actor: Actor, attachment_id: int) -> t.BinaryIO:
    """The thumbnail of an image attachment (WebP), if ``actor`` may read its message:
    exactly the checks of :func:`open_attachment`.

    :raises NotFound: no such attachment, not visible, not an image with a thumbnail
        (a document, an SVG, a file that did not decode), or its file is gone.
    """
    attachment = policy.get_attachment(actor, attachment_id)
    key = attachment.thumbnail_key
    if key is None or not has_thumbnail(attachment):
        raise NotFound("This attachment has no thumbnail.")
    stream = get_state().hooks.open_attachment(key)
    if stream is None:
        raise NotFound("This attachment has no thumbnail.")
    return stream


def download_name(attachment: Attachment) -> str:
    """The name to download as (already safe; never a path)."""
    return os.path.basename(attachment.filename) or f"attachment-{attachment.id}"
