"""ticket idempotency key

A digest of who opened a ticket and the ``client_id`` they sent with it, unique, so a
form submitted twice or a retried task opens one ticket (also when both arrive at once).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("supportdesk_ticket") as batch:
        batch.add_column(sa.Column("idempotency_key", sa.String(length=64), nullable=True))
        batch.create_unique_constraint("uq_supportdesk_ticket_idempotency_key", ["idempotency_key"])


def downgrade() -> None:
    with op.batch_alter_table("supportdesk_ticket") as batch:
        batch.drop_constraint("uq_supportdesk_ticket_idempotency_key", type_="unique")
        batch.drop_column("idempotency_key")
