"""Evidence files: photos and PDFs are kept by content; anything else is turned away politely."""

from __future__ import annotations

import asyncio
import hashlib
import io
import random
import struct
import warnings
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image, ImageFile, WebPImagePlugin

from bot.evidence import MAX_BYTES, EvidenceRejected, EvidenceStore, StoredFile, check

UNSUPPORTED = "Please send a photo (JPEG, PNG or WebP) or a PDF document."
DAMAGED_IMAGE = "That image is damaged or incomplete. Please send it again."
DAMAGED_PDF = "That PDF is damaged or incomplete. Please send it again."
TOO_MANY_PIXELS = "That image is too large in pixels. Please send a smaller one."
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def photo(pillow_format: str, size: tuple[int, int] = (64, 48)) -> bytes:
    """A small photo-like gradient, so the compressed data is not trivial."""
    image = Image.merge(
        "RGB",
        [
            Image.linear_gradient("L").resize(size),
            Image.radial_gradient("L").resize(size),
            Image.new("L", size, 90),
        ],
    )
    buffer = io.BytesIO()
    image.save(buffer, pillow_format)
    return buffer.getvalue()


def pdf() -> bytes:
    """A one-page PDF as Pillow writes it, without dates so every call gives the same bytes."""
    buffer = io.BytesIO()
    Image.new("RGB", (20, 20), "white").save(buffer, "PDF", creationDate=None, modDate=None)
    return buffer.getvalue()


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_bomb(width: int, height: int) -> bytes:
    """A real 1-bit black PNG: kilobytes on disk, width × height pixels once decoded."""
    compressor = zlib.compressobj(9)
    row = bytes(1 + (width + 7) // 8)  # filter byte, then the row's bits
    pixels = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        PNG_SIGNATURE
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", pixels)
        + png_chunk(b"IEND", b"")
    )


def jpeg_claiming(width: int, height: int) -> bytes:
    """A tiny JPEG whose frame header claims another size."""
    data = bytearray(photo("JPEG", (16, 16)))
    frame = data.index(b"\xff\xc0")  # SOF0: marker, length, precision, height, width
    data[frame + 5 : frame + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def webp_claiming(width: int, height: int) -> bytes:
    """A tiny lossless WebP whose header claims another size."""
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), "red").save(buffer, "WEBP", lossless=True)
    data = bytearray(buffer.getvalue())
    # VP8L header after its 0x2F signature: 14 bits width - 1, 14 bits height - 1, 4 more bits.
    bits = int.from_bytes(data[21:25], "little")
    bits = (bits & ~((1 << 28) - 1)) | (width - 1) | ((height - 1) << 14)
    data[21:25] = bits.to_bytes(4, "little")
    return bytes(data)


def rejection(data: bytes, *, original_name: str | None = None) -> EvidenceRejected:
    with pytest.raises(EvidenceRejected) as caught:
        check(data, original_name=original_name)
    return caught.value


def files_under(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file())


@pytest.mark.parametrize(
    ("pillow_format", "mime", "extension"),
    [("JPEG", "image/jpeg", "jpg"), ("PNG", "image/png", "png"), ("WEBP", "image/webp", "webp")],
)
def test_a_photo_is_stored_once_under_its_hash(
    tmp_path: Path, pillow_format: str, mime: str, extension: str
) -> None:
    data = photo(pillow_format)
    store = EvidenceStore(tmp_path)

    first = store.save(data, original_name="IMG_0001.jpg")
    again = store.save(data, original_name="IMG_0001.jpg")

    sha256 = hashlib.sha256(data).hexdigest()
    assert first == StoredFile(
        sha256=sha256,
        size=len(data),
        mime=mime,
        kind="photo",
        relative_path=f"{sha256[:2]}/{sha256[2:4]}/{sha256}.{extension}",
        original_name="IMG_0001.jpg",
        width=64,
        height=48,
    )
    assert again == first
    assert store.exists(first.relative_path)
    assert store.path(first.relative_path).read_bytes() == data
    assert files_under(tmp_path) == [tmp_path / first.relative_path]


def test_a_pdf_is_stored_as_a_document(tmp_path: Path) -> None:
    data = pdf()
    stored = EvidenceStore(tmp_path).save(data, original_name="giay-khen.pdf")

    assert (stored.mime, stored.kind, stored.width, stored.height) == (
        "application/pdf",
        "document",
        None,
        None,
    )
    assert stored.relative_path.endswith(f"/{stored.sha256}.pdf")
    assert (tmp_path / stored.relative_path).read_bytes() == data


