"""Staff desk: counters, ticket lists, ticket page, replies, escalation, departments.

Every view is thin: it parses the request, calls one service function and renders or
redirects (post/redirect/get). Who may see what is decided by :mod:`..policy`; the
desk only adds the gate "staff only" in front of every URL. A service error on a form
is shown on the page it came from with the error's status (400, 403, 409, ...), so a
failed submit never loses what was typed.
"""

from __future__ import annotations

import time
import typing as t

from flask import Blueprint
from flask import current_app
from flask import flash
from flask import has_request_context
from flask import redirect
from flask import request
from flask import session
from flask import url_for
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm

from .. import policy
from .._state import get_state
from ..errors import Forbidden
from ..errors import NotFound
from ..errors import SupportDeskError
from ..errors import ValidationError
from ..events import DepartmentChanged
from ..events import DomainEvent
from ..forms import BulkForm
from ..forms import ConfirmForm
from ..forms import CustomerPinCheckForm
from ..forms import DepartmentForm
from ..forms import EditMessageForm
from ..forms import EscalateForm
from ..forms import PinCheckForm
from ..forms import StaffNewTicketForm
from ..forms import StaffReplyForm
from ..forms import TicketFieldsForm
from ..forms import show_error
from ..i18n import gettext as _
from ..i18n import lazy_gettext as _l
from ..i18n import ngettext
from ..identity import current_actor
from ..identity import find_customer
from ..models import Channel
from ..models import Department
from ..models import Priority
from ..models import Source
from ..models import Status
from ..models import Ticket
from ..models import category_label
from ..presentation import thread_views
from ..presentation import timeline_view
from ..services import delegates as _delegates
from ..services import departments as _departments
from ..services import escalation
from ..services import listing
from ..services import messages as _messages
from ..services import notifications as _notifications
from ..services import pins
from ..services import reads
from ..services import tickets as _tickets
from ..services import timeline
from ..values import Actor
from ._common import ID_CONVERTER
from ._common import make_blueprint
from ._common import register_html_errors
from ._common import render
from ._common import with_retry_after
from ._desk_rows import desk_rows
from ._settings_page import settings_page

bp: Blueprint = make_blueprint("supportdesk_desk", __name__)
register_html_errors(bp)

#: Sort choices of the list: ``(value, label)``; a leading ``-`` is descending.
SORT_CHOICES = (
    # Without a search, the best match is the newest activity (listing._sort).
    ("relevance", _l("Best match")),
    ("-updated", _l("Updated, newest first")),
    ("updated", _l("Updated, oldest first")),
    ("-created", _l("Created, newest first")),
    ("created", _l("Created, oldest first")),
    ("-priority", _l("Priority, highest first")),
    ("priority", _l("Priority, lowest first")),
    ("number", _l("Number, A-Z")),
    ("-number", _l("Number, Z-A")),
)
TAB_LABELS = (
    ("submitted", _l("Submitted")),
    ("mine", _l("My open")),
    ("assigned", _l("Mine")),
    ("all", _l("All")),
    ("closed", _l("Closed")),
)
#: The four counters at the top of the desk, each a link filtering the list.
COUNTERS = (
    (Status.OPEN, _l("Open")),
    (Status.PENDING_ADMIN, _l("Waiting admin")),
    (Status.PENDING_CUSTOMER, _l("Waiting customer")),
    (Status.RESOLVED, _l("Resolved")),
)
#: The reply box's "" status: what the service does when staff pick nothing.
DEFAULT_STATUS_LABEL = _l("Default: waiting customer")


@bp.before_request
def require_desk_staff() -> ResponseReturnValue | None:
    """Every desk URL is for staff: anonymous users go to the host's login, customers
    get a 403 page."""
    actor = current_actor()
    if actor is None:
        # Flask-Login redirects to the host's login view, or answers 401 without one.
        return t.cast(ResponseReturnValue, current_app.login_manager.unauthorized())  # type: ignore[attr-defined]
    if not policy.is_staff(actor):
        raise Forbidden(_("The staff desk is only for the store's staff."))
    return None


def _actor() -> Actor:
    # require_desk_staff has run: there is a staff actor.
    return t.cast(Actor, current_actor())


def _staff_ticket(actor: Actor, number: str) -> Ticket:
    """A ticket the actor handles as staff.

    :raises NotFound: not visible to the actor.
    :raises Forbidden: the actor's own request (they follow it in the portal instead).
    """
    ticket = policy.get_ticket(actor, number)
    policy.require_staff(
        actor, ticket, _("Only staff may open this ticket in the desk; it is your own request.")
    )
    return ticket


