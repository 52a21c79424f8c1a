"""``flask supportdesk ...``: database migrations, departments, notification delivery."""

from __future__ import annotations

import time

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
    from .services.departments import create_department
    from .values import Actor

    store = Actor.system("Command line")
    department = create_department(store, name=name, slug=slug, description=description)
    click.echo(f"Created {department.slug}")


@supportdesk_cli.command("deliver")
@click.option("--loop", is_flag=True, help="Keep delivering; wait --interval between rounds.")
@click.option("--now", is_flag=True, help="Also send what waits for a later retry.")
@click.option("--limit", default=100, show_default=True, help="Notifications per batch.")
@click.option("--interval", default=5.0, show_default=True, help="Seconds between rounds.")
def deliver(loop: bool, now: bool, limit: int, interval: float) -> None:
    """Deliver the notifications that are due (once, or with --loop until stopped).

    Exits with 1 when a notification was given up in this run.
    """
    from .services.notifications import deliver as _deliver

    given_up = 0
    while True:
        total = {"sent": 0, "retrying": 0, "failed": 0}
        while True:  # batch after batch until nothing is left
            report = _deliver(limit=limit, now=now)
            total["sent"] += report.sent
            total["retrying"] += report.retrying
            total["failed"] += report.failed
            # With --now a row that failed is due again at once: one try per round.
            if report.claimed < limit or (now and report.retrying + report.failed):
                break
        given_up += total["failed"]
        if not loop or any(total.values()):
            click.echo(
                f"sent {total['sent']}, retrying {total['retrying']}, failed {total['failed']}"
            )
        if not loop:
            break
        time.sleep(interval)
    if given_up:
        raise SystemExit(1)


@supportdesk_cli.command("prune-notifications")
@click.option(
    "--older-than",
    "days",
    type=click.FloatRange(min=0),
    default=None,
    help="Days after delivery (default: SUPPORTDESK_NOTIFICATION_RETENTION_DAYS).",
)
@click.option("--failed", is_flag=True, help="Also delete given-up notifications that old.")
def prune_notifications(days: float | None, failed: bool) -> None:
    """Delete delivered notifications older than the retention (queued ones stay)."""
    from ._state import get_state
    from .services.notifications import prune

    if days is None:
        days = get_state().config.notification_retention_days
    deleted = prune(older_than_days=days, include_failed=failed)
    click.echo(f"deleted {deleted}")