def test_a_multi_picture_jpeg_is_a_jpeg_photo() -> None:
    # Some phone cameras add a second frame (MPO); Pillow then names the format "MPO".
    left, right = Image.new("RGB", (40, 30), "red"), Image.new("RGB", (40, 30), "blue")
    buffer = io.BytesIO()
    left.save(buffer, "MPO", save_all=True, append_images=[right])
    with Image.open(buffer) as opened:
        assert opened.format == "MPO"

    assert check(buffer.getvalue()) == ("image/jpeg", "jpg", 40, 30)


def test_the_content_decides_the_type_not_the_name() -> None:
    assert check(photo("PNG"), original_name="report.pdf")[:2] == ("image/png", "png")
    assert rejection(b"I helped at the clinic today.\n", original_name="photo.jpg").message == (
        UNSUPPORTED
    )


def zip_holding_a_pdf() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("evidence.pdf", pdf())
    data = buffer.getvalue()
    # A polyglot worth the name: the PDF signature and trailer are both in there.
    assert b"%PDF-" in data
    assert b"%%EOF" in data[-1024:]
    return data


def gif() -> bytes:
    buffer = io.BytesIO()
    Image.new("P", (8, 8)).save(buffer, "GIF")
    return buffer.getvalue()


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"\x7fELF\x02\x01\x01" + bytes(100), id="executable"),
        pytest.param(zip_holding_a_pdf(), id="zip-with-a-pdf-inside"),
        pytest.param(b" " + pdf(), id="pdf-signature-not-at-the-start"),
        pytest.param(gif(), id="gif"),
        pytest.param(b"\x00\x00\x00\x1cftypavif" + bytes(40), id="avif"),
    ],
)
def test_other_files_are_turned_away(data: bytes) -> None:
    assert rejection(data).message == UNSUPPORTED


