"""Every API failure as ``{"error": {"code", "message", "fields"?}}`` with its status.

That includes what Flask raises on its own inside the API prefix: an unknown path or
method (which belongs to no blueprint, so it is caught before routing gives up), an
oversized body, a host's CSRFProtect failure and an unexpected server error. A JSON
client never receives an HTML page or a redirect to a login form.
"""

from __future__ import annotations

import typing as t

from flask import Response
from flask import jsonify
from flask import request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import MethodNotAllowed
from werkzeug.exceptions import NotFound as RoutingNotFound

from ..._state import get_state
from ...errors import SupportDeskError
from .._common import DATABASE_UNAVAILABLE
from .._common import csrf_error_as_ours
from .._common import database_unavailable
from .._common import security_headers
from .._common import with_retry_after
from . import bp


class BadRequest(SupportDeskError):
    """The body is not what the API accepts (not JSON, not an object, malformed)."""

    code, status = "bad_request", 400
    default_message = "The request body is not valid JSON."


#: Error codes of Flask's and Werkzeug's own HTTP errors (HOSTILE §6.1).
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    500: "internal_error",
    503: "service_unavailable",
    507: "insufficient_storage",
}


def error_response(
    status: int, code: str, message: str, fields: t.Mapping[str, str] | None = None
) -> Response:
    """The API's error body."""
    error: dict[str, t.Any] = {"code": code, "message": message}
    if fields:
        error["fields"] = dict(fields)
    response = jsonify({"error": error})
    response.status_code = status
    return response


@bp.errorhandler(SupportDeskError)
def _desk_error(exc: SupportDeskError) -> Response:
    return with_retry_after(error_response(exc.status, exc.code, exc.message, exc.fields), exc)


def _database_error(exc: Exception) -> Response:
    return _desk_error(database_unavailable(exc))


for _failure in DATABASE_UNAVAILABLE:
    bp.register_error_handler(_failure, _database_error)


@bp.errorhandler(CSRFError)
def _csrf_error(exc: CSRFError) -> Response:
    return _desk_error(csrf_error_as_ours(exc))


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    # Werkzeug's descriptions are generic and safe; a 500 says nothing about the cause.
    message = "Something went wrong on our side." if status >= 500 else str(exc.description)
    response = error_response(status, HTTP_CODES.get(status, f"http_{status}"), message)
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        response.headers["Allow"] = ", ".join(sorted(exc.valid_methods))
    return response


def _in_api(path: str) -> bool:
    prefix = get_state().config.api_url_prefix
    return path == prefix or path.startswith(prefix + "/")


@bp.before_app_request
def _routing_error() -> Response | None:
    """Answer an unknown path or method under the API prefix in JSON.

    Routing failures match no rule, so they belong to no blueprint and would get the
    host's HTML error page. App-wide ``before_request`` functions run before Flask
    raises the routing error, which is the one place to intercept it without
    replacing the host's own 404/405 handlers.
    """
    exc = request.routing_exception
    if not isinstance(exc, (RoutingNotFound, MethodNotAllowed)) or not _in_api(request.path):
        return None
    return security_headers(_http_error(exc))
