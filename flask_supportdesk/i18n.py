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
from babel.dates import DateTimePattern
from babel.dates import get_date_format
from babel.dates import get_time_format
from babel.dates import parse_pattern
from babel.messages.extract import extract_from_file
from babel.numbers import format_decimal
from flask import Flask
from flask import has_request_context
from flask import request
from flask.globals import _cv_app
from flask.globals import _cv_request
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


#: Where a request keeps the desk's catalogue (on ``g``): ``(its locale, catalogue)``.
_CATALOGUE_ON_G = "_supportdesk_catalogue"


def _catalogue() -> t.Any:
    # Flask-Babel finds the catalogue again for every message (its context, the locale,
    # the locale's identifier, a cache look-up); a page asks for dozens of messages.
    # The request keeps it with the locale object it was found for, so a message asked
    # under force_locale() (another locale object) finds the other language's. The
    # context is read from Flask's context variables, not through the g and request
    # proxies: each proxy look-up cost about what the rest of a message does.
    if _cv_request.get(None) is None:
        return domain.get_translations()
    kept_on = _cv_app.get().g.__dict__
    babel_context = kept_on.get("_flask_babel")  # where Flask-Babel keeps the locale
    locale = getattr(babel_context, "babel_locale", None) or flask_babel.get_locale()
    kept = kept_on.get(_CATALOGUE_ON_G)
    if kept is not None and kept[0] is locale:
        return kept[1]
    catalogue = domain.get_translations()
    kept_on[_CATALOGUE_ON_G] = (locale, catalogue)
    return catalogue


def gettext(string: str, **variables: t.Any) -> str:
    """``string`` in the current locale, ``%(name)s`` placeholders filled from ``variables``."""
    text: str = _catalogue().ugettext(string)
    return text % variables if variables else text


def ngettext(singular: str, plural: str, num: int, **variables: t.Any) -> str:
    """The singular or (a) plural form for ``num`` in the current locale; ``%(num)s`` is
    ``num``."""
    variables.setdefault("num", num)
    text: str = _catalogue().ungettext(singular, plural, num)
    return text % variables


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


def _desk_or_host(
    ours: t.Any, host: t.Any, singular: str, plural: str | None = None, num: int = 1
) -> str:
    # A desk page extends the host's layout, whose own strings belong to the host's
    # catalogue: a message our catalogue lacks is looked up in the host's default domain.
    if plural is None:
        rv = ours.ugettext(singular)
        if rv == singular:
            rv = host.ugettext(singular)
        return t.cast(str, rv)
    rv = ours.ungettext(singular, plural, num)
    if rv in (singular, plural):
        rv = host.ungettext(singular, plural, num)
    return t.cast(str, rv)


def template_callables() -> dict[str, t.Any]:
    """``_``, ``gettext`` and ``ngettext`` bound to the desk's domain, for desk pages.

    Jinja's ``{% trans %}`` and the i18n extension's ``_`` look ``gettext`` up in the
    template context, so these win over the host's environment-wide ones on desk pages.
    Both catalogues are looked up once, when the page starts rendering (a context
    processor calls this), not once per message: a list page holds a hundred messages,
    and each look-up walks Flask-Babel's context and locale selector again.
    """
    ours = _catalogue()
    host = flask_babel.get_translations()

    # These escape exactly as Jinja's newstyle gettext does (jinja2.ext._make_new_gettext):
    # under autoescape the translation becomes Markup before the variables are put in, so
    # `{% trans name=user_text %}` and `_("...", name=user_text)` escape user_text. The
    # `{% trans %}` tag marks its output safe, trusting these callables to have done so.
    # A page asks for the same few dozen messages (a list's column heads, its buttons):
    # each is looked up in the catalogues once per page.
    found: dict[str, str] = {}

    @pass_context
    def template_gettext(__context: Context, __string: str, **variables: t.Any) -> str:
        rv = found.get(__string)
        if rv is None:
            rv = found[__string] = _desk_or_host(ours, host, __string)
        if __context.eval_ctx.autoescape:
            rv = Markup(rv)  # noqa: S704  # a catalogue's text; the variables are escaped by %
        # As newstyle gettext, % always applies ("%%" is "%"); a text without any "%"
        # is the same after it, and most of a page's texts have no variables.
        return rv % variables if variables or "%" in rv else rv

    @pass_context
    def template_ngettext(
        __context: Context, __singular: str, __plural: str, __num: int, **variables: t.Any
    ) -> str:
        variables.setdefault("num", __num)
        rv: str = _desk_or_host(ours, host, __singular, __plural, __num)
        if __context.eval_ctx.autoescape:
            rv = Markup(rv)  # noqa: S704  # as in template_gettext
        return rv % variables

    return {"_": template_gettext, "gettext": template_gettext, "ngettext": template_ngettext}


