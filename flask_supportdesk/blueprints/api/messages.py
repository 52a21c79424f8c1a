"""A ticket's messages: read (with catch-up), post (idempotent), edit."""

from __future__ import annotations

from flask import jsonify
from flask.typing import ResponseReturnValue

from ... import policy
from ..._state import get_state
from ...errors import NotFound
from ...i18n import gettext as _
from ...identity import require_actor
from ...presentation import message_view
from ...services import messages
from . import bp
from ._io import MAX_ID
from ._io import Param
from ._io import int_arg
from ._io import object_id
from ._io import operation
from ._io import query_args
from ._io import read_body

MESSAGE_QUERY = (
    Param(
        "after", {"type": "integer", "minimum": 0}, "Only messages after this id (the last seen)."
    ),
    Param(
        "limit", {"type": "integer", "minimum": 1}, "At most this many (default: the page size)."
    ),
)


@bp.get("/tickets/<number>/messages")
@operation(
    "Messages the actor may read, oldest first",
    "MessagePage",
    query=MESSAGE_QUERY,
    errors=(400, 401, 404),
)
def list_messages(number: str) -> ResponseReturnValue:
    """``GET /tickets/<number>/messages``: the messages the actor may read, oldest first."""
    actor = require_actor()
    args = query_args(p.name for p in MESSAGE_QUERY)
    config = get_state().config
    after = int_arg(args, "after", minimum=0, maximum=MAX_ID)
    limit = int_arg(args, "limit", minimum=1, maximum=config.max_page_size) or config.page_size
    ticket = policy.get_ticket(actor, number)
    # One row more than asked tells whether there is a next page.
    rows = messages.list_messages(actor, ticket, after=after, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return jsonify(
        {
            "items": [message_view(actor, ticket, m).to_json() for m in rows],
            "next": rows[-1].id if more else None,
        }
    )


@bp.post("/tickets/<number>/messages")
@operation(
    "Post a reply or an internal note (JSON, or multipart with `files`); a repeated "
    "`client_id` answers 200 with the first message",
    "Message",
    status=201,
    also=(200,),
    body="MessageCreate",
    multipart=True,
    errors=(400, 401, 404, 409, 413, 415),
)
def post_message(number: str) -> ResponseReturnValue:
    """``POST /tickets/<number>/messages``: a reply or (staff) an internal note."""
    actor = require_actor()
    data, uploads = read_body("MessageCreate", files=True)
    posted = messages.post(
        actor,
        number,
        data["body"],
        channel=data.get("channel", "public"),
        status=data.get("status"),
        client_id=data.get("client_id"),
        attachments=uploads,
    )
    message = posted.message
    response = jsonify(message_view(actor, message.ticket, message).to_json())
    response.status_code = 201 if posted.created else 200
    return response


@bp.patch("/tickets/<number>/messages/<message_id>")
@operation(
    "Edit a message's body (its author; history is kept)",
    "Message",
    body="MessageEdit",
    errors=(400, 401, 403, 404, 409),
)
def edit_message(number: str, message_id: str) -> ResponseReturnValue:
    """``PATCH /tickets/<number>/messages/<id>``: correct a message its author may still edit."""
    actor = require_actor()
    data = read_body("MessageEdit")[0]
    ticket = policy.get_ticket(actor, number)
    # A message is addressed through its ticket: an id from another ticket is not found.
    found = messages.get_message(actor, object_id(message_id, "Message"))
    if found.ticket_id != ticket.id:
        raise NotFound(_("Message not found."))
    edited = messages.edit_message(actor, found.id, data["body"])
    return jsonify(message_view(actor, ticket, edited).to_json())
