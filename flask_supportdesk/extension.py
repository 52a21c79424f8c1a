"""The :class:`SupportDesk` extension: wires the desk into a Flask app."""

from __future__ import annotations

import functools
import typing as t

from flask import Flask
from flask import has_app_context

from . import config as _config
from ._state import EXTENSION_KEY
from ._state import State
from ._state import get_state
from .errors import ConfigurationError
from .hooks.manager import Hooks
from .hooks.manager import make_plugin_manager
from .hooks.manager import register_plugin
from .models import Base

if t.TYPE_CHECKING:
    from flask_sqlalchemy import SQLAlchemy


class SupportDesk:
    """Integrates the support desk with a Flask app.

    Create it with the app, or without and call :meth:`init_app` later (the app-factory
    pattern). One instance may serve several apps; each keeps its own settings and
    plugins in ``app.extensions["supportdesk"]``.

    The host must set up Flask-Login and Flask-SQLAlchemy first: the desk reads
    ``current_user`` and writes through the host's ``db.session``.

    :param app: Call :meth:`init_app` on this app now.
    :param db: The host's :class:`~flask_sqlalchemy.SQLAlchemy`. Defaults to
        ``app.extensions["sqlalchemy"]``.
    :param plugins: Objects with ``@hookimpl`` functions, registered after the built-ins
        and entry-point plugins.
    :param socketio: The host's :class:`flask_socketio.SocketIO`, to serve the desk's
        live namespace ``/supportdesk`` beside the host's own. Without it the desk uses
        ``app.extensions["socketio"]`` if the host set one up, else creates one (with
        ``SUPPORTDESK_SOCKETIO_MESSAGE_QUEUE``, ``SUPPORTDESK_SOCKETIO_CHANNEL``,
        ``SUPPORTDESK_SOCKETIO_ASYNC_MODE`` and
        ``SUPPORTDESK_SOCKETIO_CORS_ALLOWED_ORIGINS``) and keeps it there, as
        Flask-SocketIO does. Run the app with ``socketio.run(app)`` or a server that
        speaks WebSocket (see :doc:`deployment`).

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        db: SQLAlchemy | None = None,
        plugins: t.Sequence[object] = (),
        socketio: t.Any = None,
    ) -> None:
        self._db = db
        self._plugins = list(plugins)
        self._socketio = socketio
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Register the desk on ``app``: settings, plugins, blueprints, CLI, templates.

        :raises RuntimeError: the desk is already registered on this app, Flask-Login or
            Flask-SQLAlchemy is missing.
        :raises ConfigurationError: an unknown or invalid ``SUPPORTDESK_*`` setting, or a
            plugin implementing a hook that does not exist.
        """
        if EXTENSION_KEY in app.extensions:
            raise RuntimeError(
                "A 'SupportDesk' instance has already been registered on this Flask app."
                " Import and use that instance instead."
            )
        if not hasattr(app, "login_manager"):
            raise RuntimeError(
                "The support desk needs Flask-Login. Call 'LoginManager().init_app(app)'"
                " before 'SupportDesk.init_app(app)'."
            )
        db = self._db or app.extensions.get("sqlalchemy")
        if db is None:
            raise RuntimeError(
                "The support desk needs Flask-SQLAlchemy. Pass 'SupportDesk(app, db=db)' or"
                " call 'db.init_app(app)' before 'SupportDesk.init_app(app)'."
            )
        config = _config.load(app)
        hooks = Hooks(make_plugin_manager(config, self._plugins))
        from .ratelimit import make_limiter
        from .services.delivery_thread import DeliveryThread

        delivery = DeliveryThread(app, config.deliver_interval)
        state = State(
            desk=self,
            config=config,
            hooks=hooks,
            db=db,
            delivery=delivery,
            limiter=make_limiter(config),
            socketio=self._live(app, config),
        )
        app.extensions[EXTENSION_KEY] = state

        from .blueprints.desk import note_own_changes
        from .broadcast import broadcast
        from .broadcast import prepare as prepare_broadcast
        from .events import send_signals
        from .services.departments import forget_departments
        from .services.listing import forget_counters
        from .services.notifications import deliver_written
        from .services.notifications import write_outbox
        from .services.notifications import write_security_notices
        from .services.reads import record_own_changes
        from .services.timeline import record_events

        state.before_commit.append(record_events)
        state.before_commit.append(record_own_changes)
        state.before_commit.append(write_outbox)
        state.before_commit.append(write_security_notices)
        # Last: the live payloads show the rows as every consumer above left them.
        state.before_commit.append(prepare_broadcast)
        # The desk's kept counts first: a signal receiver may already show the desk.
        state.after_commit.append(forget_counters)
        state.after_commit.append(forget_departments)
        state.after_commit.append(note_own_changes)
        state.after_commit.append(functools.partial(send_signals, app))
        state.after_commit.append(broadcast)
        # Last: delivery talks to a mail server, the announcements above should not wait.
        state.after_commit.append(deliver_written)
        if config.deliver_after_commit and config.deliver_in_background:
            # The first request starts the delivery thread: what other processes left
            # queued (a CLI command, a server stopped mid-way) goes out without waiting
            # for this process's first notification.
            app.before_request(functools.partial(delivery.start_once, state))

        from .blueprints import register_blueprints
        from .cli import supportdesk_cli
        from .i18n import init_i18n
        from .identity import init_guest_sessions
        from .templating import init_templating

        init_i18n(app)
        init_guest_sessions(app)
        from .realtime import init_realtime

        init_realtime(app, state.socketio)
        register_blueprints(app, config)
        init_templating(app)
        app.cli.add_command(supportdesk_cli)

    def _live(self, app: Flask, config: t.Any) -> t.Any:
        socketio = self._socketio or app.extensions.get("socketio")
        if socketio is not None:
            return socketio
        from flask_socketio import SocketIO

        origins: list[str] | None = None
        if config.socketio_cors_allowed_origins:
            # A list replaces the same-origin default: keep the site itself in it.
            origins = list(config.socketio_cors_allowed_origins)
            if config.public_url:
                from urllib.parse import urlsplit

                site = urlsplit(config.public_url)
                origins.append(f"{site.scheme}://{site.netloc}")
        kwargs: dict[str, t.Any] = {"cors_allowed_origins": origins} if origins else {}
        return SocketIO(
            app,
            message_queue=config.socketio_message_queue,
            channel=config.socketio_channel,
            async_mode=config.socketio_async_mode,
            **kwargs,
            # The desk's own limit (SUPPORTDESK_SOCKET_MAX_EVENT_SIZE) answers a large
            # event with an error; the transport's is above it, for the framing.
            max_http_buffer_size=max(1_000_000, 2 * config.socket_max_event_size),
        )

    def register(
        self, plugin: object, name: str | None = None, *, app: Flask | None = None
    ) -> None:
        """Register a plugin.

        It is kept for every app initialised later, and registered at once on ``app``
        (default: the current app, when there is an app context and it has this desk).

        :raises ConfigurationError: the plugin is a class, or implements an unknown hook.
        """
        if plugin not in self._plugins:
            self._plugins.append(plugin)
        if app is None and has_app_context():
            from flask import current_app

            app = t.cast(Flask, current_app._get_current_object())  # type: ignore[attr-defined]
        if app is not None and EXTENSION_KEY in app.extensions:
            state = get_state(app)
            if state.desk is self:
                register_plugin(state.hooks.pm, plugin, name=name)

    def create_all(self, app: Flask | None = None) -> None:
        """Create the desk's tables (for tests and demos; deployments run migrations)."""
        state = get_state(app)
        Base.metadata.create_all(state.db.engine)

    def drop_all(self, app: Flask | None = None) -> None:
        """Drop the desk's tables."""
        state = get_state(app)
        Base.metadata.drop_all(state.db.engine)


__all__ = ["ConfigurationError", "SupportDesk"]
