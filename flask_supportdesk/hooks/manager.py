"""Builds each app's plugin manager and offers typed calls to its hooks."""

from __future__ import annotations

import typing as t

import pluggy
from flask import current_app
from flask import g
from flask import has_request_context
from sqlalchemy import exc as sa_exc

from .._state import get_state
from ..errors import ConfigurationError
from ..values import Actor
from ..values import Reference
from ..values import Route
from . import ENTRY_POINT_GROUP
from . import PROJECT_NAME
from . import specs
from .builtin import BUILTIN_PLUGINS

if t.TYPE_CHECKING:
    from ..config import SupportDeskConfig
    from ..models import Ticket


def make_plugin_manager(
    config: SupportDeskConfig, plugins: t.Sequence[object]
) -> pluggy.PluginManager:
    """Register built-ins, entry-point plugins, then the host's plugins, and validate.

    :raises ConfigurationError: a plugin implements a hook that does not exist (a typo).
    """
    pm = pluggy.PluginManager(PROJECT_NAME)
    pm.add_hookspecs(specs)
    for name in config.disabled_plugins:
        pm.set_blocked(name)
    for name, module in BUILTIN_PLUGINS:
        if not pm.is_blocked(name):
            pm.register(module, name=name)
    if config.load_entry_points:
        pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    for plugin in plugins:
        register_plugin(pm, plugin)
    try:
        pm.check_pending()  # entry-point plugins with a misspelled hook
    except pluggy.PluginValidationError as exc:
        raise ConfigurationError(f"{exc}. Check the name against the hooks reference.") from None
    return pm


def register_plugin(pm: pluggy.PluginManager, plugin: object, name: str | None = None) -> None:
    """Register one plugin, turning common mistakes into clear errors."""
    if isinstance(plugin, type):
        raise ConfigurationError(
            f"Plugins are registered as instances or modules; got the class {plugin.__name__}."
            " Did you forget the '()'?"
        )
    if pm.is_registered(plugin):
        return
    try:
        pm.register(plugin, name=name)
    except pluggy.PluginValidationError as exc:
        raise ConfigurationError(str(exc)) from None
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        pm.unregister(plugin)
        raise ConfigurationError(f"{exc}. Check the name against the hooks reference.") from None


