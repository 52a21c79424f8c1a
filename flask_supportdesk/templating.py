"""Jinja filters and the ``supportdesk`` template global shared by every desk page."""

from __future__ import annotations

import datetime as dt
import functools
import typing as t

from flask import Flask
from flask import current_app
from flask import has_request_context
from flask import render_template
from flask import request
from flask_wtf.csrf import generate_csrf
from jinja2 import pass_eval_context
from jinja2.nodes import EvalContext
from jinja2.utils import htmlsafe_json_dumps
from markupsafe import Markup
from markupsafe import escape

from . import i18n
from . import policy
from ._state import get_state
from .markup import render as render_markdown
from .models import Priority
from .models import Source
from .models import Status
from .models import category_label


class TemplateContext:
    """``supportdesk`` in templates: settings and who is looking (documented contract)."""

    @property
    def config(self) -> t.Any:
        """The desk's parsed ``SUPPORTDESK_*`` settings."""
        return get_state().config

    @property
    def base_template(self) -> str:
        """The host layout the desk's pages extend (``SUPPORTDESK_BASE_TEMPLATE``)."""
        return get_state().config.base_template

    @property
    def actor(self) -> t.Any:
        """The :class:`~flask_supportdesk.Actor` of the current user, or ``None``."""
        from .identity import current_actor

        return current_actor()

    @property
    def is_staff(self) -> bool:
        """Whether the current user is staff: templates show desk links only then."""
        return policy.is_staff(self.actor)

    @property
    def is_guest(self) -> bool:
        """Whether the current actor is a guest signed in by a guest link (no account:
        no new tickets, no support PIN)."""
        actor = self.actor
        return actor is not None and actor.user_id is None

    @property
    def can_manage_departments(self) -> bool:
        """Whether the current user may manage departments (store owners)."""
        return policy.can_manage_departments(self.actor)

    @property
    def locale(self) -> str:
        """The active locale as a BCP 47 tag (``en``, ``de``), for ``<html lang>``."""
        return i18n.current_language_tag()

    @property
    def js_catalogue(self) -> dict[str, t.Any]:
        """The scripts' messages in the active locale (base.html serves them as JSON)."""
        return i18n.js_catalogue()

    @property
    def js_catalogue_json(self) -> Markup:
        """:attr:`js_catalogue` as JSON that is safe in an HTML attribute (Jinja's
        ``tojson``), written once per language, not on every page."""
        return _catalogue_json(self.js_catalogue)

    def fragment(self, name: str) -> Markup:
        """The template ``name`` rendered once per language and kept (per process): for a
        part of a page that holds nothing but translated text and static links, such
        as the desk's keyboard shortcuts. While templates auto-reload (development), it
        is rendered each time."""
        if current_app.jinja_env.auto_reload:
            return Markup(render_template(name))  # noqa: S704  # a template's own output
        fragments = get_state().fragments
        key = (name, self.locale, request.script_root)
        found = fragments.get(key)
        if found is None:
            found = fragments[key] = Markup(render_template(name))  # noqa: S704  # as above
        return t.cast(Markup, found)


#: JSON of each catalogue, by the catalogue's identity (i18n keeps one per language);
#: the catalogue is kept with it, so its id cannot be reused by another object.
_CATALOGUE_JSON: dict[int, tuple[dict[str, t.Any], Markup]] = {}


def _catalogue_json(catalogue: dict[str, t.Any]) -> Markup:
    found = _CATALOGUE_JSON.get(id(catalogue))
    if found is None or found[0] is not catalogue:
        if len(_CATALOGUE_JSON) >= 64:
            _CATALOGUE_JSON.clear()
        found = _CATALOGUE_JSON[id(catalogue)] = (catalogue, htmlsafe_json_dumps(catalogue))
    return found[1]


_TAGGER = "_supportdesk_time_tagger"


@pass_eval_context
def datetime_filter(eval_ctx: EvalContext, value: dt.datetime | None) -> Markup:
    """The ``supportdesk_datetime`` filter: a :func:`time_tagger` tag, with the locale and
    the time zone looked up once per page render (kept on its evaluation context), not
    once per timestamp: a thread writes one per message."""
    tag = getattr(eval_ctx, _TAGGER, None)
    if tag is None:
        tag = time_tagger()
        setattr(eval_ctx, _TAGGER, tag)
    return t.cast(Markup, tag(value))


def time_tagger() -> t.Callable[[dt.datetime | None], Markup]:
    """A function writing a ``<time>`` element, bound to the page's locale and time zone
    (one look-up of both per page, not per timestamp): UTC in the markup, written by
    Babel in the locale and the host's time zone, the exact UTC on hover;
    supportdesk.js rewrites it to a relative time ("3 min. ago") with the exact time on
    hover, in the viewer's time zone."""
    formatted = i18n.datetime_formatter()

    def tag(value: dt.datetime | None) -> Markup:
        if value is None:
            return Markup("")
        iso = value.replace(tzinfo=dt.timezone.utc).isoformat()
        exact = value.strftime("%Y-%m-%d %H:%M:%S UTC")
        # Every interpolated value is escaped.
        return Markup(  # noqa: S704
            f'<time datetime="{escape(iso)}" title="{escape(exact)}">'
            f"{escape(formatted(value))}</time>"
        )

    return tag


