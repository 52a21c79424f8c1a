"""Log in and out (Flask-Login, with Flask-WTF forms and their CSRF tokens)."""

from __future__ import annotations

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
from .models import db

bp = Blueprint("auth", __name__)


class LoginForm(FlaskForm):
    """E-mail and password; ``next`` carries the page to return to."""

    email = EmailField("E-mail", validators=[DataRequired()])
    password = PasswordField("Password", validators=[DataRequired()])
    next = HiddenField()


class LogoutForm(FlaskForm):
    """Logging out changes state, so it is a POST with a CSRF token."""


def safe_next(target: str | None) -> str | None:
    """``target`` if it is a path on this site, else ``None`` (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    """The login form; back to ``next`` (a path on this site) once logged in."""
    form = LoginForm(next=request.args.get("next", ""))
    if form.validate_on_submit():
        user = db.session.scalar(
            sa.select(User).where(sa.func.lower(User.email) == form.email.data.strip().lower())
        )
        if user is not None and user.check_password(form.password.data):
            login_user(user)
            return redirect(safe_next(form.next.data) or url_for("shop.home"))
        form.form_errors.append("Wrong e-mail or password.")
        return render_template("auth/login.html", form=form), 400
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    """Log out (POST with the layout's CSRF token)."""
    if LogoutForm().validate_on_submit():
        logout_user()
        flash("You are logged out.")
    return redirect(url_for("shop.home"))
