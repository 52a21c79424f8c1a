"""Inbound e-mail: a reply threads into its ticket, a new mail may open one.

:func:`ingest` takes one raw RFC 822 message (from ``flask supportdesk ingest-email`` or
the API's ``POST /inbound/email``; both are thin) and decides, in this order:

1. **Limits.** A mail over ``SUPPORTDESK_INBOUND_MAX_SIZE`` bytes or with more than
   ``SUPPORTDESK_INBOUND_MAX_PARTS`` MIME parts is refused (:class:`MailTooLarge`,
   :class:`TooManyParts`); one without a single ``From`` address is unreadable
   (:class:`MailUnreadable`).
2. **Loop guards.** Auto-replies, bounces and list mail are ignored, never answered:
   ``Auto-Submitted`` (other than ``no``), ``Precedence: bulk|list|junk|auto_reply``,
   any ``List-*`` header, ``X-Auto-Response-Suppress``, ``X-Autoreply``/``X-Autorespond``,
   a ``multipart/report`` (delivery and read reports), a null envelope sender
   (``Return-Path: <>``), a mailer daemon, the desk's own addresses, and, after the
   sender is checked, a ticket that took ``SUPPORTDESK_INBOUND_HOURLY_LIMIT`` mails in
   the last hour (auto-responders that do not say what they are).
3. **Redelivery.** A mail whose ``Message-ID`` a message already came in by is stored
   once (``Message.email_message_id`` is unique); a mail without one is known by a
   digest of its bytes.
4. **The ticket.** First by the desk's own ``Message-ID``\\ s in ``In-Reply-To`` and
   ``References`` (a notification's ``<n.KEY@domain>``, the thread root
   ``<ticket.NUMBER@domain>``, or an earlier inbound mail), then by the signed reply
   address ``support+<number>.<signature>@domain`` in the recipients (HMAC-SHA256 with
   the app's secret key, compared in constant time). A tampered or foreign token names
   no ticket.
5. **The sender.** Only ``From`` counts (never ``Reply-To`` or ``Sender``). Its account
   comes from ``supportdesk_find_user``; a guest requester is matched by address. Policy
   decides as for any other post: the actor must see the ticket
   (:func:`~flask_supportdesk.policy.get_ticket`) and may post on its public channel
   (:func:`~flask_supportdesk.policy.check_post`). A staff member must moreover answer
   a notification the desk sent to that very address: the ticket's thread root is known
   to its customer, a notification's ``Message-ID`` only to its recipient. Anyone else
   is refused (:class:`MailRefused`) and nothing is written on, or opened from, that
   ticket.
6. **The message.** The text part (or the HTML part made plain text through nh3, never
   stored as HTML), without the quoted history and signature (mail-parser-reply).
   Attachments follow the portal's rules; a part that breaks them is dropped with a note
   in the message text naming the file and the reason, and the rest goes in. The
   requester's reply to a closed ticket opens a follow-up linked to it (anyone else's is
   refused as :class:`~flask_supportdesk.errors.TicketClosed`). A mail that names no ticket opens
   a new ticket (source ``email``) when ``SUPPORTDESK_INBOUND_OPENS_TICKETS`` is on,
   else it is refused.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import email
import email.header
import email.message
import email.policy
import email.utils
import hashlib
import hmac
import html as _html
import re
import typing as t

import nh3
import sqlalchemy as sa
from flask import current_app
from mailparser_reply import EmailReplyParser

from .. import policy
from .._state import get_state
from ..errors import InsufficientStorage
from ..errors import NotFound
from ..errors import PayloadTooLarge
from ..errors import ServiceUnavailable
from ..errors import SupportDeskError
from ..errors import TicketClosed
from ..errors import TooManyAttachments
from ..errors import ValidationError
from ..i18n import gettext as _
from ..i18n import lazy_gettext as _l
from ..models import Message
from ..models import Notification
from ..models import Source
from ..models import Ticket
from ..models import utcnow
from ..values import Actor
from . import attachments as _attachments
from . import messages as _messages
from . import tickets as _tickets
from ._uow import transaction

#: sysexits(3) codes an MTA understands (``flask supportdesk ingest-email``).
EX_OK = 0
#: The mail is not a readable message, or is too large: bounce it.
EX_DATAERR = 65
#: No ticket, or a sender who may not write on it: bounce it ("no such user").
EX_NOUSER = 67
#: The database is unavailable: the MTA keeps the mail and tries again later.
EX_TEMPFAIL = 75

#: The languages whose reply headers and signatures are recognised when quotes are cut.
QUOTE_LANGUAGES = ("en", "de")


class MailUnreadable(ValidationError):
    """The input is not a mail the desk can read (no headers, no single ``From``)."""

    code = "unreadable_mail"
    default_message = _l("This is not a mail the support desk can read.")


class MailTooLarge(PayloadTooLarge):
    """The mail is larger than ``SUPPORTDESK_INBOUND_MAX_SIZE``."""

    code = "mail_too_large"
    default_message = _l("The mail is too large.")


class TooManyParts(PayloadTooLarge):
    """The mail has more MIME parts than ``SUPPORTDESK_INBOUND_MAX_PARTS``."""

    code = "too_many_parts"
    default_message = _l("The mail has too many parts.")


class MailRefused(NotFound):
    """The mail answers no ticket the desk knows, or its sender may not write on it
    (the same error for both: a sender learns nothing about other people's tickets)."""

    code = "mail_refused"
    default_message = _l("No ticket accepts this mail from this sender.")


def exit_code(error: SupportDeskError) -> int:
    """The sysexits code of a failed :func:`ingest` (for an MTA's pipe transport): a
    refusal is 67, a mail that cannot be taken as it is 65, a failing storage 75."""
    if isinstance(error, NotFound):
        return EX_NOUSER
    if isinstance(error, (ServiceUnavailable, InsufficientStorage)):
        return EX_TEMPFAIL
    return EX_DATAERR


@dataclasses.dataclass(frozen=True)
class Ingested:
    """What :func:`ingest` did with a mail.

    :param outcome: ``posted`` (a message on ``ticket``), ``follow_up`` (``ticket`` is a
        new follow-up of a closed one), ``opened`` (a new ticket), ``duplicate`` (stored
        before: nothing written) or ``ignored`` (an automatic mail: nothing written).
    :param ticket: The public number of the ticket written to, if any.
    :param reason: Why it was ignored (``auto_submitted``, ``precedence``, ``list``,
        ``auto_response_suppress``, ``auto_reply``, ``report``, ``null_sender``,
        ``mailer_daemon``, ``own_address``, ``loop``: the ticket took
        ``SUPPORTDESK_INBOUND_HOURLY_LIMIT`` mails in the last hour).
    :param dropped: The names of attachments that were not taken.
    """

    outcome: str
    ticket: str | None = None
    reason: str = ""
    dropped: tuple[str, ...] = ()

    @property
    def written(self) -> bool:
        """Whether a message or ticket was written (not a duplicate, not ignored)."""
        return self.outcome in ("posted", "follow_up", "opened")

    def to_dict(self) -> dict[str, t.Any]:
        """The JSON answer of the HTTP endpoint."""
        return {
            "outcome": self.outcome,
            "ticket": self.ticket,
            "reason": self.reason or None,
            "dropped": list(self.dropped),
        }


def summary(result: Ingested) -> str:
    """One line for the MTA's log: what became of the mail."""
    line = result.outcome
    if result.ticket:
        line += f" {result.ticket}"
    if result.reason:
        line += f" ({result.reason})"
    if result.dropped:
        line += f", dropped {len(result.dropped)} attachment(s)"
    return line


# -------------------------------------------------------------------------------------
# The signed reply address
# -------------------------------------------------------------------------------------


def _signing_key() -> bytes:
    secret = current_app.secret_key
    if not secret:
        raise RuntimeError("Inbound e-mail needs the app's SECRET_KEY to sign reply addresses.")
    raw = secret if isinstance(secret, bytes) else str(secret).encode("utf-8")
    return hashlib.sha256(b"flask-supportdesk inbound reply address\x00" + raw).digest()


def _signature(number: str) -> str:
    digest = hmac.new(_signing_key(), number.lower().encode("utf-8"), hashlib.sha256).digest()
    # 120 bits, lower case: mail systems may change the case of a local part.
    return base64.b32encode(digest[:15]).decode("ascii").lower()


def reply_token(number: str) -> str:
    """The signed token of a ticket's reply address: ``<number>.<signature>``."""
    return f"{number.lower()}.{_signature(number)}"


def reply_address(number: str) -> str | None:
    """The ticket's reply address (``support+<token>@domain``), or ``None`` when
    ``SUPPORTDESK_INBOUND_ADDRESS`` is not set."""
    address = get_state().config.inbound_address
    if not address:
        return None
    local, _sep, domain = address.rpartition("@")
    return f"{local}+{reply_token(number)}@{domain}"


def number_of_token(token: str) -> str | None:
    """The ticket number a reply token names, if its signature is right (compared in
    constant time); ``None`` for a tampered or malformed token."""
    number, dot, signature = token.strip().lower().rpartition(".")
    if not dot or not number or not signature.isascii():
        return None
    if not hmac.compare_digest(signature.encode("ascii"), _signature(number).encode("ascii")):
        return None
    return number


# -------------------------------------------------------------------------------------
# Loop guards
# -------------------------------------------------------------------------------------

_BULK_PRECEDENCE = frozenset({"bulk", "list", "junk", "auto_reply", "auto-reply"})
_DAEMONS = frozenset({"mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon"})


def _raw_headers(message: email.message.EmailMessage, name: str) -> list[str]:
    """The raw values of a header, without the parser's checks."""
    return [str(value) for key, value in message.raw_items() if key.lower() == name.lower()]


def _decoded(value: str) -> str:
    """An RFC 2047 header value as text, whatever it holds (CR and LF included)."""
    try:
        return str(email.header.make_header(email.header.decode_header(value)))
    except (ValueError, LookupError, UnicodeError):  # an unknown charset, broken base64
        return value


def _header(message: email.message.EmailMessage, name: str) -> str:
    try:
        value = message.get(name)
    except (ValueError, IndexError, TypeError):  # refused by the parser (CR/LF in a name)
        raw = _raw_headers(message, name)
        return _decoded(raw[0]).strip() if raw else ""
    return "" if value is None else str(value).strip()


def automatic_reason(
    message: email.message.EmailMessage, sender: str | None, address: str
) -> str | None:
    """Why ``message`` was written by a machine and must not be answered, or ``None``.

    :param sender: The envelope sender, when the MTA gave it (``""``: the null sender).
    :param address: The ``From`` address.
    """
    auto = _header(message, "Auto-Submitted").lower()
    if auto and auto.split(";")[0].strip() != "no":
        return "auto_submitted"
    if any(name.lower().startswith("list-") for name in message):
        return "list"
    if _header(message, "Precedence").lower() in _BULK_PRECEDENCE:
        return "precedence"
    if message.get("X-Auto-Response-Suppress") is not None:
        return "auto_response_suppress"
    if message.get("X-Autoreply") is not None or message.get("X-Autorespond") is not None:
        return "auto_reply"
    if message.get_content_type() == "multipart/report":
        return "report"
    return_path = _header(message, "Return-Path")
    if sender == "" or (sender is None and return_path.replace(" ", "") == "<>"):
        return "null_sender"
    if address.partition("@")[0].lower() in _DAEMONS:
        return "mailer_daemon"
    if address in _own_addresses():
        return "own_address"
    return None


def _own_addresses() -> set[str]:
    config = get_state().config
    own = set()
    if config.mail_default_sender:
        own.add(email.utils.parseaddr(config.mail_default_sender)[1].lower())
    if config.inbound_address:
        own.add(config.inbound_address.lower())
    return own


# -------------------------------------------------------------------------------------
# Reading the mail
# -------------------------------------------------------------------------------------

_MESSAGE_ID = re.compile(r"<([^<>\s]{1,250})>")
# Characters that never belong in a one-line name or subject (controls, bidi controls,
# invisible characters: they break headers or disguise text).
_LINE_JUNK = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u061c\u200b\u200e\u200f\u2028\u2029\u202a-\u202e\u2060\u2066-\u2069"
    r"\ufeff\ud800-\udfff]"
)
_BODY_JUNK = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_FORWARDED = re.compile(
    r"^(?:-{5,} ?Forwarded message ?-{5,}|Begin forwarded message:"
    r"|-{5,} ?Weitergeleitete Nachricht ?-{5,})",
    re.M | re.I,
)


