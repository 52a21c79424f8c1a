"""E-mail delivery over SMTP (``SUPPORTDESK_MAIL_*``).

One SMTP connection serves a whole delivery batch. Every header is set through
:class:`email.message.EmailMessage` and :mod:`email.headerregistry`, which encode any
name or subject and refuse a line break in a header value: a customer's name cannot add
a header. Each mail has its own ``Message-ID`` and answers the ticket's thread root
(``In-Reply-To``, ``References``), carries the ticket's signed ``Reply-To`` when
inbound mail is set up (``SUPPORTDESK_INBOUND_ADDRESS``), and says ``Auto-Submitted:
auto-generated`` so auto-responders stay quiet.
"""

from __future__ import annotations

import contextlib
import email.utils
import smtplib
import ssl
import typing as t
from email.headerregistry import Address
from email.message import EmailMessage

from ..._state import get_state
from ...services.notifications import batch_resource
from ...services.notifications import drop_batch_resource
from ...services.notifications import one_line
from .. import hookimpl

if t.TYPE_CHECKING:
    from ...config import SupportDeskConfig
    from ...values import OutgoingNotification

_CONNECTION = "supportdesk.builtin.mail.smtp"


def build_message(notification: OutgoingNotification, sender: str) -> EmailMessage:
    """The mail of one notification: text and HTML alternatives, threading headers."""
    message = EmailMessage()
    name, address = email.utils.parseaddr(sender)
    message["From"] = Address(display_name=one_line(name), addr_spec=address)
    message["To"] = Address(
        display_name=one_line(notification.recipient.name),
        addr_spec=notification.recipient.email,
    )
    if notification.reply_address:
        # The ticket's signed inbound address: a reply threads into the ticket.
        message["Reply-To"] = Address(
            display_name=one_line(name), addr_spec=notification.reply_address
        )
    message["Subject"] = one_line(notification.subject, 250)
    message["Date"] = email.utils.formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = notification.message_id
    if notification.reply_to:
        message["In-Reply-To"] = notification.reply_to
        message["References"] = notification.reply_to
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"
    message.set_content(notification.text)
    message.add_alternative(notification.html, subtype="html")
    return message


@contextlib.contextmanager
def _connect(config: SupportDeskConfig) -> t.Iterator[smtplib.SMTP]:
    server = t.cast(str, config.mail_server)
    smtp: smtplib.SMTP
    if config.mail_use_ssl:
        smtp = smtplib.SMTP_SSL(
            server, config.mail_port, timeout=config.mail_timeout,
            context=ssl.create_default_context(),
        )  # fmt: skip
    else:
        smtp = smtplib.SMTP(server, config.mail_port, timeout=config.mail_timeout)
    try:
        if config.mail_use_tls:
            smtp.starttls(context=ssl.create_default_context())
        if config.mail_username:
            smtp.login(config.mail_username, config.mail_password or "")
        yield smtp
    finally:
        with contextlib.suppress(smtplib.SMTPException, OSError):
            smtp.quit()
        smtp.close()


@hookimpl(trylast=True)
def supportdesk_deliver_notification(notification: OutgoingNotification) -> None:
    """Send the notification by e-mail when ``SUPPORTDESK_MAIL_SERVER`` is set.

    Raises (the desk retries later) when the server cannot be reached or refuses it.
    """
    config = get_state().config
    if not config.mail_server or not notification.recipient.email:
        return
    message = build_message(notification, t.cast(str, config.mail_default_sender))
    smtp = batch_resource(_CONNECTION, lambda: _connect(config))
    try:
        smtp.send_message(message)
    except OSError:  # smtplib's errors too
        # The connection is gone: the next notification of the batch opens a new one.
        drop_batch_resource(_CONNECTION)
        raise
