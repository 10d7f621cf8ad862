"""The statistics report, shared by /stats and `python -m bot stats`: the figures of this
month, this year and the whole movement as text, and the charts as PNG files."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n import Translator
from bot.text import escape
from domain.figures import Figures
from domain.kinds import KINDS
from domain.vocabulary import OPEN, Status
from models.stats import COUNTED, leaderboard, monthly_entries, totals
from models.tables import Unit

__all__ = [
    "CHART_MONTHS",
    "Chart",
    "charts",
    "months_between",
    "period_charts",
    "ranking_groups",
    "summary",
]

CHART_MONTHS = 12
RANKED = 15
MONTHLY_UP_TO = 24  # months a chart shows one by one; a longer period is drawn by year


@dataclass(frozen=True)
class Chart:
    file_name: str
    caption: str  # for the chat
    png: bytes
    title: str = ""  # what it shows, as drawn on it


def _figures_lines(t: Translator, found: dict[tuple[str, str], Figures]) -> list[str]:
    """Approved entries by kind, the waiting and returned ones apart, and what the approved
    ones add up to."""
    if not found:
        return [t.gettext("No entries yet.")]
    lines = []
    for name, kind in KINDS.items():
        by_status = {status: f.entries for (k, status), f in found.items() if k == name}
        if not by_status:
            continue
        lines.append(
            t.gettext(
                "• {kind}: {approved} approved (waiting for review {waiting}, returned {returned})"
            ).format(
                kind=t.gettext(kind.title),
                approved=t.number(sum(by_status.get(status, 0) for status in COUNTED)),
                waiting=t.number(sum(by_status.get(s, 0) for s in OPEN)),
                returned=t.number(by_status.get(Status.REJECTED, 0)),
            )
        )
    total = Figures(entries=0)
    for (_, status), figures in found.items():
        if status in COUNTED:
            total.add(figures)
    lines += [
        t.gettext("<i>Of approved entries:</i>"),
        t.gettext("Volunteer hours: {n}").format(n=t.number(round(total.volunteer_hours, 1))),
        t.gettext("Participants: {n} · beneficiaries: {m}").format(
            n=t.number(total.participants), m=t.number(total.beneficiaries)
        ),
        t.gettext("Jobs created: {n} · revenue of economic models: {money}").format(
            n=t.number(total.jobs), money=t.money(total.revenue)
        ),
    ]
    if total.budget or total.mobilised or total.models_replicated:
        lines.append(
            t.gettext(
                "Youth programmes: budget allocated {budget} · mobilised {mobilised} · "
                "models replicated {n}"
            ).format(
                budget=t.money(total.budget),
                mobilised=t.money(total.mobilised),
                n=t.number(total.models_replicated),
            )
        )
    return lines


async def summary(
    session: AsyncSession, t: Translator, scope: set[int] | None, name: str, today: dt.date
) -> str:
    """The figures of the units in scope (all: None) as HTML. Periods with the same figures
    (nothing yet, or everything in this month) are one block under both titles."""
    month = today.strftime("%Y-%m")
    periods = (
        (t.gettext("This month"), month, month),
        (t.gettext("This year"), f"{today.year}-01", month),
        (t.gettext("Since the movement began"), None, None),
    )
    blocks: list[tuple[list[str], dict[tuple[str, str], Figures]]] = []
    for title, first, last in periods:
        found = await totals(session, scope, first, last)
        if blocks and blocks[-1][1] == found:
            blocks[-1][0].append(title)
        else:
            blocks.append(([title], found))
    lines = [t.gettext("📊 <b>Statistics: {name}</b>").format(name=escape(name))]
    if len(blocks) == 1 and not blocks[0][1]:
        return "\n".join([*lines, "", t.gettext("No entries yet.")])
    for titles, found in blocks:
        lines += ["", "<b>{}</b>".format(" · ".join(titles)), *_figures_lines(t, found)]
    return "\n".join(lines)


def _month_keys(today: dt.date, count: int) -> list[str]:
    year, month = today.year, today.month
    keys = []
    for _ in range(count):
        keys.append(f"{year:04d}-{month:02d}")
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return keys[::-1]


async def ranking_groups(session: AsyncSession, scope: set[int] | None) -> dict[int, int]:
    """Each unit in scope and the unit it is ranked as: a branch counts for its commune."""
    parents = dict((await session.execute(select(Unit.id, Unit.parent_id))).all())
    units = set(parents) if scope is None else scope
    tops = {unit for unit in units if parents.get(unit) not in units}
    # One top (the province, or a secretary's commune): rank the units right below it.
    level = {u for u in units if parents.get(u) in tops} if len(tops) == 1 else tops
    groups = {}
    for unit in units:
        current: int | None = unit
        while current is not None and current not in level and current not in tops:
            current = parents.get(current)
        groups[unit] = current if current is not None else unit
    return groups


def months_between(first: str, last: str) -> list[str]:
    """Every month from first to last ("2026-01" … "2026-06"), both included."""
    year, month = int(first[:4]), int(first[5:7])
    months = []
    while f"{year:04d}-{month:02d}" <= last:
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


async def charts(
    session: AsyncSession, t: Translator, scope: set[int] | None, name: str, today: dt.date
) -> list[Chart]:
    """Entries per month of the last year by kind, and units ranked by approved entries
    (when any is approved): communes and wards apart from the provincial bodies; drawn in
    worker threads."""
    months = _month_keys(today, CHART_MONTHS)
    return await _draw(session, t, scope, name, months=months, period=None)


async def period_charts(
    session: AsyncSession,
    t: Translator,
    scope: set[int] | None,
    name: str,
    *,
    first: str,
    last: str,
) -> list[Chart]:
    """The same charts for the months of a period (by year when it is longer than two years),
    units ranked by what was approved in it."""
    months = months_between(first, last)
    return await _draw(session, t, scope, name, months=months, period=(first, last))


async def _draw(
    session: AsyncSession,
    t: Translator,
    scope: set[int] | None,
    name: str,
    *,
    months: list[str],
    period: tuple[str, str] | None,
) -> list[Chart]:
    # matplotlib and NumPy take some 40 MB: loaded when the first chart is drawn.
    from bot.charts import leaderboard_chart, monthly_chart  # noqa: PLC0415

    per_month = await monthly_entries(session, scope, months[0], months[-1])
    if len(months) > MONTHLY_UP_TO:
        labels = sorted({m[:4] for m in months})
        counts = {
            (year, key): sum(n for (m, k), n in per_month.items() if m[:4] == year and k == key)
            for year in labels
            for key in KINDS
        }
        title = t.gettext("Approved entries per year: {name}").format(name=name)
        caption = t.gettext("📈 Approved entries per year")
    else:
        labels = [f"{m[5:]}/{m[:4]}" for m in months]
        counts = {
            (f"{m[5:]}/{m[:4]}", key): per_month.get((m, key), 0) for m in months for key in KINDS
        }
        title = t.gettext("Approved entries per month: {name}").format(name=name)
        caption = t.gettext("📈 Approved entries per month")
    series = [
        (t.gettext(kind.title), [counts[(label, key)] for label in labels])
        for key, kind in KINDS.items()
    ]
    monthly = await asyncio.to_thread(
        monthly_chart,
        title,
        labels,
        series,
        value_label=t.gettext("approved entries"),
        number=t.number,
    )
    found = [Chart("entries-per-month.png", caption, monthly, title)]
    for file_name, board_title, board_caption, rows in await _rankings(session, t, scope, period):
        board = await asyncio.to_thread(
            leaderboard_chart,
            board_title,
            rows[:RANKED],
            value_label=t.gettext("approved entries"),
            number=t.number,
        )
        found.append(Chart(file_name, board_caption, board, board_title))
    return found


LOCAL = ("commune", "ward")  # the units most people register in, ranked among themselves


async def _rankings(
    session: AsyncSession,
    t: Translator,
    scope: set[int] | None,
    period: tuple[str, str] | None = None,
) -> list[tuple[str, str, str, list[tuple[str, int]]]]:
    """The rankings to draw: (file, title, caption, rows of name and approved entries), of
    the period's months when one is given.

    Every unit ranked is listed, those with none too, so that a commune secretary sees each
    branch below them; a ranking with nothing approved at all is left out."""
    groups = await ranking_groups(session, scope)
    counts = dict(await leaderboard(session, groups, *(period or (None, None))))
    units = {
        unit_id: (name, kind, parent)
        for unit_id, name, kind, parent in (
            await session.execute(
                select(Unit.id, Unit.name, Unit.kind, Unit.parent_id).where(
                    Unit.id.in_(set(groups.values())), Unit.kind != "province"
                )
            )
        ).all()
    }
    ranked = set(units)
    # A commune ranked beside the branches below it counts its own members' entries.
    own = {u for u in ranked if any(parent == u for _, _, parent in units.values())}

    def rows(members: set[int]) -> list[tuple[str, int]]:
        listed = [
            (
                t.gettext("{unit} (its own members)").format(unit=units[u][0])
                if u in own
                else units[u][0],
                counts.get(u, 0),
            )
            for u in members
        ]
        return sorted(listed, key=lambda row: (-row[1], row[0]))

    local = {u for u in ranked if units[u][1] in LOCAL and u not in own}
    bodies = ranked - local
    if scope is None and local and bodies:
        parts = [
            (
                "communes-ranked.png",
                t.gettext("Communes and wards ranked by approved entries"),
                t.gettext("🏆 Communes and wards ranked"),
                rows(local),
            ),
            (
                "bodies-ranked.png",
                t.gettext("Provincial bodies ranked by approved entries"),
                t.gettext("🏆 Provincial bodies ranked"),
                rows(bodies),
            ),
        ]
    else:
        parts = [
            (
                "units-ranked.png",
                t.gettext("Units ranked by approved entries"),
                t.gettext("🏆 Units ranked"),
                rows(ranked),
            )
        ]
    return [part for part in parts if any(count for _, count in part[3])]
