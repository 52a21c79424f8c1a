"""Minimal genuine files of every allowed type, and hostile ones, built at test time."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib


def png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
        + chunk(b"IEND", b"")
    )


def jpeg() -> bytes:
    return b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64 + b"\xff\xd9"


def webp() -> bytes:
    payload = b"WEBPVP8 " + struct.pack("<I", 10) + b"\x00" * 10
    return b"RIFF" + struct.pack("<I", len(payload)) + payload


def pdf() -> bytes:
    return b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _zip(entries: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return out.getvalue()


def docx() -> bytes:
    return _zip({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w:document/>"})


def xlsx() -> bytes:
    return _zip({"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<workbook/>"})


def zip_archive() -> bytes:
    return _zip({"notes.txt": b"hello"})


def _ole(marker_at_512: bytes) -> bytes:
    data = bytearray(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 1100)
    data[512 : 512 + len(marker_at_512)] = marker_at_512
    return bytes(data)


def doc() -> bytes:
    return _ole(b"\xec\xa5\xc1\x00")


def xls() -> bytes:
    return _ole(b"\x09\x08\x10\x00\x00\x06\x05\x00")


GENUINE = {
    "photo.jpg": jpeg,
    "photo.jpeg": jpeg,
    "screen.png": png,
    "image.webp": webp,
    "invoice.pdf": pdf,
    "letter.doc": doc,
    "letter.docx": docx,
    "sheet.xls": xls,
    "sheet.xlsx": xlsx,
    "export.csv": lambda: b"order,amount\n1001,9.99\n",
    "notes.txt": lambda: "Grüße — plain text\n".encode(),
    "bundle.zip": zip_archive,
}

HTML = b"<!doctype html><html><body><script>alert(1)</script></body></html>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"></svg>'
EXE = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 120

#: (file name, content) pairs that must be refused with 415.
DISGUISED = [
    ("evil.svg", SVG),
    ("page.html", HTML),
    ("page.htm", HTML),
    ("page.xhtml", HTML),
    ("run.js", b"alert(1)"),
    ("shell.php", b"<?php system($_GET['c']); ?>"),
    ("setup.exe", EXE),
    ("setup.png", EXE),
    (".htaccess", b"Options +ExecCGI"),
    ("noextension", b"hello"),
    ("x.pdf.html", HTML),
    ("x.png", HTML),
    ("x.png", SVG),
    ("x.jpg", pdf()),
    ("notes.txt", HTML),
    ("notes.txt", SVG),
]
