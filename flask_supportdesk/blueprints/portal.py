"""Customer portal: my tickets, new ticket, thread with reply, edit, close, follow-up,
delegates (invite, revoke, accept an invitation).

Every view needs a logged-in actor. The portal shows an actor's *own* requests only, in
customer words, even when the actor is staff: a staff member who opens the portal is a
customer of their own tickets, and someone else's ticket is "not found" here (staff
handle those in the desk). Tickets shared with the actor as a delegate are listed and
open too, for reading and replying only. Each view parses a form, calls one service function and
redirects (POST/redirect/GET); a service error goes back onto the form, or becomes an
error page (404 invisible, 409 closed).
"""

from __future__ import annotations

import typing as t

from flask import current_app
from flask import flash
from flask import redirect
from flask import request
from flask import url_for
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm

from .. import policy
from .._state import get_state
from ..errors import FileTypeNotAllowed
from ..errors import Forbidden
from ..errors import NotFound
from ..errors import PayloadTooLarge
from ..errors import SupportDeskError
from ..errors import Unauthorized
from ..errors import ValidationError
from ..forms import ConfirmForm
from ..forms import DelegateInviteForm
from ..forms import EditMessageForm
from ..forms import EditSubjectForm
from ..forms import FollowUpForm
from ..forms import NewTicketForm
from ..forms import ReplyForm
from ..forms import show_error
from ..i18n import gettext as _
from ..identity import current_actor
from ..models import Message
from ..models import Ticket
from ..models import category_label
from ..presentation import thread_views
from ..services import delegates
from ..services import listing
from ..services import messages
from ..services import pins
from ..services import tickets
from ..values import Actor
from ._common import ID_CONVERTER
from ._common import make_blueprint
from ._common import register_html_errors
from ._common import render
from ._settings_page import settings_page

bp = make_blueprint("supportdesk_portal", __name__)
register_html_errors(bp)

#: Service errors that belong next to a form field (the rest become error pages).
FORM_ERRORS = (ValidationError, PayloadTooLarge, FileTypeNotAllowed)

#: The only kind of reference a customer can link from the portal (the host's
#: "Get help with this order" link passes ``?order=<id>``).
ORDER = "order"


@bp.before_request
def _login_required() -> ResponseReturnValue | None:
    """Send an anonymous visitor to the host's login, or answer with the 401 page.

    Flask-Login's ``unauthorized()`` honours the host's ``login_view``, blueprint login
    views and ``unauthorized_handler``; without any of them it would abort with a bare
    401, so the desk's own 401 page is shown instead.
    """
    if current_actor() is not None:
        return None
    manager = getattr(current_app, "login_manager", None)
    if manager is not None and (
        manager.unauthorized_callback or manager.login_view or manager.blueprint_login_views
    ):
        return t.cast(ResponseReturnValue, manager.unauthorized())
    raise Unauthorized()


def _actor() -> Actor:
    # _login_required ran before every view, so there is an actor.
    return t.cast(Actor, current_actor())


def _account_holder() -> Actor:
    """The actor, if they have a host account: a guest (signed in by a guest link)
    answers their tickets but opens new ones through the contact form, and has no PIN.

    :raises Forbidden: the actor is a guest.
    """
    actor = _actor()
    policy.require_account(actor)
    return actor


def _shared_ticket(actor: Actor, number: str) -> Ticket:
    """A ticket the actor follows here: their own, or one shared with them (delegate).

    :raises NotFound: no such ticket, another customer's, or one the actor only handles
        as staff: the same error, so the portal never reveals that a ticket exists.
    """
    ticket = policy.get_ticket(actor, number)
    if policy.audience(actor, ticket) not in (policy.Audience.REQUESTER, policy.Audience.DELEGATE):
        raise NotFound(policy.NOT_FOUND_TICKET)
    return ticket


def _own_ticket(actor: Actor, number: str) -> Ticket:
    """The actor's own ticket (as its requester).

    :raises NotFound: as :func:`_shared_ticket`.
    :raises Forbidden: a ticket shared with the actor: only its requester may do that.
    """
    ticket = _shared_ticket(actor, number)
    if policy.audience(actor, ticket) is not policy.Audience.REQUESTER:
        raise Forbidden(_("Only the requester of this ticket may do that."))
    return ticket


def _own_message(actor: Actor, ticket: Ticket, message_id: int) -> Message:
    """A message of ``ticket`` the actor may read; another ticket's is not found."""
    message = messages.get_message(actor, message_id)
    if message.ticket_id != ticket.id:
        raise NotFound(_("Message not found."))
    return message


