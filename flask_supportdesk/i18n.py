"""The desk's translations: its own gettext domain, the locale, dates and numbers.

The desk's messages live in their own Flask-Babel domain, ``supportdesk``, shipped inside
the package (``flask_supportdesk/translations/<lang>/LC_MESSAGES/supportdesk.mo``), so a
host's ``messages`` catalogue and ours never collide. The locale and the time zone are
Flask-Babel's: a host that set up Flask-Babel keeps its own selectors; otherwise
:func:`init_i18n` sets Flask-Babel up with :func:`select_locale`, which picks one of
``SUPPORTDESK_LANGUAGES`` from ``Accept-Language``.
"""

from __future__ import annotations

import datetime as dt
import functools
import pathlib
import typing as t

import flask_babel
from babel import Locale
from babel.messages.extract import extract_from_file
from flask import Flask
from flask import has_request_context
from flask import request
from flask_babel import Domain
from flask_babel import LazyString
from jinja2 import pass_context
from markupsafe import Markup
from markupsafe import escape

if t.TYPE_CHECKING:
    from jinja2.runtime import Context

#: The gettext domain of every desk message (``supportdesk.po`` / ``supportdesk.mo``).
DOMAIN = "supportdesk"
#: Where the compiled catalogues ship, inside the package.
TRANSLATIONS_DIR = pathlib.Path(__file__).parent / "translations"
#: The language the desk's messages are written in: it needs no catalogue.
SOURCE_LANGUAGE = "en"

domain = Domain(translation_directories=[str(TRANSLATIONS_DIR)], domain=DOMAIN)


def gettext(string: str, **variables: t.Any) -> str:
    """``string`` in the current locale, ``%(name)s`` placeholders filled from ``variables``."""
    return t.cast(str, domain.gettext(string, **variables))


def ngettext(singular: str, plural: str, num: int, **variables: t.Any) -> str:
    """The singular or (a) plural form for ``num`` in the current locale; ``%(num)s`` is
    ``num``."""
    return t.cast(str, domain.ngettext(singular, plural, num, **variables))


class _LazyString(LazyString):  # type: ignore[misc]  # flask_babel is untyped
    # Flask-Babel's LazyString.__html__ returns the text unescaped, so Jinja and WTForms
    # would take a lazy message, variables and all, as safe markup. A message is text.
    def __html__(self) -> Markup:
        return escape(str(self))


def lazy_gettext(string: str, **variables: t.Any) -> LazyString:
    """Like :func:`gettext`, translated when shown: for labels defined at import time.

    Shown in a template it is escaped like any text (Flask-Babel's own is not).
    """
    return _LazyString(gettext, string, **variables)


def lazy_ngettext(singular: str, plural: str, num: int, **variables: t.Any) -> LazyString:
    """Like :func:`ngettext`, translated when shown (and escaped, as text)."""
    return _LazyString(ngettext, singular, plural, num, **variables)


def lazy(func: t.Callable[..., str], *args: t.Any) -> LazyString:
    """``func(*args)`` each time the text is shown, escaped in templates: a label that
    another function translates (``lazy(lambda: status.staff_label)``)."""
    return _LazyString(func, *args)


_ = gettext


@functools.cache
def shipped_languages() -> tuple[str, ...]:
    """The source language and every language with a compiled catalogue in the package."""
    found = sorted(
        path.parent.parent.name for path in TRANSLATIONS_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.mo")
    )
    return (SOURCE_LANGUAGE, *found)


def select_locale() -> str | None:
    """The desk's locale selector, used when the host has not set up Flask-Babel itself.

    The best match of the request's ``Accept-Language`` among ``SUPPORTDESK_LANGUAGES``
    (``de-AT`` matches ``de``), or the first of them; outside a request, ``None`` (the
    default locale).
    """
    if not has_request_context():
        return None
    from ._state import get_state

    languages = get_state().config.languages
    return request.accept_languages.best_match(languages) or languages[0]


def init_i18n(app: Flask) -> None:
    """Use the host's Flask-Babel, or set it up with the desk's selector if there is none.

    A host that calls ``Babel(app)`` after the desk replaces the desk's set-up with its
    own, which is what it means to do.
    """
    if "babel" not in app.extensions:
        from ._state import get_state

        flask_babel.Babel(
            app,
            locale_selector=select_locale,
            default_locale=get_state(app).config.languages[0],
        )


def current_language_tag() -> str:
    """The active locale as a BCP 47 tag for ``<html lang>`` and ``Intl`` (``de``,
    ``pt-BR``)."""
    locale = flask_babel.get_locale()
    return str(locale).replace("_", "-") if locale is not None else SOURCE_LANGUAGE


# -------------------------------------------------------------------------------------
# Templates
# -------------------------------------------------------------------------------------


