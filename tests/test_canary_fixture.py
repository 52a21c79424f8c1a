"""The canary fixture itself: the canary is where the hostile tests expect it."""

import sqlalchemy as sa

from conftest import CANARY
from flask_supportdesk._state import get_state
from flask_supportdesk.models import Attachment
from flask_supportdesk.models import Event
from flask_supportdesk.models import Message


def test_canary_sits_in_every_staff_only_place(app, canary_ticket) -> None:
    with app.app_context():
        session = get_state().db.session
        note = session.get(Message, canary_ticket.internal_message_id)
        assert CANARY in note.body and note.channel.value == "internal"
        attachment = session.get(Attachment, canary_ticket.internal_attachment_id)
        assert CANARY in attachment.filename
        reasons = session.scalars(sa.select(Message.body).filter_by(ticket_id=note.ticket_id)).all()
        assert sum(CANARY in body for body in reasons) == 2  # the note and the escalation reason
        assert session.scalar(sa.select(sa.func.count(Event.id)).filter_by(ticket_id=note.ticket_id))
