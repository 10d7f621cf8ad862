"""Statistics: the running totals always equal a count of the entries, whatever happens to
them; /stats shows a secretary their units with charts; who has not reported, and a reminder
to them in one tap; new entries attach to the campaign that counts their kind."""

from __future__ import annotations

import datetime as dt
import io
import random
from collections import defaultdict
from typing import Any
from zoneinfo import ZoneInfo

from PIL import Image
from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App
from bot.channels.console import parse_line
from bot.statistics import _rankings
from domain.figures import Figures, figures_of
from models.entries import (
    Reviewer,
    current_campaign,
    decide,
    revise_entry,
    save_entry,
    scope_unit_ids,
    withdraw_entry,
)
from models.privacy import erase_member
from models.stats import silent_members, silent_units, totals
from models.tables import Campaign, Entry, Identity, Member, OutboxMessage, Unit
from tests.test_admin import give
from tests.test_reporting import REGISTER, VOLUNTEER, say

LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")
ADMIN = Reviewer(scope=None, member_id=None)  # decides anything
PNG = b"\x89PNG\r\n\x1a\n"


async def add_plain_members(
    session: AsyncSession, count: int, unit_code: str = "ls-x-na-sam", first_chat: int = 700_000
) -> list[int]:
    """Registered members with a Telegram chat each, written directly; their ids."""
    unit_id = (await session.scalars(select(Unit.id).where(Unit.code == unit_code))).one()
    ids = list(
        (
            await session.scalars(
                insert(Member).returning(Member.id),
                [
                    {
                        "full_name": f"Đoàn viên {unit_code} {n}",
                        "birth_year": 2001,
                        "is_minor": False,
                        "unit_id": unit_id,
                        "broadcasts_off": False,
                    }
                    for n in range(count)
                ],
            )
        ).all()
    )
    # What registration keeps: how many members the unit has.
    await session.execute(
        update(Unit).where(Unit.id == unit_id).values(members=Unit.members + count)
    )
    await session.execute(
        insert(Identity),
        [
            {
                "channel": "telegram",
                "user_id": str(first_chat + n),
                "chat_id": str(first_chat + n),
                "member_id": member_id,
            }
            for n, member_id in enumerate(ids)
        ],
    )
    return ids


def _answers(kind: str, rng: random.Random, *, collective: bool) -> dict[str, Any]:
    day = (dt.date(2026, 1, 1) + dt.timedelta(days=rng.randint(0, 330))).isoformat()
    if kind == "volunteer" and collective:
        return {
            "activity": "Dọn vệ sinh",
            "date": day,
            "participants": rng.randint(1, 50),
            "hours": rng.choice([0.5, 1, 2.5, 4, 36]),
            "beneficiaries": rng.randint(0, 500),
        }
    if kind == "volunteer":
        return {
            "activity": "Dọn vệ sinh",
            "date": day,
            "own_hours": rng.choice([0.5, 1, 2.5, 4, 36]),
            "beneficiaries": rng.randint(0, 500),
        }
    if kind == "economic_model":
        return {"name": "Trang trại", "jobs": rng.randint(0, 20), "revenue": rng.randint(0, 10**9)}
    return {"title": "Sáng kiến", "applied_on": day}


def _happened(kind: str, answers: dict[str, Any]) -> dt.date:
    day = answers.get("date") or answers.get("applied_on")
    return dt.date.fromisoformat(day) if day else dt.datetime.now(LOCAL).date()


async def recount(
    session: AsyncSession, month: str | None = None
) -> dict[tuple[str, str], Figures]:
    """The figures counted the slow way: from every entry (of the month it happened)."""
    found: dict[tuple[str, str], Figures] = defaultdict(lambda: Figures(entries=0))
    for entry in (await session.scalars(select(Entry))).all():
        if month is None or entry.happened_on.strftime("%Y-%m") == month:
            figures = figures_of(entry.kind, entry.answers, collective=entry.collective)
            found[(entry.kind, entry.status)].add(figures)
    return {key: figures for key, figures in found.items() if figures.entries}


