"""The API's JSON schemas: one source for request validation and the OpenAPI document.

Request bodies are checked against the same schemas :mod:`.openapi` publishes, so the
document and the server cannot drift apart (a schema-driven fuzzer such as schemathesis
finds any difference at once). The validator below implements only the small subset of
JSON Schema these schemas use: ``type`` (one or a list), ``enum``, ``properties``,
``required``, ``additionalProperties``, ``items``, ``minLength``, ``maxLength``,
``pattern``, ``minimum``, ``anyOf`` and local ``$ref``.
"""

from __future__ import annotations

import re
import typing as t

from ...config import SupportDeskConfig
from ...errors import ForbiddenField
from ...errors import ValidationError
from ...i18n import format_number
from ...i18n import gettext as _
from ...models import Channel
from ...models import DelegateStatus
from ...models import Priority
from ...models import Source
from ...models import Status
from ...services.escalation import MAX_REASON_LENGTH

Schema = dict[str, t.Any]

_REF = "#/components/schemas/"


def ref(name: str) -> Schema:
    """A reference to a component schema."""
    return {"$ref": _REF + name}


def nullable(schema: Schema) -> Schema:
    """``schema`` or ``null``."""
    return {"anyOf": [schema, {"type": "null"}]}


def _values(enum_cls: t.Iterable[t.Any]) -> list[str]:
    return [member.value for member in enum_cls]


def _obj(properties: dict[str, Schema], required: t.Sequence[str] = ()) -> Schema:
    # Every object is closed: an unexpected key is a bug (in a response) or an attack
    # (in a request), never something to pass through.
    schema: Schema = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = list(required)
    return schema


TIMESTAMP: Schema = {"type": "string", "format": "date-time"}
NULLABLE_TIMESTAMP: Schema = {"type": ["string", "null"], "format": "date-time"}
#: A host user id: the services check its full shape (1 to 64 printable characters).
USER_ID: Schema = {"type": ["string", "integer"], "minLength": 1, "maxLength": 64}


