"""Thin HTTP layers over the services: portal (customers), desk (staff), JSON API."""

from __future__ import annotations

import typing as t

from flask import Blueprint

if t.TYPE_CHECKING:
    from flask import Flask

    from ..config import SupportDeskConfig

#: Templates and static files (``/support/static/supportdesk/...``); no routes of its own.
assets = Blueprint(
    "supportdesk",
    __name__,
    template_folder="../templates",
    static_folder="../static",
    static_url_path="/static",
)


def register_blueprints(app: Flask, config: SupportDeskConfig) -> None:
    """Mount every blueprint at its configured prefix."""
    from . import api
    from . import contact
    from . import desk
    from . import portal
    from . import widget

    app.register_blueprint(assets, url_prefix=config.url_prefix)
    app.register_blueprint(portal.bp, url_prefix=config.url_prefix)
    app.register_blueprint(contact.bp, url_prefix=config.url_prefix)
    app.register_blueprint(widget.bp, url_prefix=config.url_prefix)
    app.register_blueprint(desk.bp, url_prefix=config.desk_url_prefix)
    app.register_blueprint(api.bp, url_prefix=config.api_url_prefix)
    csrf = app.extensions.get("csrf")
    if csrf is not None:  # the host's CSRFProtect, set up before the desk
        csrf.exempt(api.inbound.VIEW_LOCATION)
