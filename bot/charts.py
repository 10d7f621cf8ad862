"""PNG charts for the statistics replies: entries per month, and units ranked.

The functions take labels already translated and plain numbers, and return the PNG bytes.
They build a `Figure` on its own Agg canvas, never through pyplot, and name the font file
for every text, so there is no global state: the caller may run several at once in worker
threads (`asyncio.to_thread`). The font is the DejaVu Sans that ships inside matplotlib, which
has every Vietnamese letter, so the charts never depend on the fonts of the system.
"""

from __future__ import annotations

import io
import textwrap
import unicodedata
from collections.abc import Callable, Sequence
from pathlib import Path

import matplotlib
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.ticker import MaxNLocator

__all__ = [
    "DPI",
    "MAX_LABEL_LINE",
    "MAX_LABEL_LINES",
    "MAX_ROWS",
    "PALETTE",
    "leaderboard_chart",
    "monthly_chart",
]

MAX_ROWS = 15  # units a leaderboard shows
MAX_LABEL_LINE = 30  # characters of a unit name on one line of its label
MAX_LABEL_LINES = 2  # lines of a label; a longer name ends with "…" after a whole word
Number = Callable[[int], str]  # how a count is written: 13.207 in Vietnamese
DPI = 110
_WIDTH = 8.0  # inches: 880 px at DPI, readable on a phone once Telegram scales it
_MONTHLY_HEIGHT = 5.0
_ROW_HEIGHT = 0.42  # inches per leaderboard row, plus the title and caption below
_LEADERBOARD_MARGIN = 1.4
_MIN_SLOTS = 3  # bars a chart has room for, even when it has fewer
_TITLE_WIDTH = 60  # characters per title line
_FONTS = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
_REGULAR = _FONTS / "DejaVuSans.ttf"
_BOLD = _FONTS / "DejaVuSans-Bold.ttf"
# Okabe–Ito: told apart by colour-blind readers too.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000")
_GRID = "#DDDDDD"


def monthly_chart(
    title: str,
    months: Sequence[str],
    series: Sequence[tuple[str, Sequence[int]]],
    *,
    value_label: str = "",
    number: Number = str,
) -> bytes:
    """Entries per month as stacked bars, one colour per kind, with each month's total on top.

    `series` is (kind label, one count per month); every count list is as long as `months`.
    `value_label` names what is counted (the y-axis); `number` writes a count.
    """
    return _png(_monthly_figure(title, months, series, value_label=value_label, number=number))


def leaderboard_chart(
    title: str, rows: Sequence[tuple[str, int]], *, value_label: str, number: Number = str
) -> bytes:
    """Units ranked by a count as horizontal bars, the biggest at the top, at most MAX_ROWS.

    `value_label` names what is counted; it is written under the bars. `number` writes a
    count.
    """
    return _png(_leaderboard_figure(title, rows, value_label=value_label, number=number))


def _monthly_figure(
    title: str,
    months: Sequence[str],
    series: Sequence[tuple[str, Sequence[int]]],
    *,
    value_label: str = "",
    number: Number = str,
) -> Figure:
    for _, counts in series:
        _check_counts(counts, len(months))
    figure = Figure(figsize=(_WIDTH, _MONTHLY_HEIGHT), dpi=DPI, layout="constrained")
    axes = figure.add_subplot()
    _set_title(axes, title)
    positions = range(len(months))
    bottoms = [0] * len(months)
    bars = None
    for index, (kind, counts) in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        bars = axes.bar(positions, counts, bottom=bottoms, width=0.7, color=colour, label=kind)
        bottoms = [below + count for below, count in zip(bottoms, counts, strict=True)]
    if bars is not None:
        totals = [number(total) if total else "" for total in bottoms]
        axes.bar_label(bars, totals, padding=2, fontproperties=_font(9), parse_math=False)
    rotation = 45 if len(months) > 6 else 0
    axes.set_xticks(
        list(positions),
        [_clean(month) for month in months],
        fontproperties=_font(10),
        rotation=rotation,
        ha="right" if rotation else "center",
        rotation_mode="anchor",
        parse_math=False,
    )
    # Few months keep the width of three, centred, rather than one bar as wide as the chart.
    middle, half = (len(months) - 1) / 2, max(len(months), _MIN_SLOTS) / 2
    axes.set_xlim(middle - half, middle + half)
    _count_axis(axes, max(bottoms, default=0), number)
    if value_label:
        axes.set_ylabel(_clean(value_label), fontproperties=_font(10), parse_math=False)
    _tidy(axes, grid="y")
    if series:
        legend = figure.legend(
            loc="outside lower center", ncols=min(len(series), 3), prop=_font(10), frameon=False
        )
        for text in legend.get_texts():
            text.set_parse_math(False)
    return figure


