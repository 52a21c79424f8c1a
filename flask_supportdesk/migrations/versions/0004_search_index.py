"""full-text search index of messages and tickets

SQLite: FTS5 external-content tables over message bodies and over ticket subjects and
requesters, kept current by triggers. PostgreSQL: GIN indexes on ``to_tsvector('simple',
...)`` of the same columns. Existing rows are indexed here. The DDL is the one
``Base.metadata.create_all`` runs (:mod:`flask_supportdesk._search_index`), so both ways
give the same schema.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

from flask_supportdesk import _search_index

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    _search_index.create_index(op.get_bind())


def downgrade() -> None:
    _search_index.drop_index(op.get_bind())
