"""Staff roles from ``SUPPORTDESK_ROLE_HIERARCHY``."""

from __future__ import annotations

from ..._state import get_state
from .. import hookimpl


@hookimpl(trylast=True)
def supportdesk_role_hierarchy() -> list[str]:
    """Roles from ``SUPPORTDESK_ROLE_HIERARCHY``, lowest first."""
    return list(get_state().config.role_hierarchy)
