"""Staff desk: counters, ticket lists, ticket page, replies, escalation, departments."""

from __future__ import annotations

from ._common import make_blueprint

bp = make_blueprint("supportdesk_desk", __name__)
