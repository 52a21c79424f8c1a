"""The staff desk's chat inbox: the live list with its tabs, one conversation with the
visitor's details, its actions, and staff starting a conversation with a customer.

Thin like the rest of the desk (its gate "staff only" runs first): each view parses the
request, calls :mod:`~flask_supportdesk.services.chat_inbox` or the ticket services and
renders or redirects. The live part (new messages, list refreshes, presence) is
``static/supportdesk/desk-chat.js`` over the Socket.IO protocol of ``docs/live_chat.rst``.
"""

from __future__ import annotations

import typing as t

from flask import Blueprint
from flask import flash
from flask import redirect
from flask import request
from flask import url_for
from flask.typing import ResponseReturnValue

from .. import policy
from .._state import get_state
from ..errors import SupportDeskError
from ..errors import ValidationError
from ..forms import ConfirmForm
from ..forms import StaffReplyForm
from ..forms import StartConversationForm
from ..forms import TicketFieldsForm
from ..forms import TurnIntoTicketForm
from ..forms import show_error
from ..i18n import gettext as _
from ..i18n import lazy_gettext as _l
from ..models import Status
from ..models import Ticket
from ..services import chat_inbox
from ..services import presence
from ..services import reads
from ..values import Actor
from . import desk
from ._common import render

bp: Blueprint = desk.bp

#: The inbox's tabs as the page names them (services/chat_inbox.py defines them).
CHAT_TABS = (
    ("new", _l("New")),
    ("waiting", _l("Waiting")),
    ("mine", _l("Mine")),
    ("all", _l("All")),
)


def _staff_actor() -> Actor | None:
    from ..identity import current_actor

    actor = current_actor()
    return actor if actor is not None and policy.is_staff(actor) else None


@bp.app_context_processor
def _chat_nav() -> dict[str, t.Any]:
    # Lazy: only a desk page's navigation asks (one query each), no other page pays.
    def chat_unread() -> int:
        actor = _staff_actor()
        return 0 if actor is None else chat_inbox.unread_total(actor)

    def my_presence() -> str:
        actor = _staff_actor()
        if actor is None:
            return "offline"
        return "away" if presence.is_away(actor.id) else "online"

    return {"supportdesk_chat_unread": chat_unread, "supportdesk_my_presence": my_presence}


def _tab() -> str:
    tab = request.args.get("tab") or "all"
    if tab not in chat_inbox.TABS:
        raise ValidationError(fields={"tab": _("Unknown tab.")})
    return tab


def _list_context(actor: Actor, tab: str, current: str | None) -> dict[str, t.Any]:
    """The list column: tabs with counts, the chats of one tab and their read states."""
    chats = chat_inbox.list_chats(actor, tab)
    return {
        "tab": tab,
        "chat_tabs": CHAT_TABS,
        "counts": chat_inbox.tab_counts(actor),
        "chats": chats,
        "unread": reads.unread_ticket_ids(actor, chats),
        "current": current,
    }


@bp.get("/chats")
def chats() -> ResponseReturnValue:
    """The chat inbox: the live list; a conversation opens beside it."""
    actor = desk._actor()
    return render(
        "supportdesk/desk/chats.html",
        ticket=None,
        colleagues=_colleagues(),
        **_list_context(actor, _tab(), None),
    )


@bp.get("/chats/list")
def chat_list() -> ResponseReturnValue:
    """The list column alone (what desk-chat.js fetches again on an ``inbox`` hint)."""
    actor = desk._actor()
    current = request.args.get("current") or None
    tab = _tab()
    if current is not None:
        # The conversation open beside the list: what arrived in it has been read.
        try:
            reads.mark_read(actor, desk._staff_ticket(actor, current))
        except SupportDeskError:
            pass  # not one of theirs (any more): the list says nothing of it
    return render("supportdesk/desk/_chat_list.html", **_list_context(actor, tab, current))


def _colleagues() -> list[tuple[Actor, str]]:
    """Every staff member with their presence (two queries)."""
    members = get_state().hooks.staff_members()
    status = presence.staff_status(m.id for m in members)
    return [(m, status[m.id].value) for m in members]


