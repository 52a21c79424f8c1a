"""The OpenAPI 3.1 document, built from the route table and :mod:`.schemas`.

Paths come from the app's URL map (so a route cannot be missing from the document),
operations from the :func:`._io.operation` descriptions, and bodies from the same
schemas the API validates requests with.
"""

from __future__ import annotations

import re
import typing as t

from flask import current_app
from flask import jsonify
from flask.typing import ResponseReturnValue
from werkzeug.routing import Rule

from ..._state import get_state
from .._common import UNSAFE_METHODS
from . import bp
from ._io import OPERATIONS
from ._io import Operation
from ._io import operation
from .schemas import Schema
from .schemas import component_schemas
from .schemas import ref

_ARGUMENT = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
_ERROR_TEXT = {
    400: "Malformed body, invalid or forbidden fields, CSRF failure",
    401: "Not logged in",
    403: "Visible, but not allowed for this actor",
    404: "Not found, or not visible to this actor (the same answer)",
    409: "The ticket is closed, or the state conflicts",
    410: "The invitation link was used, withdrawn or has expired",
    413: "Body or file too large",

    415: "File type not allowed",
    429: "Too many requests: retry after Retry-After seconds",
}
_ID_PARAMS = {"message_id", "attachment_id", "delegate_id"}


def openapi_path(rule: Rule, prefix: str) -> str:
    """``/tickets/<number>`` as ``/tickets/{number}``, relative to the API prefix."""
    return _ARGUMENT.sub(r"{\1}", rule.rule[len(prefix) :]) or "/"


def _error(status: int) -> dict[str, t.Any]:
    return {
        "description": _ERROR_TEXT.get(status, "Error"),
        "content": {"application/json": {"schema": ref("Error")}},
    }


def _form_schema(body: Schema) -> Schema:
    """The multipart form of a JSON body: flat text fields plus the files."""
    properties: dict[str, Schema] = {}
    for name in body["properties"]:
        if name == "reference":
            properties["reference.kind"] = {"type": "string"}
            properties["reference.id"] = {"type": "string"}
        else:
            properties[name] = {"type": "string"}
    properties["files"] = {
        "type": "array",
        "items": {"type": "string", "contentMediaType": "application/octet-stream"},
    }
    properties["csrf_token"] = {"type": "string"}
    return {
        "type": "object",
        "properties": properties,
        "required": body.get("required", []),
        "additionalProperties": False,
    }


def _operation(
    name: str, op: Operation, rule: Rule, method: str, components: dict[str, Schema]
) -> dict[str, t.Any]:
    parameters: list[dict[str, t.Any]] = [
        {
            "name": argument,
            "in": "path",
            "required": True,
            "schema": {"type": "string", "pattern": "^[0-9]+$"}
            if argument in _ID_PARAMS
            else {"type": "string"},
        }
        for argument in sorted(rule.arguments)
    ]
    parameters += [
        {
            "name": p.name,
            "in": "query",
            "required": False,
            "schema": p.schema,
            "description": p.description,
        }
        for p in op.query
    ]
    if op.binary:
        content = {
            "application/octet-stream": {
                "schema": {"type": "string", "contentMediaType": "application/octet-stream"}
            }
        }
    elif op.response is not None:
        content = {"application/json": {"schema": ref(op.response)}}
    else:
        content = {"application/json": {"schema": {"type": "object"}}}
    responses: dict[str, t.Any] = {
        str(status): {"description": "Success", "content": content}
        for status in (op.status, *op.also)
    }
    errors = set(op.errors) | ({400} if method in UNSAFE_METHODS else set())
    if not op.public:
        errors.add(401)
    responses.update({str(status): _error(status) for status in sorted(errors)})
    responses["default"] = _error(0) | {"description": "Any other error"}
    document: dict[str, t.Any] = {
        "operationId": name,
        "summary": op.summary,
        "parameters": parameters,
        "responses": responses,
    }
    if op.secret:
        document["security"] = [{"inboundSecret": []}]
    elif op.chat_token:
        document["security"] = [{"chatToken": []}]
    elif op.public:
        document["security"] = []
    elif method in UNSAFE_METHODS:
        document["security"] = [{"cookieAuth": [], "csrfToken": []}, {"chatToken": []}]
    if op.body is not None:
        media = {"application/json": {"schema": ref(op.body)}}
        if op.multipart:
            media["multipart/form-data"] = {"schema": _form_schema(components[op.body])}
        document["requestBody"] = {"required": True, "content": media}
    if op.raw_body is not None:
        raw = {"schema": {"type": "string", "contentMediaType": op.raw_body}}
        document["requestBody"] = {"required": True, "content": {op.raw_body: raw}}
    return document


def build_document() -> dict[str, t.Any]:
    """The OpenAPI document of this app's API (its prefix and limits)."""
    config = get_state().config
    components = component_schemas(config)
    paths: dict[str, dict[str, t.Any]] = {}
    for rule in current_app.url_map.iter_rules():
        blueprint, _, name = rule.endpoint.partition(".")
        if blueprint != bp.name:
            continue
        op = OPERATIONS[name]
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            paths.setdefault(openapi_path(rule, config.api_url_prefix), {})[method.lower()] = (
                _operation(name, op, rule, method, components)
            )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "flask-supportdesk API",
            "version": "1",
            "description": "Tickets, messages, attachments and departments of the support "
            "desk. Cookie-authenticated (the store's login session); every unsafe request "
            "carries the CSRF token in `X-CSRFToken`. A chat visitor authenticates with "
            "its conversation token instead (`Authorization: Bearer`). Errors are "
            '`{"error": {"code", "message", "fields"}}`.',
        },
        "servers": [{"url": config.api_url_prefix}],
        "security": [{"cookieAuth": []}, {"chatToken": []}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": components,
            "securitySchemes": {
                "cookieAuth": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": current_app.config.get("SESSION_COOKIE_NAME", "session"),
                },
                "csrfToken": {"type": "apiKey", "in": "header", "name": "X-CSRFToken"},
                "chatToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A chat visitor's conversation token (from POST /chats): "
                    "the actor is that visitor, bound to their one chat.",
                },
                "inboundSecret": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "SUPPORTDESK_INBOUND_SECRET, for the mail server only.",
                },
            },
        },
    }


@bp.get("/openapi.json")
@operation("This document", None, public=True)
def openapi_document() -> ResponseReturnValue:
    """``GET /openapi.json``: the API's OpenAPI document, built from the registered routes."""
    return jsonify(build_document())
