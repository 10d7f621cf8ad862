"""The console chat, as a newcomer uses it: `python -m bot chat` with typed lines."""

from __future__ import annotations

import os
import pty
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import bot_env, run_bot
from tests.test_reporting import VOLUNTEER
from tests.test_telegram_reporting import PDF, jpeg


def members(tmp_path: Path) -> list[tuple[str, int, int, str]]:
    with sqlite3.connect(tmp_path / "bot.sqlite3") as db:
        return db.execute(
            "SELECT m.full_name, m.birth_year, m.is_minor, u.name "
            "FROM members m JOIN units u ON u.id = m.unit_id"
        ).fetchall()


def test_register_in_vietnamese_by_typing_numbers_and_names(tmp_path: Path) -> None:
    # "đồng ý" is a part of one label only as much as of the other ("Tôi không đồng ý"): it
    # means the one that says it with the fewest other words.
    typed = "đồng ý\nHoàng Thị Mai\n2004\nna sam\nbỏ qua\n1\n/menu\n"
    result = run_bot(tmp_path, "chat", stdin=typed)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Chào mừng bạn đến với phong trào thi đua của thanh niên Lạng Sơn!" in out
    assert "  1. ✅ Tôi đồng ý" in out  # choices are numbered lines
    assert "Đăng ký · bước 2/5" in out
    assert "Đơn vị: Xã Na Sầm" in out
    # A summary to confirm before anything is stored; consent is not among its answers.
    summary = out.split("Đăng ký: bạn vui lòng kiểm tra trước khi gửi")[1]
    answers = "Họ và tên: Hoàng Thị Mai\nNăm sinh: 2004\nĐơn vị: Xã Na Sầm\nSố điện thoại: —"
    assert answers in summary
    assert "đồng ý" not in summary.split("  1. ✅ Xác nhận đăng ký")[0]
    assert "  1. ✅ Xác nhận đăng ký\n  2. ✏️ Sửa một câu trả lời" in summary
    assert "Bạn đã đăng ký thành công. Chào mừng Hoàng Thị Mai!" in out
    assert "1. 📝 Báo cáo\n  2. 📂 Báo cáo của tôi" in out
    assert "<b>" not in out  # no markup in plain text
    assert members(tmp_path) == [("Hoàng Thị Mai", 2004, 0, "Xã Na Sầm")]
    with sqlite3.connect(tmp_path / "bot.sqlite3") as db:
        version, channel = db.execute("SELECT notice_version, channel FROM consents").fetchone()
    assert (version, channel) == ("2026-11-27", "console")


def test_a_registered_user_gets_the_menu_and_can_switch_to_english(tmp_path: Path) -> None:
    first = run_bot(tmp_path, "chat", stdin="1\nLò Văn Sơn\n2009\nlist\n2\n0912345678\n1\n")
    assert "Số điện thoại: 0912 345 678" in first.stdout  # as Vietnamese write it
    assert members(tmp_path) == [("Lò Văn Sơn", 2009, 1, "Hội Sinh viên Việt Nam tỉnh Lạng Sơn")]
    result = run_bot(tmp_path, "chat", stdin="/language\n2\n4\n")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Chào mừng Sơn quay lại!" in out
    assert "I will speak English with you from now on." in out
    assert "Your profile" in out
    assert "Phone: 0912 345 678" in out
    assert "Your Console account id: local" in out  # what roles grant --user-id takes


def test_wrong_answers_explain_the_rule_and_nothing_is_saved_on_cancel(tmp_path: Path) -> None:
    typed = "5\n1\nA\nHoàng Mai\n20O4\n1980\n2004\nzzzz\n/back\n/cancel\n/menu\n"
    result = run_bot(tmp_path, "chat", stdin=typed)
    out = result.stdout
    assert "Bạn vui lòng chọn một trong các mục: bấm nút hoặc gõ số thứ tự (từ 1 đến 2)." in out
    assert "Bạn vui lòng viết ít nhất 4 ký tự." in out
    assert "Bạn vui lòng ghi năm đủ bốn chữ số" in out
    assert "Phong trào dành cho thanh niên từ 16 đến 30 tuổi" in out
    assert "Không tìm thấy đơn vị nào khớp với “zzzz”" in out
    assert "Đã hủy đăng ký. Chưa có thông tin nào được lưu." in out
    assert "Bạn chưa đăng ký. Gõ /start để bắt đầu nhé." in out
    assert members(tmp_path) == []


def test_under_sixteen_is_not_registered_once_confirmed(tmp_path: Path) -> None:
    result = run_bot(tmp_path, "chat", stdin="1\nNông Văn Bé\n2015\n1\n")
    out = result.stdout
    asked = out.index("Bạn dưới 16 tuổi (sinh năm 2015)? Nếu gõ nhầm, bạn hãy nhập lại năm sinh.")
    assert "  1. Đúng vậy\n  2. Không, tôi nhập lại" in out[asked:]
    assert "cha mẹ hoặc người giám hộ" in out[asked:]
    assert members(tmp_path) == []
    with sqlite3.connect(tmp_path / "bot.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM dialogues").fetchone()[0] == 0


def test_a_birth_year_typed_by_mistake_can_be_typed_again(tmp_path: Path) -> None:
    typed = "1\nNông Văn Bé\n2015\n2005\nna sam\nbỏ qua\n1\n"
    out = run_bot(tmp_path, "chat", stdin=typed).stdout
    assert "Bạn dưới 16 tuổi (sinh năm 2015)?" in out
    assert "cha mẹ hoặc người giám hộ" not in out
    assert members(tmp_path) == [("Nông Văn Bé", 2005, 0, "Xã Na Sầm")]