class Hooks:
    """Typed calls to one app's hooks, with the defaults the desk relies on.

    :param pm: The app's plugin manager (``pm.hook`` for anything not wrapped here).
    """

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self.pm = pm

    @property
    def hook(self) -> t.Any:
        """pluggy's hook relay, for calling a hook this class does not wrap."""
        return self.pm.hook

    def identify(self, user: t.Any) -> Actor | None:
        """The :class:`Actor` for the host's logged-in user object (``supportdesk_identify``)."""
        return _actor(self.pm.hook.supportdesk_identify(user=user), "supportdesk_identify")

    def load_user(self, user_id: str) -> Actor | None:
        """The person with this host user id, or ``None`` (also when the hook cannot
        make sense of the id: see :data:`ODD_INPUT_ERRORS`).

        :param user_id: A host user id, already checked for shape by the services.
        :raises TypeError: the hook answered something that is not an Actor.
        """
        found = _lookup(
            "supportdesk_load_user", self.pm.hook.supportdesk_load_user, user_id=str(user_id)
        )
        return _actor(found, "supportdesk_load_user")

    def find_user(self, email: str) -> Actor | None:
        """The account holder with this e-mail address, or ``None`` (also when the hook
        cannot make sense of it: see :data:`ODD_INPUT_ERRORS`).

        :param email: The address.
        :raises TypeError: the hook answered something that is not an Actor.
        """
        found = _lookup("supportdesk_find_user", self.pm.hook.supportdesk_find_user, email=email)
        return _actor(found, "supportdesk_find_user")

    def staff_members(self) -> list[Actor]:
        """Every staff member a ticket can be assigned to (``supportdesk_staff_members``).

        Asked once per request: a desk page offers them in several selects, and the
        host's hook may query its database each time.
        """
        if not has_request_context():
            return list(self.pm.hook.supportdesk_staff_members() or ())
        members: tuple[Actor, ...] | None = g.get("_supportdesk_staff_members")
        if members is None:
            members = tuple(self.pm.hook.supportdesk_staff_members() or ())
            g._supportdesk_staff_members = members
        return list(members)

    def role_hierarchy(self) -> tuple[str, ...]:
        """The staff roles, lowest first (``supportdesk_role_hierarchy``)."""
        roles = self.pm.hook.supportdesk_role_hierarchy()
        if not roles:
            raise ConfigurationError("supportdesk_role_hierarchy returned no roles.")
        return tuple(roles)

    def staff_departments(self, actor: Actor) -> tuple[str, ...] | None:
        """The department slugs a staff member works in; ``None`` means all of them."""
        if not actor.is_user:
            return None  # the system reaches every department; guests are not staff
        slugs = self.pm.hook.supportdesk_staff_departments(actor=actor)
        return None if slugs is None else tuple(slugs)

    def route_ticket(self, ticket: Ticket) -> Route | None:
        """Where a new ticket goes (``supportdesk_route_ticket``), or ``None`` for the default.

        :raises TypeError: a plugin answered something other than a :class:`Route`.
        """
        route = self.pm.hook.supportdesk_route_ticket(ticket=ticket)
        if route is not None and not isinstance(route, Route):
            raise TypeError("supportdesk_route_ticket must return a Route or None.")
        return route

    def delivers_notifications(self, *, mail_configured: bool) -> bool:
        """Whether a notification would reach anyone: the built-in e-mail delivery is
        configured (``mail_configured``), or another plugin implements
        ``supportdesk_deliver_notification``."""
        from .builtin import mail

        if mail_configured:
            return True
        return any(
            impl.plugin is not mail
            for impl in self.pm.hook.supportdesk_deliver_notification.get_hookimpls()
        )

    def has_platform_support(self) -> bool:
        """Whether a plugin implements ``supportdesk_escalate_beyond`` (no built-in does)."""
        return bool(self.pm.hook.supportdesk_escalate_beyond.get_hookimpls())

    def escalate_beyond(self, ticket: Ticket, actor: Actor, reason: str) -> str | None:
        """Hand a ticket past the top role to the host (``supportdesk_escalate_beyond``).

        Returns the host's reference for the hand-over, or ``None`` if no plugin took it.
        """
        result = self.pm.hook.supportdesk_escalate_beyond(ticket=ticket, actor=actor, reason=reason)
        return None if result is None else str(result)

    def resolve_reference(self, kind: str, ref: str, actor: Actor) -> Reference | None:
        """Look up what a ticket is about, such as an order, as the actor may see it.

        :raises TypeError: a plugin answered something other than a :class:`Reference`.
        """
        if not actor.is_user:
            return None  # only a host account owns the host's objects
        result = self.pm.hook.supportdesk_resolve_reference(kind=kind, ref=ref, actor=actor)
        if result is not None and not isinstance(result, Reference):
            raise TypeError("supportdesk_resolve_reference must return a Reference or None.")
        return result

    def store_attachment(
        self, stream: t.BinaryIO, filename: str, content_type: str, size: int
    ) -> str:
        """Store an uploaded file and return the key it can be opened by later.

        :raises ConfigurationError: no storage plugin answered.
        """
        key = self.pm.hook.supportdesk_store_attachment(
            stream=stream, filename=filename, content_type=content_type, size=size
        )
        if not key:
            raise ConfigurationError("No supportdesk_store_attachment implementation answered.")
        return str(key)

    def open_attachment(self, key: str) -> t.BinaryIO | None:
        """Open a stored file for reading, or ``None`` if it is gone; the caller closes it."""
        return t.cast("t.BinaryIO | None", self.pm.hook.supportdesk_open_attachment(key=key))

    def delete_attachment(self, key: str) -> None:
        """Delete a stored file whose message was not saved, so a failed upload leaves none."""
        self.pm.hook.supportdesk_delete_attachment(key=key)


#: What a host's user lookup raises on an id or address it cannot parse (a naive
#: ``int(user_id)`` of ``"²"``, a 40-digit id too large for SQLite): "no such user".
#: A ``DataError`` is the database saying the same (PostgreSQL: "integer out of range");
#: an outage (``OperationalError``) is not among them and still answers 503.
ODD_INPUT_ERRORS = (ValueError, TypeError, LookupError, OverflowError, sa_exc.DataError)


def _lookup(hook: str, call: t.Callable[..., t.Any], **kwargs: str) -> t.Any:
    """Call a user-lookup hook; an id it cannot make sense of means "no such user"."""
    session = get_state().db.session
    try:
        if session.get_bind().dialect.name == "postgresql":
            # A failed statement aborts the whole PostgreSQL transaction (the caller's
            # too): a savepoint keeps the failure to the lookup. SQLite fails such ids
            # before sending them (OverflowError), and pysqlite's savepoints are unreliable.
            with session.begin_nested():
                return call(**kwargs)
        return call(**kwargs)
    except ODD_INPUT_ERRORS as exc:
        current_app.logger.warning(
            "%s raised %s for %r; treated as no such user",
            hook,
            type(exc).__name__,
            next(iter(kwargs.values())),
        )
        return None


def _actor(value: t.Any, hook: str) -> Actor | None:
    if value is not None and not isinstance(value, Actor):
        raise TypeError(f"{hook} must return a flask_supportdesk.Actor or None, not {value!r}.")
    return value