# -------------------------------------------------------------------------------------
# The list
# -------------------------------------------------------------------------------------


#: What a bulk choice means: "" leaves the field alone, "none" clears it.
NO_CHANGE, CLEAR = "", "none"

#: The list's filters, in the order their chips are shown: ``(query name, label)``.
FILTER_LABELS = (
    ("q", _l("Search")),
    ("status", _l("Status")),
    ("priority", _l("Priority")),
    ("department", _l("Department")),
    ("assignee", _l("Assignee")),
    ("source", _l("Source")),
    ("sort", _l("Sort")),
)
#: Sorts that are the list's usual order: no chip (without a search, the best match is
#: the newest activity).
_USUAL_SORTS = frozenset({"relevance", "-updated"})


def _filter_chips(
    args: t.Mapping[str, str], options: t.Mapping[str, t.Any]
) -> list[dict[str, str]]:
    """One chip per applied filter: what it is, in words, and the list without it.

    Removing a filter starts again at the first page (the old page may not exist).
    """
    chips = []
    for name, label in FILTER_LABELS:
        value = args.get(name) or ""
        if not value or (name == "sort" and value in _USUAL_SORTS):
            continue
        words = dict(options.get(f"{name}_options", ())).get(value, value)
        rest: dict[str, t.Any] = {k: v for k, v in args.items() if k not in (name, "page") and v}
        chips.append(
            {"name": name, "label": label, "value": words, "href": url_for(".index", **rest)}
        )
    return chips


def _filter_options(
    departments: t.Sequence[_departments.DepartmentChoice],
) -> dict[str, list[tuple[str, str]] | list[int]]:
    """The choices of the filter form and of the bulk form (both forms keep the
    request's values; the bulk form's POST takes any value and the service checks it).

    :param departments: every department, inactive ones too (the bulk form offers the
        active ones).
    """
    config = get_state().config
    words = _choices_in_words()
    statuses, priorities = words["status"], words["priority"]
    staff = [(m.id, m.name) for m in get_state().hooks.staff_members()]
    no_department, unassigned = _("No department"), _("Unassigned")
    any_, keep = [("", _("Any"))], [(NO_CHANGE, _("No change"))]
    return {
        "status_options": any_ + statuses,
        "priority_options": any_ + priorities,
        "department_options": any_
        + [("none", no_department)]
        + [(d.slug, d.name) for d in departments],
        "assignee_options": [*any_, ("me", _("Me")), ("none", unassigned), *staff],
        "source_options": any_ + [(s.value, s.label) for s in Source],
        "page_sizes": sorted(
            n for n in {config.page_size, 50, config.max_page_size} if n <= config.max_page_size
        ),
        "bulk_status_options": keep + statuses,
        "bulk_priority_options": keep + priorities,
        "bulk_department_options": keep
        + [(CLEAR, no_department)]
        + [(d.slug, d.name) for d in departments if d.is_active],
        "bulk_assignee_options": [*keep, (CLEAR, unassigned), *staff],
    }


#: Session key: when the signed-in staff member last changed a ticket (``time.time()``).
CHANGED_AT = "_supportdesk_changed_at"


def note_own_changes(events: t.Sequence[DomainEvent]) -> None:
    """After commit: note in the staff member's session that they changed a ticket (or a
    department).

    The desk's counters and its list of departments are kept a few seconds per process;
    the next page may be served by another process, which reads them again when its
    copies are older than this.
    """
    if not has_request_context():
        return
    if any(
        isinstance(event, DepartmentChanged) or hasattr(event, "ticket")
        for event in events
        if policy.is_staff(event.actor)
    ):
        session[CHANGED_AT] = time.time()


def _own_change_time() -> float | None:
    value = session.get(CHANGED_AT)
    return float(value) if isinstance(value, (int, float)) else None