def _form_failed(form: FlaskForm, exc: SupportDeskError | None = None) -> int:
    """Put a service error (if any) on ``form``; the status to answer with.

    A form error is a 400, except the upload errors that have their own status
    (413 too large, 415 file type), so a script sees the same codes as from the API.
    """
    if exc is None:
        return 400
    show_error(form, exc)
    return exc.status


# -------------------------------------------------------------------------------------
# My tickets
# -------------------------------------------------------------------------------------


# The endpoint is "tickets" (the shared templates link to it); the function is named
# otherwise because ``tickets`` is the service module.
@bp.get("/", endpoint="tickets")
def my_tickets() -> ResponseReturnValue:
    """My tickets: the Active or Closed tab (``?tab=closed``), newest activity first."""
    actor = _actor()
    tab = "closed" if request.args.get("tab") == "closed" else "active"
    q = request.args.get("q", "")
    page = listing.portal_tickets(actor, closed=tab == "closed", page=request.args.get("page"), q=q)
    # Tickets someone shared with the actor carry a mark (no query: the rows say it).
    shared = {ticket.id for ticket in page.items if not policy.is_requester(actor, ticket)}
    return render("supportdesk/portal/tickets.html", page=page, tab=tab, q=q.strip(), shared=shared)


# -------------------------------------------------------------------------------------
# New ticket
# -------------------------------------------------------------------------------------


def _new_ticket_form() -> NewTicketForm:
    form = NewTicketForm()
    config = get_state().config
    departments = tickets.active_departments()
    # No departments configured: the field is not shown and nothing is chosen.
    form.department.choices = [("", _("Any department"))] + [(d.slug, d.name) for d in departments]
    form.category.choices = [(c, category_label(c)) for c in config.categories]
    if not form.is_submitted():
        form.category.data = config.default_category
        form.order.data = request.args.get(ORDER, "")[:120]
    return form


def _render_new_ticket(actor: Actor, form: NewTicketForm, status: int = 200) -> ResponseReturnValue:
    # Another customer's order previews as nothing: the page does not say it exists. The
    # customer is told at once and continues without it (the form forgets the order).
    order = form.order.data
    reference = tickets.preview_reference(actor, ORDER, order) if order else None
    unknown_order = None
    if order and reference is None:
        unknown_order, form.order.data = order, ""
    return (
        render(
            "supportdesk/portal/new_ticket.html",
            form=form,
            reference=reference,
            unknown_order=unknown_order,
            has_departments=len(form.department.choices or ()) > 1,
        ),
        status,
    )


@bp.route("/new", methods=["GET", "POST"])
def new_ticket() -> ResponseReturnValue:
    """Open a ticket: subject, department (when there are any), category, message, files."""
    actor = _account_holder()
    form = _new_ticket_form()
    if not form.validate_on_submit():
        return _render_new_ticket(actor, form, 400 if form.is_submitted() else 200)
    try:
        opened = tickets.open_ticket(
            actor,
            subject=form.subject.data,
            body=form.body.data,
            category=form.category.data,
            department=form.department.data or None,
            reference={"kind": ORDER, "id": form.order.data} if form.order.data else None,
            attachments=form.uploads(),
            client_id=form.client_id.data,
        )
    except FORM_ERRORS as exc:
        return _render_new_ticket(actor, form, _form_failed(form, exc))
    flash(
        _("Your ticket %(number)s was sent. We will get back to you soon.", number=opened.number),
        "success",
    )
    return redirect(url_for(".ticket", number=opened.number))


# -------------------------------------------------------------------------------------
# One ticket
# -------------------------------------------------------------------------------------


def _render_thread(
    actor: Actor, ticket: Ticket, *, status: int = 200, **failed: FlaskForm
) -> ResponseReturnValue:
    """The thread page with its forms.

    :param failed: A form that failed, by its name in the page (``reply_form``,
        ``subject_form``, ``follow_up_form``, ``invite_form``): shown again with its
        input and errors.
    """
    requester = policy.audience(actor, ticket) is policy.Audience.REQUESTER
    latest = messages.latest_messages(actor, ticket, before=request.args.get("before"))
    rows = latest.messages
    thread = thread_views(actor, ticket, rows)  # what the API shows this customer
    forms: dict[str, FlaskForm] = {
        "reply_form": ReplyForm(formdata=None),
        "subject_form": EditSubjectForm(formdata=None, subject=ticket.subject),
        "follow_up_form": FollowUpForm(formdata=None),
        "invite_form": DelegateInviteForm(formdata=None),
        "revoke_form": ConfirmForm(formdata=None),
        **failed,
    }
    return (
        render(
            "supportdesk/portal/ticket.html",
            ticket=ticket,
            thread=thread,
            earlier=latest.earlier,
            follow_ups=tickets.follow_ups(actor, ticket),
            is_requester=requester,
            delegates=delegates.list_delegates(actor, ticket) if requester else [],
            can_invite=policy.can_invite_delegates(actor, ticket),
            # The invitation is a mail: without a way to send one, no form to promise it.
            invitations_by_mail=get_state().delivers_notifications,
            edit_urls={
                m.id: url_for(".edit_message", number=ticket.number, message_id=m.id)
                for m in rows
                if policy.can_edit_message(actor, ticket, m)
            },
            **forms,
        ),
        status,
    )


