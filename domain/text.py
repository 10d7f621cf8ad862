"""Normalising what people type, so that searches and comparisons ignore how it was typed."""

from __future__ import annotations

import re
import unicodedata

__all__ = ["bare", "fold", "nfc"]

_SPACES = re.compile(r"\s+")
_EDGES = re.compile(r"^[\W_]+|[\W_]+$")


def nfc(text: str) -> str:
    """Trims and NFC-normalises what a user typed (phones may send decomposed Vietnamese)."""
    return unicodedata.normalize("NFC", _SPACES.sub(" ", text).strip())


def fold(text: str) -> str:
    """Lower-case without diacritics, so "na sam" matches "Xã Na Sầm"."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _SPACES.sub(" ", bare).strip().casefold()


def bare(text: str) -> str:
    """Folded, without the icons and punctuation around it: "⬅️ Quay lại" is "quay lai"."""
    return _EDGES.sub("", fold(text))
