"""Input rules shared by the services; every limit is enforced here, on the server."""

from __future__ import annotations

import enum
import re
import typing as t
import unicodedata

from .._state import get_state
from ..errors import NotFound
from ..errors import ValidationError
from ..i18n import format_number
from ..i18n import gettext as _
from ..i18n import lazy_gettext as _l

E = t.TypeVar("E", bound=enum.Enum)

#: Ids are 32-bit integers on every database: a larger number overflows in SQL (SQLite
#: refuses Python ints over 2**63, PostgreSQL an ``integer`` over 2**31 - 1).
MIN_ID = 1
MAX_ID = 2**31 - 1
#: Host user ids are kept as strings of at most this many characters.
MAX_USER_ID_LENGTH = 64

# What no database column can hold: NUL (PostgreSQL refuses it in text) and lone
# surrogates (no encoding can write them; the driver fails).
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")
# C0/C1 controls except tab, newline, carriage return; line and paragraph separators.
_BODY_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")
# A subject is one line: no control characters at all (they break e-mail headers).
_LINE_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# Bidi controls and invisible characters: they disguise what a name says (an "exe"
# shown as "pdf"). U+200C/U+200D stay allowed: Persian words and emoji sequences need them.
_DECEPTIVE = re.compile(r"[\u061c\u200b\u200e\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]")
DECEPTIVE_REASON = _l("Must not contain invisible or text-direction characters.")


def too_long(limit: int) -> str:
    """The refusal of a text over ``limit`` characters, the number as the locale writes it."""
    return _("At most %(num)s characters.", num=format_number(limit))


def is_storable(value: str) -> bool:
    """Whether every database can store ``value``: no NUL, no lone surrogate.

    :param value: The text to check.
    """
    return _UNSTORABLE.search(value) is None


def storable(value: str, field: str) -> str:
    """``value`` unchanged, if every database can store it.

    :param value: The text to check.
    :param field: The field named in the error.
    :raises ValidationError: NUL or a lone surrogate.
    """
    if not is_storable(value):
        raise ValidationError(fields={field: _("Contains characters that cannot be stored.")})
    return value


def no_deceptive(value: str, field: str) -> str:
    """``value`` unchanged, if it has no bidi control or invisible character.

    :param value: The text to check.
    :param field: The field named in the error.
    :raises ValidationError: a bidi control or an invisible character.
    """
    if _DECEPTIVE.search(value):
        raise ValidationError(fields={field: DECEPTIVE_REASON})
    return value


def is_object_id(value: t.Any) -> bool:
    """Whether ``value`` is a number a row id could be (an int or its ASCII digits).

    :param value: An id from input (an ``int`` or a ``str``).
    """
    if isinstance(value, str):
        if not (value.isascii() and value.isdigit()) or len(value) > 10:
            return False
        value = int(value)
    return isinstance(value, int) and not isinstance(value, bool) and MIN_ID <= value <= MAX_ID


def object_id(value: t.Any, what: str) -> int:
    """A row id from input (a URL or an argument of the Python API).

    :param value: An ``int`` or a string of ASCII digits.
    :param what: What is looked up, for the error message ("Message").
    :raises NotFound: not a number a row could have: no such row.
    """
    if not is_object_id(value):
        raise NotFound(f"{what} not found.")
    return int(value)


