"""Full-text search over tickets and the messages each actor may read.

The text index is the database's own, kept in step by the database itself, so rows
written without the ORM (bulk imports, the host's SQL, ``bench/seed.py``) are indexed
too and no consumer of domain events can forget one:

- **SQLite**: two FTS5 external-content tables, ``supportdesk_search_message`` (message
  bodies) and ``supportdesk_search_ticket`` (subject, requester name and e-mail), kept
  current by triggers on insert, update of the indexed columns, and delete.
- **PostgreSQL**: a stored, generated ``tsvector`` column of the same columns on each
  table (``supportdesk_search_vector``) with a GIN index; PostgreSQL maintains them with
  the rows.

:mod:`flask_supportdesk._search_index` holds the DDL; it runs after
``Base.metadata.create_all`` creates the message table and in migrations 0004 and 0005,
so a schema made either way is the same. Every name starts with :data:`INDEX_PREFIX`,
which the migrations' ``include_name`` leaves out of model comparisons.

A search costs the same for a common word as for a rare one: only the
:data:`CANDIDATES` newest matches of the list searched are ranked (:func:`ticket_hits`),
and the list's condition (tab, filters, policy) is applied before that cut. A customer's
candidates are drawn from their own tickets' public messages, listed before any
matching; a staff member's by walking the index's matches newest first.

User text never reaches the engine's query syntax: it is cut into words of letters and
digits (:meth:`Query.parse`), each quoted (FTS5) or used as a bare lexeme (``to_tsquery``), the
last one as a prefix (search as you type). Which messages may match is decided by
:func:`flask_supportdesk.policy.message_search_filter`, so a customer's results, their
count and their snippets never come from an internal note.
"""

from __future__ import annotations

import dataclasses
import re
import typing as t

import sqlalchemy as sa
from markupsafe import Markup
from markupsafe import escape

from .. import policy
from .._search_index import INDEX_PREFIX  # noqa: F401 - part of this module's story
from .._search_index import MESSAGE_FTS
from .._search_index import TICKET_FTS
from .._search_index import VECTOR
from .._state import get_state
from ..models import Message
from ..models import Ticket
from ..values import Actor

#: Words of a query beyond this many are ignored (each one is another index lookup).
MAX_TERMS = 12
#: How many matches a search ranks, newest first, of messages and apart of tickets
#: (subject, requester): a common word costs what a rare one does. The cut is made
#: within the list searched (tab, filters, what the actor may read), so each list
#: gets its own newest matches; an older match of a word this common may be missing.
CANDIDATES = 200
#: PostgreSQL: how many of the newest messages a search reads row by row before it asks
#: the GIN index for older matches (see :func:`_pg_newest`): a word in fewer than
#: CANDIDATES of them is looked up in the index.
RECENT_ROWS = 20_000
#: The same for tickets (subject, requester), fewer: there is one for several messages,
#: and most searches match no subject at all, so read the whole window.
RECENT_TICKETS = 5_000
#: PostgreSQL: when the recent rows held some matches but fewer than CANDIDATES, the
#: rows before them are read by id too, this many times the recent window, before the
#: GIN index is asked (see :func:`_pg_newest`): a word common in the store but less so
#: in the list searched (its active tickets, a department) is found there.
FURTHER = 4
#: A ticket found by its exact number outranks every text match.
NUMBER_SCORE = 1e9
_WORD = re.compile(r"[^\W_]+")
#: The ``message_id`` of a ticket's own match (typed: PostgreSQL's UNION needs it).
_NO_MESSAGE = sa.cast(sa.null(), sa.Integer).label("message_id")


