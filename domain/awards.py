"""The award ladder as data (data/awards.toml): the award forms, who may propose each, the
levels a nomination passes on its way to a decision, what the plan asks of each kind of
participant, the review periods, and how approved entries score toward suggesting candidates.

Parsed and checked once, when the configuration is loaded; a mistake names its key.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from domain.figures import NAMES, figures_of
from domain.kinds import KINDS
from domain.vocabulary import Role

__all__ = [
    "PEOPLE",
    "AwardForm",
    "Ladder",
    "LadderError",
    "Level",
    "NamedPeriod",
    "Participant",
    "ScoreRule",
    "parse_ladder",
]

# The participant types that are people (nominated as members); the others are units.
PEOPLE = ("individual", "official")
# Who may decide at a level: secretaries of a unit above the proposing one, admins (Tỉnh
# Đoàn), or appraisers (Sở Nội vụ).
REVIEWERS = (Role.SECRETARY, Role.ADMIN, Role.APPRAISER)


class LadderError(ValueError):
    """The ladder file is wrong; the message names the key."""


@dataclass(frozen=True)
class Level:
    code: str
    name: str
    reviewers: Role


@dataclass(frozen=True)
class Participant:
    code: str
    name: str
    source: str  # where the plan names the criteria
    criteria: tuple[str, ...]
    unit_kinds: frozenset[str]  # units of these kinds are nominated as this type


@dataclass(frozen=True)
class AwardForm:
    code: str
    name: str
    rank: int  # 1 for the lowest
    decided_by: str
    proposed_by: frozenset[str]  # unit kinds whose secretaries may propose it
    participants: frozenset[str]
    levels: tuple[str, ...]


@dataclass(frozen=True)
class NamedPeriod:
    code: str
    name: str
    first: dt.date
    last: dt.date


@dataclass(frozen=True)
class ScoreRule:
    """What one approved entry of a kind scores: `points`, or points by one of its answers
    (`by`), plus points per unit of what it adds up to (`per`), at most `most`."""

    kind: str
    points: float = 0.0
    by: str | None = None
    by_points: Mapping[str, float] | None = None
    per: Mapping[str, float] | None = None
    most: float | None = None

    def score(self, answers: Mapping[str, Any], *, collective: bool) -> float:
        points = self.points
        if self.by is not None and self.by_points is not None:
            points = self.by_points.get(str(answers.get(self.by)), 0.0)
        figures = figures_of(self.kind, answers, collective=collective)
        for name, each in (self.per or {}).items():
            points += each * getattr(figures, name)
        if self.most is not None:
            points = min(points, self.most)
        return round(points, 1)


@dataclass(frozen=True)
class Ladder:
    levels: Mapping[str, Level]
    participants: Mapping[str, Participant]
    awards: Mapping[str, AwardForm]  # lowest first
    periods: Mapping[str, NamedPeriod]
    scores: Mapping[str, ScoreRule]

    def score(self, kind: str, answers: Mapping[str, Any], *, collective: bool) -> float:
        """What an approved entry scores; 0 for a kind without a rule."""
        rule = self.scores.get(kind)
        return rule.score(answers, collective=collective) if rule else 0.0

    def unit_participant(self, unit_kind: str) -> str | None:
        """The participant type a unit of this kind is nominated as."""
        return next(
            (code for code, p in self.participants.items() if unit_kind in p.unit_kinds), None
        )

    def proposable(self, unit_kind: str, participant: str) -> list[AwardForm]:
        """The award forms a unit of this kind may propose for this kind of participant."""
        return [
            award
            for award in self.awards.values()
            if unit_kind in award.proposed_by and participant in award.participants
        ]


def parse_ladder(text: str) -> Ladder:
    """The ladder in a TOML text; raises LadderError naming the wrong key."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise LadderError(f"not valid TOML: {error}") from None
    levels = {
        code: Level(code, _text(item, f"levels.{code}.name"), _reviewers(item, code))
        for code, item in _tables(raw, "levels")
    }
    participants = {
        code: Participant(
            code,
            _text(item, f"participants.{code}.name"),
            _text(item, f"participants.{code}.source"),
            tuple(_texts(item, f"participants.{code}.criteria")),
            frozenset(_texts(item, f"participants.{code}.unit_kinds", required=False)),
        )
        for code, item in _tables(raw, "participants")
    }
    for missing in set(PEOPLE) - set(participants):
        raise LadderError(f"participants.{missing}: missing (people are nominated as it)")
    awards = {}
    for rank, (code, item) in enumerate(_tables(raw, "awards"), start=1):
        key = f"awards.{code}"
        award = AwardForm(
            code,
            _text(item, f"{key}.name"),
            rank,
            _text(item, f"{key}.decided_by"),
            frozenset(_texts(item, f"{key}.proposed_by")),
            frozenset(_texts(item, f"{key}.participants")),
            tuple(_texts(item, f"{key}.levels")),
        )
        _known(award.levels, levels, f"{key}.levels")
        _known(award.participants, participants, f"{key}.participants")
        if len(set(award.levels)) != len(award.levels):
            raise LadderError(f"{key}.levels: a level is named twice")
        if levels[award.levels[-1]].reviewers == Role.SECRETARY:
            raise LadderError(f"{key}.levels: the last level cannot be one that may be skipped")
        awards[code] = award
    periods = {}
    for code, item in _tables(raw, "periods", required=False):
        key = f"periods.{code}"
        first, last = _date(item, f"{key}.from"), _date(item, f"{key}.to")
        if last < first:
            raise LadderError(f"{key}.to: before {key}.from")
        periods[code] = NamedPeriod(code, _text(item, f"{key}.name"), first, last)
    scores = {code: _score(code, item) for code, item in _tables(raw, "scores", required=False)}
    return Ladder(levels, participants, awards, periods, scores)


