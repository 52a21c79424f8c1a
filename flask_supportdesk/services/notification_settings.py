"""What each person wants to hear: the notification kinds they muted, and the language
their mails are written in.

A host user (customer or staff) mutes kinds on the portal's and the desk's
*Notifications* page. Security mails (:data:`SECURITY_KINDS`: a delegate invitation, a
changed support PIN) are sent whatever the settings say: muting them would let an
attacker who changed someone's settings act unseen. Guests have no settings (they have
no account to keep them in); their mails are about their own request only.

The outbox (:func:`~flask_supportdesk.services.notifications.write_outbox`) asks
:func:`for_recipients` once per unit of work, for every planned recipient at once.
"""

from __future__ import annotations

import dataclasses
import typing as t

import sqlalchemy as sa

from .._state import get_state
from ..errors import ValidationError
from ..i18n import gettext as _
from ..i18n import lazy_gettext as _l
from ..i18n import shipped_languages
from ..models import NotificationSettings
from ..values import Actor
from . import _validate
from ._uow import transaction

#: Kinds nobody can mute: they tell a person that someone acted in their name.
SECURITY_KINDS = frozenset({"delegate_invited", "pin_changed"})

#: What a customer may hear, in the order the settings page lists it, with its label.
CUSTOMER_KINDS: tuple[tuple[str, t.Any], ...] = (
    ("ticket_acknowledged", _l("Confirmation when I open a request")),
    ("reply_posted", _l("A reply from support")),
    ("conversation_started", _l("Support starts a conversation with me")),
)
#: What a staff member may hear, in order, with its label.
STAFF_KINDS: tuple[tuple[str, t.Any], ...] = (
    ("ticket_opened", _l("A new ticket for my level and department")),
    ("customer_replied", _l("A customer replies on a ticket I handle")),
    ("ticket_escalated", _l("A ticket is escalated to my level")),
)
#: Security mails as the settings page names them (always on).
SECURITY_LABELS: tuple[tuple[str, t.Any], ...] = (
    ("delegate_invited", _l("An invitation to follow someone's request")),
    ("pin_changed", _l("My support PIN was changed")),
)


@dataclasses.dataclass(frozen=True)
class Settings:
    """One person's settings: the kinds they muted and their mail language."""

    muted: frozenset[str] = frozenset()
    locale: str | None = None

    def hears(self, kind: str) -> bool:
        """Whether a notification of ``kind`` reaches them (security kinds always do)."""
        return kind in SECURITY_KINDS or kind not in self.muted


DEFAULT = Settings()


def mutable_kinds(*, staff: bool) -> tuple[tuple[str, t.Any], ...]:
    """The kinds a customer (or, with ``staff``, a staff member) may mute, labelled."""
    return STAFF_KINDS if staff else CUSTOMER_KINDS


def _row_settings(row: NotificationSettings | None) -> Settings:
    if row is None:
        return DEFAULT
    return Settings(frozenset(row.muted_kinds or ()), row.locale)


def get_settings(actor: Actor) -> Settings:
    """``actor``'s settings (the defaults for guests, the system and anyone who never
    changed them)."""
    if actor.user_id is None:
        return DEFAULT
    return _row_settings(get_state().db.session.get(NotificationSettings, actor.user_id))


def for_recipients(user_ids: t.Iterable[str | None]) -> dict[str, Settings]:
    """The settings of these host users, in one query; users without a row are left out
    (they have the defaults)."""
    ids = sorted({uid for uid in user_ids if uid is not None})
    if not ids:
        return {}
    # Plain rows from a statement built once: this runs in every change that notifies
    # someone, and the ORM's loading cost more than the query.
    found = get_state().db.session.connection().execute(_BY_USER_IDS, {"ids": ids})
    return {uid: Settings(frozenset(muted or ()), locale) for uid, muted, locale in found}


_TABLE = t.cast(sa.Table, NotificationSettings.__table__)
_BY_USER_IDS = sa.select(_TABLE.c.user_id, _TABLE.c.muted_kinds, _TABLE.c.locale).where(
    _TABLE.c.user_id.in_(sa.bindparam("ids", expanding=True))
)


def languages() -> tuple[str, ...]:
    """The languages a person may choose for their mails: the desk's languages that it
    ships a translation for."""
    offered = get_state().config.languages
    return tuple(name for name in offered if name in shipped_languages())


def save_settings(
    actor: Actor, *, muted: t.Iterable[t.Any], locale: t.Any = None, staff: bool
) -> Settings:
    """Keep ``actor``'s choice: ``muted`` kinds (of those :func:`mutable_kinds` offers
    them) and the mail ``locale`` (``None`` or empty: their last used language).

    :raises ValidationError: a guest or the system (no account to keep settings in), an
        unknown kind, or a language the desk does not offer.
    """
    if actor.user_id is None:
        raise ValidationError(_("Only account holders have notification settings."))
    offered = {kind for kind, _label in mutable_kinds(staff=staff)}
    chosen = set()
    for kind in muted:
        if not isinstance(kind, str) or kind not in offered:
            raise ValidationError(fields={"muted": _("Not a notification you can turn off.")})
        chosen.add(kind)
    if locale is not None and not isinstance(locale, str):
        raise ValidationError(fields={"locale": _("Not a language of this desk.")})
    locale = (locale or "").strip() or None
    if locale is not None:
        _validate.storable(locale, "locale")
        if locale not in languages():
            raise ValidationError(fields={"locale": _("Not a language of this desk.")})
    with transaction():
        session = get_state().db.session
        row = session.get(NotificationSettings, actor.user_id, with_for_update=True)
        if row is None:
            row = NotificationSettings(user_id=actor.user_id)
            session.add(row)
        # Mutes of the other audience stay as they were (a staff member who is also a
        # customer elsewhere keeps both pages' choices).
        others = [k for k in (row.muted_kinds or ()) if k not in offered]
        row.muted_kinds = sorted({*others, *chosen})
        row.locale = locale
    return Settings(frozenset(row.muted_kinds), row.locale)
