"""Seed a bench store: N tickets, 4N messages, with the spread of a real store's history.

Rows go in with SQLAlchemy Core ``executemany`` in chunks (not through the services, which
would take hours), with explicit ids so messages and events need no round trip for the
ids of their tickets. The schema comes from the package's migrations, as
``flask supportdesk db upgrade`` makes it.

A seeded database is reused by later runs: a ``bench_meta`` table records the scale and
the seed version, and rows added by an earlier run (tickets opened through the API) are
removed before measuring, so every run measures the same data.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import fcntl
import hashlib
import random
import time
import typing as t
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from flask import Flask

from benchapp import DEPARTMENTS
from benchapp import FIRST_CUSTOMER_ID
from benchapp import STAFF
from benchapp import get_user
from flask_supportdesk import markup
from flask_supportdesk._state import get_state
from flask_supportdesk.migrations import VERSION_TABLE
from flask_supportdesk.migrations import alembic_config
from flask_supportdesk.models import Attachment
from flask_supportdesk.models import Base
from flask_supportdesk.models import Department
from flask_supportdesk.models import Event
from flask_supportdesk.models import Message
from flask_supportdesk.models import Ticket

#: Bump when the generated data changes shape: older seeded databases are rebuilt.
SEED_VERSION = 5
CHUNK = 10_000
#: Messages on the one long conversation the ticket page is measured on.
LONG_THREAD = 200
MESSAGES_PER_TICKET = 4
NUMBER_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"

meta_table = sa.Table(
    "bench_meta",
    sa.MetaData(),
    sa.Column("key", sa.String(40), primary_key=True),
    sa.Column("value", sa.String(200), nullable=False),
)

# Weighted choices, as a store sees them after two years. Tickets of the last two weeks
# are in flight; older ones are closed but for a few forgotten ones.
RECENT_DAYS = 14
RECENT_STATUSES = {"open": 25, "pending_admin": 20, "pending_customer": 25, "resolved": 20, "closed": 10}
OLD_STATUSES = {"closed": 960, "resolved": 30, "pending_customer": 5, "pending_admin": 3, "open": 2}
PRIORITIES = {"low": 20, "normal": 60, "high": 15, "urgent": 5}
SOURCES = {"customer_portal": 60, "email": 20, "chat": 10, "contact_form": 6, "api": 2, "staff": 2}
CATEGORIES = {"exchange": 15, "payment": 20, "verification": 10, "technical": 15, "general": 30, "other": 10}
ENTRY_LEVELS = {"agent": 88, "manager": 9, "owner": 3}

SUBJECTS = (
    "Where is my order {n}?", "Refund for order {n}", "Card charged twice",
    "Cannot log in to my account", "Wrong size delivered", "Parcel arrived damaged",
    "How do I change my address?", "Invoice for order {n}", "Exchange a pair of shoes",
    "Discount code does not work", "Verify my identity", "Payment failed at checkout",
    "Missing item in order {n}", "Return label please", "Question about warranty",
)
BODIES = (
    "Hello,\n\nI ordered **{n}** last week and the tracking page still says *label created*. "
    "Could you check with the courier?\n\nThanks,\n{name}",
    "Hi, the amount on my statement does not match the order total. "
    "I attach a screenshot of the bank app. Order: {n}.",
    "Thank you for your patience. I have asked the warehouse and will come back to you "
    "within one working day.\n\n- checked the order\n- opened a claim with the courier",
    "We have issued the refund; it usually takes 3-5 working days to appear. "
    "See [our refund policy](https://shop.example/refunds) for details.",
    "Still nothing here, can you please look again? This is the third time I write.",
    "Customer called again, seems upset. Courier claim #{n} open, waiting for their answer.",
    "I tried the steps you sent:\n\n1. cleared the cache\n2. reset the password\n\n"
    "and it still shows `error 403` after login.",
    "Great, that worked. You can close the ticket.",
)


@dataclasses.dataclass(frozen=True)
class Scale:
    """How much to seed."""

    tickets: int

    @property
    def messages(self) -> int:
        return self.tickets * MESSAGES_PER_TICKET

    @property
    def customers(self) -> int:
        # Five tickets per customer on average; one customer has many more.
        return max(20, self.tickets // 5)

    @property
    def heavy_customer_tickets(self) -> int:
        return max(50, self.tickets // 100)

    @property
    def key(self) -> str:
        return f"{self.tickets}t-{self.messages}m-v{SEED_VERSION}"


@dataclasses.dataclass(frozen=True)
class Seeded:
    """What the bench needs to know about a seeded store."""

    scale: Scale
    long_ticket_number: str
    heavy_customer_id: int
    max_ticket_id: int
    seed_seconds: float
    reused: bool


def _weighted(rng: random.Random, weights: dict[str, int], k: int) -> list[str]:
    return rng.choices(list(weights), weights=list(weights.values()), k=k)


def _number(rng: random.Random, taken: set[str]) -> str:
    while True:
        number = "T-" + "".join(rng.choice(NUMBER_ALPHABET) for _ in range(10))
        if number not in taken:
            taken.add(number)
            return number


def _insert(conn: sa.Connection, table: sa.Table, rows: list[dict[str, t.Any]]) -> None:
    for start in range(0, len(rows), CHUNK):
        conn.execute(table.insert(), rows[start : start + CHUNK])


def read_meta(engine: sa.Engine) -> dict[str, str]:
    """The ``bench_meta`` of a seeded database (empty when there is none)."""
    if not sa.inspect(engine).has_table("bench_meta"):
        return {}
    with engine.connect() as conn:
        # A Result has keys(), so dict() would read it as a mapping, not as pairs.
        return {key: value for key, value in conn.execute(sa.select(meta_table))}  # noqa: C416


def _drop_everything(engine: sa.Engine) -> None:
    Base.metadata.drop_all(engine)
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP TABLE IF EXISTS {VERSION_TABLE}"))
        conn.execute(sa.text("DROP TABLE IF EXISTS bench_meta"))


def _remove_run_leftovers(engine: sa.Engine, max_ticket_id: int) -> int:
    """Delete what earlier bench runs added (tickets opened through the API)."""
    with engine.begin() as conn:
        for model in (Attachment, Event):
            conn.execute(sa.delete(model.__table__).where(model.ticket_id > max_ticket_id))
        conn.execute(sa.delete(Message.__table__).where(Message.ticket_id > max_ticket_id))
        removed = conn.execute(sa.delete(Ticket.__table__).where(Ticket.id > max_ticket_id)).rowcount
    return int(removed or 0)


@contextlib.contextmanager
def _exclusive(url: str, lock_dir: Path) -> t.Iterator[None]:
    """Hold a lock per database: two runs must not seed (or drop) the same one at once."""
    lock_dir.mkdir(parents=True, exist_ok=True)
    name = hashlib.sha256(url.encode()).hexdigest()[:16]
    with open(lock_dir / f"seed-{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def ensure_seeded(
    app: Flask, scale: Scale, *, lock_dir: Path, log: t.Callable[[str], None] = print
) -> Seeded:
    """Seed the app's database at ``scale``, or reuse it when it already is."""
    with app.app_context(), _exclusive(str(get_state().db.engine.url), lock_dir):
        engine = get_state().db.engine
        meta = read_meta(engine)
        if meta.get("scale") == scale.key:
            removed = _remove_run_leftovers(engine, int(meta["max_ticket_id"]))
            if removed:
                log(f"removed {removed} tickets opened by an earlier run")
            return Seeded(
                scale,
                meta["long_ticket_number"],
                int(meta["heavy_customer_id"]),
                int(meta["max_ticket_id"]),
                float(meta["seed_seconds"]),
                reused=True,
            )
        if meta or sa.inspect(engine).has_table(Ticket.__tablename__):
            log(f"database holds another scale ({meta.get('scale', 'unknown')}): rebuilding it")
            _drop_everything(engine)
        started = time.perf_counter()
        command.upgrade(alembic_config(), "head")
        seeded = _seed(engine, scale, log=log)
        seconds = time.perf_counter() - started
        with engine.begin() as conn:
            meta_table.create(conn)
            conn.execute(
                meta_table.insert(),
                [
                    {"key": "scale", "value": scale.key},
                    {"key": "long_ticket_number", "value": seeded.long_ticket_number},
                    {"key": "heavy_customer_id", "value": str(seeded.heavy_customer_id)},
                    {"key": "max_ticket_id", "value": str(seeded.max_ticket_id)},
                    {"key": "seed_seconds", "value": f"{seconds:.1f}"},
                ],
            )
        log(f"seeded in {seconds:.1f} s")
        return dataclasses.replace(seeded, seed_seconds=seconds)


