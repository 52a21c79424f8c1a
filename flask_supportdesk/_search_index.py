"""The search index's DDL, shared by ``Base.metadata.create_all`` and migrations 0004-0005.

See :mod:`flask_supportdesk.services.search` for how it is used. Kept apart from the
service so :mod:`flask_supportdesk.models` can attach it to the message table without
importing the services.

``create_all`` runs every step (:func:`create_index`, then :func:`add_vectors`); each
migration runs its own, so a schema made either way is the same.
"""

from __future__ import annotations

import typing as t

import sqlalchemy as sa

#: Every table, trigger and index of the search starts with this.
INDEX_PREFIX = "supportdesk_search"
MESSAGE_FTS = f"{INDEX_PREFIX}_message"
TICKET_FTS = f"{INDEX_PREFIX}_ticket"
#: PostgreSQL: the stored ``tsvector`` column of the message and the ticket table.
VECTOR = f"{INDEX_PREFIX}_vector"
#: Characters PostgreSQL's parser glues words with (e-mails, hosts, paths, versions);
#: replaced by spaces before parsing, so ``bob`` finds ``bob@example.com`` as on SQLite.
#: ``<>`` too: its parser skips what looks like an HTML tag. No ``%``: the drivers would
#: read it as a placeholder.
_PG_GLUE = "@.-_/:+~&=?!|<>"

_INDEXED = {
    MESSAGE_FTS: ("supportdesk_message", ("body",)),
    TICKET_FTS: ("supportdesk_ticket", ("subject", "requester_name", "requester_email")),
}


# -------------------------------------------------------------------------------------
# The index (DDL shared by create_all and migration 0004)
# -------------------------------------------------------------------------------------


def pg_vector_sql(columns: t.Sequence[str]) -> str:
    """The ``tsvector`` of ``columns`` (SQL text): what the :data:`VECTOR` columns hold.

    :param columns: Column names, qualified as the query needs them.
    """
    # One function for the stored columns and migration 0004's expression indexes, so
    # a word is cut the same way by both.
    text = " || ' ' || ".join(columns)
    spaces = " " * len(_PG_GLUE)
    return f"to_tsvector('simple'::regconfig, translate({text}, '{_PG_GLUE}', '{spaces}'))"


def _sqlite_ddl(fts: str, table: str, columns: t.Sequence[str]) -> list[str]:
    # Every name here is one of this module's constants, never input: no injection.
    names = ", ".join(columns)
    new = ", ".join(f"new.{c}" for c in columns)
    old = ", ".join(f"old.{c}" for c in columns)
    delete = f"INSERT INTO {fts}({fts}, rowid, {names}) VALUES ('delete', old.id, {old});"  # noqa: S608
    insert = f"INSERT INTO {fts}(rowid, {names}) VALUES (new.id, {new});"  # noqa: S608
    return [
        f"CREATE VIRTUAL TABLE {fts} USING fts5({names}, content='{table}', "
        "content_rowid='id', tokenize='unicode61')",
        f"CREATE TRIGGER {fts}_insert AFTER INSERT ON {table} BEGIN {insert} END",
        f"CREATE TRIGGER {fts}_delete AFTER DELETE ON {table} BEGIN {delete} END",
        f"CREATE TRIGGER {fts}_update AFTER UPDATE OF {names} ON {table} "
        f"BEGIN {delete} {insert} END",
        # Backfill: index the rows already there (none on a new table).
        f"INSERT INTO {fts}({fts}) VALUES ('rebuild')",  # noqa: S608
    ]


def create_index(connection: sa.Connection) -> None:
    """Create the search index of the message and ticket tables, and fill it (migration 0004).

    On PostgreSQL this is migration 0004's GIN expression indexes, which
    :func:`add_vectors` replaces.

    :param connection: A connection to the desk's database, inside a transaction.
    """
    if connection.dialect.name == "sqlite":
        for fts, (table, columns) in _INDEXED.items():
            for statement in _sqlite_ddl(fts, table, columns):
                connection.exec_driver_sql(statement)
    elif connection.dialect.name == "postgresql":
        for fts, (table, columns) in _INDEXED.items():
            connection.exec_driver_sql(
                f"CREATE INDEX {fts}_text ON {table} USING gin ({pg_vector_sql(columns)})"
            )


def drop_index(connection: sa.Connection) -> None:
    """Drop what :func:`create_index` created (the tables stay).

    :param connection: A connection to the desk's database, inside a transaction.
    """
    for fts in _INDEXED:
        if connection.dialect.name == "sqlite":
            for suffix in ("insert", "delete", "update"):
                connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {fts}_{suffix}")
            connection.exec_driver_sql(f"DROP TABLE IF EXISTS {fts}")
        elif connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"DROP INDEX IF EXISTS {fts}_text")


def add_vectors(connection: sa.Connection) -> None:
    """PostgreSQL: store each row's ``tsvector`` and index that instead (migration 0005).

    Ranking with ``ts_rank`` reads the vector; with only an expression index it was
    recomputed from the text for every row ranked. The columns are generated, so
    PostgreSQL keeps them current whoever writes the row. Nothing changes on SQLite,
    whose FTS5 tables already store what they rank.

    :param connection: A connection to the desk's database, inside a transaction.
    """
    if connection.dialect.name != "postgresql":
        return
    for fts, (table, columns) in _INDEXED.items():
        connection.exec_driver_sql(f"DROP INDEX IF EXISTS {fts}_text")
        connection.exec_driver_sql(
            f"ALTER TABLE {table} ADD COLUMN {VECTOR} tsvector "
            f"GENERATED ALWAYS AS ({pg_vector_sql(columns)}) STORED"
        )
        connection.exec_driver_sql(f"CREATE INDEX {fts}_vector ON {table} USING gin ({VECTOR})")
        # The planner's word frequencies come from the column's statistics: with them it
        # reads a common word's newest rows by id and a rare word's through the index.
        connection.exec_driver_sql(f"ANALYZE {table}")


def drop_vectors(connection: sa.Connection) -> None:
    """Undo :func:`add_vectors`: back to the expression indexes of :func:`create_index`.

    :param connection: A connection to the desk's database, inside a transaction.
    """
    if connection.dialect.name != "postgresql":
        return
    for fts, (table, columns) in _INDEXED.items():
        connection.exec_driver_sql(f"DROP INDEX IF EXISTS {fts}_vector")
        connection.exec_driver_sql(f"ALTER TABLE {table} DROP COLUMN IF EXISTS {VECTOR}")
        connection.exec_driver_sql(
            f"CREATE INDEX {fts}_text ON {table} USING gin ({pg_vector_sql(columns)})"
        )


def _after_create(target: sa.Table, connection: sa.Connection, **kw: t.Any) -> None:
    create_index(connection)
    add_vectors(connection)


def _before_drop(target: sa.Table, connection: sa.Connection, **kw: t.Any) -> None:
    drop_index(connection)


def attach(message_table: sa.Table) -> None:
    """Create the index after ``message_table`` is created, and drop it before.

    The message table is created after the ticket table (its foreign key) and dropped
    before it: both indexes are in place once ``create_all()`` is done, and gone with
    ``drop_all()``.

    :param message_table: ``Message.__table__``.
    """
    sa.event.listen(message_table, "after_create", _after_create)
    sa.event.listen(message_table, "before_drop", _before_drop)
