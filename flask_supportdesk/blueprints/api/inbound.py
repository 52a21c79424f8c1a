"""``POST /inbound/email``: the mail server hands the desk one inbound mail over HTTP.

The body is the raw RFC 822 message; the mail server (or a provider's webhook bridge)
authenticates with ``Authorization: Bearer <SUPPORTDESK_INBOUND_SECRET>``, compared in
constant time. No session, so no CSRF token. The endpoint does not exist (404) while the
secret is unset. Everything else is :func:`flask_supportdesk.services.inbound.ingest`.
"""

from __future__ import annotations

import hmac

from flask import jsonify
from flask import request
from flask.typing import ResponseReturnValue

from ..._state import get_state
from ...errors import Forbidden
from ...errors import NotFound
from ...errors import SupportDeskError
from ...errors import Unauthorized
from ...errors import ValidationError
from ...i18n import gettext as _
from ...services import inbound as _inbound
from .._common import CSRF_EXEMPT
from . import bp
from ._io import operation

#: The media types of a raw mail body.
RAW_TYPES = frozenset({"message/rfc822", "application/octet-stream", "text/plain"})
#: Where Flask-WTF's CSRFProtect finds this view, to exempt it.
VIEW_LOCATION = f"{__name__}.inbound_email"


class UnsupportedMediaType(SupportDeskError):
    """The body is not a raw mail."""

    code, status = "unsupported_media_type", 415
    default_message = "Send the raw mail with Content-Type: message/rfc822."


def _check_secret(secret: str) -> None:
    scheme, _sep, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        raise Unauthorized(_("Send the inbound secret as a bearer token."))
    if not hmac.compare_digest(given.strip().encode("utf-8"), secret.encode("utf-8")):
        raise Forbidden(_("The inbound secret is wrong."))


@bp.post("/inbound/email")
@operation(
    "Take one inbound mail (raw RFC 822): a reply threads into its ticket",
    "InboundResult",
    status=201,
    also=(200,),
    errors=(401, 403, 404, 413, 415),
    raw_body="message/rfc822",
    secret=True,
)
def inbound_email() -> ResponseReturnValue:
    """``POST /inbound/email``: ingest the body as one mail; ``sender`` and ``recipient``
    (repeatable) in the query string are the envelope, when the mail server knows it.

    201 when a message or ticket was written, 200 when the mail was a duplicate or
    deliberately ignored (an auto-reply, a bounce); 404 ``mail_refused`` when no ticket
    takes it from this sender.
    """
    config = get_state().config
    if not config.inbound_secret:
        raise NotFound()
    _check_secret(config.inbound_secret)
    allowed = ("sender", "recipient")
    unknown = {key: "Unknown parameter." for key in request.args if key not in allowed}
    if unknown:
        raise ValidationError(fields=unknown)
    if request.mimetype not in RAW_TYPES:
        raise UnsupportedMediaType()
    request.max_content_length = config.inbound_max_size
    raw = request.get_data(cache=False)
    result = _inbound.ingest(
        raw, sender=request.args.get("sender"), recipients=request.args.getlist("recipient")
    )
    status = 201 if result.written else 200
    return jsonify(result.to_dict()), status


CSRF_EXEMPT.add(f"{bp.name}.{inbound_email.__name__}")
