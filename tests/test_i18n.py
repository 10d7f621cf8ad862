"""Catalogs: every message has a Vietnamese and an English translation, and both compile."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import unicodedata
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from bot.i18n import LOCALES_DIR, NC_, Catalogs, compile_catalogs, pick_locale

ROOT = Path(__file__).resolve().parent.parent
# The keywords of scripts/i18n.sh: NC_, pgettext and npgettext take a context first.
KEYWORDS: dict[str, Any] = {
    "_": None,
    "gettext": None,
    "ngettext": (1, 2),
    "N_": None,
    "NC_": ((1, "c"), 2),
    "pgettext": ((1, "c"), 2),
    "npgettext": ((1, "c"), 2, 3),
}
PLACEHOLDER = re.compile(r"\{(\w*)\}")
Message = tuple[str | None, str | tuple[str, ...]]  # (context, msgid or singular and plural)


def source_messages() -> set[Message]:
    found: set[Message] = set()
    for package in ("bot", "domain", "handlers", "models"):
        for _file, _line, message, _comments, context in extract_from_dir(
            ROOT / package, method_map=[("**.py", "python")], keywords=KEYWORDS
        ):
            found.add((context, message))
    return found


@pytest.mark.parametrize("language", ["vi", "en"])
def test_every_message_is_translated(language: str) -> None:
    path = LOCALES_DIR / language / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    translations = {
        (m.context, m.id if isinstance(m.id, str) else tuple(m.id)): m for m in catalog if m.id
    }
    missing = []
    for message in source_messages():
        entry = translations.get(message)
        strings = (
            []
            if entry is None
            else ([entry.string] if isinstance(entry.string, str) else list(entry.string or ()))
        )
        if entry is None or not all(strings) or entry.fuzzy:
            missing.append(message)
    assert not missing, f"untranslated in {language} (run scripts/i18n.sh update): {missing}"


@pytest.mark.parametrize("language", ["vi", "en"])
def test_translations_keep_placeholders_and_are_nfc(language: str) -> None:
    path = LOCALES_DIR / language / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    for message in catalog:
        if not message.id:
            continue
        source = message.id if isinstance(message.id, str) else message.id[0]
        strings = [message.string] if isinstance(message.string, str) else (message.string or ())
        for string in strings:
            assert unicodedata.is_normalized("NFC", string), string
            assert set(PLACEHOLDER.findall(string)) == set(PLACEHOLDER.findall(source)), string
    assert not list(catalog.check())


def test_a_broken_catalog_does_not_compile(tmp_path: Path) -> None:
    shutil.copytree(LOCALES_DIR, tmp_path / "locales", ignore=shutil.ignore_patterns("*.mo"))
    po = tmp_path / "locales" / "vi" / "LC_MESSAGES" / "messages.po"
    po.write_text(po.read_text(encoding="utf-8") + '\nmsgid "x"\n', encoding="utf-8")
    with pytest.raises(ValueError, match="missing msgstr"):
        compile_catalogs(tmp_path / "locales")


def test_missing_or_stale_catalogs_are_compiled_on_start(tmp_path: Path) -> None:
    shutil.copytree(LOCALES_DIR, tmp_path / "locales", ignore=shutil.ignore_patterns("*.mo"))
    catalogs = Catalogs(tmp_path / "locales")
    vi = catalogs.translator("vi", ZoneInfo("Asia/Ho_Chi_Minh"))
    assert vi.gettext("Skip") == "Bỏ qua"
    assert (tmp_path / "locales" / "en" / "LC_MESSAGES" / "messages.mo").exists()


def test_one_word_is_translated_by_where_it_is_used() -> None:
    zone = ZoneInfo("Asia/Ho_Chi_Minh")
    vi = Catalogs().translator("vi", zone)
    assert vi.gettext(NC_("campaign", "Title")) == "Tên đợt thi đua"
    assert vi.gettext(NC_("initiative", "Title")) == "Tên sáng kiến, giải pháp"
    assert vi.pgettext("volunteer", "Description") != vi.pgettext("campaign", "Description")
    # A message the catalog lacks reads as its source text, without the context.
    assert vi.gettext(NC_("nowhere", "Not translated")) == "Not translated"
    assert vi.pgettext("nowhere", "Not translated") == "Not translated"


def test_formats_follow_the_locale() -> None:
    catalogs = Catalogs()
    zone = ZoneInfo("Asia/Ho_Chi_Minh")
    vi = catalogs.translator("vi", zone)
    en = catalogs.translator("en", zone)
    assert vi.money(1_234_567) == "1.234.567 ₫"
    assert en.money(1_234_567) == "1,234,567 ₫"
    assert vi.date(dt.date(2026, 11, 27)) == "27/11/2026"
    assert en.date(dt.date(2026, 11, 27)) == "27 Nov 2026"
    assert vi.number(1234.5) == "1.234,5"
    # Stored in UTC, shown in Vietnam's time: 17:30 UTC is 00:30 the next day.
    moment = dt.datetime(2026, 11, 27, 17, 30, tzinfo=dt.UTC)
    assert vi.datetime(moment) == "00:30 28/11/2026"


def test_locale_choice() -> None:
    assert pick_locale("en", "vi", "vi") == "en"
    assert pick_locale(None, "en-US", "vi") == "en"
    assert pick_locale(None, "fr", "vi") == "vi"
    assert pick_locale(None, None, "vi") == "vi"
    assert pick_locale(None, "not a locale!", "vi") == "vi"
