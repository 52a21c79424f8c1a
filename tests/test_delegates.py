"""Delegates: invitations by e-mail, the signed single-use link, what a delegate may see
and do (the public channel, replies), revocation that counts at once, on the portal, the
desk and the API; with the hostile cases of HOSTILE.md A7, A8, B1, B6, B7 and E1."""

from __future__ import annotations

import re
import time
import typing as t

import itsdangerous
import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from test_api import Api
from test_api import as_user
from test_api import conforms
from test_concurrency import race

import hostapp
from conftest import CANARY
from conftest import CanaryTicket
from conftest import assert_no_canary
from conftest import build_app
from conftest import csrf_token
from conftest import login
from flask_supportdesk import hookimpl
from flask_supportdesk import policy
from flask_supportdesk._state import get_state
from flask_supportdesk.errors import EmailMismatch
from flask_supportdesk.errors import Forbidden
from flask_supportdesk.errors import NotFound
from flask_supportdesk.errors import TicketClosed
from flask_supportdesk.errors import TokenExpired
from flask_supportdesk.errors import TokenUsed
from flask_supportdesk.errors import ValidationError
from flask_supportdesk.models import Channel
from flask_supportdesk.models import Delegate
from flask_supportdesk.models import DelegateStatus
from flask_supportdesk.models import Event
from flask_supportdesk.models import Status
from flask_supportdesk.models import Ticket
from flask_supportdesk.services import delegates
from flask_supportdesk.services import departments
from flask_supportdesk.services import messages
from flask_supportdesk.services import tickets
from flask_supportdesk.testing import record_signals
from flask_supportdesk.values import Actor

PORTAL = "/support"
DESK = "/support/desk"


class DeliveredHere:
    """The host's own delivery (its mail service): the invitation mails it was given."""

    def __init__(self) -> None:
        self.sent: list[t.Any] = []

    @hookimpl
    def supportdesk_deliver_notification(self, notification: t.Any) -> None:
        self.sent.append(notification)


@pytest.fixture
def app(request: pytest.FixtureRequest, tmp_path: t.Any) -> t.Iterator[Flask]:
    """The test store with a delivery plugin of its own: invitations are mails, and a
    store that sends none offers none (test below)."""
    for built in build_app(request, tmp_path):
        get_state(built).desk.register(DeliveredHere(), app=built)
        yield built


@pytest.fixture
def mailless_app(request: pytest.FixtureRequest, tmp_path: t.Any) -> t.Iterator[Flask]:
    """The test store with no way to send mail (no SMTP server, no delivery plugin)."""
    yield from build_app(request, tmp_path)


def test_a_store_that_sends_no_mail_offers_no_invitation(
    mailless_app: Flask, alice: Actor
) -> None:
    """The invitation is a mail: without one, the panel says so, and an invitation
    posted anyway is a field error that writes nothing (not a promise never kept)."""
    app = mailless_app
    with app.test_request_context():
        number = tickets.open_ticket(alice, subject="Gift", body="For my brother.").number
    client = login(app.test_client(), 1)
    page = client.get(f"/support/tickets/{number}").get_data(as_text=True)
    assert "Invitations are sent by e-mail, which this store has not set up yet." in page
    assert 'name="email"' not in page
    response = client.post(
        f"/support/tickets/{number}/delegates",
        data={"email": "bob@example.com", "csrf_token": csrf_token(client)},
    )
    assert response.status_code == 400
    assert "cannot send invitations" in response.get_data(as_text=True)
    with app.app_context():
        assert get_state().db.session.scalars(sa.select(Delegate)).all() == []


@pytest.fixture(autouse=True)
def carol(monkeypatch: pytest.MonkeyPatch) -> Actor:
    """A third customer account: someone a link was not meant for."""
    user = hostapp.User(3, "Carol Other", "carol@example.com")
    monkeypatch.setitem(hostapp.USERS, 3, user)
    return user.actor


def text(response: t.Any) -> str:
    return t.cast(str, response.get_data(as_text=True))


def open_one(actor: Actor, subject: str = "Parcel missing", body: str = "It never came.") -> str:
    return tickets.open_ticket(actor, subject=subject, body=body).number


def token_of(app: Flask, delegate_id: int) -> str:
    with app.test_request_context():
        found = get_state().db.session.get(Delegate, delegate_id)
        assert found is not None
        return delegates.invitation_token(found)


def share(app: Flask, requester: Actor, number: str, invitee: Actor) -> int:
    """``requester`` invites ``invitee`` and the invitee accepts (through the services);
    the delegate's id."""
    with app.test_request_context():
        invited = delegates.invite(requester, number, invitee.email)
        return delegates.accept(invitee, delegates.invitation_token(invited)).id


def delegate_rows(app: Flask) -> list[tuple[str, str]]:
    with app.app_context():
        stmt = sa.select(Delegate.email, Delegate.status).order_by(Delegate.id)
        return [(email, status.value) for email, status in get_state().db.session.execute(stmt)]


