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
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App
from bot.channels.console import parse_line
from models.entries import current_campaign, decide, resubmit_entry, save_entry, withdraw_entry
from models.privacy import erase_member
from models.stats import Figures, silent_members, totals
from models.tables import Campaign, Entry, Identity, Member, OutboxMessage, Unit
from tests.test_admin import give
from tests.test_reporting import REGISTER, VOLUNTEER, say

LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")
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


def _answers(kind: str, rng: random.Random) -> dict[str, Any]:
    if kind == "volunteer":
        return {
            "activity": "Dọn vệ sinh",
            "participants": rng.randint(1, 50),
            "hours": rng.choice([0.5, 1, 2.5, 4]),
            "beneficiaries": rng.randint(0, 500),
        }
    if kind == "economic_model":
        return {"name": "Trang trại", "jobs": rng.randint(0, 20), "revenue": rng.randint(0, 10**9)}
    return {"title": "Sáng kiến"}


async def recount(session: AsyncSession) -> dict[tuple[str, str], Figures]:
    """The figures counted the slow way: from every entry."""
    found: dict[tuple[str, str], Figures] = defaultdict(lambda: Figures(entries=0))
    for entry in (await session.scalars(select(Entry))).all():
        found[(entry.kind, entry.status)].add(Figures.of(entry.answers))
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
                campaign = await current_campaign(session, dt.datetime.now(LOCAL).date(), kind)
                await save_entry(
                    session,
                    kind=kind,
                    reporter_id=rng.choice(members),
                    unit_id=rng.choice(units),
                    campaign_id=campaign.id,
                    collective=False,
                    title="x",
                    answers=_answers(kind, rng),
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
                    None,
                    approve=rng.random() < 0.6,
                    reason="thiếu ảnh",
                    actor="test",
                    tz=tz,
                )
            elif action == "resubmit" and entry.status == "rejected":
                await resubmit_entry(
                    session,
                    entry,
                    unit_id=rng.choice(units),
                    collective=False,
                    title="y",
                    answers=_answers(entry.kind, rng),
                    evidence=[],
                    actor="test",
                    tz=tz,
                )
            elif action == "withdraw" and entry.status in ("submitted", "resubmitted"):
                await withdraw_entry(session, entry, actor="test", tz=tz)
        if step == 100:  # one member deletes their account
            async with app.db.write() as session:
                await erase_member(
                    session, members[0], keep_update=("", ""), action="member.deleted", tz=tz
                )
    async with app.db.read() as session:
        kept = await totals(session, None)
        counted = await recount(session)
    assert kept.keys() == counted.keys()
    for key, figures in counted.items():
        assert kept[key].entries == figures.entries, key
        assert kept[key].participants == figures.participants
        assert abs(kept[key].volunteer_hours - figures.volunteer_hours) < 1e-6
        assert kept[key].beneficiaries == figures.beneficiaries
        assert kept[key].jobs == figures.jobs
        assert kept[key].revenue == figures.revenue
    assert {status for _, status in kept} >= {"submitted", "approved", "rejected"}


async def report_volunteer(app: App) -> None:
    await say(app, "/report")
    await say(app, "2")
    for answer in VOLUNTEER:
        await say(app, answer)
    assert "Đã lưu" in await say(app, "1")


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
            evidence=[],
            actor="test",
            tz=app.config.tz,
        )
    assert "dành cho bí thư Đoàn" in await say(app, "/stats")  # a member is refused

    await give(app, "secretary", "ls-x-na-sam")
    replies = await app.dispatcher.handle(parse_line("/stats")) or []
    text = replies[0].text
    assert "Thống kê: Xã Na Sầm" in text
    assert "Hoạt động tình nguyện: 1 (đã duyệt 0, chờ duyệt 1, trả lại 0)" in text
    assert "Số giờ tình nguyện: 100" in text  # 25 people × 4 hours
    assert "Mô hình kinh tế" not in text  # Đông Kinh's model is not theirs
    charts = [reply.document for reply in replies if reply.document is not None]
    assert [c.file_name for c in charts] == ["entries-per-month.png"]  # nothing approved yet
    image = Image.open(io.BytesIO(charts[0].content))
    assert charts[0].content.startswith(PNG) and image.width > 400
    assert "Ai chưa báo cáo trong tháng" in replies[-1].text + "".join(
        c.label for c in replies[-1].choices
    )

    silent = await say(app, "1")
    assert "3 đoàn viên chưa báo cáo" in silent  # Mai reported; Đông Kinh is not theirs
    assert "Gửi lời nhắc báo cáo tới 3 đoàn viên này nhé?" in silent
    assert "Lời nhắc đang được gửi tới 3 đoàn viên" in await say(app, "1")
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
        await decide(session, entry.id, None, approve=True, reason=None, actor="t", tz=LOCAL)
    replies = await app.dispatcher.handle(parse_line("/stats")) or []
    assert "Thống kê: toàn tỉnh" in replies[0].text
    names = [reply.document.file_name for reply in replies if reply.document]
    assert names == ["entries-per-month.png", "units-ranked.png"]
    one = await say(app, "/stats đông kinh")
    assert "Thống kê: Phường Đông Kinh" in one and "Chưa có báo cáo nào" in one
    assert "Không có đơn vị nào của bạn khớp" in await say(app, "/stats atlantis")


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
