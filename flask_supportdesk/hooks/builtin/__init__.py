"""Built-in hook implementations, each registered ``trylast`` so a host's wins."""

from __future__ import annotations

from . import identity
from . import mail
from . import roles
from . import storage

#: (name, plugin) pairs; a name in ``SUPPORTDESK_DISABLED_PLUGINS`` is not registered.
BUILTIN_PLUGINS = (
    ("supportdesk.builtin.identity", identity),
    ("supportdesk.builtin.mail", mail),
    ("supportdesk.builtin.roles", roles),
    ("supportdesk.builtin.storage", storage),
)