@bp.get("/")
def index() -> ResponseReturnValue:
    """Counters, tabs, filters and one page of tickets."""
    actor = _actor()
    args = request.args
    tab = args.get("tab") or "submitted"
    sort = args.get("sort") or "relevance"
    error: SupportDeskError | None = None
    # Every department (kept a few seconds, as the counters): the filter and the bulk
    # form choose from them, and the rows are named from them.
    departments = _departments.department_choices(changed_at=_own_change_time())
    try:
        page = listing.desk_tickets(
            actor,
            tab=tab,
            filters=listing.TicketFilters.parse(args),
            sort=sort,
            page=args.get("page"),
            page_size=args.get("page_size"),
        )
    except ValidationError as exc:
        error = exc
        page = listing.Page([], 1, get_state().config.page_size, has_next=False)
    options = _filter_options(departments)
    html = render(
        "supportdesk/desk/index.html",
        page=page,
        tab=tab,
        tabs=TAB_LABELS,
        sort=sort,
        # "Best match" means something only for a search.
        sort_choices=SORT_CHOICES if args.get("q") else SORT_CHOICES[1:],
        counters=listing.desk_counters(actor, changed_at=_own_change_time()),
        bulk_labels=BULK_LABELS,
        counter_labels=COUNTERS,
        error=error,
        chips=_filter_chips(args.to_dict(), {**options, "sort_options": SORT_CHOICES}),
        rows=desk_rows(
            page.items,
            departments={d.id: d.name for d in departments},
            # One query for the read states of the whole page.
            unread=reads.unread_ticket_ids(actor, page.items),
            snippets=page.snippets,
        ),
        **options,
    )
    return html, (error.status if error else 200)


@bp.get("/counters")
def counters() -> ResponseReturnValue:
    """The counters alone (an HTML fragment), counted afresh: the list page's live
    script fetches it when a ticket of the staff member's lists changed, so the policy,
    not the event, decides what is counted."""
    actor = _actor()
    html = render(
        "supportdesk/desk/_counters.html",
        counters=listing.desk_counters(actor, changed_at=time.time()),
        counter_labels=COUNTERS,
    )
    return html, 200, {"Cache-Control": "no-store"}


#: The bulk form's fields, as the list shows them (BulkForm takes their values).
BULK_LABELS = (
    ("status", _l("Set status")),
    ("priority", _l("Set priority")),
    ("department", _l("Set department")),
    ("assignee", _l("Set assignee")),
)


def _back_to_list(value: str | None) -> str:
    """The list the bulk form came from (a desk path with its query), else the desk."""
    index = url_for(".index")
    if value and value.startswith(index) and value.isprintable() and "\\" not in value:
        if not value.startswith("//"):
            return value
    return index


@bp.post("/tickets/bulk")
def bulk() -> ResponseReturnValue:
    """Change the selected tickets: status, priority, department, assignee (all or none)."""
    actor = _actor()
    form = BulkForm(**_bound(True))
    back = _back_to_list(form.back.data)
    changes: dict[str, t.Any] = {}
    for name in ("status", "priority", "department", "assignee"):
        value = form[name].data or NO_CHANGE
        if value != NO_CHANGE:
            changes[name] = None if value == CLEAR else value
    try:
        if not form.validate():
            raise ValidationError(_("The form expired. Please try again."))
        changed = _tickets.update_many(actor, request.form.getlist("ticket"), changes)
    except SupportDeskError as exc:
        if isinstance(exc, NotFound):
            exc.message = _("One of the selected tickets is not one you can change.")
        reasons = "; ".join(f"{k}: {v}" for k, v in exc.fields.items())
        flash(
            _(
                "Nothing was changed. %(error)s %(reasons)s", error=exc.message, reasons=reasons
            ).strip(),
            "error",
        )
        return redirect(back)
    flash(ngettext("%(num)s ticket updated.", "%(num)s tickets updated.", len(changed)), "success")
    return redirect(back)


# -------------------------------------------------------------------------------------
# The ticket page
# -------------------------------------------------------------------------------------


def _assignee_choices(ticket: Ticket | None = None) -> list[tuple[str, str]]:
    choices = [("", _("Unassigned"))]
    choices += [(member.id, member.name) for member in get_state().hooks.staff_members()]
    if ticket is not None and ticket.assignee_id and ticket.assignee_id not in dict(choices):
        # Someone who left the staff list stays visible until reassigned.
        choices.append((ticket.assignee_id, ticket.assignee_name or ticket.assignee_id))
    return choices


def _department_choices(ticket: Ticket | None = None) -> list[tuple[str, str]]:
    choices = [("", _("No department"))]
    # The kept list (as the desk list's): the service checks the department chosen.
    kept = _departments.department_choices(changed_at=_own_change_time())
    choices += [(d.slug, d.name) for d in kept if d.is_active]
    current = ticket.department if ticket is not None else None
    if current is not None and current.slug not in dict(choices):
        choices.append((current.slug, _("%(name)s (inactive)", name=current.name)))
    return choices


def _category_choices(current: str | None = None) -> list[tuple[str, str]]:
    names = list(get_state().config.categories)
    if current and current not in names:
        names.append(current)
    return [(name, category_label(name)) for name in names]


