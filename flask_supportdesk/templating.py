"""Jinja filters and the ``supportdesk`` template global shared by every desk page."""

from __future__ import annotations

import datetime as dt
import typing as t

from flask import Flask
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup
from markupsafe import escape

from . import policy
from ._state import get_state
from .markup import render as render_markdown
from .models import Priority
from .models import Status


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
    def can_manage_departments(self) -> bool:
        """Whether the current user may manage departments (store owners)."""
        return policy.can_manage_departments(self.actor)


def datetime_tag(value: dt.datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> Markup:
    """A ``<time>`` element: UTC in the markup with an exact text, which supportdesk.js
    rewrites to a relative time ("3 min. ago") with the exact time on hover, both in the
    viewer's time zone and language."""
    if value is None:
        return Markup("")
    iso = value.replace(tzinfo=dt.timezone.utc).isoformat()
    exact = value.strftime("%Y-%m-%d %H:%M:%S UTC")
    # Every interpolated value is escaped.
    return Markup(  # noqa: S704
        f'<time datetime="{escape(iso)}" title="{escape(exact)}">'
        f"{escape(value.strftime(fmt))} UTC</time>"
    )


def status_label(status: Status | str, audience: str = "customer") -> str:
    """The ``supportdesk_status`` filter: a status in a customer's or (``"staff"``) staff words."""
    status = Status(status)
    return status.staff_label if audience == "staff" else status.customer_label


def init_templating(app: Flask) -> None:
    """Give the app's Jinja environment the desk's globals and filters."""
    context = TemplateContext()
    app.jinja_env.globals["supportdesk"] = context
    app.jinja_env.filters["supportdesk_markdown"] = render_markdown
    app.jinja_env.filters["supportdesk_datetime"] = datetime_tag
    app.jinja_env.filters["supportdesk_status"] = status_label
    app.jinja_env.globals.setdefault("SupportDeskStatus", Status)
    app.jinja_env.globals.setdefault("SupportDeskPriority", Priority)
    # Flask-WTF only adds ``csrf_token()`` with CSRFProtect, which a host need not use;
    # every desk form and base.html's <meta name="csrf-token"> rely on it.
    app.jinja_env.globals.setdefault("csrf_token", generate_csrf)