def component_schemas(config: SupportDeskConfig) -> dict[str, Schema]:
    """Every schema of the API, with the limits of this app's configuration."""
    subject: Schema = {
        "type": "string",
        "minLength": 1,
        "maxLength": config.max_subject_length,
        "pattern": r"\S",
    }
    body: Schema = {
        "type": "string",
        "minLength": 1,
        "maxLength": config.max_message_length,
        "pattern": r"\S",
    }
    person = _obj({"id": {"type": "string"}, "name": {"type": "string"}}, ["id", "name"])
    customer_ticket_fields: dict[str, Schema] = {
        "number": {"type": "string"},
        "subject": {"type": "string"},
        "status": {"type": "string", "enum": _values(Status)},
        "priority": {"type": "string", "enum": _values(Priority)},
        "category": {"type": "string"},
        "department": nullable(
            _obj({"slug": {"type": "string"}, "name": {"type": "string"}}, ["slug", "name"])
        ),
        "source": {"type": "string", "enum": _values(Source)},
        "requester": person,
        "assignee": nullable(person),
        "reference": nullable(
            _obj(
                {
                    "kind": {"type": "string"},
                    "id": {"type": "string"},
                    "label": {"type": "string"},
                    "url": {"type": ["string", "null"]},
                },
                ["kind", "id", "label", "url"],
            )
        ),
        "follow_up_of": {"type": ["string", "null"]},
        "created_at": TIMESTAMP,
        "updated_at": TIMESTAMP,
        "last_customer_reply_at": NULLABLE_TIMESTAMP,
        "first_response_at": NULLABLE_TIMESTAMP,
        "resolved_at": NULLABLE_TIMESTAMP,
        "closed_at": NULLABLE_TIMESTAMP,
    }
    staff_ticket_fields: dict[str, Schema] = {
        **customer_ticket_fields,
        "requester": _obj(
            {
                "id": {"type": ["string", "null"]},
                "name": {"type": "string"},
                "email": {"type": "string"},
            },
            ["id", "name", "email"],
        ),
        "level": {"type": "string"},
        "entry_level": {"type": "string"},
        "escalated_beyond": nullable(
            _obj({"at": TIMESTAMP, "reference": {"type": ["string", "null"]}}, ["at", "reference"])
        ),
    }
    return {
        "Error": _obj(
            {
                "error": _obj(
                    {
                        "code": {"type": "string"},
                        "message": {"type": "string"},
                        "fields": {"type": "object", "additionalProperties": {"type": "string"}},
                    },
                    ["code", "message"],
                )
            },
            ["error"],
        ),
        "InboundResult": _obj(
            {
                "outcome": {
                    "type": "string",
                    "enum": ["posted", "follow_up", "opened", "duplicate", "ignored"],
                },
                "ticket": {"type": ["string", "null"]},
                "reason": {"type": ["string", "null"]},
                "dropped": {"type": "array", "items": {"type": "string"}},
            },
            ["outcome", "ticket", "reason", "dropped"],
        ),
        "Me": _obj(
            {
                "id": {"type": "string"},
                "name": {"type": "string"},
                "email": {"type": "string"},
                "staff": {"type": "boolean"},
                "role": {"type": "string"},
            },
            ["id", "name", "email", "staff"],
        ),
        "Department": _obj(
            {"id": {"type": "integer"}, "slug": {"type": "string"}, "name": {"type": "string"}},
            ["id", "slug", "name"],
        ),
        "DepartmentList": _obj({"items": {"type": "array", "items": ref("Department")}}, ["items"]),
        "CustomerTicket": _obj(customer_ticket_fields, list(customer_ticket_fields)),
        "Ticket": _obj(staff_ticket_fields, list(staff_ticket_fields)),
        "AnyTicket": {"anyOf": [ref("CustomerTicket"), ref("Ticket")]},
        "TicketPage": _obj(
            {
                "items": {"type": "array", "items": ref("AnyTicket")},
                "page": {"type": "integer", "minimum": 1},
                "page_size": {"type": "integer", "minimum": 1},
                "next": {"type": ["integer", "null"]},
                "snippets": {
                    "type": "object",
                    "additionalProperties": {"type": "string"},
                    "description": "With `q`: ticket number -> the best matching message "
                    "the actor may read, as escaped HTML with the matches in `<mark>`.",
                },
            },
            ["items", "page", "page_size", "next"],
        ),
        "Attachment": _obj(
            {
                "id": {"type": "integer"},
                "filename": {"type": "string"},
                "size": {"type": "integer", "minimum": 0},
                "content_type": {"type": "string"},
                "url": {"type": "string"},
                # A re-encoded WebP preview of an image (same access as ``url``), else null.
                "thumbnail_url": {"type": ["string", "null"]},
            },
            ["id", "filename", "size", "content_type", "url", "thumbnail_url"],
        ),
        "Message": _obj(
            {
                "id": {"type": "integer"},
                "channel": {"type": "string", "enum": _values(Channel)},
                "body": {"type": "string"},
                "html": {"type": "string"},
                "author": _obj(
                    {
                        "id": {"type": ["string", "null"]},
                        "name": {"type": "string"},
                        "staff": {"type": "boolean"},
                    },
                    ["id", "name", "staff"],
                ),
                "created_at": TIMESTAMP,
                "edited_at": NULLABLE_TIMESTAMP,
                "attachments": {"type": "array", "items": ref("Attachment")},
            },
            [
                "id",
                "channel",
                "body",
                "html",
                "author",
                "created_at",
                "edited_at",
                "attachments",
            ],
        ),
        "MessagePage": _obj(
            {
                "items": {"type": "array", "items": ref("Message")},
                "next": {"type": ["integer", "null"]},
            },
            ["items", "next"],
        ),
        # Request bodies.
        "TicketCreate": _obj(
            {
                "subject": subject,
                "body": body,
                "category": {"type": "string", "enum": list(config.categories)},
                "department": {"type": ["string", "null"]},
                "priority": {"type": ["string", "null"], "enum": [*_values(Priority), None]},
                "reference": nullable(
                    _obj(
                        {
                            "kind": {"type": "string", "minLength": 1},
                            "id": {"type": ["string", "integer"], "minLength": 1},
                        },
                        ["kind", "id"],
                    )
                ),
                "requester": {"anyOf": [USER_ID, {"type": "null"}]},
                "client_id": {"type": ["string", "null"], "maxLength": 64},
            },
            ["subject", "body"],
        ),
        "TicketUpdate": _obj(
            {
                "subject": subject,
                "status": {"type": "string", "enum": _values(Status)},
                "priority": {"type": "string", "enum": _values(Priority)},
                "category": {"type": "string", "enum": list(config.categories)},
                "department": {"type": ["string", "null"]},
                "assignee": {"anyOf": [USER_ID, {"type": "null"}]},
            }
        ),
        "Escalation": _obj({"reason": {"type": "string", "maxLength": MAX_REASON_LENGTH}}),
        "MessageCreate": _obj(
            {
                "body": body,
                "channel": {"type": "string", "enum": _values(Channel)},
                "status": {"type": ["string", "null"], "enum": [*_values(Status), None]},
                "client_id": {"type": ["string", "null"], "maxLength": 64},
            },
            ["body"],
        ),
        "MessageEdit": _obj({"body": body}, ["body"]),
        "Delegate": _obj(
            {
                "id": {"type": "integer"},
                "email": {"type": "string"},
                "status": {"type": "string", "enum": _values(DelegateStatus)},
                "created_at": TIMESTAMP,
                "accepted_at": NULLABLE_TIMESTAMP,
                "revoked_at": NULLABLE_TIMESTAMP,
            },
            ["id", "email", "status", "created_at", "accepted_at", "revoked_at"],
        ),
        "DelegateList": _obj({"items": {"type": "array", "items": ref("Delegate")}}, ["items"]),
        "DelegateInvite": _obj(
            {"email": {"type": "string", "minLength": 1, "maxLength": 254}}, ["email"]
        ),
        "DelegateAccept": _obj(
            {"token": {"type": "string", "minLength": 1, "maxLength": 500}}, ["token"]
        ),
        "ChatCreate": _obj(
            {
                "first_name": {"type": "string", "maxLength": 100},
                "last_name": {"type": "string", "maxLength": 100},
                "email": {"type": "string", "maxLength": 254},
                "phone": {"type": ["string", "null"], "maxLength": 40},
                "body": body,
                "client_id": {"type": ["string", "null"], "maxLength": 64},
            },
            ["body"],
        ),
        "ChatOpened": _obj(
            {
                "ticket": ref("AnyTicket"),
                "token": {
                    "type": ["string", "null"],
                    "description": "A guest's signed conversation token (null for a "
                    "logged-in customer): the Socket.IO connection's `auth` `{token}` "
                    "and the `Authorization: Bearer` of the chat's HTTP calls.",
                },
            },
            ["ticket", "token"],
        ),
        "ChatToken": _obj({"token": {"type": "string"}}, ["token"]),
        "ChatAvailability": _obj(
            {
                "online": {"type": "boolean"},
                "reply_within_hours": {"type": "integer", "minimum": 1},
            },
            ["online", "reply_within_hours"],
        ),
    }