def timeline_kinds(app: Flask, number: str) -> list[str]:
    with app.app_context():
        stmt = (
            sa.select(Event.kind)
            .join(Ticket, Ticket.id == Event.ticket_id)
            .where(Ticket.number == number)
            .order_by(Event.id)
        )
        return list(get_state().db.session.scalars(stmt))


# -------------------------------------------------------------------------------------
# Inviting
# -------------------------------------------------------------------------------------


def test_invite_accept_and_revoke_leave_a_timeline_and_signals(app, ctx, alice, bob, agent) -> None:
    number = open_one(alice)
    with record_signals(app) as sent:
        invited = delegates.invite(alice, number, "  Bob@Example.com ")
        assert invited.status is DelegateStatus.INVITED
        assert (invited.email, invited.user_id, invited.name) == ("bob@example.com", "2", "Bob Customer")
        with pytest.raises(NotFound):  # invited is not accepted: nothing to see yet
            policy.get_ticket(bob, number)
        accepted = delegates.accept(bob, delegates.invitation_token(invited))
        assert accepted.status is DelegateStatus.ACCEPTED and accepted.nonce is None
        ticket = policy.get_ticket(bob, number)
        assert policy.audience(bob, ticket) is policy.Audience.DELEGATE
        assert policy.visible_channels(bob, ticket) == (Channel.PUBLIC,)
        assert policy.settable_fields(bob, ticket) == frozenset()
        delegates.revoke(agent, number, accepted.id)
    assert sent.names() == ["delegate_invited", "delegate_accepted", "delegate_revoked"]
    assert sent.one("delegate_accepted")["actor"] == bob
    assert sent.one("delegate_revoked")["delegate"].status is DelegateStatus.REVOKED
    assert timeline_kinds(app, number)[-3:] == [
        "delegate_invited", "delegate_accepted", "delegate_revoked",
    ]  # fmt: skip
    with pytest.raises(NotFound):
        policy.get_ticket(bob, number)


def test_an_address_without_an_account_is_a_field_error(app, ctx, alice) -> None:
    number = open_one(alice)
    with pytest.raises(ValidationError) as caught:
        delegates.invite(alice, number, "nobody@example.com")
    assert "account" in caught.value.fields["email"]
    assert delegate_rows(app) == []


@pytest.mark.parametrize(
    "address",
    ["", "   ", "not-an-address", "bob@example.com, carol@example.com",
     "bob@example.com\r\nBcc: x@evil.example", "a" * 250 + "@example.com", None, 42],
)  # fmt: skip
def test_bad_addresses_are_field_errors(app, ctx, alice, address) -> None:
    number = open_one(alice)
    with pytest.raises(ValidationError) as caught:
        delegates.invite(alice, number, address)
    assert "email" in caught.value.fields
    assert delegate_rows(app) == []


def test_not_oneself_not_twice_while_active_and_again_after_revoking(app, ctx, alice, bob) -> None:
    number = open_one(alice)
    with pytest.raises(ValidationError) as caught:
        delegates.invite(alice, number, alice.email)
    assert caught.value.fields == {"email": "This is your own account."}
    first = delegates.invite(alice, number, bob.email)
    with pytest.raises(ValidationError) as caught:
        delegates.invite(alice, number, bob.email)
    assert caught.value.fields == {"email": "This account is invited already."}
    delegates.accept(bob, delegates.invitation_token(first))
    with pytest.raises(ValidationError):
        delegates.invite(alice, number, bob.email)
    delegates.revoke(alice, number, first.id)
    again = delegates.invite(alice, number, bob.email)  # a new invitation, a new row
    assert again.id != first.id
    assert delegate_rows(app) == [("bob@example.com", "revoked"), ("bob@example.com", "invited")]


def test_a_ticket_has_at_most_max_active_delegates(app, ctx, alice, monkeypatch) -> None:
    number = open_one(alice)
    for n in range(delegates.MAX_ACTIVE):
        user = hostapp.User(100 + n, f"Friend {n}", f"friend{n}@example.com")
        monkeypatch.setitem(hostapp.USERS, 100 + n, user)
        delegates.invite(alice, number, user.email)
    monkeypatch.setitem(hostapp.USERS, 99, hostapp.User(99, "One too many", "more@example.com"))
    with pytest.raises(ValidationError) as caught:
        delegates.invite(alice, number, "more@example.com")
    assert str(delegates.MAX_ACTIVE) in caught.value.fields["email"]


def test_only_the_requester_invites(app, ctx, alice, bob, carol, agent) -> None:
    number = open_one(alice)
    share(app, alice, number, bob)
    with pytest.raises(Forbidden):  # a delegate invites nobody
        delegates.invite(bob, number, carol.email)
    with pytest.raises(Forbidden):  # staff handle the ticket; the requester shares it
        delegates.invite(agent, number, carol.email)
    with pytest.raises(NotFound):  # another customer does not know the ticket exists
        delegates.invite(carol, number, "bob@example.com")
    tickets.close_ticket(alice, number)
    with pytest.raises(TicketClosed):
        delegates.invite(alice, number, carol.email)
    assert [email for email, _ in delegate_rows(app)] == ["bob@example.com"]


