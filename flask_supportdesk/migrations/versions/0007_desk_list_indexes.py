"""desk indexes: active tickets by last update, a ticket's messages by id

The desk's open tabs list every ticket that is not closed, most recently updated first,
26 at a time. Closed tickets are 94 % of a store's history and grow forever, so the index
holds only the others (a partial index, ``WHERE status <> 'closed'``), in the list's
order (``updated_at``, then ``id`` for ties): SQLite and PostgreSQL walk it backwards
and stop after one page, instead of sorting every active ticket. The list query says
``status <> 'closed'`` in those words: SQLite uses a partial index only for a query
whose WHERE clause contains its predicate.

A staff ticket page reads the newest 50 messages of both channels. The index on
``(ticket_id, channel, id)`` cannot give them in ``id`` order, so PostgreSQL walked the
primary key backwards from the store's newest message and filtered: 220 ms for a
2,000-message ticket among 400,000 messages when the ticket is old. ``(ticket_id, id)``
gives them in order.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

ACTIVE = sa.text("status <> 'closed'")


def upgrade() -> None:
    op.create_index(
        "ix_supportdesk_ticket_active_updated",
        "supportdesk_ticket",
        ["updated_at", "id"],
        sqlite_where=ACTIVE,
        postgresql_where=ACTIVE,
    )
    op.create_index("ix_supportdesk_message_ticket_id", "supportdesk_message", ["ticket_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_supportdesk_message_ticket_id", table_name="supportdesk_message")
    op.drop_index("ix_supportdesk_ticket_active_updated", table_name="supportdesk_ticket")
