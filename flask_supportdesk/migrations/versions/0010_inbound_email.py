"""inbound e-mail: the Message-ID a message came in by

``supportdesk_message.email_message_id`` keeps the ``Message-ID`` of the mail a message
was made from (``flask supportdesk ingest-email`` and the inbound HTTP endpoint). It is
unique: a mail the MTA delivers twice (a retry, two support addresses) is stored once.
NULL for every message that did not come by mail.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("supportdesk_message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email_message_id", sa.String(length=255), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f("uq_supportdesk_message_email_message_id"), ["email_message_id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("supportdesk_message", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("uq_supportdesk_message_email_message_id"), type_="unique"
        )
        batch_op.drop_column("email_message_id")