def _seed(engine: sa.Engine, scale: Scale, *, log: t.Callable[[str], None]) -> Seeded:
    rng = random.Random(20261125)
    now = dt.datetime(2026, 11, 25, 9, 0, 0)
    staff = list(STAFF.values())
    agents = [u for u in staff if u.supportdesk_role == "agent"]
    heavy_customer = FIRST_CUSTOMER_ID

    departments = [
        {"id": i, "slug": slug, "name": name, "description": f"{name} questions.",
         "is_active": True, "created_at": now - dt.timedelta(days=800)}
        for i, (slug, name) in enumerate(DEPARTMENTS, start=1)
    ]
    slug_ids = {d["slug"]: d["id"] for d in departments}

    n = scale.tickets
    recent_statuses = _weighted(rng, RECENT_STATUSES, n)
    old_statuses = _weighted(rng, OLD_STATUSES, n)
    priorities = _weighted(rng, PRIORITIES, n)
    sources = _weighted(rng, SOURCES, n)
    categories = _weighted(rng, CATEGORIES, n)
    levels = _weighted(rng, ENTRY_LEVELS, n)
    hierarchy = list(ENTRY_LEVELS)
    taken: set[str] = set()

    # Message counts: the long thread on ticket 1, the rest spread at random (>= 1 each).
    counts = [1] * n
    counts[0] = LONG_THREAD
    for _ in range(scale.messages - LONG_THREAD - (n - 1)):
        counts[rng.randrange(1, n)] += 1

    tickets: list[dict[str, t.Any]] = []
    messages: list[dict[str, t.Any]] = []
    events: list[dict[str, t.Any]] = []
    attachments: list[dict[str, t.Any]] = []
    message_id = event_id = 0
    started = time.perf_counter()
    for i in range(n):
        ticket_id = i + 1
        long_thread = i == 0
        if long_thread or i <= scale.heavy_customer_tickets:
            requester = get_user(heavy_customer)
        else:
            requester = get_user(FIRST_CUSTOMER_ID + 1 + rng.randrange(scale.customers))
        assert requester is not None
        created_at = now - dt.timedelta(seconds=rng.randrange(730 * 86400))
        recent = now - created_at < dt.timedelta(days=RECENT_DAYS)
        status = "open" if long_thread else (recent_statuses if recent else old_statuses)[i]
        entry_level = "agent" if long_thread else levels[i]
        # A few tickets were escalated above the level they entered at.
        level_index = hierarchy.index(entry_level)
        if rng.random() < 0.08 and level_index < len(hierarchy) - 1:
            level_index += 1
        department_slug = "shipping" if long_thread else (
            None if rng.random() < 0.1 else DEPARTMENTS[rng.randrange(len(DEPARTMENTS))][0]
        )
        assignee = None if rng.random() < 0.3 else agents[rng.randrange(len(agents))]
        staff_filed = sources[i] == "staff" or rng.random() < 0.03
        span = dt.timedelta(seconds=rng.randrange(1, 14 * 86400))
        updated_at = min(now, created_at + span)
        closed = status == "closed"
        reference = rng.random() < 0.3
        order = str(100000 + ticket_id)
        tickets.append({
            "id": ticket_id,
            "number": _number(rng, taken),
            "subject": SUBJECTS[rng.randrange(len(SUBJECTS))].format(n=f"#{order}"),
            "status": status,
            "priority": "high" if long_thread else priorities[i],
            "category": categories[i],
            "source": "customer_portal" if long_thread else sources[i],
            "department_id": slug_ids[department_slug] if department_slug else None,
            "requester_id": str(requester.id),
            "requester_name": requester.name,
            "requester_email": requester.email,
            "created_by_id": str(rng.choice(agents).id) if staff_filed else str(requester.id),
            "assignee_id": str(assignee.id) if assignee else None,
            "assignee_name": assignee.name if assignee else "",
            "entry_level": entry_level,
            "level": hierarchy[level_index],
            "escalated_beyond_at": None,
            "escalated_beyond_ref": None,
            "reference_kind": "order" if reference else None,
            "reference_id": order if reference else None,
            "reference_label": f"Order #{order}" if reference else None,
            "reference_url": f"/orders/{order}" if reference else None,
            "follow_up_of_id": None,
            "created_at": created_at,
            "updated_at": updated_at,
            "last_customer_reply_at": created_at,
            "first_response_at": created_at + span / 4 if counts[i] > 1 else None,
            "resolved_at": updated_at if status in ("resolved", "closed") else None,
            "closed_at": updated_at if closed else None,
        })
        event_id += 1
        events.append({
            "id": event_id, "ticket_id": ticket_id, "kind": "created",
            "actor_id": str(requester.id), "actor_name": requester.name,
            "data": {"source": tickets[-1]["source"], "follow_up_of": None},
            "created_at": created_at,
        })
        if status != "open":
            event_id += 1
            events.append({
                "id": event_id, "ticket_id": ticket_id, "kind": "status_changed",
                "actor_id": str(assignee.id) if assignee else None,
                "actor_name": assignee.name if assignee else "",
                "data": {"old": "open", "new": status}, "created_at": updated_at,
            })
        handler = assignee or agents[0]
        step = (updated_at - created_at) / counts[i]
        for k in range(counts[i]):
            message_id += 1
            from_customer = k % 2 == 0
            internal = not from_customer and rng.random() < 0.25
            author = requester if from_customer else handler
            # Unique like real messages: no cache may serve a body rendered for another.
            body = BODIES[rng.randrange(len(BODIES))].format(n=f"#{order}", name=author.name)
            body += f"\n\n_Ref. {ticket_id}-{k}-{rng.randrange(10**6):06d}_"
            messages.append({
                "id": message_id,
                "ticket_id": ticket_id,
                "channel": "internal" if internal else "public",
                "body": body,
                # Stored as the desk stores it when a message is written (Message.body_html).
                "body_html": str(markup.render(body)),
                "body_html_version": markup.RENDER_VERSION,
                "author_id": str(author.id),
                "author_name": author.name,
                "author_is_staff": not from_customer,
                "client_id": None,
                "created_at": created_at + step * k,
                "edited_at": None,
            })
            # Screenshots and invoices: on the long thread every tenth message, else 1 in 200.
            if (long_thread and k % 10 == 5) or (not long_thread and rng.random() < 0.005):
                digest = hashlib.sha256(f"{message_id}".encode()).hexdigest()
                attachments.append({
                    "message_id": message_id, "ticket_id": ticket_id,
                    "filename": f"screenshot-{message_id}.png", "content_type": "image/png",
                    "size": 20_000 + rng.randrange(500_000), "sha256": digest,
                    "storage_key": f"bench/{digest}", "created_at": created_at + step * k,
                })
    log(f"generated {len(tickets)} tickets, {len(messages)} messages, {len(events)} events, "
        f"{len(attachments)} attachments in {time.perf_counter() - started:.1f} s")

    started = time.perf_counter()
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA synchronous=OFF")
        _insert(conn, Department.__table__, departments)
        _insert(conn, Ticket.__table__, tickets)
        _insert(conn, Message.__table__, messages)
        _insert(conn, Event.__table__, events)
        _insert(conn, Attachment.__table__, attachments)
        if engine.dialect.name == "postgresql":
            # Explicit ids leave the sequences behind: new rows must not collide.
            for model in (Department, Ticket, Message, Event, Attachment):
                table = model.__tablename__
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT coalesce(max(id), 1) FROM {table}))"
                )
    log(f"inserted in {time.perf_counter() - started:.1f} s")
    if engine.dialect.name == "postgresql":
        # What autovacuum does shortly after a bulk load (statistics, and the visibility
        # map that index-only scans need); deterministic here.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    return Seeded(scale, tickets[0]["number"], heavy_customer, n, 0.0, reused=False)
