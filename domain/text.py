"""Normalising what people type, so that searches and comparisons ignore how it was typed, and
so that nothing invisible is stored."""

from __future__ import annotations

import re
import unicodedata

__all__ = ["bare", "clean", "clean_file_name", "fold", "nfc"]

_SPACES = re.compile(r"\s+")
_EDGES = re.compile(r"^[\W_]+|[\W_]+$")
# Unicode's bidirectional controls (UAX #9: the embeddings, overrides, isolates and marks):
# they reorder what others read ("Trojan Source"; "anh" U+202E "gpj.exe" shows as
# "anhexe.jpg").
BIDI_CONTROLS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
# Removed from everything a person types: those controls, and control characters other than
# whitespace (a NUL cannot be stored in PostgreSQL text at all).
_INVISIBLE = {
    code: None
    for code in (
        *(ord(char) for char in BIDI_CONTROLS),
        *(n for n in (*range(0x20), *range(0x7F, 0xA0)) if not chr(n).isspace()),
    )
}
MAX_FILE_NAME = 255  # what file systems and our column hold


def clean(text: str) -> str:
    """Without the invisible characters that must never be stored (see _INVISIBLE)."""
    return text.translate(_INVISIBLE)


def nfc(text: str) -> str:
    """Cleans, trims and NFC-normalises what a user typed (phones may send decomposed
    Vietnamese)."""
    return unicodedata.normalize("NFC", _SPACES.sub(" ", clean(text)).strip())


def clean_file_name(name: str | None) -> str | None:
    """A sent file's name as it may be stored and shown: cleaned, and at most 255 characters,
    keeping its extension."""
    if name is None:
        return None
    name = nfc(name)
    if len(name) <= MAX_FILE_NAME:
        return name or None
    stem, dot, extension = name.rpartition(".")
    if not dot or len(extension) > 16:
        return name[: MAX_FILE_NAME - 1] + "…"
    return stem[: MAX_FILE_NAME - len(extension) - 2] + "…." + extension


def fold(text: str) -> str:
    """Lower-case without diacritics, so "na sam" matches "Xã Na Sầm"."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _SPACES.sub(" ", bare).strip().casefold()


def bare(text: str) -> str:
    """Folded, without the icons and punctuation around it: "⬅️ Quay lại" is "quay lai"."""
    return _EDGES.sub("", fold(text))
