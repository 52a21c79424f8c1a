"""The lists of the portal and the desk: filtered, searched, sorted and paginated in SQL.

Every list is one query with a policy filter and a page limit (plus one for counters),
so the number of queries does not grow with the rows shown.
"""

from __future__ import annotations

import dataclasses
import functools
import typing as t

import sqlalchemy as sa
from markupsafe import Markup

from .. import policy
from .._state import get_state
from ..errors import Forbidden
from ..errors import ValidationError
from ..events import DomainEvent
from ..i18n import gettext as _
from ..models import Department
from ..models import Priority
from ..models import Source
from ..models import Status
from ..models import Ticket
from ..values import Actor
from . import _validate
from . import search

T = t.TypeVar("T")

DESK_TABS = ("submitted", "mine", "assigned", "all", "closed")
#: Every status but closed: the desk's open tabs and counters. Named rather than written
#: "!= closed", so the database searches the status indexes instead of scanning them.
ACTIVE_STATUSES = tuple(status for status in Status if status is not Status.CLOSED)
#: "Not closed" in the very words of the partial index the desk's open tabs are listed
#: from (``ix_supportdesk_ticket_active_updated``, migration 0007): SQLite uses a partial
#: index only when the query's WHERE clause contains its predicate as written, and
#: neither database can match it against a bound parameter, so ``'closed'`` is a literal.
IS_ACTIVE = Ticket.status != sa.literal_column("'closed'")
#: With a search, the default order: best match first (then most recently updated).
RELEVANCE = "relevance"
#: What a row of the desk list holds: the columns the list shows, read as plain rows
#: (attribute access by these names, ``row.number``), not as ORM objects. Loading a
#: page of 26 tickets as objects, every column with its instance state, cost more than
#: the query itself; a row of fourteen columns costs a tenth of that.
DESK_ROW_COLUMNS: tuple[sa.orm.InstrumentedAttribute[t.Any], ...] = (
    Ticket.id,
    Ticket.number,
    Ticket.subject,
    Ticket.status,
    Ticket.priority,
    Ticket.department_id,
    Ticket.requester_name,
    Ticket.requester_email,
    Ticket.assignee_id,
    Ticket.assignee_name,
    Ticket.level,
    Ticket.escalated_beyond_at,
    Ticket.created_at,
    Ticket.updated_at,
)
SORTS = {
    "updated": Ticket.updated_at,
    "created": Ticket.created_at,
    "priority": Ticket.priority,
    "number": Ticket.number,
}


@dataclasses.dataclass
class Page(t.Generic[T]):
    """One page of a list."""

    items: list[T]
    page: int
    page_size: int
    has_next: bool
    #: For a search: the best matching message of each ticket shown, by ticket id, as an
    #: escaped excerpt with the matching words in ``<mark>`` (tickets found by number,
    #: subject or requester have none).
    snippets: dict[int, Markup] = dataclasses.field(default_factory=dict)

    @property
    def has_prev(self) -> bool:
        """Whether there is a page before this one."""
        return self.page > 1


@dataclasses.dataclass(frozen=True)
class TicketFilters:
    """Filters of the desk list and the API; every field optional."""

    status: Status | None = None
    priority: Priority | None = None
    department: str | None = None
    assignee: str | None = None  # a staff id, "me" or "none"
    source: Source | None = None
    q: str | None = None
    #: Only tickets this host user requested (the host's Python API; not a query param).
    requester: str | None = None

    @classmethod
    def parse(cls, args: t.Mapping[str, t.Any]) -> TicketFilters:
        """Build filters from query-string values; empty values mean "any".

        :raises ValidationError: an unknown status, priority or source.
        """

        def get(name: str) -> t.Any:
            value = args.get(name)
            return None if value in (None, "") else value

        q = get("q")
        if q is not None and (not isinstance(q, str) or len(q) > 200):
            raise ValidationError(fields={"q": _("At most 200 characters.")})
        if q is not None:
            _validate.storable(q, "q")
        department = get("department")
        if department is not None:
            if not isinstance(department, str) or len(department) > 64:
                raise ValidationError(fields={"department": _("A department slug.")})
            _validate.storable(department, "department")
        assignee = get("assignee")
        if assignee is not None:
            assignee = _validate.user_id(assignee, "assignee")
        requester = get("requester")
        if requester is not None:
            requester = _validate.user_id(requester, "requester")
        return cls(
            status=(
                None if get("status") is None else _validate.choice(Status, get("status"), "status")
            ),
            priority=None
            if get("priority") is None
            else _validate.choice(Priority, get("priority"), "priority"),
            department=department,
            assignee=assignee,
            source=(
                None if get("source") is None else _validate.choice(Source, get("source"), "source")
            ),
            q=q.strip() if q else None,
            requester=requester,
        )