def one_line(value: str, limit: int) -> str:
    """``value`` as one line of at most ``limit`` characters: line breaks, controls,
    bidi and invisible characters become spaces (inbound names and subjects)."""
    return " ".join(_LINE_JUNK.sub(" ", value).split())[:limit]


def parse(raw: bytes) -> email.message.EmailMessage:
    """``raw`` as a message (stdlib ``email``, ``policy.default``), within the limits.

    :raises MailTooLarge: over ``SUPPORTDESK_INBOUND_MAX_SIZE``.
    :raises TooManyParts: more than ``SUPPORTDESK_INBOUND_MAX_PARTS`` parts.
    :raises MailUnreadable: no headers at all.
    """
    config = get_state().config
    if len(raw) > config.inbound_max_size:
        raise MailTooLarge(
            _("The mail is larger than %(size)s KiB.", size=config.inbound_max_size // 1024)
        )
    try:
        message = email.message_from_bytes(raw, policy=email.policy.default)
        for parts, _part in enumerate(message.walk(), 1):
            if parts > config.inbound_max_parts:
                raise TooManyParts(
                    _("The mail has more than %(num)s parts.", num=config.inbound_max_parts)
                )
    except RecursionError:
        raise TooManyParts() from None
    if not message.keys():
        raise MailUnreadable()
    return message


def _from(message: email.message.EmailMessage) -> tuple[str, str]:
    """The one ``From`` address (lower case) and its display name."""
    pairs: list[tuple[str, str]]
    try:
        header = message["From"]
        pairs = [(a.display_name, a.addr_spec) for a in header.addresses] if header else []
    except (ValueError, IndexError, TypeError):
        # CPython refuses CR/LF in an address's parts (bpo-39073): read it raw, and the
        # name is made one line below.
        pairs = email.utils.getaddresses(_raw_headers(message, "From"))
    pairs = [(name, address) for name, address in pairs if address]
    if len(pairs) != 1:
        raise MailUnreadable(_("The mail needs exactly one From address."))
    name, address = pairs[0]
    address = address.strip().lower()
    local, at, domain = address.rpartition("@")
    if len(address) > 254 or _LINE_JUNK.search(address) or not (at and local and domain):
        raise MailUnreadable(_("The mail needs exactly one From address."))
    return address, one_line(_decoded(name or ""), 200)


def message_id(message: email.message.EmailMessage, raw: bytes) -> str:
    """The mail's ``Message-ID``, or one made of a digest of its bytes when it has none."""
    found = _MESSAGE_ID.search(_header(message, "Message-ID"))
    if found and not _LINE_JUNK.search(found.group(0)):
        return found.group(0)
    return f"<sha256.{hashlib.sha256(raw).hexdigest()}@inbound.invalid>"


def _answered_ids(message: email.message.EmailMessage) -> list[str]:
    """The Message-IDs the mail answers: ``In-Reply-To`` first, then ``References``
    newest first (at most 50)."""
    found = _MESSAGE_ID.findall(_header(message, "In-Reply-To"))
    found += reversed(_MESSAGE_ID.findall(_header(message, "References")))
    return [f"<{value}>" for value in dict.fromkeys(found)][:50]


def _text_of(part: email.message.MIMEPart) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "us-ascii"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:  # a charset Python does not know
        return payload.decode("utf-8", errors="replace")


_BREAKS = re.compile(r"<br\s*/?>|</(?:p|div|li|tr|h[1-6]|pre|table|ul|ol)>", re.I)
_TAG = re.compile(r"<[^>]*>")


def html_to_text(markup: str) -> str:
    """Plain text of an HTML body: scripts, styles and quoted history (``blockquote``)
    removed with their content by nh3, block ends made line breaks, every other tag
    dropped, entities decoded. The result is text, never HTML."""
    cleaned = nh3.clean(
        markup,
        tags={"br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "table",
              "ul", "ol"},
        clean_content_tags={"script", "style", "title", "blockquote", "head", "template"},
        attributes={},
        link_rel=None,
    )  # fmt: skip
    text = _TAG.sub("", _BREAKS.sub("\n", cleaned))
    return _html.unescape(text)


def strip_quotes(text: str) -> str:
    """The new part of a reply: the quoted history ("On ... wrote:", Outlook's
    "-----Original Message-----" and ``From:`` blocks, ``>`` lines) and the signature
    cut by mail-parser-reply. A forwarded message is kept whole."""
    text = text.replace("\r\n", "\n")
    if _FORWARDED.search(text):
        return text.strip()
    parsed = EmailReplyParser(languages=list(QUOTE_LANGUAGES)).read(text)
    reply = parsed.replies[0].body if parsed.replies else text
    lines = reply.split("\n")
    while lines and (lines[-1].startswith(">") or not lines[-1].strip()):
        lines.pop()
    return "\n".join(lines).strip()


def body_text(message: email.message.EmailMessage) -> str:
    """The text a person wrote in ``message``, without quotes and signature."""
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    text = _text_of(part)
    if part.get_content_type() == "text/html":
        text = html_to_text(text)
    text = _BODY_JUNK.sub("", text)
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines))
    return strip_quotes(text)


