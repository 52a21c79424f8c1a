"""flask_supportdesk.ratelimit: moving-window limits over memory or a real Redis shared by
several apps (processes), and what a surface shows when a limit is hit or the storage is
down (HOSTILE F1)."""

from __future__ import annotations

import typing as t

import pytest
import redis
import sqlalchemy as sa
from flask import Flask
from limits import parse_many
from limits.storage import MemoryStorage
from limits.storage import RedisStorage
from mailserver import SMTPServer

import hostapp
from conftest import REDIS_URL
from conftest import build_app
from conftest import csrf_token
from conftest import login
from conftest import two_processes
from flask_supportdesk import Reference
from flask_supportdesk import hookimpl
from flask_supportdesk import ratelimit
from flask_supportdesk._state import get_state
from flask_supportdesk.errors import ConfigurationError
from flask_supportdesk.errors import RateLimited
from flask_supportdesk.errors import ServiceUnavailable
from flask_supportdesk.models import Ticket

THREE = tuple(parse_many("3 per minute"))


def test_the_default_storage_is_the_process_memory(app: Flask) -> None:
    with app.app_context():
        assert isinstance(ratelimit.limiter().storage, MemoryStorage)


def test_a_bucket_allows_its_limit_then_says_how_long_to_wait(app: Flask) -> None:
    with app.app_context():
        limiter = ratelimit.limiter()
        assert [limiter.hit("b", "k", THREE) for _ in range(3)] == [None, None, None]
        wait = limiter.hit("b", "k", THREE)
        assert wait is not None and 1 <= wait <= 60
        assert limiter.remaining("b", "k", THREE) == 0
        # Other keys and other buckets count apart.
        assert limiter.hit("b", "other", THREE) is None
        assert limiter.hit("other-bucket", "k", THREE) is None
        limiter.clear("b", "k", THREE)
        assert limiter.remaining("b", "k", THREE) == 3


def test_hit_raises_rate_limited_with_retry_after(app: Flask) -> None:
    with app.test_request_context():
        for _ in range(3):
            ratelimit.hit("chat-visitor", "v1", THREE)
        with pytest.raises(RateLimited) as raised:
            ratelimit.hit("chat-visitor", "v1", THREE)
    error = raised.value
    assert error.status == 429 and error.code == "rate_limited"
    assert error.retry_after is not None and error.retry_after <= 60
    assert "Too many attempts. Please try again in" in error.message
    assert error.to_dict()["error"]["code"] == "rate_limited"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("SUPPORTDESK_CONTACT_RATE_LIMIT_PER_IP", "lots"),
        ("SUPPORTDESK_PIN_RATE_LIMIT_PER_STAFF", "5 per fortnight"),
        ("SUPPORTDESK_RATELIMIT_STORAGE_URI", "nosuch://x"),
        ("SUPPORTDESK_RATELIMIT_STORAGE_URI", "async+memory://"),
        ("SUPPORTDESK_PIN_LENGTH", 3),
    ],
)
def test_bad_limit_settings_fail_at_init_app(key: str, value: t.Any) -> None:
    with pytest.raises(ConfigurationError, match=key):
        hostapp.create_app({key: value})


def mail_to(smtpd: SMTPServer) -> dict[str, t.Any]:
    """The settings that mail through ``smtpd`` (the contact form needs a way to send)."""
    return {
        "SUPPORTDESK_MAIL_SERVER": "127.0.0.1",
        "SUPPORTDESK_MAIL_PORT": smtpd.port,
        "SUPPORTDESK_MAIL_DEFAULT_SENDER": "support@store.example",
    }


