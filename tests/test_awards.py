"""The award ladder as data, the candidates approved entries suggest, and what departments,
bodies and communes report of their youth programmes (a fourth entry kind)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.app import App
from bot.config import ConfigError, load
from domain.awards import LadderError, parse_ladder
from models.tables import Entry, Unit
from tests.conftest import ROOT, make_config, run_bot
from tests.test_abuse import Chat
from tests.test_admin import give, roles_of_local
from tests.test_nominations import add_approved, approve, console, member_id
from tests.test_reporting import REGISTER, say
from tests.test_stats import add_plain_members

SHIPPED = (ROOT / "data" / "awards.toml").read_text(encoding="utf-8")


def test_the_shipped_ladder_is_the_plans() -> None:
    """The award forms of the plan (IV.2.a), lowest first; each passes Tỉnh Đoàn, and
    those the provincial chairman or higher decide pass Sở Nội vụ last; the plan's criteria
    for each kind of participant (IV.1)."""
    ladder = parse_ladder(SHIPPED)
    assert [award.name for award in ladder.awards.values()] == [
        "Giấy khen",
        "Bằng khen của Chủ tịch UBND tỉnh",
        "Bằng khen của Thủ tướng Chính phủ",
        "Huân chương Lao động hạng Ba",
    ]
    assert {code: award.levels for code, award in ladder.awards.items()} == {
        "giay-khen": ("co-so", "tinh-doan"),
        "bang-khen-ubnd-tinh": ("co-so", "tinh-doan", "so-noi-vu"),
        "bang-khen-thu-tuong": ("tinh-doan", "so-noi-vu"),
        "huan-chuong-lao-dong-hang-ba": ("tinh-doan", "so-noi-vu"),
    }
    assert [(level.name, level.reviewers) for level in ladder.levels.values()] == [
        ("Đoàn cấp trên trực tiếp", "secretary"),
        ("Tỉnh Đoàn", "admin"),
        ("Sở Nội vụ", "appraiser"),
    ]
    assert set(ladder.participants) == {
        "individual",
        "official",
        "collective",
        "organisation",
        "commune",
    }
    assert ladder.unit_participant("commune") == "commune"
    assert ladder.unit_participant("department") == "organisation"
    assert ladder.unit_participant("branch") == "collective"
    # A branch proposes a Giấy khen only; a commune up to the Huân chương.
    assert [a.code for a in ladder.proposable("branch", "individual")] == ["giay-khen"]
    assert len(ladder.proposable("commune", "individual")) == 4
    assert "Bố trí ngân sách" in " ".join(ladder.participants["commune"].criteria)
    assert ladder.periods["so-ket"].last == dt.date(2025, 6, 30)


def test_an_initiative_applied_across_the_province_scores_more_than_in_the_unit() -> None:
    ladder = parse_ladder(SHIPPED)
    score = ladder.score
    assert score("initiative", {"scope": "province"}, collective=False) == 10
    assert score("initiative", {"scope": "commune"}, collective=False) == 5
    assert score("initiative", {"scope": "unit"}, collective=False) == 3
    # A person's own hours; an activity's total for a unit; at most 10.
    assert score("volunteer", {"own_hours": 4}, collective=False) == 1.4
    assert score("volunteer", {"participants": 25, "hours": 3}, collective=True) == 8.5
    assert score("volunteer", {"participants": 100, "hours": 8}, collective=True) == 10
    assert score("economic_model", {"jobs": 6}, collective=False) == 7
    assert score("programme", {"models_replicated": 3}, collective=True) == 8


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('levels = ["co-so", "tinh-doan"]', 'levels = ["co-so", "x"]'), "awards.giay-khen"),
        (('reviewers = "appraiser"', 'reviewers = "mayor"'), "levels.so-noi-vu.reviewers"),
        (("to = 2025-06-30", "to = 2020-06-30"), "periods.so-ket.to: before"),
        (("per = { jobs = 0.5 }", "per = { smiles = 1 }"), "scores.economic_model.per"),
        (('by = "scope"', 'by = "colour"'), "scores.initiative.by"),
        (("[scores.programme]", "[scores.poems]"), "scores.poems: unknown entry kind"),
        (('levels = ["tinh-doan", "so-noi-vu"]', 'levels = ["so-noi-vu", "co-so"]'), "skipped"),
    ],
)
def test_a_wrong_ladder_names_its_key(change: tuple[str, str], message: str) -> None:
    old, new = change
    assert old in SHIPPED
    with pytest.raises(LadderError, match=message):
        parse_ladder(SHIPPED.replace(old, new, 1))


def test_a_ladder_of_ones_own_replaces_the_shipped_one(tmp_path: Path) -> None:
    """awards.file points at another ladder; a broken one stops every command with one line
    naming the key, and exit code 2."""
    own = SHIPPED.replace('name = "Giấy khen"', 'name = "Giấy khen của Ban Thường vụ Tỉnh Đoàn"')
    (tmp_path / "awards.toml").write_text(own, encoding="utf-8")
    (tmp_path / "config.toml").write_text(
        (ROOT / "config.toml")
        .read_text(encoding="utf-8")
        .replace(
            "[awards]\n# The award ladder", '[awards]\nfile = "awards.toml"\n# The award ladder'
        )
        .replace('\nfile = ""\n', "\n"),
        encoding="utf-8",
    )
    config = load(tmp_path / "config.toml", {})
    assert config.ladder.awards["giay-khen"].name == "Giấy khen của Ban Thường vụ Tỉnh Đoàn"
    listed = run_bot(tmp_path, "awards", "list")
    assert listed.returncode == 0, listed.stderr
    assert "1. Giấy khen của Ban Thường vụ Tỉnh Đoàn" in listed.stdout

    (tmp_path / "awards.toml").write_text(own.replace('"tinh-doan"]', '"x"]', 1), encoding="utf-8")
    with pytest.raises(
        ConfigError, match=r"awards\.file: awards\.toml: awards\.giay-khen\.levels"
    ):
        load(tmp_path / "config.toml", {})
    broken = run_bot(tmp_path, "awards", "list")
    assert broken.returncode == 2
    assert "awards.file: awards.toml: awards.giay-khen.levels: unknown 'x'" in broken.stderr


def test_awards_list_prints_the_ladder_criteria_and_scoring(tmp_path: Path) -> None:
    make_config(tmp_path)
    listed = run_bot(tmp_path, "awards", "list")
    assert listed.returncode == 0, listed.stderr
    out = listed.stdout
    for line in (
        "2. Bằng khen của Chủ tịch UBND tỉnh",
        "Thẩm quyền quyết định: Chủ tịch Ủy ban nhân dân tỉnh Lạng Sơn",
        "Các cấp xét: Đoàn cấp trên trực tiếp → Tỉnh Đoàn → Sở Nội vụ → quyết định",
        "Sở Nội vụ: cán bộ thẩm định (Sở Nội vụ)",
        "Ủy ban nhân dân xã, phường (Kế hoạch, mục IV.1.b (cấp huyện nay là cấp xã))",
        "Sáng kiến, giải pháp: Trong đơn vị của tôi: 3; Trong xã, phường: 5; Trên toàn tỉnh: 10",
        "Hoạt động tình nguyện: 1; +0,1 mỗi giờ tình nguyện; tối đa 10",
    ):
        assert line in out, line
    english = run_bot(tmp_path, "awards", "list", "--language", "en")
    assert "Passes: Tỉnh Đoàn → Sở Nội vụ → decision" in english.stdout


# -- candidates ------------------------------------------------------------------------------


async def test_candidates_are_ranked_by_score_with_the_entries_behind_them(app: App) -> None:
    """Of Na Sầm: Mai's initiative applied across the province outscores Tùng's two applied
    in his unit; a collective activity ranks the commune among units; a member of another
    commune is not the secretary's candidate."""
    secretary = Chat(app, "local")  # the console user, whom `give` makes secretary
    await console(secretary, *REGISTER)
    async with app.db.write() as session:
        mai, tung = await add_plain_members(session, 2)
        (other,) = await add_plain_members(session, 1, "ls-x-dong-dang", first_chat=800_000)
    today = dt.datetime.now(app.config.tz).date().isoformat()

    def initiative(title: str, scope: str) -> dict[str, object]:
        return {"title": title, "scope": scope, "applied_on": today}

    await add_approved(app, "initiative", mai, "ls-x-na-sam", initiative("Sổ tay số", "province"))
    await add_approved(app, "initiative", tung, "ls-x-na-sam", initiative("Bảng tin", "unit"))
    await add_approved(app, "initiative", tung, "ls-x-na-sam", initiative("Tủ sách", "unit"))
    await add_approved(app, "initiative", other, "ls-x-dong-dang", initiative("Khác", "province"))
    await give(app, "secretary", "ls-x-na-sam")
    clean_up = {"activity": "Ra quân làm sạch bờ suối", "date": today, "participants": 25}
    reporter = await member_id(app, "Hoàng Thị Mai")
    await add_approved(
        app, "volunteer", reporter, "ls-x-na-sam", {**clean_up, "hours": 3}, collective=True
    )
    shown = await console(secretary, "/nominations", "1", "1")
    names = [line for line in shown.splitlines() if line[:2] in ("1.", "2.", "3.")]
    assert names[:2] == [
        "1. Đoàn viên ls-x-na-sam 0 · Xã Na Sầm: 10 điểm",
        "2. Đoàn viên ls-x-na-sam 1 · Xã Na Sầm: 6 điểm",
    ]
    assert "1. Xã Na Sầm: 8,5 điểm" in shown
    assert "Sổ tay số · " in shown and "Bảng tin · " in shown and "Tủ sách · " in shown
    assert "Khác" not in shown and "ls-x-dong-dang" not in shown
    assert "  1. 👤 Đoàn viên ls-x-na-sam 0" in shown  # choose one to propose them
    assert "  3. 👥 Xã Na Sầm" in shown