@dataclasses.dataclass(frozen=True)
class _Content:
    body: str
    uploads: list[_attachments.Upload]
    dropped: tuple[str, ...]


def _attachment_parts(
    message: email.message.EmailMessage,
) -> t.Iterator[tuple[str, email.message.MIMEPart]]:
    for part in message.iter_attachments():
        name = part.get_filename()
        if name is None and part.get_content_type() == "message/rfc822":
            name = "message.eml"
        if name is None:
            continue  # an inline image of an HTML body (a logo): not an attachment
        yield name, part


def _part_bytes(part: email.message.MIMEPart) -> bytes:
    if part.get_content_type() == "message/rfc822":
        inner = part.get_payload()
        if isinstance(inner, list) and inner:
            return t.cast(email.message.Message, inner[0]).as_bytes()
        return b""
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


def content(message: email.message.EmailMessage) -> _Content:
    """The message text and the attachments that pass the portal's rules; each part
    that does not is dropped with a note at the end of the text."""
    config = get_state().config
    accepted: list[_attachments.Upload] = []
    notes: list[str] = []
    dropped: list[str] = []
    for raw_name, part in _attachment_parts(message):
        name = one_line(_attachments.safe_filename(raw_name), 120) or _("(no name)")
        try:
            data = _part_bytes(part)
            if len(accepted) >= config.max_attachments:
                raise TooManyAttachments(
                    fields={"files": _("At most %(num)s files.", num=config.max_attachments)}
                )
            upload = _attachments.Upload.from_bytes(raw_name, data)
            _attachments.check_uploads([upload])
        except SupportDeskError as exc:
            reason = exc.fields.get("files") or exc.message
            notes.append(_("The attachment %(name)s was not added: %(reason)s", name=name,
                           reason=reason))  # fmt: skip
            dropped.append(name)
            continue
        accepted.append(_attachments.Upload.from_bytes(raw_name, data))
    text = body_text(message)
    limit = config.max_message_length
    note_text = "\n".join(notes)
    if not text:
        text = _("(The mail had no text.)")
    room = limit - len(note_text) - 2
    if len(text) > room:
        shortened = _("(Shortened: the mail was longer than the desk keeps.)")
        text = text[: max(room - len(shortened) - 2, 0)].rstrip() + "\n\n" + shortened
    body = f"{text}\n\n{note_text}" if note_text else text
    return _Content(body[:limit], accepted, tuple(dropped))


