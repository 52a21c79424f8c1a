"""Attacks on the example store itself: what a black-box attack on the running store found.

Open redirects after login, cookie and header flags, guessing passwords in bulk, telling
accounts apart by timing, and user ids that are not ours reaching the store's hooks.
Runs on SQLite, or on ``SUPPORTDESK_TEST_DATABASE_URL`` (PostgreSQL) like the store's tests.
"""

from __future__ import annotations

import re
import types
import typing as t
import uuid

import pytest
import redis
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from flask_login import login_user
from limits.storage import MemoryStorage
from limits.storage import RedisStorage

pytest.importorskip("example_store", reason="pip install ./example_store")

import test_docs
import test_example_store
from test_example_store import form_token

from conftest import REDIS_URL
from example_store import create_app
from example_store import models
from example_store import ratelimit
from example_store.cli import DEMO_PASSWORD
from example_store.models import User
from example_store.models import db
from flask_supportdesk import Actor
from flask_supportdesk import Reference

# The fixtures of the store's own tests and of the README's store, shared, not copied.
store = test_example_store.store
seeded = test_example_store.seeded
readme_store = test_docs.readme_store
store_app = test_docs.store_app


def post_login(
    client: FlaskClient, email: str, password: str, *, ip: str = "198.51.100.1", **extra: str
) -> t.Any:
    """POST the login form as a browser would (CSRF token from the form's page)."""
    page = client.get("/login").get_data(as_text=True)
    data = {"email": email, "password": password, "csrf_token": form_token(page), **extra}
    return client.post("/login", data=data, environ_base={"REMOTE_ADDR": ip})


@pytest.fixture
def accounts(store: Flask) -> Flask:
    """The store with two customers and nothing else (cheaper than the demo data)."""
    with store.app_context():
        db.create_all()
        for email, name in (("bob@example.com", "Bob Brown"), ("alice@example.com", "Alice")):
            account = User(email=email, name=name)
            account.set_password(DEMO_PASSWORD)
            db.session.add(account)
        db.session.commit()
    return store


def user_id(email: str) -> str:
    return str(db.session.scalars(sa.select(User).where(User.email == email)).one().id)


# -------------------------------------------------------------------------------------
# Open redirect after login
# -------------------------------------------------------------------------------------

#: ``next`` values that must all land on the home page: whatever browsers drop, decode or
#: read as ``/`` must not turn any of them into another site.
OFF_SITE = [
    "https://evil.example/",
    "http:evil.example",
    "http:/evil.example",
    "javascript:alert(1)",
    "//evil.example",
    "///evil.example",
    "////evil.example",
    "//evil.example@store.example/",
    "/\\evil.example",
    "\\\\evil.example",
    "\\/evil.example",
    "https:\\\\evil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    "/\r\n/evil.example",
    "/login\r\nLocation: https://evil.example/",
    "/\x0b/evil.example",
    "/\x0c/evil.example",
    "/\x00/evil.example",
    " //evil.example",
    "\t//evil.example",
    "/\u202e/evil.example",
    "/\u200b/evil.example",
    "/\u3000/evil.example",
    "\uff0f\uff0fevil.example",
    "/%09/evil.example",
    "/%0a/evil.example",
    "/%0D%0A/evil.example",
    "/%2F/evil.example",
    "/%2f%2fevil.example",
    "%2F%2Fevil.example",
    "/%5Cevil.example",
    "/%5c%5cevil.example",
    "/%252F%252Fevil.example",
    "/%25252F%25252Fevil.example",
    "/%E2%80%AE/evil.example",
    "/" + "a" * 5000,
]


