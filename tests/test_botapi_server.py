"""Tests of the fake Bot API server, driven through the real python-telegram-bot Bot."""

from __future__ import annotations

import asyncio
import datetime as dtm
import os
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
)
from telegram.ext import (
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    ExtBot,
)

from tests.botapi import FakeBotApi, UploadedFile

USER = 1001


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep httpx from sending loopback traffic through a proxy from the environment."""
    for key in [k for k in os.environ if k.lower().endswith("_proxy")]:
        monkeypatch.delenv(key)


@pytest_asyncio.fixture
async def server() -> AsyncIterator[FakeBotApi]:
    """Run a fake Bot API server for one test."""
    async with FakeBotApi() as api:
        yield api


@pytest_asyncio.fixture
async def bot(server: FakeBotApi) -> AsyncIterator[Bot]:
    """Return an initialized real Bot talking to the fake server."""
    async with Bot(
        server.token, base_url=server.base_url, base_file_url=server.base_file_url
    ) as real_bot:
        yield real_bot


def _keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton("Yes", callback_data="ans:yes")],
            [
                InlineKeyboardButton("No", callback_data="ans:no"),
                InlineKeyboardButton("Site", url="https://example.org"),
            ],
        ]
    )


@pytest.mark.asyncio
async def test_get_me(server: FakeBotApi, bot: Bot) -> None:
    me = await bot.get_me()
    assert me.username == "youthbot_test_bot"
    assert me.is_bot
    assert me.id == 123456
    assert server.calls[0][0] == "getMe"


@pytest.mark.asyncio
async def test_long_poll_returns_as_soon_as_an_update_arrives(
    server: FakeBotApi, bot: Bot
) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    task = asyncio.create_task(bot.get_updates(timeout=5))
    await server.wait_call("getUpdates")
    update_id = server.user_message(USER, "xin chào")
    updates = await asyncio.wait_for(task, timeout=2)
    assert loop.time() - started < 2
    assert [u.update_id for u in updates] == [update_id]
    assert updates[0].message is not None
    assert updates[0].message.text == "xin chào"
    assert updates[0].message.chat.id == USER
    assert updates[0].message.from_user is not None
    assert updates[0].message.from_user.language_code == "vi"


@pytest.mark.asyncio
async def test_offset_confirms_and_unconfirmed_updates_come_back(
    server: FakeBotApi, bot: Bot
) -> None:
    first = server.user_message(USER, "/start")
    second = server.user_message(USER, "two")
    third = server.user_message(USER, "three")

    updates = await bot.get_updates()
    assert [u.update_id for u in updates] == [first, second, third]
    # Nothing confirmed yet, so a "restarted" bot receives everything again.
    assert [u.update_id for u in await bot.get_updates(limit=2)] == [first, second]

    updates = await bot.get_updates(offset=second + 1)
    assert [u.update_id for u in updates] == [third]
    assert server.confirmed_offset == second + 1
    await server.wait_quiet_confirmed(second, timeout=1)
    with pytest.raises(TimeoutError, match=f"update {third} was not confirmed"):
        await server.wait_quiet_confirmed(third, timeout=0.05)

    assert await bot.get_updates(offset=third + 1) == ()
    assert server.pending_updates == []


@pytest.mark.asyncio
async def test_command_entity(server: FakeBotApi, bot: Bot) -> None:
    server.user_message(USER, "/start@youthbot_test_bot abc")
    server.user_message(USER, "/start", entities=False)
    with_entity, without = await bot.get_updates()
    assert with_entity.message is not None
    assert with_entity.message.entities[0].type == "bot_command"
    assert with_entity.message.entities[0].length == len("/start@youthbot_test_bot")
    assert without.message is not None
    assert without.message.entities == ()


@pytest.mark.asyncio
async def test_send_message_with_inline_keyboard(server: FakeBotApi, bot: Bot) -> None:
    message = await bot.send_message(USER, "Chọn đi", reply_markup=_keyboard())
    assert message.message_id == 1
    assert message.reply_markup == _keyboard()
    sent = await server.wait_reply(USER)
    assert sent.method == "sendMessage"
    assert sent.text == "Chọn đi"
    assert sent.buttons() == [("Yes", "ans:yes"), ("No", "ans:no"), ("Site", "")]
    assert sent.params["chat_id"] == USER

    second = await bot.send_message(USER, "again")
    assert second.message_id == 2
    assert [m.text for m in server.messages_to(USER)] == ["Chọn đi", "again"]


@pytest.mark.asyncio
async def test_reply_keyboard_is_recorded_but_not_echoed(server: FakeBotApi, bot: Bot) -> None:
    markup = ReplyKeyboardMarkup([[KeyboardButton("Gửi số", request_contact=True)], ["Huỷ"]])
    message = await bot.send_message(USER, "Số điện thoại?", reply_markup=markup)
    assert message.reply_markup is None
    sent = await server.wait_reply(USER)
    assert sent.keyboard() == ["Gửi số", "Huỷ"]
    assert sent.buttons() == []


@pytest.mark.asyncio
async def test_callback_query_and_answer(server: FakeBotApi, bot: Bot) -> None:
    message = await bot.send_message(USER, "Chọn đi", reply_markup=_keyboard())
    update_id = server.user_callback(USER, "ans:yes")
    (update,) = await bot.get_updates(offset=0)
    assert update.update_id == update_id
    query = update.callback_query
    assert query is not None
    assert query.data == "ans:yes"
    assert query.from_user.id == USER
    assert isinstance(query.message, Message)
    assert query.message.message_id == message.message_id
    assert query.message.reply_markup == _keyboard()

    assert await query.answer("Đã ghi nhận")
    assert server.callback_answers == [{"callback_query_id": query.id, "text": "Đã ghi nhận"}]
    assert await server.wait_call("answerCallbackQuery", timeout=1) == server.callback_answers[0]
    with pytest.raises(BadRequest, match=r"(?i)query id is invalid"):
        await query.answer()


@pytest.mark.asyncio
async def test_user_callback_without_a_message_fails_loudly(server: FakeBotApi) -> None:
    with pytest.raises(LookupError, match="no message"):
        server.user_callback(USER, "x")


@pytest.mark.asyncio
async def test_edit_message_text_and_markup(server: FakeBotApi, bot: Bot) -> None:
    message = await bot.send_message(USER, "Chọn đi", reply_markup=_keyboard())
    after = len(server.sent)
    edited = await bot.edit_message_text(
        "<b>Đã chọn</b>", USER, message.message_id, parse_mode=ParseMode.HTML
    )
    assert not isinstance(edited, bool)
    assert edited.text == "Đã chọn"
    # Like Telegram, an edit without reply_markup drops the inline keyboard.
    assert edited.reply_markup is None
    record = await server.wait_reply(USER, after=after)
    assert (record.method, record.message_id, record.text) == (
        "editMessageText",
        message.message_id,
        "Đã chọn",
    )
    assert record.params["text"] == "<b>Đã chọn</b>"
    assert server.message(USER)["text"] == "Đã chọn"

    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_text(
            "<b>Đã chọn</b>", USER, message.message_id, parse_mode=ParseMode.HTML
        )
    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await bot.edit_message_text("x", USER, 999)

    await bot.edit_message_reply_markup(USER, message.message_id, reply_markup=_keyboard())
    assert server.sent[-1].method == "editMessageReplyMarkup"
    assert server.sent[-1].buttons()[0] == ("Yes", "ans:yes")
    server.user_callback(USER, "ans:no", message_id=message.message_id)
    (update,) = await bot.get_updates()
    assert update.callback_query is not None
    assert isinstance(update.callback_query.message, Message)
    assert update.callback_query.message.reply_markup == _keyboard()


@pytest.mark.asyncio
async def test_wait_for_times_out_with_a_dump(server: FakeBotApi, bot: Bot) -> None:
    await bot.send_message(USER, "hello there")
    found = await server.wait_for(lambda m: "hello" in (m.text or ""), timeout=1)
    assert found.text == "hello there"
    with pytest.raises(TimeoutError, match="hello there"):
        await server.wait_for(lambda m: m.text == "never", timeout=0.05)
    with pytest.raises(TimeoutError, match="sendMessage"):
        await server.wait_reply(USER, after=len(server.sent), timeout=0.05)


@pytest.mark.asyncio
async def test_get_file_and_download(server: FakeBotApi, bot: Bot) -> None:
    file_id = server.add_file(b"\x89PNG binary \x00 data")
    tg_file = await bot.get_file(file_id)
    assert tg_file.file_size == len(b"\x89PNG binary \x00 data")
    assert tg_file.file_path is not None
    assert tg_file.file_path.startswith(server.base_file_url + server.token + "/")
    assert await tg_file.download_as_bytearray() == bytearray(b"\x89PNG binary \x00 data")


@pytest.mark.asyncio
async def test_user_photo_is_downloadable(server: FakeBotApi, bot: Bot) -> None:
    server.user_photo(USER, b"jpeg-bytes", caption="ảnh", media_group_id="g1")
    (update,) = await bot.get_updates()
    message = update.message
    assert message is not None
    assert message.caption == "ảnh"
    assert message.media_group_id == "g1"
    photo_file = await message.photo[-1].get_file()
    assert await photo_file.download_as_bytearray() == bytearray(b"jpeg-bytes")


@pytest.mark.asyncio
async def test_too_big_file_is_rejected(server: FakeBotApi, bot: Bot) -> None:
    file_id = server.add_file(b"", file_size=25 * 1024 * 1024)
    with pytest.raises(BadRequest, match=r"(?i)file is too big"):
        await bot.get_file(file_id)
    with pytest.raises(BadRequest, match=r"(?i)invalid file_id"):
        await bot.get_file("nope")


@pytest.mark.asyncio
async def test_fail_next_429(
    server: FakeBotApi, bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Opt into PTB's timedelta retry_after, or reading it emits a deprecation warning.
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    server.fail_next("sendMessage", 429, retry_after=7)
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(USER, "hi")
    assert caught.value.retry_after == dtm.timedelta(seconds=7)
    assert server.sent == []
    await bot.send_message(USER, "hi")
    assert [m.text for m in server.sent] == ["hi"]


@pytest.mark.asyncio
async def test_fail_next_403_and_5xx(server: FakeBotApi, bot: Bot) -> None:
    server.fail_next("sendMessage", 403)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(USER, "hi")

    server.fail_next("sendMessage", 500, times=2)
    for _ in range(2):
        with pytest.raises(NetworkError, match="Internal Server Error"):
            await bot.send_message(USER, "hi")
    server.fail_next("sendChatAction", 502, description="Bad Gateway")
    with pytest.raises(NetworkError, match="Bad Gateway"):
        await bot.send_chat_action(USER, "typing")
    await bot.send_message(USER, "finally")
    assert [m.text for m in server.sent] == ["finally"]
    assert [m for m, _ in server.calls].count("sendMessage") == 4


@pytest.mark.asyncio
async def test_fail_next_get_updates_does_not_confirm(server: FakeBotApi, bot: Bot) -> None:
    first = server.user_message(USER, "a")
    server.fail_next("getUpdates", 502)
    with pytest.raises(NetworkError):
        await bot.get_updates(offset=first + 1)
    assert [u.update_id for u in await bot.get_updates()] == [first]


@pytest.mark.asyncio
async def test_text_limits_and_html_checks(server: FakeBotApi, bot: Bot) -> None:
    await bot.send_message(USER, "x" * 4096)
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(USER, "x" * 4097)
    with pytest.raises(BadRequest, match=r"(?i)message text is empty"):
        await bot.send_message(USER, "   ")

    good = '<b>A &amp; B</b> &lt;3 <i>it&#x27;s</i> <a href="https://x.y/?a=1&amp;b=2">l</a>'
    message = await bot.send_message(USER, good, parse_mode=ParseMode.HTML)
    assert message.text == "A & B <3 it's l"
    assert server.sent[-1].text == "A & B <3 it's l"

    bad = {
        "<b>open": "Can't find end tag",
        "<b><i>x</b></i>": "Unmatched end tag",
        "x</b>": "Unexpected end tag",
        "<div>x</div>": 'Unsupported start tag "div"',
        "a < b": "Unsupported start tag",
        "Q&A": "Unsupported HTML entity",
        '<span class="x">s</span>': "tg-spoiler",
    }
    for text, reason in bad.items():
        with pytest.raises(BadRequest, match=r"(?i)can't parse entities") as caught:
            await bot.send_message(USER, text, parse_mode=ParseMode.HTML)
        assert reason.lower() in str(caught.value).lower(), text
    # Without parse_mode nothing is parsed.
    assert (await bot.send_message(USER, "a < b & <div>")).text == "a < b & <div>"


@pytest.mark.asyncio
async def test_callback_data_limit(server: FakeBotApi, bot: Bot) -> None:
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="d" * 65)]])
    with pytest.raises(BadRequest, match=r"(?i)button_data_invalid"):
        await bot.send_message(USER, "x", reply_markup=markup)


@pytest.mark.asyncio
async def test_send_document_and_photo_uploads(server: FakeBotApi, bot: Bot) -> None:
    await bot.send_document(USER, b"a,b\n1,2\n", filename="report.csv", caption="Báo cáo")
    sent = await server.wait_reply(USER)
    assert sent.method == "sendDocument"
    assert sent.text == "Báo cáo"
    upload = sent.params["document"]
    assert isinstance(upload, UploadedFile)
    assert upload.filename == "report.csv"
    assert upload.content == b"a,b\n1,2\n"
    document = sent.message["document"]
    assert document["file_name"] == "report.csv"
    downloaded = await (await bot.get_file(document["file_id"])).download_as_bytearray()
    assert downloaded == bytearray(b"a,b\n1,2\n")

    message = await bot.send_photo(
        USER, b"\xff\xd8jpeg", caption="<b>x</b>", parse_mode=ParseMode.HTML
    )
    assert message.caption == "x"
    assert server.sent[-1].method == "sendPhoto"
    assert server.sent[-1].params["photo"].content == b"\xff\xd8jpeg"
    with pytest.raises(BadRequest, match=r"(?i)caption is too long"):
        await bot.send_document(USER, b"x", filename="a.txt", caption="c" * 1025)


@pytest.mark.asyncio
async def test_all_user_update_kinds_parse(server: FakeBotApi, bot: Bot) -> None:
    server.user_contact(USER, "+84912345678")
    server.user_contact(USER, "+84900000000", contact_user_id=42)
    server.user_document(USER, b"%PDF", file_name="cv.pdf", mime_type="application/pdf")
    server.user_sticker(USER)
    server.user_voice(USER)
    server.user_location(USER, 21.85, 106.76)
    updates = [u.message for u in await bot.get_updates()]
    assert all(m is not None for m in updates)
    own, other, doc, sticker, voice, location = (m for m in updates if m is not None)
    assert own.contact is not None
    assert (own.contact.phone_number, own.contact.user_id) == ("+84912345678", USER)
    assert other.contact is not None
    assert other.contact.user_id == 42
    assert doc.document is not None
    assert (doc.document.file_name, doc.document.mime_type) == ("cv.pdf", "application/pdf")
    assert await (await doc.document.get_file()).download_as_bytearray() == bytearray(b"%PDF")
    assert sticker.sticker is not None
    assert voice.voice is not None
    assert location.location is not None
    assert location.location.latitude == pytest.approx(21.85)
    assert [m.message_id for m in (own, other, doc, sticker, voice, location)] == list(range(1, 7))


@pytest.mark.asyncio
async def test_webhook_bookkeeping_and_conflict(server: FakeBotApi, bot: Bot) -> None:
    assert await bot.set_webhook("https://bot.example.org/hook", secret_token="s3cret")
    assert server.webhook is not None
    assert server.webhook["url"] == "https://bot.example.org/hook"
    assert server.webhook["secret_token"] == "s3cret"
    assert (await bot.get_webhook_info()).url == "https://bot.example.org/hook"
    with pytest.raises(Conflict, match="webhook is active"):
        await bot.get_updates()

    server.user_message(USER, "pending")
    assert await bot.delete_webhook(drop_pending_updates=True)
    assert server.webhook is None
    assert await bot.get_updates() == ()


@pytest.mark.asyncio
async def test_second_poller_conflicts_with_the_first(server: FakeBotApi, bot: Bot) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=5))
    await server.wait_call("getUpdates")
    async with Bot(server.token, base_url=server.base_url) as other:
        await other.get_updates(timeout=0)
    with pytest.raises(Conflict, match="terminated by other getUpdates request"):
        await asyncio.wait_for(first, timeout=2)


@pytest.mark.asyncio
async def test_unknown_token_and_method(server: FakeBotApi) -> None:
    with pytest.raises(InvalidToken, match="was rejected"):
        async with Bot("999:WRONG", base_url=server.base_url):
            pass
    assert server.calls == []
    async with Bot(server.token, base_url=server.base_url) as real_bot:
        with pytest.raises(EndPointNotFound):
            await real_bot.do_api_request("noSuchMethod")


@pytest.mark.asyncio
async def test_json_body_and_commands(server: FakeBotApi, bot: Bot) -> None:
    async with httpx.AsyncClient(base_url=server.base_url + server.token) as client:
        response = await client.post("/SENDMESSAGE", json={"chat_id": str(USER), "text": "42"})
        assert response.status_code == 200
        assert response.json()["result"]["text"] == "42"
        unauthorized = await client.post(f"{server.root_url}/bot1:x/getMe")
        assert unauthorized.status_code == 401
        assert unauthorized.json() == {
            "ok": False,
            "error_code": 401,
            "description": "Unauthorized",
        }
    assert server.sent[-1].text == "42"
    assert server.sent[-1].params["chat_id"] == str(USER)

    assert await bot.set_my_commands([("start", "Bắt đầu")], language_code="vi")
    assert [c.command for c in await bot.get_my_commands(language_code="vi")] == ["start"]
    with pytest.raises(BadRequest, match=r"(?i)bot_command_invalid"):
        await bot.set_my_commands([("Start-Now", "x")])
    assert await bot.delete_my_commands(language_code="vi")
    assert await bot.get_my_commands(language_code="vi") == ()


@pytest.mark.asyncio
async def test_stop_answers_pending_long_poll(bot: Bot) -> None:
    server = FakeBotApi()
    await server.start()
    async with Bot(server.token, base_url=server.base_url) as real_bot:
        task = asyncio.create_task(real_bot.get_updates(timeout=30))
        await server.wait_call("getUpdates")
        await asyncio.wait_for(server.stop(), timeout=2)
        assert await asyncio.wait_for(task, timeout=2) == ()


async def _start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_chat is not None
    await context.bot.send_message(
        update.effective_chat.id,
        "Chào bạn",
        reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("OK", callback_data="ok")]]),
    )


async def _pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    assert query is not None
    await query.answer()
    await query.edit_message_text(f"Bạn đã bấm {query.data}")


@pytest.mark.asyncio
async def test_real_application_polling_end_to_end(server: FakeBotApi) -> None:
    app = (
        ApplicationBuilder()
        .bot(ExtBot(server.token, base_url=server.base_url, base_file_url=server.base_file_url))
        .build()
    )
    app.add_handler(CommandHandler("start", _start))
    app.add_handler(CallbackQueryHandler(_pressed))
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0)
        after = len(server.sent)
        server.user_message(USER, "/start")
        reply = await server.wait_reply(USER, after=after)
        assert reply.buttons() == [("OK", "ok")]

        after = len(server.sent)
        last = server.user_callback(USER, "ok")
        edit = await server.wait_reply(USER, after=after)
        assert (edit.method, edit.text) == ("editMessageText", "Bạn đã bấm ok")
        assert len(server.callback_answers) == 1

        await app.updater.stop()
        await app.stop()
    await server.wait_quiet_confirmed(last, timeout=2)
    assert server.pending_updates == []
