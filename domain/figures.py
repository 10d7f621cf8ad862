"""What entries add up to: each figure counts one clear thing.

- entries: approved entries (the headline figures count nothing else; waiting ones are shown
  apart);
- participants and volunteer hours: a person's hours are their own, an activity's total is
  the activity's — an individual volunteer entry counts its reporter once with their own
  hours, a collective one its participants times the hours each gave;
- beneficiaries: people who benefited from volunteer work;
- jobs and revenue: of economic models;
- budget, mobilised and models replicated: what departments, bodies and communes report of
  their youth programmes and plans (the plan's criteria IV.1.a–b): the budget they allocated
  and the resources they mobilised (đồng), and the models of young people they replicated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

__all__ = ["Figures", "figures_of"]


@dataclass
class Figures:
    entries: int = 0
    participants: int = 0
    volunteer_hours: float = 0.0
    beneficiaries: int = 0
    jobs: int = 0
    revenue: int = 0  # đồng
    budget: int = 0  # đồng
    mobilised: int = 0  # đồng
    models_replicated: int = 0

    def add(self, other: Figures) -> None:
        for name in NAMES:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @classmethod
    def of_sums(cls, sums: Sequence[Any]) -> Figures:
        """Figures from database sums in the order of NAMES (NULL when nothing was added)."""
        values: dict[str, Any] = {
            name: float(value or 0) if name == "volunteer_hours" else int(value or 0)
            for name, value in zip(NAMES, sums, strict=True)
        }
        return cls(**values)

    def scaled(self, sign: int) -> dict[str, Any]:
        return {name: getattr(self, name) * sign for name in NAMES}


NAMES = tuple(f.name for f in fields(Figures))


def own_hours(answers: Mapping[str, Any]) -> float:
    """The hours an individual volunteer entry records for its reporter (entries made before
    individual and collective hours were told apart recorded them as "hours")."""
    return float(answers.get("own_hours") or answers.get("hours") or 0)


def figures_of(kind: str, answers: Mapping[str, Any], *, collective: bool) -> Figures:
    """What one entry adds to the figures of its unit and month."""
    if kind == "volunteer":
        if collective:
            participants = int(answers.get("participants") or 0)
            hours = float(answers.get("hours") or 0) * participants
        else:
            participants, hours = 1, own_hours(answers)
        return Figures(
            entries=1,
            participants=participants,
            volunteer_hours=hours,
            beneficiaries=int(answers.get("beneficiaries") or 0),
        )
    if kind == "economic_model":
        return Figures(
            entries=1, jobs=int(answers.get("jobs") or 0), revenue=int(answers.get("revenue") or 0)
        )
    if kind == "programme":
        return Figures(
            entries=1,
            budget=int(answers.get("budget") or 0),
            mobilised=int(answers.get("mobilised") or 0),
            models_replicated=int(answers.get("models_replicated") or 0),
        )
    return Figures(entries=1)