@bp.get("/tickets/<number>")
def ticket(number: str) -> ResponseReturnValue:
    """The thread of one of my tickets, or one shared with me (public messages only),
    with its forms."""
    actor = _actor()
    return _render_thread(actor, _shared_ticket(actor, number))


def _submit_on_thread(
    actor: Actor,
    found: Ticket,
    form: FlaskForm,
    slot: str,
    action: t.Callable[[], tuple[str, str]],
) -> ResponseReturnValue:
    """Validate a form of the thread page and run its one service call (PRG).

    :param slot: The form's name in the page's context (``reply_form``, ...): a failed
        form is shown again there with its input and errors.
    :param action: Calls the service; returns where to go next and what to flash.
    """
    if form.validate_on_submit():
        try:
            location, done = action()
        except FORM_ERRORS as exc:
            return _render_thread(actor, found, status=_form_failed(form, exc), **{slot: form})
        flash(done, "success")
        return redirect(location)
    return _render_thread(actor, found, status=_form_failed(form), **{slot: form})


@bp.post("/tickets/<number>/reply")
def reply(number: str) -> ResponseReturnValue:
    """Post a reply (the ticket then awaits support); delegates reply too."""
    actor = _actor()
    found = _shared_ticket(actor, number)
    form = ReplyForm()

    def post() -> tuple[str, str]:
        messages.post_message(
            actor,
            found.number,
            form.body.data,
            attachments=form.uploads(),
            client_id=form.client_id.data,
        )
        return url_for(".ticket", number=found.number, _anchor="reply"), _("Your reply was sent.")

    return _submit_on_thread(actor, found, form, "reply_form", post)


@bp.post("/tickets/<number>/subject")
def edit_subject(number: str) -> ResponseReturnValue:
    """Change the subject of my ticket (kept on the ticket's timeline)."""
    actor = _actor()
    found = _own_ticket(actor, number)
    form = EditSubjectForm()

    def change() -> tuple[str, str]:
        tickets.update_ticket(actor, found.number, {"subject": form.subject.data})
        return url_for(".ticket", number=found.number), _("The subject was changed.")

    return _submit_on_thread(actor, found, form, "subject_form", change)


@bp.route(f"/tickets/<number>/messages/<{ID_CONVERTER}:message_id>/edit", methods=["GET", "POST"])
def edit_message(number: str, message_id: int) -> ResponseReturnValue:
    """Edit one of my messages; the earlier text is kept as a revision."""
    actor = _actor()
    found = _shared_ticket(actor, number)
    message = _own_message(actor, found, message_id)
    # Refuse early (403 not the author, 409 closed) rather than show a form that cannot work.
    policy.check_edit_message(actor, found, message)
    form = EditMessageForm(obj=None if request.method == "POST" else message)
    status = 200
    if form.validate_on_submit():
        try:
            messages.edit_message(actor, message.id, form.body.data)
        except FORM_ERRORS as exc:
            status = _form_failed(form, exc)
        else:
            flash(_("Your message was changed."), "success")
            return redirect(url_for(".ticket", number=found.number, _anchor=f"m{message.id}"))
    elif form.is_submitted():
        status = _form_failed(form)
    return (
        render("supportdesk/portal/edit_message.html", ticket=found, message=message, form=form),
        status,
    )


@bp.route("/tickets/<number>/close", methods=["GET", "POST"])
def close(number: str) -> ResponseReturnValue:
    """Close my ticket for good, after a confirmation page (GET never changes anything)."""
    actor = _actor()
    found = _own_ticket(actor, number)
    form = ConfirmForm()
    if not form.validate_on_submit():
        policy.require_open(found)  # a closed ticket cannot be closed again: 409
        return render("supportdesk/portal/close.html", ticket=found, form=form)
    tickets.close_ticket(actor, found.number)
    flash(_("Your ticket was closed. You can open a follow-up at any time."), "success")
    return redirect(url_for(".ticket", number=found.number))


