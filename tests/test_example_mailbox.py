"""The example store's demo mailbox (``STORE_DEMO_MAILBOX``): the desk's mails kept and
shown at ``/mailbox``, their links followed, a reply typed there taken as inbound mail;
off, there is no page and nothing is kept."""

from __future__ import annotations

import html
import re
import typing as t

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

pytest.importorskip("example_store", reason="pip install ./example_store")

from test_example_store import build_store
from test_example_store import close_store
from test_example_store import drop_everything
from test_example_store import form_token
from test_example_store import log_in

from example_store.cli import seed_demo
from example_store.models import DemoMail
from example_store.models import User
from example_store.models import db
from example_store.support_plugin import actor_for
from flask_supportdesk._state import get_state
from flask_supportdesk.models import Message
from flask_supportdesk.models import Ticket
from flask_supportdesk.services import delegates
from flask_supportdesk.services import messages


@pytest.fixture
def make_store(tmp_path: t.Any, monkeypatch: pytest.MonkeyPatch) -> t.Iterator[t.Any]:
    """Builds the seeded store with the given config (one per test)."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("STORE_DEMO_MAILBOX", raising=False)
    apps: list[Flask] = []

    def make(**config: t.Any) -> Flask:
        app = build_store(tmp_path, **config)
        with app.app_context():
            drop_everything()
        seed_demo(app)
        apps.append(app)
        return app

    yield make
    for app in apps:
        close_store(app)


@pytest.fixture
def mailbox(make_store: t.Any) -> Flask:
    return t.cast(Flask, make_store(STORE_DEMO_MAILBOX=True))


def _actor(email: str) -> t.Any:
    return actor_for(db.session.scalars(sa.select(User).where(User.email == email)).one())


def _ticket(subject: str) -> Ticket:
    return db.session.scalars(sa.select(Ticket).where(Ticket.subject == subject)).one()


def _latest(app: Flask, **where: t.Any) -> DemoMail:
    with app.app_context():
        mail = db.session.scalars(
            sa.select(DemoMail).filter_by(**where).order_by(DemoMail.id.desc())
        ).first()
        assert mail is not None, f"a mail with {where}"
        db.session.expunge(mail)
        return mail


def _keep(app: Flask, **fields: t.Any) -> int:
    """Keep a mail as the mailbox would (fields the test does not care about empty)."""
    defaults = {"kind": "reply_posted", "text": "", "html": "", "url": ""}
    with app.app_context():
        mail = DemoMail(**{**defaults, **fields})
        db.session.add(mail)
        db.session.commit()
        return mail.id


def _links(client: FlaskClient, mail: DemoMail) -> list[str]:
    """The links of the mail's text, as the mailbox page shows them."""
    page = client.get(f"/mailbox/{mail.id}").get_data(as_text=True)
    text = page[page.index('<pre class="store-mail-text">') :]
    text = text[: text.index("</pre>")]
    return [html.unescape(link) for link in re.findall(r'<a href="([^"]+)">', text)]


def _path(link: str) -> str:
    return re.sub(r"^https?://[^/]+", "", link)


def test_a_staff_reply_is_kept_and_listed_newest_first(mailbox: Flask) -> None:
    with mailbox.test_request_context():
        number = _ticket("My parcel has not arrived").number
        messages.post(_actor("agent@example.com"), number, "It left the depot this morning.")
    mail = _latest(mailbox, kind="reply_posted", recipient_email="alice@example.com")
    assert mail.ticket_number == number and mail.reply_address and mail.message_id
    assert "It left the depot this morning." in mail.text and mail.html

    client = mailbox.test_client()
    listing = client.get("/mailbox/").get_data(as_text=True)
    assert "Demo mailbox" in listing and html.escape(mail.subject) in listing
    first = re.search(r'href="/mailbox/(\d+)"', listing)
    assert first and int(first.group(1)) == mail.id  # newest first
    home = client.get("/").get_data(as_text=True)
    assert 'href="/mailbox/"' in home and 'href="/support/contact"' in home
    page = client.get(f"/mailbox/{mail.id}").get_data(as_text=True)
    assert "It left the depot this morning." in page
    assert any(number in link for link in _links(client, mail))


def test_a_delegate_invitation_link_from_the_mailbox_works_for_bob(mailbox: Flask) -> None:
    with mailbox.test_request_context():
        ticket = _ticket("My parcel has not arrived")
        number, subject = ticket.number, ticket.subject
        delegates.invite(_actor("alice@example.com"), number, "bob@example.com")
    mail = _latest(mailbox, kind="delegate_invited", recipient_email="bob@example.com")
    bob = mailbox.test_client()
    link = next(link for link in _links(bob, mail) if "/invitations/" in link)
    log_in(bob, "bob@example.com")
    invitation = bob.get(_path(link))
    assert invitation.status_code == 200
    accepted = bob.post(
        _path(link), data={"csrf_token": form_token(invitation.get_data(as_text=True))}
    )
    assert accepted.status_code == 302
    shared = bob.get(accepted.headers["Location"]).get_data(as_text=True)
    assert subject in shared and "Shared with you" in shared


