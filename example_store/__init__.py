"""An example Flask storefront that integrates flask-supportdesk.

``create_app`` is the app factory (``flask --app example_store ...`` finds it).
"""

from __future__ import annotations

import os
import secrets
import typing as t

from flask import Flask
from flask import Response
from flask_login import LoginManager
from flask_wtf.csrf import generate_csrf

from flask_supportdesk import SupportDesk

from . import mailbox
from . import ratelimit
from .models import User
from .models import db
from .models import parse_user_id
from .support_plugin import StoreSupportPlugin

#: The store's own pages get the same strict policy as the desk's: no inline code at all.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

#: Values of ``STORE_SECURE_COOKIES`` that switch on the cookies' ``Secure`` flag.
_TRUE = ("1", "true", "yes", "on")

support_desk = SupportDesk(db=db, plugins=[StoreSupportPlugin()])
#: The same desk with the demo mailbox as a delivery plugin, for apps that asked for it
#: (``STORE_DEMO_MAILBOX``): a plugin belongs to a desk, so the store keeps two.
demo_support_desk = SupportDesk(db=db, plugins=[StoreSupportPlugin(), mailbox.DemoMailbox()])
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "Please log in to continue."


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    number = parse_user_id(user_id)
    return db.session.get(User, number) if number is not None else None


def _secret_key(instance_path: str) -> str:
    """A development key generated once and kept in the instance folder (never committed).

    Created with ``O_EXCL``, so two processes starting together cannot both write one.
    """
    path = os.path.join(instance_path, "secret_key")
    key = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        with open(path, encoding="ascii") as file:
            return file.read().strip()
    with os.fdopen(fd, "w", encoding="ascii") as file:
        file.write(key)
    return key


def create_app(
    config: t.Mapping[str, t.Any] | None = None, *, instance_path: str | None = None
) -> Flask:
    """Build the store.

    :param config: Overrides (tests). Otherwise ``DATABASE_URL`` chooses the database
        (default: SQLite in the instance folder), ``FLASK_SECRET_KEY`` the session key
        (default: one generated into the instance folder), ``STORE_SECURE_COOKIES=1`` sends
        the cookies over HTTPS only and ``RATELIMIT_STORAGE_URI`` where login attempts are
        counted (default ``memory://``). ``STORE_DEMO_MAILBOX=1`` (or the config key set
        to ``True``) keeps the desk's mails in the demo mailbox at ``/mailbox``, and then
        turns the contact form and inbound mail on (:mod:`example_store.mailbox`).
    :param instance_path: Where the SQLite file, the generated key and attachments go
        (default: Flask's instance folder).
    """
    app = Flask(__name__, instance_path=instance_path, instance_relative_config=True)
    os.makedirs(app.instance_path, exist_ok=True)
    secure_cookies = os.environ.get("STORE_SECURE_COOKIES", "").strip().lower() in _TRUE
    app.config.update(
        SQLALCHEMY_DATABASE_URI=os.environ.get("DATABASE_URL")
        or "sqlite:///" + os.path.join(app.instance_path, "store.sqlite"),
        # The desk's pages sit inside the store's layout (blocks title, head, content).
        SUPPORTDESK_BASE_TEMPLATE="layout.html",
        # Lax: the cookies stay home on cross-site POSTs and embeds, and still come along
        # when a customer follows a link to the store.
        SESSION_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_HTTPONLY=True,
        # Off by default so `make demo` works on http://127.0.0.1; on for HTTPS deployments.
        SESSION_COOKIE_SECURE=secure_cookies,
        REMEMBER_COOKIE_SECURE=secure_cookies,
    )
    app.config.from_prefixed_env()  # FLASK_SECRET_KEY, FLASK_SUPPORTDESK_..., etc.
    if config:
        app.config.update(config)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _secret_key(app.instance_path)
    demo_mailbox = mailbox.wanted(app, os.environ)
    if demo_mailbox:
        mailbox.configure(app)

    db.init_app(app)
    login_manager.init_app(app)
    (demo_support_desk if demo_mailbox else support_desk).init_app(app)
    ratelimit.init_app(app)
    if demo_mailbox:
        mailbox.init_app(app)

    from . import auth
    from . import cli
    from . import shop

    app.register_blueprint(auth.bp)
    app.register_blueprint(shop.bp)
    cli.init_app(app)
    # Forms without a FlaskForm (the logout button in the layout) need the token too.
    app.jinja_env.globals.setdefault("csrf_token", generate_csrf)

    @app.after_request
    def _security_headers(response: Response) -> Response:
        # The desk's blueprints set their own policy first; keep theirs.
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        # Links to other sites do not carry the store's paths (order numbers, tickets).
        response.headers.setdefault("Referrer-Policy", "same-origin")
        # frame-ancestors does this in the CSP; old browsers only know this header.
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response

    return app