def page_args(page: t.Any, page_size: t.Any = None) -> tuple[int, int]:
    """Validated page number and size.

    :param page: The page number from input (empty: the first).
    :param page_size: The page size from input (empty: ``SUPPORTDESK_PAGE_SIZE``).
    :raises ValidationError: not whole numbers, or out of range.
    """
    config = get_state().config
    try:
        page = 1 if page in (None, "") else int(page)
        size = config.page_size if page_size in (None, "") else int(page_size)
    except (TypeError, ValueError, OverflowError):  # OverflowError: int(float("inf"))
        raise ValidationError(fields={"page": _("Must be a whole number.")}) from None
    if page < 1 or page > 100_000:
        raise ValidationError(fields={"page": _("Out of range.")})
    if not 1 <= size <= config.max_page_size:
        raise ValidationError(
            fields={"page_size": _("Between 1 and %(num)s.", num=config.max_page_size)}
        )
    return page, size


def _sort(
    sort: str | None, score: sa.ColumnElement[float] | None = None
) -> t.Sequence[sa.ColumnElement[t.Any]]:
    if sort in (None, "", RELEVANCE):
        # Without a search there is no relevance: the newest activity first.
        first = () if score is None else (score.desc(),)
        return (*first, *_sort("-updated"))
    key = sort
    descending = key.startswith("-")
    column: sa.ColumnElement[t.Any] | sa.orm.QueryableAttribute[t.Any] | None
    column = SORTS.get(key.lstrip("-"))
    if column is None:
        raise ValidationError(
            fields={
                "sort": _(
                    "One of: %(allowed)s (prefix - for descending).",
                    allowed=", ".join(sorted(SORTS)),
                )
            }
        )
    if key.lstrip("-") == "priority":
        # Enum strings do not sort by rank: map them in SQL.
        column = sa.case({p.value: p.rank for p in Priority}, value=Ticket.priority)
    ordered = column.desc() if descending else column.asc()
    tie = Ticket.id.desc() if descending else Ticket.id.asc()
    return (ordered, tie)


def _paginate(
    stmt: sa.Select[t.Any],
    page: int,
    size: int,
    search_as: tuple[Actor, str] | None = None,
    *,
    whole_rows: bool = False,
) -> Page[t.Any]:
    """One page of ``stmt``'s first column (a ticket) or, with ``whole_rows``, of its
    rows (:data:`DESK_ROW_COLUMNS`); a search adds each ticket's best message id as the
    last column."""
    rows = get_state().db.session.execute(stmt.offset((page - 1) * size).limit(size + 1))
    shown = rows.all() if whole_rows else rows.unique().all()
    items: list[t.Any] = list(shown[:size]) if whole_rows else [row[0] for row in shown[:size]]
    result = Page(items, page, size, has_next=len(shown) > size)
    if search_as is not None:
        # One more statement for the whole page, whatever its length: a search's rows
        # carry each ticket's best matching message (see _search).
        actor, q = search_as
        best = {item.id: row[-1] for item, row in zip(items, shown, strict=False)}
        result.snippets = search.snippets(actor, q, best)
    return result


def _search(
    stmt: sa.Select[t.Any], actor: Actor, q: str | None, *, narrow: bool | None = None
) -> tuple[sa.Select[t.Any], sa.ColumnElement[float] | None]:
    """Only the tickets matching ``q`` (with their score and best message, for the
    snippets), or ``stmt`` as it was."""
    if not q:
        return stmt, None
    # The list's own condition goes into the search, so its candidates are this list's.
    hits = search.ticket_hits(actor, q, within=stmt.whereclause, narrow=narrow)
    joined = stmt.join(hits, hits.c.ticket_id == Ticket.id).add_columns(hits.c.message_id)
    return joined, hits.c.score