def _current_fields(ticket: Ticket) -> dict[str, str]:
    """The ticket's editable fields as the fields form shows them."""
    return {
        "status": ticket.status.value,
        "priority": ticket.priority.value,
        "category": ticket.category,
        "department": ticket.department.slug if ticket.department else "",
        "assignee": ticket.assignee_id or "",
    }


def _bound(submitted: bool) -> dict[str, t.Any]:
    """Form arguments: the request's data for the form that was submitted, none for the
    others on the page (they share field names, e.g. ``status``, with it)."""
    return {} if submitted else {"formdata": None}


#: The pane (tab) each channel is written in.
PANES = {Channel.PUBLIC: "main", Channel.INTERNAL: "internal"}


def _composer_channel(value: t.Any) -> Channel:
    """The channel a posted composer names. Anything else (a forged or broken request) is
    shown in the internal composer: on the way back, a stray text must never sit one
    click away from the customer."""
    return Channel.PUBLIC if value == Channel.PUBLIC.value else Channel.INTERNAL


def _choices_in_words() -> dict[str, list[tuple[str, str]]]:
    """The statuses and priorities as the page's selects show them, translated once for
    the page's forms (lazy labels would be translated again by every select)."""
    return {
        "status": [(s.value, s.staff_label) for s in Status],
        "priority": [(p.value, p.label) for p in Priority],
    }


def _reply_form(
    ticket: Ticket,
    channel: Channel,
    *,
    submitted: bool = False,
    words: dict[str, list[tuple[str, str]]] | None = None,
) -> StaffReplyForm:
    """The composer of one pane: a public reply on Main, an internal note on Internal.

    It shows the text, the status and the files; a request may also send priority and
    assignee (the service checks them), which the page leaves to the Fields panel.

    :param words: :func:`_choices_in_words`, when the page already has them.
    """
    words = words or _choices_in_words()
    data = {"priority": ticket.priority.value, "assignee": ticket.assignee_id or ""}
    if not submitted:
        # Only the page sets the channel; a submitted form keeps what the request sent (a
        # missing one stays missing and is refused, never filled in here).
        data["channel"] = channel.value
    form = StaffReplyForm(data=data, **_bound(submitted))
    # A note changes no status unless one is picked: its "" choice says so.
    default = str(DEFAULT_STATUS_LABEL) if channel is Channel.PUBLIC else _("Keep the status")
    form.status.choices = [("", default), *words["status"]]
    if channel is Channel.PUBLIC:
        customer = ticket.requester_name or ticket.requester_email or _("the customer")
        form.body.label.text = _(
            "Reply to %(customer)s — the customer sees this", customer=customer
        )
    else:
        form.body.label.text = _("Internal note — only staff see this")
    # Two composers share field names on one page: keep their HTML ids unique.
    pane = PANES[channel]
    for name in ("body", "status", "files"):
        form[name].id = form[name].label.field_id = f"sd-{pane}-{name}"
    return form


def _fields_form(
    ticket: Ticket,
    assignees: list[tuple[str, str]],
    *,
    submitted: bool = False,
    words: dict[str, list[tuple[str, str]]] | None = None,
) -> TicketFieldsForm:
    words = words or _choices_in_words()
    form = TicketFieldsForm(data=_current_fields(ticket), **_bound(submitted))
    form.status.choices = words["status"]
    form.priority.choices = words["priority"]
    form.category.choices = _category_choices(ticket.category)
    form.department.choices = _department_choices(ticket)
    form.assignee.choices = assignees
    # The reply box on the same page has fields of the same names: keep HTML ids unique.
    for name in ("status", "priority", "category", "department", "assignee"):
        form[name].id = form[name].label.field_id = f"sd-fields-{name}"
    return form


def _escalation_action(actor: Actor, ticket: Ticket) -> dict[str, t.Any]:
    """What the escalate button says, whether this actor may press it (policy decides),
    and otherwise a note on where the ticket is."""
    step = policy.escalation_step(actor, ticket)
    if ticket.escalated_beyond_at is not None:
        if ticket.escalated_beyond_ref is None:  # the hand-off has not answered yet
            note = _("Handed to platform support.")
        else:
            note = _(
                "Handed to platform support (%(reference)s)", reference=ticket.escalated_beyond_ref
            )
        return {"label": note, "allowed": False, "note": note}
    label = (
        _("Hand to platform support")
        if step.beyond
        else _("Escalate to %(level)s", level=step.to_level)
    )
    note = (
        ""
        if step.allowed or ticket.is_closed
        else _("Handled at the %(level)s level", level=ticket.level)
    )
    return {"label": label, "allowed": step.allowed, "note": note}


