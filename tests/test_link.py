"""One person on two channels (/link): a code given in one app's chat and typed in the
other joins the accounts to one member; notices go to the account the person wrote from
last; codes cannot be guessed, reused or typed where they were given; two registrations
become the older one, with the newer one's entries and roles."""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import insert, select, update

from bot.app import App
from bot.channels.console import render
from models.links import MOST_TRIES
from models.people import grant_role, identity_for, revoke_role
from models.tables import Entry, LinkCode, Member, ReporterMonth, Unit
from tests.test_abuse import Chat
from tests.test_reporting import VOLUNTEER
from tests.test_telegram import User
from tests.test_zalo import MAI, lan_on_telegram, register, telegram_and_zalo
from tests.zaloapi import FakeZaloBotApi


@pytest.fixture
async def api(no_proxy: None) -> AsyncIterator[FakeZaloBotApi]:
    async with FakeZaloBotApi() as api:
        yield api


CODE = re.compile(r"/link ([A-Z0-9]{4}-[A-Z0-9]{4})")


async def console(chat: Chat, *lines: str) -> str:
    """Types each line; what the bot answered to the last one, as the console shows it."""
    shown = ""
    for line in lines:
        shown = "\n\n".join(render(reply) for reply in await chat.send(line))
    return shown


def code_in(text: str) -> str:
    found = CODE.search(text)
    assert found, text
    return found.group(1)


async def test_a_reporter_on_zalo_joins_telegram_and_hears_each_decision_where_she_wrote_last(
    tmp_path: Path, api: FakeZaloBotApi
) -> None:
    async with telegram_and_zalo(tmp_path, api) as (app, telegram_api):
        mai = await register(api, MAI, "Hoàng Thị Mai")
        for activity in ("Sửa đường vào thôn Bản Chu", "Dọn rác bờ suối Kỳ Cùng"):
            await mai.says("/report", expect="")
            await mai.says("2", expect="")
            for answer in (activity, *VOLUNTEER[1:]):
                await mai.says(answer, expect="")
            await mai.says("1", expect="✅ Đã lưu. Báo cáo #")
        lan = await lan_on_telegram(app, telegram_api, "secretary")

        mai_on_telegram = User(telegram_api, 4004)
        asked = await mai_on_telegram.says("/link", expect="/link")
        assert "Type /start" not in (asked.text or "") and "/start" in (asked.text or "")
        given = await mai.says("/link", expect="/link")
        code = code_in(given.text or "")
        assert "10 phút" in (given.text or "")
        joined = await mai_on_telegram.says(f"/link {code}", expect="✅")
        assert "Hoàng Thị Mai, Xã Na Sầm" in (joined.text or "")
        # The account she had is told, in case it was not her.
        await api.wait_for(
            lambda m: (
                m.chat_id == MAI and "/link" in (m.text or "") and "Bí thư" in (m.text or "")
            ),
            timeout=10,
        )
        again = await mai_on_telegram.says(f"/link {code}", expect="⚠️")
        assert "hết hạn" in (again.text or "")
        mine = await mai_on_telegram.says("/myentries", expect="Các báo cáo của bạn")
        listed = " ".join(label for label, _ in mine.buttons())
        assert "Sửa đường vào thôn Bản Chu" in listed and "Dọn rác bờ suối Kỳ Cùng" in listed
        await mai_on_telegram.says("/cancel", expect="")

        # She wrote last on Telegram: the first decision reaches her there.
        await lan.says("/review", expect="#1 ·")
        mark = len(telegram_api.sent)
        await lan.presses("✅ Duyệt", expect="✅ Đã duyệt báo cáo #1.")
        await mai_on_telegram.reply(mark, "Báo cáo #1 «Sửa đường vào thôn Bản Chu» của bạn")
        # Back on Zalo, the next one reaches her on Zalo.
        await mai.says("/menu", expect="Menu")
        zalo_mark = len(api.sent)
        await lan.says("/review", expect="#2 ·")
        await lan.presses("✅ Duyệt", expect="✅ Đã duyệt báo cáo #2.")
        await api.wait_for(
            lambda m: (
                m.chat_id == MAI
                and m in api.sent[zalo_mark:]
                and "Báo cáo #2 «Dọn rác bờ suối Kỳ Cùng» của bạn" in (m.text or "")
            ),
            timeout=10,
        )
    told_on_telegram = [
        m
        for m in telegram_api.messages_to(4004)
        if "«Dọn rác bờ suối Kỳ Cùng» của bạn" in (m.text or "")
    ]
    assert told_on_telegram == []
    with sqlite3.connect(tmp_path / "bot.sqlite3") as db:
        accounts = db.execute(
            "SELECT channel, member_id FROM identities WHERE member_id IS NOT NULL "
            "AND user_id IN (?, '4004') ORDER BY channel",
            (MAI,),
        ).fetchall()
        audited = db.execute(
            "SELECT action FROM audit_log WHERE action LIKE 'member.link%' ORDER BY id"
        ).fetchall()
    assert accounts == [("telegram", 1), ("zalo", 1)]
    assert audited == [("member.link_code",), ("member.linked",), ("member.link_refused",)]


