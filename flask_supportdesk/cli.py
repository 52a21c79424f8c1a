"""``flask supportdesk ...``: database migrations, departments, notification delivery,
inbound e-mail."""

from __future__ import annotations

import sys
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


@supportdesk_cli.command("chat-fallback")
def chat_fallback() -> None:
    """Move the chats nobody answered in time to the ticket queue, telling each visitor
    the answer comes by e-mail (idempotent; safe beside the servers' own sweep).

    Exit status 0 when it ran (whether or not a chat was due), 1 when it failed.
    """
    from .services.chat_inbox import fall_back_unanswered

    try:
        moved = fall_back_unanswered()
    except Exception as exc:  # the database is down, say: cron sees a failure
        click.echo(f"chat-fallback failed: {exc}", err=True)
        sys.exit(1)
    for number in moved:
        click.echo(number)
    click.echo(f"moved {len(moved)}")


@supportdesk_cli.command("ingest-email")
@click.option(
    "--sender",
    default=None,
    help="The envelope sender (Postfix ${sender}); empty for the null sender of a bounce.",
)
@click.option(
    "--recipient",
    "recipients",
    multiple=True,
    help="An envelope recipient (Postfix ${original_recipient}); repeatable.",
)
def ingest_email(sender: str | None, recipients: tuple[str, ...]) -> None:
    """Read one RFC 822 mail from standard input and thread it into its ticket.

    For an MTA's pipe transport; one line on standard error says what happened. Exit
    codes (sysexits): 0 taken, a duplicate or deliberately ignored (an auto-reply, a
    bounce); 65 unreadable or too large; 67 no ticket takes it from this sender; 75 a
    temporary failure (the database is unavailable): the MTA tries again later.
    """
    import logging

    from sqlalchemy import exc as sa_exc

    from ._state import get_state
    from .errors import SupportDeskError
    from .services import inbound

    limit = get_state().config.inbound_max_size
    raw = sys.stdin.buffer.read(limit + 1)
    try:
        result = inbound.ingest(raw, sender=sender, recipients=recipients)
    except SupportDeskError as exc:
        click.echo(f"refused: {exc.message}", err=True)
        raise SystemExit(inbound.exit_code(exc)) from None
    except (sa_exc.OperationalError, sa_exc.TimeoutError):
        click.echo("temporary failure: the database is unavailable", err=True)
        raise SystemExit(inbound.EX_TEMPFAIL) from None
    except Exception:
        # Whatever went wrong, the mail must not be lost: the MTA keeps it and retries.
        logging.getLogger("flask_supportdesk").exception("Ingesting a mail failed")
        click.echo("temporary failure: the mail could not be processed", err=True)
        raise SystemExit(inbound.EX_TEMPFAIL) from None
    click.echo(inbound.summary(result), err=True)
