"""Attachment downloads: always a download, never a document of this site.

The templates of the portal and desk link here (endpoint ``supportdesk_api.attachment``).
"""

from __future__ import annotations

import typing as t

from flask import Response
from flask import send_file
from flask.typing import ResponseReturnValue

from ...identity import require_actor
from ...services import attachments
from ...services.thumbnails import THUMBNAIL_TYPE
from . import bp
from ._io import object_id
from ._io import operation

#: Even a file that slipped past the checks cannot run as a page or a script here.
DOWNLOAD_CSP = "default-src 'none'; sandbox"


@bp.get("/attachments/<attachment_id>")
@operation(
    "Download an attachment (only for actors who may read its message)",
    None,
    binary=True,
    errors=(401, 404),
)
def attachment(attachment_id: str) -> ResponseReturnValue:
    """``GET /attachments/<id>``: the file, if the actor may read the message it belongs to."""
    actor = require_actor()
    found, stream = attachments.open_attachment(actor, object_id(attachment_id, "Attachment"))
    extension = found.filename.rpartition(".")[2].lower()
    # The type comes from our own table by extension, never from what was uploaded.
    mimetype = attachments.CONTENT_TYPES.get(extension, "application/octet-stream")
    return _send(
        stream,
        mimetype,
        name=attachments.download_name(found),
        as_attachment=True,
        cache="private, no-store",
    )


def _send(
    stream: t.BinaryIO, mimetype: str, *, name: str, as_attachment: bool, cache: str
) -> Response:
    """A stored file with the headers that keep it inert: our own type, no sniffing, a
    sandboxing CSP, no shared caching."""
    response = send_file(
        stream,
        mimetype=mimetype,
        as_attachment=as_attachment,
        download_name=name,
        conditional=False,
        etag=False,
        max_age=None,
    )
    # Werkzeug appends a second charset to text types that already name one.
    response.headers["Content-Type"] = mimetype
    response.headers["Content-Security-Policy"] = DOWNLOAD_CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = cache
    return response


#: How long a browser may keep a thumbnail: the access it was served under may end (a
#: revoked delegate), so briefly, and never in a shared cache.
THUMBNAIL_CACHE = "private, max-age=300"


@bp.get("/attachments/<attachment_id>/thumbnail")
@operation(
    "A small WebP preview of an image attachment (the same access as its download)",
    None,
    binary=True,
    errors=(401, 404),
)
def attachment_thumbnail(attachment_id: str) -> ResponseReturnValue:
    """``GET /attachments/<id>/thumbnail``: the re-encoded preview of an image attachment,
    for actors who may read its message; 404 for anything else (documents, SVG, files
    that did not decode)."""
    actor = require_actor()
    stream = attachments.open_thumbnail(actor, object_id(attachment_id, "Attachment"))
    # Our own re-encoded WebP, never the uploaded bytes: safe to show inline.
    response = _send(
        stream, THUMBNAIL_TYPE, name="thumbnail.webp", as_attachment=False, cache=THUMBNAIL_CACHE
    )
    # Only this site's pages may embed it (the cookie would go along from any site).
    response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
    response.vary.add("Cookie")
    return response