# -------------------------------------------------------------------------------------
# The link: signed, expiring, single use, only for the invited account (A7)
# -------------------------------------------------------------------------------------


def test_a7a_a_link_works_once(app, ctx, alice, bob) -> None:
    number = open_one(alice)
    invited = delegates.invite(alice, number, bob.email)
    token = delegates.invitation_token(invited)
    delegates.accept(bob, token)
    with pytest.raises(TokenUsed) as caught:
        delegates.accept(bob, token)
    assert (caught.value.status, caught.value.code) == (410, "token_used")


def test_a7b_an_expired_link_is_refused(app, ctx, alice, bob, monkeypatch) -> None:
    number = open_one(alice)
    invited = delegates.invite(alice, number, bob.email)
    max_age = get_state().config.delegate_invitation_max_age
    assert max_age == 72 * 3600
    signed_at = int(time.time()) - max_age - 60
    monkeypatch.setattr(itsdangerous.TimestampSigner, "get_timestamp", lambda self: signed_at)
    old = delegates.invitation_token(invited)
    monkeypatch.undo()
    with pytest.raises(TokenExpired) as caught:
        delegates.accept(bob, old)
    assert (caught.value.status, caught.value.code) == (410, "token_expired")
    assert delegate_rows(app) == [("bob@example.com", "invited")]


def test_a7c_another_account_cannot_use_the_link(app, ctx, alice, bob, carol, agent) -> None:
    number = open_one(alice)
    token = delegates.invitation_token(delegates.invite(alice, number, bob.email))
    for intruder in (carol, agent, alice, Actor.guest("bob@example.com"), Actor.system()):
        with pytest.raises(EmailMismatch) as caught:
            delegates.accept(intruder, token)
        assert (caught.value.status, caught.value.code) == (403, "email_mismatch")
    with pytest.raises(NotFound):
        policy.get_ticket(carol, number)
    delegates.accept(bob, token)  # the link still works for the invited account
    assert delegate_rows(app) == [("bob@example.com", "accepted")]


def test_a7a_two_simultaneous_accepts_one_wins(app, alice, bob) -> None:
    with app.test_request_context():
        number = open_one(alice)
        token = token_of(app, delegates.invite(alice, number, bob.email).id)
    clients = [as_user(app, bob) for _ in range(4)]
    responses = race([lambda c=c: c.post("/delegates/accept", {"token": token}) for c in clients])
    assert sorted(r.status_code for r in responses) == [200, 410, 410, 410]
    assert delegate_rows(app) == [("bob@example.com", "accepted")]
    assert timeline_kinds(app, number).count("delegate_accepted") == 1


def test_a7d_tampered_links_are_not_found(app, ctx, alice, bob) -> None:
    number = open_one(alice)
    invited = delegates.invite(alice, number, bob.email)
    token = delegates.invitation_token(invited)
    foreign = itsdangerous.URLSafeTimedSerializer("another secret", salt=delegates.SALT)
    other_salt = itsdangerous.URLSafeTimedSerializer(app.secret_key, salt="something else")
    payload = {"d": invited.id, "n": invited.nonce}
    forged = [
        "", " ", "%20", token + " ", " " + token, token.upper(), token.swapcase(),
        # A changed character inside (the last one may only carry padding bits).
        token[:-2], token[:5] + ("A" if token[5] != "A" else "B") + token[6:], "x" * 600,
        foreign.dumps(payload), other_salt.dumps(payload),
        delegates._serializer().dumps({"d": invited.id, "n": "guessed"}),
        delegates._serializer().dumps({"d": "1 OR 1=1", "n": invited.nonce}),
        delegates._serializer().dumps([invited.id]), None, 7,
    ]  # fmt: skip
    for bad in forged:
        with pytest.raises((NotFound, TokenUsed)) as caught:
            delegates.accept(bob, bad)
        # A valid signature of a wrong nonce is "used" (410); anything else is 404.
        assert caught.value.status in (404, 410), bad
    assert delegate_rows(app) == [("bob@example.com", "invited")]
    delegates.accept(bob, token)


def test_a_revoked_invitation_link_no_longer_works(app, ctx, alice, bob) -> None:
    number = open_one(alice)
    invited = delegates.invite(alice, number, bob.email)
    token = delegates.invitation_token(invited)
    delegates.revoke(alice, number, invited.id)
    with pytest.raises(TokenUsed):
        delegates.accept(bob, token)
    with pytest.raises(NotFound):
        policy.get_ticket(bob, number)