def conversation_context(
    actor: Actor,
    ticket: Ticket,
    reply_form: StaffReplyForm | None,
    words: dict[str, list[tuple[str, str]]],
) -> dict[str, t.Any]:
    """What a conversation shows (the ticket page's, the chat inbox's): the thread of
    each pane, the "earlier" page, the edit links and the composer of each pane (a
    failed one back in its own pane, with its text)."""
    # One query for every message (attachments come in one more): the page's query
    # count does not grow with the thread.
    # The newest messages only (earlier ones on demand): a long thread costs the same.
    latest = _messages.latest_messages(actor, ticket, before=request.args.get("before"))
    rows = latest.messages
    edit_urls = {
        m.id: url_for(".edit_message", message_id=m.id)
        for m in rows
        if policy.can_edit_message(actor, ticket, m)
    }
    # The same views the API, the sockets and the e-mails show this viewer.
    thread = thread_views(actor, ticket, rows)
    composers = {
        channel: _reply_form(ticket, channel, words=words)
        for channel in (Channel.PUBLIC, Channel.INTERNAL)
    }
    if reply_form is not None:
        composers[_composer_channel(reply_form.channel.data)] = reply_form
    return {
        "public_messages": [m for m in thread if m.channel is Channel.PUBLIC],
        "internal_messages": [m for m in thread if m.channel is Channel.INTERNAL],
        "earlier": latest.earlier,
        "edit_urls": edit_urls,
        "reply_form": composers[Channel.PUBLIC],
        "note_form": composers[Channel.INTERNAL],
    }


def _render_ticket(
    actor: Actor,
    ticket: Ticket,
    *,
    status: int = 200,
    reply_form: StaffReplyForm | None = None,
    fields_form: TicketFieldsForm | None = None,
    escalate_form: EscalateForm | None = None,
    resolve_form: ConfirmForm | None = None,
    pin_form: PinCheckForm | None = None,
    active_pane: str = "main",
) -> ResponseReturnValue:
    """The ticket page; the POST views pass their failed form back to show its errors."""
    assignees = _assignee_choices(ticket)
    words = _choices_in_words()
    conversation = conversation_context(actor, ticket, reply_form, words)
    html = render(
        "supportdesk/desk/ticket.html",
        ticket=ticket,
        **conversation,
        events=timeline_view(timeline.list_events(actor, ticket)),
        follow_ups=_tickets.follow_ups(actor, ticket),
        delegates=_delegates.list_delegates(actor, ticket),
        revoke_delegate_form=ConfirmForm(formdata=None),
        escalation=_escalation_action(actor, ticket),
        unsent_form=reply_form,
        fields_form=fields_form or _fields_form(ticket, assignees, words=words),
        escalate_form=escalate_form or EscalateForm(formdata=None),
        resolve_form=resolve_form or ConfirmForm(formdata=None),
        pin_form=pin_form or PinCheckForm(formdata=None),
        active_pane=active_pane,
    )
    return html, status


#: What renders a page with a failed form: ``page(actor, ticket, status=..., **forms)``.
PageRenderer = t.Callable[..., ResponseReturnValue]


def _failed(
    actor: Actor,
    number: str,
    form: FlaskForm,
    exc: SupportDeskError,
    page: PageRenderer | None = None,
    **forms: t.Any,
) -> ResponseReturnValue:
    """Re-render the ticket page (or ``page``: the chat inbox's conversation) with a
    service error on ``form`` (404s stay 404s)."""
    if isinstance(exc, NotFound):
        raise exc
    show_error(form, exc)
    render_page = page or _render_ticket
    return render_page(actor, _staff_ticket(actor, number), status=exc.status, **forms)


@bp.get("/tickets/<number>")
def ticket(number: str) -> ResponseReturnValue:
    """Summary, Main and Internal threads, reply box, fields, escalation and timeline."""
    actor = _actor()
    ticket = _staff_ticket(actor, number)
    response = _render_ticket(actor, ticket)
    # After the page is built (a commit expires what it shows); a ticket the actor may
    # not open raised above and marks nothing.
    reads.mark_read(actor, ticket)
    return response


@bp.post("/tickets/<number>/reply")
def reply(number: str) -> ResponseReturnValue:
    """Post a public reply or an internal note, with status, priority and assignee.

    The composer's hidden ``channel`` says which: the Main pane's sends ``public``, the
    Internal pane's ``internal``. Without one the request is refused (400), never
    defaulted to the customer.
    """
    return post_composer(
        number,
        page=_render_ticket,
        back=lambda message: url_for(".ticket", number=number, _anchor=f"m{message.id}"),
    )


