"""desk scope index and stored message HTML

The scope index answers the desk's counters of active tickets without reading the ticket
table; ``body_html`` keeps each message's rendered body (with the renderer's version) so a
thread is not re-rendered on every view (rows from 0001 keep NULL and are rendered when
shown).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SCOPE_COLUMNS = [
    "status", "entry_level", "department_id", "assignee_id", "created_by_id", "requester_id",
]  # fmt: skip


def upgrade() -> None:
    op.create_index("ix_supportdesk_ticket_scope", "supportdesk_ticket", SCOPE_COLUMNS)
    with op.batch_alter_table("supportdesk_message") as batch:
        batch.add_column(sa.Column("body_html", sa.Text(), nullable=True))
        batch.add_column(sa.Column("body_html_version", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("supportdesk_message") as batch:
        batch.drop_column("body_html_version")
        batch.drop_column("body_html")
    op.drop_index("ix_supportdesk_ticket_scope", table_name="supportdesk_ticket")
