"""delegates: the accounts a requester shared a ticket with

``supportdesk_delegate`` holds one row per invitation: the invited address, the
invitee's host user id, the status (``invited``, ``accepted``, ``revoked``), who invited
them, and ``nonce``, the one-time part of the signed invitation link (unique; cleared
once the link is used or the invitation revoked). The index on
``(user_id, status, ticket_id)`` serves the policy's question on every request of a
delegate: which tickets did they accept? The one on ``(invited_by_id, created_at)``
counts a requester's invitations of the last hour (the cap on invitations).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "supportdesk_delegate",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "invited",
                "accepted",
                "revoked",
                name="delegatestatus",
                native_enum=False,
                length=24,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("invited_by_id", sa.String(length=64), nullable=True),
        sa.Column("invited_by_name", sa.String(length=200), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("accepted_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_by_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["supportdesk_ticket.id"],
            name=op.f("fk_supportdesk_delegate_ticket_id_supportdesk_ticket"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supportdesk_delegate")),
        sa.UniqueConstraint("nonce", name=op.f("uq_supportdesk_delegate_nonce")),
    )
    with op.batch_alter_table("supportdesk_delegate", schema=None) as batch_op:
        batch_op.create_index(
            "ix_supportdesk_delegate_user_status", ["user_id", "status", "ticket_id"], unique=False
        )
        batch_op.create_index("ix_supportdesk_delegate_ticket", ["ticket_id", "id"], unique=False)
        batch_op.create_index(
            "ix_supportdesk_delegate_inviter", ["invited_by_id", "created_at"], unique=False
        )


def downgrade() -> None:
    op.drop_table("supportdesk_delegate")
