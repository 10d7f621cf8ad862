"""Figures people can trust, beyond the review card (tests/test_review.py): where an entry
counts when it happened outside the running campaign, joining the branch's report instead of
reporting the activity twice, people correcting their own data, reviewers hearing about work
once per period, and every button that acts on a record acting only on the record it shows."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.app import App
from bot.channels.console import parse_line
from bot.channels.runtime import Channel
from bot.notices import render_notice
from bot.scheduler import Scheduler
from models.entries import decide
from models.tables import (
    AuditRecord,
    Campaign,
    Entry,
    Invite,
    Member,
    OutboxMessage,
    ReviewDigest,
    Schedule,
)
from tests.botapi import FakeBotApi
from tests.test_abuse import Chat, joined
from tests.test_admin import give
from tests.test_reporting import REGISTER, VOLUNTEER, say
from tests.test_review import MAI, SON, TUAN, join, make_secretary, report, statuses
from tests.test_schedules import clock, local
from tests.test_stats import ADMIN, add_entry, add_plain_members
from tests.test_telegram import started, stopped, telegram_config


@pytest.fixture
async def server(no_proxy: None) -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as server:
        yield server


@pytest.fixture
async def bot(tmp_path: Path, server: FakeBotApi) -> AsyncIterator[Channel]:
    channel = await started(telegram_config(tmp_path, server))
    yield channel
    await stopped(channel)


# -- where an entry counts -------------------------------------------------------------------


async def running_campaign(app: App, days_ago: int = 2) -> int:
    """A campaign for volunteer work that started a few days ago and runs a month more."""
    today = dt.datetime.now(app.config.tz).date()
    async with app.db.write() as session:
        campaign = Campaign(
            title="Tháng tình nguyện",
            description="",
            starts_on=today - dt.timedelta(days=days_ago),
            ends_on=today + dt.timedelta(days=30),
            kinds=["volunteer"],
        )
        session.add(campaign)
        await session.flush()
        return campaign.id


async def volunteer_until_summary(app: App, day: str) -> str:
    await say(app, "/report")
    await say(app, "2")
    reply = ""
    for answer in (VOLUNTEER[0], day, *VOLUNTEER[2:]):
        reply = await say(app, answer)
    return reply


async def test_work_of_another_time_is_asked_about_not_put_in_the_running_campaign(
    app: App,
) -> None:
    for line in REGISTER:
        await say(app, line)
    campaign = await running_campaign(app)
    await volunteer_until_summary(app, "20/06/2026")
    question = await say(app, "1")  # submit
    assert "Hoạt động diễn ra ngày 20/06/2026, ngoài thời gian của đợt thi đua" in question
    assert "«Tháng tình nguyện»" in question
    assert "1. ✅ Tính cho phong trào chung\n  2. 📅 Sửa ngày" in question
    # The reporter meant this week: the date is asked again, then the summary.
    assert "Hoạt động diễn ra ngày nào?" in await say(app, "2")
    assert "bạn vui lòng kiểm tra trước khi gửi" in await say(app, "hôm nay")
    assert "✅ Đã lưu. Báo cáo #1" in await say(app, "1")
    # Another one, really in June: it counts for the movement as a whole.
    await volunteer_until_summary(app, "20/06/2026")
    await say(app, "1")
    assert "✅ Đã lưu. Báo cáo #2" in await say(app, "1")
    async with app.db.read() as session:
        rows = (await session.execute(select(Entry.happened_on, Entry.campaign_id))).all()
        movement = (await session.scalars(select(Campaign.id).where(Campaign.is_default))).one()
    today = dt.datetime.now(app.config.tz).date()
    assert sorted(rows) == [(dt.date(2026, 6, 20), movement), (today, campaign)]


# -- joining the branch's report -------------------------------------------------------------


async def test_a_participant_joins_the_branch_report_and_is_not_counted_twice(app: App) -> None:
    """The secretary reported the clean-up for Na Sầm (25 people × 3 hours); Mai took part
    and joins it instead of reporting it again: her own hours are hers once it is approved,
    and the commune's figures still count 25 people, not 26."""
    for line in REGISTER:
        await say(app, line)
    today = dt.datetime.now(app.config.tz).date()
    async with app.db.write() as session:
        (secretary,) = await add_plain_members(session, 1)
        clean_up = {
            "activity": "Ra quân làm sạch bờ suối",
            "date": today.isoformat(),
            "place": {"place": "Thôn Bản Chu"},
            "participants": 25,
            "hours": 3,
            "beneficiaries": 300,
        }
        entry_id = await add_entry(
            session, "volunteer", secretary, "ls-x-na-sam", clean_up, collective=True
        )
    await say(app, "/report")
    await say(app, "2")
    for answer in (VOLUNTEER[0], "hôm nay", VOLUNTEER[2], "1", "3", *VOLUNTEER[5:]):
        await say(app, answer)  # organised by the branch: yes; her own 3 hours
    offer = await say(app, "1")
    assert "Chi đoàn của bạn đã báo cáo một hoạt động trong ngày này" in offer
    assert f"1. #{entry_id} · Thôn Bản Chu · Ra quân làm sạch bờ suối" in offer
    assert "2. Không, tôi báo cáo riêng" in offer
    joined = await say(app, "1")
    assert f"Bạn đã ghi tên tham gia báo cáo #{entry_id}" in joined
    assert "với 3 giờ" in joined
    async with app.db.read() as session:
        assert len((await session.scalars(select(Entry))).all()) == 1  # nothing reported twice
    assert "1 báo cáo đang chờ duyệt, chưa được tính." in await say(app, "/totals")
    async with app.db.write() as session:
        await decide(
            session,
            entry_id,
            version=1,
            who=ADMIN,
            approve=True,
            reason=None,
            actor="t",
            tz=app.config.tz,
        )
    mine = await say(app, "/totals")
    assert (
        "Số giờ tình nguyện của bạn: 3 (trong đó 3 giờ trong các hoạt động của chi đoàn)" in mine
    )
    await give(app, "admin")
    figures = await say(app, "/stats")
    assert "Người tham gia: 25 · người được hưởng lợi: 300" in figures
    assert "Số giờ tình nguyện: 75" in figures


