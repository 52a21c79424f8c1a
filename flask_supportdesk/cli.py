"""``flask supportdesk ...``: database migrations and department management."""

from __future__ import annotations

import click
from alembic import command
from flask.cli import AppGroup

from .migrations import alembic_config

supportdesk_cli = AppGroup("supportdesk", help="Manage the support desk.")
db_cli = AppGroup("db", help="The desk's database tables (Alembic migrations).")
supportdesk_cli.add_command(db_cli)


@db_cli.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Create or upgrade the desk's tables to REVISION (default: head)."""
    command.upgrade(alembic_config(), revision)


@db_cli.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Downgrade the desk's tables to REVISION ("base" removes them)."""
    command.downgrade(alembic_config(), revision)


@db_cli.command("current")
def db_current() -> None:
    """Show the revision the database is at."""
    command.current(alembic_config())


@supportdesk_cli.command("departments")
def list_departments() -> None:
    """List departments."""
    from .services.departments import list_departments as _list

    for department in _list(include_inactive=True):
        state = "" if department.is_active else " (inactive)"
        click.echo(f"{department.slug}\t{department.name}{state}")


@supportdesk_cli.command("add-department")
@click.argument("name")
@click.option("--slug", default=None, help="Stable identifier (default: from the name).")
@click.option("--description", default="")
def add_department(name: str, slug: str | None, description: str) -> None:
    """Create a department (as the store, outside any staff account)."""
    from .policy import roles
    from .services.departments import create_department
    from .values import Actor

    owner = Actor(id="cli", name="Command line", role=roles()[-1])
    department = create_department(owner, name=name, slug=slug, description=description)
    click.echo(f"Created {department.slug}")
