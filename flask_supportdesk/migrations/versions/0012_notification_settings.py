"""per-user notification settings: muted kinds and the language of one's mails

``supportdesk_notification_settings`` holds one row per host user who changed their
settings: the notification kinds they muted (security kinds are sent regardless) and the
locale their mails are written in. The outbox reads it for all of a change's recipients
in one query, by primary key.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "supportdesk_notification_settings",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("muted_kinds", sa.JSON(), nullable=False),
        sa.Column("locale", sa.String(length=16), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_supportdesk_notification_settings")),
    )


def downgrade() -> None:
    op.drop_table("supportdesk_notification_settings")