@bp.post("/tickets/<number>/follow-up")
def follow_up(number: str) -> ResponseReturnValue:
    """Open a new ticket that continues my closed one and links to it."""
    actor = _account_holder()
    found = _own_ticket(actor, number)
    form = FollowUpForm()

    def open_follow_up() -> tuple[str, str]:
        new = tickets.open_follow_up(
            actor,
            found.number,
            body=form.body.data,
            attachments=form.uploads(),
            client_id=form.client_id.data,
        )
        done = _("Your follow-up ticket %(number)s was sent.", number=new.number)
        return url_for(".ticket", number=new.number), done

    return _submit_on_thread(actor, found, form, "follow_up_form", open_follow_up)


# -------------------------------------------------------------------------------------
# Notification settings
# -------------------------------------------------------------------------------------


@bp.route("/notifications/settings", methods=["GET", "POST"])
def notification_settings() -> ResponseReturnValue:
    """Which e-mails I get about my requests, and in which language."""
    template = "supportdesk/portal/notification_settings.html"
    return settings_page(_account_holder(), staff=False, template=template)


# -------------------------------------------------------------------------------------
# Delegates
# -------------------------------------------------------------------------------------


@bp.post("/tickets/<number>/delegates")
def invite_delegate(number: str) -> ResponseReturnValue:
    """Invite an account holder, by e-mail, to read and reply on my ticket."""
    actor = _actor()
    found = _own_ticket(actor, number)
    form = DelegateInviteForm()

    def invite() -> tuple[str, str]:
        invited = delegates.invite(actor, found.number, form.email.data)
        done = _("%(email)s was invited. They can follow the ticket once they accept.",
                 email=invited.email)  # fmt: skip
        return url_for(".ticket", number=found.number, _anchor="delegates"), done

    return _submit_on_thread(actor, found, form, "invite_form", invite)


@bp.post(f"/tickets/<number>/delegates/<{ID_CONVERTER}:delegate_id>/revoke")
def revoke_delegate(number: str, delegate_id: int) -> ResponseReturnValue:
    """Revoke a delegate (or a pending invitation) of my ticket, at once."""
    actor = _actor()
    found = _own_ticket(actor, number)
    form = ConfirmForm()

    def revoke() -> tuple[str, str]:
        revoked = delegates.revoke(actor, found.number, delegate_id)
        done = _("%(email)s no longer has access to this ticket.", email=revoked.email)
        return url_for(".ticket", number=found.number, _anchor="delegates"), done

    return _submit_on_thread(actor, found, form, "revoke_form", revoke)


@bp.route("/invitations/<token>", methods=["GET", "POST"])
def invitation(token: str) -> ResponseReturnValue:
    """Accept an invitation from its mail: the page names the ticket, the button accepts
    (a GET never changes anything). Only the invited account may; a visitor who is not
    logged in is sent to the host's login first, and comes back here."""
    actor = _actor()
    invited = delegates.invitation(actor, token)  # 404, 410 or 403 before any form
    form = ConfirmForm()
    if form.validate_on_submit():
        number = delegates.accept(actor, token).ticket.number
        flash(_("You can now follow this ticket and reply to it."), "success")
        return redirect(url_for(".ticket", number=number))
    return (
        render("supportdesk/portal/invitation.html", invitation=invited, form=form),
        400 if form.is_submitted() else 200,
    )


# -------------------------------------------------------------------------------------
# Support PIN
# -------------------------------------------------------------------------------------


@bp.get("/pin")
def pin() -> ResponseReturnValue:
    """My support PIN, to read to staff on the phone, with a button to regenerate it."""
    actor = _account_holder()
    own = pins.pin_for_owner(actor)
    response = current_app.make_response(
        render("supportdesk/portal/pin.html", own_pin=own, form=ConfirmForm(formdata=None))
    )
    response.headers["Cache-Control"] = "no-store"  # a secret: not kept by caches
    return response


@bp.post("/pin/regenerate")
def regenerate_pin() -> ResponseReturnValue:
    """Replace my support PIN with a new one (the old one stops matching at once)."""
    actor = _account_holder()
    form = ConfirmForm()
    if not form.validate_on_submit():
        raise ValidationError()
    pins.regenerate(actor)
    flash(_("Your support PIN was changed. The old one no longer works."), "success")
    return redirect(url_for(".pin"))