async def test_two_registrations_become_the_older_one_with_all_entries_and_roles(
    app: App,
) -> None:
    older, newer = Chat(app, "tg-mai"), Chat(app, "zl-mai")
    await console(older, "/start", "1", "Hoàng Thị Mai", "2004", "na sam", "bỏ qua", "1")
    await console(newer, "/start", "1", "Hoàng Thị Mai", "2004", "dong kinh", "bỏ qua", "1")
    for chat, activity in ((older, "Sửa đường vào thôn Bản Chu"), (newer, "Dọn rác bờ suối")):
        await console(chat, "/report", "2", activity, *VOLUNTEER[1:])
        assert "✅ Đã lưu" in await console(chat, "1")
    async with app.db.write() as session:
        identity = await identity_for(session, "console", "zl-mai")
        unit = (await session.scalars(select(Unit).where(Unit.code == "ls-p-dong-kinh"))).one()
        await grant_role(session, identity, "secretary", unit, granted_by="test")
        # The newer registration also reported in October, when the older one did not.
        await session.execute(
            insert(ReporterMonth).values(
                member_id=identity.member_id, month="2026-10", unit_id=unit.id
            )
        )

    code = code_in(await console(newer, "/link"))
    # Typed where it was given, it joins nothing.
    assert "trong ứng dụng kia" in await console(newer, f"/link {code}")
    joined = await console(older, f"/link {code.lower().replace('-', ' ')}")
    assert "Hoàng Thị Mai, Xã Na Sầm" in joined
    assert "bản đăng ký cũ hơn" in joined
    async with app.db.read() as session:
        members = (await session.scalars(select(Member))).all()
        entries = (await session.scalars(select(Entry).order_by(Entry.id))).all()
        months = (
            await session.execute(select(ReporterMonth.member_id, ReporterMonth.unit_id))
        ).all()
        codes = (await session.scalars(select(LinkCode))).all()
        sizes = (
            await session.execute(select(Unit.code, Unit.members).where(Unit.members != 0))
        ).all()
    assert [(m.id, m.unit_id) for m in members] == [(1, members[0].unit_id)]
    assert [entry.reporter_id for entry in entries] == [1, 1]
    # Both reported this month: one reporter now, who reported in October too, in her unit
    # ("who has not reported" in Na Sầm counts her, in Đông Kinh nobody).
    assert sorted(months) == [(1, members[0].unit_id)] * 2
    assert codes == []
    assert sizes == [("ls-x-na-sam", 1)]  # Đông Kinh's count lost the merged registration
    # Her role came with the other account: she reviews on the older one too, though not
    # the entry that is now her own (it waits for the level above).
    assert "Không còn báo cáo nào chờ bạn duyệt" in await console(older, "/review")
    mine = await console(newer, "/myentries")
    assert "Sửa đường vào thôn Bản Chu" in mine and "Dọn rác bờ suối" in mine
    # Taking the role back from one account takes it from the person.
    async with app.db.write() as session:
        identity = await identity_for(session, "console", "tg-mai")
        assert await revoke_role(session, identity, "secretary", None, revoked_by="test") == 1
    assert "dành cho bí thư và quản trị viên" in await console(older, "/review")
    assert "dành cho bí thư và quản trị viên" in await console(newer, "/review")


async def test_codes_cannot_be_guessed_or_used_late(app: App) -> None:
    mai, stranger = Chat(app, "mai"), Chat(app, "stranger")
    await console(mai, "/start", "1", "Hoàng Thị Mai", "2004", "na sam", "bỏ qua", "1")
    code = code_in(await console(mai, "/link"))
    async with app.db.write() as session:
        await session.execute(
            update(LinkCode).values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        )
    late = await console(stranger, f"/link {code}")
    assert "hết hạn" in late
    code = code_in(await console(mai, "/link"))  # a new code replaces the old
    for attempt in range(MOST_TRIES - 1):
        assert "hết hạn" in await console(stranger, f"/link ABCD-EFG{attempt + 2}")
    refused = await console(stranger, f"/link {code}")
    assert "bạn vui lòng đợi một giờ" in refused
    async with app.db.write() as session:
        account = await identity_for(session, "console", "stranger")
        members = (await session.scalars(select(Member.full_name))).all()
    assert account.member_id is None and members == ["Hoàng Thị Mai"]
    assert "/start" in await console(stranger, "/link")
