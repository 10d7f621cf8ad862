"""Telegram end to end: the real application over real HTTP against a Bot API server on
loopback. Users press buttons, type, share contacts; the tests read what the bot sent."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from bot.app import build_app
from bot.channels.runtime import Channel, Refused
from bot.config import Config, FloodConfig
from bot.context import Context
from bot.delivery import DeliveryError, RetryLater, Unreachable
from bot.events import Choice, Reply
from models.tables import Unit
from tests.botapi import FakeBotApi, SentMessage
from tests.conftest import make_config

MAI = 1001
JOHN = 1002


@pytest.fixture
async def server(no_proxy: None) -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as server:
        yield server


def telegram_config(tmp_path: Path, server: FakeBotApi, **env: str) -> Config:
    config = make_config(
        tmp_path,
        TELEGRAM_BOT_TOKEN=server.token,
        TELEGRAM_API_BASE_URL=server.root_url,
        **env,
    )
    # Test users answer faster than any person; flood control has tests of its own.
    return dataclasses.replace(config, flood=FloodConfig(messages=1000, per_seconds=1.0))


async def started(config: Config) -> Channel:
    app = build_app(config)
    await app.prepare()
    channel = app.channels["telegram"]
    await channel.start()
    return channel


async def stopped(channel: Channel) -> None:
    await channel.stop()
    await channel.app.close()


@pytest.fixture
async def bot(tmp_path: Path, server: FakeBotApi) -> AsyncIterator[Channel]:
    channel = await started(telegram_config(tmp_path, server))
    yield channel
    await stopped(channel)


class User:
    """A person in a private chat with the bot."""

    def __init__(self, server: FakeBotApi, user_id: int, language: str = "vi") -> None:
        self.server = server
        self.id = user_id
        self.language = language

    async def says(self, text: str, *, expect: str) -> SentMessage:
        """Sends a message and waits for the bot's message containing `expect`."""
        mark = len(self.server.sent)
        self.server.user_message(self.id, text, language_code=self.language)
        return await self.reply(mark, expect)

    async def presses(self, label: str, *, expect: str) -> SentMessage:
        """Presses the button with this label on the latest message that has it."""
        await self.server.wait_for(
            lambda m: m.chat_id == self.id and label in [text for text, _ in m.buttons()]
        )
        for message in reversed(self.server.messages_to(self.id)):
            for text, data in message.buttons():
                if text == label:
                    mark = len(self.server.sent)
                    self.server.user_callback(
                        self.id, data, message_id=message.message_id, language_code=self.language
                    )
                    return await self.reply(mark, expect)
        raise AssertionError(f"no button {label!r} in chat {self.id}")

    async def reply(self, mark: int, expect: str) -> SentMessage:
        def wanted(message: SentMessage) -> bool:
            return (
                message.chat_id == self.id
                and message.method.startswith("send")  # not the removal of old buttons
                and message in self.server.sent[mark:]
                and expect in (message.text or "")
            )

        return await self.server.wait_for(wanted, timeout=10)


def private_message(update_id: int, text: str) -> dict[str, Any]:
    """A raw update as Telegram sends it: a text (or command) in Mai's private chat."""
    message: dict[str, Any] = {
        "message_id": update_id,
        "date": 0,
        "chat": {"id": MAI, "type": "private"},
        "from": {"id": MAI, "is_bot": False, "first_name": "Mai", "language_code": "vi"},
        "text": text,
    }
    if text.startswith("/"):
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text)}]
    return {"update_id": update_id, "message": message}


def member_rows(tmp_path: Path) -> list[tuple[str, int, str | None, str]]:
    with sqlite3.connect(tmp_path / "bot.sqlite3") as db:
        return db.execute(
            "SELECT m.full_name, m.birth_year, m.phone, u.name FROM members m "
            "JOIN units u ON u.id = m.unit_id ORDER BY m.id"
        ).fetchall()


