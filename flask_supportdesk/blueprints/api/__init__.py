"""JSON API v1: tickets, messages, attachments; errors as ``{"error": {...}}``."""

from __future__ import annotations

from .._common import make_blueprint

bp = make_blueprint("supportdesk_api", __name__)