def _desk_or_host(singular: str, plural: str | None = None, num: int = 1) -> str:
    # A desk page extends the host's layout, whose own strings belong to the host's
    # catalogue: a message our catalogue lacks is looked up in the host's default domain.
    ours = domain.get_translations()
    if plural is None:
        rv = ours.ugettext(singular)
        if rv == singular:
            rv = flask_babel.get_translations().ugettext(singular)
        return t.cast(str, rv)
    rv = ours.ungettext(singular, plural, num)
    if rv in (singular, plural):
        rv = flask_babel.get_translations().ungettext(singular, plural, num)
    return t.cast(str, rv)


# These escape exactly as Jinja's newstyle gettext does (jinja2.ext._make_new_gettext):
# under autoescape the translation becomes Markup before the variables are put in, so
# `{% trans name=user_text %}` and `_("...", name=user_text)` escape user_text. The
# `{% trans %}` tag marks its output safe, trusting these callables to have done so.
@pass_context
def _template_gettext(__context: Context, __string: str, **variables: t.Any) -> str:
    rv: str = _desk_or_host(__string)
    if __context.eval_ctx.autoescape:
        rv = Markup(rv)  # noqa: S704  # a catalogue's text; the variables are escaped by %
    return rv % variables


@pass_context
def _template_ngettext(
    __context: Context, __singular: str, __plural: str, __num: int, **variables: t.Any
) -> str:
    variables.setdefault("num", __num)
    rv: str = _desk_or_host(__singular, __plural, __num)
    if __context.eval_ctx.autoescape:
        rv = Markup(rv)  # noqa: S704  # as in _template_gettext
    return rv % variables


def template_callables() -> dict[str, t.Any]:
    """``_``, ``gettext`` and ``ngettext`` bound to the desk's domain, for desk pages.

    Jinja's ``{% trans %}`` and the i18n extension's ``_`` look ``gettext`` up in the
    template context, so these win over the host's environment-wide ones on desk pages.
    """
    return {"_": _template_gettext, "gettext": _template_gettext, "ngettext": _template_ngettext}


# -------------------------------------------------------------------------------------
# JavaScript
# -------------------------------------------------------------------------------------


@functools.cache
def _js_messages() -> tuple[tuple[str, str | None], ...]:
    # The messages are read from the shipped scripts themselves (once per process), so a
    # string added to a script is served without a second list to keep in step.
    static = pathlib.Path(__file__).parent / "static" / "supportdesk"
    found: dict[tuple[str, str | None], None] = {}
    for path in sorted(static.glob("*.js")):
        for _lineno, message, _comments, _context in extract_from_file(
            "javascript", path, keywords={"gettext": None, "ngettext": (1, 2)}
        ):
            if isinstance(message, tuple):
                found[(message[0], message[1])] = None
            else:
                found[(message, None)] = None
    return tuple(found)


def _plural_samples(locale: Locale) -> dict[str, int]:
    # One number per CLDR plural category of the locale (what Intl.PluralRules returns
    # in the browser), to ask gettext for that category's form.
    samples: dict[str, int] = {}
    for number in range(1000):
        samples.setdefault(locale.plural_form(number), number)
    return samples


def js_catalogue() -> dict[str, t.Any]:
    """The scripts' messages in the current locale: ``{msgid: text}``, and for plurals
    ``{msgid: {category: text}}`` keyed by ``Intl.PluralRules`` categories."""
    locale = flask_babel.get_locale() or Locale.parse(SOURCE_LANGUAGE)
    samples = _plural_samples(locale)
    catalogue: dict[str, t.Any] = {}
    for singular, plural in _js_messages():
        if plural is None:
            catalogue[singular] = gettext(singular)
        else:
            catalogue[singular] = {
                category: domain.get_translations().ungettext(singular, plural, number)
                for category, number in samples.items()
            }
    return catalogue


# -------------------------------------------------------------------------------------
# Dates and numbers
# -------------------------------------------------------------------------------------


def format_datetime(value: dt.datetime) -> str:
    """A naive UTC datetime as the current locale writes a medium date and a short time
    (``Jan 5, 2026, 2:30 PM``, ``05.01.2026, 14:30``), in the host's time zone
    (Flask-Babel's ``timezone_selector`` or ``BABEL_DEFAULT_TIMEZONE``)."""
    locale = flask_babel.get_locale() or Locale.parse(SOURCE_LANGUAGE)
    # CLDR's own glue of a date and a time ("{1}, {0}"), as Babel's format_datetime uses.
    glue = locale.datetime_formats["medium"]
    return t.cast(
        str,
        glue.format(flask_babel.format_time(value, "short"), flask_babel.format_date(value)),
    )


def format_number(value: float) -> str:
    """A number with the current locale's separators (``1,234.5`` / ``1.234,5``)."""
    return t.cast(str, flask_babel.format_decimal(value))


def format_size(size: int) -> str:
    """A file size in KiB (one decimal), with the locale's separators."""
    return t.cast(str, flask_babel.format_decimal(size / 1024, format="#,##0.0")) + " KiB"
