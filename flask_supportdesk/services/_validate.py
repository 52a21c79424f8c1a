"""Input rules shared by the services; every limit is enforced here, on the server."""

from __future__ import annotations

import enum
import re
import typing as t
import unicodedata

from .._state import get_state
from ..errors import ValidationError

E = t.TypeVar("E", bound=enum.Enum)

# C0/C1 controls except tab, newline, carriage return; line and paragraph separators.
_BODY_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")
# A subject is one line: no control characters at all (they break e-mail headers).
_LINE_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def subject(value: t.Any, field: str = "subject") -> str:
    """A one-line subject of 1 to ``SUPPORTDESK_MAX_SUBJECT_LENGTH`` characters."""
    if not isinstance(value, str):
        raise ValidationError(fields={field: "Must be text."})
    text = unicodedata.normalize("NFC", value).strip()
    limit = get_state().config.max_subject_length
    if not text:
        raise ValidationError(fields={field: "Required."})
    if len(text) > limit:
        raise ValidationError(fields={field: f"At most {limit} characters."})
    if _LINE_FORBIDDEN.search(text):
        raise ValidationError(fields={field: "Must be one line without control characters."})
    return text


def body(value: t.Any, field: str = "body") -> str:
    """A message body of 1 to ``SUPPORTDESK_MAX_MESSAGE_LENGTH`` characters."""
    if not isinstance(value, str):
        raise ValidationError(fields={field: "Must be text."})
    text = unicodedata.normalize("NFC", value.replace("\r\n", "\n")).strip()
    limit = get_state().config.max_message_length
    if not text:
        raise ValidationError(fields={field: "Required."})
    if len(text) > limit:
        raise ValidationError(fields={field: f"At most {limit} characters."})
    if _BODY_FORBIDDEN.search(text):
        raise ValidationError(fields={field: "Contains control characters."})
    return text


def choice(enum_cls: type[E], value: t.Any, field: str) -> E:
    """``value`` as a member of ``enum_cls`` (by value)."""
    if isinstance(value, enum_cls):
        return value
    try:
        return enum_cls(value)
    except ValueError:
        allowed = ", ".join(str(m.value) for m in enum_cls)
        raise ValidationError(fields={field: f"Must be one of: {allowed}."}) from None


def category(value: t.Any) -> str:
    """A configured ticket category; empty means the default category.

    :raises ValidationError: not one of ``SUPPORTDESK_CATEGORIES``.
    """
    categories = get_state().config.categories
    if value in (None, ""):
        return get_state().config.default_category
    if not isinstance(value, str) or value not in categories:
        raise ValidationError(fields={"category": f"Must be one of: {', '.join(categories)}."})
    return value


def client_id(value: t.Any) -> str | None:
    """An optional client message id (idempotency key) of at most 64 printable characters."""
    if value in (None, ""):
        return None
    if not isinstance(value, str) or len(value) > 64 or not value.isprintable():
        raise ValidationError(fields={"client_id": "At most 64 printable characters."})
    return value
