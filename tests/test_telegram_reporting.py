"""Reporting on Telegram end to end: an album of photos and a PDF as evidence, files that are
refused, a redelivered submit, and the entry under "my entries"."""

from __future__ import annotations

import io
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import Image

from bot.channels.runtime import Channel
from tests.botapi import FakeBotApi
from tests.test_reporting import ECONOMIC, INITIATIVE, VOLUNTEER
from tests.test_telegram import MAI, User, started, stopped, telegram_config


def jpeg(colour: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (80, 60), colour).save(buffer, "JPEG")
    return buffer.getvalue()


PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)


@pytest.fixture
async def server(no_proxy: None) -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as server:
        yield server


@pytest.fixture
async def bot(tmp_path: Path, server: FakeBotApi) -> AsyncIterator[Channel]:
    channel = await started(telegram_config(tmp_path, server))
    yield channel
    await stopped(channel)


async def registered(server: FakeBotApi) -> User:
    mai = User(server, MAI)
    await mai.says("/start", expect="Bạn có đồng ý không?")
    await mai.presses("✅ Tôi đồng ý", expect="Họ và tên")
    await mai.says("Hoàng Thị Mai", expect="Bạn sinh năm nào?")
    await mai.says("2004", expect="Bạn sinh hoạt")
    await mai.says("na sam", expect="Số điện thoại")
    await mai.says("bỏ qua", expect="bạn vui lòng kiểm tra trước khi gửi")
    await mai.presses("✅ Xác nhận đăng ký", expect="Bạn đã đăng ký thành công")
    return mai


async def test_a_volunteer_report_with_an_album_and_a_pdf(
    tmp_path: Path, server: FakeBotApi, bot: Channel
) -> None:
    mai = await registered(server)
    await mai.presses("📝 Báo cáo", expect="Bạn muốn báo cáo nội dung gì?")
    await mai.presses("Hoạt động tình nguyện", expect="Đó là hoạt động gì?")
    for answer in VOLUNTEER[:-1]:
        reply = await mai.says(answer, expect="")
    assert "Bạn vui lòng gửi ảnh hoặc tài liệu làm minh chứng" in (reply.text or "")

    mark = len(server.sent)
    for colour in ("red", "green", "blue"):
        server.user_photo(MAI, jpeg(colour), media_group_id="album-1")
    album = await mai.reply(mark, "Đã nhận 3 tệp")
    assert ("Xong", "f:volunteer:evidence:_done") in album.buttons()
    assert not [m for m in server.sent[mark:] if "Đã nhận 1 tệp" in (m.text or "")]

    mark = len(server.sent)
    server.user_document(MAI, PDF, file_name="bien-ban.pdf", mime_type="application/pdf")
    await mai.reply(mark, "Đã nhận 4 tệp")

    mark = len(server.sent)
    server.user_document(
        MAI, b"MZ this is not a photo", file_name="anh.jpg", mime_type="image/jpeg"
    )
    await mai.reply(mark, "Bạn vui lòng gửi ảnh (JPEG, PNG hoặc WebP) hoặc tài liệu PDF.")
    mark = len(server.sent)
    server.user_photo(MAI, jpeg("red")[:300])
    await mai.reply(mark, "Ảnh này bị lỗi hoặc chưa đầy đủ.")
    mark = len(server.sent)
    huge = server.add_file(b"x", file_size=25 * 1024 * 1024)
    server.add_update(
        {
            "message": {
                "message_id": 900,
                "date": 0,
                "chat": {"id": MAI, "type": "private"},
                "from": {"id": MAI, "is_bot": False, "first_name": "Mai"},
                "document": {
                    "file_id": huge,
                    "file_unique_id": "huge",
                    "file_name": "video.pdf",
                    "file_size": 25 * 1024 * 1024,
                },
            }
        }
    )
    await mai.reply(mark, "Tệp lớn hơn 20 MB.")

    review = await mai.presses("Xong", expect="bạn vui lòng kiểm tra trước khi gửi")
    assert "Minh chứng: 4 tệp" in (review.text or "")
    # Tapping "Gửi báo cáo" twice quickly: the second press finds no form and saves nothing.
    submit = next(data for label, data in review.buttons() if label == "✅ Gửi báo cáo")
    mark = len(server.sent)
    server.user_callback(MAI, submit, message_id=review.message_id)
    server.user_callback(MAI, submit, message_id=review.message_id)
    await mai.reply(mark, "✅ Đã lưu. Báo cáo #1")
    await bot.drain()

    with sqlite3.connect(tmp_path / "bot.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM entries").fetchone()[0] == 1
        files = db.execute(
            "SELECT mime, original_name, path FROM entry_files ORDER BY position"
        ).fetchall()
    assert [mime for mime, _, _ in files] == ["image/jpeg"] * 3 + ["application/pdf"]
    assert files[3][1] == "bien-ban.pdf"
    store = tmp_path / "var" / "files"
    for _, _, path in files:
        assert (store / path).is_file()

    await mai.presses("📂 Báo cáo của tôi", expect="Các báo cáo của bạn")
    detail = await mai.says("1", expect="#1 · Hoạt động tình nguyện")
    assert "Minh chứng: 4 tệp" in (detail.text or "")
    assert "📎 bien-ban.pdf" in (detail.text or "")

    mark = len(server.calls)
    await mai.presses("🖼 Xem minh chứng", expect="📎 bien-ban.pdf")
    await mai.reply(len(server.sent) - 1, "Bạn muốn làm gì?")
    methods = [method for method, _ in server.calls[mark:]]
    assert methods.count("sendPhoto") == 3
    assert methods.count("sendDocument") == 1
    sent_pdf = next(m for m in server.sent if m.method == "sendDocument")
    assert sent_pdf.params["document"].content == PDF


@pytest.mark.parametrize(
    ("kind", "answers"),
    [("Sáng kiến, giải pháp", INITIATIVE), ("Mô hình kinh tế", ECONOMIC)],
)
async def test_each_other_kind_from_the_menu_to_a_saved_entry(
    tmp_path: Path, server: FakeBotApi, bot: Channel, kind: str, answers: tuple[str, ...]
) -> None:
    mai = await registered(server)
    await mai.presses("📝 Báo cáo", expect="Bạn muốn báo cáo nội dung gì?")
    reply = await mai.presses(kind, expect="")
    for answer in answers[:-1]:
        assert "⚠️" not in (reply.text or ""), reply.text
        reply = await mai.says(answer, expect="")
    assert "minh chứng" in (reply.text or "")
    mark = len(server.sent)
    server.user_photo(MAI, jpeg("orange"))
    await mai.reply(mark, "Đã nhận 1 tệp")
    await mai.presses("Xong", expect="bạn vui lòng kiểm tra trước khi gửi")
    await mai.presses("✅ Gửi báo cáo", expect="✅ Đã lưu. Báo cáo #1")
    with sqlite3.connect(tmp_path / "bot.sqlite3") as db:
        (count,) = db.execute("SELECT count(*) FROM entry_files").fetchone()
        (status,) = db.execute("SELECT status FROM entries").fetchone()
    assert (count, status) == (1, "submitted")
