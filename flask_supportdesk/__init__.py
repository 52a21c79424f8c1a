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
from .errors import UncommittedHostChanges
from .errors import ValidationError
from .extension import SupportDesk
from .hooks import hookimpl
from .host import create_department
from .host import deliver_notifications
from .host import escalate_ticket
from .host import get_messages
from .host import get_ticket
from .host import host_transaction
from .host import ingest_email
from .host import list_tickets
from .host import open_ticket
from .host import post_message
from .host import update_ticket
from .identity import current_actor
from .presentation import MessageView
from .presentation import TicketView
from .services.attachments import Upload
from .values import Actor
from .values import ActorKind
from .values import OutgoingNotification
from .values import Recipient
from .values import Reference
from .values import Route

__all__ = [
    "Actor",
    "ActorKind",
    "ConfigurationError",
    "Conflict",
    "Forbidden",
    "MessageView",
    "NotFound",
    "OutgoingNotification",
    "Recipient",
    "Reference",
    "Route",
    "SupportDesk",
    "SupportDeskError",
    "TicketClosed",
    "TicketView",
    "UncommittedHostChanges",
    "Upload",
    "ValidationError",
    "create_department",
    "current_actor",
    "deliver_notifications",
    "escalate_ticket",
    "get_messages",
    "get_ticket",
    "hookimpl",
    "host_transaction",
    "ingest_email",
    "list_tickets",
    "open_ticket",
    "post_message",
    "signals",
    "update_ticket",
]


def __getattr__(name: str) -> t.Any:
    if name == "__version__":
        import importlib.metadata

        return importlib.metadata.version("flask-supportdesk")
    raise AttributeError(name)
