"""The storefront chat widget (DESIGN §5): what the script needs, and the tags that load it.

The widget itself is ``static/supportdesk/widget.js`` (with ``widget.css``, inside a
Shadow DOM). A page the host renders with Jinja adds it with ``{{ supportdesk_widget()
}}`` (:func:`widget_tags`), which writes the configuration into the page; any other page
loads the script alone, ``<script src=".../widget.js" data-supportdesk="/support"
defer>``, and the script fetches ``GET /support/widget/config.json``
(:func:`config_json`). Both give the same :func:`widget_config`: nothing in it is an
identity the server would trust later (the session cookie or the visitor's conversation
token is), so a page that shows it reveals no more than the visitor already is.
"""

from __future__ import annotations

import typing as t

from flask import Response
from flask import current_app
from flask import has_request_context
from flask import jsonify
from flask import request
from flask import url_for
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import generate_csrf
from jinja2.utils import htmlsafe_json_dumps
from markupsafe import Markup
from markupsafe import escape

from .. import i18n
from .. import policy
from .._state import get_state
from ..broadcast import NAMESPACE
from ..identity import current_actor
from ..services import chats
from ._common import make_blueprint

bp = make_blueprint("supportdesk_widget", __name__)

#: The version of the configuration's shape; a script of another version refuses it.
CONFIG_VERSION = 1
#: The blueprints whose pages never show the widget (staff work there).
_NO_WIDGET_BLUEPRINTS = frozenset({"supportdesk_desk"})
#: The id of the inline configuration written by :func:`widget_tags`.
CONFIG_ELEMENT_ID = "supportdesk-widget-config"


def _static(filename: str) -> str:
    return url_for("supportdesk.static", filename=f"supportdesk/{filename}")


def _socket_path() -> str:
    """Where the Socket.IO server answers (Flask-SocketIO's ``path``), below the app's
    script root."""
    socketio = get_state().socketio
    path = getattr(getattr(socketio, "sockio_mw", None), "engineio_path", "/socket.io/")
    return request.script_root + str(path)


def shows_widget() -> bool:
    """Whether the current visitor gets the widget: not staff (they answer chats on
    the desk), and not on the desk's pages."""
    if request.blueprint in _NO_WIDGET_BLUEPRINTS:
        return False
    return not policy.is_staff(current_actor())


def widget_config(*, inline: bool = False) -> dict[str, t.Any]:
    """What the widget needs for the current visitor.

    ``enabled`` is false for staff (nothing else is sent then). ``customer`` is the
    logged-in customer's name (``None`` for a visitor, who fills in the pre-chat form);
    the server knows them by the session cookie, never by anything in here. ``limits``
    are the desk's message and attachment rules, ``messages`` the widget's texts in the
    request's language.

    :param inline: For the configuration written into a page: without whether staff are
        online (a database query on every page; the widget asks when it opens), and,
        for a visitor, without a CSRF token, which would give every visitor a session
        cookie on their first page (the widget fetches one when it first writes).
    """
    if not shows_widget():
        return {"version": CONFIG_VERSION, "enabled": False}
    config = get_state().config
    actor = current_actor()
    customer = {"name": actor.name} if actor is not None and actor.is_user else None
    data: dict[str, t.Any] = {
        "version": CONFIG_VERSION,
        "enabled": True,
        "csrf_token": None if inline and customer is None else generate_csrf(),
        "api": request.script_root + config.api_url_prefix,
        "config_url": url_for("supportdesk_widget.config_json"),
        "css": _static("widget.css"),
        "socketio_client": _static("vendor/socket.io/socket.io.min.js"),
        "socket": {"path": _socket_path(), "namespace": NAMESPACE},
        "customer": customer,
        "limits": {
            "max_message_length": config.max_message_length,
            "max_attachments": config.max_attachments,
            "max_attachment_size": config.max_attachment_size,
            "allowed_extensions": list(config.allowed_extensions),
            "token_max_age": config.chat_token_max_age,
        },
        "locale": i18n.current_language_tag(),
        "messages": i18n.widget_catalogue(),
    }
    if not inline:
        data["availability"] = chats.availability().to_json()
    return data


@bp.get("/widget/config.json")
def config_json() -> ResponseReturnValue:
    """``GET /support/widget/config.json``: :func:`widget_config` for the current visitor
    (for pages the host does not render with Jinja)."""
    response: Response = jsonify(widget_config())
    # Per visitor (the CSRF token, the customer's name): never kept by a shared cache.
    response.headers["Cache-Control"] = "no-store"
    response.vary.add("Cookie")
    return response


def widget_tags() -> Markup:
    """The ``{{ supportdesk_widget() }}`` global: the widget's configuration (a JSON data
    block, which a Content-Security-Policy without ``'unsafe-inline'`` allows, since it
    never runs) and its two deferred scripts; nothing for staff or on desk pages."""
    if not has_request_context() or not current_app.extensions.get("supportdesk"):
        return Markup("")
    config = widget_config(inline=True)
    if not config["enabled"]:
        return Markup("")
    # htmlsafe_json_dumps escapes <, >, & and ' so the JSON cannot end the element;
    # the URLs are escaped as attributes.
    return Markup(  # noqa: S704
        f'<script type="application/json" id="{CONFIG_ELEMENT_ID}">'
        f"{htmlsafe_json_dumps(config)}</script>\n"
        f'<script src="{escape(config["socketio_client"])}" defer></script>\n'
        f'<script src="{escape(_static("widget.js"))}" defer></script>'
    )


__all__ = ["bp", "config_json", "shows_widget", "widget_config", "widget_tags"]