def post_composer(
    number: str, *, page: PageRenderer, back: t.Callable[[t.Any], str]
) -> ResponseReturnValue:
    """Post what one composer sent (the ticket page's or the chat inbox's): ``page``
    shows a failed form again, ``back(message)`` is where a sent one redirects."""
    actor = _actor()
    ticket = _staff_ticket(actor, number)
    channel = _composer_channel(request.form.get("channel"))
    form = _reply_form(ticket, channel, submitted=True)
    internal = channel is Channel.INTERNAL
    pane = PANES[channel]
    if not form.validate():
        return page(actor, ticket, status=400, reply_form=form, active_pane=pane)
    # Only what the staff member really changed: an untouched select is not a change. The
    # page's composers send no priority or assignee (the Fields panel has them); a
    # request that sends them changes them with the message.
    changes: dict[str, t.Any] = {}
    sent = request.form
    if "priority" in sent and form.priority.data != ticket.priority.value:
        changes["priority"] = form.priority.data
    if "assignee" in sent and (form.assignee.data or "") != (ticket.assignee_id or ""):
        changes["assignee"] = form.assignee.data or None
    try:
        message = _messages.post_message(
            actor,
            number,
            form.body.data,
            channel=Channel.INTERNAL if internal else Channel.PUBLIC,
            status=form.status.data or None,
            changes=changes,
            attachments=form.uploads(),
            client_id=form.client_id.data,
        )
    except SupportDeskError as exc:
        return _failed(actor, number, form, exc, page, reply_form=form, active_pane=pane)
    flash(_("Internal note added.") if internal else _("Reply sent."), "success")
    return redirect(back(message))


@bp.post("/tickets/<number>/update")
def update(number: str) -> ResponseReturnValue:
    """Change status, priority, category, department or assignee."""
    return save_fields(number, page=_render_ticket, back=url_for(".ticket", number=number))


def save_fields(number: str, *, page: PageRenderer, back: str) -> ResponseReturnValue:
    """Save what the Fields form sent (the ticket page's or the chat inbox's): ``page``
    shows a failed form again, ``back`` is where a saved one redirects."""
    actor = _actor()
    ticket = _staff_ticket(actor, number)
    form = _fields_form(ticket, _assignee_choices(ticket), submitted=True)
    if not form.validate():
        return page(actor, ticket, status=400, fields_form=form)
    current = _current_fields(ticket)
    changes = {
        name: (value or None)
        for name, value in form.data.items()
        if name in current and (value or "") != current[name]
    }
    try:
        _tickets.update_ticket(actor, number, changes)
    except SupportDeskError as exc:
        return _failed(actor, number, form, exc, page, fields_form=form)
    flash(_("Ticket updated.") if changes else _("Nothing changed."), "success")
    return redirect(back)


@bp.post("/tickets/<number>/escalate")
def escalate(number: str) -> ResponseReturnValue:
    """One level up the staff hierarchy, or to platform support from the top."""
    actor = _actor()
    ticket = _staff_ticket(actor, number)
    form = EscalateForm()
    if not form.validate():
        return _render_ticket(actor, ticket, status=400, escalate_form=form)
    try:
        ticket = escalation.escalate(actor, number, reason=form.reason.data or "")
    except SupportDeskError as exc:
        return _failed(actor, number, form, exc, escalate_form=form)
    if ticket.escalated_beyond_at is not None:
        flash(
            _("Handed to platform support (%(reference)s).", reference=ticket.escalated_beyond_ref),
            "success",
        )
    else:
        flash(_("Escalated to %(level)s.", level=ticket.level), "success")
    return redirect(url_for(".ticket", number=number))


@bp.post("/tickets/<number>/resolve")
def resolve(number: str) -> ResponseReturnValue:
    """Mark the ticket resolved (the customer can still reopen it by replying)."""
    actor = _actor()
    _staff_ticket(actor, number)
    form = ConfirmForm()
    try:
        if not form.validate():
            raise ValidationError()
        _tickets.update_ticket(actor, number, {"status": Status.RESOLVED})
    except SupportDeskError as exc:
        return _failed(actor, number, form, exc, resolve_form=form)
    flash(_("Ticket resolved."), "success")
    return redirect(url_for(".ticket", number=number))