def _apply_filters(
    stmt: sa.Select[t.Any], actor: Actor, filters: TicketFilters
) -> sa.Select[t.Any]:
    if filters.status is not None:
        stmt = stmt.where(Ticket.status == filters.status)
    if filters.priority is not None:
        stmt = stmt.where(Ticket.priority == filters.priority)
    if filters.source is not None:
        stmt = stmt.where(Ticket.source == filters.source)
    if filters.requester is not None:
        stmt = stmt.where(Ticket.requester_id == filters.requester)
    if filters.department is not None:
        if filters.department == "none":
            stmt = stmt.where(Ticket.department_id.is_(None))
        else:
            stmt = stmt.where(
                Ticket.department_id.in_(
                    sa.select(Department.id).where(Department.slug == filters.department)
                )
            )
    if filters.assignee is not None:
        if filters.assignee == "none":
            stmt = stmt.where(Ticket.assignee_id.is_(None))
        else:
            assignee = actor.id if filters.assignee == "me" else filters.assignee
            stmt = stmt.where(Ticket.assignee_id == assignee)
    return stmt


def portal_tickets(
    actor: Actor,
    *,
    closed: bool = False,
    page: t.Any = 1,
    page_size: t.Any = None,
    q: t.Any = None,
) -> Page[Ticket]:
    """The actor's own tickets and those shared with them (Active or Closed), most
    recently updated first.

    :param q: Search words: the tickets whose number, subject or public messages match,
        best match first.
    :raises ValidationError: a bad page, or a search too long or not storable.
    """
    page, size = page_args(page, page_size)
    search_text = TicketFilters.parse({"q": q}).q
    status = Ticket.status == Status.CLOSED if closed else Ticket.status != Status.CLOSED
    stmt = sa.select(Ticket).where(policy.customer_filter(actor), status)
    stmt, score = _search(stmt, actor, search_text, narrow=True)  # their own tickets
    stmt = stmt.order_by(*_sort(None, score))
    return _paginate(stmt, page, size, (actor, search_text) if search_text else None)


def visible_tickets(
    actor: Actor,
    filters: TicketFilters = TicketFilters(),
    *,
    sort: str | None = None,
    page: t.Any = 1,
    page_size: t.Any = None,
    closed: bool | None = None,
) -> Page[Ticket]:
    """Every ticket the actor may see (as requester or staff), filtered: the API list.

    :param closed: ``True``: closed tickets only; ``False``: active ones only.
    """
    page, size = page_args(page, page_size)
    stmt = sa.select(Ticket).where(policy.ticket_filter(actor))
    if closed is not None:
        stmt = stmt.where(Ticket.status == Status.CLOSED if closed else IS_ACTIVE)
    stmt, score = _search(_apply_filters(stmt, actor, filters), actor, filters.q)
    stmt = stmt.order_by(*_sort(sort, score))
    return _paginate(stmt, page, size, (actor, filters.q) if filters.q else None)


def desk_tickets(
    actor: Actor,
    *,
    tab: str = "submitted",
    filters: TicketFilters = TicketFilters(),
    sort: str | None = None,
    page: t.Any = 1,
    page_size: t.Any = None,
) -> Page[sa.Row[t.Any]]:
    """A tab of the staff desk.

    - ``submitted``: open tickets at the actor's level or assigned to them;
    - ``mine``: open tickets the actor filed;
    - ``assigned``: open tickets assigned to the actor;
    - ``all``: every open ticket the actor may handle;
    - ``closed``: closed tickets the actor may handle.

    The page's items are rows of :data:`DESK_ROW_COLUMNS` (``row.number``,
    ``row.status``, ...), not :class:`~flask_supportdesk.models.Ticket` objects: what the
    list shows, without loading every ticket as an object.

    :raises Forbidden: the actor is not staff.
    :raises ValidationError: an unknown tab, sort, filter value or page.
    """
    scope = policy.staff_scope(actor)
    if scope is None:
        raise Forbidden(_("Only staff may use the desk."))
    if tab not in DESK_TABS:
        raise ValidationError(
            fields={"tab": _("One of: %(allowed)s.", allowed=", ".join(DESK_TABS))}
        )
    page, size = page_args(page, page_size)
    sqlite = get_state().db.session.get_bind().dialect.name == "sqlite"
    if filters.q:
        stmt = _desk_list(actor, scope, tab, filters, sort, sqlite=sqlite)
        stmt, score = _search(stmt, actor, filters.q)
        stmt = stmt.order_by(*_sort(sort, score))
        return _paginate(stmt, page, size, (actor, filters.q), whole_rows=True)
    stmt = _desk_list_in_order(actor, scope, tab, filters, sort, sqlite)
    return _paginate(stmt, page, size, whole_rows=True)


