"""Alembic migrations of the desk's tables, with their own version table.

Run them with ``flask supportdesk db upgrade``; they never touch the host's tables.
"""

from __future__ import annotations

import os

from alembic.config import Config

from .._search_index import INDEX_PREFIX

VERSION_TABLE = "supportdesk_alembic_version"
SCRIPT_LOCATION = os.path.dirname(__file__)


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Alembic filter: only the desk's own tables (never the host's, nor our version table).

    Hosts using Flask-Migrate pass the inverse to their own ``include_name`` so their
    autogenerate never proposes to drop the desk's tables.

    The search index (FTS5 tables and their shadow tables on SQLite, expression indexes
    on PostgreSQL) is left out too: it is not described by the models but created beside
    them by the same DDL for ``create_all`` and the migrations.
    """
    if name is not None and name.startswith(INDEX_PREFIX):
        return False
    if type_ == "table":
        return name is not None and name.startswith("supportdesk_") and name != VERSION_TABLE
    return True


def alembic_config() -> Config:
    """An Alembic config for the current app's database (used inside an app context)."""
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.set_main_option("version_table", VERSION_TABLE)
    return config