def test_a7_over_http_the_api_answers_the_error_codes(app, alice, bob, carol) -> None:
    with app.test_request_context():
        number = open_one(alice)
        invited = delegates.invite(alice, number, bob.email)
        token = delegates.invitation_token(invited)
    wrong = as_user(app, carol).post("/delegates/accept", {"token": token})
    assert wrong.status_code == 403 and wrong.json["error"]["code"] == "email_mismatch"
    for bad in ("", " ", token + "x"):
        response = as_user(app, bob).post("/delegates/accept", {"token": bad})
        assert response.status_code in (400, 404), bad
        assert response.json["error"]["code"] in ("validation_error", "not_found")
    bob_api = as_user(app, bob)
    accepted = bob_api.post("/delegates/accept", {"token": token})
    assert accepted.status_code == 200, accepted.json
    assert accepted.json["number"] == number
    conforms(app, accepted.json, "CustomerTicket")
    again = bob_api.post("/delegates/accept", {"token": token})
    assert again.status_code == 410 and again.json["error"]["code"] == "token_used"
    extra = bob_api.post("/delegates/accept", {"token": token, "ticket": number})
    assert extra.status_code == 400 and extra.json["error"]["code"] == "forbidden_field"


def test_the_accept_page_confirms_before_accepting(app, alice, bob, carol) -> None:
    with app.test_request_context():
        number = open_one(alice, subject="Shared parcel")
        token = token_of(app, delegates.invite(alice, number, bob.email).id)
    url = f"{PORTAL}/invitations/{token}"
    anonymous = app.test_client().get(url)
    assert anonymous.status_code == 401  # the host has no login view: the desk's 401 page
    app.login_manager.login_view = "index"  # type: ignore[attr-defined]
    redirected = app.test_client().get(url)
    assert redirected.status_code == 302
    assert "next=" in redirected.headers["Location"]
    assert f"%2Finvitations%2F{token}" in redirected.headers["Location"]

    wrong = login(app.test_client(), carol)
    assert wrong.get(url).status_code == 403
    assert wrong.post(url, data={"csrf_token": csrf_token(wrong)}).status_code == 403

    client = login(app.test_client(), bob)
    page = client.get(url)
    assert page.status_code == 200
    assert "Alice Customer" in text(page) and number in text(page)
    assert delegate_rows(app) == [("bob@example.com", "invited")]  # GET changed nothing
    done = client.post(url, data={"csrf_token": csrf_token(client)})
    assert done.status_code == 302 and done.headers["Location"].endswith(f"/tickets/{number}")
    assert delegate_rows(app) == [("bob@example.com", "accepted")]
    assert client.get(url).status_code == 410
    for bad in ("%20", token[:-3], "x"):
        assert client.get(f"{PORTAL}/invitations/{bad}").status_code == 404


# -------------------------------------------------------------------------------------
# What a delegate sees and does (A8, B1, B6, B7)
# -------------------------------------------------------------------------------------


def test_the_dashboard_marks_shared_tickets(app, alice, bob) -> None:
    with app.test_request_context():
        shared = open_one(alice, subject="Shared parcel of Alice")
        open_one(alice, subject="Private parcel of Alice")
        own = open_one(bob, subject="Own parcel of Bob")
        share(app, alice, shared, bob)
    bob_list = text(login(app.test_client(), bob).get(f"{PORTAL}/"))
    assert "Shared parcel of Alice" in bob_list and "Own parcel of Bob" in bob_list
    assert "Private parcel of Alice" not in bob_list
    assert bob_list.count("Shared with you") == 1
    row = bob_list[bob_list.index(shared) : bob_list.index("</tr>", bob_list.index(shared))]
    assert "Shared with you" in row and own not in row
    alice_list = text(login(app.test_client(), alice).get(f"{PORTAL}/"))
    assert "Shared with you" not in alice_list
    found = text(login(app.test_client(), bob).get(f"{PORTAL}/?q=shared"))
    assert shared in found and "Shared with you" in found


def test_a8_a_delegate_reads_and_replies_and_the_ticket_awaits_support(
    app, alice, bob, agent
) -> None:
    with app.test_request_context():
        number = open_one(alice)
        messages.post_message(agent, number, "We sent a new one.")
        share(app, alice, number, bob)
    client = login(app.test_client(), bob)
    page = text(client.get(f"{PORTAL}/tickets/{number}"))
    assert "We sent a new one." in page and "Shared with you" in page
    assert "Close ticket" not in page and "Edit subject" not in page
    assert "Invite" not in page and 'id="delegates"' not in page
    sent = client.post(
        f"{PORTAL}/tickets/{number}/reply",
        data={"body": "I am Alice's husband: it has not arrived.", "csrf_token": csrf_token(client)},
    )
    assert sent.status_code == 302
    with app.app_context():
        ticket = get_state().db.session.scalars(sa.select(Ticket).filter_by(number=number)).one()
        assert ticket.status is Status.PENDING_ADMIN
        last = messages.list_messages(Actor.system(), ticket)[-1]
        assert (last.author_id, last.author_is_staff, last.channel) == ("2", False, Channel.PUBLIC)
    staff_page = text(login(app.test_client(), agent).get(f"{DESK}/tickets/{number}"))
    assert "I am Alice&#39;s husband" in staff_page or "I am Alice's husband" in staff_page


