"""The unit of work: one transaction per service call, and the events it records.

A service call runs in one of two modes:

- **On its own** (the desk's pages and API, a host calling a service outside
  :func:`host_transaction`): the desk commits the session when the call succeeds and
  rolls it back when it fails. It refuses to start while the session holds the host's
  uncommitted changes, since committing or rolling back would take them along.
- **Inside** :func:`host_transaction`: the call writes in a savepoint of the host's
  transaction and commits nothing. A call that fails rolls back to its savepoint only.
  The host's ``commit()`` commits the desk's rows with its own and then announces them;
  its ``rollback()`` leaves no trace (files stored by the desk are deleted too).

Either way, the events a call records go through the app's before-commit consumers
inside the transaction and its after-commit consumers once the change is durable (see
:mod:`flask_supportdesk.events`).
"""

from __future__ import annotations

import contextlib
import typing as t

import sqlalchemy as sa
from sqlalchemy import orm

from .._state import get_state
from ..errors import UncommittedHostChanges
from ..events import DomainEvent
from ..events import run_after_commit

_JOINED = "supportdesk_joined"
_PENDING = "supportdesk_pending"
_HOST_WRITES = "supportdesk_host_writes"


class UnitOfWork:
    """What one service call changed: its events, and how to undo work outside the
    database (a stored file) if the transaction does not commit."""

    def __init__(self) -> None:
        self.events: list[DomainEvent] = []
        self._after_rollback: list[t.Callable[[], t.Any]] = []

    def record(self, event: DomainEvent) -> None:
        """Record what changed; consumed before and after commit (never on rollback)."""
        self.events.append(event)

    def after_rollback(self, func: t.Callable[[], t.Any]) -> None:
        """Undo something outside the database (a stored file) if the change is not kept."""
        self._after_rollback.append(func)

    def undo(self) -> None:
        """Run the undo steps, newest first."""
        for func in reversed(self._after_rollback):
            func()


@sa.event.listens_for(orm.Session, "after_flush")
def _note_flush(session: orm.Session, flush_context: t.Any) -> None:
    # Flushed but uncommitted rows are invisible in session.new/dirty: remember them, so
    # a desk call outside host_transaction() refuses to commit them behind the host's back.
    session.info[_HOST_WRITES] = True


@sa.event.listens_for(orm.Session, "do_orm_execute")
def _note_write(state: orm.ORMExecuteState) -> None:
    # session.execute(insert(...)) and friends write without a flush: pending work too.
    if state.is_insert or state.is_update or state.is_delete:
        state.session.info[_HOST_WRITES] = True


@sa.event.listens_for(orm.Session, "after_commit")
def _committed(session: orm.Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint released; only the host's real commit counts
    session.info.pop(_HOST_WRITES, None)
    pending: list[tuple[t.Any, UnitOfWork]] = session.info.pop(_PENDING, [])
    for consumers, uow in pending:
        run_after_commit(consumers, uow.events)


@sa.event.listens_for(orm.Session, "after_rollback")
def _rolled_back(session: orm.Session) -> None:
    if session.in_nested_transaction():
        return  # back to a savepoint: that unit undid itself already
    session.info.pop(_HOST_WRITES, None)
    for _consumers, uow in reversed(session.info.pop(_PENDING, [])):
        uow.undo()


def _has_host_changes(session: orm.Session) -> bool:
    return bool(session.new or session.dirty or session.deleted or session.info.get(_HOST_WRITES))


@contextlib.contextmanager
def transaction() -> t.Iterator[UnitOfWork]:
    """Run the block as one unit of work of the host's session (see the module doc).

    :raises UncommittedHostChanges: outside :func:`host_transaction`, the session holds
        the host's uncommitted changes.
    """
    state = get_state()
    scoped = state.db.session
    session = scoped()
    uow = UnitOfWork()
    if session.info.get(_JOINED):
        with _savepoint(session, uow):
            yield uow
            _before_commit(state, uow)
        # Announced by the host's commit, undone by its rollback (the listeners above).
        session.info.setdefault(_PENDING, []).append((state.after_commit, uow))
        return
    if _has_host_changes(session):
        raise UncommittedHostChanges()
    try:
        yield uow
        _before_commit(state, uow)
        scoped.commit()
    except BaseException:
        scoped.rollback()
        uow.undo()
        raise
    run_after_commit(state.after_commit, uow.events)


def _before_commit(state: t.Any, uow: UnitOfWork) -> None:
    for consumer in state.before_commit:
        consumer(uow.events)


@contextlib.contextmanager
def _savepoint(session: orm.Session, uow: UnitOfWork) -> t.Iterator[None]:
    if session.get_bind().dialect.name == "sqlite" and not session.info.get(_HOST_WRITES):
        # pysqlite opens a transaction only before a write statement. A SAVEPOINT outside
        # one would start its own, and releasing it would COMMIT, behind the host's back.
        session.execute(sa.text("UPDATE supportdesk_department SET id = id WHERE 0 = 1"))
    nested = session.begin_nested()
    try:
        yield
        session.flush()
    except BaseException:
        nested.rollback()
        uow.undo()
        raise
    nested.commit()


@contextlib.contextmanager
def host_transaction() -> t.Iterator[None]:
    """Make the desk calls in this block part of the host's own transaction.

    Inside the block the desk writes but never commits nor rolls back the session. Commit
    it yourself, in the block or after it: the desk's rows are committed with yours and
    its signals are sent then, once. Roll it back and nothing of the desk's is kept or
    announced. A desk call that raises inside the block undoes only its own writes (a
    savepoint), so you may catch a :class:`~flask_supportdesk.ValidationError` and go on::

        with host_transaction():
            order.status = "payment_failed"
            open_ticket(requester=customer, subject="Payment failed", body=...)
        db.session.commit()

    Blocks may be nested; the outermost one decides nothing either: the host's commit or
    rollback does.
    """
    session = get_state().db.session()
    session.info[_JOINED] = session.info.get(_JOINED, 0) + 1
    try:
        yield
    finally:
        session.info[_JOINED] -= 1
        if not session.info[_JOINED]:
            del session.info[_JOINED]