# -------------------------------------------------------------------------------------
# JavaScript
# -------------------------------------------------------------------------------------


#: The storefront widget's script: its messages are served to the widget only
#: (:func:`widget_catalogue`), not to every portal and desk page.
WIDGET_SCRIPT = "widget.js"


@functools.cache
def _js_messages(script: str | None = None) -> tuple[tuple[str, str | None], ...]:
    # The messages are read from the shipped scripts themselves (once per process), so a
    # string added to a script is served without a second list to keep in step.
    static = pathlib.Path(__file__).parent / "static" / "supportdesk"
    if script is not None:
        paths = [static / script]
    else:
        paths = [path for path in sorted(static.glob("*.js")) if path.name != WIDGET_SCRIPT]
    found: dict[tuple[str, str | None], None] = {}
    for path in paths:
        for _lineno, message, _comments, _context in extract_from_file(
            "javascript", path, keywords={"gettext": None, "ngettext": (1, 2)}
        ):
            if isinstance(message, tuple):
                found[(message[0], message[1])] = None
            else:
                found[(message, None)] = None
    return tuple(found)


@functools.lru_cache(maxsize=64)
def _plural_samples(locale: Locale) -> dict[str, int]:
    # One number per CLDR plural category of the locale (what Intl.PluralRules returns
    # in the browser), to ask gettext for that category's form. A thousand plural rule
    # evaluations: once per locale, not once per page.
    samples: dict[str, int] = {}
    for number in range(1000):
        samples.setdefault(locale.plural_form(number), number)
    return samples


@functools.lru_cache(maxsize=64)
def _js_catalogue(
    translations: t.Any, locale: Locale, script: str | None = None
) -> dict[str, t.Any]:
    # Keyed by the catalogue object Flask-Babel keeps per app and locale, so a page
    # reuses the mapping instead of building it again (every page serves it).
    samples = _plural_samples(locale)
    catalogue: dict[str, t.Any] = {}
    for singular, plural in _js_messages(script):
        if plural is None:
            catalogue[singular] = translations.ugettext(singular)
        else:
            catalogue[singular] = {
                category: translations.ungettext(singular, plural, number)
                for category, number in samples.items()
            }
    return catalogue


def js_catalogue() -> dict[str, t.Any]:
    """The scripts' messages in the current locale: ``{msgid: text}``, and for plurals
    ``{msgid: {category: text}}`` keyed by ``Intl.PluralRules`` categories.

    The mapping is shared between requests: read it, do not change it.
    """
    locale = flask_babel.get_locale() or Locale.parse(SOURCE_LANGUAGE)
    return _js_catalogue(domain.get_translations(), locale)


def widget_catalogue() -> dict[str, t.Any]:
    """The storefront widget's messages in the current locale, shaped like
    :func:`js_catalogue` (shared between requests too: do not change it)."""
    locale = flask_babel.get_locale() or Locale.parse(SOURCE_LANGUAGE)
    return _js_catalogue(domain.get_translations(), locale, WIDGET_SCRIPT)


# -------------------------------------------------------------------------------------
# Dates and numbers
# -------------------------------------------------------------------------------------


_FormatName = t.Literal["full", "long", "medium", "short"]
_FORMAT_NAMES = t.get_args(_FormatName)