def test_a8_a_delegate_changes_nothing_and_invites_nobody(app, alice, bob, carol) -> None:
    with app.test_request_context():
        number = open_one(alice, subject="Untouched")
        other = open_one(alice, subject="Alice's other ticket")
        share(app, alice, number, bob)
    client = login(app.test_client(), bob)
    token = csrf_token(client)
    for path, data in [
        (f"/tickets/{number}/close", {}),
        (f"/tickets/{number}/subject", {"subject": "Changed"}),
        (f"/tickets/{number}/delegates", {"email": carol.email}),
        (f"/tickets/{number}/delegates/1/revoke", {}),
        (f"/tickets/{number}/follow-up", {"body": "More"}),
    ]:
        response = client.post(PORTAL + path, data={**data, "csrf_token": token})
        assert response.status_code == 403, path
    assert client.get(f"{PORTAL}/tickets/{number}/close").status_code == 403
    assert client.get(f"{PORTAL}/tickets/{other}").status_code == 404  # A's other ticket

    api = as_user(app, bob)
    for change in ({"status": "closed"}, {"subject": "Changed"}, {"priority": "urgent"}):
        response = api.patch(f"/tickets/{number}", change)
        assert response.status_code == 400, change
        assert response.json["error"]["code"] == "forbidden_field"
    assert api.post(f"/tickets/{number}/delegates", {"email": carol.email}).status_code == 403
    assert api.get(f"/tickets/{number}/delegates").status_code == 403
    assert api.client.delete(
        f"/support/api/v1/tickets/{number}/delegates/1", headers={"X-CSRFToken": api.token}
    ).status_code == 403
    note = api.post(f"/tickets/{number}/messages", {"body": "psst", "channel": "internal"})
    assert note.status_code == 400 and note.json["error"]["code"] == "forbidden_field"
    assert api.get(f"/tickets/{other}").status_code == 404
    listed = [row["number"] for row in api.get("/tickets").json["items"]]
    assert listed == [number]
    with app.test_request_context():
        ticket = policy.get_ticket(alice, number)
        assert (ticket.subject, ticket.status) == ("Untouched", Status.OPEN)
    assert delegate_rows(app) == [("bob@example.com", "accepted")]


def _delegate_sees(app: Flask, client: FlaskClient, canary: CanaryTicket) -> list[t.Any]:
    """Everything a delegate can fetch of the canary ticket (pages, API, downloads)."""
    api = Api(client)
    number = canary.number
    responses = [
        client.get(f"{PORTAL}/"),
        client.get(f"{PORTAL}/?q=Courier"),
        client.get(f"{PORTAL}/tickets/{number}"),
        client.get(f"{PORTAL}/tickets/{number}/messages/{canary.internal_message_id}/edit"),
        api.get("/tickets"),
        api.get("/tickets?q=Courier"),
        api.get(f"/tickets/{number}"),
        api.get(f"/tickets/{number}/messages"),
        api.get(f"/attachments/{canary.internal_attachment_id}"),
        api.get(f"/attachments/{canary.internal_attachment_id}/thumbnail"),
        api.get(f"/tickets/{number}/delegates"),
    ]
    for response in responses:
        assert response.status_code < 500
        assert_no_canary(response)
    return responses


def test_b1_b6_b7_a_delegate_never_sees_internal_content(
    app, alice, bob, canary_ticket: CanaryTicket
) -> None:
    share(app, alice, canary_ticket.number, bob)
    client = login(app.test_client(), bob)
    responses = _delegate_sees(app, client, canary_ticket)
    page = text(responses[2])
    assert "We are looking into it." in page and "Courier" not in page
    assert responses[3].status_code == 404  # the internal note's edit page
    assert canary_ticket.number not in text(responses[1])  # a word only the note has
    assert responses[5].json["items"] == []  # a word only the internal note has
    assert responses[8].status_code == 404 and responses[9].status_code == 404
    for q in ("Courier", CANARY):  # searching for the canary finds nothing
        assert Api(client).get("/tickets", query_string={"q": q}).json["items"] == []
        found = text(client.get(f"{PORTAL}/", query_string={"q": q}))
        assert canary_ticket.number not in found
    public = Api(client).get(f"/attachments/{canary_ticket.public_attachment_id}")
    assert public.status_code == 200 and public.data == b"shipping label\n"
    shown = responses[7].json["items"]
    assert {m["channel"] for m in shown} == {"public"}
    assert "level" not in responses[6].json and responses[6].json["requester"].get("email") is None


