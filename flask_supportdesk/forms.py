"""Flask-WTF forms of the portal and the desk.

Forms check shape (CSRF, which fields, that a choice is a choice); the services check the
rules (lengths, permissions, states). A service's :class:`~.errors.SupportDeskError` is
put back on the form with :func:`show_error`, so the page shows it next to the field.
"""

from __future__ import annotations

import functools
import secrets
import threading
import typing as t

import flask_babel
import wtforms
from babel import support
from flask import current_app
from flask_wtf import FlaskForm
from flask_wtf.file import MultipleFileField as _WTFMultipleFileField
from markupsafe import Markup
from markupsafe import escape
from wtforms import BooleanField
from wtforms import SelectMultipleField
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # not in stubs
from wtforms.i18n import messages_path
from wtforms.validators import AnyOf
from wtforms.validators import DataRequired
from wtforms.validators import Optional
from wtforms.widgets import FileInput
from wtforms.widgets import HiddenInput
from wtforms.widgets import Select
from wtforms.widgets import TextArea
from wtforms.widgets import TextInput

from .errors import SupportDeskError
from .i18n import lazy
from .i18n import lazy_gettext as _l
from .models import Priority
from .models import Status
from .services.attachments import Upload

# SelectChoice, not tuples: WTForms 3.3 deprecates tuple choices given at class level.
# (types-WTForms still describes 3.2, without SelectChoice: hence the ignore above.)
# Lazy labels: the choices are built once, and shown in each request's language.
STATUS_CHOICES = [SelectChoice(s.value, lazy(lambda s=s: s.staff_label)) for s in Status]
PRIORITY_CHOICES = [SelectChoice(p.value, lazy(lambda p=p: p.label)) for p in Priority]


@functools.lru_cache(maxsize=32)
def _wtforms_catalogue(locale: str) -> support.NullTranslations:
    return support.Translations.load(messages_path(), [locale], domain="wtforms")


class _WTFormsTranslations:
    """WTForms' own messages ("Not a valid choice") in the request's language, as
    Flask-WTF gives them, but each language's catalogue is read from disk once per
    process: Flask-WTF reads it again in every request that builds a form."""

    def gettext(self, string: str) -> str:
        """``string`` in the current language."""
        return _wtforms_catalogue(str(flask_babel.get_locale())).ugettext(string)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        """The singular or plural form for ``n`` in the current language."""
        catalogue = _wtforms_catalogue(str(flask_babel.get_locale()))
        return catalogue.ungettext(singular, plural, n)


_WTFORMS_TRANSLATIONS = _WTFormsTranslations()


class DeskForm(FlaskForm):
    """The base of the desk's forms: Flask-WTF's, with WTForms' messages translated from
    catalogues kept per language."""

    class Meta(FlaskForm.Meta):
        """Flask-WTF's settings, but for the translations."""

        def get_translations(self, form: t.Any) -> t.Any:
            """WTForms' messages in the request's language (or none, when
            ``WTF_I18N_ENABLED`` is off or the app has no Flask-Babel)."""
            if "babel" not in current_app.extensions:
                return None
            if not current_app.config.get("WTF_I18N_ENABLED", True):
                return super().get_translations(form)
            return _WTFORMS_TRANSLATIONS


