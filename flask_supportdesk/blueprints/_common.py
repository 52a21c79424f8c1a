"""What every desk blueprint shares: the current actor, CSRF, limits, headers, errors."""

from __future__ import annotations

import typing as t

from flask import Blueprint
from flask import Response
from flask import current_app
from flask import g
from flask import render_template
from flask import request
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from flask_wtf.csrf import validate_csrf
from sqlalchemy import exc as sa_exc
from werkzeug.exceptions import RequestEntityTooLarge
from wtforms import ValidationError as WTFValidationError

from .._state import get_state
from ..errors import PayloadTooLarge
from ..errors import ServiceUnavailable
from ..errors import SupportDeskError
from ..errors import Unauthorized
from ..values import Actor

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSRF_HEADERS = ("X-CSRFToken", "X-CSRF-Token")


class CSRFFailed(SupportDeskError):
    """A state-changing request without a valid CSRF token."""

    code, status = "csrf_failed", 400
    default_message = "The form expired or did not come from this site. Please try again."


def current_actor() -> Actor | None:
    """The logged-in user as an Actor (asked once per request), or ``None``."""
    if "_supportdesk_actor" not in g:
        actor = None
        if current_user and current_user.is_authenticated:
            actor = get_state().hooks.identify(current_user._get_current_object())
        g._supportdesk_actor = actor
    return t.cast("Actor | None", g._supportdesk_actor)


def require_actor() -> Actor:
    """The current actor.

    :raises Unauthorized: nobody is logged in.
    """
    actor = current_actor()
    if actor is None:
        raise Unauthorized()
    return actor


def csrf_protect() -> None:
    """Refuse an unsafe request without a valid Flask-WTF CSRF token (form or header)."""
    if request.method not in UNSAFE_METHODS:
        return
    if not current_app.config.get("WTF_CSRF_ENABLED", True):
        return
    if g.get("csrf_valid"):  # the host's CSRFProtect already checked it
        return
    token = request.form.get("csrf_token") if request.mimetype in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ) else None
    for header in CSRF_HEADERS:
        token = token or request.headers.get(header)
    try:
        validate_csrf(token)
    except WTFValidationError as exc:
        raise CSRFFailed(
            f"CSRF check failed: {exc.args[0] if exc.args else 'invalid token'}"
        ) from exc


def limit_request_size() -> None:
    """Cap a request's body at what the largest legal upload needs."""
    config = get_state().config
    request.max_content_length = config.max_attachments * config.max_attachment_size + (
        1024 * 1024
    )


def security_headers(response: Response) -> Response:
    """Headers for every desk response; the CSP is configurable."""
    policy = get_state().config.content_security_policy
    if policy and "Content-Security-Policy" not in response.headers:
        response.headers["Content-Security-Policy"] = policy
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


def make_blueprint(name: str, import_name: str, **kwargs: t.Any) -> Blueprint:
    """A blueprint with the shared request guards of the desk."""
    bp = Blueprint(name, import_name, **kwargs)
    bp.before_request(limit_request_size)
    bp.before_request(csrf_protect)
    bp.after_request(security_headers)
    return bp


def csrf_error_as_ours(exc: CSRFError) -> CSRFFailed:
    """The host's CSRFProtect error, in the desk's error type."""
    return CSRFFailed(str(exc.description))


#: Database failures that say "not now" rather than "wrong request": the server is down
#: or restarting, the connection dropped, SQLite stayed locked, the pool is exhausted.
DATABASE_UNAVAILABLE = (sa_exc.OperationalError, sa_exc.TimeoutError)


def database_unavailable(exc: Exception) -> ServiceUnavailable:
    """Log a database failure and answer it as a 503 (the transaction was rolled back)."""
    current_app.logger.error("The database failed: %s", exc, exc_info=exc)
    return ServiceUnavailable()


def with_retry_after(response: Response, exc: SupportDeskError) -> Response:
    """Copy the error's ``retry_after`` (seconds) into a ``Retry-After`` header, if it has one."""
    if exc.retry_after is not None:
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


_TITLES = {400: "Something is not right", 401: "Please log in", 403: "Not allowed",
           404: "Not found", 409: "This cannot be changed", 413: "Too large",
           415: "File type not allowed", 429: "Slow down", 503: "Briefly unavailable",
           507: "Storage full"}


def html_error(exc: SupportDeskError) -> Response:
    """An error page for the portal and desk (the API answers JSON instead)."""
    title = _TITLES.get(exc.status, "Something went wrong")
    page = render("supportdesk/errors/error.html", title=title, message=exc.message)
    return with_retry_after(current_app.make_response((page, exc.status)), exc)


def register_html_errors(bp: Blueprint) -> None:
    """Render desk errors, CSRF failures, database outages and oversized uploads as pages."""
    bp.register_error_handler(SupportDeskError, html_error)
    for failure in DATABASE_UNAVAILABLE:
        bp.register_error_handler(failure, lambda exc: html_error(database_unavailable(exc)))
    bp.register_error_handler(CSRFError, lambda exc: html_error(csrf_error_as_ours(exc)))
    bp.register_error_handler(
        RequestEntityTooLarge,
        lambda exc: html_error(PayloadTooLarge("The upload is larger than allowed.")),
    )


def render(template: str, **context: t.Any) -> str:
    """Render a desk template with the documented context (see ``docs/templates.rst``)."""
    return render_template(template, **context)