def test_a8_revocation_takes_effect_at_once_everywhere(
    app, alice, bob, agent, canary_ticket: CanaryTicket
) -> None:
    number = canary_ticket.number
    delegate_id = share(app, alice, number, bob)
    client = login(app.test_client(), bob)
    api = Api(client)
    attachment = f"/attachments/{canary_ticket.public_attachment_id}"
    assert client.get(f"{PORTAL}/tickets/{number}").status_code == 200
    assert api.get(attachment).status_code == 200
    assert [r["number"] for r in api.get("/tickets?q=looking").json["items"]] == [number]
    assert number in text(client.get(f"{PORTAL}/?q=looking"))

    revoked = as_user(app, alice).client.delete(
        f"/support/api/v1/tickets/{number}/delegates/{delegate_id}",
        headers={"X-CSRFToken": csrf_token(login(app.test_client(), alice))},
    )
    assert revoked.status_code == 400  # another session's CSRF token is refused
    alice_api = as_user(app, alice)
    revoked = alice_api.client.delete(
        f"/support/api/v1/tickets/{number}/delegates/{delegate_id}",
        headers={"X-CSRFToken": alice_api.token},
    )
    assert revoked.status_code == 200 and revoked.json["status"] == "revoked"
    conforms(app, revoked.json, "Delegate")

    # The same client, the same (cached) policy statements: nothing left to see.
    assert client.get(f"{PORTAL}/tickets/{number}").status_code == 404
    assert api.get(f"/tickets/{number}").status_code == 404
    assert api.get(f"/tickets/{number}/messages").status_code == 404
    assert api.get(attachment).status_code == 404
    assert api.get("/tickets?q=looking").json["items"] == []
    assert api.get("/tickets").json["items"] == []
    assert number not in text(client.get(f"{PORTAL}/?q=looking"))
    assert number not in text(client.get(f"{PORTAL}/"))
    reply = client.post(
        f"{PORTAL}/tickets/{number}/reply", data={"body": "Still?", "csrf_token": csrf_token(client)}
    )
    assert reply.status_code == 404
    # And through the services.
    with app.test_request_context(), pytest.raises(NotFound):
        messages.post_message(bob, number, "Still there?")


def test_a_staff_member_who_is_a_delegate_sees_only_the_public_side(
    app, alice, owner, other_team_agent: Actor, canary_ticket: CanaryTicket
) -> None:
    """Otto works in Shipping; Alice's ticket is in Payments, so he does not handle it.
    Shared with him, he sees it as a delegate: never its internal channel."""
    with app.test_request_context():
        departments.create_department(owner, name="Payments")
        tickets.update_ticket(owner, canary_ticket.number, {"department": "payments"})
        ticket = policy.get_ticket(owner, canary_ticket.number)
        assert not policy.handles(other_team_agent, ticket)
    share(app, alice, canary_ticket.number, other_team_agent)
    client = login(app.test_client(), other_team_agent)
    _delegate_sees(app, client, canary_ticket)
    assert client.get(f"{PORTAL}/tickets/{canary_ticket.number}").status_code == 200
    assert client.get(f"{DESK}/tickets/{canary_ticket.number}").status_code in (403, 404)
    with app.test_request_context():
        ticket = policy.get_ticket(other_team_agent, canary_ticket.number)
        assert policy.audience(other_team_agent, ticket) is policy.Audience.DELEGATE
        assert policy.handlers_among(ticket, [other_team_agent]) == set()


def test_handles_agrees_with_the_staff_sql_filter(app, ctx, alice, owner) -> None:
    """policy.handles (on a loaded row) and staff_ticket_filter (SQL) are one rule."""
    departments.create_department(owner, name="Shipping")
    departments.create_department(owner, name="Payments")
    numbers = [open_one(alice) for _ in range(4)]
    tickets.update_ticket(owner, numbers[1], {"department": "shipping"})
    tickets.update_ticket(owner, numbers[2], {"department": "payments"})
    tickets.update_ticket(owner, numbers[3], {"department": "payments", "assignee": "11"})
    staff = [hostapp.USERS[i].actor for i in (10, 11, 12, 20, 30)]
    session = get_state().db.session
    for member in staff:
        scope = policy.staff_scope(member)
        assert scope is not None
        in_sql = set(
            session.scalars(sa.select(Ticket.number).where(policy.staff_ticket_filter(member, scope)))
        )
        for number in numbers:
            ticket = policy.get_ticket(Actor.system(), number)
            assert policy.handles(member, ticket) is (number in in_sql), (member.name, number)


# -------------------------------------------------------------------------------------
# The requester's panel, the desk, the API
# -------------------------------------------------------------------------------------


