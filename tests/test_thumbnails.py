"""Image thumbnails: made at upload, re-encoded, served with the download's access checks."""

from __future__ import annotations

import io
import os
import struct
import typing as t
import zlib

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient
from PIL import Image

import corpus
from conftest import login
from flask_supportdesk._state import get_state
from flask_supportdesk.models import Attachment
from flask_supportdesk.models import Channel
from flask_supportdesk.models import Ticket
from flask_supportdesk.services import messages
from flask_supportdesk.services import tickets
from flask_supportdesk.services.attachments import Upload
from flask_supportdesk.services.thumbnails import make_thumbnail
from flask_supportdesk.values import Actor

pytestmark = pytest.mark.usefixtures("ctx")

API = "/support/api/v1"


def image(kind: str, size: tuple[int, int] = (1200, 800), **save: t.Any) -> bytes:
    picture = Image.new("RGB", size, (200, 40, 40))
    out = io.BytesIO()
    picture.save(out, format=kind, **save)
    return out.getvalue()


def photo_with_location() -> bytes:
    """A JPEG whose EXIF names the camera and a GPS position."""
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    exif[0x8825] = {1: "N", 2: (51.0, 30.0, 0.0)}  # GPS
    return image("JPEG", exif=exif.tobytes())


def png_header(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` x ``height`` with a tiny, broken body."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00")) + chunk(b"IEND", b"")


def corrupt_png() -> bytes:
    good = image("PNG", (64, 64))
    return good[:60] + b"\x00garbage\x00" * 20  # the signature and IHDR survive


def open_with(actor: Actor, *files: tuple[str, bytes]) -> Ticket:
    return tickets.open_ticket(
        actor,
        subject="Photos of the damage",
        body="See the files.",
        attachments=[Upload.from_bytes(name, data) for name, data in files],
    )


def attachments_of(ticket: Ticket) -> list[Attachment]:
    session = get_state().db.session
    session.expire_all()
    stmt = sa.select(Attachment).where(Attachment.ticket_id == ticket.id).order_by(Attachment.id)
    return list(session.scalars(stmt))


def thumbnail(client: FlaskClient, attachment: Attachment) -> t.Any:
    return client.get(f"{API}/attachments/{attachment.id}/thumbnail")


# -------------------------------------------------------------------------------------
# What is made
# -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["PNG", "JPEG", "WEBP", "GIF"])
def test_every_image_type_gets_a_small_webp(kind: str) -> None:
    content_type = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif"}
    made = make_thumbnail(image(kind), content_type[kind])
    assert made is not None
    with Image.open(io.BytesIO(made)) as preview:
        assert preview.format == "WEBP"
        assert max(preview.size) == 320 and preview.size == (320, 213)


def test_the_thumbnail_drops_metadata() -> None:
    original = photo_with_location()
    with Image.open(io.BytesIO(original)) as source:
        assert source.getexif()  # the test file does carry EXIF
    made = make_thumbnail(original, "image/jpeg")
    assert made is not None and b"SecretCam" not in made
    with Image.open(io.BytesIO(made)) as preview:
        assert not preview.getexif() and "icc_profile" not in preview.info


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (corpus.pdf(), "application/pdf"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "image/svg+xml"),
        (image("PNG"), "image/svg+xml"),  # the decoder follows the stored type only
        (image("PNG"), "image/jpeg"),  # a PNG stored as JPEG is not decoded as PNG
        (corrupt_png(), "image/png"),
        (png_header(8000, 8000), "image/png"),  # 64 megapixels: over our limit
        (png_header(20000, 20000), "image/png"),  # over Pillow's decompression-bomb limit
        (corpus.jpeg(), "image/jpeg"),  # a JPEG marker and nothing to decode
    ],
)
def test_no_thumbnail_for_what_is_not_a_small_decodable_image(data: bytes, content_type: str) -> None:
    assert make_thumbnail(data, content_type) is None


# -------------------------------------------------------------------------------------
# Upload and storage
# -------------------------------------------------------------------------------------


def test_an_image_upload_stores_its_thumbnail_and_a_document_none(alice) -> None:
    ticket = open_with(alice, ("damage.jpg", photo_with_location()), ("invoice.pdf", corpus.pdf()))
    photo, invoice = attachments_of(ticket)
    assert photo.thumbnail_key is not None and photo.thumbnail_key != photo.storage_key
    assert invoice.thumbnail_key is None


def test_a_corrupt_png_is_attached_without_a_thumbnail(client, alice) -> None:
    ticket = open_with(alice, ("broken.png", corrupt_png()))
    (broken,) = attachments_of(ticket)
    assert broken.thumbnail_key is None
    login(client, alice)
    assert thumbnail(client, broken).status_code == 404
    assert client.get(f"{API}/attachments/{broken.id}").status_code == 200  # still a download
    page = client.get(f"/support/tickets/{ticket.number}")
    assert page.status_code == 200 and "/thumbnail" not in page.get_data(as_text=True)


def test_a_failed_message_removes_its_thumbnail_too(alice, monkeypatch) -> None:
    ticket = open_with(alice, ("first.txt", b"first\n"))
    folder = get_state().config.attachment_folder
    before = sorted(os.listdir(folder))

    def broken_commit(*args: t.Any, **kwargs: t.Any) -> None:
        raise RuntimeError("database went away")

    # The image and its thumbnail are written, then the commit fails: both go again.
    monkeypatch.setattr(get_state().db.session, "commit", broken_commit)
    with pytest.raises(RuntimeError):
        messages.post_message(
            alice, ticket.number, "More photos", attachments=[Upload.from_bytes("b.png", image("PNG"))]
        )
    monkeypatch.undo()
    get_state().db.session.rollback()
    assert sorted(os.listdir(folder)) == before


# -------------------------------------------------------------------------------------
# Serving: the download's access checks, safe headers
# -------------------------------------------------------------------------------------


def test_the_thumbnail_is_a_webp_with_safe_headers(client, alice) -> None:
    ticket = open_with(alice, ("damage.png", image("PNG")))
    (photo,) = attachments_of(ticket)
    login(client, alice)
    response = thumbnail(client, photo)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/webp"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert response.headers["Cache-Control"] == "private, max-age=300"
    assert response.headers["Cross-Origin-Resource-Policy"] == "same-origin"
    assert "attachment" not in response.headers.get("Content-Disposition", "")
    with Image.open(io.BytesIO(response.data)) as preview:
        assert preview.format == "WEBP"


def test_another_customers_thumbnail_is_404(client, alice, bob) -> None:
    ticket = open_with(alice, ("damage.png", image("PNG")))
    (photo,) = attachments_of(ticket)
    login(client, bob)
    response = thumbnail(client, photo)
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_a_thumbnail_on_an_internal_note_is_404_for_the_customer(client, alice, agent) -> None:
    ticket = open_with(alice, ("note.txt", b"hello\n"))
    messages.post_message(
        agent, ticket.number, "The courier's photo", channel=Channel.INTERNAL,
        attachments=[Upload.from_bytes("courier.png", image("PNG"))],
    )  # fmt: skip
    internal = attachments_of(ticket)[-1]
    assert internal.thumbnail_key is not None
    login(client, alice)
    assert thumbnail(client, internal).status_code == 404
    page = client.get(f"/support/tickets/{ticket.number}").get_data(as_text=True)
    assert f"/attachments/{internal.id}" not in page
    login(client, agent)
    assert thumbnail(client, internal).status_code == 200


def test_a_document_has_no_thumbnail(client, alice) -> None:
    ticket = open_with(alice, ("invoice.pdf", corpus.pdf()))
    (invoice,) = attachments_of(ticket)
    login(client, alice)
    assert thumbnail(client, invoice).status_code == 404


def test_an_svg_row_is_never_served_as_a_thumbnail(client, alice) -> None:
    # SVG is refused at upload; even a row that claims a stored "thumbnail" for one (a
    # plugin, a hand-edited database) gets 404: only the image types are ever served.
    ticket = open_with(alice, ("photo.png", image("PNG")))
    (photo,) = attachments_of(ticket)
    photo.content_type = "image/svg+xml"
    get_state().db.session.commit()
    login(client, alice)
    assert thumbnail(client, photo).status_code == 404


def test_anonymous_and_malformed_ids(client, alice) -> None:
    ticket = open_with(alice, ("photo.png", image("PNG")))
    (photo,) = attachments_of(ticket)
    assert thumbnail(client, photo).status_code == 401
    login(client, alice)
    assert client.get(f"{API}/attachments/abc/thumbnail").status_code == 404
    assert client.get(f"{API}/attachments/99999999999999999999/thumbnail").status_code == 404


def test_thread_pages_show_the_thumbnail_linking_to_the_download(client, alice, agent) -> None:
    ticket = open_with(alice, ("damage.png", image("PNG")))
    (photo,) = attachments_of(ticket)
    for user, url in ((alice, f"/support/tickets/{ticket.number}"), (agent, f"/support/desk/tickets/{ticket.number}")):
        login(client, user)
        page = client.get(url).get_data(as_text=True)
        assert (
            f'<a class="sd-thumb" href="{API}/attachments/{photo.id}" download title="Download damage.png"'
            f' tabindex="-1" aria-hidden="true"><img src="{API}/attachments/{photo.id}/thumbnail" alt=""'
        ) in page
        assert f'href="{API}/attachments/{photo.id}" download>' in page  # the named link


def test_the_api_names_the_thumbnail_url(client, alice) -> None:
    ticket = open_with(alice, ("damage.png", image("PNG")), ("invoice.pdf", corpus.pdf()))
    photo, invoice = attachments_of(ticket)
    login(client, alice)
    body = client.get(f"{API}/tickets/{ticket.number}/messages").get_json()
    items = body["items"] if isinstance(body, dict) else body
    files = {a["id"]: a for a in items[0]["attachments"]}
    assert files[photo.id]["thumbnail_url"] == f"{API}/attachments/{photo.id}/thumbnail"
    assert files[invoice.id]["thumbnail_url"] is None
