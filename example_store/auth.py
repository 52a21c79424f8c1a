"""Log in and out (Flask-Login, with Flask-WTF forms and their CSRF tokens)."""

from __future__ import annotations

import unicodedata
import urllib.parse

import sqlalchemy as sa
from flask import Blueprint
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask.typing import ResponseReturnValue
from flask_login import login_user
from flask_login import logout_user
from flask_wtf import FlaskForm
from wtforms import EmailField
from wtforms import HiddenField
from wtforms import PasswordField
from wtforms.validators import DataRequired

from .models import User
from .models import check_login_password
from .models import db
from .ratelimit import login_limiter

bp = Blueprint("auth", __name__)


class LoginForm(FlaskForm):
    """E-mail and password; ``next`` carries the page to return to."""

    email = EmailField("E-mail", validators=[DataRequired()])
    password = PasswordField("Password", validators=[DataRequired()])
    next = HiddenField()


class LogoutForm(FlaskForm):
    """Logging out changes state, so it is a POST with a CSRF token."""


#: Longer than any page of the store; a longer ``next`` is not one of its links.
_MAX_NEXT = 2048

#: How often ``next`` is percent-decoded to look for a hidden ``//``, ``\\`` or control.
_DECODE_ROUNDS = 4


def _is_plain_path(text: str) -> bool:
    """Whether ``text`` is a path that no browser could read as another site."""
    if text.startswith("//") or "\\" in text:
        return False
    # Cc and Cf: control and format characters (tab, line feed, NUL, bidi, zero width),
    # which browsers drop or servers choke on.
    return not any(unicodedata.category(char) in ("Cc", "Cf") for char in text)


def safe_next(target: str | None) -> str | None:
    """``target`` if it is a path on this site, else ``None`` (no open redirect).

    Only printable ASCII (links made by ``url_for`` are percent-encoded), starting with one
    ``/``, without a scheme or a host, and with no ``//`` at the start of the path, no
    ``\\`` and no control character in it, even after percent-decoding: browsers drop
    tabs and line feeds and read ``\\`` as ``/``, so "/", a tab, "/evil.example" would
    leave the site.

    :param target: The page asked for (``next``), from the query or the login form.
    """
    # "///host" splits into an empty host and the path "/host", yet browsers go to host.
    if not target or len(target) > _MAX_NEXT or not _is_plain_path(target):
        return None
    if not target.startswith("/"):
        return None
    # No whitespace, no control character, nothing outside ASCII, no backslash.
    if not all("!" <= char <= "~" for char in target) or "\\" in target:
        return None
    parts = urllib.parse.urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/"):
        return None
    path = parts.path
    for _ in range(_DECODE_ROUNDS):
        if not _is_plain_path(path):
            return None
        decoded = urllib.parse.unquote(path)
        if decoded == path:
            return target
        path = decoded
    return None  # still encoded after several rounds: nobody links like that


def _rate_limited(form: LoginForm, retry_after: int) -> ResponseReturnValue:
    form.form_errors.append(
        "Too many login attempts. Please wait a few minutes before trying again."
    )
    page = render_template("auth/login.html", form=form)
    return page, 429, {"Retry-After": str(retry_after)}


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    """The login form; back to ``next`` (a path on this site) once logged in.

    Attempts are rate limited per client address and per e-mail (:mod:`.ratelimit`);
    over the limit the answer is 429 with ``Retry-After``, and the password is not checked.
    """
    form = LoginForm(next=safe_next(request.args.get("next")) or "")
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        # Behind a proxy, the host sets werkzeug's ProxyFix so this is the client's address.
        retry_after = login_limiter().hit(email, request.remote_addr or "")
        if retry_after is not None:
            return _rate_limited(form, retry_after)
        user = db.session.scalar(sa.select(User).where(sa.func.lower(User.email) == email))
        # One hash check whether or not the account exists (timing tells nothing).
        if check_login_password(user, form.password.data) and user is not None:
            login_user(user)
            # Staff come to work: they land on the desk, customers on the shop.
            landing = url_for("supportdesk_desk.index") if user.is_staff else url_for("shop.home")
            return redirect(safe_next(form.next.data) or landing)
        form.form_errors.append("Wrong e-mail or password.")
        return _login_page(form, 400)
    return _login_page(form)


def _login_page(form: LoginForm, status: int = 200) -> ResponseReturnValue:
    """The login page, listing the demo accounts that exist in this store's database (a
    store without the demo data lists none)."""
    from .cli import DEMO_PASSWORD
    from .cli import DEMO_USERS

    emails = [demo.email for demo in DEMO_USERS]
    present = set(db.session.scalars(sa.select(User.email).where(User.email.in_(emails))))
    demo_logins = [demo for demo in DEMO_USERS if demo.email in present]
    page = render_template(
        "auth/login.html", form=form, demo_logins=demo_logins, demo_password=DEMO_PASSWORD
    )
    return page, status


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    """Log out (POST with the layout's CSRF token)."""
    if LogoutForm().validate_on_submit():
        logout_user()
        flash("You are logged out.")
    return redirect(url_for("shop.home"))