# -- people correct their own data -----------------------------------------------------------


async def test_a_member_corrects_their_profile_and_asks_to_move(app: App) -> None:
    for line in REGISTER:
        await say(app, line)
    profile = await say(app, "/profile")
    assert "Họ và tên: Hoàng Thị Mai" in profile
    assert "Có thông tin nào chưa đúng không?" in profile
    await say(app, "✏️ Họ và tên")
    assert "Hồ sơ của bạn đã được cập nhật" in await say(app, "Hoàng Thị Mại")
    await say(app, "/profile")
    await say(app, "✏️ Năm sinh")
    assert "Phong trào dành cho thanh niên từ 16 đến 30 tuổi" in await say(app, "1980")
    assert "Hồ sơ của bạn đã được cập nhật" in await say(app, "2003")
    await say(app, "/profile")
    await say(app, "✏️ Số điện thoại")
    await say(app, "0912 345 678")
    await say(app, "/profile")
    await say(app, "✏️ Số điện thoại")
    await say(app, "bỏ qua")  # removes it
    async with app.db.read() as session:
        member = (await session.scalars(select(Member))).one()
    assert (member.full_name, member.birth_year, member.phone) == ("Hoàng Thị Mại", 2003, None)

    # A move waits for the new unit: she stays in Na Sầm meanwhile.
    await say(app, "/profile")
    await say(app, "🔁 Chuyển sinh hoạt sang đơn vị khác")
    asked = await say(app, "dong dang")
    assert "Yêu cầu chuyển sang Xã Đồng Đăng đã được gửi tới Tỉnh Đoàn để duyệt" in asked
    assert "⏳ Yêu cầu chuyển sang Xã Đồng Đăng đang chờ duyệt." in await say(app, "/profile")
    async with app.db.read() as session:
        assert (await session.scalars(select(Member.unit_id))).one() == member.unit_id
    # She cannot accept her own move, even as an admin.
    await give(app, "admin")
    assert "Không còn báo cáo nào chờ bạn duyệt" in await say(app, "/review")
    mydata = await app.dispatcher.handle(parse_line("/mydata")) or []
    document = next(reply.document for reply in mydata if reply.document is not None)
    data = json.loads(document.content)
    corrections = [row for row in data["audit_log"] if row["action"].startswith("member.")]
    assert [row["action"] for row in corrections] == [
        "member.registered",
        "member.corrected",
        "member.corrected",
        "member.corrected",
        "member.corrected",
        "member.unit_change_requested",
    ]
    assert corrections[1]["details"]["fields"] == ["full_name"]
    assert all(row["by_you"] for row in corrections)
    assert "Hoàng Thị Mại" not in str(corrections)  # the audit holds no values
    assert data["unit_changes"][0]["status"] == "waiting"