def _render_chat(
    actor: Actor,
    ticket: Ticket,
    *,
    status: int = 200,
    reply_form: StaffReplyForm | None = None,
    fields_form: TicketFieldsForm | None = None,
    convert_form: TurnIntoTicketForm | None = None,
    active_pane: str = "main",
) -> ResponseReturnValue:
    """One conversation beside the list; the POST views pass a failed form back."""
    words = desk._choices_in_words()
    if convert_form is None:
        convert_form = TurnIntoTicketForm(
            data={"subject": ticket.subject, "category": ticket.category}
        )
    convert_form.category.choices = desk._category_choices(ticket.category)
    tab = request.args.get("tab") or "all"
    html = render(
        "supportdesk/desk/chats.html",
        ticket=ticket,
        live=chat_inbox.is_live_chat(ticket),
        status_labels={s.value: s.staff_label for s in Status},
        **desk.conversation_context(actor, ticket, reply_form, words),
        fields_form=fields_form
        or desk._fields_form(ticket, desk._assignee_choices(ticket), words=words),
        convert_form=convert_form,
        end_form=ConfirmForm(formdata=None),
        other_tickets=chat_inbox.other_tickets(actor, ticket),
        colleagues=_colleagues(),
        active_pane=active_pane,
        **_list_context(actor, tab if tab in chat_inbox.TABS else "all", ticket.number),
    )
    return html, status


@bp.get("/chats/<number>")
def chat(number: str) -> ResponseReturnValue:
    """One conversation of the inbox (any chat the staff member handles)."""
    actor = desk._actor()
    ticket = desk._staff_ticket(actor, number)
    response = _render_chat(actor, ticket)
    reads.mark_read(actor, ticket)
    return response


def _back(number: str) -> str:
    return url_for(".chat", number=number)


@bp.post("/chats/<number>/reply")
def chat_reply(number: str) -> ResponseReturnValue:
    """Post a reply (Main) or an internal note (Internal) from the inbox's composer."""
    return desk.post_composer(number, page=_render_chat, back=lambda _m: _back(number))


@bp.post("/chats/<number>/update")
def chat_update(number: str) -> ResponseReturnValue:
    """Assign, set the priority, the department, ... from the conversation's side."""
    return desk.save_fields(number, page=_render_chat, back=_back(number))


@bp.post("/chats/<number>/convert")
def turn_into_ticket(number: str) -> ResponseReturnValue:
    """Turn the chat into a regular ticket (subject, category): it leaves the inbox."""
    actor = desk._actor()
    ticket = desk._staff_ticket(actor, number)
    form = TurnIntoTicketForm()
    form.category.choices = desk._category_choices(ticket.category)
    try:
        if not form.validate():
            raise ValidationError()
        chat_inbox.turn_into_ticket(
            actor, number, subject=form.subject.data, category=form.category.data
        )
    except SupportDeskError as exc:
        return desk._failed(actor, number, form, exc, _render_chat, convert_form=form)
    flash(_("The chat is now a ticket."), "success")
    return redirect(url_for(".ticket", number=number))


@bp.post("/chats/<number>/end")
def end_chat(number: str) -> ResponseReturnValue:
    """End the chat (it is resolved and leaves the inbox)."""
    actor = desk._actor()
    ticket = desk._staff_ticket(actor, number)
    form = ConfirmForm()
    try:
        if not form.validate():
            raise ValidationError(_("The form expired. Please try again."))
        chat_inbox.end_chat(actor, number)
    except SupportDeskError as exc:
        show_error(form, exc)
        flash(exc.message, "error")
        return _render_chat(actor, ticket, status=exc.status)
    flash(_("Chat ended."), "success")
    return redirect(url_for(".chats"))


@bp.route("/conversations/new", methods=["GET", "POST"])
def start_conversation() -> ResponseReturnValue:
    """Start a chat with a customer (``?customer=<host user id>``): the first message
    (GET shows the form, POST opens the chat and shows it in the inbox)."""
    actor = desk._actor()
    customer_id = request.values.get("customer") or ""
    customer = get_state().hooks.load_user(customer_id) if customer_id.isprintable() else None
    form = StartConversationForm()
    status = 200
    if request.method == "POST":
        try:
            if not form.validate():
                raise ValidationError()
            ticket = chat_inbox.start_conversation(
                actor, customer_id, form.body.data, client_id=form.client_id.data
            )
        except SupportDeskError as exc:
            show_error(form, exc)
            status = exc.status
        else:
            flash(_("Conversation started."), "success")
            return redirect(url_for(".chat", number=ticket.number))
    html = render(
        "supportdesk/desk/start_conversation.html",
        form=form,
        customer=customer if customer is not None and not policy.is_staff(customer) else None,
        customer_id=customer_id,
    )
    return html, status
