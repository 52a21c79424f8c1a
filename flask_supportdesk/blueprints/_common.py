"""What every desk blueprint shares: the current actor, CSRF, limits, headers, errors."""

from __future__ import annotations

import typing as t

from flask import Blueprint
from flask import Response
from flask import current_app
from flask import g
from flask import render_template
from flask import request
from flask_wtf.csrf import CSRFError
from flask_wtf.csrf import validate_csrf
from sqlalchemy import exc as sa_exc
from werkzeug.exceptions import RequestEntityTooLarge
from wtforms import ValidationError as WTFValidationError

from .._state import get_state
from ..errors import NotFound
from ..errors import PayloadTooLarge
from ..errors import ServiceUnavailable
from ..errors import SupportDeskError
from ..errors import ValidationError
from ..i18n import gettext as _
from ..i18n import lazy_gettext as _l
from ..identity import current_actor as current_actor
from ..identity import require_actor as require_actor
from ..services._validate import MAX_ID
from ..services._validate import MIN_ID
from ..services._validate import is_storable

#: The URL converter of row ids: a number no row can have is a 404 from routing, never an
#: overflow in SQL (``<int:...>`` alone accepts any number of digits).
ID_CONVERTER = f"int(min={MIN_ID}, max={MAX_ID})"

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSRF_HEADERS = ("X-CSRFToken", "X-CSRF-Token")
#: Endpoints that authenticate by a secret of their own, not a session cookie, so a
#: cross-site form cannot act through them: no CSRF token (the inbound mail endpoint).
CSRF_EXEMPT: set[str] = set()


class CSRFFailed(SupportDeskError):
    """A state-changing request without a valid CSRF token."""

    code, status = "csrf_failed", 400
    default_message = _l("The form expired or did not come from this site. Please try again.")


def csrf_protect() -> None:
    """Refuse an unsafe request without a valid Flask-WTF CSRF token (form or header)."""
    if request.method not in UNSAFE_METHODS:
        return
    if not current_app.config.get("WTF_CSRF_ENABLED", True):
        return
    if g.get("csrf_valid"):  # the host's CSRFProtect already checked it
        return
    if request.endpoint in CSRF_EXEMPT:
        return
    if request.blueprint == "supportdesk_api" and request.headers.get(
        "Authorization", ""
    ).lower().startswith("bearer "):
        # A chat visitor's token is the actor (blueprints/api/chats.py), never the
        # cookie: a cross-site request cannot set this header, so it needs no CSRF token.
        return
    token = (
        request.form.get("csrf_token")
        if request.mimetype
        in (
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        )
        else None
    )
    for header in CSRF_HEADERS:
        token = token or request.headers.get(header)
    try:
        validate_csrf(token)
    except WTFValidationError as exc:
        raise CSRFFailed(
            _("The form expired or did not come from this site. Please try again.")
        ) from exc


def limit_request_size() -> None:
    """Cap a request's body at what the largest legal upload needs."""
    config = get_state().config
    request.max_content_length = config.max_attachments * config.max_attachment_size + (1024 * 1024)


UNSTORABLE_REASON = _l("Contains characters that cannot be stored.")
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def shown_name(name: str) -> str:
    """A field name safe to echo in an error: NUL and lone surrogates as escapes.

    :param name: A field name from the request.
    """
    return name if is_storable(name) else name.encode("utf-8", "backslashreplace").decode()


def unstorable_fields(items: t.Iterable[tuple[str, str]]) -> dict[str, str]:
    """The fields among ``items`` (name, value) whose name or value no database can store.

    :param items: Pairs of a field name and its text value.
    """
    return {
        shown_name(name): UNSTORABLE_REASON
        for name, value in items
        if not (is_storable(name) and is_storable(value))
    }


def refuse_unstorable_input() -> None:
    """Refuse NUL (and lone surrogates) in the path, the query string and form fields.

    PostgreSQL cannot store NUL in text, so such input would fail deep in a query with a
    500; here it is a 404 (a path no row can have) or a 400 naming the field. JSON bodies
    are checked where they are parsed (``api._io``), string by string.

    :raises NotFound: a path argument that no row can have.
    :raises ValidationError: a query parameter or form field that cannot be stored.
    """
    for value in (request.view_args or {}).values():
        if isinstance(value, str) and not is_storable(value):
            raise NotFound()
    problems = unstorable_fields(request.args.items(multi=True))
    if request.mimetype in _FORM_TYPES:
        problems.update(unstorable_fields(request.form.items(multi=True)))
    if problems:
        raise ValidationError(fields=problems)


def security_headers(response: Response) -> Response:
    """Headers for every desk response; the CSP is configurable.

    :param response: The response to complete.
    """
    policy = get_state().config.content_security_policy
    if policy and "Content-Security-Policy" not in response.headers:
        response.headers["Content-Security-Policy"] = policy
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    # The CSP's frame-ancestors covers current browsers; this covers older ones and a
    # host that turns the CSP off.
    response.headers.setdefault("X-Frame-Options", "DENY")
    return response


def make_blueprint(name: str, import_name: str, **kwargs: t.Any) -> Blueprint:
    """A blueprint with the shared request guards of the desk."""
    bp = Blueprint(name, import_name, **kwargs)
    bp.before_request(limit_request_size)
    bp.before_request(csrf_protect)
    bp.before_request(refuse_unstorable_input)
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


_TITLES = {
    400: _l("Something is not right"),
    401: _l("Please log in"),
    403: _l("Not allowed"),
    404: _l("Not found"),
    409: _l("This cannot be changed"),
    410: _l("Link no longer valid"),
    413: _l("Too large"),
    415: _l("File type not allowed"),
    429: _l("Slow down"),
    503: _l("Briefly unavailable"),
    507: _l("Storage full"),
}


def html_error(exc: SupportDeskError) -> Response:
    """An error page for the portal and desk (the API answers JSON instead)."""
    title = str(_TITLES.get(exc.status, _l("Something went wrong")))
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
        lambda exc: html_error(PayloadTooLarge(_("The upload is larger than allowed."))),
    )


def render(template: str, **context: t.Any) -> str:
    """Render a desk template with the documented context (see ``docs/templates.rst``)."""
    return render_template(template, **context)