def test_the_requester_invites_and_revokes_on_the_ticket_page(app, alice, bob) -> None:
    with app.test_request_context():
        number = open_one(alice)
    client = login(app.test_client(), alice)
    page = text(client.get(f"{PORTAL}/tickets/{number}"))
    assert 'id="delegates"' in page and "Nobody else follows this ticket." in page
    failed = client.post(
        f"{PORTAL}/tickets/{number}/delegates",
        data={"email": "nobody@example.com", "csrf_token": csrf_token(client)},
    )
    assert failed.status_code == 400
    assert "delegates need an account" in text(failed) and 'value="nobody@example.com"' in text(failed)
    sent = client.post(
        f"{PORTAL}/tickets/{number}/delegates",
        data={"email": bob.email, "csrf_token": csrf_token(client)},
    )
    assert sent.status_code == 302
    page = text(client.get(f"{PORTAL}/tickets/{number}"))
    assert "bob@example.com" in page and "Invited" in page
    delegate_id = int(re.findall(r"/delegates/(\d+)/revoke", page)[0])
    token = token_of(app, delegate_id)
    with app.test_request_context():
        delegates.accept(bob, token)
    assert "Accepted" in text(client.get(f"{PORTAL}/tickets/{number}"))
    done = client.post(
        f"{PORTAL}/tickets/{number}/delegates/{delegate_id}/revoke",
        data={"csrf_token": csrf_token(client)},
    )
    assert done.status_code == 302
    page = text(client.get(f"{PORTAL}/tickets/{number}"))
    assert "Revoked" in page and f"/delegates/{delegate_id}/revoke" not in page
    assert delegate_rows(app) == [("bob@example.com", "revoked")]


def test_the_desk_lists_delegates_and_staff_revoke(app, alice, bob, carol, agent) -> None:
    with app.test_request_context():
        number = open_one(alice)
        accepted = share(app, alice, number, bob)
        delegates.invite(alice, number, carol.email)
    ann = login(app.test_client(), agent)
    page = text(ann.get(f"{DESK}/tickets/{number}"))
    assert "bob@example.com" in page and "Accepted" in page
    assert "carol@example.com" in page and "Invited" in page
    assert "invited bob@example.com as a delegate" in page
    assert "accepted the invitation as a delegate (bob@example.com)" in page
    done = ann.post(
        f"{DESK}/tickets/{number}/delegates/{accepted}/revoke", data={"csrf_token": csrf_token(ann)}
    )
    assert done.status_code == 302
    page = text(ann.get(f"{DESK}/tickets/{number}"))
    assert "revoked the delegate bob@example.com" in page and "Revoked" in page
    assert login(app.test_client(), bob).get(f"{PORTAL}/tickets/{number}").status_code == 404


def test_api_lists_invites_and_revokes(app, alice, bob, carol, agent, other_team_agent) -> None:
    with app.test_request_context():
        number = open_one(alice)
    alice_api = as_user(app, alice)
    invited = alice_api.post(f"/tickets/{number}/delegates", {"email": bob.email})
    assert invited.status_code == 201, invited.json
    conforms(app, invited.json, "Delegate")
    assert (invited.json["email"], invited.json["status"]) == ("bob@example.com", "invited")
    missing = alice_api.post(f"/tickets/{number}/delegates", {"email": "nobody@example.com"})
    assert missing.status_code == 400 and "email" in missing.json["error"]["fields"]
    for body in ({}, {"email": 5}, {"email": bob.email, "role": "owner"}, []):
        response = alice_api.post(f"/tickets/{number}/delegates", body)
        assert response.status_code == 400, body
    listed = alice_api.get(f"/tickets/{number}/delegates")
    assert listed.status_code == 200
    conforms(app, listed.json, "DelegateList")
    assert [d["email"] for d in listed.json["items"]] == ["bob@example.com"]
    staff_api = as_user(app, agent)
    assert staff_api.get(f"/tickets/{number}/delegates").json == listed.json
    assert staff_api.post(f"/tickets/{number}/delegates", {"email": carol.email}).status_code == 403
    delegate_id = invited.json["id"]
    url = f"/support/api/v1/tickets/{number}/delegates/{delegate_id}"
    revoked = staff_api.client.delete(url, headers={"X-CSRFToken": staff_api.token})
    assert revoked.status_code == 200 and revoked.json["status"] == "revoked"
    again = staff_api.client.delete(url, headers={"X-CSRFToken": staff_api.token})
    assert again.status_code == 200 and again.json == revoked.json
    for bad in ("999999", "abc", "-1"):
        response = staff_api.client.delete(
            f"/support/api/v1/tickets/{number}/delegates/{bad}", headers={"X-CSRFToken": staff_api.token}
        )
        assert response.status_code == 404 and response.json["error"]["code"] == "not_found"
    document = alice_api.get("/openapi.json").json
    paths = document["paths"]
    assert set(paths["/tickets/{number}/delegates"]) == {"get", "post"}
    assert "delete" in paths["/tickets/{number}/delegates/{delegate_id}"]
    assert "410" in paths["/delegates/accept"]["post"]["responses"]


def test_another_customers_ticket_delegate_routes_are_404(app, alice, bob, carol) -> None:
    with app.test_request_context():
        number = open_one(alice)
        delegate_id = delegates.invite(alice, number, bob.email).id
    client = login(app.test_client(), carol)
    token = csrf_token(client)
    assert client.post(
        f"{PORTAL}/tickets/{number}/delegates", data={"email": bob.email, "csrf_token": token}
    ).status_code == 404
    assert client.post(
        f"{PORTAL}/tickets/{number}/delegates/{delegate_id}/revoke", data={"csrf_token": token}
    ).status_code == 404
    api = Api(client)
    missing = api.get("/tickets/T-NOSUCH/delegates")
    for response in (
        api.get(f"/tickets/{number}/delegates"),
        api.post(f"/tickets/{number}/delegates", {"email": bob.email}),
        api.client.delete(
            f"/support/api/v1/tickets/{number}/delegates/{delegate_id}", headers={"X-CSRFToken": api.token}
        ),
    ):
        assert response.status_code == 404
        assert response.json == missing.json  # the same answer as a ticket that does not exist
    assert delegate_rows(app) == [("bob@example.com", "invited")]


