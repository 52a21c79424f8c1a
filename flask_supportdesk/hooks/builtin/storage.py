"""Attachments in a local folder (``SUPPORTDESK_ATTACHMENT_FOLDER``).

Files get random names in a folder only the app's user can read (0700/0600), so an
uploaded name can never choose where bytes land.
"""

from __future__ import annotations

import os
import secrets
import shutil
import typing as t

from flask import current_app

from ..._state import get_state
from .. import hookimpl

_PREFIX = "local:"


def _folder() -> str:
    folder = get_state().config.attachment_folder or os.path.join(
        current_app.instance_path, "supportdesk-attachments"
    )
    os.makedirs(folder, mode=0o700, exist_ok=True)
    return folder


def _path(key: str) -> str | None:
    if not key.startswith(_PREFIX):
        return None
    name = key[len(_PREFIX) :]
    if not name.isalnum():  # our own keys only: no separators, no dots
        return None
    return os.path.join(_folder(), name)


@hookimpl(trylast=True)
def supportdesk_store_attachment(
    stream: t.BinaryIO, filename: str, content_type: str, size: int
) -> str:
    """Copy the stream to a new file with a random name and mode 0600."""
    name = secrets.token_hex(16)
    path = os.path.join(_folder(), name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(stream, out)
    except BaseException:
        os.unlink(path)
        raise
    return _PREFIX + name


@hookimpl(trylast=True)
def supportdesk_open_attachment(key: str) -> t.BinaryIO | None:
    """Open a stored file, or ``None`` for a key that is not ours or a file that is gone."""
    path = _path(key)
    if path is None:
        return None
    try:
        return open(path, "rb")  # the caller closes it
    except FileNotFoundError:
        return None


@hookimpl(trylast=True)
def supportdesk_delete_attachment(key: str) -> bool | None:
    """Delete a file of the built-in storage; a file already gone counts as deleted."""
    path = _path(key)
    if path is None:
        return None
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    return True
