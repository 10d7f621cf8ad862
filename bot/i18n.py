"""Translations and locale-aware formatting.

Catalogs live in locales/<lang>/LC_MESSAGES/messages.po; the .mo next to each is compiled by
the setup scripts, and again on start when it is missing or older than its .po (an operator who
ran a plain `pip install .` gets translations too). A .po that cannot be compiled is refused.
"""

from __future__ import annotations

import datetime as dt
import gettext
import logging
from dataclasses import dataclass
from decimal import Decimal
from io import BytesIO
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import PoFileError, read_po
from babel.numbers import format_currency, format_decimal

import locales
from domain.vocabulary import CONTEXT_SEPARATOR, N_, NC_

__all__ = ["NC_", "N_", "Catalogs", "Translator", "compile_catalogs", "pick_locale"]

LOCALES_DIR = Path(locales.__file__).parent
SUPPORTED = ("vi", "en")
DOMAIN = "messages"
log = logging.getLogger(__name__)

# How dates read to each locale: 27/11/2026 in Vietnamese, 27 Nov 2026 in English.
DATE_PATTERNS = {"vi": "dd/MM/yyyy", "en": "d MMM yyyy"}
DATETIME_PATTERNS = {"vi": "HH:mm dd/MM/yyyy", "en": "d MMM yyyy, HH:mm"}


def compile_catalogs(directory: Path = LOCALES_DIR, *, cache_dir: Path | None = None) -> None:
    """Compiles every .po whose .mo is missing or stale; raises ValueError on a broken .po."""
    for po_path in sorted(directory.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        data = _compile(po_path)
        try:
            mo_path.write_bytes(data)
        except OSError:
            if cache_dir is None:
                raise
            # An installed package may be read-only: keep the compiled catalog beside the data.
            target = cache_dir / po_path.relative_to(directory).with_suffix(".mo")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)


def _compile(po_path: Path) -> bytes:
    with po_path.open("rb") as handle:
        try:
            catalog = read_po(handle, locale=po_path.parts[-3], abort_invalid=True)
        except PoFileError as error:
            raise ValueError(f"{po_path}: {error}") from None
    errors = list(catalog.check())
    if errors:
        message, problems = errors[0]
        raise ValueError(f"{po_path}: {message.id!r}: {problems[0]}")
    buffer = BytesIO()
    write_mo(buffer, catalog)
    return buffer.getvalue()


def pick_locale(saved: str | None, client: str | None, default: str) -> str:
    """The saved choice, else the client's language if we speak it, else the default."""
    if saved in SUPPORTED:
        return saved
    if client:
        try:
            language = Locale.parse(client.replace("-", "_")).language
        except (ValueError, UnknownLocaleError):
            language = None
        if language in SUPPORTED:
            return language
    return default


class Catalogs:
    """The loaded translations, one per supported locale."""

    def __init__(self, directory: Path = LOCALES_DIR, *, cache_dir: Path | None = None) -> None:
        compile_catalogs(directory, cache_dir=cache_dir)
        self._translations: dict[str, gettext.GNUTranslations] = {}
        for language in SUPPORTED:
            relative = Path(language, "LC_MESSAGES", f"{DOMAIN}.mo")
            candidates = [directory / relative]
            if cache_dir is not None:
                candidates.append(cache_dir / relative)
            found = next((path for path in candidates if path.exists()), None)
            if found is None:
                raise FileNotFoundError(f"no compiled catalog for {language} in {directory}")
            with found.open("rb") as handle:
                self._translations[language] = gettext.GNUTranslations(handle)

    def translator(self, language: str, timezone: ZoneInfo) -> Translator:
        return Translator(language, self._translations[language], timezone)


@dataclass(frozen=True)
class Translator:
    """Everything a handler needs to speak one user's language."""

    locale: str
    catalog: gettext.GNUTranslations
    timezone: ZoneInfo

    def _(self, message: str) -> str:
        return self.gettext(message)

    def gettext(self, message: str) -> str:
        """The translation; a message marked with NC_ carries its context in the msgid."""
        translated = self.catalog.gettext(message)
        if CONTEXT_SEPARATOR in translated:  # not in the catalog: the source text
            return translated.rpartition(CONTEXT_SEPARATOR)[2]
        return translated

    def pgettext(self, context: str, message: str) -> str:
        """The translation of `message` where it means what `context` says."""
        return self.gettext(NC_(context, message))

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self.catalog.ngettext(singular, plural, n)

    def npgettext(self, context: str, singular: str, plural: str, n: int) -> str:
        return self.catalog.npgettext(context, singular, plural, n)

    def date(self, value: dt.date) -> str:
        return format_date(value, DATE_PATTERNS[self.locale], locale=self.locale)

    def datetime(self, value: dt.datetime) -> str:
        local = value.astimezone(self.timezone)
        return format_datetime(local, DATETIME_PATTERNS[self.locale], locale=self.locale)

    def number(self, value: int | float | Decimal) -> str:
        return format_decimal(value, locale=self.locale)

    def money(self, dong: int) -> str:
        # Vietnamese writes the symbol after the amount: 1.234.567 ₫
        return format_currency(dong, "VND", format="#,##0 ¤", locale=self.locale)