@functools.lru_cache(maxsize=4096)
def _desk_list_in_order(
    actor: Actor,
    scope: policy.StaffScope,
    tab: str,
    filters: TicketFilters,
    sort: str | None,
    sqlite: bool,
) -> sa.Select[t.Any]:
    # Without a search, a tab's statement depends only on these (every value is bound in
    # it): built once per process for each, since building it cost more than running
    # it. A bad sort raises, and nothing is kept.
    return _desk_list(actor, scope, tab, filters, sort, sqlite=sqlite).order_by(*_sort(sort))


def _desk_list(
    actor: Actor,
    scope: policy.StaffScope,
    tab: str,
    filters: TicketFilters,
    sort: str | None,
    *,
    sqlite: bool,
) -> sa.Select[t.Any]:
    # No join of departments: with it, SQLite joins every matching ticket before applying
    # the LIMIT (14 ms instead of 0.3 ms with 5,600 active tickets in bench/). The rows
    # carry the department's id; the desk names it from its list of departments.
    stmt = sa.select(*DESK_ROW_COLUMNS)
    reach = policy.staff_ticket_filter(actor, scope)
    if tab == "submitted":
        reach = sa.and_(reach, sa.or_(Ticket.level == scope.role, Ticket.assignee_id == actor.id))
    if tab == "closed":
        stmt = stmt.where(Ticket.status == Status.CLOSED, reach)
    else:
        stmt = stmt.where(IS_ACTIVE, _in_list_order(reach, sort, sqlite=sqlite))
    if tab == "mine":
        stmt = stmt.where(Ticket.created_by_id == actor.id)
    elif tab == "assigned":
        stmt = stmt.where(Ticket.assignee_id == actor.id)
    return _apply_filters(stmt, actor, filters)


def _in_list_order(
    condition: sa.ColumnElement[bool], sort: str | None, *, sqlite: bool
) -> sa.ColumnElement[bool]:
    """``condition``, written so SQLite lists active tickets from their index in order.

    The staff scope is a disjunction (their levels and departments, or assigned to them,
    or filed by them). Without statistics SQLite takes each side of it for selective,
    collects the matching rows from three indexes and sorts them all (17 ms for 6,000
    active tickets, growing with them) instead of walking
    ``ix_supportdesk_ticket_active_updated`` backwards and stopping after one page
    (most active tickets are in a staff member's scope). As a ``CASE`` it is a filter
    on the rows that walk reads, no index candidate. PostgreSQL has statistics and
    costs both plans; a filter the staff member picks (department, assignee) stays an
    index candidate on both.
    """
    ordered_by_update = sort in (None, "", RELEVANCE, "-updated", "updated")
    if not ordered_by_update or not sqlite:
        return condition
    return sa.case((condition, 1), else_=0) == 1


def desk_counters(actor: Actor, *, changed_at: float | None = None) -> dict[Status, int]:
    """How many tickets the staff member may handle, per status (one query, or none).

    Closed tickets are not counted (their number grows forever and the desk shows no
    counter for them): the count reads only ``ix_supportdesk_ticket_scope``. The counts
    are kept for ``SUPPORTDESK_COUNTERS_MAX_AGE`` seconds per staff member and process
    (see :mod:`._counter_cache` for why a cache and not maintained counts).

    :param changed_at: when the viewer last changed a ticket (``time.time()``); counts
        kept from before it are counted again, so one's own change always shows.
    :raises Forbidden: the actor is not staff.
    """
    scope = policy.staff_scope(actor)
    if scope is None:
        raise Forbidden(_("Only staff may use the desk."))
    state = get_state()
    departments = None if scope.departments is None else tuple(scope.departments)
    key = (actor.id, scope.roles, scope.level, departments)
    cached = state.counters.get(key, changed_at=changed_at)
    if cached is not None:
        return cached
    started = state.counters.start()
    stmt = (
        sa.select(Ticket.status, sa.func.count())
        .where(Ticket.status.in_(ACTIVE_STATUSES), policy.staff_ticket_filter(actor, scope))
        .group_by(Ticket.status)
    )
    counts = dict.fromkeys(Status, 0)
    for status, count in state.db.session.execute(stmt):
        counts[Status(status)] = count
    state.counters.put(key, counts, started, max_age=state.config.counters_max_age)
    return counts


def forget_counters(events: t.Sequence[DomainEvent]) -> None:
    """After commit: a ticket changed, so every kept count may be wrong (this process)."""
    if any(hasattr(event, "ticket") for event in events):
        get_state().counters.clear()
