"""Every ``SUPPORTDESK_*`` setting, declared once with its default and documentation.

:func:`load` is called by :meth:`SupportDesk.init_app`: it fills in defaults with
``setdefault``, refuses unknown ``SUPPORTDESK_*`` keys, parses each value once and returns a
frozen :class:`SupportDeskConfig`. No other module reads ``app.config`` for these keys.
"""

from __future__ import annotations

import dataclasses
import difflib
import typing as t

from .errors import ConfigurationError

if t.TYPE_CHECKING:
    from flask import Flask

PREFIX = "SUPPORTDESK_"


@dataclasses.dataclass(frozen=True)
class Setting:
    """One setting: its name without the prefix, default, documentation and parser."""

    name: str
    default: t.Any
    help: str
    parse: t.Callable[[t.Any], t.Any] = lambda value: value

    @property
    def key(self) -> str:
        """The configuration key: ``SUPPORTDESK_`` and the upper-cased name."""
        return PREFIX + self.name.upper()


def _prefix(value: t.Any) -> str:
    prefix = str(value).rstrip("/")
    if not prefix.startswith("/"):
        raise ValueError("must start with '/'")
    return prefix


def _names(value: t.Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",")]
    names = tuple(str(v).strip().lower() for v in value if str(v).strip())
    if not names:
        raise ValueError("must name at least one value")
    if len(set(names)) != len(names):
        raise ValueError("must not repeat a value")
    return names


def _plugin_names(value: t.Any) -> tuple[str, ...]:
    # From the environment (``app.config.from_prefixed_env()``) the value is a string:
    # comma-separated names, never a sequence of single characters. Names keep their case.
    if isinstance(value, str):
        value = value.split(",")
    return tuple(name for name in (str(v).strip() for v in value) if name)


def _languages(value: t.Any) -> tuple[str, ...]:
    from .i18n import shipped_languages

    # Locale codes as Babel writes them (``pt_BR``, case kept), so they name catalogue
    # folders; ``pt-BR`` is accepted too.
    languages = tuple(name.replace("-", "_") for name in _plugin_names(value))
    if not languages:
        raise ValueError("must name at least one value")
    missing = [name for name in languages if name not in shipped_languages()]
    if missing:
        raise ValueError(
            f"the desk has no translation for {', '.join(missing)}"
            f" (it ships {', '.join(shipped_languages())})"
        )
    return languages


def _positive(value: t.Any) -> int:
    number = int(value)
    if number < 1:
        raise ValueError("must be a positive integer")
    return number


def _seconds(value: t.Any) -> float:
    number = float(value)
    if not 0 <= number <= 3600:  # NaN fails both comparisons
        raise ValueError("must be a number of seconds from 0 to 3600")
    return number


def _interval(value: t.Any) -> float:
    number = float(value)
    if not 1 <= number <= 3600:  # NaN fails both comparisons
        raise ValueError("must be a number of seconds from 1 to 3600")
    return number