# -------------------------------------------------------------------------------------
# Finding the ticket and authorising the sender
# -------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Target:
    ticket: Ticket
    #: Addresses the notifications this mail answers were sent to.
    notified: frozenset[str]


def _number_candidates(value: str) -> set[str]:
    """Spellings a lower-cased ticket number may have in the table (the index serves
    an exact match; numbers are upper case after their prefix)."""
    prefix = get_state().config.ticket_number_prefix
    found = {value, value.upper()}
    if value.lower().startswith(prefix.lower()):
        found.add(prefix + value[len(prefix) :].upper())
    return found


def _ticket_by_number(value: str) -> Ticket | None:
    if not value or len(value) > 40:
        return None
    stmt = sa.select(Ticket).where(Ticket.number.in_(_number_candidates(value)))
    return get_state().db.session.scalars(stmt).first()


def _thread_root_number(value: str) -> str | None:
    from .notifications import mail_domain

    local, _sep, domain = value.strip("<>").rpartition("@")
    if domain.lower() != mail_domain().lower() or not local.startswith("ticket."):
        return None
    return local[len("ticket.") :]


def _by_message_ids(ids: t.Sequence[str]) -> _Target | None:
    """The ticket of the first of ``ids`` the desk knows, in three queries whatever
    their number: notifications, thread roots, earlier inbound mails."""
    if not ids:
        return None
    session = get_state().db.session
    notified: dict[str, list[tuple[t.Any, str]]] = {}
    for mail_id, ticket_id, address in session.execute(
        sa.select(Notification.message_id, Notification.ticket_id, Notification.recipient_email)
        .where(Notification.message_id.in_(ids), Notification.ticket_id.is_not(None))
    ):  # fmt: skip
        notified.setdefault(mail_id, []).append((ticket_id, address.lower()))
    roots = {value: number for value in ids if (number := _thread_root_number(value))}
    spellings = {value: _number_candidates(number) for value, number in roots.items()}
    by_number: dict[str, Ticket] = {}
    if spellings:
        wanted = set().union(*spellings.values())
        by_number = {
            ticket.number: ticket
            for ticket in session.scalars(sa.select(Ticket).where(Ticket.number.in_(wanted)))
        }
    earlier: dict[t.Any, int] = dict(session.execute(
        sa.select(Message.email_message_id, Message.ticket_id)
        .where(Message.email_message_id.in_(ids))
    ).all())  # fmt: skip
    for value in ids:  # the order of preference
        ticket: Ticket | None = None
        addresses: frozenset[str] = frozenset()
        if value in notified:
            ticket = session.get(Ticket, notified[value][0][0])
            addresses = frozenset(address for _id, address in notified[value])
        if ticket is None and value in spellings:
            ticket = next((by_number[n] for n in spellings[value] if n in by_number), None)
        if ticket is None and value in earlier:
            ticket = session.get(Ticket, earlier[value])
        if ticket is not None:
            return _Target(ticket, addresses)
    return None


