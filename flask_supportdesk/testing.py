"""Helpers for the host's own tests (as Flask-Login ships ``FlaskLoginClient``).

:func:`record_signals` records what the desk announced while a block ran::

    from flask_supportdesk.testing import record_signals

    def test_refund_opens_a_ticket(app):
        with app.app_context(), record_signals(app) as sent:
            refunds.fail(order)
        assert sent.names() == ["ticket_opened"]
        assert sent.one("ticket_opened")["ticket"].reference_id == order.number
"""

from __future__ import annotations

import contextlib
import dataclasses
import typing as t

from flask import Flask
from flask import current_app

from . import signals


@dataclasses.dataclass
class SentSignal:
    """One signal the desk sent: its name in :mod:`flask_supportdesk.signals`, the
    sender (the app) and the keyword arguments receivers got."""

    name: str
    sender: t.Any
    kwargs: dict[str, t.Any]


@dataclasses.dataclass
class SignalRecorder:
    """What :func:`record_signals` saw, in the order it was sent."""

    sent: list[SentSignal] = dataclasses.field(default_factory=list)

    def names(self) -> list[str]:
        """The names of the signals sent, in order (``["ticket_opened", ...]``)."""
        return [signal.name for signal in self.sent]

    def of(self, name: str) -> list[dict[str, t.Any]]:
        """The keyword arguments of each time ``name`` was sent."""
        return [signal.kwargs for signal in self.sent if signal.name == name]

    def one(self, name: str) -> dict[str, t.Any]:
        """The keyword arguments of ``name``, which must have been sent exactly once.

        :raises AssertionError: it was sent never, or more than once.
        """
        found = self.of(name)
        if len(found) != 1:
            raise AssertionError(f"{name} was sent {len(found)} times: {self.names()}")
        return found[0]

    def clear(self) -> None:
        """Forget what was recorded so far."""
        self.sent.clear()


@contextlib.contextmanager
def record_signals(app: Flask | None = None) -> t.Iterator[SignalRecorder]:
    """Record every desk signal ``app`` (default: the current app) sends in the block.

    Only signals sent by that app are recorded, so tests of several apps do not mix.
    """
    if app is None:
        app = t.cast(Flask, current_app._get_current_object())  # type: ignore[attr-defined]
    recorder = SignalRecorder()
    with contextlib.ExitStack() as stack:
        for name in signals.__all__:
            signal = getattr(signals, name)

            def receive(sender: t.Any, _name: str = name, **kwargs: t.Any) -> None:
                recorder.sent.append(SentSignal(_name, sender, kwargs))

            stack.enter_context(signal.connected_to(receive, sender=app))
        yield recorder


__all__ = ["SentSignal", "SignalRecorder", "record_signals"]