@bp.post(f"/tickets/<number>/delegates/<{ID_CONVERTER}:delegate_id>/revoke")
def revoke_delegate(number: str, delegate_id: int) -> ResponseReturnValue:
    """Revoke a delegate (or a pending invitation) of the ticket: their access ends now."""
    actor = _actor()
    _staff_ticket(actor, number)
    if not ConfirmForm().validate():
        raise ValidationError()
    revoked = _delegates.revoke(actor, number, delegate_id)  # errors become error pages
    flash(_("%(email)s no longer has access to this ticket.", email=revoked.email), "success")
    return redirect(url_for(".ticket", number=number))


@bp.route(f"/messages/<{ID_CONVERTER}:message_id>/edit", methods=["GET", "POST"])
def edit_message(message_id: int) -> ResponseReturnValue:
    """Edit one's own message; earlier versions are kept and listed."""
    actor = _actor()
    message = _messages.get_message(actor, message_id)
    ticket = _staff_ticket(actor, message.ticket.number)
    form = EditMessageForm(data=None if request.method == "POST" else {"body": message.body})
    status = 200
    if request.method == "POST":
        if form.validate():
            try:
                _messages.edit_message(actor, message_id, form.body.data)
            except SupportDeskError as exc:
                if isinstance(exc, NotFound):
                    raise
                show_error(form, exc)
                status = exc.status
            else:
                flash(_("Message updated."), "success")
                return redirect(url_for(".ticket", number=ticket.number, _anchor=f"m{message_id}"))
        else:
            status = 400
    elif not policy.can_edit_message(actor, ticket, message):
        policy.check_edit_message(actor, ticket, message)  # raises the precise reason
    html = render(
        "supportdesk/desk/edit_message.html",
        ticket=ticket,
        message=message,
        form=form,
        revisions=_messages.revisions(actor, message_id),
    )
    return html, status


# -------------------------------------------------------------------------------------
# Staff files a ticket
# -------------------------------------------------------------------------------------


@bp.route("/new", methods=["GET", "POST"])
def new_ticket() -> ResponseReturnValue:
    """File a ticket for a customer (by e-mail or id) or, left empty, for oneself."""
    actor = _actor()
    form = StaffNewTicketForm()
    form.category.choices = _category_choices()
    form.department.choices = _department_choices()
    if request.method == "GET":
        form.category.data = form.category.data or get_state().config.default_category
        return render("supportdesk/desk/new_ticket.html", form=form)
    if not form.validate():
        return render("supportdesk/desk/new_ticket.html", form=form), 400
    try:
        requester = find_customer(form.requester.data)
        order = (form.order.data or "").strip().lstrip("#")
        ticket = _tickets.open_ticket(
            actor,
            subject=form.subject.data,
            body=form.body.data,
            category=form.category.data,
            department=form.department.data or None,
            priority=form.priority.data,
            reference={"kind": "order", "id": order} if order else None,
            source=Source.STAFF,
            requester_id=requester.id if requester else None,
            attachments=form.uploads(),
            client_id=form.client_id.data,
        )
    except SupportDeskError as exc:
        show_error(form, exc)
        return render("supportdesk/desk/new_ticket.html", form=form), exc.status
    flash(_("Ticket %(number)s filed.", number=ticket.number), "success")
    if ticket.requester_id == actor.id:
        # One's own request is followed as a customer: the desk never lists it.
        return redirect(url_for("supportdesk_portal.ticket", number=ticket.number))
    return redirect(url_for(".ticket", number=ticket.number))


# -------------------------------------------------------------------------------------
# Departments (store owners)
# -------------------------------------------------------------------------------------


def _require_departments_manager() -> Actor:
    actor = _actor()
    policy.require_manage_departments(actor)
    return actor


@bp.route("/departments", methods=["GET", "POST"])
def departments() -> ResponseReturnValue:
    """Every department, and a form to add one."""
    actor = _require_departments_manager()
    form = DepartmentForm()
    status = 200
    if request.method == "POST":
        try:
            if not form.validate():
                raise ValidationError()
            department = _departments.create_department(
                actor, name=form.name.data, slug=form.slug.data, description=form.description.data
            )
        except SupportDeskError as exc:
            show_error(form, exc)
            status = exc.status
        else:
            flash(_("Department %(name)s created.", name=department.name), "success")
            return redirect(url_for(".departments"))
    html = render(
        "supportdesk/desk/departments.html",
        departments=_departments.list_departments(include_inactive=True),
        form=form,
    )
    return html, status


