"""Delegates of a ticket: list, invite, revoke; and accepting an invitation."""

from __future__ import annotations

import typing as t

from flask import jsonify
from flask.typing import ResponseReturnValue

from ... import policy
from ...identity import require_actor
from ...models import Delegate
from ...presentation import ticket_view
from ...presentation import timestamp
from ...services import delegates
from . import bp
from ._io import operation
from ._io import query_args
from ._io import read_body


def delegate_json(delegate: Delegate) -> dict[str, t.Any]:
    """The API's ``Delegate`` (for the requester and staff only)."""
    return {
        "id": delegate.id,
        "email": delegate.email,
        "status": delegate.status.value,
        "created_at": timestamp(delegate.created_at),
        "accepted_at": timestamp(delegate.accepted_at),
        "revoked_at": timestamp(delegate.revoked_at),
    }


@bp.get("/tickets/<number>/delegates")
@operation("The ticket's delegates (requester and staff)", "DelegateList", errors=(401, 403, 404))
def list_delegates(number: str) -> ResponseReturnValue:
    """``GET /tickets/<number>/delegates``: every invitation of the ticket, oldest first."""
    actor = require_actor()
    query_args(())
    ticket = policy.get_ticket(actor, number)
    return jsonify({"items": [delegate_json(d) for d in delegates.list_delegates(actor, ticket)]})


@bp.post("/tickets/<number>/delegates")
@operation(
    "Invite an account holder by e-mail (the requester)",
    "Delegate",
    status=201,
    body="DelegateInvite",
    errors=(400, 401, 403, 404, 409, 429),
)
def invite_delegate(number: str) -> ResponseReturnValue:
    """``POST /tickets/<number>/delegates``: the requester invites ``{email}``."""
    actor = require_actor()
    data, _ = read_body("DelegateInvite")
    response = jsonify(delegate_json(delegates.invite(actor, number, data["email"])))
    response.status_code = 201
    return response


@bp.delete("/tickets/<number>/delegates/<delegate_id>")
@operation(
    "Revoke a delegate or pending invitation, at once (requester, staff)",
    "Delegate",
    errors=(401, 403, 404),
)
def revoke_delegate(number: str, delegate_id: str) -> ResponseReturnValue:
    """``DELETE /tickets/<number>/delegates/<id>``: revoke; repeating it changes nothing."""
    actor = require_actor()
    return jsonify(delegate_json(delegates.revoke(actor, number, delegate_id)))


@bp.post("/delegates/accept")
@operation(
    "Accept an invitation (the logged-in invitee); answers the shared ticket",
    "AnyTicket",
    body="DelegateAccept",
    errors=(400, 401, 403, 404, 410),
)
def accept_invitation() -> ResponseReturnValue:
    """``POST /delegates/accept``: the invited account accepts ``{token}``."""
    actor = require_actor()
    data, _ = read_body("DelegateAccept")
    accepted = delegates.accept(actor, data["token"])
    return jsonify(ticket_view(actor, accepted.ticket).to_json())
