"""stored search vectors on PostgreSQL

PostgreSQL: a generated, stored ``tsvector`` column (``supportdesk_search_vector``) on
the message and ticket tables, with a GIN index each, in place of migration 0004's GIN
expression indexes; ranking reads the stored vector instead of recomputing it from the
text, and the planner gets word frequencies from the column's statistics. Existing rows
get their vectors here (the tables are rewritten: allow a few minutes per million
messages). SQLite: nothing changes (its FTS5 tables already store what they rank). The
DDL is the one ``Base.metadata.create_all`` runs (:mod:`flask_supportdesk._search_index`).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

from flask_supportdesk import _search_index

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    _search_index.add_vectors(op.get_bind())


def downgrade() -> None:
    _search_index.drop_vectors(op.get_bind())
