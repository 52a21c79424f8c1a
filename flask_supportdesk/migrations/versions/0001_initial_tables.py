"""initial tables

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "supportdesk_department",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supportdesk_department")),
        sa.UniqueConstraint("slug", name=op.f("uq_supportdesk_department_slug")),
    )
    op.create_table(
        "supportdesk_ticket",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "open",
                "pending_admin",
                "pending_customer",
                "resolved",
                "closed",
                name="status",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column(
            "priority",
            sa.Enum(
                "low",
                "normal",
                "high",
                "urgent",
                name="priority",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("category", sa.String(length=40), nullable=False),
        sa.Column(
            "source",
            sa.Enum(
                "customer_portal",
                "contact_form",
                "chat",
                "email",
                "staff",
                "api",
                name="source",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("department_id", sa.Integer(), nullable=True),
        sa.Column("requester_id", sa.String(length=64), nullable=True),
        sa.Column("requester_name", sa.String(length=200), nullable=False),
        sa.Column("requester_email", sa.String(length=254), nullable=False),
        sa.Column("created_by_id", sa.String(length=64), nullable=True),
        sa.Column("assignee_id", sa.String(length=64), nullable=True),
        sa.Column("assignee_name", sa.String(length=200), nullable=False),
        sa.Column("entry_level", sa.String(length=64), nullable=False),
        sa.Column("level", sa.String(length=64), nullable=False),
        sa.Column("escalated_beyond_at", sa.DateTime(), nullable=True),
        sa.Column("escalated_beyond_ref", sa.String(length=200), nullable=True),
        sa.Column("reference_kind", sa.String(length=40), nullable=True),
        sa.Column("reference_id", sa.String(length=120), nullable=True),
        sa.Column("reference_label", sa.String(length=200), nullable=True),
        sa.Column("reference_url", sa.String(length=500), nullable=True),
        sa.Column("follow_up_of_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("last_customer_reply_at", sa.DateTime(), nullable=True),
        sa.Column("first_response_at", sa.DateTime(), nullable=True),
        sa.Column("resolved_at", sa.DateTime(), nullable=True),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["supportdesk_department.id"],
            name=op.f("fk_supportdesk_ticket_department_id_supportdesk_department"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["follow_up_of_id"],
            ["supportdesk_ticket.id"],
            name=op.f("fk_supportdesk_ticket_follow_up_of_id_supportdesk_ticket"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supportdesk_ticket")),
        sa.UniqueConstraint("number", name=op.f("uq_supportdesk_ticket_number")),
    )
    with op.batch_alter_table("supportdesk_ticket", schema=None) as batch_op:
        batch_op.create_index(
            "ix_supportdesk_ticket_assignee_status", ["assignee_id", "status"], unique=False
        )
        batch_op.create_index("ix_supportdesk_ticket_created", ["created_at"], unique=False)
        batch_op.create_index(
            "ix_supportdesk_ticket_creator_updated", ["created_by_id", "updated_at"], unique=False
        )
        batch_op.create_index(
            "ix_supportdesk_ticket_department_status", ["department_id", "status"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_supportdesk_ticket_follow_up_of_id"), ["follow_up_of_id"], unique=False
        )
        batch_op.create_index(
            "ix_supportdesk_ticket_requester_updated", ["requester_id", "updated_at"], unique=False
        )
        batch_op.create_index(
            "ix_supportdesk_ticket_status_updated", ["status", "updated_at"], unique=False
        )
        batch_op.create_index("ix_supportdesk_ticket_updated", ["updated_at"], unique=False)

    op.create_table(
        "supportdesk_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("actor_id", sa.String(length=64), nullable=True),
        sa.Column("actor_name", sa.String(length=200), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["supportdesk_ticket.id"],
            name=op.f("fk_supportdesk_event_ticket_id_supportdesk_ticket"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supportdesk_event")),
    )
    with op.batch_alter_table("supportdesk_event", schema=None) as batch_op:
        batch_op.create_index("ix_supportdesk_event_ticket", ["ticket_id", "id"], unique=False)

    op.create_table(
        "supportdesk_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column(
            "channel",
            sa.Enum(
                "public",
                "internal",
                name="channel",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("author_id", sa.String(length=64), nullable=True),
        sa.Column("author_name", sa.String(length=200), nullable=False),
        sa.Column("author_is_staff", sa.Boolean(), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("edited_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["supportdesk_ticket.id"],
            name=op.f("fk_supportdesk_message_ticket_id_supportdesk_ticket"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supportdesk_message")),
        sa.UniqueConstraint(
            "ticket_id", "author_id", "client_id", name="uq_supportdesk_message_client"
        ),
    )
    with op.batch_alter_table("supportdesk_message", schema=None) as batch_op:
        batch_op.create_index(
            "ix_supportdesk_message_ticket_channel", ["ticket_id", "channel", "id"], unique=False
        )

    op.create_table(
        "supportdesk_attachment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("storage_key", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["supportdesk_message.id"],
            name=op.f("fk_supportdesk_attachment_message_id_supportdesk_message"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["supportdesk_ticket.id"],
            name=op.f("fk_supportdesk_attachment_ticket_id_supportdesk_ticket"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supportdesk_attachment")),
    )
    with op.batch_alter_table("supportdesk_attachment", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_supportdesk_attachment_message_id"), ["message_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_supportdesk_attachment_ticket_id"), ["ticket_id"], unique=False
        )

    op.create_table(
        "supportdesk_message_revision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("editor_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["supportdesk_message.id"],
            name=op.f("fk_supportdesk_message_revision_message_id_supportdesk_message"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supportdesk_message_revision")),
    )
    with op.batch_alter_table("supportdesk_message_revision", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_supportdesk_message_revision_message_id"), ["message_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("supportdesk_message_revision", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_supportdesk_message_revision_message_id"))

    op.drop_table("supportdesk_message_revision")
    with op.batch_alter_table("supportdesk_attachment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_supportdesk_attachment_ticket_id"))
        batch_op.drop_index(batch_op.f("ix_supportdesk_attachment_message_id"))

    op.drop_table("supportdesk_attachment")
    with op.batch_alter_table("supportdesk_message", schema=None) as batch_op:
        batch_op.drop_index("ix_supportdesk_message_ticket_channel")

    op.drop_table("supportdesk_message")
    with op.batch_alter_table("supportdesk_event", schema=None) as batch_op:
        batch_op.drop_index("ix_supportdesk_event_ticket")

    op.drop_table("supportdesk_event")
    with op.batch_alter_table("supportdesk_ticket", schema=None) as batch_op:
        batch_op.drop_index("ix_supportdesk_ticket_updated")
        batch_op.drop_index("ix_supportdesk_ticket_status_updated")
        batch_op.drop_index("ix_supportdesk_ticket_requester_updated")
        batch_op.drop_index(batch_op.f("ix_supportdesk_ticket_follow_up_of_id"))
        batch_op.drop_index("ix_supportdesk_ticket_department_status")
        batch_op.drop_index("ix_supportdesk_ticket_creator_updated")
        batch_op.drop_index("ix_supportdesk_ticket_created")
        batch_op.drop_index("ix_supportdesk_ticket_assignee_status")

    op.drop_table("supportdesk_ticket")
    op.drop_table("supportdesk_department")
