"""Reading request bodies and describing operations for the OpenAPI document."""

from __future__ import annotations

import dataclasses
import json
import typing as t

from flask import request

from ..._state import get_state
from ...errors import ForbiddenField
from ...errors import ValidationError
from ...i18n import gettext as _
from ...i18n import lazy_gettext as _l
from ...services import _validate
from ...services.attachments import Upload
from .._common import UNSTORABLE_REASON
from .._common import shown_name
from . import bp
from .errors import BadRequest
from .schemas import Schema
from .schemas import check_request

#: Form fields the API ignores in multipart bodies (Flask-WTF's token may ride along).
_FORM_NOISE = frozenset({"csrf_token"})
#: Slack for JSON escaping: a character can take up to 12 bytes (a ``\\uXXXX`` pair).
_JSON_BYTES_PER_CHAR = 12
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
_SEND_JSON = _l("Send a JSON object with Content-Type: application/json.")
#: Ids are 32-bit integers on every database (larger numbers would overflow in SQL).
MAX_ID = _validate.MAX_ID


@bp.before_request
def _limit_json_size() -> None:
    """A JSON body needs far less than the upload cap: refuse a big one before reading it."""
    if request.mimetype != "multipart/form-data":
        config = get_state().config
        cap = (config.max_message_length + config.max_subject_length) * _JSON_BYTES_PER_CHAR
        request.max_content_length = min(request.max_content_length or cap, cap + 64 * 1024)


def _reject_constant(name: str) -> t.NoReturn:
    raise ValueError(f"{name} is not JSON")


def _json_object() -> dict[str, t.Any]:
    # Form encodings first: their body may already have been read by the CSRF check, and
    # a cross-site form must never pass for an empty JSON body.
    if request.mimetype in _FORM_TYPES:
        raise BadRequest(_SEND_JSON)
    raw = request.get_data(cache=True)
    if not raw.strip():
        return {}
    if request.mimetype != "application/json":
        raise BadRequest(_SEND_JSON)
    try:
        data = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
        raise BadRequest() from None
    if not isinstance(data, dict):
        raise BadRequest(_("The request body must be a JSON object."))
    problems = _unstorable_strings(data)
    if problems:
        raise ValidationError(fields=problems)
    return data


def _unstorable_strings(value: t.Any, path: str = "") -> dict[str, str]:
    """Every string (key or value) in ``value`` that no database can store, by its path.

    JSON escapes can carry NUL and lone surrogates (``"\\udc80"``), which no driver
    writes: refused here, before any schema check, hook or query sees them.
    """
    problems: dict[str, str] = {}
    if isinstance(value, str):
        if not _validate.is_storable(value):
            problems[path or "body"] = UNSTORABLE_REASON
    elif isinstance(value, dict):
        for key, item in value.items():
            inner = f"{path}.{shown_name(key)}" if path else shown_name(key)
            if not _validate.is_storable(key):
                problems[inner] = UNSTORABLE_REASON
            problems.update(_unstorable_strings(item, inner))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            problems.update(_unstorable_strings(item, f"{path}.{index}" if path else str(index)))
    return problems


def _form_object() -> tuple[dict[str, t.Any], list[Upload]]:
    data: dict[str, t.Any] = {}
    repeated = {}
    for key in request.form:
        if key in _FORM_NOISE:
            continue
        values = request.form.getlist(key)
        if len(values) > 1:
            repeated[key] = "Given more than once."
        elif values[0] != "":  # an empty form field means "not given"
            data[key] = values[0]
    if repeated:
        raise ValidationError(fields=repeated)
    kind, ref = data.pop("reference.kind", None), data.pop("reference.id", None)
    if kind is not None or ref is not None:
        data["reference"] = {"kind": kind or "", "id": ref or ""}
    unknown = {key: _("Unknown file field.") for key in request.files if key != "files"}
    if unknown:
        raise ForbiddenField(fields=unknown)
    uploads = [
        Upload(file.filename or "", t.cast(t.BinaryIO, file.stream))
        for file in request.files.getlist("files")
        if file.filename  # a browser sends an empty part for an empty file input
    ]
    return data, uploads


