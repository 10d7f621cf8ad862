"""An operator runs a campaign from the terminal: campaigns, news, reminders, what is
scheduled, statistics with charts; bad input is one line and exit code 2."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path
from zoneinfo import ZoneInfo

from PIL import Image

from tests.conftest import run_bot


def rows(tmp_path: Path, query: str, *params: object) -> list[tuple[object, ...]]:
    with sqlite3.connect(tmp_path / "bot.sqlite3") as db:
        return db.execute(query, params).fetchall()


def test_a_campaign_from_the_command_line(tmp_path: Path) -> None:
    next_year = dt.date.today().year + 1  # noqa: DTZ011 (a year ahead either way)
    added = run_bot(
        tmp_path,
        "campaigns",
        "add",
        "--title",
        f"Thi đua\u202e năm {next_year}",  # a right-to-left override is never stored
        "--from",
        f"{next_year}-01-01",
        "--to",
        f"{next_year}-12-31",
        "--kinds",
        "initiative,volunteer",
    )
    assert added.returncode == 0, added.stderr
    assert "Đã thêm đợt thi đua 2 kèm 2 lời nhắc hạn chót." in added.stdout  # no "(s)"
    listed = run_bot(tmp_path, "campaigns", "list").stdout.splitlines()
    assert listed[0] == "Mã\tTên đợt thi đua\tTừ ngày\tĐến ngày\tTình trạng\tTính cho"
    row = f"2\tThi đua năm {next_year}\t{next_year}-01-01\t{next_year}-12-31\tsắp diễn ra"
    assert f"{row}\tinitiative,volunteer" in listed

    news = run_bot(
        tmp_path,
        "news",
        "--text",
        "Ra quân\u2067 tình nguyện\u2069",
        "--at",
        f"{next_year}-01-02 20:00",
    )
    assert news.returncode == 0, news.stderr
    reminder = run_bot(tmp_path, "reminders", "--who", "not_reported", "--monthly", "31")
    assert reminder.returncode == 0, reminder.stderr
    scheduled = run_bot(tmp_path, "schedules", "list").stdout.splitlines()
    assert scheduled[0] == "Mã\tLoại\tLần gửi tới\tGửi tới\tNội dung"
    assert len(scheduled) == 1 + 4  # two deadline reminders, the news and the reminder
    assert any("news" in line and "Ra quân tình nguyện" in line for line in scheduled)
    deadlines = [line for line in scheduled if "\tdeadline\t" in line]
    assert all(line.endswith(f"hạn chót của Thi đua năm {next_year}") for line in deadlines)
    news_id = next(line.split("\t")[0] for line in scheduled if "\tnews\t" in line)
    assert run_bot(tmp_path, "schedules", "cancel", news_id).returncode == 0
    assert rows(tmp_path, "SELECT status FROM schedules WHERE id = ?", news_id) == [("cancelled",)]

    charts = tmp_path / "charts"
    stats = run_bot(tmp_path, "stats", "--charts", str(charts), "--language", "en")
    assert stats.returncode == 0, stats.stderr
    assert "Statistics: the whole province" in stats.stdout
    assert "No entries yet." in stats.stdout
    with Image.open(charts / "entries-per-month.png") as image:
        assert image.width > 400

    actions = {action for (action,) in rows(tmp_path, "SELECT action FROM audit_log")}
    assert {"campaign.created", "news.scheduled", "reminder.created", "schedule.cancelled"} <= (
        actions
    )


def test_bad_admin_commands_are_one_line_and_change_nothing(tmp_path: Path) -> None:
    for args, message in (
        (("reminders", "--who", "all", "--weekly", "1"), "cần --text"),
        (("reminders", "--who", "all", "--weekly", "9", "--text", "Họp"), "1 (thứ Hai) đến 7"),
        (
            ("news", "--text", "Tin", "--unit", "atlantis"),
            "không có đơn vị nào mang mã 'atlantis'",
        ),
        (("news", "--text", "Tin", "--at", "2020-01-01 08:00"), "thời điểm --at đã qua"),
        (("news", "--text", "Tin", "--at", "mai"), 'not "YYYY-MM-DD HH:MM"'),
        (("campaigns", "close", "1"), "không có đợt thi đua 1 nào đang mở"),  # the movement's
        (("schedules", "cancel", "42"), "không có tin hẹn giờ nào mang số 42"),
        (("--language", "en", "schedules", "cancel", "42"), "nothing scheduled as 42"),
    ):
        result = run_bot(tmp_path, *args)
        assert result.returncode == 2, (args, result.stdout)
        last = result.stderr.strip().splitlines()[-1]
        assert message in last, (args, result.stderr)
    assert rows(tmp_path, "SELECT count(*) FROM schedules") == [(0,)]
    assert rows(tmp_path, "SELECT count(*) FROM broadcasts") == [(0,)]


def test_news_for_now_in_quiet_hours_is_held_and_says_until_when(tmp_path: Path) -> None:
    now = dt.datetime.now(ZoneInfo("Asia/Ho_Chi_Minh"))
    until = now + dt.timedelta(hours=2)
    start, end = (now - dt.timedelta(hours=1)).strftime("%H:%M"), until.strftime("%H:%M")
    run_bot(tmp_path, "migrate")  # writes the test's copy of config.toml, to change it
    config = tmp_path / "config.toml"
    text = config.read_text(encoding="utf-8")
    text = text.replace('quiet_start = "21:00"', f'quiet_start = "{start}"')
    config.write_text(text.replace('quiet_end = "07:00"', f'quiet_end = "{end}"'), "utf-8")

    news = run_bot(tmp_path, "news", "--text", "Ra quân Chủ nhật xanh")
    assert news.returncode == 0, news.stderr
    assert f"Đang trong giờ nghỉ: tin 1 được giữ đến {until:%Y-%m-%d %H:%M}" in news.stdout
    assert rows(tmp_path, "SELECT count(*) FROM broadcasts") == [(0,)]  # nothing queued yet
    (listed,) = run_bot(tmp_path, "schedules", "list").stdout.splitlines()[1:]
    assert listed.startswith(f"1\tnews\t{until:%Y-%m-%d %H:%M}\tall\t(giữ trong giờ nghỉ) Ra")
    assert rows(tmp_path, "SELECT action FROM audit_log") == [("news.held",)]