def user_id(value: t.Any, field: str) -> str:
    """A host user id from input, as the string the hooks receive.

    :param value: A string or an integer.
    :param field: The field named in the error.
    :raises ValidationError: not 1 to 64 printable, storable characters.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if (
        not isinstance(value, str)
        or not 1 <= len(value) <= MAX_USER_ID_LENGTH
        or not value.isprintable()
        or not is_storable(value)
    ):
        raise ValidationError(
            fields={field: _("An id of 1 to %(num)s printable characters.", num=MAX_USER_ID_LENGTH)}
        )
    return value


def text(value: t.Any, field: str, *, limit: int, required: bool = True) -> str:
    """Multi-line text under the body rules: NFC, stripped, no control characters.

    :param value: The text from input.
    :param field: The field named in errors.
    :param limit: The largest number of characters.
    :param required: Whether empty text (after stripping) is refused.
    :raises ValidationError: not text, empty when required, too long, or with control
        characters or characters that cannot be stored.
    """
    if not isinstance(value, str):
        raise ValidationError(fields={field: _("Must be text.")})
    storable(value, field)
    cleaned = unicodedata.normalize("NFC", value.replace("\r\n", "\n")).strip()
    if required and not cleaned:
        raise ValidationError(fields={field: _("Required.")})
    if len(cleaned) > limit:
        raise ValidationError(fields={field: too_long(limit)})
    if _BODY_FORBIDDEN.search(cleaned):
        raise ValidationError(fields={field: _("Contains control characters.")})
    return cleaned


def subject(value: t.Any, field: str = "subject") -> str:
    """A one-line subject of 1 to ``SUPPORTDESK_MAX_SUBJECT_LENGTH`` characters.

    :param value: The subject from input.
    :param field: The field named in errors.
    :raises ValidationError: not text, empty, too long, with control, invisible or
        text-direction characters, or with characters that cannot be stored.
    """
    if not isinstance(value, str):
        raise ValidationError(fields={field: _("Must be text.")})
    storable(value, field)
    cleaned = unicodedata.normalize("NFC", value).strip()
    limit = get_state().config.max_subject_length
    if not cleaned:
        raise ValidationError(fields={field: _("Required.")})
    if len(cleaned) > limit:
        raise ValidationError(fields={field: too_long(limit)})
    if _LINE_FORBIDDEN.search(cleaned):
        raise ValidationError(fields={field: _("Must be one line without control characters.")})
    return no_deceptive(cleaned, field)


def body(value: t.Any, field: str = "body") -> str:
    """A message body of 1 to ``SUPPORTDESK_MAX_MESSAGE_LENGTH`` characters.

    :param value: The body from input.
    :param field: The field named in errors.
    :raises ValidationError: not text, empty, too long, or with control characters or
        characters that cannot be stored.
    """
    return text(value, field, limit=get_state().config.max_message_length)


def choice(enum_cls: type[E], value: t.Any, field: str) -> E:
    """``value`` as a member of ``enum_cls`` (by value).

    :param enum_cls: The enumeration.
    :param value: A member or its value.
    :param field: The field named in the error.
    :raises ValidationError: not one of the values.
    """
    if isinstance(value, enum_cls):
        return value
    try:
        return enum_cls(value)
    except (TypeError, ValueError):  # TypeError: an unhashable value (a list)
        allowed = ", ".join(str(m.value) for m in enum_cls)
        raise ValidationError(
            fields={field: _("Must be one of: %(allowed)s.", allowed=allowed)}
        ) from None


def category(value: t.Any) -> str:
    """A configured category; empty means the default one.

    :param value: The category from input.
    :raises ValidationError: not one of ``SUPPORTDESK_CATEGORIES``.
    """
    categories = get_state().config.categories
    if value in (None, ""):
        return get_state().config.default_category
    if not isinstance(value, str) or value not in categories:
        raise ValidationError(
            fields={"category": _("Must be one of: %(allowed)s.", allowed=", ".join(categories))}
        )
    return value


def client_id(value: t.Any) -> str | None:
    """An optional client message id (idempotency key) of at most 64 printable characters.

    :param value: The id from input.
    :raises ValidationError: not text of at most 64 printable, storable characters.
    """
    if value in (None, ""):
        return None
    if (
        not isinstance(value, str)
        or len(value) > 64
        or not value.isprintable()
        or not is_storable(value)
    ):
        raise ValidationError(fields={"client_id": _("At most 64 printable characters.")})
    return value


def each_field(checks: t.Iterable[tuple[str, t.Callable[[], t.Any]]]) -> dict[str, t.Any]:
    """Run every field's check and report every problem at once.

    :param checks: ``(field, check)`` pairs; a check returns the cleaned value or raises
        :class:`~flask_supportdesk.ValidationError`.
    :raises ValidationError: with the problems of all fields that failed.
    """
    problems: dict[str, str] = {}
    checked: dict[str, t.Any] = {}
    for field, check in checks:
        try:
            checked[field] = check()
        except ValidationError as exc:
            problems.update(exc.fields)
    if problems:
        raise ValidationError(fields=problems)
    return checked
