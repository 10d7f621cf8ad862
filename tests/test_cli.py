"""The operator command line, run as an operator would: `python -m bot …` in a subprocess."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.conftest import run_bot


def test_migrate_creates_the_database_with_units_and_the_campaign(tmp_path: Path) -> None:
    result = run_bot(tmp_path, "migrate")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Cơ sở dữ liệu đã được cập nhật.\n"
    # Alembic's step-by-step lines only when asked for.
    assert "alembic" not in result.stderr
    fresh = {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'other.sqlite3'}"}
    assert "Running upgrade" in run_bot(tmp_path, "--verbose", "migrate", env=fresh).stderr
    with sqlite3.connect(tmp_path / "bot.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM units").fetchone()[0] == 71
        communes = db.execute(
            "SELECT count(*) FROM units WHERE kind IN ('commune', 'ward')"
        ).fetchone()[0]
        assert communes == 65
        (title,) = db.execute("SELECT title FROM campaigns WHERE is_default").fetchone()
        assert title.startswith("Phong trào thi đua thực hiện Chương trình phát triển thanh niên")
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    again = run_bot(tmp_path, "migrate")
    assert again.returncode == 0
    with sqlite3.connect(tmp_path / "bot.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM campaigns").fetchone()[0] == 1


def test_units_import_adds_and_updates(tmp_path: Path) -> None:
    csv = tmp_path / "more.csv"
    csv.write_text(
        "code,name,kind,parent_code\n"
        "ls-x-na-sam-cd1,Chi đoàn thôn Bản Chu,branch,ls-x-na-sam\n"
        "ls-x-na-sam,Xã Na Sầm,commune,ls\n",
        encoding="utf-8",
    )
    # The parent of the new branch is imported on first start, so it is known.
    result = run_bot(tmp_path, "units", "import", str(csv))
    assert result.returncode == 0, result.stderr
    assert "Đơn vị: thêm 1, cập nhật 0, giữ nguyên 1 (đã đọc 2 dòng)." in result.stdout
    english = run_bot(tmp_path, "--language", "en", "units", "import", str(csv))
    assert "Units: 0 added, 0 updated, 2 unchanged (2 rows read)." in english.stdout
    with sqlite3.connect(tmp_path / "bot.sqlite3") as db:
        parent = db.execute(
            "SELECT p.code FROM units u JOIN units p ON u.parent_id = p.id "
            "WHERE u.code = 'ls-x-na-sam-cd1'"
        ).fetchone()
    assert parent == ("ls-x-na-sam",)


def test_bad_unit_file_names_the_problem_and_changes_nothing(tmp_path: Path) -> None:
    csv = tmp_path / "bad.csv"
    csv.write_text("code,name,kind,parent_code\nx1,Chi đoàn X,branch,nowhere\n", encoding="utf-8")
    result = run_bot(tmp_path, "units", "import", str(csv))
    assert result.returncode == 2
    assert "unknown parent_code 'nowhere'" in result.stderr
    assert "Traceback" not in result.stderr
    missing = run_bot(tmp_path, "units", "import", str(tmp_path / "nope.csv"))
    assert missing.returncode == 2
    assert "không đọc được" in missing.stderr
    with sqlite3.connect(tmp_path / "bot.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM units WHERE code = 'x1'").fetchone()[0] == 0


def test_roles_grant_and_revoke(tmp_path: Path) -> None:
    granted = run_bot(
        tmp_path, "roles", "grant", "secretary", "--user-id", "42", "--unit", "ls-x-na-sam"
    )
    assert granted.returncode == 0, granted.stderr
    assert granted.stdout == "Đã giao quyền: Bí thư Đoàn xã Na Sầm.\n"
    # Nobody with this id has written to the bot: a warning, not a failure.
    assert "chưa có ai với mã telegram 42 nhắn tin cho bot" in granted.stderr
    again = run_bot(
        tmp_path, "roles", "grant", "secretary", "--user-id", "42", "--unit", "Na Sầm"
    )  # a unit by its name
    assert "Đã có quyền này từ trước: Bí thư Đoàn xã Na Sầm." in again.stdout
    admin = run_bot(tmp_path, "roles", "grant", "admin", "--channel", "telegram", "--user-id", "7")
    assert admin.returncode == 0
    no_unit = run_bot(tmp_path, "roles", "grant", "secretary", "--user-id", "42")
    assert no_unit.returncode == 2
    assert "cần --unit" in no_unit.stderr
    bad_unit = run_bot(tmp_path, "roles", "grant", "secretary", "--user-id", "1", "--unit", "zz")
    assert bad_unit.returncode == 2
    assert "không có đơn vị nào mang mã hoặc tên 'zz'" in bad_unit.stderr
    several = run_bot(tmp_path, "roles", "grant", "secretary", "--user-id", "1", "--unit", "Văn")
    assert several.returncode == 2
    assert "có thể là nhiều đơn vị" in several.stderr and "(ls-x-" in several.stderr
    revoked = run_bot(tmp_path, "roles", "revoke", "secretary", "--user-id", "42")
    assert "Đã thu hồi 1 quyền." in revoked.stdout
    english = run_bot(tmp_path, "--language", "en", "roles", "revoke", "admin", "--user-id", "7")
    assert "Revoked 1 grant." in english.stdout  # one, not "grant(s)"
    with sqlite3.connect(tmp_path / "bot.sqlite3") as db:
        roles = db.execute(
            "SELECT i.user_id, g.role FROM role_grants g JOIN identities i ON i.id = g.identity_id"
        ).fetchall()
        actions = [a for (a,) in db.execute("SELECT action FROM audit_log ORDER BY id")]
    assert roles == []
    assert actions == ["role.granted", "role.granted", "role.revoked", "role.revoked"]


def test_units_and_roles_are_listed_with_their_codes(tmp_path: Path) -> None:
    units = run_bot(tmp_path, "units", "list", "--search", "na sam")
    assert units.returncode == 0, units.stderr
    assert units.stdout.splitlines() == [
        "Mã\tTên\tLoại\tTrực thuộc",
        "ls-x-na-sam\tXã Na Sầm\tcommune\tls",
    ]
    assert "1 đơn vị." in units.stderr
    province = run_bot(tmp_path, "units", "list", "--under", "ls").stdout.splitlines()
    assert len(province) == 1 + 71
    assert run_bot(tmp_path, "units", "list", "--under", "zz").returncode == 2

    run_bot(tmp_path, "roles", "grant", "secretary", "--user-id", "42", "--unit", "ls-x-na-sam")
    run_bot(tmp_path, "roles", "grant", "admin", "--channel", "console", "--user-id", "local")
    listed = run_bot(tmp_path, "roles", "list").stdout.splitlines()
    assert (
        listed[0] == "Quyền\tMã đơn vị\tChức danh\tKênh\tMã người dùng\tNgười được giao\tNgày giao"
    )
    assert any(
        line.startswith("secretary\tls-x-na-sam\tBí thư Đoàn xã Na Sầm\ttelegram\t42\t(chưa nhắn")
        for line in listed
    )
    assert any(line.startswith("admin\t\tquản trị viên\tconsole\tlocal\t") for line in listed)
    in_unit = run_bot(tmp_path, "roles", "list", "--unit", "ls-x-na-sam").stdout.splitlines()
    assert len(in_unit) == 2  # the header and Na Sầm's secretary


def test_backup_copies_a_database_that_passes_integrity_check(tmp_path: Path) -> None:
    assert run_bot(tmp_path, "migrate").returncode == 0
    target = tmp_path / "backups" / "copy.sqlite3"
    result = run_bot(tmp_path, "backup", str(target))
    assert result.returncode == 0, result.stderr
    assert f"Đã ghi bản sao lưu ra {target} (kiểm tra toàn vẹn: ổn)." in result.stdout
    with sqlite3.connect(target) as db:
        assert db.execute("SELECT count(*) FROM units").fetchone()[0] == 71
    again = run_bot(tmp_path, "backup", str(target))
    assert again.returncode == 2
    assert "đã có; hãy chọn tệp mới" in again.stderr


def test_bad_settings_give_one_line_and_exit_code_2(tmp_path: Path) -> None:
    cases = {
        "DATABASE_URL": ("mysql://x", "DATABASE_URL: must start with"),
        "TELEGRAM_BOT_TOKEN": ("nonsense", "TELEGRAM_BOT_TOKEN: does not look like a bot token"),
        "TELEGRAM_API_BASE_URL": ("ftp://x", "TELEGRAM_API_BASE_URL: must be an http"),
        "YOUTHBOT_CONFIG": (str(tmp_path / "missing.toml"), "YOUTHBOT_CONFIG: file not found"),
    }
    for key, (value, message) in cases.items():
        result = run_bot(tmp_path, "migrate", env={key: value})
        assert result.returncode == 2, key
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert message in lines[0]
    broken = tmp_path / "broken.toml"
    broken.write_text('[telegram]\npoll_timeout = "soon"\n', encoding="utf-8")
    result = run_bot(tmp_path, "migrate", env={"YOUTHBOT_CONFIG": str(broken)})
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == "configuration error: telegram.poll_timeout: must be a whole number"
    )
    webhook = tmp_path / "webhook.toml"
    webhook.write_text(
        '[telegram]\nwebhook_url = "https://bot.example.vn/hook"\n', encoding="utf-8"
    )
    result = run_bot(
        tmp_path, "run", env={"YOUTHBOT_CONFIG": str(webhook), "TELEGRAM_BOT_TOKEN": "1:x"}
    )
    assert result.returncode == 2
    assert "TELEGRAM_WEBHOOK_SECRET: required" in result.stderr


def test_an_unusable_database_is_one_line_and_exit_code_2(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    result = run_bot(
        tmp_path, "migrate", env={"DATABASE_URL": f"sqlite+aiosqlite:///{blocker}/db.sqlite3"}
    )
    assert result.returncode == 2
    assert result.stderr.startswith("DATABASE_URL: cannot use the database:")
    assert "Traceback" not in result.stderr
    unreachable = run_bot(
        tmp_path,
        "migrate",
        env={"DATABASE_URL": "postgresql+asyncpg://nobody@127.0.0.1:1/none"},
    )
    assert unreachable.returncode == 2
    assert "DATABASE_URL: cannot use the database:" in unreachable.stderr
    assert "Traceback" not in unreachable.stderr


def test_audit_export_writes_every_row_as_csv(tmp_path: Path) -> None:
    run_bot(tmp_path, "roles", "grant", "admin", "--user-id", "7")
    out = tmp_path / "audit.csv"
    result = run_bot(tmp_path, "audit", "export", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert f"Đã xuất 1 dòng nhật ký ra {out}." in result.stdout
    text = out.read_text(encoding="utf-8")
    assert text.startswith("\ufeffid,at,actor,action,details")
    assert ",cli,role.granted," in text
    bad = run_bot(tmp_path, "audit", "export", "--out", str(out), "--from", "yesterday")
    assert bad.returncode == 2
    assert len(bad.stderr.strip().splitlines()) == 1
