"""The same bot on Zalo, end to end over HTTP against a fake Zalo Bot API: every flow of a
young person and a secretary by text alone, despite repeated updates and idle 408s; photos
only from allowed hosts; a broadcast reaching Telegram and Zalo members exactly once."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from bot.alerts import tell_admins_quota
from bot.app import App, build_app
from bot.channels.runtime import Channel
from bot.config import Config, FloodConfig
from models.people import grant_role, identity_for
from models.stats import count_member
from models.tables import AuditRecord, Entry, EntryFile, Identity, Member, OutboxMessage, Unit
from tests.botapi import FakeBotApi
from tests.conftest import make_config
from tests.test_reporting import ECONOMIC, INITIATIVE, VOLUNTEER
from tests.test_telegram import User
from tests.test_telegram_reporting import jpeg
from tests.zaloapi import FakeZaloBotApi, SentMessage

MAI = "8a1f0c2b9d3e"
SON = "77c0ffee1234"


@pytest.fixture
async def api(no_proxy: None) -> AsyncIterator[FakeZaloBotApi]:
    async with FakeZaloBotApi() as api:
        yield api


def zalo_config(tmp_path: Path, api: FakeZaloBotApi, **env: str) -> Config:
    config = make_config(
        tmp_path, ZALO_BOT_TOKEN=api.token, ZALO_API_BASE_URL=api.api_base_url, **env
    )
    zalo = dataclasses.replace(
        config.zalo, media_hosts=(api.media_host,), poll_timeout=1, rate_per_second=1000
    )
    return dataclasses.replace(
        config, zalo=zalo, flood=FloodConfig(messages=1000, per_seconds=1.0)
    )


async def started(config: Config) -> Channel:
    app = build_app(config)
    await app.prepare()
    channel = app.channels["zalo"]
    await channel.start()
    return channel


async def stopped(channel: Channel) -> None:
    await channel.stop()
    await channel.app.close()


@pytest.fixture
async def bot(tmp_path: Path, api: FakeZaloBotApi) -> AsyncIterator[Channel]:
    channel = await started(zalo_config(tmp_path, api))
    yield channel
    await stopped(channel)


class ZaloUser:
    """A person in a private Zalo chat with the bot: text and photos only."""

    def __init__(self, api: FakeZaloBotApi, user_id: str) -> None:
        self.api = api
        self.id = user_id

    async def says(self, text: str, *, expect: str) -> SentMessage:
        mark = len(self.api.sent)
        self.api.user_text(self.id, text)
        return await self.reply(mark, expect)

    async def sends_photo(self, data: bytes, *, expect: str, foreign: bool = False) -> SentMessage:
        mark = len(self.api.sent)
        self.api.user_image(self.id, self.api.host_image(data, foreign=foreign))
        return await self.reply(mark, expect)

    async def reply(self, mark: int, expect: str) -> SentMessage:
        return await self.api.wait_for(
            lambda m: (
                m.chat_id == self.id and m in self.api.sent[mark:] and expect in (m.text or "")
            ),
            timeout=10,
        )


async def register(api: FakeZaloBotApi, user_id: str, name: str) -> ZaloUser:
    person = ZaloUser(api, user_id)
    await person.says("/start", expect="Trả lời 1 hoặc 2.")  # consent: two numbered answers
    await person.says("1", expect="")
    await person.says(name, expect="sinh năm nào")
    await person.says("2002", expect="")
    await person.says("na sam", expect="")
    await person.says("bỏ qua", expect="Trả lời 1 hoặc 2.")  # the summary: confirm or change
    await person.says("1", expect="Menu")
    return person


async def at_the_evidence_step(api: FakeZaloBotApi, user_id: str) -> ZaloUser:
    """A newly registered person reporting volunteer work, asked for evidence."""
    person = await register(api, user_id, "Hoàng Thị Mai")
    await person.says("/report", expect="")
    await person.says("2", expect="")
    for answer in VOLUNTEER[:-1]:
        await person.says(answer, expect="")
    return person


async def test_a_young_person_registers_and_reports_by_text_alone(
    api: FakeZaloBotApi, bot: Channel
) -> None:
    api.repeat_next(3)  # Zalo has no offset: the first update comes back three more times
    mai = await register(api, MAI, "Hoàng Thị Mai")
    consent = next(m for m in api.messages_to(MAI) if "Trả lời 1 hoặc 2." in (m.text or ""))
    assert "<b>" not in (consent.text or "") and "\n1. " in (consent.text or "")
    assert len([m for m in api.messages_to(MAI) if "Chào mừng bạn đến" in (m.text or "")]) == 1

    for number, answers in (("1", INITIATIVE), ("2", VOLUNTEER), ("3", ECONOMIC)):
        await mai.says("/report", expect="Bạn muốn báo cáo nội dung gì?")
        await mai.says(number, expect="bước 1/")
        for answer in answers[:-1]:
            reply = await mai.says(answer, expect="")
            assert "⚠️" not in (reply.text or ""), reply.text
        await mai.sends_photo(jpeg("green"), expect="Đã nhận 1 tệp")
        await mai.says("xong", expect="bạn vui lòng kiểm tra trước khi gửi")
        await mai.says("1", expect="✅ Đã lưu. Báo cáo #")

    async with bot.app.db.read() as session:
        entries = (await session.scalars(select(Entry).order_by(Entry.id))).all()
        files = await session.scalar(select(func.count()).select_from(EntryFile))
        members = await session.scalar(select(func.count()).select_from(Member))
    assert [e.kind for e in entries] == ["initiative", "volunteer", "economic_model"]
    assert files == 3 and members == 1
    mine = await mai.says("/myentries", expect="Các báo cáo của bạn")
    assert "Trả lời bằng một số từ 1 đến" in (mine.text or "") or "Trả lời 1" in (mine.text or "")
    assert all(len(m.text or "") <= 2000 for m in api.sent)
    assert await api.wait_call("getUpdates")  # polling went on through idle 408s


async def test_photos_only_from_allowed_hosts_and_only_real_images(
    api: FakeZaloBotApi, bot: Channel
) -> None:
    mai = await at_the_evidence_step(api, MAI)
    refused = await mai.sends_photo(jpeg("red"), expect="⚠️", foreign=True)
    assert "Mình chưa nhận được tệp này" in (refused.text or "")
    fake = await mai.sends_photo(b"not a picture at all", expect="⚠️")
    assert "Hãy gửi ảnh" in (fake.text or "") or "ảnh" in (fake.text or "")
    assert not [url for url in api.downloads if api.foreign_media_host in url]
    async with bot.app.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(EntryFile)) == 0


async def test_a_secretary_reviews_on_zalo_and_the_reporter_hears_in_their_chat(
    api: FakeZaloBotApi, bot: Channel
) -> None:
    mai = await register(api, MAI, "Hoàng Thị Mai")
    await mai.says("/report", expect="")
    await mai.says("2", expect="")
    for answer in VOLUNTEER:
        await mai.says(answer, expect="")
    await mai.says("1", expect="✅ Đã lưu")
    son = await register(api, SON, "Lý Văn Sơn")
    async with bot.app.db.write() as session:
        identity = await identity_for(session, "zalo", SON)
        unit = (await session.scalars(select(Unit).where(Unit.code == "ls-x-na-sam"))).one()
        await grant_role(session, identity, "secretary", unit, granted_by="test")
    await son.says("/review", expect="Sửa đường vào thôn Bản Chu")
    mark = len(api.sent)
    await son.says("1", expect="Đã duyệt báo cáo #1")
    told = await mai.reply(mark, "đã được duyệt")
    assert "Sửa đường vào thôn Bản Chu" in (told.text or "")
    assert "Trả lời" not in (told.text or "")  # a number typed there answers her own chat


async def test_mydata_stop_export_and_join_on_zalo(api: FakeZaloBotApi, bot: Channel) -> None:
    secretary = await register(api, SON, "Lý Văn Sơn")
    async with bot.app.db.write() as session:
        identity = await identity_for(session, "zalo", SON)
        unit = (await session.scalars(select(Unit).where(Unit.code == "ls-x-dong-dang"))).one()
        await grant_role(session, identity, "secretary", unit, granted_by="test")
    export = await secretary.says("/export", expect="")
    assert "kênh trò chuyện này không nhận được tệp" in (export.text or "")  # asked at once
    invitation = await secretary.says("/invite", expect="Lời mời mới")
    code = next(
        line.split(":")[1].strip()
        for line in (invitation.text or "").splitlines()
        if line.startswith("Mã:")
    )
    assert f"/join {code}" in (invitation.text or "")
    assert "Kênh trò chuyện này không nhận được tệp" in (invitation.text or "")  # no QR file

    newcomer = ZaloUser(api, MAI)
    await newcomer.says(f"/join {code}", expect="Xã Đồng Đăng")
    await newcomer.says("1", expect="")
    await newcomer.says("Hoàng Thị Mai", expect="")
    await newcomer.says("2003", expect="")
    await newcomer.says("bỏ qua", expect="theo lời mời")
    await newcomer.says("1", expect="Menu")
    async with bot.app.db.read() as session:
        member = (
            await session.scalars(select(Member).where(Member.full_name == "Hoàng Thị Mai"))
        ).one()
        assert member.unit_id == unit.id

    data = await newcomer.says("/mydata", expect="Họ và tên: Hoàng Thị Mai")
    assert "Kênh trò chuyện này không nhận được tệp" in (data.text or "")
    stop = await newcomer.says("/stop", expect="")
    assert "không nhận thông báo" in (stop.text or "")


async def test_the_zalo_webhook_checks_its_secret_and_takes_both_envelopes(
    tmp_path: Path, api: FakeZaloBotApi
) -> None:
    secret = "s3cret-for-zalo-webhook"
    config = zalo_config(
        tmp_path,
        api,
        ZALO_WEBHOOK_URL="https://bot.example.vn/zalo/hook",
        ZALO_WEBHOOK_SECRET=secret,
    )
    config = dataclasses.replace(config, zalo=dataclasses.replace(config.zalo, webhook_port=0))
    channel = await started(config)
    try:
        url = f"http://127.0.0.1:{channel.webhook_port}/zalo/hook"
        api.webhook_proxy = f"http://127.0.0.1:{channel.webhook_port}"
        update = {
            "event_name": "message.text.received",
            "message": {
                "message_id": "m-1",
                "date": 0,
                "chat": {"id": MAI, "chat_type": "PRIVATE"},
                "from": {"id": MAI, "display_name": "Mai", "is_bot": False},
                "text": "/start",
            },
        }
        body = json.dumps(update)
        async with httpx.AsyncClient() as client:
            json_type = {"Content-Type": "application/json"}
            statuses = [
                (await client.post(url, content=body, headers=json_type)).status_code,
                (
                    await client.post(
                        url, content=body, headers={**json_type, "X-Bot-Api-Secret-Token": "x"}
                    )
                ).status_code,
                (
                    await client.post(
                        url,
                        content=body,
                        headers={"Content-Type": "text/plain", "X-Bot-Api-Secret-Token": secret},
                    )
                ).status_code,
                (
                    await client.post(
                        url, content=body, headers={**json_type, "X-Bot-Api-Secret-Token": secret}
                    )
                ).status_code,
            ]
        assert statuses == [403, 403, 403, 200]
        await api.wait_reply(MAI)
        # Through the fake's own webhook delivery, wrapped as {"ok": true, "result": ...}.
        api.wrap_webhook = True
        mark = len(api.sent)
        api.user_text(MAI, "1")
        await api.wait_reply(MAI, after=mark)
    finally:
        await stopped(channel)
    assert api.webhook is not None and api.webhook["url"].endswith("/zalo/hook")
    welcomes = [m for m in api.messages_to(MAI) if "Chào mừng bạn đến" in (m.text or "")]
    assert len(welcomes) == 1


@contextlib.asynccontextmanager
async def telegram_and_zalo(
    tmp_path: Path, api: FakeZaloBotApi
) -> AsyncIterator[tuple[App, FakeBotApi]]:
    """One bot on Telegram and Zalo at once, each against its fake API."""
    async with FakeBotApi() as telegram_api:
        config = zalo_config(
            tmp_path,
            api,
            TELEGRAM_BOT_TOKEN=telegram_api.token,
            TELEGRAM_API_BASE_URL=telegram_api.root_url,
        )
        app = build_app(config)
        await app.prepare()
        started: list[Channel] = []
        try:
            for channel in app.channels.values():
                await channel.start()
                started.append(channel)
            yield app, telegram_api
        finally:
            for channel in reversed(started):
                await channel.stop()
            await app.close()


async def lan_on_telegram(app: App, telegram_api: FakeBotApi, role: str) -> User:
    """Lan registers on Telegram in Xã Na Sầm and is made its secretary, or an admin."""
    lan = User(telegram_api, 3003)
    for line in ("/start", "1", "Nông Thị Lan", "2001", "na sam"):
        await lan.says(line, expect="")
    await lan.says("skip", expect="kiểm tra trước khi gửi")
    await lan.says("1", expect="Menu")
    async with app.db.write() as session:
        identity = await identity_for(session, "telegram", "3003")
        unit = (await session.scalars(select(Unit).where(Unit.code == "ls-x-na-sam"))).one()
        await grant_role(
            session, identity, role, unit if role == "secretary" else None, granted_by="test"
        )
    return lan


async def broadcast_to_everyone(lan: User, text: str, recipients: int) -> None:
    """Lan writes an announcement without a photo to every member she may reach, then
    confirms it once she sees the number of recipients."""
    await lan.says("/broadcast", expect="")
    await lan.says(text, expect="")
    await lan.says("skip", expect="")
    await lan.says("1", expect="")
    await lan.says("1", expect=str(recipients))


async def test_a_broadcast_reaches_telegram_and_zalo_members_exactly_once(
    tmp_path: Path, api: FakeZaloBotApi, no_proxy: None
) -> None:
    async with telegram_and_zalo(tmp_path, api) as (app, telegram_api):
        mai = await register(api, MAI, "Hoàng Thị Mai")
        lan = await lan_on_telegram(app, telegram_api, "secretary")
        await broadcast_to_everyone(lan, "Sinh hoạt chi đoàn tối thứ Sáu, 19h30", 2)
        await lan.says("1", expect="")
        await mai.reply(0, "Sinh hoạt chi đoàn tối thứ Sáu")
        await telegram_api.wait_for(
            lambda m: (
                m.chat_id == 3003
                and "Sinh hoạt chi đoàn tối thứ Sáu" in (m.text or "")
                and "Thông báo" in (m.text or "")
            ),
            timeout=10,
        )
        await telegram_api.wait_for(
            lambda m: m.chat_id == 3003 and "đã gửi xong" in (m.text or ""), timeout=20
        )
    on_zalo = Counter(
        m.chat_id for m in api.sent if "Sinh hoạt chi đoàn tối thứ Sáu" in (m.text or "")
    )
    on_telegram = Counter(
        m.chat_id
        for m in telegram_api.sent
        if "Sinh hoạt chi đoàn tối thứ Sáu" in (m.text or "") and "Thông báo" in (m.text or "")
    )
    assert on_zalo == {MAI: 1}
    assert on_telegram == {3003: 1}
    announcement = next(m for m in api.messages_to(MAI) if "Sinh hoạt" in (m.text or ""))
    assert "<b>" not in (announcement.text or "")


async def test_with_a_public_address_pictures_go_by_short_lived_links(
    tmp_path: Path, api: FakeZaloBotApi
) -> None:
    config = zalo_config(
        tmp_path,
        api,
        ZALO_WEBHOOK_URL="https://bot.example.vn/zalo/hook",
        ZALO_WEBHOOK_SECRET="s3cret-for-zalo-webhook",
    )
    config = dataclasses.replace(config, zalo=dataclasses.replace(config.zalo, webhook_port=0))
    channel = await started(config)
    try:
        local = f"http://127.0.0.1:{channel.webhook_port}"
        api.webhook_proxy = local
        son = await register(api, SON, "Lý Văn Sơn")
        async with channel.app.db.write() as session:
            identity = await identity_for(session, "zalo", SON)
            unit = (await session.scalars(select(Unit).where(Unit.code == "ls-x-na-sam"))).one()
            await grant_role(session, identity, "secretary", unit, granted_by="test")
        mark = len(api.sent)
        invitation = await son.says("/invite", expect="Lời mời mới")
        assert "không nhận được tệp" not in (invitation.text or "")
        photo = await api.wait_for(
            lambda m: m.method == "sendPhoto" and m in api.sent[mark:], timeout=10
        )
        public = "https://bot.example.vn/zalo/hook/media/"
        link = photo.photo or ""
        assert link.startswith(public)
        async with httpx.AsyncClient() as client:
            served = await client.get(local + "/zalo/hook/media/" + link[len(public) :])
            missing = await client.get(local + "/zalo/hook/media/not-a-token")
    finally:
        await stopped(channel)
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/png"
    assert served.content.startswith(b"\x89PNG")
    assert missing.status_code == 404


async def add_zalo_members(app: App, chats: list[str], unit_code: str = "ls-x-na-sam") -> None:
    """Registered members of a unit, each with a Zalo chat, written directly."""
    async with app.db.write() as session:
        unit = (await session.scalars(select(Unit).where(Unit.code == unit_code))).one()
        for chat in chats:
            member = Member(
                full_name=f"Đoàn viên {chat}", birth_year=2002, is_minor=False, unit_id=unit.id
            )
            session.add(member)
            await session.flush()
            await count_member(session, unit.id, 1)  # as registration does
            session.add(Identity(channel="zalo", user_id=chat, chat_id=chat, member_id=member.id))


async def test_read_both_photo_url_and_photo_in_image_events(
    api: FakeZaloBotApi, bot: Channel
) -> None:
    mai = await at_the_evidence_step(api, MAI)
    mark = len(api.sent)
    api.user_image(MAI, api.host_image(jpeg("blue")), field="photo")  # as documented
    await mai.reply(mark, "Đã nhận 1 tệp")
    await mai.sends_photo(jpeg("green"), expect="Đã nhận 2 tệp")  # as bots receive it
    await mai.says("xong", expect="bạn vui lòng kiểm tra trước khi gửi")
    await mai.says("1", expect="✅ Đã lưu")
    async with bot.app.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(EntryFile)) == 2


async def test_an_account_that_blocked_the_bot_is_reachable_again_once_it_writes(
    api: FakeZaloBotApi, bot: Channel
) -> None:
    """A 403 marks the account unreachable, so broadcasts skip it; writing to the bot again
    shows the person is back, and the next broadcast reaches them."""
    son = await register(api, SON, "Lý Văn Sơn")
    mai = await register(api, MAI, "Hoàng Thị Mai")
    async with bot.app.db.write() as session:
        identity = await identity_for(session, "zalo", SON)
        unit = (await session.scalars(select(Unit).where(Unit.code == "ls-x-na-sam"))).one()
        await grant_role(session, identity, "secretary", unit, granted_by="test")

    async def broadcast(text: str) -> None:
        await son.says("/broadcast", expect="")
        await son.says(text, expect="")
        await son.says("bỏ qua", expect="")
        await son.says("1", expect="")
        await son.says("1", expect="")
        await son.says("1", expect="")
        await api.wait_for(lambda m: m.chat_id == SON and "đã gửi xong" in (m.text or ""))

    async def unreachable() -> bool:
        async with bot.app.db.read() as session:
            identity = await identity_for(session, "zalo", MAI)
            return identity.unreachable_at is not None

    api.blocked.add(MAI)
    await broadcast("Họp chi đoàn sáng Chủ nhật")
    assert await unreachable()
    api.blocked.discard(MAI)
    await mai.says("/help", expect="")  # she writes again
    assert not await unreachable()
    await broadcast("Lịch lao động tình nguyện tuần sau")
    await api.wait_for(lambda m: m.chat_id == MAI and "Lịch lao động" in (m.text or ""))
    assert not [m for m in api.messages_to(MAI) if "Họp chi đoàn" in (m.text or "")]


async def test_a_used_up_quota_stops_the_channel_keeps_the_outbox_and_tells_the_admins_once(
    tmp_path: Path, api: FakeZaloBotApi, no_proxy: None
) -> None:
    """The Zalo Bot free plan answers 429 once the month's messages are used up: nothing more
    is sent on Zalo (no retry every second, not even answers), the announcements waiting stay
    in the outbox, and the admins hear it once, on their own channel."""
    async with telegram_and_zalo(tmp_path, api) as (app, telegram_api):
        await add_zalo_members(app, ["z-1", "z-2", "z-3"])
        lan = await lan_on_telegram(app, telegram_api, "admin")
        await broadcast_to_everyone(lan, "Sinh hoạt chi đoàn tối thứ Sáu", 4)  # and Lan
        api.quota = 1  # one message left this month
        await lan.says("1", expect="")
        alert = await telegram_api.wait_for(
            lambda m: m.chat_id == 3003 and "hạn mức tin nhắn" in (m.text or ""), timeout=20
        )
        assert "Zalo" in (alert.text or "")
        calls = len(api.calls)
        mark = len(api.deliveries)
        api.user_text("z-1", "/help")  # a member writes meanwhile: no answer is tried
        await api.wait_delivered(lambda d: d.message_id != "", after=mark)
        await app.channels["zalo"].drain()
        assert api.over_quota == 1
        assert {method for method, _ in api.calls[calls:]} <= {"getUpdates"}
        async with app.db.read() as session:
            statuses = Counter(
                (
                    await session.scalars(
                        select(OutboxMessage.status).where(OutboxMessage.channel == "zalo")
                    )
                ).all()
            )
            alerts = (
                await session.scalars(
                    select(AuditRecord).where(AuditRecord.action == "channel.quota_used_up")
                )
            ).all()
        assert statuses == {"sent": 1, "pending": 2}
        assert [(a.details["channel"], a.details["told"]) for a in alerts] == [("zalo", 1)]
        # Told once a month, however often the quota is hit.
        assert await tell_admins_quota(app, "zalo", "Zalo", dt.datetime.now(dt.UTC)) == 0
    alerts_to_lan = [m for m in telegram_api.messages_to(3003) if "hạn mức" in (m.text or "")]
    assert len(alerts_to_lan) == 1
