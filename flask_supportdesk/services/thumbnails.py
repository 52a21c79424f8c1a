"""Thumbnails of image attachments: small, re-encoded, made once at upload.

Why at upload and not on first view: the upload already holds the bytes, validated, in
memory; a thumbnail made there is stored (and, on rollback, deleted) with its original in
the same unit of work, so a page view never writes, two first views never race to store
two copies, and a thread shows every thumbnail without decoding anything. Attachments
uploaded before thumbnails existed simply have none and are listed as files.

Why re-encoded: the preview is decoded pixels written out again as WebP by Pillow, so
nothing of the uploaded file reaches the browser as an image: no metadata (location,
camera), no trailing payload of a polyglot file, no SVG or script (SVG is never
decoded). Only the decoder of the type sniffed at upload may open the file, pixel
counts are capped before decoding (decompression bombs), and a file that does not
decode gets no thumbnail, never an error.
"""

from __future__ import annotations

import io
import logging
import typing as t

from PIL import Image
from PIL import ImageOps

if t.TYPE_CHECKING:
    from ..models import Attachment

log = logging.getLogger("flask_supportdesk")

#: The Content-Type every thumbnail is stored and served with.
THUMBNAIL_TYPE = "image/webp"
#: Attachment content types (as sniffed at upload) that get a thumbnail, each with the
#: one Pillow decoder allowed to read it. Never SVG.
DECODERS = {
    "image/png": "PNG",
    "image/jpeg": "JPEG",
    "image/gif": "GIF",
    "image/webp": "WEBP",
}
#: Larger images get no thumbnail: decoding them would cost too much memory and time.
#: (Pillow's own decompression-bomb limit, far higher, applies as well.)
MAX_PIXELS = 50_000_000
#: The thumbnail fits in this box, in pixels (shown at half size on high-density screens).
BOX = (320, 320)


def has_thumbnail(attachment: Attachment) -> bool:
    """Whether the attachment is an image with a stored thumbnail."""
    return attachment.thumbnail_key is not None and attachment.content_type in DECODERS


def make_thumbnail(data: bytes, content_type: str) -> bytes | None:
    """A WebP preview of an image attachment, or ``None`` (not an image, too large, or
    it does not decode).

    :param data: The uploaded file, already checked against its sniffed type.
    :param content_type: The type stored for it (from the sniffed content, never from
        what the client said).
    """
    decoder = DECODERS.get(content_type)
    if decoder is None:
        return None
    try:
        return _encode(data, decoder)
    except Exception as exc:
        # Any failure of a decoder on uploaded bytes means "no preview", never a refused
        # upload nor a 500: the file itself is still attached and downloadable.
        log.info("No thumbnail for an attachment (%s): %s", content_type, exc)
        return None


def _encode(data: bytes, decoder: str) -> bytes | None:
    with Image.open(io.BytesIO(data), formats=[decoder]) as image:
        width, height = image.size
        if width < 1 or height < 1 or width * height > MAX_PIXELS:
            return None
        # JPEG decodes straight at a fraction of its size; other formats ignore this.
        image.draft("RGB", (BOX[0] * 2, BOX[1] * 2))
        upright = ImageOps.exif_transpose(image)  # loads the (first) frame
    alpha = upright.mode in ("RGBA", "LA", "PA") or "transparency" in upright.info
    upright = upright.convert("RGBA" if alpha else "RGB")
    upright.thumbnail(BOX, Image.Resampling.LANCZOS)
    # Bare pixels in a fresh image: no metadata (EXIF, ICC, XMP, comments) is carried over.
    clean = Image.frombytes(upright.mode, upright.size, upright.tobytes())
    out = io.BytesIO()
    clean.save(out, format="WEBP", quality=80, method=4)
    return out.getvalue()