Guard = t.Callable[[t.Mapping[str, t.Any]], t.Mapping[str, str]]


def read_body(
    schema: str, *, files: bool = False, guard: Guard | None = None
) -> tuple[dict[str, t.Any], list[Upload]]:
    """The request's fields, checked against the request schema ``schema``, and its files.

    JSON objects always; ``multipart/form-data`` only where ``files`` (fields, plus the
    files in ``files``; ``reference.kind`` / ``reference.id`` for a reference).

    :param guard: Given the raw fields, returns those the actor may not set (policy).
    :raises BadRequest: not JSON, malformed, nested too deep, or not an object.
    :raises ForbiddenField: fields the schema does not have.
    :raises ValidationError: wrong types, lengths or choices.
    """
    uploads: list[Upload] = []
    if files and request.mimetype == "multipart/form-data":
        data, uploads = _form_object()
    else:
        data = _json_object()
    forbidden = guard(data) if guard is not None else None
    return check_request(data, schema, get_state().config, forbidden=forbidden), uploads


def object_id(value: str, what: str) -> int:
    """A numeric id from a URL; anything else (or out of range) is simply not found.

    :param value: The path segment.
    :param what: What is looked up, for the error message.
    :raises NotFound: not a number a row could have.
    """
    return _validate.object_id(value, what)


def int_arg(args: t.Mapping[str, str], name: str, *, minimum: int, maximum: int) -> int | None:
    """An optional whole-number query parameter within bounds.

    :raises ValidationError: not a whole number, or out of bounds.
    """
    value = args.get(name)
    if value in (None, ""):
        return None
    if not value.isascii() or not value.isdigit() or not minimum <= int(value) <= maximum:
        raise ValidationError(
            fields={name: _("A whole number from %(min)s to %(max)s.", min=minimum, max=maximum)}
        )
    return int(value)


def query_args(allowed: t.Iterable[str]) -> dict[str, str]:
    """The query string, refusing parameters the operation does not know.

    :raises ValidationError: an unknown or repeated parameter.
    """
    allowed = set(allowed)
    problems = {}
    for key in request.args:
        if key not in allowed:
            problems[key] = "Unknown parameter."
        elif len(request.args.getlist(key)) > 1:
            problems[key] = "Given more than once."
    if problems:
        raise ValidationError(fields=problems)
    return dict(request.args)


# -------------------------------------------------------------------------------------
# Operation descriptions (read by openapi.py)
# -------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Param:
    """A query parameter."""

    name: str
    schema: Schema
    description: str


@dataclasses.dataclass(frozen=True)
class Operation:
    """What the OpenAPI document says about one view."""

    summary: str
    response: str | None
    status: int = 200
    body: str | None = None
    multipart: bool = False
    query: tuple[Param, ...] = ()
    errors: tuple[int, ...] = ()
    public: bool = False
    binary: bool = False
    #: Further success statuses (a replayed idempotent request answers 200, not 201).
    also: tuple[int, ...] = ()
    #: The media type of a raw request body (not JSON), e.g. ``message/rfc822``.
    raw_body: str | None = None
    #: Authenticated by the inbound shared secret (a bearer token), not the session.
    secret: bool = False
    #: Authenticated by a chat visitor's conversation token only (a bearer token).
    chat_token: bool = False


#: Operations by view function name (the endpoint without the blueprint name).
OPERATIONS: dict[str, Operation] = {}

F = t.TypeVar("F", bound=t.Callable[..., t.Any])


def operation(summary: str, response: str | None, **kwargs: t.Any) -> t.Callable[[F], F]:
    """Describe a view for the OpenAPI document (the view is returned unchanged)."""

    def describe(view: F) -> F:
        OPERATIONS[view.__name__] = Operation(summary, response, **kwargs)
        return view

    return describe