@bp.route(f"/departments/<{ID_CONVERTER}:department_id>/edit", methods=["GET", "POST"])
def edit_department(department_id: int) -> ResponseReturnValue:
    """Rename, describe or (de)activate a department; its slug never changes."""
    actor = _require_departments_manager()
    department: Department = _departments.get_department(department_id)
    form = DepartmentForm(obj=None if request.method == "POST" else department)
    status = 200
    if request.method == "POST":
        try:
            if not form.validate():
                raise ValidationError()
            _departments.update_department(
                actor,
                department_id,
                name=form.name.data,
                description=form.description.data,
                is_active=bool(form.is_active.data),
            )
        except SupportDeskError as exc:
            show_error(form, exc)
            status = exc.status
        else:
            flash(_("Department saved."), "success")
            return redirect(url_for(".departments"))
    html = render("supportdesk/desk/department_form.html", department=department, form=form)
    return html, status


@bp.get("/notifications/failed")
def failed_notifications() -> ResponseReturnValue:
    """The notifications given up, with their error and a retry button (store owners)."""
    actor = _actor()
    failed = _notifications.list_failed(actor)
    return render("supportdesk/desk/failed_notifications.html", failed=failed, form=ConfirmForm())


@bp.post(f"/notifications/<{ID_CONVERTER}:notification_id>/retry")
def retry_notification(notification_id: int) -> ResponseReturnValue:
    """Queue a failed notification again; the next delivery round sends it."""
    actor = _actor()
    policy.require_manage_notifications(actor)
    if not ConfirmForm().validate():
        expired = _("The form expired or did not come from this site. Please try again.")
        raise ValidationError(expired)
    _notifications.retry_failed(actor, notification_id)
    flash(_("The notification will be sent again."), "success")
    return redirect(url_for(".failed_notifications"))


@bp.route("/notifications/settings", methods=["GET", "POST"])
def notification_settings() -> ResponseReturnValue:
    """Which notifications I get as staff, and the language of my e-mails."""
    template = "supportdesk/desk/notification_settings.html"
    return settings_page(_actor(), staff=True, template=template)


# -------------------------------------------------------------------------------------
# Support PIN checks (staff never see a PIN: only whether the one they were told matches)
# -------------------------------------------------------------------------------------


def _pin_outcome_text(check: pins.PinCheck, name: str) -> tuple[str, str]:
    """What a check found, in words for staff, and its flash category."""
    if check.outcome is pins.Outcome.MATCHED:
        return _("PIN verified: it is the PIN of %(name)s.", name=name), "success"
    if check.outcome is pins.Outcome.MISMATCH:
        return _("The PIN did not match. Do not treat the caller as %(name)s.", name=name), "error"
    text = _("%(name)s has no support PIN yet: they find it in the portal under Support PIN.")
    return text % {"name": name}, "warning"


@bp.post("/tickets/<number>/pin")
def verify_pin(number: str) -> ResponseReturnValue:
    """Check the PIN the caller read out against the ticket's requester (recorded on the
    ticket's timeline, the PIN never)."""
    actor = _actor()
    ticket = _staff_ticket(actor, number)
    form = PinCheckForm()
    if not form.validate():
        return _render_ticket(actor, ticket, status=400, pin_form=form)
    given, form.pin.data = form.pin.data, ""  # what the caller said is not shown again
    try:
        check = pins.verify(actor, given, number=number)
    except SupportDeskError as exc:
        page = current_app.make_response(_failed(actor, number, form, exc, pin_form=form))
        return with_retry_after(page, exc)
    flash(*_pin_outcome_text(check, ticket.requester_name))
    return redirect(url_for(".ticket", number=number, _anchor="sd-pin-check"))


@bp.route("/pin", methods=["GET", "POST"])
def customer_pin() -> ResponseReturnValue:
    """Check the PIN a caller read out against a customer named by e-mail or id."""
    actor = _actor()
    form = CustomerPinCheckForm()
    result: tuple[str, str] | None = None
    status = 200
    error: SupportDeskError | None = None
    if form.validate_on_submit():
        given, form.pin.data = form.pin.data, ""  # what the caller said is not shown again
        try:
            customer = find_customer(form.customer.data, "customer")
            check = pins.verify(actor, given, customer=customer)
        except SupportDeskError as exc:
            show_error(form, exc)
            status, error = exc.status, exc
        else:
            result = _pin_outcome_text(check, t.cast(Actor, customer).name)
    elif form.is_submitted():
        status = 400
    page = current_app.make_response(
        (render("supportdesk/desk/pin.html", form=form, result=result), status)
    )
    return with_retry_after(page, error) if error is not None else page


# The chat inbox's pages register on this blueprint (blueprints/desk_chats.py).
from . import desk_chats  # noqa: E402,F401
