"""Small text helpers shared by the core and the channels."""

from __future__ import annotations

import html
import re

from domain.text import bare, fold, nfc

__all__ = ["bare", "escape", "fold", "format_phone", "nfc", "split_text", "strip_html"]

_TAGS = re.compile(r"</?(?:b|i)>")


def escape(text: str) -> str:
    """Escapes user text for the HTML that replies are written in."""
    return html.escape(text, quote=False)


def format_phone(stored: str) -> str:
    """A stored mobile number (+84912345678) as Vietnamese write it: 0912 345 678."""
    if stored.startswith("+84") and len(stored) == 12 and stored[1:].isdigit():
        local = "0" + stored[3:]
        return f"{local[:4]} {local[4:7]} {local[7:]}"
    return escape(stored)


def strip_html(text: str) -> str:
    """Plain text for channels without formatting (console, Zalo)."""
    return html.unescape(_TAGS.sub("", text))


def split_text(text: str, limit: int) -> list[str]:
    """Splits a long message into parts of at most `limit` characters, at paragraph or line
    boundaries where possible, never inside an HTML tag or entity."""
    parts: list[str] = []
    current = ""
    for paragraph in text.split("\n"):
        line = paragraph
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) <= limit:
            current = candidate
            continue
        if current:
            parts.append(current)
        while len(line) > limit:
            cut = _safe_cut(line, limit)
            parts.append(line[:cut])
            line = line[cut:].lstrip()
        current = line
    if current or not parts:
        parts.append(current)
    return parts


def _safe_cut(line: str, limit: int) -> int:
    """A cut position at or before `limit`: after a space, and outside <tags> and &entities;."""
    cut = line.rfind(" ", 0, limit)
    cut = cut if cut > limit // 2 else limit
    for opener, closer in (("<", ">"), ("&", ";")):
        start = line.rfind(opener, 0, cut)
        if start != -1 and line.find(closer, start, cut) == -1 and start > 0:
            cut = start
    return cut