def _flag(value: t.Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


def _optional_str(value: t.Any) -> str | None:
    return None if value in (None, "") else str(value)


def _port(value: t.Any) -> int:
    number = int(value)
    if not 1 <= number <= 65535:
        raise ValueError("must be a port number from 1 to 65535")
    return number


def _rate_limits(value: t.Any) -> tuple[t.Any, ...]:
    from limits import parse_many

    # "5 per hour", "5/hour;50/day": the ``limits`` notation, checked at init_app time.
    text = ";".join(value) if isinstance(value, (list, tuple)) else str(value)
    return tuple(parse_many(text))


def _pin_length(value: t.Any) -> int:
    number = int(value)
    if not 4 <= number <= 12:
        raise ValueError("must be a number of digits from 4 to 12")
    return number


def _origins(value: t.Any) -> tuple[str, ...]:
    # Browser origins allowed to open the desk's Socket.IO connection besides the site
    # itself. "*" would let any site's page talk to the desk as its visitor (cross-site
    # WebSocket hijacking), so it is refused: name the storefront's origins.
    if isinstance(value, str):
        value = value.split(",")
    origins = tuple(str(v).strip().rstrip("/") for v in value if str(v).strip())
    for origin in origins:
        if origin == "*" or not origin.startswith(("https://", "http://")):
            raise ValueError("must list origins such as https://shop.example, never '*'")
    return origins


def _optional_url(value: t.Any) -> str | None:
    return None if value in (None, "") else str(value)


def _public_url(value: t.Any) -> str | None:
    if value in (None, ""):
        return None
    url = str(value).rstrip("/")
    if not url.startswith(("https://", "http://")) or "\n" in url or "\r" in url:
        raise ValueError("must be an absolute http(s) URL")
    return url


def _optional_address(value: t.Any) -> str | None:
    if value in (None, ""):
        return None
    address = str(value).strip()
    local, at, domain = address.rpartition("@")
    if not at or not local or "." not in domain or any(c in address for c in " <>\r\n,+"):
        raise ValueError("must be a plain address such as support@shop.example, without '+'")
    return address


SETTINGS: tuple[Setting, ...] = (
    Setting("url_prefix", "/support", "Where the customer portal is mounted.", _prefix),
    Setting("desk_url_prefix", "/support/desk", "Where the staff desk is mounted.", _prefix),
    Setting("api_url_prefix", "/support/api/v1", "Where the JSON API is mounted.", _prefix),
    Setting(
        "base_template",
        "supportdesk/layout.html",
        "The template every desk page extends. Point it at the host's layout; it must "
        "define the blocks ``title``, ``head`` and ``content``.",
        str,
    ),
    Setting(
        "role_hierarchy",
        ("agent", "manager", "owner"),
        "Staff roles, lowest first, used by the built-in ``supportdesk_role_hierarchy``. "
        "A list or a comma-separated string.",
        _names,
    ),
    Setting(
        "categories",
        ("exchange", "payment", "verification", "technical", "general", "other"),
        "Ticket categories customers choose from.",
        _names,
    ),
    Setting("default_category", "general", "Category of tickets opened without one.", str),
    Setting(
        "max_message_length", 12000, "Longest accepted message body, in characters.", _positive
    ),
    Setting(
        "max_subject_length", 200, "Longest accepted ticket subject, in characters.", _positive
    ),
    Setting("max_attachments", 5, "Most attachments on one message.", _positive),
    Setting(
        "max_attachment_size",
        10 * 1024 * 1024,
        "Largest accepted attachment, in bytes.",
        _positive,
    ),
    Setting(
        "allowed_extensions",
        ("jpg", "jpeg", "png", "webp", "pdf", "doc", "docx", "xls", "xlsx", "csv", "txt", "zip"),
        "File name extensions accepted for attachments; each is checked against the "
        "file's sniffed content. ``gif`` may be added (images get a preview).",
        _names,
    ),
    Setting(
        "attachment_folder",
        None,
        "Folder of the built-in local attachment storage. Default: "
        "``supportdesk-attachments`` under the app's instance path.",
        _optional_str,
    ),
    Setting("ticket_number_prefix", "T-", "Text before every public ticket number.", str),
    Setting(
        "ticket_number_length",
        10,
        "Random characters in a ticket number (an alphabet of 31 unambiguous letters and "
        "digits: 10 characters give about 50 bits, so numbers cannot be guessed).",
        _positive,
    ),
    Setting("page_size", 25, "Rows per page in lists.", _positive),
    Setting("max_page_size", 100, "Largest page size a client may ask for.", _positive),
    Setting(
        "counters_max_age",
        10,
        "Seconds a staff member's desk counters are kept before they are counted again "
        "(per process; a change in the same process, or the viewer's own change, counts "
        "again at once). 0 counts on every page.",
        _seconds,
    ),
    Setting(
        "load_entry_points",
        True,
        "Load plugins from the ``flask_supportdesk`` entry-point group.",
        _flag,
    ),
    Setting(
        "disabled_plugins",
        (),
        "Names of plugins (entry points or built-ins such as ``supportdesk.builtin.storage``) "
        "not to register: a sequence, or a comma-separated string (from the environment).",
        _plugin_names,
    ),
    Setting(
        "languages",
        ("en", "de"),
        "The languages the desk's own locale selector picks from by ``Accept-Language``, "
        "the first when none matches; each must be one the desk ships. Used only when the "
        "host has not set up Flask-Babel itself (then its own selector decides).",
        _languages,
    ),
    Setting(
        "public_url",
        None,
        "The desk's public address (``https://shop.example``, no trailing slash): links in "
        "notifications are built on it, in a request or not (a worker, the CLI). Without "
        "it, links built in a request use that request's address and links built "
        "outside one are relative.",
        _public_url,
    ),
    Setting(
        "mail_server",
        None,
        "SMTP host of the built-in e-mail delivery; ``None`` turns it off (notifications "
        "are still written and handed to other delivery plugins).",
        _optional_str,
    ),
    Setting("mail_port", 25, "SMTP port (587 for STARTTLS, 465 for TLS).", _port),
    Setting(
        "mail_use_tls",
        False,
        "Upgrade the SMTP connection with ``STARTTLS`` (usually on port 587).",
        _flag,
    ),
    Setting(
        "mail_use_ssl",
        False,
        "Connect over TLS from the start (SMTPS, usually port 465); excludes "
        "``SUPPORTDESK_MAIL_USE_TLS``.",
        _flag,
    ),
    Setting("mail_username", None, "SMTP user name, if the server wants a login.", _optional_str),
    Setting("mail_password", None, "SMTP password (keep it out of the code).", _optional_str),
    Setting(
        "mail_default_sender",
        None,
        "The ``From`` of the desk's mails (``Support <support@shop.example>``); required "
        "when ``SUPPORTDESK_MAIL_SERVER`` is set.",
        _optional_str,
    ),
    Setting(
        "mail_timeout", 30, "Seconds to wait for the SMTP server before retrying later.", _seconds
    ),
    Setting(
        "deliver_after_commit",
        True,
        "Deliver a change's notifications right after it is committed, from this "
        "process (in a background thread unless ``SUPPORTDESK_DELIVER_IN_BACKGROUND`` is "
        "off). Turn it off to leave all delivery to ``flask supportdesk deliver`` or a "
        "task queue.",
        _flag,
    ),
    Setting(
        "deliver_in_background",
        True,
        "Deliver after commit from one background thread per process, so a request never "
        "waits for the mail server; the thread also retries what is due every "
        "``SUPPORTDESK_DELIVER_INTERVAL`` seconds. Off: in the request, after its commit.",
        _flag,
    ),
    Setting(
        "deliver_interval",
        30,
        "Seconds between the background thread's rounds of what is due again (retries).",
        _interval,
    ),
    Setting(
        "notification_max_attempts",
        8,
        "Delivery attempts of a notification before it is given up (marked failed, with "
        "the last error, for the store owner to retry).",
        _positive,
    ),
    Setting(
        "notification_retention_days",
        30,
        "Days a delivered notification stays in the outbox before ``flask supportdesk "
        "prune-notifications`` deletes it (run it daily, e.g. from cron).",
        _positive,
    ),
    Setting(
        "notification_retry_delay",
        60,
        "Seconds before the first retry of a failed delivery; each further retry waits "
        "twice as long (with random jitter), at most an hour.",
        _seconds,
    ),
    Setting(
        "notification_lease",
        300,
        "Seconds a worker holds the notifications it claimed; rows of a worker that died "
        "are delivered by another after that.",
        _seconds,
    ),
    Setting(
        "inbound_address",
        None,
        "The support address mail comes in at (``support@shop.example``). When set, the "
        "desk's mails carry a signed per-ticket ``Reply-To`` (``support+<token>@shop."
        "example``) that threads a reply into its ticket; deliver every ``support+...`` "
        "address to ``flask supportdesk ingest-email`` (:doc:`notifications`).",
        _optional_address,
    ),
    Setting(
        "inbound_opens_tickets",
        False,
        "Whether a mail that answers no ticket opens a new one (source ``email``; a guest "
        "requester when the sender has no account). Off: such mail is refused.",
        _flag,
    ),
    Setting(
        "inbound_secret",
        None,
        "The shared secret of the inbound e-mail HTTP endpoint (``POST /inbound/email`` "
        "of the API, ``Authorization: Bearer <secret>``); ``None`` turns the endpoint off.",
        _optional_str,
    ),
    Setting(
        "inbound_max_size",
        25 * 1024 * 1024,
        "Largest inbound mail accepted, in bytes (the raw RFC 822 message).",
        _positive,
    ),
    Setting(
        "inbound_hourly_limit",
        20,
        "Most mails taken into one ticket within an hour; more are ignored as a mail loop "
        "(two auto-responders that do not say so answering each other).",
        _positive,
    ),
    Setting(
        "inbound_max_parts",
        100,
        "Most MIME parts an inbound mail may have; a mail with more is refused.",
        _positive,
    ),
    Setting(
        "content_security_policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        "Content-Security-Policy sent with every desk page; ``None`` sends none (when the "
        "host sets its own).",
        _optional_str,
    ),
    Setting(
        "delegate_invitation_max_age",
        72 * 3600,
        "Seconds a delegate invitation link stays valid (it works once, and only for the "
        "invited account).",
        _positive,
    ),
    Setting(
        "ratelimit_storage_uri",
        "memory://",
        "Where the desk's rate limits are counted, as a ``limits`` storage URI: "
        "``memory://`` (one process) or ``redis://host:6379/0`` when several processes "
        "serve the desk, so they share the counts.",
        str,
    ),
    Setting(
        "ratelimit_key_prefix",
        "supportdesk",
        "Prefix of the rate-limit keys in the storage (several apps may share a Redis).",
        str,
    ),
    Setting(
        "contact_form_creates_ticket",
        False,
        "Mount the public contact form (``/support/contact``): it opens a ``contact_form`` "
        "ticket for a guest, who follows it through a signed link sent by e-mail.",
        _flag,
    ),
    Setting(
        "contact_rate_limit_per_address",
        "5 per hour",
        "How often one e-mail address may send the contact form (``limits`` notation; "
        "several limits separated by ``;``).",
        _rate_limits,
    ),
    Setting(
        "contact_rate_limit_per_ip",
        "20 per hour",
        "How often one client address may send the contact form.",
        _rate_limits,
    ),
    Setting(
        "guest_link_max_age",
        7 * 24 * 3600,
        "Seconds a guest's signed link (from a contact-form ticket's mails) can be used, "
        "once.",
        _positive,
    ),
    Setting(
        "guest_session_max_age",
        24 * 3600,
        "Seconds a guest stays signed in to the portal after following their link.",
        _positive,
    ),
    Setting(
        "pin_length",
        6,
        "Digits of a customer's support PIN (4 to 12).",
        _pin_length,
    ),
    Setting(
        "pin_rate_limit_per_customer",
        "5 per 15 minutes",
        "Support PIN verification attempts on one customer, by any staff member.",
        _rate_limits,
    ),
    Setting(
        "pin_rate_limit_per_staff",
        "5 per 15 minutes",
        "Support PIN verification attempts by one staff member, on any customer.",
        _rate_limits,
    ),
    Setting(
        "socketio_message_queue",
        None,
        "The message queue (``redis://host:6379/0``) that several server processes "
        "share for live events; nothing else changes between one process and many.",
        _optional_url,
    ),
    Setting(
        "socketio_channel",
        "flask-socketio",
        "The channel of the message queue the desk's processes publish live events on "
        "(Flask-SocketIO's default); stores sharing one Redis give each its own.",
        str,
    ),
    Setting(
        "socketio_async_mode",
        "threading",
        "The async mode of the Socket.IO server the desk creates (``threading`` works "
        "out of the box; ``gevent`` under a gevent server). Ignored when the host passes "
        "its own ``SocketIO``.",
        str,
    ),
    Setting(
        "socketio_cors_allowed_origins",
        (),
        "Browser origins besides the site itself that may open the live connection "
        "(the storefront's, when the desk runs on another host); never ``*``.",
        _origins,
    ),
    Setting(
        "chat_token_max_age",
        2 * 3600,
        "Seconds a chat visitor's signed token is valid; the widget renews it while it "
        "is valid, so an open conversation goes on.",
        _positive,
    ),
    Setting(
        "chat_rate_limit_per_ip",
        "10 per hour",
        "How often one client address may start a chat.",
        _rate_limits,
    ),
    Setting(
        "chat_rate_limit_per_address",
        "5 per hour",
        "How often one e-mail address (or account) may start a chat.",
        _rate_limits,
    ),
    Setting(
        "socket_rate_limit",
        "30 per 10 seconds",
        "Events (sends, typing, reads, syncs) one live connection may make; more get the "
        "``rate_limited`` error.",
        _rate_limits,
    ),
    Setting(
        "socket_connect_rate_limit",
        "120 per minute",
        "How often one client address may open a live connection (each page of the "
        "desk opens one; behind a proxy, set Werkzeug's ``ProxyFix`` so the address is "
        "the visitor's, not the proxy's).",
        _rate_limits,
    ),
    Setting(
        "socket_max_event_size",
        64 * 1024,
        "Largest live event a client may send, in bytes of its JSON (below the "
        "transport's limit, so a too large event gets an error rather than a silent "
        "disconnect).",
        _positive,
    ),
    Setting(
        "chat_fallback_after",
        180,
        "Seconds a new chat waits for a staff answer before it falls back to the ticket "
        "queue and the visitor is told they will get an e-mail.",
        _positive,
    ),
    Setting(
        "chat_offline_reply_hours",
        24,
        "The widget's \"we usually reply within ...\" when no staff member is online, in "
        "hours.",
        _positive,
    ),
    Setting(
        "presence_timeout",
        90,
        "Seconds after which a connection that stopped refreshing counts as gone (a "
        "server process that died without saying goodbye).",
        _positive,
    ),
)

SETTINGS_BY_KEY = {setting.key: setting for setting in SETTINGS}


@dataclasses.dataclass(frozen=True)
class SupportDeskConfig:
    """The parsed settings of one app, read once at ``init_app`` time."""

    url_prefix: str
    desk_url_prefix: str
    api_url_prefix: str
    base_template: str
    role_hierarchy: tuple[str, ...]
    categories: tuple[str, ...]
    default_category: str
    max_message_length: int
    max_subject_length: int
    max_attachments: int
    max_attachment_size: int
    allowed_extensions: tuple[str, ...]
    attachment_folder: str | None
    ticket_number_prefix: str
    ticket_number_length: int
    page_size: int
    max_page_size: int
    counters_max_age: float
    load_entry_points: bool
    disabled_plugins: tuple[str, ...]
    languages: tuple[str, ...]
    public_url: str | None
    mail_server: str | None
    mail_port: int
    mail_use_tls: bool
    mail_use_ssl: bool
    mail_username: str | None
    mail_password: str | None
    mail_default_sender: str | None
    mail_timeout: float
    deliver_after_commit: bool
    deliver_in_background: bool
    deliver_interval: float
    notification_max_attempts: int
    notification_retention_days: int
    notification_retry_delay: float
    notification_lease: float
    content_security_policy: str | None
    inbound_address: str | None
    inbound_opens_tickets: bool
    inbound_secret: str | None
    inbound_max_size: int
    inbound_max_parts: int
    inbound_hourly_limit: int
    delegate_invitation_max_age: int
    ratelimit_storage_uri: str
    ratelimit_key_prefix: str
    contact_form_creates_ticket: bool
    contact_rate_limit_per_address: tuple[t.Any, ...]
    contact_rate_limit_per_ip: tuple[t.Any, ...]
    guest_link_max_age: int
    guest_session_max_age: int
    pin_length: int
    pin_rate_limit_per_customer: tuple[t.Any, ...]
    pin_rate_limit_per_staff: tuple[t.Any, ...]
    socketio_message_queue: str | None
    socketio_channel: str
    socketio_async_mode: str
    socketio_cors_allowed_origins: tuple[str, ...]
    chat_token_max_age: int
    chat_rate_limit_per_ip: tuple[t.Any, ...]
    chat_rate_limit_per_address: tuple[t.Any, ...]
    socket_rate_limit: tuple[t.Any, ...]
    socket_connect_rate_limit: tuple[t.Any, ...]
    socket_max_event_size: int
    chat_fallback_after: int
    chat_offline_reply_hours: int
    presence_timeout: int


def load(app: Flask) -> SupportDeskConfig:
    """Fill in defaults, validate every ``SUPPORTDESK_*`` key and parse it once.

    :raises ConfigurationError: an unknown key (with a suggestion) or an invalid value.
    """
    unknown = [k for k in app.config if k.startswith(PREFIX) and k not in SETTINGS_BY_KEY]
    if unknown:
        key = sorted(unknown)[0]
        close = difflib.get_close_matches(key, SETTINGS_BY_KEY, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigurationError(f"Unknown setting {key!r}.{hint}")
    values: dict[str, t.Any] = {}
    for setting in SETTINGS:
        raw = app.config.setdefault(setting.key, setting.default)
        try:
            values[setting.name] = setting.parse(raw)
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(f"{setting.key}={raw!r} is not valid: {exc}.") from None
    if values["default_category"] not in values["categories"]:
        raise ConfigurationError(
            f"{PREFIX}DEFAULT_CATEGORY={values['default_category']!r} is not one of "
            f"{PREFIX}CATEGORIES."
        )
    if values["mail_use_tls"] and values["mail_use_ssl"]:
        raise ConfigurationError(
            f"{PREFIX}MAIL_USE_TLS (STARTTLS) and {PREFIX}MAIL_USE_SSL (TLS from the start)"
            " exclude each other: set one."
        )
    if values["mail_server"] and not values["mail_default_sender"]:
        raise ConfigurationError(
            f"{PREFIX}MAIL_SERVER is set but {PREFIX}MAIL_DEFAULT_SENDER is not: the desk's"
            " mails need a From address."
        )
    return SupportDeskConfig(**values)