class _CachedSelect(Select):
    """WTForms' ``<select>``, its HTML kept for the next page that shows the same one.

    The desk's selects repeat on every page (every staff member as an assignee, every
    status, department and category), and WTForms builds each option's HTML with
    ``html_params`` and ``escape``: on a ticket page, four fifths of the time in its
    forms. The HTML depends only on the field's name, the render arguments, and each
    choice's value, label and whether it is selected, so those are the key; a choice with
    its own ``render_kw`` (or unhashable arguments) is rendered as WTForms does.
    """

    #: Distinct selects kept (per process); past it the cache starts again.
    MAX_ENTRIES = 2048

    def __init__(self, multiple: bool = False) -> None:
        super().__init__(multiple)
        self._html: dict[t.Hashable, Markup] = {}
        self._lock = threading.Lock()

    def __call__(self, field: t.Any, **kwargs: t.Any) -> Markup:
        key = self._key(field, kwargs)
        if key is None:
            return super().__call__(field, **kwargs)
        html = self._html.get(key)
        if html is None:
            html = super().__call__(field, **kwargs)
            with self._lock:
                if len(self._html) >= self.MAX_ENTRIES:
                    self._html.clear()
                self._html[key] = html
        return html

    @staticmethod
    def _key(field: t.Any, kwargs: dict[str, t.Any]) -> t.Hashable | None:
        # From the choices as given, not WTForms' normalised ones: normalising them
        # costs about what rendering them does. Which option is selected follows from
        # the choices, the field's data and its coerce function, all in the key.
        if not isinstance(field.choices, (list, tuple)):
            return None  # groups (a dict), a callable, or none
        choices = []
        for choice in field.choices:
            if isinstance(choice, SelectChoice):
                if choice.render_kw or choice.optgroup is not None:
                    return None
                choices.append((choice.value, choice.label))
            elif isinstance(choice, tuple) and len(choice) == 2:
                choices.append(choice)
            else:
                return None
        flags = getattr(field, "flags", None)
        key = (
            field.name,
            field.id,
            tuple(sorted(kwargs.items())),
            bool(getattr(flags, "required", False)),
            bool(getattr(flags, "disabled", False)),
            field.coerce,
            field.data,
            tuple(choices),
        )
        try:
            hash(key)
        except TypeError:
            return None
        return key


class SelectField(wtforms.SelectField):
    """A WTForms select field rendered through :class:`_CachedSelect`."""

    widget = _CachedSelect()


def _attributes(**kwargs: t.Any) -> Markup:
    """What ``wtforms.widgets.html_params`` writes (sorted, ``class_`` and ``data_``
    names cleaned, ``True`` bare, ``False`` left out, every name and value escaped),
    without its per-attribute ``Markup.format``: a Python string formatter per
    attribute was most of a form's rendering time."""
    params = []
    for key, value in sorted(kwargs.items()):
        # WTForms' naming: a trailing "_" is dropped (class_), data_/aria_ take hyphens.
        key = key.rstrip("_")
        if key.startswith(("data_", "aria_")):
            key = key.replace("_", "-")
        name = escape(key)
        if value is True:
            params.append(str(name))
        elif value is not False:
            params.append(f'{name}="{escape(value)}"')
    return Markup(" ".join(params))  # noqa: S704  # every name and value escaped above


class _FastInput:
    # WTForms' inputs write their attributes through ``self.html_params``.
    html_params = staticmethod(_attributes)


class _TextInput(_FastInput, TextInput):
    pass


class _HiddenInput(_FastInput, HiddenInput):
    pass


class _FileInput(_FastInput, FileInput):
    pass


class _TextArea(TextArea):
    def __call__(self, field: t.Any, **kwargs: t.Any) -> Markup:
        # As WTForms' TextArea, which calls the module's html_params directly.
        kwargs.setdefault("id", field.id)
        flags = getattr(field, "flags", {})
        for name in dir(flags):
            if name in self.validation_attrs and name not in kwargs:
                kwargs[name] = getattr(flags, name)
        attributes = _attributes(name=field.name, **kwargs)
        # The attributes and the value are escaped.
        return Markup(f"<textarea {attributes}>\r\n{escape(field._value())}</textarea>")  # noqa: S704


class StringField(wtforms.StringField):
    """WTForms' text field, its attributes written by :func:`_attributes`."""

    widget = _TextInput()


class HiddenField(wtforms.HiddenField):
    """WTForms' hidden field, its attributes written by :func:`_attributes`."""

    widget = _HiddenInput()


class TextAreaField(wtforms.TextAreaField):
    """WTForms' text area, its attributes written by :func:`_attributes`."""

    widget = _TextArea()


class MultipleFileField(_WTFMultipleFileField):
    """Flask-WTF's file field (several files), its attributes written by
    :func:`_attributes`."""

    widget = _FileInput(multiple=True)


def _new_client_id() -> str:
    return secrets.token_urlsafe(16)


