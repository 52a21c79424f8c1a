"""Errors raised by the desk's services.

Every error carries a machine-readable ``code`` (stable, never translated) and the HTTP
``status`` a surface should answer with; its ``message`` and field reasons are in the
language of the request. Each surface translates them once: the pages into a flashed message or an
error page, the JSON API into ``{"error": {"code", "message", "fields"}}``.
"""

from __future__ import annotations

import typing as t

from .i18n import lazy_gettext as _l


class SupportDeskError(Exception):
    """Base class of every error the desk raises on purpose.

    :param message: A sentence a person can read.
    :param fields: Per-field reasons, for validation errors (``{"body": "Required."}``).
    """

    code: str = "error"
    status: int = 400
    #: Seconds after which a retry may succeed (sent as ``Retry-After``), if known.
    retry_after: int | None = None

    def __init__(self, message: str | None = None, *, fields: dict[str, str] | None = None) -> None:
        # Messages are translated here, in the locale of the request that failed (lazy
        # ones included), so every surface shows and serialises plain text.
        self.message = str(message or self.default_message)
        self.fields = {name: str(reason) for name, reason in (fields or {}).items()}
        super().__init__(self.message)

    #: The message when none is given (translated when the error is raised).
    default_message: t.Any = _l("The request could not be completed.")

    def to_dict(self) -> dict[str, t.Any]:
        """The JSON error body of the API."""
        error: dict[str, t.Any] = {"code": self.code, "message": self.message}
        if self.fields:
            error["fields"] = self.fields
        return {"error": error}


class ValidationError(SupportDeskError):
    """The input breaks a rule (a required field, a limit, an unknown value)."""

    code, status = "validation_error", 400
    default_message = _l("Some fields are not valid.")


class ForbiddenField(ValidationError):
    """The actor sent a field it may not set (a customer setting the priority)."""

    code = "forbidden_field"
    default_message = _l("You may not set some of these fields.")


class TooManyAttachments(ValidationError):
    """More files on one message than ``SUPPORTDESK_MAX_ATTACHMENTS`` allows."""

    code = "too_many_attachments"
    default_message = _l("Too many attachments.")


class Unauthorized(SupportDeskError):
    """Nobody is logged in, and the action needs an actor."""

    code, status = "unauthorized", 401
    default_message = _l("Please log in.")


class Forbidden(SupportDeskError):
    """The actor may see the resource but not do this to it."""

    code, status = "forbidden", 403
    default_message = _l("You are not allowed to do that.")


class NotFound(SupportDeskError):
    """The resource does not exist, or the actor may not know that it exists."""

    code, status = "not_found", 404
    default_message = _l("Not found.")


class EmailMismatch(Forbidden):
    """A delegate invitation opened by another account than the one it invites."""

    code = "email_mismatch"
    default_message = _l(
        "This invitation is for another account. Log in with the invited address."
    )


class TokenUsed(SupportDeskError):
    """A one-time link (a delegate invitation, a guest link) was used already, or
    withdrawn."""

    code, status = "token_used", 410
    default_message = _l("This invitation was already used or withdrawn.")


class TokenExpired(SupportDeskError):
    """A signed link (a delegate invitation, a guest link) is older than it may be."""

    code, status = "token_expired", 410
    default_message = _l("This invitation has expired. Ask for a new one.")


class Conflict(SupportDeskError):
    """The request is valid but the resource's current state refuses it."""

    code, status = "conflict", 409
    default_message = _l("The request conflicts with the current state.")


class TicketClosed(Conflict):
    """The ticket is closed: it accepts no message, edit or status change."""

    code = "ticket_closed"
    default_message = _l("This ticket is closed. Open a follow-up ticket to continue.")


class PayloadTooLarge(SupportDeskError):
    """An upload is larger than the configured size limit."""

    code, status = "payload_too_large", 413
    default_message = _l("The upload is too large.")


class FileTypeNotAllowed(SupportDeskError):
    """An upload's detected file type is not on the allowed list."""

    code, status = "file_type_not_allowed", 415
    default_message = _l("This type of file is not allowed.")


class RateLimited(SupportDeskError):
    """The actor sent too many requests; the response carries ``Retry-After``."""

    code, status = "rate_limited", 429
    default_message = _l("Too many requests. Please try again later.")


class GuestLinkUsed(TokenUsed):
    """A guest's one-time link was used already (each link signs its guest in once)."""

    default_message = _l(
        "This link was already used. Use the link in our latest e-mail, or reply to it."
    )


class GuestLinkExpired(TokenExpired):
    """A guest's signed link is older than ``SUPPORTDESK_GUEST_LINK_MAX_AGE``."""

    default_message = _l(
        "This link has expired. Use the link in our latest e-mail, or reply to it."
    )


class InsufficientStorage(SupportDeskError):
    """The attachment storage is full; nothing of the change was kept."""

    code, status = "insufficient_storage", 507
    default_message = _l("There is no room left to store files. Nothing was saved.")


class ServiceUnavailable(SupportDeskError):
    """The database or the attachment storage failed; nothing of the change was kept."""

    code, status = "service_unavailable", 503
    default_message = _l(
        "The support desk is briefly unavailable. Nothing was saved; please try again."
    )
    retry_after = 5


class UncommittedHostChanges(RuntimeError):
    """A desk call outside :func:`~flask_supportdesk.host_transaction` found the host's
    uncommitted changes in the session.

    The desk commits its own calls, and committing (or, on failure, rolling back) would
    take the host's pending work along behind its back.
    """

    def __init__(self) -> None:
        super().__init__(
            "The database session holds uncommitted changes of your own. Commit or roll"
            " them back before calling the support desk, or make the desk call part of your"
            " transaction with 'with flask_supportdesk.host_transaction(): ...'."
        )


class ConfigurationError(RuntimeError):
    """The desk is set up wrongly (raised at ``init_app`` time, never per request)."""