@pytest.mark.parametrize("brand", [b"heic", b"heix", b"mif1"])
def test_iphone_heic_photos_get_their_own_advice(brand: bytes) -> None:
    data = b"\x00\x00\x00\x18ftyp" + brand + b"\x00\x00\x00\x00mif1heic" + bytes(64)
    assert rejection(data).message == (
        "iPhone HEIC photos are not supported yet. Please send the photo as JPEG: "
        "send it as a photo, not as a file."
    )


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(PNG_SIGNATURE + b"this is not a picture" * 10, id="png-signature-garbage"),
        pytest.param(photo("JPEG")[: len(photo("JPEG")) // 2], id="first-half-of-a-jpeg"),
        pytest.param(photo("JPEG")[:-2], id="jpeg-without-its-end-marker"),
        pytest.param(photo("PNG")[:-40], id="truncated-png"),
        pytest.param(photo("WEBP")[: len(photo("WEBP")) // 2], id="first-half-of-a-webp"),
        pytest.param(b"\xff\xd8\xff", id="jpeg-signature-only"),
    ],
)
def test_damaged_images_are_turned_away(data: bytes) -> None:
    assert rejection(data).message == DAMAGED_IMAGE


ACTIVE_PDF = (
    "That PDF contains scripts, actions that run when it is opened, or attached files, so it "
    "cannot be accepted. Please print or save it again as a plain PDF, or send photos of its "
    "pages."
)
UNCHECKED_PDF = (
    "That PDF could not be checked for scripts. Please print or save it again as a plain "
    "PDF, or send photos of its pages."
)
PAGE = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>"


def pdf_of(*objects: bytes, catalog: bytes = b"") -> bytes:
    """A PDF as a writer lays it out: the catalog (object 1, with `catalog` added to it), the
    page tree (2), one page (3), then `objects` (numbered from 4), and a cross-reference
    table."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    bodies = (
        b"<< /Type /Catalog /Pages 2 0 R " + catalog + b" >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        PAGE,
        *objects,
    )
    offsets = []
    for number, body in enumerate(bodies, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    table = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(bodies) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(bodies) + 1,
        table,
    )
    return bytes(out)


def stream(dictionary: bytes, content: bytes, *, deflate: bool = True) -> bytes:
    data = zlib.compress(content) if deflate else content
    flate = b" /Filter /FlateDecode" if deflate else b""
    return b"<< %s%s /Length %d >>\nstream\n%s\nendstream" % (dictionary, flate, len(data), data)


def object_stream(objects: bytes, dictionary: bytes = b"/Type /ObjStm", **options: bool) -> bytes:
    """Objects packed in an object stream, as PDF 1.5 writers do (here object 10)."""
    header = b"10 0 "
    return stream(b"%s /N 1 /First %d" % (dictionary, len(header)), header + objects, **options)


SCRIPT = b"<< /S /JavaScript /JS (app.alert('hi')) >>"


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(pdf_of(SCRIPT, catalog=b"/OpenAction 4 0 R"), id="javascript-on-open"),
        pytest.param(
            pdf_of(b"<< /S /GoTo /D [3 0 R /Fit] >>", catalog=b"/OpenAction 4 0 R"),
            id="any-action-on-open",
        ),
        pytest.param(
            pdf_of(
                b"<< /J#61vaScript 5 0 R >>",
                b"<< /S /JavaScript /JS (x) >>",
                catalog=b"/Names 4 0 R",
            ),
            id="javascript-name-written-with-escapes",
        ),
        pytest.param(
            pdf_of(b"<< /O << /S /Launch /F (cmd.exe) >> >>", catalog=b"/AA 4 0 R"),
            id="launch-a-program",
        ),
        pytest.param(
            pdf_of(object_stream(SCRIPT), catalog=b"/OpenAction 10 0 R"),
            id="script-inside-an-object-stream",
        ),
        pytest.param(
            pdf_of(object_stream(b"<< /S /SubmitForm >>", b"")),
            id="object-stream-found-by-its-keys-alone",
        ),
        pytest.param(
            pdf_of(object_stream(SCRIPT, deflate=False)), id="uncompressed-object-stream"
        ),
        pytest.param(
            pdf_of(b"<< /Type /EmbeddedFile /Length 3 >>\nstream\nMZ\x90\nendstream"),
            id="attached-file",
        ),
    ],
)
def test_a_pdf_that_would_run_or_open_something_is_turned_away(data: bytes) -> None:
    assert rejection(data).message == ACTIVE_PDF


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(
            lambda: pdf_of(stream(b"/Type /ObjStm /N 1 /First 5 /Filter /LZWDecode", b"\x80")),
            id="object-stream-in-a-filter-not-checked",
        ),
        pytest.param(
            lambda: pdf_of(
                b"<< /Type /ObjStm /N 1 /First 5 /Filter /FlateDecode /Length 9 >>\n"
                b"stream\nnot zlib!\nendstream"
            ),
            id="object-stream-that-does-not-inflate",
        ),
        pytest.param(
            lambda: pdf_of(object_stream(bytes(65 * 1024 * 1024))),  # 64 kB sent
            id="object-stream-bomb",
        ),
    ],
)
def test_a_pdf_whose_objects_cannot_be_read_is_turned_away(make: Callable[[], bytes]) -> None:
    assert rejection(make()).message == UNCHECKED_PDF


def test_links_and_binary_content_are_no_reason_to_refuse_a_pdf() -> None:
    """A link is not an action that runs; and an image's bytes may hold anything, "/JS" too."""
    noise = bytes(random.Random(7).randrange(256) for _ in range(200_000))
    image = stream(b"/Type /XObject /Subtype /Image /Width 1 /Height 1", b"/JS /AA " + noise)
    link = (
        b"<< /Type /Annot /Subtype /Link /Rect [0 0 9 9] /A << /S /URI /URI (https://x.vn) >> >>"
    )
    data = pdf_of(image, link, object_stream(b"<< /Type /Font /Subtype /Type1 >>"))
    assert check(data) == ("application/pdf", "pdf", None, None)


def test_a_pdf_without_its_end_is_turned_away() -> None:
    data = pdf()
    assert rejection(data[: len(data) // 2]).message == DAMAGED_PDF


@pytest.mark.parametrize(
    "data",
    [
        # Above twice Pillow's own limit: Pillow itself refuses while opening.
        pytest.param(png_bomb(20_000, 20_000), id="png-400-megapixels"),
        # Between Pillow's limit and twice it: Pillow only warns.
        pytest.param(png_bomb(10_000, 10_000), id="png-100-megapixels"),
        # Under Pillow's limit (89 Mpx) but over ours.
        pytest.param(png_bomb(8_000, 8_000), id="png-64-megapixels"),
        pytest.param(webp_claiming(9_000, 9_000), id="webp-81-megapixels"),
        pytest.param(jpeg_claiming(60_000, 60_000), id="jpeg-3600-megapixels"),
    ],
)
def test_decompression_bombs_are_turned_away_undecoded(
    monkeypatch: pytest.MonkeyPatch, data: bytes
) -> None:
    def refuse_to_decode(*_args: object) -> None:
        raise AssertionError("decoded a decompression bomb")

    # Decoding would take gigabytes; the header alone must decide.
    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse_to_decode)
    monkeypatch.setattr(WebPImagePlugin.WebPImageFile, "load", refuse_to_decode)
    filters = list(warnings.filters)

    assert len(data) < 100_000
    assert rejection(data).message == TOO_MANY_PIXELS
    assert warnings.filters == filters


def test_odd_metadata_does_not_turn_a_good_photo_away() -> None:
    # An animation-control chunk announcing zero frames: Pillow warns and shows the still image.
    good = photo("PNG")
    broken_animation = png_chunk(b"acTL", struct.pack(">II", 0, 0))
    data = good[:33] + broken_animation + good[33:]  # right after the 33-byte IHDR

    assert check(data)[:4] == ("image/png", "png", 64, 48)


def test_empty_files_are_turned_away() -> None:
    assert rejection(b"").message == "That file is empty. Please send it again."


def test_files_over_20_mb_are_turned_away_before_being_read() -> None:
    # A JPEG signature would otherwise make it "damaged": the size is checked first.
    caught = rejection(b"\xff\xd8\xff" + bytes(MAX_BYTES - 2))

    assert caught.message == "That file is larger than {max_mb} MB. Please send a smaller one."
    assert caught.message.format(**caught.params) == (
        "That file is larger than 20 MB. Please send a smaller one."
    )


def test_a_pdf_of_exactly_20_mb_is_accepted() -> None:
    document = pdf()
    data = document[:-6] + b" " * (MAX_BYTES - len(document)) + document[-6:]

    assert len(data) == MAX_BYTES
    assert check(data) == ("application/pdf", "pdf", None, None)


@pytest.mark.parametrize(
    "relative_path",
    [
        "../x",
        "/etc/passwd",
        "ab/cd/../../../x.jpg",
        "",
        "ab/cd",
        "ab\\cd\\" + "ab" * 32 + ".jpg",
        "ab/cd/" + "ef" * 32 + ".jpg",  # the folders do not match the hash
        "AB/CD/" + "AB" * 32 + ".jpg",
        "ab/cd/" + "ab" * 32 + ".exe",
    ],
)
def test_the_store_refuses_paths_it_did_not_make(tmp_path: Path, relative_path: str) -> None:
    store = EvidenceStore(tmp_path)
    for use in (store.path, store.exists, store.delete):
        with pytest.raises(ValueError, match="not a path in the evidence store"):
            use(relative_path)


def test_delete_removes_the_file_and_its_empty_folders(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path)
    stored = store.save(photo("JPEG"))

    store.delete(stored.relative_path)

    assert not store.exists(stored.relative_path)
    assert list(tmp_path.iterdir()) == []
    store.delete(stored.relative_path)  # already gone: nothing to do


def test_delete_keeps_folders_other_files_still_use(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path)
    document = pdf()
    kept = store.save(document)
    # Another PDF whose hash starts with the same two digits shares the first folder.
    padding = 0
    while True:
        padding += 1
        other = document.replace(b"%%EOF", b" " * padding + b"%%EOF")
        sha256 = hashlib.sha256(other).hexdigest()
        if sha256[:2] == kept.sha256[:2] and sha256[2:4] != kept.sha256[2:4]:
            break
    removed = store.save(other)

    store.delete(removed.relative_path)

    assert not store.exists(removed.relative_path)
    assert not (tmp_path / removed.relative_path).parent.exists()
    assert store.path(kept.relative_path).read_bytes() == document


async def test_the_same_photo_saved_at_once_is_stored_once(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path)
    data = photo("JPEG")

    records = await asyncio.gather(*(asyncio.to_thread(store.save, data) for _ in range(8)))

    assert len(set(records)) == 1
    assert files_under(tmp_path) == [tmp_path / records[0].relative_path]
    assert store.path(records[0].relative_path).read_bytes() == data