def _recipient_addresses(
    message: email.message.EmailMessage, recipients: t.Sequence[str]
) -> list[str]:
    found = [r.strip().strip("<>").lower() for r in recipients]
    for name in ("Delivered-To", "X-Original-To", "Envelope-To", "To", "Cc"):
        found += [
            address.strip().lower()
            for _name, address in email.utils.getaddresses(_raw_headers(message, name))
            if address
        ]
    return list(dict.fromkeys(found))


def _by_reply_address(addresses: t.Sequence[str]) -> _Target | None:
    inbound = get_state().config.inbound_address
    if not inbound:
        return None
    local, _sep, domain = inbound.lower().rpartition("@")
    for address in addresses:
        mine, _sep, their_domain = address.rpartition("@")
        if their_domain != domain or not mine.startswith(local + "+"):
            continue
        number = number_of_token(mine[len(local) + 1 :])
        ticket = _ticket_by_number(number) if number else None
        if ticket is not None:
            return _Target(ticket, frozenset())
    return None


def find_ticket(
    message: email.message.EmailMessage, recipients: t.Sequence[str] = ()
) -> _Target | None:
    """The ticket a mail answers: by the desk's Message-IDs first, then by a signed
    reply address among the recipients; ``None`` when it names none."""
    return _by_message_ids(_answered_ids(message)) or _by_reply_address(
        _recipient_addresses(message, recipients)
    )