async def test_a_new_user_registers_in_vietnamese_with_buttons(
    tmp_path: Path, server: FakeBotApi, bot: Channel
) -> None:
    mai = User(server, MAI)
    consent = await mai.says("/start", expect="Bạn có đồng ý không?")
    welcome = server.messages_to(MAI)[0]
    assert "Chào mừng bạn đến với phong trào thi đua" in (welcome.text or "")
    assert ("✅ Tôi đồng ý", "f:registration:consent:agree") in consent.buttons()
    assert consent.params["parse_mode"] == "HTML"

    await mai.presses("✅ Tôi đồng ý", expect="Họ và tên của bạn là gì?")
    assert server.callback_answers, "the button press must be answered"
    await mai.says("Hoàng Thị Mai", expect="Bạn sinh năm nào?")
    await mai.says("2004", expect="Bạn sinh hoạt ở xã, phường")
    phone = await mai.says("na sam", expect="Số điện thoại của bạn")
    assert "Đơn vị: Xã Na Sầm" in (phone.text or "")
    assert phone.keyboard()[0] == "📱 Chia sẻ số điện thoại"

    mark = len(server.sent)
    server.user_contact(MAI, "+84912345678")
    summary = await mai.reply(mark, "Đăng ký: bạn vui lòng kiểm tra trước khi gửi")
    assert "Số điện thoại: 0912 345 678" in (summary.text or "")
    assert member_rows(tmp_path) == []  # nothing is stored before the summary is confirmed
    mark = len(server.sent)
    await mai.presses("✅ Xác nhận đăng ký", expect="Bạn đã đăng ký thành công")
    done = await mai.reply(mark, "Bạn đã đăng ký thành công")
    assert done.params.get("reply_markup") == {"remove_keyboard": True}
    menu = await mai.reply(mark, "Menu")
    assert [label for label, _ in menu.buttons()] == [
        "📝 Báo cáo",
        "📂 Báo cáo của tôi",
        "📊 Kết quả của tôi",
        "👤 Hồ sơ của tôi",
        "🌐 Ngôn ngữ",
        "🎖 Giấy chứng nhận",
        "⭐ Gương điển hình",
        "❓ Hướng dẫn",
    ]
    assert member_rows(tmp_path) == [("Hoàng Thị Mai", 2004, "+84912345678", "Xã Na Sầm")]

    profile = await mai.presses("👤 Hồ sơ của tôi", expect="Hồ sơ của bạn")
    assert "Số điện thoại: 0912 345 678" in (profile.text or "")
    again = await mai.says("/start", expect="Chào mừng Mai quay lại!")
    assert again.buttons()


async def test_the_command_menu_says_whom_each_command_is_for(
    server: FakeBotApi, bot: Channel
) -> None:
    listed = {
        language: {c["command"]: c["description"] for c in commands}
        for (_, language), commands in server.my_commands.items()
    }
    assert listed[""]["report"] == "báo cáo sáng kiến, hoạt động tình nguyện hoặc mô hình kinh tế"
    assert listed[""]["review"] == "xét duyệt báo cáo của đơn vị (dành cho bí thư)"
    assert listed[""]["audit"] == "xem các hoạt động quan trọng gần đây (dành cho quản trị viên)"
    assert listed["en"]["review"] == "review the entries of your units (for secretaries)"


async def test_an_english_speaker_registers_in_english_by_typing(
    tmp_path: Path, server: FakeBotApi, bot: Channel
) -> None:
    john = User(server, JOHN, language="en")
    await john.says("/start", expect="Do you agree?")
    await john.says("1", expect="What is your full name?")
    await john.says("John Nguyen", expect="In which year were you born?")
    await john.says("2001", expect="Which commune, ward or body")
    choices = await john.says("lang", expect="Several units match")
    assert len(choices.buttons()) > 3
    await john.says("Xã Văn Lãng", expect="Your phone number (optional)")
    await john.says("Skip", expect="Registration: please check before sending")
    await john.says("1", expect="You are registered. Welcome, John Nguyen!")
    assert member_rows(tmp_path) == [("John Nguyen", 2001, None, "Xã Văn Lãng")]


async def test_language_can_be_switched_with_a_button(server: FakeBotApi, bot: Channel) -> None:
    mai = User(server, MAI)
    await mai.says("/language", expect="Bạn muốn dùng ngôn ngữ nào?")
    await mai.presses("🇬🇧 English", expect="I will speak English with you from now on.")
    await mai.says("/start", expect="Do you agree?")


