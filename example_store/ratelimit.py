"""Rate limits on logging in (the ``limits`` library), so passwords cannot be guessed in bulk.

Every login attempt that reaches the password check counts, failed or not, against the
client's IP address and against the submitted e-mail. A successful login resets nothing:
a reset would let someone who knows one password (their own) clear the IP counter between
guesses, and nobody needs to log in five times a minute. The counters live in
``RATELIMIT_STORAGE_URI`` (``memory://`` for one process; ``redis://host:6379/0`` when
several processes serve the store, so they share the counts).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import time

from flask import Flask
from flask import current_app
from limits import RateLimitItem
from limits import parse_many
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

#: The limits per submitted e-mail (a guess at one account) and per client IP address.
EMAIL_LIMITS = "5/minute;20/hour"
IP_LIMITS = "20/minute"

_EXTENSION = "example_store.login_limiter"


@dataclasses.dataclass(frozen=True)
class LoginLimiter:
    """The login limits of one app and the storage that counts them.

    :param limiter: The ``limits`` strategy over the configured storage.
    :param per_email: Limits on attempts at one e-mail address.
    :param per_ip: Limits on attempts from one client address.
    """

    limiter: MovingWindowRateLimiter
    per_email: tuple[RateLimitItem, ...]
    per_ip: tuple[RateLimitItem, ...]

    def hit(self, email: str, ip: str) -> int | None:
        """Count one attempt; ``None`` if it is allowed, else the seconds to wait.

        :param email: The submitted e-mail address, normalised (stripped, lower case).
        :param ip: The client's address.
        """
        # Hashed: the storage never holds the e-mail, and no character in it can change
        # the shape of the storage key.
        email_key = hashlib.sha256(email.encode("utf-8")).hexdigest()
        checks = [(item, "login-ip", ip) for item in self.per_ip]
        checks += [(item, "login-email", email_key) for item in self.per_email]
        for item, *identifiers in checks:
            # Each hit is atomic in the storage, so concurrent attempts cannot overshoot.
            if not self.limiter.hit(item, *identifiers):
                reset = self.limiter.get_window_stats(item, *identifiers).reset_time
                return max(1, math.ceil(reset - time.time()))
        return None


def init_app(app: Flask) -> None:
    """Create the app's login limiter from its configuration.

    ``STORE_RATELIMIT_STORAGE_URI`` (default: the environment's ``RATELIMIT_STORAGE_URI``,
    else ``memory://``) chooses the storage, ``STORE_RATELIMIT_KEY_PREFIX`` the prefix of
    its keys in Redis (default ``example_store``).

    :param app: The store.
    :raises limits.errors.ConfigurationError: If the storage URI names no known storage.
    """
    uri = app.config.get("STORE_RATELIMIT_STORAGE_URI") or os.environ.get(
        "RATELIMIT_STORAGE_URI", "memory://"
    )
    prefix = app.config.get("STORE_RATELIMIT_KEY_PREFIX") or "example_store"
    storage = storage_from_string(uri, key_prefix=prefix)
    app.extensions[_EXTENSION] = LoginLimiter(
        limiter=MovingWindowRateLimiter(storage),
        per_email=tuple(parse_many(EMAIL_LIMITS)),
        per_ip=tuple(parse_many(IP_LIMITS)),
    )


def login_limiter() -> LoginLimiter:
    """The current app's login limiter (made by :func:`init_app`)."""
    limiter: LoginLimiter = current_app.extensions[_EXTENSION]
    return limiter