async def test_totals_equal_a_recount_after_any_sequence_of_changes(app: App) -> None:
    rng = random.Random(7)
    tz = app.config.tz
    async with app.db.write() as session:
        members = await add_plain_members(session, 6)
        units = list((await session.scalars(select(Unit.id).limit(5))).all())
    for step in range(120):
        async with app.db.write() as session:
            entries = list((await session.scalars(select(Entry))).all())
            action = rng.choice(["submit", "submit", "decide", "resubmit", "withdraw"])
            if action == "submit" or not entries:
                kind = rng.choice(["initiative", "volunteer", "economic_model"])
                collective = rng.random() < 0.3
                answers = _answers(kind, rng, collective=collective)
                campaign = await current_campaign(session, _happened(kind, answers), kind)
                await save_entry(
                    session,
                    kind=kind,
                    reporter_id=rng.choice(members),
                    unit_id=rng.choice(units),
                    campaign_id=campaign.id,
                    collective=collective,
                    title="x",
                    answers=answers,
                    happened_on=_happened(kind, answers),
                    evidence=[],
                    actor="test",
                    tz=tz,
                )
                continue
            entry = rng.choice(entries)
            if action == "decide":
                await decide(
                    session,
                    entry.id,
                    version=entry.version,
                    who=ADMIN,
                    approve=rng.random() < 0.6,
                    reason="thiếu ảnh",
                    actor="test",
                    tz=tz,
                )
            elif action == "resubmit" and entry.status != "withdrawn":
                collective = rng.random() < 0.3
                answers = _answers(entry.kind, rng, collective=collective)
                await revise_entry(
                    session,
                    entry,
                    unit_id=rng.choice(units),
                    collective=collective,
                    title="y",
                    answers=answers,
                    happened_on=_happened(entry.kind, answers),
                    evidence=[],
                    actor="test",
                    tz=tz,
                )
            elif action == "withdraw":
                await withdraw_entry(session, entry, version=entry.version, actor="test", tz=tz)
        if step == 100:  # one member deletes their account
            async with app.db.write() as session:
                await erase_member(
                    session, members[0], keep_update=("", ""), action="member.deleted", tz=tz
                )
            members = members[1:]  # gone: they report nothing more
    async with app.db.read() as session:
        kept = await totals(session, None)
        counted = await recount(session)
        sizes = (
            await session.execute(select(Unit.id, Unit.members).where(Unit.members != 0))
        ).all()
        members_in = select(Member.unit_id, func.count()).group_by(Member.unit_id)
        counted_sizes = (await session.execute(members_in)).all()
    # The erased member no longer counts in "who has not reported" of their unit.
    assert dict(sizes) == dict(counted_sizes) == {sizes[0][0]: 5}
    assert kept.keys() == counted.keys()
    for key, figures in counted.items():
        assert kept[key].entries == figures.entries, key
        assert kept[key].participants == figures.participants
        assert abs(kept[key].volunteer_hours - figures.volunteer_hours) < 1e-6
        assert kept[key].beneficiaries == figures.beneficiaries
        assert kept[key].jobs == figures.jobs
        assert kept[key].revenue == figures.revenue
    assert {status for _, status in kept} >= {"submitted", "approved", "rejected"}
    async with app.db.read() as session:  # and month by month, by when things happened
        for month in ("2026-01", "2026-06", "2026-11"):
            by_month = await totals(session, None, month, month)
            again = await recount(session, month)
            assert {k: f.entries for k, f in by_month.items()} == {
                k: f.entries for k, f in again.items()
            }


async def report_volunteer(app: App) -> None:
    await say(app, "/report")
    await say(app, "2")
    for answer in VOLUNTEER:
        await say(app, answer)
    assert "Đã lưu" in await say(app, "1")


async def add_entry(
    session: AsyncSession,
    kind: str,
    reporter_id: int,
    unit_code: str,
    answers: dict[str, Any],
    *,
    collective: bool = False,
    approve: bool = False,
) -> int:
    """An entry written as the bot saves it (dated by its answers), approved if asked."""
    unit = (await session.scalars(select(Unit.id).where(Unit.code == unit_code))).one()
    happened = _happened(kind, answers)
    entry = await save_entry(
        session,
        kind=kind,
        reporter_id=reporter_id,
        unit_id=unit,
        campaign_id=(await current_campaign(session, happened, kind)).id,
        collective=collective,
        title=str(answers.get("activity") or answers.get("name") or answers.get("title") or "x"),
        answers=answers,
        happened_on=happened,
        evidence=[],
        actor="test",
        tz=LOCAL,
    )
    if approve:
        await decide(
            session, entry.id, version=1, who=ADMIN, approve=True, reason=None, actor="t", tz=LOCAL
        )
    return entry.id