def test_limits_are_shared_by_processes_through_redis(
    request: pytest.FixtureRequest, tmp_path: t.Any, redis_prefix: str, smtpd: SMTPServer
) -> None:
    """Two apps on one Redis (two gunicorn workers): a flood spread over both is counted
    once, the keys hold no address, and one app's counts never reach another prefix."""
    settings = {
        "SUPPORTDESK_RATELIMIT_STORAGE_URI": REDIS_URL,
        "SUPPORTDESK_RATELIMIT_KEY_PREFIX": redis_prefix,
        "SUPPORTDESK_CONTACT_FORM_CREATES_TICKET": True,
        "SUPPORTDESK_CONTACT_RATE_LIMIT_PER_ADDRESS": "3 per hour",
        **mail_to(smtpd),
    }
    with two_processes(request, tmp_path, **settings) as (one, two):
        with one.app_context():
            assert isinstance(ratelimit.limiter().storage, RedisStorage)
        clients = [one.test_client(), two.test_client(), one.test_client()]
        for n, client in enumerate(clients):
            response = client.post("/support/contact", data={
                "name": "Flo", "email": "flood@guest.example", "subject": f"Hello {n}",
                "body": "Buy now", "csrf_token": csrf_token(client)})  # fmt: skip
            assert response.status_code == 302
        late = two.test_client()
        refused = late.post("/support/contact", data={
            "name": "Flo", "email": "flood@guest.example", "subject": "Hello 4",
            "body": "Buy now", "csrf_token": csrf_token(late)})  # fmt: skip
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 60
        keys = list(redis.Redis.from_url(REDIS_URL).scan_iter(f"{redis_prefix}*"))
        assert keys and not any(b"flood" in key or b"guest.example" in key for key in keys)
        totals = []
        for app in (one, two):
            with app.app_context():
                totals.append(get_state().db.session.scalar(sa.select(sa.func.count(Ticket.id))))
        assert sum(totals) == 3 or totals == [3, 3]  # own SQLite files, or one PostgreSQL


def test_a_storage_that_is_down_refuses_and_writes_nothing(
    request: pytest.FixtureRequest, tmp_path: t.Any, smtpd: SMTPServer
) -> None:
    """Redis unreachable: the form answers 503 (nothing saved, try again), never lets the
    submission through uncounted nor fails with a 500."""
    build = build_app(
        request, tmp_path, SUPPORTDESK_RATELIMIT_STORAGE_URI="redis://127.0.0.1:1/0",
        SUPPORTDESK_CONTACT_FORM_CREATES_TICKET=True, **mail_to(smtpd),
    )  # fmt: skip
    app = next(build)
    try:
        client = app.test_client()
        response = client.post("/support/contact", data={
            "name": "Flo", "email": "flo@guest.example", "subject": "Hi", "body": "Hello",
            "csrf_token": csrf_token(client)})  # fmt: skip
        assert response.status_code == 503 and response.headers["Retry-After"] == "5"
        with app.app_context():
            assert get_state().db.session.scalar(sa.select(sa.func.count(Ticket.id))) == 0
            with pytest.raises(ServiceUnavailable):
                ratelimit.hit("x", "y", THREE)
        assert smtpd.mails == []
    finally:
        next(build, None)


class OrderLookupLimit:
    """A host plugin that limits its own order look-ups with the desk's rate limiter."""

    @hookimpl
    def supportdesk_resolve_reference(self, kind: str, ref: str, actor: t.Any) -> Reference | None:
        ratelimit.hit("order-lookup", actor.id, tuple(parse_many("1 per minute")))
        return Reference(f"Order #{ref}")


def test_the_api_answers_a_used_up_limit_with_429_and_the_error_shape(
    request: pytest.FixtureRequest, tmp_path: t.Any
) -> None:
    build = build_app(request, tmp_path)
    app = next(build)
    try:
        app.extensions["supportdesk"].desk.register(OrderLookupLimit(), app=app)
        client = app.test_client()
        login(client, 1)
        body = {"subject": "Where is it?", "body": "Late.", "reference": {"kind": "order", "id": "7"}}
        headers = {"X-CSRFToken": csrf_token(client)}
        assert client.post("/support/api/v1/tickets", json=body, headers=headers).status_code == 201
        limited = client.post("/support/api/v1/tickets", json=body, headers=headers)
        assert limited.status_code == 429
        assert 1 <= int(limited.headers["Retry-After"]) <= 60
        error = limited.get_json()["error"]
        assert error["code"] == "rate_limited" and "Too many attempts" in error["message"]
        with app.app_context():
            assert get_state().db.session.scalar(sa.select(sa.func.count(Ticket.id))) == 1
    finally:
        next(build, None)
