"""Full-text search over tickets and the messages each actor may read.

The text index is the database's own, kept in step by the database itself, so rows
written without the ORM (bulk imports, the host's SQL, ``bench/seed.py``) are indexed
too and no consumer of domain events can forget one:

- **SQLite**: two FTS5 external-content tables, ``supportdesk_search_message`` (message
  bodies) and ``supportdesk_search_ticket`` (subject, requester name and e-mail), kept
  current by triggers on insert, update of the indexed columns, and delete.
- **PostgreSQL**: GIN expression indexes on ``to_tsvector('simple', ...)`` of the same
  columns; PostgreSQL maintains them with the rows.

:func:`create_index` builds both the index and its backfill; it runs after
``Base.metadata.create_all`` creates the message table and in migration 0004, so a schema
made either way is the same. Every name starts with :data:`INDEX_PREFIX`, which the
migrations' ``include_name`` leaves out of model comparisons.

User text never reaches the engine's query syntax: it is cut into words of letters and
digits (:func:`terms`), each quoted (FTS5) or used as a bare lexeme (``to_tsquery``), the
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
from .._search_index import pg_vector_sql
from .._state import get_state
from ..models import Message
from ..models import Ticket
from ..values import Actor

#: Words of a query beyond this many are ignored (each one is another index lookup).
MAX_TERMS = 12
#: A ticket found by its exact number outranks every text match.
NUMBER_SCORE = 1e9
_WORD = re.compile(r"[^\W_]+")


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


def _message_matches(query: Query) -> tuple[sa.Select[t.Any], sa.ColumnElement[float]]:
    """Messages whose body matches, and their score (higher is better)."""
    if _dialect() == "sqlite":
        fts = sa.table(MESSAGE_FTS, sa.column("rowid"))
        score = -sa.func.bm25(sa.literal_column(MESSAGE_FTS))
        stmt = (
            sa.select(Message.id)
            .select_from(fts)
            .join(Message, Message.id == fts.c.rowid)
            .where(sa.literal_column(MESSAGE_FTS).op("MATCH")(query.fts5()))
        )
        return stmt, score
    vector: sa.ColumnElement[t.Any] = sa.literal_column(pg_vector_sql(["supportdesk_message.body"]))
    tsquery = sa.func.to_tsquery(sa.literal_column("'simple'::regconfig"), query.tsquery())
    stmt = sa.select(Message.id).where(vector.op("@@")(tsquery))
    return stmt, sa.func.ts_rank(vector, tsquery)


def _ticket_text_matches(query: Query) -> sa.Select[t.Any]:
    """``(ticket_id, score)`` of tickets whose subject, requester name or e-mail match."""
    columns = ["subject", "requester_name", "requester_email"]
    if _dialect() == "sqlite":
        fts = sa.table(TICKET_FTS, sa.column("rowid"))
        return sa.select(
            fts.c.rowid.label("ticket_id"),
            (-sa.func.bm25(sa.literal_column(TICKET_FTS))).label("score"),
        ).where(sa.literal_column(TICKET_FTS).op("MATCH")(query.fts5()))
    vector: sa.ColumnElement[t.Any] = sa.literal_column(
        pg_vector_sql([f"supportdesk_ticket.{c}" for c in columns])
    )
    tsquery = sa.func.to_tsquery(sa.literal_column("'simple'::regconfig"), query.tsquery())
    return sa.select(
        Ticket.id.label("ticket_id"), sa.func.ts_rank(vector, tsquery).label("score")
    ).where(vector.op("@@")(tsquery))


def ticket_hits(actor: Actor, text: str) -> sa.Subquery:
    """``(ticket_id, score)`` of every ticket matching ``text`` for ``actor``, best first.

    A ticket matches by its exact number, by words of its subject or requester, or by
    words of a message ``actor`` may read (:func:`policy.message_search_filter`); its
    score is its best match's. The caller still restricts the tickets with its own
    policy filter (the subject of a ticket the actor may not see matches here).

    :param actor: Who searches.
    :param text: What they typed.
    """
    query = Query.parse(text)
    number = sa.select(
        Ticket.id.label("ticket_id"), sa.literal(NUMBER_SCORE).label("score")
    ).where(Ticket.number == query.text.upper())
    # Selects of different column types; union_all() only needs them to line up.
    parts: list[t.Any] = [number]
    if query.words:
        messages, score = _message_matches(query)
        parts.append(
            messages.with_only_columns(Message.ticket_id.label("ticket_id"), score.label("score"))
            .join(Ticket, Ticket.id == Message.ticket_id)
            .where(policy.message_search_filter(actor))
        )
        parts.append(_ticket_text_matches(query))
    union = sa.union_all(*parts).subquery("supportdesk_search_union")
    return (
        sa.select(union.c.ticket_id, sa.func.max(union.c.score).label("score"))
        .group_by(union.c.ticket_id)
        .subquery("supportdesk_search_hits")
    )


def snippets(actor: Actor, text: str, ticket_ids: t.Sequence[int]) -> dict[int, Markup]:
    """The best matching message of each ticket that ``actor`` may read, as a snippet.

    One query whatever the number of tickets. Tickets matched by their number, subject or
    requester only have no snippet.

    :param actor: Who searches.
    :param text: What they typed.
    :param ticket_ids: The tickets shown (already filtered by policy).
    """
    query = Query.parse(text)
    if not query.words or not ticket_ids:
        return {}
    messages, score = _message_matches(query)
    ranked = (
        messages.with_only_columns(
            Message.ticket_id,
            Message.body,
            sa.func.row_number()
            .over(partition_by=Message.ticket_id, order_by=(score.desc(), Message.id.desc()))
            .label("position"),
        )
        .join(Ticket, Ticket.id == Message.ticket_id)
        .where(Message.ticket_id.in_(ticket_ids), policy.message_search_filter(actor))
        .subquery()
    )
    stmt = sa.select(ranked.c.ticket_id, ranked.c.body).where(ranked.c.position == 1)
    return {
        ticket_id: highlight(body, query)
        for ticket_id, body in get_state().db.session.execute(stmt)
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