async def test_headline_figures_count_approved_work_when_it_happened(app: App) -> None:
    """A mix a secretary could add up by hand: Mai's own 4 hours wait for review; a member's
    own 2 hours are approved; the commune's clean-up of 20 June, sent now, is approved: 25
    people × 3,5 hours, counted in June, not in the month it was sent."""
    for line in REGISTER:  # Hoàng Thị Mai, Xã Na Sầm
        await say(app, line)
    await say(app, "/report")
    await say(app, "2")
    for answer in (VOLUNTEER[0], "hôm nay", *VOLUNTEER[2:]):  # her own 4 hours: waiting
        await say(app, answer)
    assert "Đã lưu" in await say(app, "1")
    today = dt.datetime.now(LOCAL).date()
    async with app.db.write() as session:
        (member, secretary) = await add_plain_members(session, 2)
        day = today.isoformat()
        own = {"activity": "Dọn vệ sinh", "date": day, "own_hours": 2, "beneficiaries": 10}
        await add_entry(session, "volunteer", member, "ls-x-na-sam", own, approve=True)
        clean_up = {
            "activity": "Ra quân làm sạch bờ suối",
            "date": f"{today.year}-06-20",
            "participants": 25,
            "hours": 3.5,
            "beneficiaries": 300,
        }
        await add_entry(
            session, "volunteer", secretary, "ls-x-na-sam", clean_up, collective=True, approve=True
        )
    await give(app, "secretary", "ls-x-na-sam")
    (figures, *_) = await app.dispatcher.handle(parse_line("/stats")) or []
    # Periods with the same figures share one block (here the year and the whole movement).
    blocks = figures.text.split("\n\n")[1:]
    month, year, ever = (
        next(block for block in blocks if title in block.split("\n")[0])
        for title in ("Tháng này", "Năm nay", "Từ khi phát động phong trào")
    )
    assert "Hoạt động tình nguyện: 1 đã duyệt (chờ duyệt 1, bị trả lại 0)" in month
    assert "Số giờ tình nguyện: 2" in month  # Mai's 4 waiting hours are not added in
    assert "Người tham gia: 1 · người được hưởng lợi: 10" in month
    if today.month != 6:
        assert "Hoạt động tình nguyện: 2 đã duyệt (chờ duyệt 1, bị trả lại 0)" in year
        assert "Số giờ tình nguyện: 89,5" in year  # 2 + 25 × 3,5
        assert "Người tham gia: 26 · người được hưởng lợi: 310" in year
    assert "Số giờ tình nguyện: 89,5" in ever
    async with app.db.read() as session:
        june = await totals(session, None, f"{today.year}-06", f"{today.year}-06")
    assert june[("volunteer", "approved")].volunteer_hours == 87.5
    # Mai's own results: her own hours, and nothing until it is approved.
    mine = await say(app, "/totals")
    assert "Số giờ tình nguyện của bạn: 0" in mine
    assert "1 báo cáo đang chờ duyệt, chưa được tính." in mine


