"""Tickets: list, open, read, change, escalate."""

from __future__ import annotations

import typing as t

from flask import jsonify
from flask import url_for
from flask.typing import ResponseReturnValue

from ... import policy
from ...errors import ForbiddenField
from ...identity import require_actor
from ...models import Priority
from ...models import Source
from ...models import Status
from ...presentation import follow_up_numbers
from ...presentation import ticket_view
from ...services import escalation
from ...services import listing
from ...services import tickets
from ...services._validate import choice
from ...values import Actor
from . import bp
from ._io import Param
from ._io import operation
from ._io import query_args
from ._io import read_body

_TEXT = {"type": "string"}

TICKET_QUERY = (
    Param("status", {"type": "string", "enum": [s.value for s in Status]}, "Only this status."),
    Param(
        "priority", {"type": "string", "enum": [p.value for p in Priority]}, "Only this priority."
    ),
    Param("department", _TEXT, "A department slug, or `none`."),
    Param("assignee", _TEXT, "A staff id, `me` or `none`."),
    Param("source", {"type": "string", "enum": [s.value for s in Source]}, "Only this source."),
    Param(
        "q",
        {"type": "string", "maxLength": 200},
        "Words of the number, subject, requester or messages the actor may read; best "
        "match first unless `sort` is given.",
    ),
    Param(
        "sort",
        {
            "type": "string",
            "enum": [
                listing.RELEVANCE,
                *(f"{d}{k}" for k in sorted(listing.SORTS) for d in ("", "-")),
            ],
        },
        "Sort key; `-` for descending (default `relevance`: with `q` the best match "
        "first, else `-updated`).",
    ),
    Param("page", {"type": "integer", "minimum": 1}, "Page number, from 1."),
    Param("page_size", {"type": "integer", "minimum": 1}, "Rows per page."),
)


@bp.get("/tickets")
@operation(
    "Tickets the actor may see, filtered and paginated",
    "TicketPage",
    query=TICKET_QUERY,
    errors=(400, 401),
)
def list_tickets() -> ResponseReturnValue:
    """``GET /tickets``: the tickets the actor may see, filtered, sorted and paginated."""
    actor = require_actor()
    args = query_args(p.name for p in TICKET_QUERY)
    page = listing.visible_tickets(
        actor,
        listing.TicketFilters.parse(args),
        sort=args.get("sort"),
        page=args.get("page"),
        page_size=args.get("page_size"),
    )
    follow_ups = follow_up_numbers(page.items)
    body: dict[str, t.Any] = {
        "items": [ticket_view(actor, ticket, follow_ups).to_json() for ticket in page.items],
        "page": page.page,
        "page_size": page.page_size,
        "next": page.page + 1 if page.has_next else None,
    }
    if args.get("q"):
        body["snippets"] = {
            ticket.number: str(page.snippets[ticket.id])
            for ticket in page.items
            if ticket.id in page.snippets
        }
    return jsonify(body)


@bp.post("/tickets")
@operation(
    "Open a ticket (JSON, or multipart with `files`); a repeated `client_id` answers 200 "
    "with the ticket the first request opened",
    "AnyTicket",
    status=201,
    also=(200,),
    body="TicketCreate",
    multipart=True,
    errors=(400, 401, 403, 413, 415),
)
def create_ticket() -> ResponseReturnValue:
    """``POST /tickets``: open a ticket (staff may file one for a customer; a guest
    opens one only through the contact form)."""
    actor = require_actor()
    policy.require_account(actor)

    data, uploads = read_body(
        "TicketCreate", files=True, guard=lambda raw: policy.open_refusals(actor, raw)
    )
    requester = data.get("requester")
    opened = tickets.open(
        actor,
        subject=data["subject"],
        body=data["body"],
        category=data.get("category"),
        department=data.get("department"),
        priority=data.get("priority"),
        reference=data.get("reference"),
        source=Source.API,
        requester_id=None if requester is None else str(requester),
        attachments=uploads,
        client_id=data.get("client_id"),
    )
    ticket = opened.ticket
    response = jsonify(ticket_view(actor, ticket).to_json())
    response.status_code = 201 if opened.created else 200
    response.headers["Location"] = url_for(".get_ticket", number=ticket.number)
    return response


@bp.get("/tickets/<number>")
@operation("One ticket", "AnyTicket", errors=(401, 404))
def get_ticket(number: str) -> ResponseReturnValue:
    """``GET /tickets/<number>``: one ticket, in the fields its viewer may see."""
    actor = require_actor()
    query_args(())
    return jsonify(ticket_view(actor, policy.get_ticket(actor, number)).to_json())


def _refused_changes(actor: Actor, number: str, data: t.Mapping[str, t.Any]) -> dict[str, str]:
    """The fields of a PATCH that policy refuses this actor on this ticket.

    Asked before validating values, so a mass-assignment attempt is answered with every
    offending field at once, and for an invisible ticket with the same 404 as always.
    """
    ticket = policy.get_ticket(actor, number)
    changes = {k: v for k, v in data.items() if k in tickets.UPDATABLE_FIELDS}
    if isinstance(changes.get("status"), str) and changes["status"] in Status._value2member_map_:
        changes["status"] = choice(Status, changes["status"], "status")
    try:
        policy.check_update(actor, ticket, changes)
    except ForbiddenField as exc:
        return exc.fields
    return {}


@bp.patch("/tickets/<number>")
@operation(
    "Change a ticket: subject and closing (requester); anything (staff)",
    "AnyTicket",
    body="TicketUpdate",
    errors=(400, 401, 404, 409),
)
def update_ticket(number: str) -> ResponseReturnValue:
    """``PATCH /tickets/<number>``: change fields; fields the actor may not set are refused."""
    actor = require_actor()
    data, _ = read_body("TicketUpdate", guard=lambda raw: _refused_changes(actor, number, raw))
    return jsonify(ticket_view(actor, tickets.update_ticket(actor, number, data)).to_json())


@bp.post("/tickets/<number>/escalate")
@operation(
    "Escalate one level up (beyond the top through platform support)",
    "Ticket",
    body="Escalation",
    errors=(400, 401, 403, 404, 409),
)
def escalate_ticket(number: str) -> ResponseReturnValue:
    """``POST /tickets/<number>/escalate``: hand the ticket to the next role up (staff)."""
    actor = require_actor()
    data, _ = read_body("Escalation")
    ticket = escalation.escalate(actor, number, reason=data.get("reason", ""))
    return jsonify(ticket_view(actor, ticket).to_json())
