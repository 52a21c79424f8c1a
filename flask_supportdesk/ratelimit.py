"""Rate limits: how often one party may do one thing, counted where every process sees it.

A small layer over the `limits <https://limits.readthedocs.io/>`_ package, with a moving
window: a limit such as ``5 per 15 minutes`` allows five hits in any 15 minutes. The
counts live in ``SUPPORTDESK_RATELIMIT_STORAGE_URI``: ``memory://`` (the default) counts
in the process, so it is right for one process and for tests; several processes (gunicorn
workers, hosts) must share a store, ``redis://host:6379/0``, or each would allow the
limit on its own.

Surfaces and services use one call::

    from flask_supportdesk import ratelimit

    ratelimit.hit("contact-ip", request.remote_addr, config.contact_rate_limit_per_ip)

It counts one hit on the ``contact-ip`` bucket of that key and raises
:class:`~flask_supportdesk.errors.RateLimited` (429, with the seconds to wait as
``retry_after``) when a limit of the bucket is used up. Pages show the error as a clear
message, the API as ``{"error": {"code": "rate_limited", ...}}`` with ``Retry-After``.

Every hit counts, allowed or not, and nothing resets a count early: an attempt is an
attempt (a reset would let someone who knows one right answer clear the counter between
guesses). Keys are hashed before they reach the storage, so it never holds an e-mail
address and no character of a key can change the shape of the storage key.

.. versionadded:: 0.1
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import time
import typing as t

from limits import RateLimitItem
from limits.errors import ConfigurationError as LimitsConfigurationError
from limits.storage import Storage
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from ._state import get_state
from .errors import ConfigurationError
from .errors import RateLimited
from .errors import ServiceUnavailable
from .i18n import ngettext

if t.TYPE_CHECKING:
    from .config import SupportDeskConfig

log = logging.getLogger("flask_supportdesk")


@dataclasses.dataclass(frozen=True)
class RateLimiter:
    """One app's rate limiter: the ``limits`` strategy over the configured storage.

    Made by :func:`make_limiter` at ``init_app`` time and kept on the desk's state.

    :param storage: Where the hits are counted.
    """

    storage: Storage

    @property
    def strategy(self) -> MovingWindowRateLimiter:
        """The moving-window strategy over :attr:`storage`."""
        return MovingWindowRateLimiter(self.storage)

    def hit(self, bucket: str, key: str, limits: t.Sequence[RateLimitItem]) -> int | None:
        """Count one hit of ``key`` in ``bucket`` against each of ``limits``.

        :param bucket: What is limited (``"contact-ip"``, ``"pin-customer"``): the same key
            in two buckets is counted twice, apart.
        :param key: Who is limited (an address, a user id); hashed before it is stored.
        :param limits: The limits, as the settings parse them.
        :return: ``None`` if the hit is allowed, else the seconds until it would be.
        """
        digest = _digest(key)
        strategy = self.strategy
        for item in limits:
            # Each hit is atomic in the storage: concurrent requests cannot overshoot.
            if not strategy.hit(item, bucket, digest):
                reset = strategy.get_window_stats(item, bucket, digest).reset_time
                return max(1, math.ceil(reset - time.time()))
        return None

    def remaining(self, bucket: str, key: str, limits: t.Sequence[RateLimitItem]) -> int:
        """How many hits ``key`` has left in ``bucket`` (the tightest of ``limits``);
        counts nothing."""
        digest = _digest(key)
        strategy = self.strategy
        return min(
            (strategy.get_window_stats(item, bucket, digest).remaining for item in limits),
            default=0,
        )

    def clear(self, bucket: str, key: str, limits: t.Sequence[RateLimitItem]) -> None:
        """Forget the hits of ``key`` in ``bucket`` (for the store's own tools and tests;
        the desk itself never resets a count)."""
        digest = _digest(key)
        for item in limits:
            self.strategy.clear(item, bucket, digest)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def make_limiter(config: SupportDeskConfig) -> RateLimiter:
    """The rate limiter of an app's settings (``SUPPORTDESK_RATELIMIT_STORAGE_URI`` and
    ``SUPPORTDESK_RATELIMIT_KEY_PREFIX``).

    :raises ConfigurationError: the URI names no storage ``limits`` knows, an
        asynchronous one, or one whose client library (``redis``) is not installed.
    """
    try:
        storage = storage_from_string(
            config.ratelimit_storage_uri, key_prefix=config.ratelimit_key_prefix
        )
    except LimitsConfigurationError as exc:
        raise ConfigurationError(
            f"SUPPORTDESK_RATELIMIT_STORAGE_URI={config.ratelimit_storage_uri!r} is not"
            f" valid: {exc}."
        ) from None
    if not isinstance(storage, Storage):
        # An ``async+...`` URI: the desk's requests are synchronous.
        raise ConfigurationError(
            f"SUPPORTDESK_RATELIMIT_STORAGE_URI={config.ratelimit_storage_uri!r} names an"
            " asynchronous storage; use a synchronous one (memory://, redis://...)."
        )
    return RateLimiter(storage)


def limiter() -> RateLimiter:
    """The current app's rate limiter."""
    found = get_state().limiter
    if found is None:  # pragma: no cover - init_app always makes one
        raise RuntimeError("The support desk's rate limiter was not set up.")
    return found


def hit(bucket: str, key: str, limits: t.Sequence[RateLimitItem]) -> None:
    """Count one hit of ``key`` in ``bucket`` on the current app's limiter.

    :param bucket: What is limited; use a new name for each kind of action.
    :param key: Who is limited (an e-mail address, a client IP, a user id).
    :param limits: The limits, from a setting (``config.contact_rate_limit_per_ip``).
    :raises RateLimited: a limit is used up; ``retry_after`` says when to try again.
    :raises ServiceUnavailable: the storage (Redis) cannot be reached; refused, since a
        limit that is not counted does not protect anything.
    """
    try:
        wait = limiter().hit(bucket, key, limits)
    except Exception as exc:
        # Any storage failure (redis.ConnectionError, a timeout): the request is refused
        # rather than let through uncounted.
        log.error("The rate-limit storage failed: %s", exc)
        raise ServiceUnavailable() from exc
    if wait is not None:
        error = RateLimited(too_many_message(wait))
        error.retry_after = wait
        raise error


def too_many_message(seconds: int) -> str:
    """The refusal of a used-up limit, with the wait in words (minutes, or seconds)."""
    if seconds >= 90:
        return ngettext(
            "Too many attempts. Please try again in %(num)s minute.",
            "Too many attempts. Please try again in %(num)s minutes.",
            math.ceil(seconds / 60),
        )
    return ngettext(
        "Too many attempts. Please try again in %(num)s second.",
        "Too many attempts. Please try again in %(num)s seconds.",
        seconds,
    )


__all__ = ["RateLimiter", "hit", "limiter", "make_limiter"]