async def test_a_secretary_sees_the_figures_and_charts_of_their_units_only(app: App) -> None:
    for line in REGISTER:  # Hoàng Thị Mai, Xã Na Sầm
        await say(app, line)
    await report_volunteer(app)
    async with app.db.write() as session:
        await add_plain_members(session, 3, unit_code="ls-x-na-sam")
        others = await add_plain_members(session, 2, unit_code="ls-p-dong-kinh", first_chat=1)
        unit = (await session.scalars(select(Unit.id).where(Unit.code == "ls-p-dong-kinh"))).one()
        campaign = await current_campaign(session, dt.datetime.now(LOCAL).date(), "economic_model")
        await save_entry(
            session,
            kind="economic_model",
            reporter_id=others[0],
            unit_id=unit,
            campaign_id=campaign.id,
            collective=False,
            title="Trang trại",
            answers={"name": "Trang trại", "jobs": 9, "revenue": 500_000_000},
            happened_on=dt.datetime.now(LOCAL).date(),
            evidence=[],
            actor="test",
            tz=app.config.tz,
        )
    assert "dành cho bí thư và quản trị viên" in await say(app, "/stats")  # a member is refused

    await give(app, "secretary", "ls-x-na-sam")
    replies = await app.dispatcher.handle(parse_line("/stats")) or []
    text = replies[0].text
    assert "Thống kê: Xã Na Sầm" in text
    assert "Hoạt động tình nguyện: 0 đã duyệt (chờ duyệt 1, bị trả lại 0)" in text
    assert "Số giờ tình nguyện: 0" in text  # nothing is approved yet
    assert "Mô hình kinh tế" not in text  # Đông Kinh's model is not theirs
    charts = [reply.document for reply in replies if reply.document is not None]
    assert [c.file_name for c in charts] == ["entries-per-month.png"]  # nothing approved yet
    image = Image.open(io.BytesIO(charts[0].content))
    assert charts[0].content.startswith(PNG) and image.width > 400
    assert "Ai chưa báo cáo trong tháng" in replies[-1].text + "".join(
        c.label for c in replies[-1].choices
    )

    silent = await say(app, "1")
    assert (
        "3 đoàn viên, thanh niên chưa báo cáo" in silent
    )  # Mai reported; Đông Kinh is not theirs
    assert "Gửi lời nhắc báo cáo tới 3 đoàn viên, thanh niên này nhé?" in silent
    assert "Lời nhắc đang được gửi tới 3 đoàn viên, thanh niên" in await say(app, "1")
    async with app.db.read() as session:
        queued = (await session.scalars(select(OutboxMessage.chat_id))).all()
    assert sorted(queued) == ["700000", "700001", "700002"]


async def test_an_admin_ranks_units_and_looks_at_any_one(app: App) -> None:
    for line in REGISTER:
        await say(app, line)
    await report_volunteer(app)
    await give(app, "admin")
    async with app.db.write() as session:
        entry = (await session.scalars(select(Entry))).one()
        await decide(
            session, entry.id, version=1, who=ADMIN, approve=True, reason=None, actor="t", tz=LOCAL
        )
    replies = await app.dispatcher.handle(parse_line("/stats")) or []
    text = replies[0].text
    assert "Thống kê: toàn tỉnh" in text
    # The one entry is of this month: the three periods say the same, so they are one block.
    assert "<b>Tháng này · Năm nay · Từ khi phát động phong trào</b>" in text
    assert text.count("Hoạt động tình nguyện: 1") == 1
    names = [reply.document.file_name for reply in replies if reply.document]
    # Communes and wards are ranked apart from the provincial bodies (none approved yet).
    assert names == ["entries-per-month.png", "communes-ranked.png"]
    async with app.db.write() as session:
        (reporter,) = await add_plain_members(session, 1, unit_code="ls-hoi-sv", first_chat=9)
        body = {"activity": "Tiếp sức mùa thi", "own_hours": 3}
        await add_entry(session, "volunteer", reporter, "ls-hoi-sv", body, approve=True)
    replies = await app.dispatcher.handle(parse_line("/stats")) or []
    captions = {reply.document.file_name: reply.text for reply in replies if reply.document}
    assert list(captions) == ["entries-per-month.png", "communes-ranked.png", "bodies-ranked.png"]
    assert "Xếp hạng xã, phường" in captions["communes-ranked.png"]
    assert "cơ quan, đơn vị khối tỉnh" in captions["bodies-ranked.png"]
    one = await say(app, "/stats đông kinh")
    assert "Thống kê: Phường Đông Kinh" in one
    assert one.count("Chưa có báo cáo nào") == 1  # not once for each period
    assert "Không có đơn vị nào của bạn khớp" in await say(app, "/stats atlantis")