def test_e1_every_delegate_form_needs_this_sessions_csrf_token(app, alice, bob, agent) -> None:
    app.config["WTF_CSRF_ENABLED"] = True
    with app.test_request_context():
        number = open_one(alice)
        invited = delegates.invite(alice, number, bob.email).id
        other = open_one(alice)
        accepted = share(app, alice, other, agent)
    token = token_of(app, invited)
    foreign = csrf_token(login(app.test_client(), 2))
    alice_client = login(app.test_client(), alice)
    bob_client = login(app.test_client(), bob)
    ann = login(app.test_client(), agent)
    posts = [
        (alice_client, f"{PORTAL}/tickets/{number}/delegates", {"email": "carol@example.com"}),
        (alice_client, f"{PORTAL}/tickets/{number}/delegates/{invited}/revoke", {}),
        (bob_client, f"{PORTAL}/invitations/{token}", {}),
        (ann, f"{DESK}/tickets/{number}/delegates/{invited}/revoke", {}),
        (alice_client, f"{PORTAL}/tickets/{other}/delegates/{accepted}/revoke", {}),
    ]
    for client, url, data in posts:
        for csrf in (None, "", "not-a-token", foreign):
            body = dict(data) if csrf is None else {**data, "csrf_token": csrf}
            response = client.post(url, data=body)
            assert response.status_code == 400, (url, csrf)
    api = Api(bob_client)
    for method, path, body in [
        ("POST", "/delegates/accept", {"token": token}),
        ("POST", f"/tickets/{number}/delegates", {"email": "carol@example.com"}),
        ("DELETE", f"/tickets/{number}/delegates/{invited}", None),
    ]:
        response = api.client.open(f"/support/api/v1{path}", method=method, json=body)
        assert response.status_code == 400 and response.json["error"]["code"] == "csrf_failed"
    assert delegate_rows(app) == [("bob@example.com", "invited"), ("ann@store.example", "accepted")]


def test_a_customers_list_is_served_by_indexes_with_delegates(app, ctx, alice, bob) -> None:
    """The delegate condition must not turn a customer's list into a scan of every
    ticket of the store (an OR with a subquery did, on PostgreSQL)."""
    share(app, alice, open_one(alice), bob)
    stmt = (
        sa.select(Ticket.id)
        .where(policy.customer_filter(bob), Ticket.status != Status.CLOSED)
        .order_by(Ticket.updated_at.desc())
        .limit(26)
    )
    session = get_state().db.session
    engine = session.get_bind()
    sql = str(stmt.compile(engine, compile_kwargs={"literal_binds": True}))
    if engine.dialect.name == "sqlite":
        plan = " | ".join(row[3] for row in session.execute(sa.text(f"EXPLAIN QUERY PLAN {sql}")))
        assert "SCAN supportdesk_ticket" not in plan and "SCAN supportdesk_own_ticket" not in plan, plan
    else:
        session.execute(sa.text("SET LOCAL enable_seqscan = off"))  # an index if there is one
        plan = " | ".join(row[0] for row in session.execute(sa.text(f"EXPLAIN {sql}")))
        session.rollback()
        # The requester's index is searched, not a filter applied to every row.
        assert "Seq Scan on supportdesk_ticket" not in plan, plan
        assert "Index Cond: ((requester_id)::text" in plan, plan


def test_f3_invitations_are_capped_per_account_and_hour(app, alice, carol, monkeypatch) -> None:
    """HOSTILE F3: the invitation mail is no way to mail many addresses; inviting and
    revoking in turn does not get round the cap."""
    monkeypatch.setattr(delegates, "MAX_PER_HOUR", 3)
    with app.test_request_context():
        number = open_one(alice)
    api = as_user(app, alice)
    for _ in range(3):
        invited = api.post(f"/tickets/{number}/delegates", {"email": carol.email})
        assert invited.status_code == 201
        revoked = api.client.delete(
            f"/support/api/v1/tickets/{number}/delegates/{invited.json['id']}",
            headers={"X-CSRFToken": api.token},
        )
        assert revoked.status_code == 200
    refused = api.post(f"/tickets/{number}/delegates", {"email": carol.email})
    assert refused.status_code == 429 and refused.json["error"]["code"] == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 3601
    assert len(delegate_rows(app)) == 3
    client = login(app.test_client(), alice)
    page = client.post(
        f"{PORTAL}/tickets/{number}/delegates",
        data={"email": carol.email, "csrf_token": csrf_token(client)},
    )
    assert page.status_code == 429
