"""JSON API v1 (``/support/api/v1``): tickets, messages, attachments, delegates,
departments.

Cookie-authenticated like the pages: the host's Flask-Login session identifies the
actor, and every unsafe request carries Flask-WTF's CSRF token in ``X-CSRFToken``
(:func:`.._common.make_blueprint` checks it). Every answer is JSON, errors included:
``{"error": {"code", "message", "fields"?}}`` with the status of :mod:`flask_supportdesk.errors`.
The OpenAPI 3.1 document is served at ``/openapi.json``.
"""

from __future__ import annotations

from .._common import make_blueprint

bp = make_blueprint("supportdesk_api", __name__)

# The route modules register their views on ``bp``; imported for that effect only.
from . import account  # noqa: E402,F401
from . import attachments  # noqa: E402,F401
from . import chats  # noqa: E402,F401
from . import delegates  # noqa: E402,F401
from . import errors  # noqa: E402,F401
from . import inbound  # noqa: E402,F401
from . import messages  # noqa: E402,F401
from . import openapi  # noqa: E402,F401
from . import tickets  # noqa: E402,F401