def _sender_on(target: _Target, address: str, name: str) -> Actor:
    """The actor the sender is on the target's ticket, as policy sees them.

    :raises MailRefused: nobody the sender may be may post on the ticket by mail.
    """
    hooks = get_state().hooks
    account = hooks.find_user(address)
    candidates = [account] if account is not None else []
    candidates.append(Actor.guest(address, name))
    number = target.ticket.number
    for actor in candidates:
        try:
            ticket = policy.get_ticket(actor, number)
        except NotFound:
            continue
        if policy.audience(actor, ticket).handles and address not in target.notified:
            continue  # staff answer a notification that was mailed to them
        return actor
    raise MailRefused()


# -------------------------------------------------------------------------------------
# Ingesting
# -------------------------------------------------------------------------------------


def _looping(ticket: Ticket) -> bool:
    """Whether the ticket took ``SUPPORTDESK_INBOUND_HOURLY_LIMIT`` mails in the last
    hour already: two auto-responders that do not say so, answering each other."""
    since = utcnow() - dt.timedelta(hours=1)
    stmt = (
        sa.select(sa.func.count())
        .select_from(Message)
        .where(
            Message.ticket_id == ticket.id,
            Message.email_message_id.is_not(None),
            Message.created_at > since,
        )
    )
    taken = get_state().db.session.scalar(stmt) or 0
    return taken >= get_state().config.inbound_hourly_limit


