"""The shipped migrations create exactly the tables the models describe."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask

from flask_supportdesk._state import get_state
from flask_supportdesk.migrations import VERSION_TABLE
from flask_supportdesk.migrations import alembic_config
from flask_supportdesk.migrations import include_name
from flask_supportdesk.models import Base


def _fresh(app: Flask) -> sa.Engine:
    engine = get_state().db.engine
    Base.metadata.drop_all(engine)
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP TABLE IF EXISTS {VERSION_TABLE}"))
    return engine


def test_upgrade_matches_models_and_downgrade_removes_everything(app: Flask) -> None:
    with app.app_context():
        engine = _fresh(app)
        command.upgrade(alembic_config(), "head")
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn,
                opts={"compare_type": True, "include_name": include_name},
            )
            assert compare_metadata(context, Base.metadata) == []
            assert VERSION_TABLE in sa.inspect(conn).get_table_names()

        command.downgrade(alembic_config(), "base")
        remaining = [n for n in sa.inspect(engine).get_table_names() if n != VERSION_TABLE]
        assert not [n for n in remaining if n.startswith("supportdesk_")]
        command.upgrade(alembic_config(), "head")  # leave the schema for the teardown


def test_cli_upgrade(app: Flask) -> None:
    with app.app_context():
        engine = _fresh(app)
    result = app.test_cli_runner().invoke(args=["supportdesk", "db", "upgrade"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert "supportdesk_ticket" in sa.inspect(engine).get_table_names()
