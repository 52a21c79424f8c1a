"""notification outbox, and the requester's locale

``supportdesk_notification`` is the outbox: one row per recipient and cause, written in
the transaction of the change that caused it and delivered after commit through the
``supportdesk_deliver_notification`` hook. ``key`` is unique (a digest of the cause and
the recipient), so a cause never notifies a person twice; ``claim_token`` and
``claimed_until`` are the lease of the worker delivering the row. The index on
``(status, next_attempt_at, id)`` serves the worker's query for what is due.

``supportdesk_ticket.requester_locale`` keeps the locale the requester last used, so the
mails they get are written in their language.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "supportdesk_notification",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("recipient_id", sa.String(length=64), nullable=True),
        sa.Column("recipient_email", sa.String(length=254), nullable=False),
        sa.Column("recipient_name", sa.String(length=200), nullable=False),
        sa.Column("recipient_role", sa.String(length=64), nullable=True),
        sa.Column("locale", sa.String(length=16), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("message_id", sa.String(length=255), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "queued",
                "sent",
                "failed",
                name="notificationstatus",
                native_enum=False,
                length=24,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("claim_token", sa.String(length=32), nullable=True),
        sa.Column("claimed_until", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["supportdesk_ticket.id"],
            name=op.f("fk_supportdesk_notification_ticket_id_supportdesk_ticket"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supportdesk_notification")),
        sa.UniqueConstraint("key", name=op.f("uq_supportdesk_notification_key")),
        sa.UniqueConstraint("message_id", name=op.f("uq_supportdesk_notification_message_id")),
    )
    with op.batch_alter_table("supportdesk_notification", schema=None) as batch_op:
        batch_op.create_index(
            "ix_supportdesk_notification_due", ["status", "next_attempt_at", "id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_supportdesk_notification_ticket_id"), ["ticket_id"], unique=False
        )
    with op.batch_alter_table("supportdesk_ticket", schema=None) as batch_op:
        batch_op.add_column(sa.Column("requester_locale", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("supportdesk_ticket", schema=None) as batch_op:
        batch_op.drop_column("requester_locale")
    op.drop_table("supportdesk_notification")