@functools.lru_cache(maxsize=64)
def _datetime_patterns(
    locale: Locale, date_format: str, time_format: str
) -> tuple[DateTimePattern, DateTimePattern, str]:
    # Babel looks the locale's patterns up and parses them on every call; a list page
    # writes dozens of timestamps in one locale.
    if date_format in _FORMAT_NAMES:
        date_format = get_date_format(t.cast(_FormatName, date_format), locale=locale).pattern
    if time_format in _FORMAT_NAMES:
        time_format = get_time_format(t.cast(_FormatName, time_format), locale=locale).pattern
    # CLDR's own glue of a date and a time ("{1}, {0}"), as Babel's format_datetime uses.
    glue = locale.datetime_formats["medium"]
    return parse_pattern(date_format), parse_pattern(time_format), glue


def _babel_format(formats: t.Any, kind: str, name: str | None) -> str:
    # Flask-Babel's format names (``date`` defaults to ``medium``) and the host's
    # ``date_formats`` overrides, as flask_babel.format_date/format_time resolve them.
    if name is None:
        name = formats[kind]
    if name in _FORMAT_NAMES:
        override = formats[f"{kind}.{name}"]
        if override is not None:
            return t.cast(str, override)
    return t.cast(str, name)


def datetime_formatter() -> t.Callable[[dt.datetime], str]:
    """:func:`format_datetime` bound to the current locale, time zone and formats, for a
    page that writes many timestamps: each is then one cached call, not four look-ups
    of Flask-Babel's context."""
    locale = flask_babel.get_locale() or Locale.parse(SOURCE_LANGUAGE)
    formats = flask_babel.get_babel().instance.date_formats
    tzinfo = flask_babel.get_timezone()
    date_format = _babel_format(formats, "date", None)
    time_format = _babel_format(formats, "time", "short")

    def formatted(value: dt.datetime) -> str:
        return _format_datetime(value, locale, tzinfo, date_format, time_format)

    return formatted


def format_datetime(value: dt.datetime) -> str:
    """A naive UTC datetime as the current locale writes a medium date and a short time
    (``Jan 5, 2026, 2:30 PM``, ``05.01.2026, 14:30``), in the host's time zone
    (Flask-Babel's ``timezone_selector`` or ``BABEL_DEFAULT_TIMEZONE``).

    The same text as ``flask_babel.format_date`` and ``format_time`` glued together,
    with the locale's parsed patterns cached.
    """
    return datetime_formatter()(value)


@functools.lru_cache(maxsize=4096)
def _format_datetime(
    value: dt.datetime, locale: Locale, tzinfo: t.Any, date_format: str, time_format: str
) -> str:
    # A pure function of its arguments, kept for the timestamps pages show again and
    # again (a list's rows, a thread's messages): applying Babel's patterns is most of
    # a <time> tag's cost.
    date_pattern, time_pattern, glue = _datetime_patterns(locale, date_format, time_format)
    local = value.replace(tzinfo=dt.timezone.utc).astimezone(tzinfo)
    if hasattr(tzinfo, "normalize"):  # pytz
        local = tzinfo.normalize(local)
    # format_time picks a zone's name variant by the (UTC) date it was given.
    time_text = time_pattern.apply(local.timetz(), locale, reference_date=value.date())
    return glue.format(time_text, date_pattern.apply(local.date(), locale))


def format_number(value: float) -> str:
    """A number with the current locale's separators (``1,234.5`` / ``1.234,5``)."""
    locale = flask_babel.get_locale() or Locale.parse(SOURCE_LANGUAGE)
    return _format_number(value, locale)


@functools.lru_cache(maxsize=4096)
def _format_number(value: float, locale: Locale) -> str:
    # Babel parses the locale's number pattern on every call; the desk writes the same
    # few counts (its counters, page numbers) on every page.
    return format_decimal(value, locale=locale)


def format_size(size: int) -> str:
    """A file size in KiB (one decimal), with the locale's separators."""
    return t.cast(str, flask_babel.format_decimal(size / 1024, format="#,##0.0")) + " KiB"
