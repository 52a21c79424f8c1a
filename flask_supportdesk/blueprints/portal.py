"""Customer portal: my tickets, new ticket, thread with reply, edit, close."""

from __future__ import annotations

from ._common import make_blueprint

bp = make_blueprint("supportdesk_portal", __name__)