# -------------------------------------------------------------------------------------
# Queries
# -------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Query:
    """A search as the engines get it: the user's words, the last one a prefix.

    :param text: What the user typed (stripped).
    :param words: Its words of letters and digits, lower-cased, at most :data:`MAX_TERMS`.
    """

    text: str
    words: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> Query:
        """Cut ``text`` into words; punctuation and the engines' operators are dropped."""
        words = tuple(w.lower() for w in _WORD.findall(text))[:MAX_TERMS]
        return cls(text.strip(), words)

    def _prefix_last(self) -> bool:
        # One letter as a prefix would expand to most of the vocabulary.
        return len(self.words[-1]) >= 2

    def fts5(self) -> str:
        """The FTS5 query: every word quoted (so no word is an operator), all required."""
        quoted = [f'"{w}"' for w in self.words]
        if self._prefix_last():
            quoted[-1] += "*"
        return " ".join(quoted)

    def tsquery(self) -> str:
        """The ``to_tsquery`` text: bare lexemes of letters and digits joined by ``&``."""
        words = list(self.words)
        if self._prefix_last():
            words[-1] += ":*"
        return " & ".join(words)

    def matches(self, word: str) -> bool:
        """Whether a word of a body matches one of the query's (for highlighting)."""
        word = word.lower()
        if self.words and self._prefix_last() and word.startswith(self.words[-1]):
            return True
        return word in self.words


def _dialect() -> str:
    return get_state().db.session.get_bind().dialect.name


def _newest(stmt: sa.Select[t.Any], key: sa.ColumnElement[t.Any], name: str) -> sa.Subquery:
    """The :data:`CANDIDATES` newest rows of ``stmt`` (by ``key``, an id), as a subquery."""
    return stmt.order_by(key.desc()).limit(CANDIDATES).subquery(name)


def _message_candidates(
    query: Query, actor: Actor, within: sa.ColumnElement[bool], narrow: bool
) -> sa.Select[t.Any]:
    """``(ticket_id, score, message_id)`` of the newest matching messages ``actor`` may read
    on the tickets of ``within``: at most :data:`CANDIDATES`, each scored (higher is
    better); only those are ranked.
    """
    readable = sa.and_(within, policy.message_search_filter(actor))
    if _dialect() == "sqlite":
        fts = sa.table(MESSAGE_FTS, sa.column("rowid"))
        match = sa.literal_column(MESSAGE_FTS).op("MATCH")(query.fts5())
        stmt = sa.select(
            Message.ticket_id,
            (-sa.func.bm25(sa.literal_column(MESSAGE_FTS))).label("score"),
            Message.id.label("message_id"),
        ).select_from(fts)
        if narrow:
            # A customer's readable messages are few: list them first, then keep the
            # matches among them. The unary + hides the IN from FTS5, which would run
            # the whole MATCH once per listed id instead of once.
            mine = (
                sa.select(Message.id.label("id"))
                .join(Ticket, Ticket.id == Message.ticket_id)
                .where(readable)
                .correlate(None)  # its own message table, not the outer one
                .cte("supportdesk_search_readable")
            )
            stmt = stmt.join(Message, Message.id == fts.c.rowid).where(
                match,
                sa.literal_column(f"+{MESSAGE_FTS}.rowid").in_(sa.select(mine.c.id)),
                # FTS5 reads only the part of its lists between their first and last
                # message: a customer of long ago skips every newer match.
                fts.c.rowid.between(
                    sa.select(sa.func.min(mine.c.id)).scalar_subquery(),
                    sa.select(sa.func.max(mine.c.id)).scalar_subquery(),
                ),
            )
        else:
            # FTS5 yields the matches newest first and stops at the limit; bm25() is
            # computed for the rows kept only.
            stmt = (
                stmt.join(Message, Message.id == fts.c.rowid)
                .join(Ticket, Ticket.id == Message.ticket_id)
                .where(match, readable)
            )
        return sa.select(*_newest(stmt, fts.c.rowid, "supportdesk_search_messages").c)
    vector: sa.ColumnElement[t.Any] = sa.literal_column(f"supportdesk_message.{VECTOR}")
    rows = (
        sa.select(Message.ticket_id, Message.id.label("message_id"), vector.label("vector"))
        .join(Ticket, Ticket.id == Message.ticket_id)
        .where(readable)
    )
    return _pg_newest(
        query, rows, Message.id, vector, within, narrow, "supportdesk_search_messages"
    )