def _leaderboard_figure(
    title: str, rows: Sequence[tuple[str, int]], *, value_label: str, number: Number = str
) -> Figure:
    for _, value in rows:
        _check_counts([value], 1)
    ranked = sorted(rows, key=lambda row: row[1], reverse=True)[:MAX_ROWS]
    slots = max(len(ranked), _MIN_SLOTS)  # so one unit's bar is no thicker than many's
    height = _LEADERBOARD_MARGIN + _ROW_HEIGHT * slots
    figure = Figure(figsize=(_WIDTH, height), dpi=DPI, layout="constrained")
    axes = figure.add_subplot()
    _set_title(axes, title)
    positions = range(len(ranked))
    values = [value for _, value in ranked]
    bars = axes.barh(positions, values, height=0.65, color=PALETTE[0])
    labels = [number(value) for value in values]
    axes.bar_label(bars, labels, padding=3, fontproperties=_font(10), parse_math=False)
    axes.set_yticks(
        list(positions),
        [_label(_clean(name)) for name, _ in ranked],
        fontproperties=_font(10),
        parse_math=False,
    )
    axes.set_ylim(slots - 0.5, -0.5)  # the first row at the top
    # Room on the right for the number written after the longest bar.
    axes.set_xlim(0, max(values, default=0) * 1.12 or 1)
    axes.set_xticks([])
    axes.set_xlabel(_clean(value_label), fontproperties=_font(10), parse_math=False)
    axes.tick_params(axis="y", length=0)
    _tidy(axes, grid=None)
    return figure


def _check_counts(counts: Sequence[int], expected: int) -> None:
    if len(counts) != expected:
        raise ValueError(f"{len(counts)} counts for {expected} months")
    if any(count < 0 for count in counts):
        raise ValueError("counts cannot be negative")


def _font(size: float, *, bold: bool = False) -> FontProperties:
    return FontProperties(fname=_BOLD if bold else _REGULAR, size=size)


def _clean(text: str) -> str:
    """NFC, so letters typed decomposed on a phone render as one glyph each."""
    return unicodedata.normalize("NFC", " ".join(text.split()))


def _label(name: str) -> str:
    """A unit name on at most MAX_LABEL_LINES lines, broken between words; a name longer than
    that ends with "…" after its last whole word that fits."""
    lines = textwrap.wrap(name, MAX_LABEL_LINE, break_long_words=False, break_on_hyphens=False)
    if len(lines) <= MAX_LABEL_LINES:
        return "\n".join(lines)
    kept = lines[:MAX_LABEL_LINES]
    last = kept[-1]
    while len(last) + 1 > MAX_LABEL_LINE and " " in last:
        last = last.rsplit(" ", 1)[0]
    return "\n".join([*kept[:-1], last + "…"])


def _set_title(axes: Axes, title: str) -> None:
    wrapped = textwrap.fill(_clean(title), _TITLE_WIDTH)
    axes.set_title(wrapped, fontproperties=_font(13, bold=True), pad=10, parse_math=False)


def _count_axis(axes: Axes, top: int, number: Number) -> None:
    """Whole-number ticks from 0, with headroom for the totals written above the bars."""
    ceiling = max(top, 1)
    located = MaxNLocator(nbins=6, integer=True).tick_values(0, ceiling)
    ticks = [int(tick) for tick in located if 0 <= tick <= ceiling * 1.1]
    axes.set_yticks(ticks, [number(tick) for tick in ticks], fontproperties=_font(10))
    axes.set_ylim(0, ceiling * 1.1)


def _tidy(axes: Axes, *, grid: str | None) -> None:
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    if grid == "y":
        axes.yaxis.grid(visible=True, color=_GRID, linewidth=0.8)
        axes.set_axisbelow(True)


def _png(figure: Figure) -> bytes:
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, facecolor="white", metadata={"Software": None})
    return buffer.getvalue()
