"""Evidence files: deciding whether sent bytes are an acceptable photo or PDF, and keeping them.

The channel downloads the bytes; `check` looks only at those bytes (never at names or claimed
types) and `EvidenceStore` keeps accepted files on disk under their SHA-256, so the same photo
sent twice is stored once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import re
import struct
import tempfile
import threading
import warnings
import zipfile
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from PIL import Image

from bot.events import Attachment, Inbound
from bot.i18n import N_

__all__ = [
    "MAX_BYTES",
    "MAX_PIXELS",
    "EvidenceRejected",
    "EvidenceStore",
    "StoredFile",
    "check",
]

MAX_BYTES = 20 * 1024 * 1024  # the Telegram getFile limit
MAX_PIXELS = 50_000_000  # beyond any phone camera; decoded, at most 200 MB (4 bytes a pixel)

_JPEG = "image/jpeg"
_PNG = "image/png"
_WEBP = "image/webp"
_PDF = "application/pdf"
_EXTENSIONS = {_JPEG: "jpg", _PNG: "png", _WEBP: "webp", _PDF: "pdf"}
# The Pillow plugin that opens each type, then every format name it may report:
# a JPEG with extra frames (some Android cameras) opens as MPO.
_PILLOW_FORMATS = {_JPEG: ("JPEG", "MPO"), _PNG: ("PNG",), _WEBP: ("WEBP",)}
# Major brands of HEIF files (iPhone photos are "heic"); AVIF is left to the general message.
_HEIF_BRANDS = frozenset(
    (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"msf1")
)
# What Pillow raises on malformed input (the exceptions its own fuzz tests accept).
_PILLOW_FAILURES = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    IndexError,
    TypeError,
    NotImplementedError,
    OverflowError,
    struct.error,
)
# catch_warnings() swaps the process-wide filter list, so concurrent checks would restore each
# other's copy; one image at a time also bounds memory to a single decoded image.
_PILLOW_LOCK = threading.Lock()
_RELATIVE_PATH = re.compile(
    r"(?P<first>[0-9a-f]{2})/(?P<second>[0-9a-f]{2})/(?P=first)(?P=second)[0-9a-f]{60}"
    r"\.(?:jpg|png|webp|pdf)"
)

_EMPTY = N_("That file is empty. Please send it again.")
_TOO_LARGE = N_("That file is larger than {max_mb} MB. Please send a smaller one.")
_UNSUPPORTED = N_("Please send a photo (JPEG, PNG or WebP) or a PDF document.")
_HEIC = N_(
    "iPhone HEIC photos are not supported yet. Please send the photo as JPEG: "
    "send it as a photo, not as a file."
)
_DAMAGED_IMAGE = N_("That image is damaged or incomplete. Please send it again.")
_TOO_MANY_PIXELS = N_("That image is too large in pixels. Please send a smaller one.")
_DAMAGED_PDF = N_("That PDF is damaged or incomplete. Please send it again.")
_ACTIVE_PDF = N_(
    "That PDF contains scripts, actions that run when it is opened, or attached files, so it "
    "cannot be accepted. Please print or save it again as a plain PDF, or send photos of its "
    "pages."
)
_UNCHECKED_PDF = N_(
    "That PDF could not be checked for scripts. Please print or save it again as a plain "
    "PDF, or send photos of its pages."
)
# PDF names that make a reader run or open something (ISO 32000-1: 12.6 "Actions", the
# document's automatic action, JavaScript, launching a program, submitting or importing form
# data, rich media; 7.11.4 embedded files; XFA forms carry scripts of their own). Links
# (/URI) and moving within the document are not among them. Every such action is written
# with one of these names, long enough never to occur by chance in an image's bytes, so the
# whole file is searched, stream content included.
_ACTIVE_NAMES = frozenset(
    (
        b"JavaScript",
        b"OpenAction",
        b"Launch",
        b"SubmitForm",
        b"ImportData",
        b"RichMedia",
        b"XFA",
        b"EmbeddedFile",
        b"EmbeddedFiles",
    )
)
# A name token (7.3.5): a solidus, then regular characters, where #xx writes any byte.
_PDF_NAME = re.compile(rb"/([^\x00\t\n\x0c\r ()<>\[\]{}/%]+)")
_PDF_HEX = re.compile(rb"#([0-9A-Fa-f]{2})")
_PDF_STREAM = re.compile(rb"(?<!end)stream(?:\r\n|\n|\r)")
# The standard filters (7.4), and the abbreviations some readers accept for them too.
_PDF_FILTERS = frozenset(
    (
        *(b"ASCIIHexDecode", b"ASCII85Decode", b"LZWDecode", b"FlateDecode"),
        *(b"RunLengthDecode", b"CCITTFaxDecode", b"JBIG2Decode", b"DCTDecode"),
        *(b"JPXDecode", b"Crypt", b"AHx", b"A85", b"LZW", b"Fl", b"RL", b"CCF", b"DCT"),
    )
)
# Object streams (7.5.7) hold ordinary objects compressed; what they unpack to is searched
# too, up to this much in all (beyond any genuine document's objects, and a bound on bombs).
_MAX_INFLATED = 64 * 1024 * 1024


@dataclass
class EvidenceRejected(Exception):
    """Sent bytes are not acceptable evidence; `message` is a msgid formatted with `params`."""

    message: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredFile:
    """An accepted file as kept in the store."""

    sha256: str
    size: int
    mime: str
    kind: str  # "photo" or "document"
    relative_path: str  # "ab/cd/abcd…ef.jpg", POSIX separators, relative to the store root
    original_name: str | None
    width: int | None  # images only
    height: int | None


def check(
    data: bytes, *, original_name: str | None = None
) -> tuple[str, str, int | None, int | None]:
    """(mime, extension, width, height) of acceptable evidence, else EvidenceRejected."""
    # Blocking (Pillow decodes images): callers run it in a thread. original_name is accepted
    # for the callers' convenience only: a name never decides the type.
    if not data:
        raise EvidenceRejected(_EMPTY)
    if len(data) > MAX_BYTES:
        raise EvidenceRejected(_TOO_LARGE, {"max_mb": MAX_BYTES // (1024 * 1024)})
    mime = _sniff(data)
    if _is_archive(data):
        # A picture that is also a ZIP (a polyglot) would hand whoever opens the evidence
        # whatever it unpacks to.
        raise EvidenceRejected(_UNSUPPORTED)
    if mime == _PDF:
        if b"%%EOF" not in data[-1024:]:
            raise EvidenceRejected(_DAMAGED_PDF)
        if _pdf_names(data) & _ACTIVE_NAMES:
            # Reviewers open evidence on their own machines: nothing in it may run there.
            raise EvidenceRejected(_ACTIVE_PDF)
        return mime, _EXTENSIONS[mime], None, None
    width, height = _decode(data, _PILLOW_FORMATS[mime])
    return mime, _EXTENSIONS[mime], width, height


def _pdf_names(data: bytes) -> set[bytes]:
    """Every name in the PDF, with #xx escapes decoded, and in what its object streams hold.

    Each "stream" keyword is looked at on its own, so that a fake one (inside a string) cannot
    hide the streams after it."""
    names = _names_in(data)
    budget = _MAX_INFLATED
    for stream in _PDF_STREAM.finditer(data):
        header = data[max(0, stream.start() - 4096) : stream.start()]
        dictionary = _names_in(header[header.rfind(b"obj") :])
        # An object stream by its type, or by the keys readers need to unpack it (some
        # readers find it through the cross-reference stream alone, whatever its type).
        if b"ObjStm" not in dictionary and not {b"N", b"First"} <= dictionary:
            continue
        end = data.find(b"endstream", stream.end())
        if end == -1:
            raise EvidenceRejected(_DAMAGED_PDF)
        content = _object_stream(data[stream.end() : end], dictionary, budget)
        budget -= len(content)
        names |= _names_in(content)
    return names


def _names_in(text: bytes) -> set[bytes]:
    return {
        _PDF_HEX.sub(lambda match: bytes.fromhex(match.group(1).decode()), name)
        for name in _PDF_NAME.findall(text)
    }


def _object_stream(body: bytes, dictionary: set[bytes], budget: int) -> bytes:
    """The objects an object stream holds: as they are, or inflated (FlateDecode, the filter
    writers use for them); anything else cannot be checked."""
    if b"Filter" not in dictionary:
        return body
    if dictionary & _PDF_FILTERS != {b"FlateDecode"} or b"DecodeParms" in dictionary:
        raise EvidenceRejected(_UNCHECKED_PDF)
    inflater = zlib.decompressobj()
    try:
        content = inflater.decompress(body, budget + 1)
    except zlib.error:
        raise EvidenceRejected(_UNCHECKED_PDF) from None
    if len(content) > budget:
        raise EvidenceRejected(_UNCHECKED_PDF)
    return content


def _is_archive(data: bytes) -> bool:
    """Whether the bytes also read as a ZIP archive (its directory ends the file)."""
    return b"PK\x05\x06" in data[-65_557:] and zipfile.is_zipfile(io.BytesIO(data))


def _sniff(data: bytes) -> str:
    """The accepted type the leading bytes announce."""
    if data.startswith(b"\xff\xd8\xff"):
        return _JPEG
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return _PNG
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return _WEBP
    if data.startswith(b"%PDF-"):
        return _PDF
    if data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS:
        raise EvidenceRejected(_HEIC)
    raise EvidenceRejected(_UNSUPPORTED)


def _decode(data: bytes, formats: tuple[str, ...]) -> tuple[int, int]:
    """Width and height of an image that decodes completely and is not a decompression bomb."""
    with _PILLOW_LOCK, warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        # Pillow warns and carries on about odd metadata (a broken APNG or MPO table); the
        # pixels decide, and under "warnings as errors" these would escape as exceptions.
        warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")
        try:
            # Only the plugin the magic bytes named parses the file: no guessing among formats.
            with Image.open(io.BytesIO(data), formats=formats[:1]) as image:
                if image.format not in formats:
                    raise EvidenceRejected(_DAMAGED_IMAGE)
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise EvidenceRejected(_TOO_MANY_PIXELS)
                if image.format in ("JPEG", "MPO"):
                    # libjpeg still reads every byte but scales by 1/8: a truncated file fails
                    # the same way, with 1/64 of the memory.
                    image.draft(image.mode, (max(1, width // 8), max(1, height // 8)))
                image.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise EvidenceRejected(_TOO_MANY_PIXELS) from None
        except _PILLOW_FAILURES:
            raise EvidenceRejected(_DAMAGED_IMAGE) from None
    return width, height


class EvidenceStore:
    """Accepted files on disk at <root>/ab/cd/<sha256>.<ext>, written atomically."""

    def __init__(self, root: Path) -> None:
        self._root = root.resolve()

    def save(self, data: bytes, *, original_name: str | None = None) -> StoredFile:
        """Checks the bytes, then stores them unless the same bytes are already stored."""
        mime, extension, width, height = check(data, original_name=original_name)
        sha256 = hashlib.sha256(data).hexdigest()
        relative_path = f"{sha256[:2]}/{sha256[2:4]}/{sha256}.{extension}"
        target = self.path(relative_path)
        try:
            stored = target.stat().st_size == len(data)
        except FileNotFoundError:
            stored = False
        if stored:
            # Sent again: it is in use again, and unused files are swept by age.
            os.utime(target)
        else:
            self._write(target, data)
        return StoredFile(
            sha256=sha256,
            size=len(data),
            mime=mime,
            kind="document" if mime == _PDF else "photo",
            relative_path=relative_path,
            original_name=original_name,
            width=width,
            height=height,
        )

    def path(self, relative_path: str) -> Path:
        """The absolute path of a stored file; ValueError for anything save() did not make."""
        # Only our own shape is allowed, so "..", absolute paths and backslashes never pass.
        if not _RELATIVE_PATH.fullmatch(relative_path):
            raise ValueError(f"not a path in the evidence store: {relative_path!r}")
        return self._root / relative_path

    def delete(self, relative_path: str) -> None:
        """Removes a stored file, if there, and the shard folders it leaves empty."""
        target = self.path(relative_path)
        target.unlink(missing_ok=True)
        for folder in (target.parent, target.parent.parent):
            try:
                folder.rmdir()
            except FileNotFoundError:
                continue
            except OSError:  # still holds other files, or a save is writing into it
                break

    def exists(self, relative_path: str) -> bool:
        return self.path(relative_path).is_file()

    def stored(self) -> list[str]:
        """Every stored file, by its relative path."""
        return sorted(
            relative
            for path in self._root.glob("*/*/*")
            if _RELATIVE_PATH.fullmatch(relative := path.relative_to(self._root).as_posix())
        )

    def put(self, relative_path: str, data: bytes) -> bool:
        """Puts back a file taken from a store like this one (a backup); False when it is
        there already. ValueError when the content is not the one its name says."""
        target = self.path(relative_path)
        if hashlib.sha256(data).hexdigest() != Path(relative_path).stem:
            raise ValueError(f"the content of {relative_path} is not what its name says")
        if target.is_file():
            return False
        self._write(target, data)
        return True

    def older_than(self, moment: dt.datetime) -> list[str]:
        """Stored files last written or sent before `moment` (candidates for the sweep)."""
        cutoff = moment.timestamp()
        return [
            relative for relative in self.stored() if self.path(relative).stat().st_mtime < cutoff
        ]

    def _write(self, target: Path, data: bytes) -> None:
        """Writes a temporary file beside the target, syncs it, then renames it into place."""
        folder = target.parent
        try:
            descriptor, temporary = _create_temporary(folder)
        except FileNotFoundError:
            # delete() pruned the shard folder between mkdir and mkstemp: make it again.
            descriptor, temporary = _create_temporary(folder)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            Path(temporary).replace(target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        # The rename and any new shard folders survive a crash only once their folders are synced.
        for synced in (folder, folder.parent, self._root):
            _fsync_directory(synced)


def _create_temporary(folder: Path) -> tuple[int, str]:
    folder.mkdir(parents=True, exist_ok=True)
    return tempfile.mkstemp(dir=folder, prefix=".", suffix=".part")


def _fsync_directory(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


async def fetch_attachments(
    inbound: Inbound, download: Callable[[Attachment], Awaitable[StoredFile]]
) -> Inbound:
    """The inbound with each file downloaded (by the channel), checked and stored, noting
    for each where it is or why it was refused. Done before the transaction, which must not
    wait on the network."""
    fetched = []
    for attachment in inbound.attachments:
        try:
            stored = await download(attachment)
        except EvidenceRejected as rejected:
            fetched.append(
                replace(attachment, problem=rejected.message, problem_params=rejected.params)
            )
            continue
        fetched.append(
            replace(
                attachment,
                sha256=stored.sha256,
                path=stored.relative_path,
                mime_type=stored.mime,
                size=stored.size,
            )
        )
    return replace(inbound, attachments=tuple(fetched))
