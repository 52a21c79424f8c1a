"""flask-supportdesk: a complete customer support desk for Flask online stores."""

from __future__ import annotations

import typing as t

from . import signals
from .errors import ConfigurationError
from .errors import Conflict
from .errors import Forbidden
from .errors import NotFound
from .errors import SupportDeskError
from .errors import TicketClosed
from .errors import ValidationError
from .extension import SupportDesk
from .hooks import hookimpl
from .values import Actor
from .values import Reference
from .values import Route

__all__ = [
    "Actor",
    "ConfigurationError",
    "Conflict",
    "Forbidden",
    "NotFound",
    "Reference",
    "Route",
    "SupportDesk",
    "SupportDeskError",
    "TicketClosed",
    "ValidationError",
    "hookimpl",
    "signals",
]


def __getattr__(name: str) -> t.Any:
    if name == "__version__":
        import importlib.metadata

        return importlib.metadata.version("flask-supportdesk")
    raise AttributeError(name)
