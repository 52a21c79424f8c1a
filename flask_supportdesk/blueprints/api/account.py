"""Who am I, and which departments can I choose."""

from __future__ import annotations

from flask import jsonify
from flask.typing import ResponseReturnValue

from ...identity import require_actor
from ...presentation import me_json
from ...services import tickets
from . import bp
from ._io import operation
from ._io import query_args


@bp.get("/me")
@operation("The logged-in user as the API sees them", "Me", errors=(401,))
def me() -> ResponseReturnValue:
    """``GET /me``: the logged-in user's actor, so a front end knows whether to show staff views."""
    query_args(())
    return jsonify(me_json(require_actor()))


@bp.get("/departments")
@operation("Active departments a ticket can be filed under", "DepartmentList", errors=(401,))
def departments() -> ResponseReturnValue:
    """``GET /departments``: the active departments, for a new-ticket form's choice."""
    require_actor()
    query_args(())
    items = [{"id": d.id, "slug": d.slug, "name": d.name} for d in tickets.active_departments()]
    return jsonify({"items": items})