# -- a youth programme or plan, for departments, bodies and communes -----------------------------


async def test_only_secretaries_of_departments_bodies_and_communes_report_programmes(
    app: App,
) -> None:
    for line in REGISTER:
        await say(app, line)
    assert "Chương trình, kế hoạch" not in await say(app, "/report")
    await say(app, "/cancel")
    async with app.db.write() as session:
        na_sam = (await session.scalars(select(Unit).where(Unit.code == "ls-x-na-sam"))).one()
        session.add(
            Unit(
                code="ls-b",
                name="Chi đoàn thôn Bản Chu",
                search_name="chi doan thon ban chu",
                kind="branch",
                parent_id=na_sam.id,
            )
        )
    await give(app, "secretary", "ls-b")
    assert "Chương trình, kế hoạch" not in await say(app, "/report")  # a branch
    await say(app, "/cancel")
    await give(app, "secretary", "ls-x-na-sam")
    kinds = await say(app, "/report")
    assert "4. Chương trình, kế hoạch" in kinds
    asked = await say(app, "4")
    assert "Bạn báo cáo cho đơn vị nào của mình?" in asked
    assert "1. Xã Na Sầm" in asked and "Chi đoàn" not in asked and "Cá nhân" not in asked
    await say(app, "1")
    await say(app, "Kế hoạch thực hiện Chương trình phát triển thanh niên năm 2026")
    assert "Số văn bản phải có chữ số" in await say(app, "KH-UBND")
    issued = dt.datetime.now(app.config.tz).date() - dt.timedelta(days=3)
    await say(app, "45/KH-UBND")
    await say(app, f"{issued:%d/%m/%Y}")
    await say(app, "Kế hoạch phát triển kinh tế - xã hội 5 năm 2026–2030 của xã")
    await say(app, "150 triệu")
    await say(app, "30 triệu")
    await say(app, "3")
    summary = await say(app, "Xã bố trí kinh phí và nhân rộng ba mô hình kinh tế của thanh niên.")
    summary = await say(app, "bỏ qua")
    for line in (
        "Chương trình, kế hoạch: Kế hoạch thực hiện Chương trình phát triển thanh niên năm 2026",
        "Số: 45/KH-UBND",
        f"Ngày ban hành: {issued:%d/%m/%Y}",
        "Kinh phí bố trí: 150.000.000",
        "Nguồn lực huy động: 30.000.000",
        "Số mô hình được nhân rộng: 3",
    ):
        assert line in summary, line
    sent = await say(app, "1")
    assert "đã được gửi tới Tỉnh Đoàn để duyệt" in sent
    async with app.db.write() as session:
        entry = (await session.scalars(select(Entry))).one()
        assert (entry.kind, entry.collective, entry.happened_on) == ("programme", True, issued)
        await approve(session, entry.id, app.config.tz)
    await give(app, "admin")
    figures = await say(app, "/stats")
    assert (
        "Chương trình, kế hoạch thanh niên: kinh phí bố trí 150.000.000 ₫ · huy động "
        "30.000.000 ₫ · mô hình được nhân rộng 3" in figures
    )


# -- who appraises ----------------------------------------------------------------------------


async def test_an_admin_makes_someone_an_appraiser_of_so_noi_vu(app: App, tmp_path: Path) -> None:
    """In the chat with /roles, or on the command line before the person has written."""
    for line in REGISTER:
        await say(app, line)
    await give(app, "admin")
    await say(app, "/roles")
    await say(app, "mai")
    change = await say(app, "1")
    assert "3. Giao làm cán bộ thẩm định của Sở Nội vụ (thẩm định hồ sơ khen thưởng)" in change
    done = await say(app, "3")
    assert "Đã giao cho Hoàng Thị Mai làm cán bộ thẩm định (Sở Nội vụ)." in done
    assert ("appraiser", None) in await roles_of_local(app)
    assert "📥 Chờ bạn xem xét (0)" in await say(app, "/nominations")

    granted = run_bot(
        tmp_path, "roles", "grant", "appraiser", "--channel", "telegram", "--user-id", "4242"
    )
    assert granted.returncode == 0, granted.stderr
    assert granted.stdout.strip() == "Đã giao quyền: cán bộ thẩm định (Sở Nội vụ)."