def _pg_newest(
    query: Query,
    rows: sa.Select[t.Any],
    row_id: sa.orm.InstrumentedAttribute[int],
    vector: sa.ColumnElement[t.Any],
    within: sa.ColumnElement[bool],
    narrow: bool,
    name: str,
) -> sa.Select[t.Any]:
    """PostgreSQL: ``(ticket_id, score, message_id)`` of the :data:`CANDIDATES` newest
    ``rows`` whose ``vector`` matches, ranked by ``ts_rank`` of the stored vector.

    A GIN index yields every match, unordered: for a common word that is a large part
    of the table, read row by row. So the newest :data:`RECENT_ROWS` messages (or
    :data:`RECENT_TICKETS` tickets) are read newest first until enough match, and the
    index is asked only when they hold fewer than :data:`CANDIDATES` (a rare word).
    Neither way depends on the planner's guess of how common the word is (often wrong
    for several words, or for a prefix: it takes the words of "refund working days"
    for independent, and expects 1,555 matches of 50,000).

    In between, a word common in the store but less so in the list searched (the
    owner's active tickets, a department): the recent rows hold some of the list's
    matches, not enough, and the index would return every older match of the store
    (47,000 for "refund working days" among 400,000 messages) to keep the list's few.
    When the recent rows held at least the share of :data:`CANDIDATES` that a window
    :data:`FURTHER` times as long should complete, that window before them is read by
    id too, newest first, stopping at the limit; the index is asked only for what is
    still missing after it. A word with fewer matches there (a rare one) goes to the
    index at once, as before. Whichever way, the candidates are the list's newest
    matches: the same as the index alone would give, at most :data:`FURTHER` windows
    read in vain when the list's matches thin out before them.

    :param rows: ``ticket_id, message_id, vector`` of the rows that may match, joined
        and filtered by the list's condition.
    :param row_id: The id the rows are ordered by (the message's or the ticket's).
    :param within: The list's condition on tickets (already in ``rows``).
    :param narrow: The rows are few (a customer's): read them all, then match.
    """
    tsquery = _tsquery(query)
    key = "message_id" if row_id.class_ is Message else "ticket_id"  # row_id's label
    if narrow:
        # Materialized, so PostgreSQL lists the customer's rows through their tickets
        # first instead of walking every newer row of the table to find theirs.
        if key == "message_id":
            # The tickets are a CTE of their own: a plan reading a CTE is never
            # parallel, and the parallel join the planner is tempted by here is
            # several times slower on a busy server.
            listed = (
                sa.select(Ticket.id)
                .where(within)
                .cte(f"{name}_tickets")
                .prefix_with("MATERIALIZED")
            )
            rows = rows.where(Message.ticket_id.in_(sa.select(listed.c.id)))
        mine = rows.cte(f"{name}_readable").prefix_with("MATERIALIZED")
        newest = (
            sa.select(mine)
            .where(mine.c.vector.op("@@")(tsquery))
            .order_by(mine.c[key].desc())
            .limit(CANDIDATES)
            .subquery(name)
        )
    else:
        table = row_id.class_
        latest = sa.orm.aliased(table)
        window = RECENT_ROWS if key == "message_id" else RECENT_TICKETS
        boundary = sa.select(sa.func.max(latest.id) - window).scalar_subquery()
        # ts_match_vq() is the @@ operator under a name no index serves: these rows are
        # read by id, newest first, and the scan stops at the limit.
        recent = (
            rows.where(row_id > boundary, sa.func.ts_match_vq(vector, tsquery))
            .order_by(row_id.desc())
            .limit(CANDIDATES)
            .cte(f"{name}_recent")
            .prefix_with("MATERIALIZED")
        )
        found = sa.select(sa.func.count()).select_from(recent).scalar_subquery()
        # The rows before the recent ones, read the same way when the recent ones held
        # enough matches for a window FURTHER times as long to complete them (else the
        # range is empty); its limit is 0 when the recent rows sufficed.
        enough = -(-CANDIDATES // (1 + FURTHER))  # rounded up
        further = sa.case((found >= enough, boundary - window * FURTHER), else_=boundary)
        middle = (
            rows.where(row_id <= boundary, row_id > further, sa.func.ts_match_vq(vector, tsquery))
            .order_by(row_id.desc())
            .limit(sa.func.greatest(CANDIDATES - found, 0))
            .cte(f"{name}_further")
            .prefix_with("MATERIALIZED")
        )
        # Materialized and under a limit that is 0 once the rows read by id sufficed:
        # PostgreSQL then never runs the index scan at all.
        older = (
            rows.where(row_id <= further, vector.op("@@")(tsquery))
            .cte(f"{name}_older")
            .prefix_with("MATERIALIZED")
        )
        wanted = (
            CANDIDATES - found - sa.select(sa.func.count()).select_from(middle).scalar_subquery()
        )
        rest = sa.select(older).order_by(older.c[key].desc()).limit(sa.func.greatest(wanted, 0))
        newest = sa.union_all(sa.select(recent), sa.select(middle), rest).subquery(name)
    # Ranked outside the limit: ts_rank reads the stored vector of the candidates only.
    return sa.select(
        newest.c.ticket_id,
        sa.func.ts_rank(newest.c.vector, tsquery).label("score"),
        newest.c.message_id,
    )


def _tsquery(query: Query) -> sa.ColumnElement[t.Any]:
    return sa.func.to_tsquery(sa.literal_column("'simple'::regconfig"), query.tsquery())


def _ticket_candidates(
    query: Query, within: sa.ColumnElement[bool], narrow: bool
) -> sa.Select[t.Any]:
    """``(ticket_id, score, message_id)`` of the newest tickets of ``within`` whose subject,
    requester name or e-mail match: at most :data:`CANDIDATES` (``message_id`` is null).
    """
    if _dialect() == "sqlite":
        fts = sa.table(TICKET_FTS, sa.column("rowid"))
        match = sa.literal_column(TICKET_FTS).op("MATCH")(query.fts5())
        stmt = sa.select(
            fts.c.rowid.label("ticket_id"),
            (-sa.func.bm25(sa.literal_column(TICKET_FTS))).label("score"),
        ).where(match)
        if narrow:
            listed = sa.select(Ticket.id).where(within).correlate(None)
            stmt = stmt.where(sa.literal_column(f"+{TICKET_FTS}.rowid").in_(listed))
        else:
            stmt = stmt.join(Ticket, Ticket.id == fts.c.rowid).where(within)
        newest = _newest(stmt, fts.c.rowid, "supportdesk_search_tickets")
        return sa.select(newest.c.ticket_id, newest.c.score, _NO_MESSAGE)
    vector: sa.ColumnElement[t.Any] = sa.literal_column(f"supportdesk_ticket.{VECTOR}")
    rows = sa.select(Ticket.id.label("ticket_id"), _NO_MESSAGE, vector.label("vector")).where(
        within
    )
    return _pg_newest(query, rows, Ticket.id, vector, within, narrow, "supportdesk_search_tickets")


def ticket_hits(
    actor: Actor,
    text: str,
    *,
    within: sa.ColumnElement[bool] | None = None,
    narrow: bool | None = None,
) -> sa.Subquery:
    """``(ticket_id, score, message_id)`` of the tickets matching ``text`` for ``actor``.

    A ticket matches by its exact number, by words of its subject or requester, or by
    words of a message ``actor`` may read (:func:`policy.message_search_filter`); its
    score is its best match's, ``message_id`` its best matching message (``None``
    when no message matched), for :func:`snippets`.

    Only candidates are ranked: the :data:`CANDIDATES` newest matching messages and the
    :data:`CANDIDATES` newest tickets matching by subject or requester, among the
    tickets of ``within``. A word that is in every other message costs what a rare one
    does; an older match of such a word may be missing from the results.

    :param actor: Who searches.
    :param text: What they typed.
    :param within: The list's own condition on tickets (tab, filters, the actor's
        policy filter), applied before the candidates are cut, so every list gets its
        own newest matches. The caller still applies it to the tickets (a number
        matches here whatever the condition).
    :param narrow: Whether the tickets of ``within`` are few (a customer's own):
        their messages are listed first and matched among, instead of walking the
        index's matches newest first. Default: when ``actor`` is not staff.
    """
    query = Query.parse(text)
    if within is None:
        within = policy.ticket_filter(actor)
    if narrow is None:
        narrow = not policy.is_staff(actor)
    number = sa.select(
        Ticket.id.label("ticket_id"),
        sa.literal(NUMBER_SCORE).label("score"),
        _NO_MESSAGE,
    ).where(Ticket.number == query.text.upper())
    # Selects of different column types; union_all() only needs them to line up.
    parts: list[t.Any] = [number]
    if query.words:
        parts.append(_message_candidates(query, actor, within, narrow))
        parts.append(_ticket_candidates(query, within, narrow))
    union = sa.union_all(*parts).subquery("supportdesk_search_union")
    # The best message of each ticket, apart from its best score (which may be its
    # number's or subject's).
    best_message = (
        sa.func.row_number()
        .over(
            partition_by=(union.c.ticket_id, union.c.message_id.is_(None)),
            order_by=(union.c.score.desc(), union.c.message_id.desc()),
        )
        .label("position")
    )
    ranked = sa.select(union, best_message).subquery("supportdesk_search_ranked")
    return (
        sa.select(
            ranked.c.ticket_id,
            sa.func.max(ranked.c.score).label("score"),
            sa.func.max(sa.case((ranked.c.position == 1, ranked.c.message_id))).label("message_id"),
        )
        .group_by(ranked.c.ticket_id)
        .subquery("supportdesk_search_hits")
    )


def snippets(
    actor: Actor, text: str, best_messages: t.Mapping[int, int | None]
) -> dict[int, Markup]:
    """The best matching message of each ticket shown, as a highlighted snippet.

    One query whatever the number of tickets. Each message is checked again against
    :func:`policy.message_search_filter`: a message ``actor`` may not read gives no
    snippet, whoever chose it. Tickets matched by their number, subject or requester
    only have no snippet.

    :param actor: Who searches.
    :param text: What they typed.
    :param best_messages: ``message_id`` of :func:`ticket_hits` by ticket id, for the
        tickets shown (already filtered by policy).
    """
    query = Query.parse(text)
    wanted = {m: ticket for ticket, m in best_messages.items() if m is not None}
    if not query.words or not wanted:
        return {}
    # EXISTS, not a join: with a join SQLite may start from a customer's tickets (the
    # requester index) and read all their messages to find these few.
    readable = sa.exists().where(
        Ticket.id == Message.ticket_id, policy.message_search_filter(actor)
    )
    stmt = sa.select(Message.id, Message.body).where(Message.id.in_(wanted), readable)
    return {
        wanted[message_id]: highlight(body, query)
        for message_id, body in get_state().db.session.execute(stmt)
    }


#: Characters of context shown before and after the first match.
_BEFORE = 60
_AFTER = 160


def _text(text: str) -> str:
    # Line breaks and runs of spaces of the body mean nothing in a one-line excerpt.
    return str(escape(re.sub(r"\s+", " ", text)))


def highlight(body: str, query: Query) -> Markup:
    """An excerpt of ``body`` around its first match, its matching words in ``<mark>``.

    Every character of ``body`` is escaped; the only tags are the desk's own ``<mark>``.

    :param body: A message body (plain text or Markdown source, shown as text).
    :param query: The parsed search.
    """
    found = [m for m in _WORD.finditer(body) if query.matches(m.group())]
    first = found[0].start() if found else 0
    start = max(0, first - _BEFORE)
    end = min(len(body), first + _AFTER)
    # Whole words at both ends.
    while start > 0 and body[start - 1].isalnum():
        start -= 1
    while end < len(body) and body[end].isalnum():
        end += 1
    parts: list[str] = ["…" if start > 0 else ""]
    cursor = start
    for match in found:
        if match.start() < start or match.end() > end:
            continue
        parts.append(_text(body[cursor : match.start()]))
        parts.append(f"<mark>{escape(match.group())}</mark>")
        cursor = match.end()
    parts.append(_text(body[cursor:end]))
    parts.append("…" if end < len(body) else "")
    return Markup("".join(parts).strip())  # noqa: S704 - every piece escaped above