@pytest.mark.parametrize("target", OFF_SITE)
def test_login_next_from_the_query_never_leaves_the_site(accounts: Flask, target: str) -> None:
    client = accounts.test_client()
    form = client.get("/login", query_string={"next": target})
    assert form.status_code == 200
    page = form.get_data(as_text=True)
    # What a browser submits: the hidden field as the form carries it.
    hidden = re.search(r'id="next" name="next" type="hidden" value="([^"]*)"', page)
    assert hidden is not None
    assert hidden.group(1) == ""
    response = client.post(
        "/login",
        data={"email": "bob@example.com", "password": DEMO_PASSWORD, "next": hidden.group(1),
              "csrf_token": form_token(page)},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize("target", OFF_SITE)
def test_login_next_posted_in_the_form_never_leaves_the_site(accounts: Flask, target: str) -> None:
    response = post_login(accounts.test_client(), "bob@example.com", DEMO_PASSWORD, next=target)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_the_reported_tab_redirect(accounts: Flask) -> None:
    # The URL exactly as the attack sent it: %09 in the query is a tab in ``next``.
    client = accounts.test_client()
    page = client.get("/login?next=/%09/evil.example").get_data(as_text=True)
    response = client.post(
        "/login",
        data={"email": "bob@example.com", "password": DEMO_PASSWORD, "next": "/\t/evil.example",
              "csrf_token": form_token(page)},
    )
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize(
    "target", ["/orders", "/orders?page=2&sort=new", "/products/red%20shoe", "/support/?q=a+b"]
)
def test_login_still_returns_to_pages_of_the_site(accounts: Flask, target: str) -> None:
    client = accounts.test_client()
    page = client.get("/login", query_string={"next": target}).get_data(as_text=True)
    hidden = re.search(r'id="next" name="next" type="hidden" value="([^"]*)"', page)
    assert hidden is not None
    assert hidden.group(1).replace("&amp;", "&") == target
    response = post_login(client, "bob@example.com", DEMO_PASSWORD, next=target)
    assert response.headers["Location"] == target


# -------------------------------------------------------------------------------------
# Cookies and headers
# -------------------------------------------------------------------------------------


def cookie_header(response: t.Any, name: str) -> str:
    found = [h for h in response.headers.getlist("Set-Cookie") if h.startswith(f"{name}=")]
    assert len(found) == 1, response.headers.getlist("Set-Cookie")
    return str(found[0])


def cookie_flags(header: str) -> set[str]:
    return {part.strip().lower() for part in header.split(";")[1:]}


def remember_cookie(app: Flask) -> str:
    """The Set-Cookie of Flask-Login's remember-me cookie after a remembered login."""
    with app.test_request_context("/login", method="POST"):
        login_user(db.session.scalars(sa.select(User)).first(), remember=True)
        response = app.process_response(app.make_response("logged in"))
    return cookie_header(response, app.config.get("REMEMBER_COOKIE_NAME", "remember_token"))


def test_cookies_are_http_only_and_same_site_lax(seeded: Flask) -> None:
    response = post_login(seeded.test_client(), "alice@example.com", DEMO_PASSWORD)
    assert response.status_code == 302
    session = cookie_flags(cookie_header(response, seeded.config["SESSION_COOKIE_NAME"]))
    assert {"httponly", "samesite=lax"} <= session
    assert "secure" not in session  # the demo runs on plain http://127.0.0.1
    remember = cookie_flags(remember_cookie(seeded))
    assert {"httponly", "samesite=lax"} <= remember
    assert "secure" not in remember


def test_secure_cookies_switch_for_https(
    seeded: Flask, tmp_path: t.Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STORE_SECURE_COOKIES", "1")
    app = create_app(
        {key: seeded.config[key] for key in ("TESTING", "SECRET_KEY", "SQLALCHEMY_DATABASE_URI",
                                             "SUPPORTDESK_LOAD_ENTRY_POINTS",
                                             "SUPPORTDESK_DELIVER_IN_BACKGROUND")},
        instance_path=str(tmp_path / "https-instance"),
    )
    assert app.config["SESSION_COOKIE_SECURE"] and app.config["REMEMBER_COOKIE_SECURE"]
    client = app.test_client()
    page = client.get("/login", base_url="https://localhost").get_data(as_text=True)
    response = client.post(
        "/login",
        base_url="https://localhost",
        data={"email": "alice@example.com", "password": DEMO_PASSWORD,
              "csrf_token": form_token(page)},
    )
    assert response.status_code == 302
    session = cookie_flags(cookie_header(response, app.config["SESSION_COOKIE_NAME"]))
    assert {"secure", "httponly", "samesite=lax"} <= session
    assert {"secure", "httponly", "samesite=lax"} <= cookie_flags(remember_cookie(app))


@pytest.mark.parametrize("path", ["/", "/login", "/products/trail-runner", "/orders", "/nowhere"])
def test_store_pages_send_referrer_policy_and_frame_options(accounts: Flask, path: str) -> None:
    response = accounts.test_client().get(path)
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers.getlist("Referrer-Policy") == ["same-origin"]


# -------------------------------------------------------------------------------------
# Guessing passwords: rate limits and timing
# -------------------------------------------------------------------------------------


def assert_limited(response: t.Any) -> None:
    assert response.status_code == 429
    assert "Too many login attempts" in response.get_data(as_text=True)
    assert 1 <= int(response.headers["Retry-After"]) <= 3600


def test_login_is_limited_per_email_whatever_the_address(seeded: Flask) -> None:
    client = seeded.test_client()
    for n in range(5):
        # Each guess from another address: the limit follows the account.
        wrong = post_login(client, "Bob@Example.com ", f"guess-{n}", ip=f"203.0.113.{n}")
        assert wrong.status_code == 400
    limited = post_login(client, "bob@example.com", DEMO_PASSWORD, ip="203.0.113.99")
    assert_limited(limited)
    assert int(limited.headers["Retry-After"]) <= 60
    assert "Bob Brown" not in client.get("/").get_data(as_text=True)  # not even the right one
    # Other accounts are not locked by guesses at Bob's.
    assert post_login(client, "alice@example.com", DEMO_PASSWORD, ip="203.0.113.99").status_code == 302


def test_login_is_limited_per_client_address(seeded: Flask) -> None:
    client = seeded.test_client()
    for n in range(20):
        assert post_login(client, f"nobody{n}@example.com", "guess").status_code == 400
    assert_limited(post_login(client, "alice@example.com", DEMO_PASSWORD))
    assert post_login(client, "alice@example.com", DEMO_PASSWORD, ip="198.51.100.2").status_code == 302


def test_a_successful_login_resets_nothing(seeded: Flask) -> None:
    client = seeded.test_client()
    for n in range(4):
        assert post_login(client, "bob@example.com", f"guess-{n}").status_code == 400
    assert post_login(client, "bob@example.com", DEMO_PASSWORD).status_code == 302
    assert_limited(post_login(client, "bob@example.com", "guess-5"))


def test_the_memory_storage_is_the_default(accounts: Flask) -> None:
    with accounts.app_context():
        assert isinstance(ratelimit.login_limiter().limiter.storage, MemoryStorage)


@pytest.fixture
def redis_prefix() -> t.Iterator[str]:
    """A key prefix of this test alone in the real Redis; its keys are removed afterwards."""
    prefix = f"test-store-{uuid.uuid4().hex}"
    yield prefix
    connection = redis.Redis.from_url(REDIS_URL)
    keys = list(connection.scan_iter(f"{prefix}*"))
    if keys:
        connection.delete(*keys)
    connection.close()


def test_login_limits_are_shared_through_redis(
    seeded: Flask, redis_prefix: str, tmp_path: t.Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RATELIMIT_STORAGE_URI", REDIS_URL)
    seeded.config["STORE_RATELIMIT_KEY_PREFIX"] = redis_prefix
    ratelimit.init_app(seeded)  # as the store starts with the environment set
    # A second process of the same store: same database, same Redis.
    other = create_app(
        {**{key: seeded.config[key] for key in ("TESTING", "SECRET_KEY", "SQLALCHEMY_DATABASE_URI",
                                                "SUPPORTDESK_LOAD_ENTRY_POINTS",
                                                "SUPPORTDESK_DELIVER_IN_BACKGROUND",
                                                "STORE_PASSWORD_METHOD")},
         "STORE_RATELIMIT_KEY_PREFIX": redis_prefix},
        instance_path=str(tmp_path / "second-process"),
    )
    for app in (seeded, other):
        with app.app_context():
            assert isinstance(ratelimit.login_limiter().limiter.storage, RedisStorage)
    first, second = seeded.test_client(), other.test_client()
    for n in range(3):
        assert post_login(first, "bob@example.com", f"guess-{n}").status_code == 400
    for n in range(2):
        assert post_login(second, "bob@example.com", f"guess-{n}").status_code == 400
    assert_limited(post_login(first, "bob@example.com", DEMO_PASSWORD))
    assert_limited(post_login(second, "bob@example.com", DEMO_PASSWORD))
    assert list(redis.Redis.from_url(REDIS_URL).scan_iter(f"{redis_prefix}*"))
    # The storage never holds the e-mail itself.
    assert not any(b"bob" in key for key in redis.Redis.from_url(REDIS_URL).scan_iter(
        f"{redis_prefix}*"))


@pytest.fixture
def hash_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every password hash the store checks a login against, in order."""
    checked: list[str] = []
    real = models.check_password_hash

    def counting(pwhash: str, password: str) -> bool:
        checked.append(pwhash)
        return real(pwhash, password)

    monkeypatch.setattr(models, "check_password_hash", counting)
    return checked


def method_of(pwhash: str) -> str:
    return pwhash.split("$", 1)[0]  # werkzeug's "method$salt$hash"


def test_an_unknown_email_costs_one_hash_check_like_a_known_one(
    seeded: Flask, hash_checks: list[str]
) -> None:
    client = seeded.test_client()
    assert post_login(client, "bob@example.com", "wrong").status_code == 400
    with seeded.app_context():
        bob_hash = db.session.scalars(sa.select(User.password_hash).filter_by(
            email="bob@example.com")).one()
    assert hash_checks == [bob_hash]

    hash_checks.clear()
    assert post_login(client, "nobody@example.com", "wrong").status_code == 400
    assert len(hash_checks) == 1
    assert hash_checks[0] != bob_hash
    assert method_of(hash_checks[0]) == method_of(bob_hash) == "pbkdf2:sha256:1000"


def test_an_unknown_email_is_checked_with_the_default_method_in_production(
    seeded: Flask, hash_checks: list[str]
) -> None:
    seeded.config["STORE_PASSWORD_METHOD"] = None  # what a real deployment runs
    with seeded.test_request_context():
        assert models.check_login_password(None, "guess") is False
        alice = db.session.scalars(sa.select(User).filter_by(email="alice@example.com")).one()
        alice.set_password("new-password")
        assert models.check_login_password(alice, "new-password") is True
    assert len(hash_checks) == 2
    assert method_of(hash_checks[0]) == method_of(hash_checks[1])
    assert method_of(hash_checks[0]).startswith("scrypt")


# -------------------------------------------------------------------------------------
# User ids that are not ours reaching the hooks and the session
# -------------------------------------------------------------------------------------

NOT_OUR_IDS = ["²", "١", "1" * 40, "9" * 5000, "2147483648", "-1", "+1", "0", "01", "",  # noqa: RUF001 - a hostile id
               " 1", "1 ", "1\n", "\x00", "1\x00", "1.0", "0x1", "1e3", "１"]  # noqa: RUF001


def hooks(app: Flask) -> t.Any:
    return app.extensions["supportdesk"].hooks.pm.hook


def test_store_hooks_refuse_ids_that_are_not_ours(seeded: Flask) -> None:
    # One store for every id (the demo data is slow to make); each id in its own request.
    for value in NOT_OUR_IDS:
        with seeded.test_request_context():
            hook = hooks(seeded)
            stranger = Actor(id=value, name="Stranger", email="x@example.com", role="agent")
            assert hook.supportdesk_load_user(user_id=value) is None, repr(value)
            # Fail closed: a staff id that is not ours works in no department, not in all.
            assert hook.supportdesk_staff_departments(actor=stranger) == (), repr(value)
            assert (
                hook.supportdesk_resolve_reference(kind="order", ref="1042", actor=stranger)
                is None
            ), repr(value)
            alice = hook.supportdesk_load_user(user_id=user_id("alice@example.com"))
            assert (
                hook.supportdesk_resolve_reference(kind="order", ref=value, actor=alice) is None
            ), repr(value)


def test_store_hooks_still_answer_for_real_ids(seeded: Flask) -> None:
    with seeded.test_request_context():
        hook = hooks(seeded)
        alice = hook.supportdesk_load_user(user_id=user_id("alice@example.com"))
        assert alice == Actor(user_id("alice@example.com"), "Alice Andersen", "alice@example.com")
        assert hook.supportdesk_resolve_reference(kind="order", ref="1042", actor=alice) == (
            Reference("Order #1042", "/orders/1042")
        )
        shipping = hook.supportdesk_load_user(user_id=user_id("shipping@example.com"))
        assert hook.supportdesk_staff_departments(actor=shipping) == ("shipping",)
        agent = hook.supportdesk_load_user(user_id=user_id("agent@example.com"))
        assert hook.supportdesk_staff_departments(actor=agent) is None  # every department


def test_a_session_with_an_id_that_is_not_ours_is_anonymous(seeded: Flask) -> None:
    for value in NOT_OUR_IDS:
        client = seeded.test_client()
        with client.session_transaction() as session:
            session["_user_id"] = value
            session["_fresh"] = True
        response = client.get("/")
        assert response.status_code == 200, repr(value)
        assert "Log in" in response.get_data(as_text=True), repr(value)


@pytest.mark.parametrize("value", ["1" * 40, "2147483648"])
def test_staff_customer_page_with_a_huge_id_is_not_found(seeded: Flask, value: str) -> None:
    client = seeded.test_client()
    assert post_login(client, "agent@example.com", DEMO_PASSWORD).status_code == 302
    assert client.get(f"/staff/customers/{value}").status_code == 404


def test_readme_store_refuses_ids_that_are_not_ours(
    store_app: Flask, readme_store: types.ModuleType
) -> None:
    for value in NOT_OUR_IDS:
        with store_app.test_request_context():
            hook = hooks(store_app)
            assert hook.supportdesk_load_user(user_id=value) is None, repr(value)
            assert readme_store.load_user(value) is None, repr(value)
            alice = hook.supportdesk_load_user(user_id="1")
            assert alice is not None
            assert (
                hook.supportdesk_resolve_reference(kind="order", ref=value, actor=alice) is None
            ), repr(value)
    with store_app.test_request_context():
        alice = hooks(store_app).supportdesk_load_user(user_id="1")
        assert hooks(store_app).supportdesk_resolve_reference(
            kind="order", ref="1042", actor=alice
        ) == Reference("Order #1042", "/orders/1042")



@pytest.mark.parametrize(
    "path", ["/orders/%00", "/orders/1%0042", "/products/%00", "/products/a%00?x=1", "/?q=%00"]
)
def test_a_nul_in_a_store_url_is_not_found_never_a_500(accounts: Flask, path: str) -> None:
    client = accounts.test_client()
    assert post_login(client, "bob@example.com", DEMO_PASSWORD).status_code == 302
    assert client.get(path).status_code == 404