async def test_the_new_units_secretary_accepts_a_move_on_telegram(
    tmp_path: Path, server: FakeBotApi, bot: Channel
) -> None:
    mai = await join(server, MAI, "Hoàng Thị Mai", "na sam")
    lan = await join(server, SON, "Lý Văn Sơn", "dong dang")
    await make_secretary(bot, SON, "ls-x-dong-dang")
    await report(mai, "Sửa đường vào thôn Bản Chu")
    await mai.says("/profile", expect="Có thông tin nào chưa đúng không?")
    await mai.presses("🔁 Chuyển sinh hoạt sang đơn vị khác", expect="Bạn chuyển sang đơn vị nào?")
    sent = await mai.says("dong dang", expect="Yêu cầu chuyển sang Xã Đồng Đăng")
    assert "Bí thư Đoàn xã Đồng Đăng" in (sent.text or "")
    card = await lan.says("/review", expect="xin chuyển sinh hoạt")
    assert "Hoàng Thị Mai" in (card.text or "") and "từ Xã Na Sầm sang Xã Đồng Đăng" in (
        card.text or ""
    )
    mark = len(server.sent)
    await lan.presses("✅ Đồng ý tiếp nhận", expect="✅ Đã đồng ý tiếp nhận vào Xã Đồng Đăng.")
    await mai.reply(mark, "Yêu cầu chuyển sang Xã Đồng Đăng của bạn đã được chấp nhận")
    with sqlite3.connect(tmp_path / "bot.sqlite3") as db:
        unit = db.execute(
            "SELECT u.code FROM members m JOIN units u ON u.id = m.unit_id "
            "WHERE m.full_name = 'Hoàng Thị Mai'"
        ).fetchone()
        old = db.execute(
            "SELECT u.code FROM entries e JOIN units u ON u.id = e.unit_id"
        ).fetchone()
        reported = db.execute(
            "SELECT u.code FROM reporter_months r JOIN units u ON u.id = r.unit_id"
        ).fetchall()
        sizes = db.execute("SELECT code, members FROM units WHERE members != 0").fetchall()
    assert unit == ("ls-x-dong-dang",)
    assert old == ("ls-x-na-sam",)  # her past entry stays with Na Sầm
    # But she has reported this month as a member of Đồng Đăng: "who has not reported"
    # there does not list her.
    assert reported == [("ls-x-dong-dang",)]
    assert sizes == [("ls-x-dong-dang", 2)]  # Sơn and Mai; Na Sầm has no member left
    # Pressing the card's button again decides nothing more.
    again = await lan.presses("✅ Đồng ý tiếp nhận", expect="⚠️")
    assert "Yêu cầu này đã được quyết định" in (again.text or "")


# -- reviewers hear about work ---------------------------------------------------------------