def test_declining_consent_stores_nothing(tmp_path: Path) -> None:
    result = run_bot(tmp_path, "chat", stdin="2\n")
    assert "Khi chưa có sự đồng ý của bạn, mình không lưu thông tin nào cả." in result.stdout
    with sqlite3.connect(tmp_path / "bot.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM dialogues").fetchone()[0] == 0
        assert db.execute("SELECT count(*) FROM consents").fetchone()[0] == 0


def test_an_interrupted_registration_continues_in_the_next_session(tmp_path: Path) -> None:
    run_bot(tmp_path, "chat", stdin="1\nHoàng Thị Mai\n")
    result = run_bot(tmp_path, "chat", stdin="2004\nNa Sầm\n\n/skip\nbỏ qua\n1\n")
    assert "Mình cùng tiếp tục từ chỗ bạn đang làm dở nhé." in result.stdout
    assert "Mình chưa biết lệnh /skip." in result.stdout
    assert members(tmp_path) == [("Hoàng Thị Mai", 2004, 0, "Xã Na Sầm")]


def test_a_members_command_while_registering_keeps_the_question(tmp_path: Path) -> None:
    result = run_bot(tmp_path, "chat", stdin="1\nHoàng Thị Mai\n/report\n2004\n")
    out = result.stdout
    assert "Bạn vui lòng đăng ký xong trước đã: trả lời câu hỏi dưới đây" in out
    assert "Bạn chưa đăng ký" not in out
    after = out.split("Bạn vui lòng đăng ký xong trước đã")[1]
    assert "Bạn sinh năm nào?" in after  # the question is asked again, and answered
    assert "Đăng ký · bước 4/5" in after


def test_run_without_a_token_opens_the_console_in_a_terminal(tmp_path: Path) -> None:
    main, terminal = pty.openpty()
    with subprocess.Popen(
        [sys.executable, "-m", "bot", "run"],
        stdin=terminal,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
        env=bot_env(tmp_path),
    ) as process:
        os.close(terminal)
        os.write(main, b"/help\n\x04")  # a line, then Ctrl-D at the start of the next
        out, err = process.communicate(timeout=60)
    os.close(main)
    assert process.returncode == 0, err
    assert "No TELEGRAM_BOT_TOKEN or ZALO_BOT_TOKEN is set" in err.decode()
    assert "Chào mừng bạn đến với phong trào" in out.decode()
    assert "Cách dùng bot" in out.decode()


def test_run_without_a_token_and_without_a_terminal_refuses_in_one_line(tmp_path: Path) -> None:
    """Started by systemd with no token, the bot must not look as if it ran and ended well."""
    result = run_bot(tmp_path, "run", stdin="")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert "TELEGRAM_BOT_TOKEN" in result.stderr and "terminal" in result.stderr
    assert result.stdout == ""


def test_a_newcomer_attaches_evidence_from_this_computer_and_exports_it(tmp_path: Path) -> None:
    """/attach PATH sends a file of this computer as a chat would send a photo or a PDF, through
    the same checks; the evidence then comes back out as the ZIP an admin exports."""
    photo, pdf, notes = tmp_path / "ảnh chụp.jpg", tmp_path / "biên bản.pdf", tmp_path / "a.txt"
    photo.write_bytes(jpeg("green"))
    pdf.write_bytes(PDF)
    notes.write_text("not evidence")
    typed = [
        *("1", "Hoàng Thị Mai", "2004", "na sam", "bỏ qua", "1"),
        *("/report", "2", *VOLUNTEER[:-1]),
        f"/attach {photo}",
        f"/attach {tmp_path / 'missing.jpg'}",
        f'/attach "{notes}"',
        f"/attach {pdf}",
        *("xong", "1"),
    ]
    result = run_bot(tmp_path, "chat", stdin="\n".join(typed) + "\n")
    out = result.stdout
    assert result.returncode == 0, result.stderr
    assert "Tối đa 10 ảnh hoặc tệp PDF, mỗi tệp không quá 20 MB." in out
    assert "Để gửi một tệp trên máy này, bạn gõ /attach rồi đường dẫn của tệp." in out
    assert "Đã nhận 1 tệp" in out and "Đã nhận 2 tệp" in out
    assert f"Không có tệp nào ở {tmp_path / 'missing.jpg'}" in out
    assert "Bạn vui lòng gửi ảnh (JPEG, PNG hoặc WebP) hoặc tài liệu PDF." in out
    assert "✅ Đã lưu" in out
    with sqlite3.connect(tmp_path / "bot.sqlite3") as db:
        files = db.execute("SELECT mime, original_name FROM entry_files ORDER BY id").fetchall()
    assert files == [("image/jpeg", "ảnh chụp.jpg"), ("application/pdf", "biên bản.pdf")]

    granted = run_bot(
        tmp_path, "roles", "grant", "admin", "--channel", "console", "--user-id", "local"
    )
    assert granted.returncode == 0, granted.stderr
    export = run_bot(tmp_path, "chat", stdin="/export\n1\n1\n1\n4\n")
    saved = [line for line in export.stdout.splitlines() if line.startswith("📎 ")]
    assert len(saved) == 1 and saved[0].endswith("-evidence.zip"), export.stdout
    with zipfile.ZipFile(saved[0][2:]) as archive:
        names = archive.namelist()
    assert len([name for name in names if name.endswith((".jpg", ".pdf"))]) == 2, names
