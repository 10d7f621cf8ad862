"""The PNG charts: real images, bars drawn, Vietnamese rendered, odd data survived."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import unicodedata
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import matplotlib
import pytest
from PIL import Image

from bot.charts import (
    MAX_LABEL_LINE,
    MAX_LABEL_LINES,
    MAX_ROWS,
    PALETTE,
    _leaderboard_figure,
    _monthly_figure,
    leaderboard_chart,
    monthly_chart,
)

ROOT = Path(__file__).resolve().parent.parent
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
KINDS = ("Sáng kiến", "Hoạt động tình nguyện", "Mô hình kinh tế")
MONTHS = [f"{month:02d}/2026" for month in range(1, 7)]
UNITS = [
    "Phường Đông Kinh",
    "Xã Hữu Lũng",
    "Đoàn Thanh niên Sở Giáo dục và Đào tạo",
    "Phường Kỳ Lừa",
    "Xã Đồng Đăng",
    "Đoàn Thanh niên Công an tỉnh Lạng Sơn và các đơn vị trực thuộc",
    "Xã Na Sầm",
    "Xã Bắc Sơn",
    "Xã Lộc Bình",
    "Xã Đình Lập",
    "Xã Tràng Định",
    "Xã Văn Quan",
    "Xã Bình Gia",
    "Xã Chi Lăng",
    "Xã Cao Lộc",
    "Xã Thất Khê",
    "Xã Văn Lãng",
    "Đoàn Thanh niên Bệnh viện Đa khoa tỉnh Lạng Sơn",
]


def series(*rows: list[int]) -> list[tuple[str, list[int]]]:
    return list(zip(KINDS, rows, strict=False))


def image(png: bytes) -> Image.Image:
    assert png.startswith(PNG_SIGNATURE)
    assert len(png) < 1_000_000
    picture = Image.open(io.BytesIO(png))
    assert picture.format == "PNG"
    return picture.convert("RGB")


def pixels(png: bytes, colour: str) -> int:
    """How many pixels have exactly this colour (bars are filled flat, without antialiasing)."""
    wanted = tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))
    colours = image(png).getcolors(maxcolors=1 << 24) or []
    return sum(count for count, rgb in colours if rgb == wanted)


def test_monthly_chart_is_a_phone_sized_png() -> None:
    png = monthly_chart("Phần việc theo tháng", MONTHS, series([1, 2, 3, 4, 5, 6]))

    width, height = image(png).size
    assert 600 <= width <= 1200
    assert 400 <= height <= 900


def test_monthly_chart_stacks_one_colour_per_kind() -> None:
    data = series([3, 5, 0, 7, 2, 9], [10, 12, 4, 7, 9, 3], [1, 0, 2, 1, 3, 0])
    zeros = series([0] * 6, [0] * 6, [0] * 6)

    drawn = monthly_chart("Có số liệu", MONTHS, data)
    empty = monthly_chart("Có số liệu", MONTHS, zeros)

    for colour in PALETTE[: len(KINDS)]:
        # The all-zero chart only shows each colour in its legend key.
        assert pixels(drawn, colour) > pixels(empty, colour) + 1000
    # Taller bars take more pixels: the second kind has the most entries.
    assert pixels(drawn, PALETTE[1]) > pixels(drawn, PALETTE[0]) > pixels(drawn, PALETTE[2])


@pytest.mark.parametrize(
    ("months", "rows"),
    [
        (MONTHS, [[0] * 6, [0] * 6, [0] * 6]),
        (["01/2026"], [[4], [0], [2]]),
        (["01/2026"], [[0], [0], [0]]),
        ([f"{month:02d}/2025" for month in range(1, 13)] * 2, [[1] * 24]),
        ([], [[], [], []]),
        ([], []),
        (MONTHS, []),
    ],
    ids=[
        "all-zero",
        "one-month",
        "one-month-zero",
        "24-months",
        "no-months",
        "nothing",
        "no-kinds",
    ],
)
def test_monthly_chart_survives_odd_data(months: list[str], rows: list[list[int]]) -> None:
    image(monthly_chart("Biểu đồ", months, series(*rows)))


def test_monthly_chart_rejects_counts_that_do_not_match_the_months() -> None:
    with pytest.raises(ValueError, match="counts"):
        monthly_chart("Biểu đồ", MONTHS, series([1, 2]))
    with pytest.raises(ValueError, match="negative"):
        monthly_chart("Biểu đồ", ["01/2026"], series([-1]))


def test_vietnamese_renders_without_missing_glyphs() -> None:
    title = "Thống kê phần việc: Đoàn Thanh niên tỉnh Lạng Sơn — quý I/2026 (ước tính)"
    decomposed = unicodedata.normalize("NFD", "Xã Hữu Lũng, Phường Kỳ Lừa")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        image(monthly_chart(title, ["01/2026", "02/2026"], series([1, 2], [3, 4], [5, 6])))
        image(
            leaderboard_chart(title, [(decomposed, 5), *[(u, 2) for u in UNITS]], value_label="Số")
        )


def test_a_glyph_the_font_lacks_is_reported() -> None:
    """The check above would catch a font without Vietnamese: a missing glyph warns."""
    with pytest.warns(UserWarning, match="missing from font"):
        monthly_chart("Thống kê 漢字", ["01/2026"], series([1]))


def test_labels_with_dollar_signs_are_not_read_as_math() -> None:
    image(leaderboard_chart("$x^2$ và $", [("Chi đoàn $100$", 3)], value_label="$"))


def test_leaderboard_draws_bars_with_the_value_at_their_end() -> None:
    rows = [("Phường Đông Kinh", 12), ("Xã Hữu Lũng", 30), ("Xã Na Sầm", 7)]

    drawn = leaderboard_chart("Xếp hạng", rows, value_label="Số phần việc")
    empty = leaderboard_chart("Xếp hạng", [(name, 0) for name, _ in rows], value_label="Số")

    assert pixels(drawn, PALETTE[0]) > 10_000
    assert pixels(empty, PALETTE[0]) == 0
    figure = _leaderboard_figure("Xếp hạng", rows, value_label="Số phần việc")
    texts = {text.get_text() for text in figure.axes[0].texts}
    assert texts == {"30", "12", "7"}


def test_leaderboard_puts_the_biggest_at_the_top() -> None:
    rows = [("Xã Na Sầm", 7), ("Xã Hữu Lũng", 30), ("Phường Đông Kinh", 12), ("Xã Bắc Sơn", 12)]

    axes = _leaderboard_figure("Xếp hạng", rows, value_label="Số").axes[0]

    labels = [label.get_text() for label in axes.get_yticklabels()]
    assert labels == ["Xã Hữu Lũng", "Phường Đông Kinh", "Xã Bắc Sơn", "Xã Na Sầm"]
    bottom, top = axes.get_ylim()
    assert top < bottom  # the first label is drawn at the top


def test_leaderboard_caps_rows_and_shortens_long_names() -> None:
    long_names = [f"{name} và các chi đoàn trực thuộc" for name in UNITS + UNITS]
    rows = [(name, 100 - index) for index, name in enumerate(long_names)]

    axes = _leaderboard_figure("Xếp hạng", rows, value_label="Số").axes[0]

    labels = [label.get_text() for label in axes.get_yticklabels()]
    assert len(labels) == MAX_ROWS
    assert labels[0].startswith("Phường Đông Kinh")
    assert len(axes.patches) == MAX_ROWS
    for label, (name, _) in zip(labels, sorted(rows, key=lambda row: -row[1]), strict=False):
        lines = label.split("\n")
        assert len(lines) <= MAX_LABEL_LINES
        assert all(len(line) <= MAX_LABEL_LINE for line in lines), label
        # Whole words of the name, in order: never cut in the middle of one.
        shown = " ".join(lines).removesuffix("…").split()
        assert shown == name.split()[: len(shown)], label
        assert label.endswith("…") == (len(shown) < len(name.split()))


def test_numbers_are_written_as_the_reader_writes_them() -> None:
    dotted = "{:,}".format
    vietnamese = lambda n: dotted(n).replace(",", ".")  # noqa: E731

    board = _leaderboard_figure(
        "Xếp hạng",
        [("Xã Na Sầm", 13_207), ("Xã Hữu Lũng", 950)],
        value_label="Số",
        number=vietnamese,
    )
    assert {text.get_text() for text in board.axes[0].texts} == {"13.207", "950"}
    monthly = _monthly_figure(
        "Theo tháng",
        ["01/2026", "02/2026"],
        series([12_000, 1_207], [0, 0]),
        value_label="Số báo cáo",
        number=vietnamese,
    ).axes[0]
    assert {text.get_text() for text in monthly.texts} >= {"12.000", "1.207"}
    assert monthly.get_ylabel() == "Số báo cáo"
    assert any("." in label.get_text() for label in monthly.get_yticklabels())


def test_leaderboard_grows_with_rows_up_to_the_cap() -> None:
    def height(count: int) -> int:
        rows = [(UNITS[index % len(UNITS)], index) for index in range(count)]
        return image(leaderboard_chart("Xếp hạng", rows, value_label="Số")).size[1]

    assert height(1) == height(3) < height(10) < height(MAX_ROWS) == height(40)
    assert height(MAX_ROWS) < 1200


@pytest.mark.parametrize(
    "rows", [[], [("Xã Hữu Lũng", 0)], [("Xã Hữu Lũng", 0), ("Xã Na Sầm", 0)]]
)
def test_leaderboard_survives_empty_and_zero_data(rows: list[tuple[str, int]]) -> None:
    image(leaderboard_chart("Xếp hạng", rows, value_label="Số"))


def test_charts_render_the_same_from_many_threads() -> None:
    def render(index: int) -> bytes:
        if index % 2:
            return leaderboard_chart(
                "Xếp hạng", [(u, i) for i, u in enumerate(UNITS)], value_label="Số"
            )
        return monthly_chart("Theo tháng", MONTHS, series([1, 2, 3, 4, 5, 6], [6, 5, 4, 3, 2, 1]))

    expected = [render(0), render(1)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(render, range(16)))

    assert all(png == expected[index % 2] for index, png in enumerate(results))


def test_charts_leave_matplotlib_settings_alone() -> None:
    before = dict(matplotlib.rcParams)

    monthly_chart("Theo tháng", MONTHS, series([1] * 6))
    leaderboard_chart("Xếp hạng", [("Xã Hữu Lũng", 1)], value_label="Số")

    assert dict(matplotlib.rcParams) == before


def test_charts_need_no_display_and_no_pyplot() -> None:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DISPLAY", "WAYLAND_DISPLAY"}
    }
    env["MPLBACKEND"] = "TkAgg"  # a GUI backend, which would fail if anything selected it
    code = (
        "import sys; from bot.charts import monthly_chart; "
        "png = monthly_chart('Thử', ['01/2026'], [('Sáng kiến', [1])]); "
        "print(len(png) > 0, 'matplotlib.pyplot' in sys.modules)"
    )

    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )

    assert result.stdout.split() == ["True", "False"]
