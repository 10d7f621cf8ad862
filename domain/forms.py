"""What a form is made of: fields with a kind, limits, a prompt and a hint. Declarations only;
bot.dialogue runs them, and the entry kinds (domain.kinds) are written in them."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CHOOSING", "Field", "FieldKind", "Invalid", "Option"]


@dataclass
class Invalid(Exception):
    """An answer broke a rule; `message` is a msgid formatted with `params` once translated."""

    message: str
    params: dict[str, Any] = field(default_factory=dict)


class FieldKind(enum.StrEnum):
    TEXT = "text"
    INTEGER = "integer"
    DECIMAL = "decimal"
    MONEY = "money"
    DATE = "date"  # a day that has passed (when something happened)
    DAY = "day"  # any day of the programme's years (a campaign's end)
    TIME = "time"  # a time of day, "HH:MM"
    MOMENT = "moment"  # a local date and time to come, "YYYY-MM-DDTHH:MM"
    YEAR = "year"
    CHOICE = "choice"
    MULTI_CHOICE = "multi_choice"
    UNIT = "unit"
    PHOTOS = "photos"
    LOCATION = "location"
    PHONE = "phone"


# Kinds whose answer is picking from what the prompt shows: a typed number means a choice.
CHOOSING = {FieldKind.CHOICE, FieldKind.MULTI_CHOICE, FieldKind.UNIT}


@dataclass(frozen=True)
class Option:
    value: str
    label: str  # msgid


# The callables receive the handler's context (bot.context.Context) as their first argument.
Check = Callable[[Any, Any, dict[str, Any]], Awaitable[Any]]
OptionsFor = Callable[[Any, dict[str, Any]], Awaitable[tuple[Option, ...]]]
Params = Callable[[Any, dict[str, Any]], dict[str, Any]]
Stale = Callable[[Any, str], Awaitable[str | None]]
Unusual = Callable[[Any, Any], bool]


@dataclass(frozen=True)
class Field:
    name: str
    kind: FieldKind
    prompt: str  # msgid; may hold {placeholders} filled by `params`
    hint: str | None = None  # msgid: how to answer
    label: str | None = None  # msgid: the field's name in a summary (default: the prompt)
    optional: bool = False
    options: tuple[Option, ...] = ()
    # Options that depend on the person or the answers so far (their units, their entries).
    options_for: OptionsFor | None = None
    min_length: int = 1
    max_length: int = 500
    minimum: float | None = None
    maximum: float | None = None
    max_files: int = 10
    params: Params | None = None  # values for the prompt's {placeholders}; text gets escaped
    # Runs after a valid answer (None when an optional field was skipped); may raise Invalid
    # or stop the form (bot.dialogue.Stop).
    check: Check | None = None
    stamp: bool = False  # store {"value": answer, "at": ISO time}, e.g. when consent was given
    ask_if: Callable[[dict[str, Any]], bool] | None = None
    # An answer that is valid but unusual (more than a day of volunteer hours, a birth year
    # that makes someone a child) is kept only once the person confirms it; `unusual_prompt`
    # asks, with the answer as {value} and the field's `params`.
    unusual: Unusual | None = None
    unusual_prompt: str | None = None
    # Shown in a reviewed form's summary, and offered there to change (not, say, consent).
    summarised: bool = True
    # For choices that act on a record (an entry at a revision): why a button that is not
    # among today's options no longer acts, e.g. "Entry #12 was approved at 10:02" (HTML).
    stale: Stale | None = None