def options_tag(options: t.Iterable[tuple[t.Any, t.Any]], selected: t.Any = "") -> Markup:
    """The ``supportdesk_options`` filter: ``<option>`` elements for ``(value, text)``
    pairs, the one whose value equals ``selected`` marked selected.

    The desk list's filters hold some sixty options; written here rather than by a
    Jinja loop, they cost a tenth of the function calls. The same lists (statuses, the
    staff, the departments, in a language) come back on every page: each is written
    once and kept, by its pairs and selection (a list with an unhashable value is
    written each time).
    """
    pairs = tuple(options)
    try:
        return _options_html(pairs, selected)
    except TypeError:  # unhashable
        return _write_options(pairs, selected)


@functools.lru_cache(maxsize=2048)
def _options_html(pairs: tuple[tuple[t.Any, t.Any], ...], selected: t.Any) -> Markup:
    return _write_options(pairs, selected)


def _write_options(pairs: t.Iterable[tuple[t.Any, t.Any]], selected: t.Any) -> Markup:
    # Every interpolated value is escaped.
    return Markup(  # noqa: S704
        "\n".join(
            f'<option value="{escape(value)}" {"selected" if value == selected else ""}>'
            f"{escape(text)}</option>"
            for value, text in pairs
        )
    )


def field_html(field: t.Any, /, **kwargs: t.Any) -> Markup:
    """The ``supportdesk_field(f, class=..., hint=..., **attributes)`` global: a form
    field in a ``sd-field`` box, with its label, an optional hint and its errors.

    The label is written here rather than by WTForms' ``Label``, which builds its
    attributes through a Python string formatter; the input is the field's own widget,
    given ``attributes`` (``rows``, ``placeholder``, ``data-*``).
    """
    css = kwargs.pop("class", "") or ""
    hint = kwargs.pop("hint", None)
    errors = field.errors or ()
    label = escape(field.label.text)
    # Every interpolated value is escaped, or the widget's own Markup.
    parts = [f'<div class="sd-field {escape(css)} {"sd-has-error" if errors else ""}">']
    if field.type == "BooleanField":
        parts.append(f'<label class="sd-check">{field(**kwargs)} {label}</label>')
    else:
        parts.append(f'<label class="sd-label" for="{escape(field.id)}">{label}</label>')
        parts.append(str(field(**{**kwargs, "class": "sd-input"})))
    if hint:
        parts.append(f'<p class="sd-hint">{escape(hint)}</p>')
    parts.extend(f'<p class="sd-error" role="alert">{escape(error)}</p>' for error in errors)
    parts.append("</div>")
    return Markup("\n".join(parts))  # noqa: S704


def status_label(status: Status | str, audience: str = "customer") -> str:
    """The ``supportdesk_status`` filter: a status in a customer's or (``"staff"``) staff words."""
    status = Status(status)
    return status.staff_label if audience == "staff" else status.customer_label


def _desk_gettext() -> dict[str, t.Any]:
    # Only desk pages get the desk's gettext; the host's own pages keep the host's.
    if has_request_context() and request.blueprint in DESK_BLUEPRINTS:
        return i18n.template_callables()
    return {}


#: The blueprints whose pages are rendered with the desk's translations.
DESK_BLUEPRINTS = frozenset({"supportdesk", "supportdesk_portal", "supportdesk_desk"})


def init_templating(app: Flask) -> None:
    """Give the app's Jinja environment the desk's globals and filters."""
    context = TemplateContext()
    # `{% trans %}` is a syntax error without the i18n extension, and a host need not
    # have Flask-Babel configure Jinja (Babel(configure_jinja=False)).
    if "jinja2.ext.InternationalizationExtension" not in app.jinja_env.extensions:
        app.jinja_env.add_extension("jinja2.ext.i18n")
    app.context_processor(_desk_gettext)
    app.jinja_env.globals["supportdesk"] = context
    from .blueprints._thread_html import messages_html  # the blueprints import this module
    from .blueprints.widget import widget_tags

    app.jinja_env.globals["supportdesk_messages"] = messages_html
    app.jinja_env.globals["supportdesk_widget"] = widget_tags
    app.jinja_env.globals["supportdesk_field"] = field_html
    app.jinja_env.filters["supportdesk_markdown"] = render_markdown
    app.jinja_env.filters["supportdesk_datetime"] = datetime_filter
    app.jinja_env.filters["supportdesk_status"] = status_label
    app.jinja_env.filters["supportdesk_options"] = options_tag
    app.jinja_env.filters["supportdesk_priority"] = lambda p: Priority(p).label
    app.jinja_env.filters["supportdesk_source"] = lambda s: Source(s).label
    app.jinja_env.filters["supportdesk_category"] = category_label
    app.jinja_env.filters["supportdesk_number"] = i18n.format_number
    app.jinja_env.filters["supportdesk_filesize"] = i18n.format_size
    app.jinja_env.globals.setdefault("SupportDeskStatus", Status)
    app.jinja_env.globals.setdefault("SupportDeskPriority", Priority)
    # Flask-WTF only adds ``csrf_token()`` with CSRFProtect, which a host need not use;
    # every desk form and base.html's <meta name="csrf-token"> rely on it.
    app.jinja_env.globals.setdefault("csrf_token", generate_csrf)
