"""Alembic environment: runs against the current Flask app's database engine."""

from __future__ import annotations

from alembic import context

from flask_supportdesk._state import get_state
from flask_supportdesk.migrations import VERSION_TABLE
from flask_supportdesk.migrations import include_name
from flask_supportdesk.models import Base


def run_migrations_online() -> None:
    """Run the desk's migrations on the app's engine, in the desk's own version table."""
    engine = get_state().db.engine
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            version_table=VERSION_TABLE,
            include_name=include_name,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run_migrations_online()