class _OnceMixin:
    """A form whose submission writes once: a double click or a resent POST carries the
    same ``client_id`` as the first, and the service returns what the first one made."""

    client_id = HiddenField(default=_new_client_id)


class _FilesMixin:
    files = MultipleFileField(_l("Attachments"))

    def uploads(self) -> list[Upload]:
        """The uploaded files, skipping the empty part a browser sends with no file."""
        field = t.cast(t.Any, self).files
        return [Upload(f.filename or "", f.stream) for f in (field.data or []) if f and f.filename]


def show_error(form: FlaskForm, exc: SupportDeskError) -> None:
    """Put a service error on the form: per field where it names fields, else on top."""
    placed = False
    for name, reason in exc.fields.items():
        # Service field names that a form calls differently (the order is a reference).
        field = getattr(form, {"attachments": "files", "reference": "order"}.get(name, name), None)
        if field is not None and hasattr(field, "errors"):
            field.errors = [*list(field.errors or []), exc.message if name == "files" else reason]
            placed = True
    if not placed:
        form.form_errors.append(exc.message)


# -------------------------------------------------------------------------------------
# Portal (customers)
# -------------------------------------------------------------------------------------


class NewTicketForm(_OnceMixin, _FilesMixin, DeskForm):
    """The portal's form for a customer's new ticket, optionally about an order."""

    subject = StringField(_l("Subject"), validators=[DataRequired()])
    department = SelectField(_l("Department"), choices=[], validate_choice=False)
    category = SelectField(_l("Category"), choices=[])
    order = HiddenField()
    body = TextAreaField(_l("Message"), validators=[DataRequired()])


class ReplyForm(_OnceMixin, _FilesMixin, DeskForm):
    """A customer's public reply on their own ticket."""

    body = TextAreaField(_l("Your reply"), validators=[DataRequired()])


class FollowUpForm(_OnceMixin, _FilesMixin, DeskForm):
    """The first message of a follow-up ticket to a closed one."""

    body = TextAreaField(_l("Message"), validators=[DataRequired()])


class EditSubjectForm(DeskForm):
    """A new subject for a ticket."""

    subject = StringField(_l("Subject"), validators=[DataRequired()])


class EditMessageForm(DeskForm):
    """A new text for a message its author may still edit."""

    body = TextAreaField(_l("Message"), validators=[DataRequired()])


class ConfirmForm(DeskForm):
    """A button that changes state (close, resolve): only the CSRF token."""


class NotificationSettingsForm(DeskForm):
    """Which notifications I get, and in which language (portal and desk).

    ``hear`` holds the kinds left on (ticked boxes); the page sets both fields' choices
    from :mod:`~flask_supportdesk.services.notification_settings`.
    """

    hear = SelectMultipleField(_l("E-mail me when"), choices=[])
    locale = SelectField(_l("Language of my e-mails"), choices=[], validate_choice=False)
class DelegateInviteForm(DeskForm):
    """The requester's invitation of a delegate: the address of their account."""

    email = StringField(_l("E-mail address"), validators=[DataRequired()])


# -------------------------------------------------------------------------------------
# Desk (staff)
# -------------------------------------------------------------------------------------


#: A composer's ``channel`` field: the pane it sits in says where the message goes.
COMPOSER_CHANNELS = ("public", "internal")


class StaffReplyForm(_OnceMixin, _FilesMixin, DeskForm):
    """A staff reply (Main pane) or internal note (Internal pane), with the ticket changes
    sent along with it.

    The desk page shows one of these per pane; each sends its own hidden ``channel``, so
    the pane the staff member wrote in decides where the message goes. There is no
    default: a request without a channel is refused, never sent to the customer.
    """

    channel = HiddenField(
        validators=[
            AnyOf(COMPOSER_CHANNELS, message=_l("Write it on the Main or the Internal tab."))
        ]
    )
    body = TextAreaField(_l("Reply"), validators=[DataRequired()])
    status = SelectField(
        _l("Set status"),
        choices=[SelectChoice("", _l("Default")), *STATUS_CHOICES],
        validators=[Optional()],
    )
    # Sent only by a request that changes them with the message (the page's composers
    # leave them to the Fields panel); the service checks the values.
    priority = SelectField(_l("Priority"), choices=PRIORITY_CHOICES, validate_choice=False)
    assignee = SelectField(_l("Assignee"), choices=[], validate_choice=False)


