"""One transaction per service call, with work to run after commit or after rollback."""

from __future__ import annotations

import contextlib
import typing as t

from blinker import Signal
from flask import current_app

from .._state import get_state


class UnitOfWork:
    """Collects what to do once the transaction's outcome is known."""

    def __init__(self) -> None:
        self._after_commit: list[t.Callable[[], t.Any]] = []
        self._after_rollback: list[t.Callable[[], t.Any]] = []

    def after_commit(self, func: t.Callable[[], t.Any]) -> None:
        """Run ``func`` once the transaction has committed (signals, notifications)."""
        self._after_commit.append(func)

    def after_rollback(self, func: t.Callable[[], t.Any]) -> None:
        """Undo something outside the database (a stored file) if the commit fails."""
        self._after_rollback.append(func)

    def send(self, signal: Signal, **kwargs: t.Any) -> None:
        """Send ``signal`` from the app once the transaction is committed."""
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        self.after_commit(
            lambda: signal.send(app, _async_wrapper=app.ensure_sync, **kwargs)
        )


@contextlib.contextmanager
def transaction() -> t.Iterator[UnitOfWork]:
    """Run the block in one transaction of the host's session; commit or roll back."""
    session = get_state().db.session
    uow = UnitOfWork()
    try:
        yield uow
        session.commit()
    except BaseException:
        session.rollback()
        for undo in reversed(uow._after_rollback):
            undo()
        raise
    for func in uow._after_commit:
        func()