async def test_bad_input_is_answered_and_changes_nothing(
    tmp_path: Path, server: FakeBotApi, bot: Channel
) -> None:
    mai = User(server, MAI)
    await mai.says("/start", expect="Bạn có đồng ý không?")
    await mai.says("/nonsense", expect="Mình chưa biết lệnh /nonsense")
    mark = len(server.sent)
    server.user_sticker(MAI)
    await mai.reply(mark, "Bạn vui lòng trả lời câu hỏi này bằng chữ.")
    await mai.says("<b>hack</b> & co", expect="Bạn vui lòng chọn một trong các mục")
    # A stale button from another question is refused, not acted on.
    mark = len(server.sent)
    server.user_callback(MAI, "f:registration:unit:1")
    await mai.reply(mark, "Nút này thuộc câu hỏi trước rồi.")
    await mai.says("1", expect="Họ và tên")
    await mai.says("<script>x</script> & Bé", expect="họ và tên bằng chữ")  # names are letters
    await mai.says("Hoàng Thị Mai", expect="Bạn sinh năm nào?")
    await mai.says("2004", expect="Bạn sinh hoạt")
    reply = await mai.says("<b>&", expect="Không tìm thấy đơn vị nào")
    # The server parses HTML like Telegram: the tag typed by the user shows as typed.
    assert "“<b>&”" in (reply.text or "")
    assert member_rows(tmp_path) == []


async def test_outside_a_form_photos_and_voice_get_a_hint(
    tmp_path: Path, server: FakeBotApi, bot: Channel
) -> None:
    mai = User(server, MAI)
    mark = len(server.sent)
    server.user_voice(MAI)
    await mai.reply(mark, "Mình chưa nghe được tin nhắn thoại.")
    mark = len(server.sent)
    server.user_photo(MAI, b"\x89PNG fake")
    await mai.reply(mark, "Bạn chỉ cần gửi ảnh khi báo cáo yêu cầu minh chứng.")
    with sqlite3.connect(tmp_path / "bot.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM dialogues").fetchone()[0] == 0
        assert db.execute("SELECT count(*) FROM members").fetchone()[0] == 0


async def test_rate_limits_and_server_errors_are_retried(server: FakeBotApi, bot: Channel) -> None:
    mai = User(server, MAI)
    server.fail_next("sendMessage", 429, retry_after=1)
    await mai.says("/help", expect="Cách dùng bot")
    assert sum(1 for method, _ in server.calls if method == "sendMessage") >= 2


async def test_a_user_who_blocked_the_bot_does_not_stop_it(
    server: FakeBotApi, bot: Channel
) -> None:
    server.fail_next("sendMessage", 403)
    mark = len(server.calls)
    server.user_message(MAI, "/help")
    await server.wait_call("sendMessage", after=mark)
    john = User(server, JOHN, language="en")
    await john.says("/help", expect="How to use this bot")


async def test_a_redelivered_update_changes_nothing_and_sends_nothing(
    tmp_path: Path, server: FakeBotApi
) -> None:
    config = telegram_config(tmp_path, server)
    first = await started(config)
    mai = User(server, MAI)
    await mai.says("/start", expect="Bạn có đồng ý không?")
    update_id = server.user_message(MAI, "1")
    await mai.reply(0, "Họ và tên của bạn là gì?")
    await stopped(first)

    # Telegram never heard the confirmation and delivers the same update again.
    server.add_update(private_message(update_id, "1"))
    second = await started(config)
    try:
        await server.wait_quiet_confirmed(update_id)
        # The next answer proves the form did not move twice: it is still asking the name.
        await mai.says("Hoàng Thị Mai", expect="Bạn sinh năm nào?")
    finally:
        await stopped(second)
    name_prompts = [m for m in server.messages_to(MAI) if "Họ và tên" in (m.text or "")]
    assert len(name_prompts) == 1


async def test_updates_stored_before_a_crash_are_handled_on_start(
    tmp_path: Path, server: FakeBotApi
) -> None:
    """The inbox is written before acknowledging; what a crash left unhandled runs on start."""
    config = telegram_config(tmp_path, server)
    app = build_app(config)
    await app.prepare()
    channel = app.channels["telegram"]
    payload = private_message(5000, "/help")
    await channel.accept([payload])  # stored, then the process "died"
    await app.close()

    restarted = await started(config)
    try:
        await User(server, MAI).reply(0, "Cách dùng bot")
    finally:
        await stopped(restarted)


