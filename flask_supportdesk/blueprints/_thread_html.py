"""The messages of a thread as HTML, for the portal's and the desk's ticket pages.

Written here rather than by a Jinja macro per message: a macro call, its dozen outputs
(each an attribute look-up, an escape and a Markup object) and its three translations
cost some three hundred function calls per message, so a page of fifty messages spent
most of its time there. Here the words are translated once per page, the sprite's URL
built once, every timestamp goes through one formatter, and each message is one format
string with its values escaped (:data:`MESSAGE`). The body is the stored, sanitised
HTML of :class:`~flask_supportdesk.presentation.MessageView`.

Templates call it as ``supportdesk_messages(messages, staff_view=..., edit_urls=...)``.
"""

from __future__ import annotations

import typing as t

from flask import url_for
from markupsafe import Markup
from markupsafe import escape

from ..i18n import format_size
from ..i18n import gettext as _
from ..models import Channel
from ..templating import time_tagger

if t.TYPE_CHECKING:
    from ..presentation import AttachmentView
    from ..presentation import MessageView

#: One message. Every field is escaped, or Markup built here, when it is put in.
MESSAGE = """<article class="sd-message{internal_class} {origin_class}" id="m{id}">
    <header>
      <strong>{author}</strong>{badges}
      <span class="sd-muted">{time}{edited}</span>
    </header>
    <div class="sd-body">{body}</div>{attachments}{actions}
  </article>
"""
BADGE = ' <span class="sd-badge {}">{}</span>'
ACTIONS = (
    '\n    <p class="sd-message-actions"><a href="{}">{}'
    '<span class="sd-visually-hidden"> {}</span></a></p>'
)
ICON = (
    '<svg class="sd-icon" aria-hidden="true" focusable="false" width="16" height="16">'
    '<use href="{}#{}"></use></svg>'
)
ATTACHMENT = (
    '\n      <li>{thumb}<a href="{url}" download>{icon}{name}</a>'
    '\n        <span class="sd-muted">{size}</span></li>'
)
#: The preview repeats the file name's link for the mouse: one link for keyboards and
#: screen readers.
THUMBNAIL = (
    '<a class="sd-thumb" href="{url}" download title="{title}" tabindex="-1"'
    ' aria-hidden="true"><img src="{src}" alt="" loading="lazy" decoding="async"></a>'
)


def messages_html(
    messages: t.Iterable[MessageView],
    *,
    staff_view: bool = False,
    edit_urls: t.Mapping[int, str] | None = None,
) -> Markup:
    """The ``<article>`` of each message, oldest first as given.

    :param staff_view: on the desk: staff authors get no "Support" badge there.
    :param edit_urls: where each editable message (by id) is edited; the others get no
        edit link.
    """
    edit_urls = edit_urls or {}
    time_tag = time_tagger()
    unknown, support, note, edited = _("Unknown"), _("Support"), _("Internal note"), _("edited")
    edit, this_message = _("Edit"), _("this message")
    sprite = url_for("supportdesk.static", filename="supportdesk/vendor/lucide/icons.svg")
    e = escape
    out = []
    for message in messages:
        files = message.attachments
        internal = message.channel is Channel.INTERNAL
        badges = ""
        if message.author_is_staff and not staff_view:
            badges += BADGE.format("sd-staff", e(support))
        if internal:
            badges += BADGE.format("sd-internal-badge", e(note))
        edit_url = edit_urls.get(message.id)
        out.append(
            MESSAGE.format(
                internal_class=" sd-internal" if internal else "",
                origin_class="sd-from-staff" if message.author_is_staff else "sd-from-customer",
                id=int(message.id),
                author=e(message.author_name or unknown),
                badges=badges,
                time=time_tag(message.created_at),
                edited=" · " + e(edited) if message.edited_at else "",
                body=message.html,
                attachments=_attachments(files, sprite) if files else "",
                actions=ACTIONS.format(e(edit_url), e(edit), e(this_message)) if edit_url else "",
            )
        )
    return Markup("".join(out))  # noqa: S704  # every value above is escaped or Markup


def _attachments(attachments: t.Sequence[AttachmentView], sprite: str) -> str:
    e = escape
    icon = ICON.format(e(sprite), "paperclip")
    items = []
    for attachment in attachments:
        url = e(attachment.url)
        thumb = ""
        if attachment.thumbnail_url:
            title = e(_("Download %(name)s", name=attachment.filename))
            thumb = THUMBNAIL.format(url=url, title=title, src=e(attachment.thumbnail_url))
        items.append(
            ATTACHMENT.format(
                thumb=thumb,
                url=url,
                icon=icon,
                name=e(attachment.filename),
                size=e(format_size(attachment.size)),
            )
        )
    return '\n    <ul class="sd-attachments">' + "".join(items) + "\n    </ul>"
