"""Attachment downloads: always a download, never a document of this site.

The templates of the portal and desk link here (endpoint ``supportdesk_api.attachment``).
"""

from __future__ import annotations

from flask import send_file
from flask.typing import ResponseReturnValue

from ...identity import require_actor
from ...services import attachments
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
    response = send_file(
        stream,
        mimetype=mimetype,
        as_attachment=True,
        download_name=attachments.download_name(found),
        conditional=False,
        etag=False,
        max_age=None,
    )
    # Werkzeug appends a second charset to text types that already name one.
    response.headers["Content-Type"] = mimetype
    response.headers["Content-Security-Policy"] = DOWNLOAD_CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response