def _stored_before(mail_id: str) -> Ingested | None:
    stmt = (
        sa.select(Ticket.number)
        .join(Message, Message.ticket_id == Ticket.id)
        .where(Message.email_message_id == mail_id)
    )
    number = get_state().db.session.scalar(stmt)
    return None if number is None else Ingested("duplicate", number)


def _decide(
    message: email.message.EmailMessage,
    recipients: t.Sequence[str],
    address: str,
    name: str,
    mail_id: str,
) -> Ingested | tuple[_Target | None, Actor | None]:
    """A duplicate or a loop (the answer), else the ticket and who writes on it (both
    ``None``: a new ticket).

    :raises MailRefused: no ticket and opening one is off, or a sender refused on it.
    """
    earlier = _stored_before(mail_id)
    if earlier is not None:
        return earlier
    target = find_ticket(message, recipients)
    if target is None:
        if not get_state().config.inbound_opens_tickets:
            raise MailRefused()
        return None, None
    actor = _sender_on(target, address, name)
    if _looping(target.ticket):
        return Ingested("ignored", reason="loop")
    return target, actor


def ingest(
    raw: bytes, *, sender: str | None = None, recipients: t.Sequence[str] = ()
) -> Ingested:
    """Take one inbound mail (see the module doc for every rule).

    Needs an app context; writes through the unit of work of the services it calls (one
    transaction), so the outbox tells staff and nobody hears of an ignored mail.

    :param raw: The RFC 822 message, as the MTA delivered it.
    :param sender: The envelope sender if known (``""`` is the null sender of bounces).
    :param recipients: The envelope recipients if known (they may carry the reply token).
    :raises MailTooLarge: the mail is too large.
    :raises TooManyParts: it has too many MIME parts.
    :raises MailUnreadable: it is no mail, or has no single ``From`` address.
    :raises MailRefused: it answers no ticket (and opening one is off), or its sender
        may not write on the ticket it answers.
    :raises TicketClosed: staff or a delegate answered a closed ticket (only its
        requester opens a follow-up).
    :raises ServiceUnavailable: the attachment storage failed (retry later).
    """
    message = parse(raw)
    address, name = _from(message)
    reason = automatic_reason(message, sender, address)
    if reason is not None:
        return Ingested("ignored", reason=reason)
    mail_id = message_id(message, raw)
    # The reads that decide, in a transaction of their own: ended (never left open
    # while the mail is read), and refused like any service call when the session holds
    # the host's uncommitted work.
    with transaction():
        decided = _decide(message, recipients, address, name, mail_id)
    if isinstance(decided, Ingested):
        return decided
    target, actor = decided
    found = content(message)
    try:
        if target is None or actor is None:
            return _open_new(message, address, name, found, mail_id)
        if target.ticket.is_closed:
            if not policy.is_requester(actor, target.ticket):
                raise TicketClosed()  # only the requester continues a closed ticket
            follow_up = _tickets.open_follow_up(
                actor, target.ticket.number, body=found.body, attachments=found.uploads,
                source=Source.EMAIL, email_message_id=mail_id,
            )  # fmt: skip
            return Ingested("follow_up", follow_up.number, dropped=found.dropped)
        _messages.post(
            actor, target.ticket.number, found.body, attachments=found.uploads,
            email_message_id=mail_id,
        )  # fmt: skip
        return Ingested("posted", target.ticket.number, dropped=found.dropped)
    except sa.exc.IntegrityError:
        # The same mail, delivered twice at once: the other delivery stored it (the
        # unit of work rolled this one back).
        again = _stored_before(mail_id)
        if again is None:
            raise
        return again


def _open_new(
    message: email.message.EmailMessage, address: str, name: str, found: _Content, mail_id: str
) -> Ingested:
    account = get_state().hooks.find_user(address)
    actor = account if account is not None else Actor.guest(address, name)
    limit = get_state().config.max_subject_length
    subject = one_line(_header(message, "Subject"), limit) or _("(no subject)")
    ticket = _tickets.open_ticket(
        actor, subject=subject, body=found.body, attachments=found.uploads,
        source=Source.EMAIL, email_message_id=mail_id,
    )  # fmt: skip
    return Ingested("opened", ticket.number, dropped=found.dropped)
