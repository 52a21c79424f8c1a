"""Per-app state of the desk, kept in ``app.extensions["supportdesk"]``."""

from __future__ import annotations

import dataclasses
import typing as t

from flask import Flask
from flask import current_app

from .services._counter_cache import CounterCache
from .services._counter_cache import KeptValue

if t.TYPE_CHECKING:
    from flask_sqlalchemy import SQLAlchemy

    from .config import SupportDeskConfig
    from .events import Consumer
    from .extension import SupportDesk
    from .hooks.manager import Hooks
    from .ratelimit import RateLimiter
    from .services.delivery_thread import DeliveryThread

EXTENSION_KEY = "supportdesk"


@dataclasses.dataclass(frozen=True)
class State:
    """What one app's desk needs: its settings, hooks and the host's database."""

    desk: SupportDesk
    config: SupportDeskConfig
    hooks: Hooks
    db: SQLAlchemy
    #: Consumers of each unit of work's events inside its transaction (the timeline).
    before_commit: list[Consumer] = dataclasses.field(default_factory=list)
    #: Consumers of the events once committed (the signals), each isolated.
    after_commit: list[Consumer] = dataclasses.field(default_factory=list)
    #: The desk's counters per staff member, kept a few seconds (per process).
    counters: CounterCache = dataclasses.field(default_factory=CounterCache)
    #: The departments the desk's lists offer, kept a few seconds (per process).
    departments: KeptValue[t.Any] = dataclasses.field(default_factory=KeptValue)
    #: Delivers each change's notifications after commit, in the background.
    delivery: DeliveryThread | None = None
    @property
    def delivers_notifications(self) -> bool:
        """Whether anything delivers notifications (the SMTP settings or a plugin's
        ``supportdesk_deliver_notification``): without, the outbox writes nothing, and
        what only a mail can carry (an invitation, a guest's link) is not offered."""
        return self.hooks.delivers_notifications(mail_configured=bool(self.config.mail_server))

    #: Parts of pages rendered once per language (``supportdesk.fragment(name)``).
    fragments: dict[tuple[str, str, str], t.Any] = dataclasses.field(default_factory=dict)
    #: The rate limiter over ``SUPPORTDESK_RATELIMIT_STORAGE_URI`` (:mod:`..ratelimit`).
    limiter: RateLimiter | None = None
    #: The Flask-SocketIO instance the desk's live events go through (the host's, or
    #: one the desk made); also ``app.extensions["socketio"]``.
    socketio: t.Any = None


def get_state(app: Flask | None = None) -> State:
    """The desk state of ``app`` (default: the current app).

    :raises RuntimeError: the app has no desk, or there is no app context.
    """
    if app is None:
        app = t.cast(Flask, current_app._get_current_object())  # type: ignore[attr-defined]
    try:
        return t.cast(State, app.extensions[EXTENSION_KEY])
    except KeyError:
        raise RuntimeError(
            "The current Flask app has no support desk. Did you forget to call"
            " 'SupportDesk(app)' or 'desk.init_app(app)'?"
        ) from None