async def test_a_commune_secretary_ranks_the_units_below_them(app: App) -> None:
    async with app.db.write() as session:
        commune = (await session.scalars(select(Unit).where(Unit.code == "ls-x-na-sam"))).one()
        for code, name in (
            ("ls-x-na-sam-cd-1", "Chi đoàn thôn Bản Chu"),
            ("ls-x-na-sam-cd-2", "Chi đoàn Trường THCS Na Sầm"),
        ):
            session.add(
                Unit(
                    code=code,
                    name=name,
                    search_name=name.lower(),
                    kind="branch",
                    parent_id=commune.id,
                )
            )
        (member,) = await add_plain_members(session, 1)
        await add_entry(session, "initiative", member, "ls-x-na-sam", {"title": "x"}, approve=True)
    for line in REGISTER:
        await say(app, line)
    await give(app, "secretary", "ls-x-na-sam")
    replies = await app.dispatcher.handle(parse_line("/stats")) or []
    assert [r.document.file_name for r in replies if r.document] == [
        "entries-per-month.png",
        "units-ranked.png",
    ]
    async with app.db.read() as session:
        scope = await scope_unit_ids(session, [("secretary", commune.id)])
        t = app.catalogs.translator("vi", LOCAL)
        ((_, _, _, rows),) = await _rankings(session, t, scope)
    # Every branch is listed, with none approved too; the commune's own members apart.
    assert rows == [
        ("Xã Na Sầm (sinh hoạt trực tiếp)", 1),
        ("Chi đoàn Trường THCS Na Sầm", 0),
        ("Chi đoàn thôn Bản Chu", 0),
    ]


async def test_who_has_not_reported_counts_members_of_the_month(app: App) -> None:
    async with app.db.write() as session:
        members = await add_plain_members(session, 4)
        unit = (await session.scalars(select(Unit.id).where(Unit.code == "ls-x-na-sam"))).one()
        campaign = await current_campaign(session, dt.datetime.now(LOCAL).date(), "initiative")
        await save_entry(
            session,
            kind="initiative",
            reporter_id=members[0],
            unit_id=unit,
            campaign_id=campaign.id,
            collective=False,
            title="x",
            answers={"title": "x"},
            happened_on=dt.datetime.now(LOCAL).date(),
            evidence=[],
            actor="t",
            tz=LOCAL,
        )
    month = dt.datetime.now(LOCAL).strftime("%Y-%m")
    async with app.db.read() as session:
        count, sample = await silent_members(session, {unit}, month)
        assert count == 3
        assert len(sample) == 3
        last_month = await silent_members(session, {unit}, "2020-01")
        assert last_month[0] == 4


async def test_new_entries_attach_to_the_open_campaign_that_counts_their_kind(app: App) -> None:
    today = dt.datetime.now(LOCAL).date()
    async with app.db.write() as session:
        session.add(
            Campaign(
                title="Thi đua sáng kiến",
                description="",
                starts_on=today - dt.timedelta(days=1),
                ends_on=today + dt.timedelta(days=30),
                kinds=["initiative"],
            )
        )
    async with app.db.read() as session:
        assert (await current_campaign(session, today, "initiative")).title == "Thi đua sáng kiến"
        assert (await current_campaign(session, today, "volunteer")).is_default


async def test_a_unit_that_sent_a_report_of_earlier_work_has_reported(app: App) -> None:
    """The statistics count work in the month it happened; "who has not reported" is about
    what was sent this month: a unit that reported last month's clean-up is not silent."""
    for line in REGISTER:
        await say(app, line)
    await give(app, "secretary", "ls-x-na-sam")
    today = dt.datetime.now(LOCAL).date()
    earlier = (today.replace(day=1) - dt.timedelta(days=3)).isoformat()
    async with app.db.write() as session:
        (na_sam,) = await add_plain_members(session, 1)
        await add_plain_members(session, 1, "ls-x-dong-dang", first_chat=1)
        work = {"activity": "Dọn rác", "date": earlier, "own_hours": 2, "beneficiaries": 0}
        await add_entry(session, "volunteer", na_sam, "ls-x-na-sam", work)
        units = (await session.scalars(select(Unit.id).where(Unit.code.like("ls-x-%")))).all()
        month = today.strftime("%Y-%m")
        silent = {unit.code for unit in await silent_units(session, set(units), month, month)}
    assert "ls-x-na-sam" not in silent  # it sent a report this month, of last month's work
    assert "ls-x-dong-dang" in silent  # members, nothing sent


async def test_when_everyone_has_reported_it_is_said_once(app: App) -> None:
    for line in REGISTER:  # Hoàng Thị Mai, the only member of Xã Na Sầm
        await say(app, line)
    await report_volunteer(app)
    await give(app, "secretary", "ls-x-na-sam")
    await app.dispatcher.handle(parse_line("/stats"))
    answer = await say(app, "1")  # who has not reported this month
    assert "Tất cả đoàn viên, thanh niên đều đã báo cáo trong tháng này. 🎉" in answer
    assert answer.count("🎉") == 1  # not once for the units and once for the members
