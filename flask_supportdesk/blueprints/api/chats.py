"""Chats: open one from the widget, renew a visitor's token, ask who is online.

A guest's chat calls authenticate with ``Authorization: Bearer <conversation token>``
(the token ``POST /chats`` returned): the token, not the session, is then the actor, on
every API route (the chat's messages and attachments), and no CSRF token is needed, since
a browser never sends that header by itself.
"""

from __future__ import annotations

from flask import g
from flask import jsonify
from flask import request
from flask.typing import ResponseReturnValue

from ...identity import current_actor
from ...presentation import ticket_view
from ...services import chats
from .._common import CSRF_EXEMPT
from . import bp
from ._io import operation
from ._io import read_body

#: The endpoints that read a bearer token of their own (the inbound mail's secret).
_OWN_BEARER = {"supportdesk_api.inbound_email"}


def bearer_token() -> str | None:
    """The ``Authorization: Bearer`` token of the request, if it has one."""
    scheme, _sep, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


@bp.before_request
def _chat_visitor() -> None:
    # A conversation token names the actor of this request; the session does not count.
    if request.endpoint in _OWN_BEARER:
        return
    token = bearer_token()
    if token is not None:
        g._supportdesk_actor = chats.read_token(token)


@bp.post("/chats")
@operation(
    "Open a chat (source `chat`): a guest sends the pre-chat form's fields, a logged-in "
    "customer only `body`; a repeated `client_id` answers 200 with the first chat",
    "ChatOpened",
    status=201,
    also=(200,),
    body="ChatCreate",
    errors=(400, 403, 429),
)
def open_chat() -> ResponseReturnValue:
    """``POST /chats``: open a chat; a guest gets its conversation token."""
    actor = current_actor()
    if actor is not None and not actor.is_user:
        # A visitor's token, or a guest signed in by a guest link: no account, so the
        # chat is a visitor's, opened with the pre-chat form's fields.
        actor = None
    data, _uploads = read_body("ChatCreate")
    opened = chats.open_chat(actor, data, client_ip=request.remote_addr or "")
    body = {"ticket": ticket_view(opened.actor, opened.ticket).to_json(), "token": opened.token}
    return jsonify(body), 201 if opened.created else 200


@bp.post("/chats/token")
@operation(
    "Renew a visitor's conversation token (send the current one as the bearer token)",
    "ChatToken",
    errors=(401, 404, 410),
    chat_token=True,
)
def renew_chat_token() -> ResponseReturnValue:
    """``POST /chats/token``: a fresh token for the visitor of a valid one."""
    return jsonify({"token": chats.renew_token(bearer_token())})


# Authenticated by the token it renews, never by a cookie: no CSRF token to ask for.
CSRF_EXEMPT.add(f"{bp.name}.{renew_chat_token.__name__}")


@bp.get("/chats/availability")
@operation(
    "Whether staff are online to answer a chat now, else how soon they usually reply",
    "ChatAvailability",
    public=True,
)
def chat_availability() -> ResponseReturnValue:
    """``GET /chats/availability``: what the widget tells visitors before they write."""
    return jsonify(chats.availability().to_json())
