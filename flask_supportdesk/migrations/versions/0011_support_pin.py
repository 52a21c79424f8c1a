"""support PINs and used guest links

``supportdesk_support_pin`` keeps each customer's support PIN, encrypted with a key
derived from the app's ``SECRET_KEY`` (one row per host user id), so its owner can look
it up again and staff can check a PIN they are told. ``supportdesk_guest_link_use`` keeps
the digest of every guest link that was used, so a link signs its guest in only once.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "supportdesk_support_pin",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("secret", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("rotated_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supportdesk_support_pin")),
        sa.UniqueConstraint("user_id", name=op.f("uq_supportdesk_support_pin_user_id")),
    )
    op.create_table(
        "supportdesk_guest_link_use",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supportdesk_guest_link_use")),
        sa.UniqueConstraint("digest", name=op.f("uq_supportdesk_guest_link_use_digest")),
    )


def downgrade() -> None:
    op.drop_table("supportdesk_guest_link_use")
    op.drop_table("supportdesk_support_pin")
