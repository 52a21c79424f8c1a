"""The desk list's rows, as the template shows them.

A row's words and links are worked out here once per page, not once per row: the
labels of the statuses and priorities the page holds are translated once, the ticket
URL is built once and each number put into it, and every timestamp goes through one
formatter bound to the page's locale and time zone. The rows are then written by one
format string (:data:`ROW`), every value escaped: in Jinja a row cost about 220 µs
(each ``{{ }}`` an attribute look-up, an escape and a Markup object, some 25 per row,
and two badge macros), written here about 15 µs.

A host that wants other columns overrides ``supportdesk/desk/index.html`` and writes
its own rows from ``rows`` (:class:`DeskRow`), as the template did before.
"""

from __future__ import annotations

import dataclasses
import html
import re
import typing as t

import sqlalchemy as sa
from flask import url_for
from markupsafe import Markup

from ..i18n import gettext as _
from ..models import Priority
from ..models import Status
from ..templating import time_tagger

#: Ticket numbers that need no quoting in a URL path (what the desk's numbers are made of).
_PLAIN_NUMBER = re.compile(r"[A-Za-z0-9_.~-]+")


# Not frozen: a frozen dataclass sets each of its fields through object.__setattr__,
# and a page builds some 25 rows of 18 fields.
@dataclasses.dataclass(slots=True)
class DeskRow:
    """One ticket of the desk list, in the page's words."""

    number: str
    href: str
    subject: str
    requester_name: str
    requester_email: str | None
    status: str
    status_label: str
    priority: str
    priority_label: str
    department: str
    assignee: str
    level: str
    #: The platform's label when escalated beyond the top level, else ``""``.
    escalated_beyond: str
    updated: Markup
    #: The screen reader's word for an unread ticket, or ``""`` when it is read.
    unread: str
    #: The checkbox's label ("Select T-...").
    select_label: str
    #: For a search: the best matching message, escaped, matches in ``<mark>``.
    snippet: Markup | None

    def __html__(self) -> str:
        """The row as a ``<tr>``, every value escaped."""
        # The values are plain strings: the standard library's escape makes no Markup
        # object (which format() would then ask for __format__): 0.33 µs a value put in
        # the row against 0.62 µs with markupsafe's, some 14 values a row.
        e = html.escape  # quotes too
        return ROW.format(
            href=e(self.href),
            row_class=e(self.status) + (" sd-unread" if self.unread else ""),
            number=e(self.number),
            select_label=e(self.select_label),
            unread=UNREAD.format(e(self.unread)) if self.unread else "",
            subject=e(self.subject),
            requester=e(self.requester_name),
            snippet=SNIPPET.format(self.snippet) if self.snippet else "",
            email=EMAIL.format(e(self.requester_email)) if self.requester_email else "",
            status=e(self.status),
            status_label=e(self.status_label),
            priority=e(self.priority),
            priority_label=e(self.priority_label),
            department=e(self.department),
            assignee=e(self.assignee),
            level=e(self.level),
            beyond=BEYOND.format(e(self.escalated_beyond)) if self.escalated_beyond else "",
            updated=self.updated,
        )


#: One row of the list. Every field is escaped (or Markup) when it is put in.
ROW = """<tr data-href="{href}" class="sd-row-{row_class}">
      <td class="sd-bulk-cell" data-sd-bulk-cell>
        <input type="checkbox" name="ticket" value="{number}" form="sd-bulk"
               aria-label="{select_label}">
      </td>
      <td class="sd-mono sd-nowrap"><a href="{href}">{number}</a></td>
      <td class="sd-subject">{unread}<a href="{href}">{subject}</a>
        <span class="sd-show-sm sd-muted">{requester}</span>{snippet}</td>
      <td class="sd-hide-sm">{requester}{email}</td>
      <td><span class="sd-badge sd-status-{status}">{status_label}</span></td>
      <td><span class="sd-badge sd-priority-{priority}">{priority_label}</span></td>
      <td class="sd-hide-sm">{department}</td>
      <td class="sd-hide-sm">{assignee}</td>
      <td class="sd-hide-sm"><span class="sd-badge sd-level">{level}</span>{beyond}</td>
      <td class="sd-hide-sm sd-nowrap">{updated}</td>
    </tr>
"""
UNREAD = (
    '<span class="sd-unread-dot" aria-hidden="true"></span>'
    '<span class="sd-visually-hidden" data-sd-unread>{}</span> '
)
SNIPPET = '\n        <div class="sd-snippet sd-muted">{}</div>'
EMAIL = '\n        <br><span class="sd-muted sd-email" title="{0}">{0}</span>'
BEYOND = ' <span class="sd-badge sd-level">{}</span>'


def _ticket_href() -> t.Callable[[str], str]:
    """``url_for("supportdesk_desk.ticket", number=...)`` for every row of a list: the
    URL is built once and each plain number put into it (a werkzeug URL build per row
    cost some forty function calls); any other number still goes through ``url_for``."""
    marker = "0SDNUMBER0"
    head, tail = url_for("supportdesk_desk.ticket", number=marker).rsplit(marker, 1)

    def href(number: str) -> str:
        if _PLAIN_NUMBER.fullmatch(number):
            return head + number + tail
        return url_for("supportdesk_desk.ticket", number=number)

    return href


def desk_rows(
    tickets: t.Sequence[sa.Row[t.Any]],
    *,
    departments: t.Mapping[int, str],
    unread: t.Container[int],
    snippets: t.Mapping[int, Markup],
) -> list[DeskRow]:
    """The rows of a desk list's page (``listing.desk_tickets``: rows of
    ``DESK_ROW_COLUMNS``): ``departments`` names them by id, ``unread`` holds the ids
    to mark, ``snippets`` a search's excerpts by ticket id."""
    href = _ticket_href()
    time_tag = time_tagger()
    statuses: dict[Status, str] = {}
    priorities: dict[Priority, str] = {}
    # Translated once: the number goes into the translated pattern.
    unknown, unread_word, platform = _("Unknown"), _("Unread"), _("platform")
    select_pattern = _("Select %(number)s")
    rows = []
    for ticket in tickets:
        status, priority = ticket.status, ticket.priority
        if status not in statuses:
            statuses[status] = status.staff_label
        if priority not in priorities:
            priorities[priority] = priority.label
        department = departments.get(ticket.department_id) if ticket.department_id else None
        rows.append(
            DeskRow(
                number=ticket.number,
                href=href(ticket.number),
                subject=ticket.subject,
                requester_name=ticket.requester_name or unknown,
                requester_email=ticket.requester_email,
                status=status.value,
                status_label=statuses[status],
                priority=priority.value,
                priority_label=priorities[priority],
                department=department if department is not None else "—",
                assignee=ticket.assignee_name or "—",
                level=ticket.level,
                escalated_beyond=platform if ticket.escalated_beyond_at is not None else "",
                updated=time_tag(ticket.updated_at),
                unread=unread_word if ticket.id in unread else "",
                select_label=select_pattern % {"number": ticket.number},
                snippet=snippets.get(ticket.id),
            )
        )
    return rows