# -------------------------------------------------------------------------------------
# The validator
# -------------------------------------------------------------------------------------

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}


def _is_type(value: t.Any, name: str) -> bool:
    if isinstance(value, bool) and name in ("integer", "number"):
        return False  # JSON true is not the number 1
    return isinstance(value, _JSON_TYPES[name])


def validate(
    value: t.Any, schema: Schema, components: dict[str, Schema], path: str = ""
) -> dict[str, str]:
    """Check ``value`` against ``schema``.

    :return: ``{path: reason}`` for every problem found (empty when valid). Paths are
        dotted (``reference.kind``, ``items.0.id``); the root is ``""``.
    """
    if "$ref" in schema:
        return validate(value, components[schema["$ref"].removeprefix(_REF)], components, path)
    if "anyOf" in schema:
        attempts = [validate(value, option, components, path) for option in schema["anyOf"]]
        if any(not problems for problems in attempts):
            return {}
        # Report the option whose type matched, when one did: its reason is the useful one.
        return min(attempts, key=len)
    types = schema.get("type")
    if types is not None:
        names = [types] if isinstance(types, str) else types
        if not any(_is_type(value, name) for name in names):
            return {path: _("Must be %(types)s.", types=" or ".join(names))}
    if "enum" in schema and value not in schema["enum"]:
        shown = ", ".join("null" if v is None else str(v) for v in schema["enum"])
        return {path: _("Must be one of: %(allowed)s.", allowed=shown)}
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            return {path: _("Required.")}
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            return {path: _("At most %(num)s characters.", num=format_number(schema["maxLength"]))}
        if "pattern" in schema and not re.search(schema["pattern"], value):
            return {path: _("Required.")}
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            return {path: _("At least %(num)s.", num=schema["minimum"])}
    problems: dict[str, str] = {}
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for name in schema.get("required", ()):
            if name not in value:
                problems[_join(path, name)] = _("Required.")
        extra = schema.get("additionalProperties", True)
        for name, item in value.items():
            if name in properties:
                problems.update(validate(item, properties[name], components, _join(path, name)))
            elif extra is False:
                problems[_join(path, str(name))] = "Unknown field."
            elif isinstance(extra, dict):
                problems.update(validate(item, extra, components, _join(path, str(name))))
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            problems.update(validate(item, schema["items"], components, _join(path, str(index))))
    return problems


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def check_request(
    data: dict[str, t.Any],
    name: str,
    config: SupportDeskConfig,
    *,
    forbidden: t.Mapping[str, str] | None = None,
) -> dict[str, t.Any]:
    """``data`` checked against the request schema ``name``.

    :param forbidden: Known fields this actor may not set (from policy), reported
        together with the unknown ones so one answer names every offending field.
    :raises ForbiddenField: fields the schema does not have, or ``forbidden`` ones (each
        one listed): a client must not believe it set something it cannot.
    :raises ValidationError: a value of the wrong type, length or choice (with its path).
    """
    components = component_schemas(config)
    schema = components[name]
    refused = {
        str(key): _("Unknown or read-only field.")
        for key in data
        if key not in schema["properties"]
    }
    refused.update(forbidden or {})
    if refused:
        raise ForbiddenField(fields=refused)
    problems = validate(data, schema, components)
    if problems:
        raise ValidationError(fields={path or "body": reason for path, reason in problems.items()})
    return dict(data)
