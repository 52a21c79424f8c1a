"""The demo mailbox (``STORE_DEMO_MAILBOX``): every mail the desk sends is kept in the
store's database and shown at ``/mailbox``, as MailHog or Mailpit would, so a demo user
can follow the links of invitations, contact-form receipts and replies without a mail
server. A reply typed there goes to the desk's inbound mail as a real RFC 822 message.

Off unless asked for: it shows everyone's mail to anyone, so no real store may run it.
"""

from __future__ import annotations

import email.utils
import re
import typing as t
from email.headerregistry import Address
from email.message import EmailMessage

import sqlalchemy as sa
from flask import Blueprint
from flask import Flask
from flask import Response
from flask import abort
from flask import flash
from flask import redirect
from flask import render_template
from flask import url_for
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from markupsafe import Markup
from markupsafe import escape
from sqlalchemy import orm
from wtforms import TextAreaField
from wtforms.validators import DataRequired

from flask_supportdesk import SupportDeskError
from flask_supportdesk import hookimpl
from flask_supportdesk import ingest_email

from .models import DemoMail
from .models import db

if t.TYPE_CHECKING:
    from flask_supportdesk.values import OutgoingNotification

#: Values of ``STORE_DEMO_MAILBOX`` (environment) that switch the mailbox on.
TRUE = ("1", "true", "yes", "on")

#: Where the demo's mail "comes in" (``SUPPORTDESK_INBOUND_ADDRESS`` when the mailbox is on).
DEMO_INBOUND_ADDRESS = "support@trailhead.example"

#: The mail's HTML is shown in a frame of its own that runs nothing and reaches nothing:
#: an opaque origin (``sandbox``), no script, no request but inline styles and data images.
MAIL_HTML_POLICY = (
    "sandbox allow-popups allow-popups-to-escape-sandbox; default-src 'none'; "
    "style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'"
)

#: A web address in a mail's text (after escaping): made a link, without a closing
#: punctuation mark that ends the sentence around it.
_URL = re.compile(r"https?://[^\s<>\"']+[^\s<>\"'.,;:!?)\]]")

bp = Blueprint("mailbox", __name__, url_prefix="/mailbox")


class ReplyForm(FlaskForm):
    """The text of a reply by e-mail."""

    body = TextAreaField("Your reply", validators=[DataRequired()])


class DemoMailbox:
    """Keeps every notification the desk delivers as a :class:`DemoMail`."""

    @hookimpl
    def supportdesk_deliver_notification(self, notification: OutgoingNotification) -> None:
        # Its own session, never the host's or the desk's; a retried notification whose
        # key is kept already is not kept twice.
        with orm.Session(db.engine) as session:
            if session.scalar(sa.select(DemoMail.id).where(DemoMail.key == notification.key)):
                return
            session.add(
                DemoMail(
                    key=notification.key,
                    kind=notification.kind,
                    recipient_name=notification.recipient.name,
                    recipient_email=notification.recipient.email,
                    subject=notification.subject,
                    text=notification.text,
                    html=notification.html,
                    ticket_number=notification.ticket_number,
                    url=notification.url,
                    message_id=notification.message_id,
                    reply_to=notification.reply_to,
                    reply_address=notification.reply_address,
                )
            )
            session.commit()


def wanted(app: Flask, environ: t.Mapping[str, str]) -> bool:
    """Whether the demo asked for the mailbox: config ``STORE_DEMO_MAILBOX``, else the
    environment variable of that name."""
    value = app.config.get("STORE_DEMO_MAILBOX")
    if value is None:
        value = environ.get("STORE_DEMO_MAILBOX", "")
    if isinstance(value, str):
        return value.strip().lower() in TRUE
    return bool(value)


