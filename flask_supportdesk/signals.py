"""Blinker signals the desk sends after a change is committed.

Signals tell; they never change what the desk does (hooks ask). The sender is always the
application; receivers get the documented keyword arguments and should accept
``**extra`` so new arguments can be added without breaking them.

Each signal is sent once per change, after the transaction that made it is committed
(for a change made inside the host's own transaction, after the host commits), and never
for a change that was rolled back. A receiver that raises is logged; it does not fail
the request, and the receivers after it still run. Tests can record what was sent with
:func:`flask_supportdesk.testing.record_signals`.
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

ticket_opened = _signals.signal("ticket-opened")
"""Sent after a ticket is opened.

Receivers get ``ticket`` (:class:`~flask_supportdesk.models.Ticket`), ``message`` (its
first :class:`~flask_supportdesk.models.Message`) and ``actor`` (who opened it).
"""

message_posted = _signals.signal("message-posted")
"""Sent after a public reply or an internal note is posted.

Receivers get ``ticket``, ``message`` and ``actor``. Check ``message.channel`` before
telling a customer about it: internal notes are sent too.
"""

message_edited = _signals.signal("message-edited")
"""Sent after a message's body is edited.

Receivers get ``ticket``, ``message``, ``actor`` and ``previous_body``.
"""

ticket_updated = _signals.signal("ticket-updated")
"""Sent after a ticket's fields change (subject, status, priority, category, department,
assignee).

Receivers get ``ticket``, ``actor`` and ``changes``: a dict of field name to
``(old, new)``.
"""

ticket_escalated = _signals.signal("ticket-escalated")
"""Sent after a ticket is escalated.

Receivers get ``ticket``, ``actor``, ``from_level`` and ``to_level`` (role names;
``to_level`` is ``None`` when the ticket was handed beyond the top level) and
``reason``.
"""

ticket_closed = _signals.signal("ticket-closed")
"""Sent after a ticket is closed (also sent with ``ticket_updated``).

Receivers get ``ticket`` and ``actor``.
"""

follow_up_opened = _signals.signal("follow-up-opened")
"""Sent after a follow-up ticket is opened to continue a closed one (after its
``ticket_opened``).

Receivers get ``ticket`` (the closed ticket), ``follow_up`` (the new ticket) and
``actor``.
"""

department_changed = _signals.signal("department-changed")
"""Sent after a department is created or edited.

Receivers get ``department`` and ``actor``.
"""

delegate_invited = _signals.signal("delegate-invited")
"""Sent after the requester invited someone to a ticket (the invitation mail is in the
outbox).

Receivers get ``ticket``, ``delegate`` (:class:`~flask_supportdesk.models.Delegate`)
and ``actor`` (who invited).
"""

delegate_accepted = _signals.signal("delegate-accepted")
"""Sent after an invitee accepted their invitation: they now read and post on the
ticket's public channel.

Receivers get ``ticket``, ``delegate`` and ``actor`` (the delegate).
"""

delegate_revoked = _signals.signal("delegate-revoked")
"""Sent after a delegate (or a pending invitation) was revoked, by the requester or
staff; their access ended with the commit.

Receivers get ``ticket``, ``delegate`` and ``actor`` (who revoked).
"""

pin_checked = _signals.signal("pin-checked")
"""Sent after a staff member checked a customer's support PIN (on a ticket or not), for
the store's own audit log.

Receivers get ``actor`` (the staff member), ``customer_id`` (the host user id whose PIN
was checked), ``matched`` (whether it matched) and ``ticket`` (the ticket it was checked
on, or ``None``). Never the PIN.
"""

pin_changed = _signals.signal("pin-changed")
"""Sent after a customer regenerated their support PIN (the old one no longer matches).

Receivers get ``actor`` (the customer). Never the PIN.
"""

__all__ = [
    "delegate_accepted",
    "delegate_invited",
    "delegate_revoked",
    "department_changed",
    "follow_up_opened",
    "message_edited",
    "message_posted",
    "pin_changed",
    "pin_checked",
    "ticket_closed",
    "ticket_escalated",
    "ticket_opened",
    "ticket_updated",
]
