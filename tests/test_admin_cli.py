"""An operator runs a campaign from the terminal: campaigns, news, reminders, what is
scheduled, statistics with charts; bad input is one line and exit code 2."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

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
    assert "with 2 deadline reminder(s)" in added.stdout
    listed = run_bot(tmp_path, "campaigns", "list").stdout
    assert f"Thi đua năm {next_year}\t{next_year}-01-01..{next_year}-12-31\topen" in listed

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
    assert len(scheduled) == 4  # two deadline reminders, the news and the reminder
    assert any("news" in line and "Ra quân tình nguyện" in line for line in scheduled)
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
        (("reminders", "--who", "all", "--weekly", "1"), "--text is required"),
        (("reminders", "--who", "all", "--weekly", "9", "--text", "Họp"), "1 (Monday) to 7"),
        (("news", "--text", "Tin", "--unit", "atlantis"), "unknown unit code 'atlantis'"),
        (("news", "--text", "Tin", "--at", "2020-01-01 08:00"), "--at has already passed"),
        (("news", "--text", "Tin", "--at", "mai"), 'not "YYYY-MM-DD HH:MM"'),
        (("campaigns", "close", "1"), "no open campaign 1 to close"),  # the movement-wide one
        (("schedules", "cancel", "42"), "nothing scheduled as 42"),
    ):
        result = run_bot(tmp_path, *args)
        assert result.returncode == 2, (args, result.stdout)
        last = result.stderr.strip().splitlines()[-1]
        assert message in last, (args, result.stderr)
    assert rows(tmp_path, "SELECT count(*) FROM schedules") == [(0,)]
    assert rows(tmp_path, "SELECT count(*) FROM broadcasts") == [(0,)]
