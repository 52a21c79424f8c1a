"""live chat: a requester's phone, chat fallback, read receipts, connections, presence

- ``supportdesk_ticket.requester_phone``: the phone number of the widget's pre-chat form;
- ``supportdesk_ticket.chat_queued_at``: when a chat left the live inbox for the ticket queue;
- ``supportdesk_message_read``: how far each reader read a thread ("Seen");
- ``supportdesk_connection``: the live Socket.IO connections of host users, in every
  server process (revocation, logout, presence);
- ``supportdesk_staff_presence``: a staff member's "away" choice.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("supportdesk_ticket") as batch:
        batch.add_column(sa.Column("requester_phone", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("chat_queued_at", sa.DateTime(), nullable=True))
    op.create_table(
        "supportdesk_message_read",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("reader_id", sa.String(length=300), nullable=False),
        sa.Column("reader_name", sa.String(length=200), nullable=False),
        sa.Column("staff", sa.Boolean(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("read_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["supportdesk_ticket.id"],
            name=op.f("fk_supportdesk_message_read_ticket_id_supportdesk_ticket"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supportdesk_message_read")),
        sa.UniqueConstraint(
            "ticket_id", "reader_id", name=op.f("uq_supportdesk_message_read_ticket_id")
        ),
    )
    op.create_table(
        "supportdesk_connection",
        sa.Column("sid", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("staff", sa.Boolean(), nullable=False),
        sa.Column("connected_at", sa.DateTime(), nullable=False),
        sa.Column("seen_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("sid", name=op.f("pk_supportdesk_connection")),
    )
    op.create_index(
        op.f("ix_supportdesk_connection_user_id"), "supportdesk_connection", ["user_id"]
    )
    op.create_table(
        "supportdesk_staff_presence",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("away", sa.Boolean(), nullable=False),
        sa.Column("changed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_supportdesk_staff_presence")),
    )


def downgrade() -> None:
    op.drop_table("supportdesk_staff_presence")
    op.drop_index(op.f("ix_supportdesk_connection_user_id"), table_name="supportdesk_connection")
    op.drop_table("supportdesk_connection")
    op.drop_table("supportdesk_message_read")
    with op.batch_alter_table("supportdesk_ticket") as batch:
        batch.drop_column("chat_queued_at")
        batch.drop_column("requester_phone")