async def test_a_reviewer_gets_one_digest_per_period_never_at_night(app: App) -> None:
    for line in REGISTER:  # the console user will be the secretary
        await say(app, line)
    await give(app, "secretary", "ls-x-na-sam")
    async with app.db.write() as session:
        (member,) = await add_plain_members(session, 1)
        day = {"title": "Sáng kiến", "applied_on": "2026-11-02"}
        await add_entry(session, "initiative", member, "ls-x-na-sam", day)
    morning = local(2026, 12, 7, 9)
    scheduler = Scheduler(app, now=clock(morning))

    async def add_at(moment: dt.datetime) -> None:
        """Another entry, sent at that moment of the test's clock."""
        async with app.db.write() as session:
            entry_id = await add_entry(session, "initiative", member, "ls-x-na-sam", day)
            entry = await session.get_one(Entry, entry_id)
            entry.submitted_at = entry.updated_at = moment

    async with app.db.write() as session:  # the first one, sent before the morning
        first = await session.get_one(Entry, 1)
        first.submitted_at = first.updated_at = morning - dt.timedelta(hours=1)
    assert await scheduler.digest() == 1
    scheduler.now = clock(morning + dt.timedelta(minutes=10))
    assert await scheduler.digest() == 0  # nothing new
    await add_at(morning + dt.timedelta(minutes=11))
    assert await scheduler.digest() == 0  # new, but within the hour
    scheduler.now = clock(morning + dt.timedelta(minutes=61))
    assert await scheduler.digest() == 1
    await add_at(local(2026, 12, 7, 22, 0))
    scheduler.now = clock(local(2026, 12, 7, 22, 30))  # quiet hours: it waits
    assert await scheduler.digest() == 0
    scheduler.now = clock(local(2026, 12, 8, 7, 1))
    assert await scheduler.digest() == 1
    async with app.db.read() as session:
        notices = (
            await session.scalars(select(OutboxMessage).where(OutboxMessage.template.is_not(None)))
        ).all()
        assert len((await session.scalars(select(ReviewDigest))).all()) == 1
    assert [(n.template, n.params) for n in notices] == [
        ("review_digest", {"n": 1, "total": 1}),
        ("review_digest", {"n": 1, "total": 2}),
        ("review_digest", {"n": 1, "total": 3}),
    ]
    vi = app.catalogs.translator("vi", app.config.tz)
    text, buttons = render_notice(vi, "review_digest", {"n": 1, "total": 3})
    assert "Báo cáo mới chờ bạn duyệt: 1 (tổng cộng 3 báo cáo đang chờ)" in text
    assert [b.value for b in buttons] == ["m:review"]
    en = app.catalogs.translator("en", app.config.tz)
    english, _ = render_notice(en, "review_digest", {"n": 1, "total": 3})
    assert "New entries waiting for your review: 1" in english


async def test_the_digest_reaches_the_secretary_on_telegram_with_a_button(
    server: FakeBotApi, bot: Channel
) -> None:
    mai = await join(server, MAI, "Hoàng Thị Mai", "na sam")
    son = await join(server, SON, "Lý Văn Sơn", "na sam")
    await make_secretary(bot, SON, "ls-x-na-sam")
    await report(mai, "Sửa đường vào thôn Bản Chu")
    mark = len(server.sent)
    assert await Scheduler(bot.app, now=clock(local(2026, 12, 7, 9))).digest() == 1
    bot.worker.wake()
    digest = await son.reply(mark, "Báo cáo mới chờ bạn duyệt: 1")
    assert ("🗂 Xét duyệt báo cáo", "m:review") in digest.buttons()
    await son.presses("🗂 Xét duyệt báo cáo", expect="Bạn quyết định thế nào với báo cáo #1?")
    assert not [m for m in server.sent[mark:] if m.chat_id == MAI and "📥" in (m.text or "")]


# -- buttons act on the record they show ------------------------------------------------------


async def test_a_withdraw_button_of_an_entry_decided_since_does_nothing(
    tmp_path: Path, server: FakeBotApi, bot: Channel
) -> None:
    mai = await join(server, MAI, "Hoàng Thị Mai", "na sam")
    son = await join(server, SON, "Lý Văn Sơn", "na sam")
    await make_secretary(bot, SON, "ls-x-na-sam")
    await report(mai, "Sửa đường vào thôn Bản Chu")
    await mai.says("/myentries", expect="Các báo cáo của bạn")
    await mai.says("1", expect="Bạn muốn làm gì?")  # the card, still on her screen
    await son.says("/review", expect="Bạn quyết định thế nào với báo cáo #1?")
    await son.presses("✅ Duyệt", expect="✅ Đã duyệt báo cáo #1.")
    late = await mai.presses("🗑 Rút báo cáo này", expect="⚠️")
    assert "Báo cáo #1 đã thay đổi sau khi thẻ đó được hiển thị (hiện tại: ✅ Đã duyệt)" in (
        late.text or ""
    )
    assert statuses(tmp_path) == [(1, "approved", None)]