def test_the_contact_form_works_and_its_guest_link_signs_the_guest_in(mailbox: Flask) -> None:
    guest = mailbox.test_client()
    form = guest.get("/support/contact")
    assert form.status_code == 200
    sent = guest.post(
        "/support/contact",
        data={
            "csrf_token": form_token(form.get_data(as_text=True)),
            "name": "Gina Guest",
            "email": "gina@guest.example",
            "subject": "Do you ship to Norway?",
            "body": "And how long does it take?",
            "website": "",
        },
    )
    assert sent.status_code == 302
    mail = _latest(mailbox, recipient_email="gina@guest.example")
    other = mailbox.test_client()  # another browser: the link alone signs her in
    link = next(link for link in _links(other, mail) if "/guest/" in link)
    landing = other.get(_path(link))
    if landing.status_code == 200 and "<form" in landing.get_data(as_text=True):
        # A confirmation step (a GET never signs in): press its button.
        page = landing.get_data(as_text=True)
        landing = other.post(_path(link), data={"csrf_token": form_token(page)})
    assert landing.status_code == 302
    ticket = other.get(landing.headers["Location"], follow_redirects=True)
    assert "Do you ship to Norway?" in ticket.get_data(as_text=True)


def test_a_reply_by_e_mail_from_the_mailbox_posts_into_the_ticket(mailbox: Flask) -> None:
    with mailbox.test_request_context():
        number = _ticket("My parcel has not arrived").number
        messages.post(_actor("agent@example.com"), number, "Could you check with a neighbour?")
    mail = _latest(mailbox, kind="reply_posted", recipient_email="alice@example.com")
    client = mailbox.test_client()
    page = client.get(f"/mailbox/{mail.id}").get_data(as_text=True)
    assert "Reply by e-mail" in page
    answer = client.post(
        f"/mailbox/{mail.id}/reply",
        data={"csrf_token": form_token(page), "body": "The neighbour has it. Thanks!"},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "The desk took the reply: posted" in answer
    with mailbox.app_context():
        ticket = _ticket("My parcel has not arrived")
        bodies = db.session.scalars(sa.select(Message.body).where(Message.ticket_id == ticket.id))
        assert "The neighbour has it. Thanks!" in list(bodies)
    # Without its CSRF token the form does nothing.
    client.post(f"/mailbox/{mail.id}/reply", data={"body": "Forged"})
    with mailbox.app_context():
        assert db.session.scalar(sa.select(Message.id).where(Message.body == "Forged")) is None


def test_a_refused_reply_by_e_mail_says_why(mailbox: Flask) -> None:
    mail_id = _keep(
        mailbox, key="forged", recipient_email="mallory@example.com", subject="Not ours",
        message_id="<nope@example.com>", reply_address="support+forged.token@trailhead.example",
    )  # fmt: skip
    client = mailbox.test_client()
    page = client.get(f"/mailbox/{mail_id}").get_data(as_text=True)
    answer = client.post(
        f"/mailbox/{mail_id}/reply",
        data={"csrf_token": form_token(page), "body": "Let me in"},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "The desk refused the reply" in answer


def test_the_mail_html_never_runs_script_on_the_store_origin(mailbox: Flask) -> None:
    evil = '<p>Hi</p><script>alert("store")</script><img src=x onerror="alert(1)">'
    mail_id = _keep(
        mailbox, key="evil", recipient_email="alice@example.com", html=evil,
        subject="<script>alert(2)</script>", text="<script>alert(3)</script>",
        message_id="<evil@example.com>",
    )  # fmt: skip
    client = mailbox.test_client()
    for path in ("/mailbox/", f"/mailbox/{mail_id}"):
        page = client.get(path).get_data(as_text=True)
        assert "<script>alert" not in page and "onerror" not in page
    page = client.get(f"/mailbox/{mail_id}").get_data(as_text=True)
    frame = re.search(r"<iframe[^>]*>", page)
    assert frame and 'sandbox="' in frame.group(0) and "allow-scripts" not in frame.group(0)
    assert "allow-same-origin" not in frame.group(0)
    raw = client.get(f"/mailbox/{mail_id}/html")
    policy = raw.headers["Content-Security-Policy"]
    assert policy.startswith("sandbox") and "allow-scripts" not in policy
    assert "allow-same-origin" not in policy and "script-src" not in policy
    assert "default-src 'none'" in policy
    # Its links open outside the frame (the store's pages refuse to be framed).
    assert raw.get_data(as_text=True).startswith('<base target="_blank"><p>Hi</p>')


def test_without_the_mailbox_there_is_no_page_and_nothing_is_kept(make_store: t.Any) -> None:
    store = make_store()
    with store.test_request_context():
        number = _ticket("My parcel has not arrived").number
        messages.post(_actor("agent@example.com"), number, "Nobody reads this here.")
    client = store.test_client()
    assert client.get("/mailbox/").status_code == 404
    assert client.get("/mailbox/1").status_code == 404
    assert "/mailbox" not in client.get("/").get_data(as_text=True)
    assert client.get("/support/contact").status_code == 404
    with store.app_context():
        assert db.session.scalar(sa.select(sa.func.count(DemoMail.id))) == 0


def test_the_environment_switches_the_mailbox_on(
    make_store: t.Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STORE_DEMO_MAILBOX", "1")
    store = make_store()
    assert store.test_client().get("/mailbox/").status_code == 200
    config = get_state(store).config
    assert config.contact_form_creates_ticket and config.inbound_address
    # The config key wins over the environment.
    off = make_store(STORE_DEMO_MAILBOX=False)
    assert off.test_client().get("/mailbox/").status_code == 404
