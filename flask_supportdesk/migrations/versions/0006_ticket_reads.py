"""ticket read states and attachment thumbnails

``supportdesk_ticket_read`` keeps when each staff member last opened each ticket and
the newest internal note then (one row per user and ticket), so the desk's list marks a ticket unread after someone else
changed it. ``supportdesk_attachment.thumbnail_key`` names the re-encoded preview of an
image attachment in the attachment storage; attachments uploaded before this revision
have none and are listed as files.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "supportdesk_ticket_read",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("read_at", sa.DateTime(), nullable=False),
        sa.Column("note_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["supportdesk_ticket.id"],
            name=op.f("fk_supportdesk_ticket_read_ticket_id_supportdesk_ticket"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supportdesk_ticket_read")),
        sa.UniqueConstraint(
            "user_id", "ticket_id", name=op.f("uq_supportdesk_ticket_read_user_id")
        ),
    )
    with op.batch_alter_table("supportdesk_ticket_read", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_supportdesk_ticket_read_ticket_id"), ["ticket_id"], unique=False
        )
    with op.batch_alter_table("supportdesk_attachment", schema=None) as batch_op:
        batch_op.add_column(sa.Column("thumbnail_key", sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("supportdesk_attachment", schema=None) as batch_op:
        batch_op.drop_column("thumbnail_key")
    with op.batch_alter_table("supportdesk_ticket_read", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_supportdesk_ticket_read_ticket_id"))
    op.drop_table("supportdesk_ticket_read")
