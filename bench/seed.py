"""Seed a bench store: N tickets, 4N messages, with the spread of a real store's history.

Rows go in with SQLAlchemy Core ``executemany`` in chunks (not through the services, which
would take hours), with explicit ids so messages and events need no round trip for the
ids of their tickets; on PostgreSQL with ``COPY`` (psycopg 3), the secondary indexes
built once after the load (:func:`_indexes_built_after`). The schema comes from the
package's migrations, as ``flask supportdesk db upgrade`` makes it.

Seeding is streamed: each chunk of :data:`CHUNK` tickets is generated with its messages,
events and attachments, inserted and dropped before the next, so memory stays bounded
whatever the scale (a million tickets once took 6.9 GB held in lists). Message HTML is
rendered once per body template and filled in (see :class:`_BodyRenderer`), not
rendered four million times.

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
import itertools
import random
import resource
import time
import typing as t
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from flask import Flask
from markupsafe import escape

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
from flask_supportdesk.models import Notification
from flask_supportdesk.models import Ticket
from flask_supportdesk.models import TicketRead

if t.TYPE_CHECKING:
    import psycopg

#: Bump when the generated data changes shape: older seeded databases are rebuilt.
SEED_VERSION = 6
CHUNK = 10_000
#: The conversations the ticket pages are measured on, by their number of messages;
#: they are tickets 1, 2, 3, 4 (open, in Shipping, at the agent level).
THREADS = (200, 2000, 50, 3)
MESSAGES_PER_TICKET = 4
NUMBER_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
#: Ticket numbers are a bijection of the ticket id (a multiplier prime to the alphabet's
#: powers, modulo 31**10): unique without a set of a million numbers, and not sequential.
_NUMBER_MULTIPLIER = 982_451_653
_NUMBER_OFFSET = 123_456_789
#: The search scenarios' words: one in many messages (three body templates of eight),
#: three words together in one template (common in the store, less so among the active
#: tickets of the desk's All tab), one word in a single message. Not seeded data.
COMMON_WORD = "courier"
COMMON_WORDS = "refund working days"
RARE_WORD = "zanzibar"
RARE_BODY = "My parcel was sent to Zanzibar instead of Zagreb. Can you redirect it?"

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
    #: Ticket number of each measured conversation, by its number of messages.
    threads: dict[int, str]
    heavy_customer_id: int
    max_ticket_id: int
    seed_seconds: float
    reused: bool

    @property
    def long_ticket_number(self) -> str:
        """The 200-message conversation (the ticket page of the first benchmarks)."""
        return self.threads[THREADS[0]]


class _Picker:
    """One weighted choice at a time, from weights summed once (not once per ticket)."""

    def __init__(self, weights: dict[str, int]) -> None:
        self.keys = list(weights)
        self.cumulative = list(itertools.accumulate(weights.values()))

    def __call__(self, rng: random.Random) -> str:
        return rng.choices(self.keys, cum_weights=self.cumulative)[0]


def ticket_number(ticket_id: int) -> str:
    """The public number of a seeded ticket (unique per id; see :data:`_NUMBER_MULTIPLIER`)."""
    base = len(NUMBER_ALPHABET)
    value = (ticket_id * _NUMBER_MULTIPLIER + _NUMBER_OFFSET) % base**10
    digits = []
    for _ in range(10):
        value, digit = divmod(value, base)
        digits.append(NUMBER_ALPHABET[digit])
    return "T-" + "".join(digits)


def _encode_threads(threads: dict[int, str]) -> str:
    return ",".join(f"{count}:{number}" for count, number in threads.items())


def _decode_threads(value: str) -> dict[int, str]:
    pairs = (item.split(":", 1) for item in value.split(","))
    return {int(count): number for count, number in pairs}


def _insert(conn: sa.Connection, table: sa.Table, rows: list[dict[str, t.Any]]) -> None:
    if conn.dialect.name == "postgresql":
        _copy(conn, table, rows)
        return
    for start in range(0, len(rows), CHUNK):
        conn.execute(table.insert(), rows[start : start + CHUNK])


def _copy(conn: sa.Connection, table: sa.Table, rows: list[dict[str, t.Any]]) -> None:
    """PostgreSQL: ``rows`` through ``COPY ... FROM STDIN`` (psycopg 3), in ``conn``'s transaction.

    One statement streams every row, where ``executemany`` sent them as batches of
    ``INSERT`` parameters. Each value goes through its column type's bind processor for
    the dialect first (a dict to ``Json`` for :class:`Event` data), as ``executemany``
    does. Columns the rows leave out (the attachments' ids, the generated search
    vectors) get their defaults, as with ``INSERT``.
    """
    if not rows:
        return
    dialect = conn.dialect
    columns = [
        (name, table.c[name].type.dialect_impl(dialect).bind_processor(dialect))
        for name in rows[0]
    ]
    quote = conn.dialect.identifier_preparer.quote
    names = ", ".join(quote(name) for name, _ in columns)
    statement = f"COPY {quote(table.name)} ({names}) FROM STDIN"
    driver = t.cast("psycopg.Connection[t.Any]", conn.connection.driver_connection)
    with driver.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row([
                row[name] if process is None else process(row[name]) for name, process in columns
            ])


#: The tables seeded in bulk, whose secondary indexes PostgreSQL builds after the load.
_BULK_MODELS = (Ticket, Message, Event, Attachment)


@contextlib.contextmanager
def _indexes_built_after(
    conn: sa.Connection, *, log: t.Callable[[str], None]
) -> t.Iterator[None]:
    """PostgreSQL: drop the bulk tables' secondary indexes for the load, build them after.

    As ``pg_restore`` does: an index built from the loaded rows costs a fraction of one
    fed row by row, in random order, the search vectors' GIN indexes most of all (fed
    row by row, a million-ticket seed slowed to 381 s per 100,000 tickets). The definitions
    are read from the catalogue (``pg_get_indexdef``), so the rebuilt indexes are the
    migrations' own, partial and GIN ones included. The indexes of constraints (primary
    keys, unique columns) stay: the load is checked as before. SQLite keeps its indexes.
    """
    if conn.dialect.name != "postgresql":
        yield
        return
    indexes = conn.execute(
        sa.text(
            "SELECT index.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i"
            " JOIN pg_class index ON index.oid = i.indexrelid"
            " JOIN pg_class tab ON tab.oid = i.indrelid"
            " WHERE tab.relname = ANY(:tables)"
            " AND tab.relnamespace = current_schema()::regnamespace"
            " AND NOT EXISTS (SELECT FROM pg_constraint c WHERE c.conindid = i.indexrelid)"
            " ORDER BY index.relname"
        ),
        {"tables": [model.__tablename__ for model in _BULK_MODELS]},
    ).all()
    quote = conn.dialect.identifier_preparer.quote
    for name, _ in indexes:
        conn.exec_driver_sql(f"DROP INDEX {quote(name)}")
    yield
    started = time.perf_counter()
    # The server's default (64 MB) would sort a million-row index in many passes.
    conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '512MB'")
    for _, definition in indexes:
        conn.exec_driver_sql(definition)
    log(f"{len(indexes)} indexes built in {time.perf_counter() - started:.0f} s")


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
        for model in (Attachment, Event, Message, Notification, TicketRead):
            conn.execute(sa.delete(model).where(model.ticket_id > max_ticket_id))
        removed = conn.execute(sa.delete(Ticket).where(Ticket.id > max_ticket_id)).rowcount
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
            # Migrations added since the seed (an index, say) apply to the seeded store.
            command.upgrade(alembic_config(), "head")
            removed = _remove_run_leftovers(engine, int(meta["max_ticket_id"]))
            if removed:
                log(f"removed {removed} tickets opened by an earlier run")
            return Seeded(
                scale,
                _decode_threads(meta["threads"]),
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
                    {"key": "threads", "value": _encode_threads(seeded.threads)},
                    {"key": "heavy_customer_id", "value": str(seeded.heavy_customer_id)},
                    {"key": "max_ticket_id", "value": str(seeded.max_ticket_id)},
                    {"key": "seed_seconds", "value": f"{seconds:.1f}"},
                ],
            )
        log(f"seeded in {seconds:.1f} s")
        return dataclasses.replace(seeded, seed_seconds=seconds)


class _BodyRenderer:
    """Message HTML as the desk stores it, rendered once per body template.

    A body is one of :data:`BODIES` with an order number and a name filled in, plus a
    unique reference line. Rendering the template with placeholders (plain words that
    Markdown and the sanitiser leave alone) and filling them into the HTML gives the
    same HTML as rendering each body, at a fraction of the cost; every 1,000th body is
    rendered for real and compared, so a renderer change that breaks this fails the seed.
    """

    PLACEHOLDERS: t.ClassVar[dict[str, str]] = {"n": "QQNQQ", "name": "QQNAMEQQ", "ref": "QQREFQQ"}

    def __init__(self) -> None:
        self.templates = [
            str(markup.render(self._body(body, **self.PLACEHOLDERS))) for body in BODIES
        ]
        self.rendered = 0

    @staticmethod
    def _body(template: str, *, n: str, name: str, ref: str) -> str:
        # Unique like real messages: no cache may serve a body rendered for another.
        return template.format(n=n, name=name) + f"\n\n_Ref. {ref}_"

    def body(self, index: int, *, n: str, name: str, ref: str) -> tuple[str, str]:
        """The body and its HTML."""
        body = self._body(BODIES[index], n=n, name=name, ref=ref)
        html = self.templates[index]
        for key, value in (("n", n), ("name", name), ("ref", ref)):
            html = html.replace(self.PLACEHOLDERS[key], str(escape(value)))
        self.rendered += 1
        if self.rendered % 1000 == 1 and html != str(markup.render(body)):
            raise RuntimeError(f"the cached rendering of body template {index} differs")
        return body, html


@dataclasses.dataclass
class _Chunk:
    """The rows of one chunk of tickets, inserted together and then dropped."""

    tickets: list[dict[str, t.Any]] = dataclasses.field(default_factory=list)
    messages: list[dict[str, t.Any]] = dataclasses.field(default_factory=list)
    events: list[dict[str, t.Any]] = dataclasses.field(default_factory=list)
    attachments: list[dict[str, t.Any]] = dataclasses.field(default_factory=list)

    def insert(self, conn: sa.Connection) -> None:
        # Parents first: the foreign keys are checked as each statement runs.
        _insert(conn, t.cast(sa.Table, Ticket.__table__), self.tickets)
        _insert(conn, t.cast(sa.Table, Message.__table__), self.messages)
        _insert(conn, t.cast(sa.Table, Event.__table__), self.events)
        _insert(conn, t.cast(sa.Table, Attachment.__table__), self.attachments)


def _message_counts(rng: random.Random, scale: Scale) -> list[int]:
    """Messages per ticket: the measured threads first, the rest spread at random (>= 1)."""
    n = scale.tickets
    special = THREADS[: min(len(THREADS), n)]
    counts = [*special, *([1] * (n - len(special)))]
    for _ in range(max(0, scale.messages - sum(counts))):
        counts[rng.randrange(len(special), n)] += 1
    return counts


def _seed(engine: sa.Engine, scale: Scale, *, log: t.Callable[[str], None]) -> Seeded:
    rng = random.Random(20261125)
    now = dt.datetime(2026, 11, 25, 9, 0, 0)
    staff = list(STAFF.values())
    agents = [u for u in staff if u.supportdesk_role == "agent"]
    heavy_customer = FIRST_CUSTOMER_ID
    renderer = _BodyRenderer()
    pick_recent_status, pick_old_status = _Picker(RECENT_STATUSES), _Picker(OLD_STATUSES)
    pick_level, pick_source = _Picker(ENTRY_LEVELS), _Picker(SOURCES)
    pick_priority, pick_category = _Picker(PRIORITIES), _Picker(CATEGORIES)

    departments = [
        {"id": i, "slug": slug, "name": name, "description": f"{name} questions.",
         "is_active": True, "created_at": now - dt.timedelta(days=800)}
        for i, (slug, name) in enumerate(DEPARTMENTS, start=1)
    ]
    slug_ids = {d["slug"]: d["id"] for d in departments}
    hierarchy = list(ENTRY_LEVELS)
    n = scale.tickets
    counts = _message_counts(rng, scale)
    totals = {"tickets": 0, "messages": 0, "events": 0, "attachments": 0}
    message_id = event_id = 0
    started = time.perf_counter()
    with engine.begin() as conn, _indexes_built_after(conn, log=log):
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA synchronous=OFF")
            # 256 MB of page cache instead of 2 MB: the ticket table's eight indexes
            # take rows in random order, and at a million tickets each insert read its
            # index pages back from disk (a bounded amount, like the chunks).
            conn.exec_driver_sql("PRAGMA cache_size=-262144")
        _insert(conn, t.cast(sa.Table, Department.__table__), departments)
        chunk = _Chunk()
        for i in range(n):
            ticket_id = i + 1
            measured = i < len(THREADS)
            if measured or i <= scale.heavy_customer_tickets:
                requester = get_user(heavy_customer)
            else:
                requester = get_user(FIRST_CUSTOMER_ID + 1 + rng.randrange(scale.customers))
            assert requester is not None
            created_at = now - dt.timedelta(seconds=rng.randrange(730 * 86400))
            recent = now - created_at < dt.timedelta(days=RECENT_DAYS)
            status = "open" if measured else (
                pick_recent_status if recent else pick_old_status)(rng)
            entry_level = "agent" if measured else pick_level(rng)
            # A few tickets were escalated above the level they entered at.
            level_index = hierarchy.index(entry_level)
            if rng.random() < 0.08 and level_index < len(hierarchy) - 1 and not measured:
                level_index += 1
            department_slug = "shipping" if measured else (
                None if rng.random() < 0.1 else DEPARTMENTS[rng.randrange(len(DEPARTMENTS))][0]
            )
            source = "customer_portal" if measured else pick_source(rng)
            assignee = None if rng.random() < 0.3 else agents[rng.randrange(len(agents))]
            staff_filed = source == "staff" or rng.random() < 0.03
            span = dt.timedelta(seconds=rng.randrange(1, 14 * 86400))
            updated_at = min(now, created_at + span)
            reference = rng.random() < 0.3
            order = str(100000 + ticket_id)
            chunk.tickets.append({
                "id": ticket_id,
                "number": ticket_number(ticket_id),
                "subject": SUBJECTS[rng.randrange(len(SUBJECTS))].format(n=f"#{order}"),
                "status": status,
                "priority": "high" if measured else pick_priority(rng),
                "category": pick_category(rng),
                "source": source,
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
                "closed_at": updated_at if status == "closed" else None,
            })
            event_id += 1
            chunk.events.append({
                "id": event_id, "ticket_id": ticket_id, "kind": "created",
                "actor_id": str(requester.id), "actor_name": requester.name,
                "data": {"source": source, "follow_up_of": None},
                "created_at": created_at,
            })
            if status != "open":
                event_id += 1
                chunk.events.append({
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
                body, html = renderer.body(
                    rng.randrange(len(BODIES)), n=f"#{order}", name=author.name,
                    ref=f"{ticket_id}-{k}-{rng.randrange(10**6):06d}",
                )
                if counts[i] == THREADS[-1] and measured and k == 0:
                    # The rare word of the search scenario: in this one message only.
                    body, html = RARE_BODY, str(markup.render(RARE_BODY))
                chunk.messages.append({
                    "id": message_id,
                    "ticket_id": ticket_id,
                    "channel": "internal" if internal else "public",
                    "body": body,
                    # Stored as the desk stores it when a message is written (Message.body_html).
                    "body_html": html,
                    "body_html_version": markup.RENDER_VERSION,
                    "author_id": str(author.id),
                    "author_name": author.name,
                    "author_is_staff": not from_customer,
                    "client_id": None,
                    "created_at": created_at + step * k,
                    "edited_at": None,
                })
                # Screenshots and invoices: on measured threads every tenth message, else 1 in 200.
                if (measured and k % 10 == 5) or (not measured and rng.random() < 0.005):
                    digest = hashlib.sha256(f"{message_id}".encode()).hexdigest()
                    chunk.attachments.append({
                        "message_id": message_id, "ticket_id": ticket_id,
                        "filename": f"screenshot-{message_id}.png", "content_type": "image/png",
                        "size": 20_000 + rng.randrange(500_000), "sha256": digest,
                        "storage_key": f"bench/{digest}", "created_at": created_at + step * k,
                    })
            if len(chunk.tickets) == CHUNK or ticket_id == n:
                chunk.insert(conn)
                for name in totals:
                    totals[name] += len(getattr(chunk, name))
                chunk = _Chunk()
                if ticket_id % (10 * CHUNK) == 0 or ticket_id == n:
                    log(f"{ticket_id:,} tickets in {time.perf_counter() - started:.0f} s")
        if engine.dialect.name == "postgresql":
            # Explicit ids leave the sequences behind: new rows must not collide.
            for model in (Department, Ticket, Message, Event, Attachment):
                table = model.__tablename__
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT coalesce(max(id), 1) FROM {table}))"
                )
    # ru_maxrss is in KiB on Linux: the seed's peak memory, whatever the scale.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    log(f"inserted {totals['tickets']:,} tickets, {totals['messages']:,} messages, "
        f"{totals['events']:,} events, {totals['attachments']:,} attachments in "
        f"{time.perf_counter() - started:.1f} s; peak memory {peak:.0f} MB")
    if engine.dialect.name == "postgresql":
        # What autovacuum does shortly after a bulk load (statistics, and the visibility
        # map that index-only scans need); deterministic here.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    threads = {count: ticket_number(i + 1) for i, count in enumerate(THREADS[:n])}
    return Seeded(scale, threads, heavy_customer, n, 0.0, reused=False)
