"""The public contact form and guest links (DESIGN §5): pages for people without an
account.

``/support/contact`` (only with ``SUPPORTDESK_CONTACT_FORM_CREATES_TICKET``) opens a
``contact_form`` ticket for a guest; its answer page says a link was sent and nothing
about the ticket. ``/support/guest/<token>`` is the one-time link of the guest's mails:
it shows a "Continue" button (a mail scanner that fetches the link spends nothing), whose
POST spends the token and signs the guest in to the portal, where they read and answer
their tickets. The views are thin: one service call each.
"""

from __future__ import annotations

from flask import Response
from flask import current_app
from flask import flash
from flask import redirect
from flask import request
from flask import url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from .. import policy
from .._state import get_state
from ..errors import Forbidden
from ..errors import GuestLinkUsed
from ..errors import NotFound
from ..errors import RateLimited
from ..errors import ValidationError
from ..forms import ConfirmForm
from ..forms import ContactForm
from ..forms import show_error
from ..i18n import gettext as _
from ..identity import current_actor
from ..identity import sign_in_guest
from ..identity import sign_out_guest
from ..services import contact
from ..services import guests
from ..values import Actor
from ._common import make_blueprint
from ._common import register_html_errors
from ._common import render
from ._common import with_retry_after

bp = make_blueprint("supportdesk_contact", __name__)
register_html_errors(bp)


def _require_contact_form() -> None:
    """The form exists when it is switched on and its guests can be sent their link."""
    state = get_state()
    if not state.config.contact_form_creates_ticket:
        raise NotFound()
    if not state.delivers_notifications:
        # A guest could never follow their ticket: no form rather than a false promise.
        current_app.logger.error(
            "SUPPORTDESK_CONTACT_FORM_CREATES_TICKET is on, but nothing delivers"
            " notifications (set SUPPORTDESK_MAIL_SERVER or add a"
            " supportdesk_deliver_notification plugin): the contact form is off."
        )
        raise NotFound()


@bp.route("/contact", methods=["GET", "POST"])
def contact_form() -> ResponseReturnValue:
    """The contact form: name, e-mail, subject, message (and a honeypot).

    A logged-in customer is sent to the portal's new ticket instead: their request
    belongs to their account, where they follow it without links.
    """
    _require_contact_form()
    if current_user and current_user.is_authenticated:
        return redirect(url_for("supportdesk_portal.new_ticket"))
    form = ContactForm()
    if not form.validate_on_submit():
        return render("supportdesk/contact/form.html", form=form), (
            400 if form.is_submitted() else 200
        )
    if form.website.data:
        # A bot filled the field people never see: it gets the usual answer, nothing else.
        current_app.logger.info("Contact form honeypot filled; nothing was written.")
        return redirect(url_for(".contact_sent"))
    try:
        contact.submit(
            name=form.name.data,
            email=form.email.data,
            subject=form.subject.data,
            body=form.body.data,
            client_ip=request.remote_addr or "",
            client_id=form.client_id.data,
        )
    except (ValidationError, RateLimited) as exc:
        show_error(form, exc)
        page = current_app.make_response(
            (render("supportdesk/contact/form.html", form=form), exc.status)
        )
        return with_retry_after(page, exc)
    return redirect(url_for(".contact_sent"))


@bp.get("/contact/sent")
def contact_sent() -> ResponseReturnValue:
    """The answer to a sent form: a link is on its way (nothing about the ticket)."""
    _require_contact_form()
    return render("supportdesk/contact/sent.html")


def _no_account() -> None:
    """A guest link is for a browser without a host login (else the login would win)."""
    if current_user and current_user.is_authenticated:
        raise Forbidden(
            _("This link is for a guest without an account. Log out of your account to use it.")
        )


@bp.after_request
def _token_headers(response: Response) -> Response:
    """A page at a token's URL (error pages too) never sends the token on in a Referer
    header, and is kept by no cache."""
    if request.endpoint in ("supportdesk_contact.guest", "supportdesk_contact.guest_sign_in"):
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
    return response


def _to_ticket(link: guests.GuestLink) -> ResponseReturnValue:
    """The ticket the link came with, if the signed-in guest sees it; else their list."""
    actor = current_actor() or link.actor
    try:
        ticket = policy.get_ticket(actor, link.ticket_number)
    except NotFound:
        return redirect(url_for("supportdesk_portal.tickets"))
    return redirect(url_for("supportdesk_portal.ticket", number=ticket.number))


def _usable_link(token: str) -> tuple[guests.GuestLink, bool]:
    """The link, and whether it is still to be spent: ``False`` when the guest signed in
    in this browser used it already (clicking their mail's link again goes on).

    :raises GuestLinkUsed: used, by someone else or in another browser.
    """
    try:
        return guests.read(token), True
    except GuestLinkUsed:
        link = guests.read(token, used_ok=True)
        actor = current_actor()
        if actor is None or actor.user_id is not None or actor.email != link.email:
            raise
        return link, False


@bp.get("/guest/<token>")
def guest(token: str) -> ResponseReturnValue:
    """A guest link: checks it (spends nothing) and offers to continue."""
    _no_account()
    link, unused = _usable_link(token)
    if not unused:
        return _to_ticket(link)
    return render("supportdesk/contact/guest.html", token=token, form=ConfirmForm())


@bp.post("/guest/<token>")
def guest_sign_in(token: str) -> ResponseReturnValue:
    """Spend the guest link, sign the guest in and show the ticket it came with."""
    _no_account()
    form = ConfirmForm()
    if not form.validate():
        raise ValidationError()
    link, unused = _usable_link(token)
    if not unused:
        return _to_ticket(link)
    link = guests.redeem(token)
    guest = link.actor
    try:
        # Greeted and shown by the name they gave on the form.
        ticket = policy.get_ticket(guest, link.ticket_number)
        guest = Actor.guest(link.email, ticket.requester_name)
    except NotFound:
        pass
    sign_in_guest(guest)
    return _to_ticket(link)


@bp.post("/guest/sign-out")
def guest_sign_out() -> ResponseReturnValue:
    """End the guest's session in this browser."""
    form = ConfirmForm()
    if not form.validate():
        raise ValidationError()
    sign_out_guest()
    flash(_("You are signed out. Use the link in our next e-mail to come back."), "success")
    if get_state().config.contact_form_creates_ticket:
        return redirect(url_for(".contact_form"))
    return redirect(url_for(".signed_out"))


@bp.get("/guest/signed-out")
def signed_out() -> ResponseReturnValue:
    """Where a guest lands after signing out when there is no contact form."""
    return render("supportdesk/contact/signed_out.html")