async def test_old_cards_of_scheduled_items_broadcasts_and_invitations_do_nothing(
    app: App,
) -> None:
    """The same press on an item cancelled, finished or revoked since it was shown changes
    nothing and says why."""
    admin = Chat(app, "local")
    for line in REGISTER:
        await admin.send(line)
    await give(app, "admin")
    later = (dt.datetime.now(app.config.tz) + dt.timedelta(days=30)).strftime("%d/%m/%Y 08:00")
    for line in ("/news", "Ngày hội việc làm", "bỏ qua", "1", "1", "2", later):
        await admin.send(line)
    await admin.send("1")  # confirm the summary
    async with app.db.read() as session:
        schedule = (await session.scalars(select(Schedule.id))).one()
    await admin.send("/scheduled")
    await admin.send("1")
    cancel = f"f:scheduled_action:action:cancel:{schedule}"
    assert f"Đã hủy: tin #{schedule}" in joined(await admin.press(cancel))
    await admin.send("/menu")
    again = joined(await admin.press(cancel))
    assert f"#{schedule} đã được gửi hoặc đã hủy; chưa có gì thay đổi." in again
    async with app.db.read() as session:
        actions = (await session.scalars(select(AuditRecord.action))).all()
    assert actions.count("schedule.cancelled") == 1

    # An invitation revoked by a colleague: the old button revokes nothing twice.
    await admin.send("/invite ls-x-na-sam")  # creates the first invitation
    await admin.send("/invite ls-x-na-sam")  # the list, with a button to revoke it
    async with app.db.write() as session:
        invite = (await session.scalars(select(Invite))).one()
        invite.revoked_at = dt.datetime.now(dt.UTC)  # a colleague revoked it meanwhile
    late = joined(await admin.press(f"f:invite:action:{invite.id}"))
    assert f"Lời mời {invite.code} đã được thu hồi từ trước; chưa có gì thay đổi." in late
    async with app.db.read() as session:
        actions = (await session.scalars(select(AuditRecord.action))).all()
    assert actions.count("invite.revoked") == 0


async def test_the_same_photo_in_two_entries_is_shown_to_the_reviewer(
    server: FakeBotApi, bot: Channel
) -> None:
    """Two reports of different things on different days, with the same photo: the content
    fingerprint tells the reviewer the second may repeat the first."""
    from tests.test_telegram_reporting import jpeg  # noqa: PLC0415

    mai = await join(server, MAI, "Hoàng Thị Mai", "na sam")
    john = await join(server, TUAN, "Nguyễn Văn Tuấn", "na sam")
    son = await join(server, SON, "Lý Văn Sơn", "na sam")
    await make_secretary(bot, SON, "ls-x-na-sam")
    photo = jpeg("red")
    for person, user_id, activity, day in (
        (mai, MAI, "Sửa đường vào thôn Bản Chu", "hôm qua"),
        (john, TUAN, "Trồng cây ở trường tiểu học", "hôm nay"),
    ):
        await person.says("/report", expect="")
        await person.says("2", expect="")
        for answer in (activity, day, *VOLUNTEER[2:-1]):
            await person.says(answer, expect="")
        mark = len(server.sent)
        server.user_photo(user_id, photo)
        await person.reply(mark, "Đã nhận 1 tệp")
        await person.says("xong", expect="bạn vui lòng kiểm tra trước khi gửi")
        await person.says("1", expect="Đã lưu")
    await son.says("/review", expect="#1 ·")
    await son.presses("⏭ Tạm bỏ qua", expect="#2 ·")
    card = await son.reply(0, "#2 · Hoạt động tình nguyện")
    assert "⚠️ Có thể trùng với báo cáo #1 «Sửa đường vào thôn Bản Chu» (cùng ảnh minh chứng)" in (
        card.text or ""
    )


async def test_a_roles_button_of_an_earlier_person_changes_nobody(app: App) -> None:
    """The admin looked at Mai's roles, then at Sơn's: the "make admin" button still on screen
    from Mai's card makes neither of them admin."""
    admin = Chat(app, "local")
    for line in REGISTER:
        await admin.send(line)
    await give(app, "admin")
    async with app.db.write() as session:
        mai, son = await add_plain_members(session, 2)
    for member in (mai, son):
        await admin.send("/cancel")
        await admin.send("/roles")
        await admin.send("Đoàn viên")  # the plain members' names start so
        await admin.press(f"f:roles:member:{member}")
    old = joined(await admin.press(f"f:roles:change:{mai}|grant:admin"))
    assert "⚠️" in old
    async with app.db.read() as session:
        actions = (await session.scalars(select(AuditRecord.action))).all()
    assert actions.count("role.granted") == 1  # the console admin's own, by the test
    made = joined(await admin.press(f"f:roles:change:{son}|grant:admin"))
    assert "làm quản trị viên." in made