async def test_webhook_checks_the_secret_and_content_type(
    tmp_path: Path, server: FakeBotApi, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "s3cret-Token_value"
    config = telegram_config(
        tmp_path,
        server,
        TELEGRAM_WEBHOOK_URL="https://bot.example.vn/telegram",
        TELEGRAM_WEBHOOK_SECRET=secret,
    )
    config = dataclasses.replace(
        config, telegram=dataclasses.replace(config.telegram, webhook_port=0)
    )
    channel = await started(config)
    try:
        assert server.webhook is not None
        assert server.webhook["url"] == "https://bot.example.vn/telegram"
        assert server.webhook["secret_token"] == secret
        url = f"http://127.0.0.1:{channel.webhook_port}/telegram"
        update = private_message(77, "/help")
        header = "X-Telegram-Bot-Api-Secret-Token"
        async with httpx.AsyncClient() as client:
            missing = await client.post(url, json=update)
            wrong = await client.post(url, json=update, headers={header: "wrong"})
            form = await client.post(url, data={"x": "1"}, headers={header: secret})
            right = await client.post(url, json=update, headers={header: secret})
            again = await client.post(url, json=update, headers={header: secret})
        assert [r.status_code for r in (missing, wrong, form, right, again)] == [
            403,
            403,
            403,
            200,
            200,
        ]
        await User(server, MAI).reply(0, "Cách dùng bot")
        await channel.drain()
        assert len(server.messages_to(MAI)) == 1  # the repeated delivery sent nothing
    finally:
        await stopped(channel)
    assert secret not in caplog.text


async def test_a_flooding_user_is_slowed_with_one_notice_and_others_are_not(
    tmp_path: Path, server: FakeBotApi
) -> None:
    config = telegram_config(tmp_path, server)
    config = dataclasses.replace(config, flood=FloodConfig(messages=3, per_seconds=1.0))
    channel = await started(config)
    try:
        for _ in range(10):
            server.user_message(MAI, "/help")
        await server.wait_for(lambda m: m.chat_id == MAI and "rất nhanh" in (m.text or ""))
        john = User(server, JOHN, language="en")
        await john.says("/help", expect="How to use this bot")
        answered_mai = [m for m in server.messages_to(MAI) if "Cách dùng bot" in (m.text or "")]
        assert len(answered_mai) < 10  # John did not wait behind Mai's flood
        await channel.drain()
    finally:
        await stopped(channel)
    texts = [m.text or "" for m in server.messages_to(MAI)]
    assert sum("rất nhanh" in text for text in texts) == 1
    assert sum("Cách dùng bot" in text for text in texts) == 10  # slowed, never dropped


async def test_one_polls_messages_are_answered_in_order_and_a_failure_stays_alone(
    tmp_path: Path, server: FakeBotApi
) -> None:
    """Messages that arrive together are handled in one transaction (bot.channels.runtime):
    each chat's answers still come in order, and a message whose handler fails is answered
    with the apology while the others are answered as usual, their writes kept."""

    async def broken(ctx: Context) -> list[Reply]:
        await ctx.session.execute(update(Unit).values(name="hỏng"))  # must be rolled back
        raise RuntimeError("bug")

    app = build_app(telegram_config(tmp_path, server))
    app.router.command("broken", broken, "Language")
    await app.prepare()
    channel = app.channels["telegram"]
    await channel.start()
    try:
        await User(server, MAI).says("/help", expect="Cách dùng bot")  # polling, idle again
        mark = len(server.sent)
        # Queued at once: the bot's next poll takes all of them.
        for text in ("/start", "1", "Hoàng Thị Mai"):
            server.user_message(MAI, text)
        server.user_message(JOHN, "/broken", language_code="en")
        server.user_message(JOHN + 1, "/help")

        def answered(message: SentMessage) -> bool:
            texts = [m.text or "" for m in server.sent[mark:]]
            return any("Bạn sinh năm nào" in t for t in texts) and any(
                "went wrong" in t for t in texts
            )

        await server.wait_for(answered, timeout=10)
        await User(server, JOHN + 1).reply(mark, "Cách dùng bot")
        await channel.drain()
    finally:
        await stopped(channel)
    to_mai = [m.text or "" for m in server.sent[mark:] if m.chat_id == MAI]
    asked = ["Bạn có đồng ý không?", "Họ và tên của bạn là gì?", "Bạn sinh năm nào?"]
    assert [next(i for i, t in enumerate(to_mai) if q in t) for q in asked] == sorted(
        next(i for i, t in enumerate(to_mai) if q in t) for q in asked
    ), to_mai
    to_john = [m.text or "" for m in server.sent[mark:] if m.chat_id == JOHN]
    assert len(to_john) == 1 and "went wrong" in to_john[0], to_john
    with sqlite3.connect(tmp_path / "bot.sqlite3") as db:
        assert not db.execute("SELECT 1 FROM units WHERE name = 'hỏng'").fetchall()


async def test_an_album_is_not_flooding(tmp_path: Path, server: FakeBotApi) -> None:
    config = telegram_config(tmp_path, server)
    config = dataclasses.replace(config, flood=FloodConfig(messages=3, per_seconds=10.0))
    channel = await started(config)
    try:
        for _ in range(10):
            server.user_photo(MAI, b"\xff\xd8\xff fake jpeg", media_group_id="album-1")
        await server.wait_for(lambda m: m.chat_id == MAI)
        await channel.drain()
    finally:
        await stopped(channel)
    assert not any("rất nhanh" in (m.text or "") for m in server.messages_to(MAI))


async def test_server_errors_on_send_are_retried(server: FakeBotApi, bot: Channel) -> None:
    server.fail_next("sendMessage", 502, times=2)
    await User(server, MAI).says("/help", expect="Cách dùng bot")


async def test_a_text_is_sent_as_html_and_telegrams_errors_are_read_as_the_bot_api_says(
    server: FakeBotApi, bot: Channel
) -> None:
    """Texts go out as plain JSON (bot.channels.telegram): what each error means for the
    runtime and the outbox is what python-telegram-bot would make of it."""
    adapter = bot.adapter
    [message] = adapter.render(str(MAI), Reply("<b>Chào</b> Mai", (Choice("Có", "yes"),)))
    await adapter.send(str(MAI), message)
    sent = server.sent[-1]
    assert (sent.chat_id, sent.text) == (MAI, "Chào Mai")  # read as HTML: no tags left
    assert sent.buttons() == [("Có", "yes")]

    failures: list[tuple[int, dict[str, Any], type[Exception]]] = [
        (403, {}, Unreachable),
        (400, {"description": "Bad Request: chat not found"}, Unreachable),
        (400, {"description": "Bad Request: can't parse entities"}, Refused),
        (502, {}, DeliveryError),
    ]
    for status, details, meaning in failures:
        server.fail_next("sendMessage", status, **details)
        with pytest.raises(meaning) as raised:
            await adapter.send(str(MAI), message)
        assert type(raised.value) is meaning  # Refused and Unreachable are DeliveryErrors
    server.fail_next("sendMessage", 429, retry_after=7)
    with pytest.raises(RetryLater) as later:
        await adapter.send(str(MAI), message)
    assert later.value.seconds == 7


async def test_pressed_buttons_are_removed_from_the_old_message(
    server: FakeBotApi, bot: Channel
) -> None:
    mai = User(server, MAI)
    consent = await mai.says("/start", expect="Bạn có đồng ý không?")
    await mai.presses("✅ Tôi đồng ý", expect="Họ và tên")
    await server.wait_call("editMessageReplyMarkup")
    assert not server.message(MAI, consent.message_id).get("reply_markup")


async def test_deferred_work_speaks_first_and_the_chat_goes_on_meanwhile(
    tmp_path: Path, server: FakeBotApi
) -> None:
    """Slow work (an export, charts) runs after the update's own replies went out: the
    person reads "preparing…" at once, not together with the file a minute later."""
    app = build_app(telegram_config(tmp_path, server))
    release = asyncio.Event()

    async def slow(ctx: Context) -> list[Reply]:
        async def later() -> list[Reply]:
            await release.wait()
            return [Reply("📦 The file is ready.")]

        ctx.later.append(later)
        return [Reply("⏳ Preparing your file…")]

    app.router.command("slow", slow, "slow work (a test)")
    await app.prepare()
    channel = app.channels["telegram"]
    await channel.start()
    try:
        mai = User(server, MAI)
        await mai.says("/slow", expect="⏳ Preparing your file…")  # while the work still waits
        await mai.says("/help", expect="Cách dùng bot")  # and the chat is not held up
        assert not [m for m in server.messages_to(MAI) if "📦" in (m.text or "")]
        release.set()
        await mai.reply(0, "📦 The file is ready.")
    finally:
        await stopped(channel)