def _tables(raw: Mapping[str, Any], key: str, *, required: bool = True) -> list[tuple[str, Any]]:
    tables = raw.get(key)
    if tables is None and not required:
        return []
    if not isinstance(tables, dict) or not tables:
        raise LadderError(f"{key}: missing, or not a table of tables")
    for code, item in tables.items():
        if not isinstance(item, dict):
            raise LadderError(f"{key}.{code}: must be a table")
    return list(tables.items())


def _text(item: Mapping[str, Any], key: str) -> str:
    value = item.get(key.rsplit(".", 1)[-1])
    if not isinstance(value, str) or not value.strip():
        raise LadderError(f"{key}: must be a non-empty string")
    return value.strip()


def _texts(item: Mapping[str, Any], key: str, *, required: bool = True) -> list[str]:
    value = item.get(key.rsplit(".", 1)[-1])
    if value is None and not required:
        return []
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise LadderError(f"{key}: must be a non-empty list of strings")
    return value


def _date(item: Mapping[str, Any], key: str) -> dt.date:
    value = item.get(key.rsplit(".", 1)[-1])
    if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
        raise LadderError(f"{key}: must be a date, for example 2025-06-30")
    return value


def _number(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise LadderError(f"{key}: must be a number of points, 0 or more")
    return float(value)


def _reviewers(item: Mapping[str, Any], code: str) -> Role:
    value = item.get("reviewers")
    if value not in REVIEWERS:
        names = ", ".join(REVIEWERS)
        raise LadderError(f"levels.{code}.reviewers: must be one of {names}")
    return Role(value)


def _known(codes: Iterable[str], known: Mapping[str, Any], key: str) -> None:
    for code in codes:
        if code not in known:
            raise LadderError(f"{key}: unknown {code!r}")


def _score(kind: str, item: Mapping[str, Any]) -> ScoreRule:
    key = f"scores.{kind}"
    if kind not in KINDS:
        raise LadderError(f"{key}: unknown entry kind (one of {', '.join(KINDS)})")
    by = item.get("by")
    points = item.get("points", 0)
    by_points = None
    if by is not None:
        if not isinstance(by, str) or by not in {f.name for f in KINDS[kind].fields}:
            raise LadderError(f"{key}.by: not an answer of {kind}")
        if not isinstance(points, dict):
            raise LadderError(f"{key}.points: must be a table of points by answer with `by`")
        by_points = {str(k): _number(v, f"{key}.points.{k}") for k, v in points.items()}
        points = 0
    per = item.get("per", {})
    if not isinstance(per, dict):
        raise LadderError(f"{key}.per: must be a table of points per figure")
    _known(per, dict.fromkeys(NAMES), f"{key}.per")
    most = item.get("most")
    return ScoreRule(
        kind,
        _number(points, f"{key}.points"),
        by,
        by_points,
        {name: _number(value, f"{key}.per.{name}") for name, value in per.items()},
        None if most is None else _number(most, f"{key}.most"),
    )
