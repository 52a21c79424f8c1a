"""The *Notifications* settings page, which the portal (customers) and the desk (staff)
both serve: the same form and service, each with its own kinds and layout."""

from __future__ import annotations

import babel
from flask import flash
from flask import redirect
from flask import request
from flask.typing import ResponseReturnValue
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # not in stubs

from ..errors import ValidationError
from ..forms import NotificationSettingsForm
from ..forms import show_error
from ..i18n import gettext as _
from ..services import notification_settings
from ..values import Actor
from ._common import render


def _language_name(code: str) -> str:
    # Each language in its own words ("Deutsch"), as language pickers do.
    name = babel.Locale.parse(code).get_display_name(code) or code
    return name[:1].upper() + name[1:]


def settings_page(actor: Actor, *, staff: bool, template: str) -> ResponseReturnValue:
    """Show ``actor``'s notification settings, or save them (POST/redirect/GET)."""
    kinds = notification_settings.mutable_kinds(staff=staff)
    current = notification_settings.get_settings(actor)
    form = NotificationSettingsForm()
    form.hear.choices = [SelectChoice(kind, label) for kind, label in kinds]
    default_label = (
        _("The desk's default language") if staff else _("The language I last used here")
    )
    form.locale.choices = [
        SelectChoice("", default_label),
        *(SelectChoice(code, _language_name(code)) for code in notification_settings.languages()),
    ]
    status = 200
    if request.method == "POST":
        if form.validate():
            heard = set(form.hear.data or ())
            try:
                notification_settings.save_settings(
                    actor,
                    muted=[kind for kind, _label in kinds if kind not in heard],
                    locale=form.locale.data,
                    staff=staff,
                )
            except ValidationError as exc:
                show_error(form, exc)
                status = exc.status
            else:
                flash(_("Your notification settings were saved."), "success")
                return redirect(request.path)
        else:
            status = 400
    else:
        form.hear.data = [kind for kind, _label in kinds if current.hears(kind)]
        form.locale.data = current.locale or ""
    return (
        render(
            template,
            form=form,
            kinds=kinds,
            security_kinds=notification_settings.SECURITY_LABELS,
        ),
        status,
    )