def configure(app: Flask) -> None:
    """Before the desk is set up: with the mailbox, the contact form (whose guests need
    their link by mail) and inbound mail (for replies) are on, unless configured."""
    app.config["STORE_DEMO_MAILBOX"] = True
    app.config.setdefault("SUPPORTDESK_CONTACT_FORM_CREATES_TICKET", True)
    app.config.setdefault("SUPPORTDESK_INBOUND_ADDRESS", DEMO_INBOUND_ADDRESS)


def init_app(app: Flask) -> None:
    """Serve ``/mailbox`` (the app's desk has :class:`DemoMailbox` among its plugins)."""
    app.register_blueprint(bp)


def linkify(text: str) -> Markup:
    """``text`` escaped, with its web addresses made links."""
    escaped = str(escape(text))
    # Safe: the text is escaped first, and an address matched in it holds no quote or <.
    linked = _URL.sub(lambda m: f'<a href="{m.group(0)}">{m.group(0)}</a>', escaped)
    return Markup(linked)  # noqa: S704


def reply_message(mail: DemoMail, body: str) -> bytes:
    """The RFC 822 reply of the mail's recipient to ``mail``, saying ``body``."""
    message = EmailMessage()
    message["From"] = Address(display_name=mail.recipient_name, addr_spec=mail.recipient_email)
    message["To"] = t.cast(str, mail.reply_address)
    subject = " ".join(mail.subject.split())
    message["Subject"] = subject if subject.lower().startswith("re:") else f"Re: {subject}"
    message["Date"] = email.utils.formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = email.utils.make_msgid(domain="mailbox.trailhead.example")
    message["In-Reply-To"] = mail.message_id
    message["References"] = mail.message_id
    message.set_content(body)
    return bytes(message)


def _mail(mail_id: int) -> DemoMail:
    return db.session.get(DemoMail, mail_id) or abort(404)


@bp.get("/")
def index() -> str:
    """Every kept mail, newest first."""
    mails = db.session.scalars(sa.select(DemoMail).order_by(DemoMail.id.desc()))
    return render_template("mailbox/index.html", mails=list(mails))


@bp.get("/<int:mail_id>")
def show(mail_id: int) -> str:
    """One mail: its headers, its text with links, its HTML in a sandboxed frame."""
    mail = _mail(mail_id)
    form = ReplyForm() if mail.reply_address else None
    return render_template("mailbox/mail.html", mail=mail, text=linkify(mail.text), form=form)


@bp.get("/<int:mail_id>/html")
def html(mail_id: int) -> Response:
    """The mail's HTML alone, for the frame: sandboxed by its own policy as well, so it
    runs no script on the store's origin even when opened on its own."""
    markup = _mail(mail_id).html
    # Its links open in a tab of their own: the store's pages refuse to load in a frame.
    base = '<base target="_blank">'
    markup = markup.replace("<head>", "<head>" + base, 1) if "<head>" in markup else base + markup
    response = Response(markup, mimetype="text/html")
    response.headers["Content-Security-Policy"] = MAIL_HTML_POLICY
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response


@bp.post("/<int:mail_id>/reply")
def reply(mail_id: int) -> ResponseReturnValue:
    """Send a reply by e-mail: the desk's inbound mail takes it as a real mail."""
    mail = _mail(mail_id)
    if not mail.reply_address:
        abort(404)
    form = ReplyForm()
    if not form.validate_on_submit():
        flash("Type a reply first (and send the form from its page).")
        return redirect(url_for(".show", mail_id=mail_id))
    raw, address = reply_message(mail, form.body.data or ""), mail.reply_address
    db.session.rollback()  # the reads above end here: the desk writes in its own transaction
    try:
        result = ingest_email(raw, recipients=[address])
    except SupportDeskError as error:
        flash(f"The desk refused the reply: {error.message}")
    else:
        where = f" on {result.ticket}" if result.ticket else ""
        why = f" ({result.reason})" if result.reason else ""
        flash(f"The desk took the reply: {result.outcome}{where}{why}.")
    return redirect(url_for(".show", mail_id=mail_id))