class TicketFieldsForm(DeskForm):
    """The desk's sidebar: the ticket fields staff change without writing a message."""

    status = SelectField(_l("Status"), choices=STATUS_CHOICES)
    priority = SelectField(_l("Priority"), choices=PRIORITY_CHOICES)
    category = SelectField(_l("Category"), choices=[])
    department = SelectField(_l("Department"), choices=[], validate_choice=False)
    assignee = SelectField(_l("Assignee"), choices=[], validate_choice=False)


class TurnIntoTicketForm(DeskForm):
    """The chat inbox's "Turn into ticket": the subject and category the ticket gets."""

    subject = StringField(_l("Subject"), validators=[DataRequired()])
    category = SelectField(_l("Category"), choices=[])


class StartConversationForm(_OnceMixin, DeskForm):
    """Staff start a chat with a customer: its first message."""

    body = TextAreaField(_l("First message"), validators=[DataRequired()])


class EscalateForm(DeskForm):
    """Hand a ticket to the next role up, saying why.

    The reason is required, but by the service (after the policy), so a staff member who
    may not escalate hears that rather than "give a reason"; the page marks it required.
    """

    reason = TextAreaField(_l("Reason (kept as an internal note)"), validators=[Optional()])


class StaffNewTicketForm(_OnceMixin, _FilesMixin, DeskForm):
    """A ticket staff file themselves, for a customer (from a call or an e-mail) or not."""

    requester = StringField(_l("Customer (e-mail or id)"), validators=[Optional()])
    subject = StringField(_l("Subject"), validators=[DataRequired()])
    category = SelectField(_l("Category"), choices=[])
    department = SelectField(_l("Department"), choices=[], validate_choice=False)
    priority = SelectField(_l("Priority"), choices=PRIORITY_CHOICES, default="normal")
    order = StringField(_l("Order number"), validators=[Optional()])
    body = TextAreaField(_l("Message"), validators=[DataRequired()])


class DepartmentForm(DeskForm):
    """Create or edit a department (store owners only)."""

    name = StringField(_l("Name"), validators=[DataRequired()])
    slug = StringField(_l("Slug"), validators=[Optional()])
    description = TextAreaField(_l("Description"), validators=[Optional()])
    is_active = BooleanField(_l("Active"), default=True)


class BulkForm(DeskForm):
    """Change several tickets of the desk list at once; an empty choice changes nothing.

    The selected tickets arrive as repeated ``ticket`` fields (checkboxes in the list).
    """

    status = SelectField(_l("Set status"), choices=[], validate_choice=False)
    priority = SelectField(_l("Set priority"), choices=[], validate_choice=False)
    department = SelectField(_l("Set department"), choices=[], validate_choice=False)
    assignee = SelectField(_l("Set assignee"), choices=[], validate_choice=False)
    back = HiddenField()


# -------------------------------------------------------------------------------------
# Contact form, guest links and support PINs
# -------------------------------------------------------------------------------------


class ContactForm(_OnceMixin, DeskForm):
    """The public contact form of a guest.

    ``website`` is the honeypot: hidden from people and screen readers, so only a bot
    fills it in (and is answered as if it had succeeded).
    """

    name = StringField(_l("Your name"), validators=[DataRequired()])
    email = StringField(_l("Your e-mail address"), validators=[DataRequired()])
    subject = StringField(_l("Subject"), validators=[DataRequired()])
    body = TextAreaField(_l("Message"), validators=[DataRequired()])
    website = StringField(_l("Leave this field empty"))


class PinCheckForm(DeskForm):
    """Staff checking the support PIN a caller reads out (on a ticket: its requester)."""

    pin = StringField(_l("PIN the caller gave"), validators=[DataRequired()])


class CustomerPinCheckForm(PinCheckForm):
    """Staff checking the support PIN of a customer named by e-mail or id."""

    customer = StringField(_l("Customer (e-mail or id)"), validators=[DataRequired()])
