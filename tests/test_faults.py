"""Faults: the bot killed with SIGKILL while members submit entries, many writers on one
SQLite file at once, a backup taken while the bot writes, and a reminder due while the bot
was stopped.

The kill loop runs FAULT_ROUNDS rounds of FAULT_ENTRIES entries each (2 × 40 by default, for
CI), sent by FAULT_REPORTERS members at once (20), killing the bot once at a random moment of
every round, in polling and in webhook mode. The full count, 20 kills while 500 entries
stream in each mode (38 minutes on two cores: both passed on 2026-11-28):

    FAULT_ROUNDS=20 FAULT_ENTRIES=500 pytest tests/test_faults.py

FAULT_SEED repeats the random kill moments of an earlier run (a failure names its seed).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import zipfile
from collections import Counter
from collections.abc import Coroutine
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App, build_app
from bot.config import Config
from bot.evidence import EvidenceStore
from bot.exports import ExportFilters, ExportFormat, write_export
from bot.scheduler import Scheduler
from models.entries import Reviewer, current_campaign, decide, save_entry
from models.tables import AuditRecord, Entry, EntryFile, Schedule, Unit
from tests.botapi import FakeBotApi
from tests.conftest import bot_env, make_config, run_bot, start_bot_run
from tests.faults_support import (
    CONFIRMED,
    WEBHOOK_PATH,
    WEBHOOK_SECRET,
    BotProcess,
    Delivery,
    PollingDelivery,
    Reporter,
    Submission,
    WebhookDelivery,
    add_reporters,
    database_rows,
    environment_count,
    free_port,
    write_config,
)
from tests.test_abuse import files_in
from tests.test_privacy import member_with_entries
from tests.test_reporting import say
from tests.test_stats import add_plain_members
from tests.test_telegram import User, started, stopped, telegram_config

ROUNDS = environment_count("FAULT_ROUNDS", 2)
ENTRIES = environment_count("FAULT_ENTRIES", 40)
REPORTERS = min(ENTRIES, environment_count("FAULT_REPORTERS", 20))
FIRST_CHAT = 800_000
# Years of audit log: the database (about 150 MB) spans many steps of SQLite's online backup,
# as a real one does, so the bot's writes land between them.
AUDIT_ROWS = 40_000
BACKUP_TIMEOUT = 30  # seconds; a backup of this database takes one or two
REPLIES_PER_ENTRY = 14  # 13 answers to the member's 13 messages, and the menu after the last


async def kill_mid_round(
    bot: BotProcess, server: FakeBotApi, delivery: Delivery, rng: random.Random, entries: int
) -> str:
    """Waits for a random call of the round (a reply sent, or a photo fetched), kills the
    bot with SIGKILL there and starts it again; says where it struck."""
    method = rng.choice(["sendMessage", "sendMessage", "getFile"])
    per_entry = REPLIES_PER_ENTRY if method == "sendMessage" else 1
    nth = rng.randint(1, max(1, per_entry * entries * 9 // 10))
    position = len(server.calls)
    for _ in range(nth):
        params = await server.wait_call(method, after=position, timeout=120)
        calls = server.calls
        position = next(i for i in range(position, len(calls)) if calls[i][1] is params) + 1
    if isinstance(delivery, WebhookDelivery):
        delivery.up.clear()  # before the kill: a failed POST then waits for the restart
    await bot.kill()
    await bot.start()
    if isinstance(delivery, WebhookDelivery):
        delivery.up.set()
    return f"after {method} #{nth}"


async def report_all(reporter: Reporter, activities: list[str]) -> None:
    for activity in activities:
        if (await reporter.report(activity)).failure:
            return  # stuck: the checks at the end count it


def check_entries(
    tmp_path: Path, submissions: list[Submission], delivery: Delivery, context: str
) -> None:
    """Every confirmed entry exists once, by id and content, with its photo on disk; no
    acknowledged submission is lost; nothing is saved twice."""
    entries = {
        entry_id: (title, int(chat))
        for entry_id, title, chat in database_rows(
            tmp_path,
            "SELECT e.id, e.title, i.chat_id FROM entries e "
            "JOIN identities i ON i.member_id = e.reporter_id AND i.channel = 'telegram'",
        )
    }
    files: dict[int, list[tuple[str, str]]] = {}
    for entry_id, sha256, path in database_rows(
        tmp_path, "SELECT entry_id, sha256, path FROM entry_files"
    ):
        files.setdefault(entry_id, []).append((sha256, path))
    by_title = Counter(title for title, _ in entries.values())
    ids_by_title = {title: entry_id for entry_id, (title, _) in entries.items()}
    store = tmp_path / "var" / "files"

    stuck = [s for s in submissions if s.failure is not None]
    lost = [
        s
        for s in submissions
        if s.submit_update is not None
        and delivery.acknowledged(s.submit_update)
        and s.activity not in by_title
    ]
    doubled = sorted(title for title, count in by_title.items() if count > 1)
    wrong: list[str] = []
    for s in submissions:
        if s.confirmed_id is None:
            continue
        if entries.get(s.confirmed_id) != (s.activity, s.chat_id):
            wrong.append(f"#{s.confirmed_id} is {entries.get(s.confirmed_id)}, not {s.activity}")
            continue
        evidence = files.get(s.confirmed_id, [])
        if [sha for sha, _ in evidence] != [s.photo_sha256]:
            wrong.append(f"#{s.confirmed_id} has files {evidence}")
            continue
        on_disk = store / evidence[0][1]
        if not on_disk.is_file() or hashlib.sha256(on_disk.read_bytes()).hexdigest() != (
            s.photo_sha256
        ):
            wrong.append(f"#{s.confirmed_id}: its photo {on_disk} is missing or damaged")
    expected = {s.activity for s in submissions}
    strays = sorted(set(by_title) - expected)
    summary = (
        f"{context}: {len(submissions)} submitted, {len(entries)} saved, lost {len(lost)}, "
        f"doubled {len(doubled)}, stuck {len(stuck)}, wrong {len(wrong)}, strays {len(strays)}"
    )
    assert not lost, f"{summary}; lost: {[s.activity for s in lost[:10]]}"
    assert not doubled, f"{summary}; doubled: {doubled[:10]}"
    assert not wrong, f"{summary}; {wrong[:10]}"
    assert not stuck, f"{summary}; stuck: {[(s.activity, s.failure) for s in stuck[:10]]}"
    assert not strays, f"{summary}; entries nobody submitted: {strays[:10]}"
    assert len(entries) == len(submissions) == len(ids_by_title), summary


@pytest.mark.timeout(max(120, 2 * ROUNDS * ENTRIES))  # seconds
@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_killed_while_entries_stream_every_confirmed_entry_is_kept_once(
    tmp_path: Path, no_proxy: None, mode: str
) -> None:
    seed = int(os.environ.get("FAULT_SEED") or random.randrange(2**32))
    rng = random.Random(seed)
    port = free_port() if mode == "webhook" else None
    write_config(tmp_path, webhook_port=port)
    await add_reporters(tmp_path, REPORTERS, FIRST_CHAT)
    async with FakeBotApi() as server:
        delivery: Delivery
        if port is None:
            delivery = PollingDelivery(server)
            bot = BotProcess(tmp_path, server)
        else:
            delivery = WebhookDelivery(port)
            bot = BotProcess(
                tmp_path,
                server,
                TELEGRAM_WEBHOOK_URL=f"https://bot.example.vn{WEBHOOK_PATH}",
                TELEGRAM_WEBHOOK_SECRET=WEBHOOK_SECRET,
            )
        reporters = [Reporter(server, delivery, FIRST_CHAT + n) for n in range(REPORTERS)]
        kills: list[str] = []
        try:
            await bot.start()
            if isinstance(delivery, WebhookDelivery):
                delivery.up.set()
            for round_number in range(ROUNDS):
                plan: dict[int, list[str]] = {}
                for n in range(ENTRIES):
                    activity = f"Vòng {round_number + 1} · hoạt động số {n + 1}"
                    plan.setdefault(n % REPORTERS, []).append(activity)
                killer = asyncio.create_task(kill_mid_round(bot, server, delivery, rng, ENTRIES))
                await asyncio.gather(
                    *(report_all(reporters[r], activities) for r, activities in plan.items())
                )
                if killer.done():
                    kills.append(await killer)
                else:  # the members got stuck before the moment chosen: the checks say why
                    killer.cancel()
        finally:
            await bot.kill()
            if isinstance(delivery, WebhookDelivery):
                await delivery.close()
        submissions = [s for reporter in reporters for s in reporter.submissions]
        confirmations = [
            (m.chat_id, int(found.group(1)))
            for m in server.sent
            if (found := CONFIRMED.search(m.text or "")) is not None
        ]
    context = f"seed {seed}, kills {kills}, logs in {tmp_path}"
    assert database_rows(tmp_path, "PRAGMA integrity_check") == [("ok",)], context
    assert database_rows(tmp_path, "PRAGMA foreign_key_check") == [], context
    if isinstance(delivery, WebhookDelivery):
        assert not delivery.refused, f"{context}; refused: {delivery.refused[:10]}"
    assert not bot.troubles(), f"{context}: {bot.troubles()[:10]}"
    check_entries(tmp_path, submissions, delivery, context)
    # A confirmation resent after a crash names the same entry, in the same chat.
    confirmed = {(s.chat_id, s.confirmed_id) for s in submissions}
    assert set(confirmations) == confirmed, context
    assert len(kills) == ROUNDS, context


async def submit(app: App, reporter_id: int, unit_id: int, title: str, note: str = "") -> int:
    """One entry saved as the reporting form saves it, in a transaction of its own."""
    async with app.db.write() as session:
        return await save(
            session,
            app.config.tz,
            reporter_id=reporter_id,
            unit_id=unit_id,
            title=title,
            note=note,
        )


async def save(
    session: AsyncSession,
    tz: ZoneInfo,
    *,
    reporter_id: int,
    unit_id: int,
    title: str,
    note: str = "",
) -> int:
    """A volunteer entry saved in the caller's transaction; its id."""
    campaign = await current_campaign(session, dt.datetime.now(tz).date(), "volunteer")
    answers: dict[str, Any] = {"activity": title, "own_hours": 2.5, "beneficiaries": 10}
    if note:
        answers["description"] = note
    entry = await save_entry(
        session,
        kind="volunteer",
        reporter_id=reporter_id,
        unit_id=unit_id,
        campaign_id=campaign.id,
        collective=False,
        title=title,
        answers=answers,
        happened_on=dt.datetime.now(tz).date(),
        evidence=[],
        actor="test",
        tz=tz,
    )
    return entry.id


async def na_sam(app: App) -> int:
    async with app.db.read() as session:
        return (await session.scalars(select(Unit.id).where(Unit.code == "ls-x-na-sam"))).one()


async def test_fifty_writers_at_once_never_find_the_database_locked(
    tmp_path: Path, config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    """Submissions, reviews, a reminder run and an export at once, from the bot's App and a
    second App on the same file, as a second process (the command line) has."""
    bot_app, cli_app = build_app(config), build_app(config)
    await bot_app.prepare()
    await cli_app.prepare()
    try:
        async with bot_app.db.write() as session:
            members = await add_plain_members(session, 30)
        unit = await na_sam(bot_app)
        waiting = [
            await submit(bot_app, members[n % 30], unit, f"Chờ duyệt {n}") for n in range(17)
        ]
        due = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=1)
        async with bot_app.db.write() as session:
            schedule = Schedule(
                kind="reminder",
                rule={"every": "once", "at": due.astimezone(config.tz).strftime("%Y-%m-%dT%H:%M")},
                audience={"who": "all", "units": None},
                template="general",
                text="Họp chi đoàn",
                status="active",
                next_run_at=due,
            )
            session.add(schedule)
        out = tmp_path / "export.xlsx"
        t = cli_app.catalogs.translator("vi", config.tz)

        async def review(app: App, entry_id: int, n: int) -> bool:
            async with app.db.write() as session:
                decision = await decide(
                    session,
                    entry_id,
                    version=1,
                    who=Reviewer(scope=None, member_id=None),
                    approve=n % 2 == 0,
                    reason=None if n % 2 == 0 else "Thiếu ảnh",
                    actor="test",
                    tz=config.tz,
                )
                return decision is not None

        async def export() -> int:
            async with cli_app.db.read() as session:
                result = await write_export(
                    session,
                    out,
                    ExportFormat.XLSX,
                    ExportFilters(),
                    t=t,
                    tz=config.tz,
                    store=EvidenceStore(config.data_dir / "files"),
                )
            return result.rows

        apps = (bot_app, cli_app)
        writers: list[Coroutine[Any, Any, object]] = [
            *(submit(apps[n % 2], members[n % 30], unit, f"Đồng thời {n}") for n in range(31)),
            *(review(apps[n % 2], entry_id, n) for n, entry_id in enumerate(waiting)),
            Scheduler(bot_app).run(schedule.id, due),
            export(),
        ]
        assert len(writers) == 50
        results = await asyncio.gather(*writers, return_exceptions=True)
    finally:
        await bot_app.close()
        await cli_app.close()

    failures = [r for r in results if isinstance(r, BaseException)]
    assert not failures, failures[:5]
    assert "database is locked" not in caplog.text
    *_, reminded, exported = results
    assert reminded == 30
    assert isinstance(exported, int) and 17 <= exported <= 48
    assert out.stat().st_size > 0
    assert database_rows(tmp_path, "SELECT count(*) FROM entries") == [(48,)]
    assert database_rows(tmp_path, "SELECT status, count(*) FROM entries GROUP BY status") == [
        ("approved", 9),
        ("rejected", 8),
        ("submitted", 31),
    ]
    assert database_rows(tmp_path, "SELECT count(*) FROM entry_revisions") == [(48 + 17,)]
    assert database_rows(tmp_path, "SELECT count(*) FROM outbox") == [(30,)]
    assert database_rows(tmp_path, "SELECT count(*) FROM schedule_runs") == [(1,)]
    # The running totals were kept by every writer, none overwriting another's.
    assert database_rows(
        tmp_path, "SELECT status, sum(entries) FROM stat_totals GROUP BY status ORDER BY status"
    ) == [("approved", 9), ("rejected", 8), ("submitted", 31)]
    assert database_rows(tmp_path, "PRAGMA integrity_check") == [("ok",)]


NOTE = "Đoàn viên cùng nhau dọn vệ sinh đường làng. " * 60


async def fill(app: App, member: int, unit: int, entries: int) -> None:
    """Entries, and a few years of audit log."""
    async with app.db.write() as session:
        for n in range(entries):
            await save(
                session,
                app.config.tz,
                reporter_id=member,
                unit_id=unit,
                title=f"Cũ {n}",
                note=NOTE,
            )
        await session.execute(
            insert(AuditRecord),
            [
                {"actor": "test", "action": "test.filler", "details": {"n": n, "note": NOTE}}
                for n in range(AUDIT_ROWS)
            ],
        )


def entries_in_whole_copy(copy: Path) -> int:
    """The copy's entry count, once it passed integrity_check and shows one moment of the
    database: every entry with its revision, its audit row and its place in the totals."""
    with contextlib.closing(sqlite3.connect(copy)) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        (saved,) = db.execute("SELECT count(*) FROM entries").fetchone()
        assert db.execute("SELECT count(*) FROM entry_revisions").fetchone() == (saved,)
        assert db.execute(
            "SELECT count(*) FROM audit_log WHERE action = 'entry.submitted'"
        ).fetchone() == (saved,)
        assert db.execute("SELECT sum(entries) FROM stat_totals").fetchone() == (saved,)
    return int(saved)


async def test_a_backup_taken_while_the_bot_writes_is_whole_and_restores(
    tmp_path: Path, app: App
) -> None:
    async with app.db.write() as session:
        (member,) = await add_plain_members(session, 1)
    unit = await na_sam(app)
    before = 300
    await fill(app, member, unit, before)
    assert database_rows(tmp_path, "PRAGMA page_count")[0][0] > 30_000
    stop = asyncio.Event()
    written = 0

    async def keep_writing() -> None:
        nonlocal written
        while not stop.is_set():
            await submit(app, member, unit, f"Trong lúc sao lưu {written}", NOTE)
            written += 1

    writer = asyncio.create_task(keep_writing())
    copy = tmp_path / "backups" / "bot-copy.sqlite3"
    try:
        result = await asyncio.to_thread(
            run_bot, tmp_path, "backup", str(copy), timeout=BACKUP_TIMEOUT
        )
    except subprocess.TimeoutExpired:
        pytest.fail(
            f"`python -m bot backup` did not finish in {BACKUP_TIMEOUT} s while the bot wrote "
            f"({written} entries meanwhile; an online backup copied in steps starts again "
            "whenever another connection writes)"
        )
    finally:
        stop.set()
        await writer
    assert result.returncode == 0, result.stderr
    assert "kiểm tra toàn vẹn: ổn" in result.stdout
    assert written > 0, "nothing was written while the backup ran"
    assert copy.stat().st_mode & 0o777 == 0o600  # personal data: for its owner only
    saved = entries_in_whole_copy(copy)
    assert before <= saved <= before + written

    # Restoring puts the copy where a database would be, and the bot starts on it.
    restored = tmp_path / "restored"
    restored.mkdir()
    result = await asyncio.to_thread(run_bot, restored, "restore", str(copy))
    assert result.returncode == 0, result.stderr
    assert f"báo cáo: {saved};" in result.stdout
    assert (restored / "bot.sqlite3").stat().st_mode & 0o777 == 0o600
    again = build_app(make_config(restored))
    await again.prepare()
    try:
        async with again.db.read() as session:
            assert await session.scalar(select(func.count()).select_from(Entry)) == saved
        new_id = await submit(again, member, unit, "Sau khi khôi phục")
        async with again.db.read() as session:
            assert await session.scalar(select(func.count()).select_from(Entry)) == saved + 1
            assert (await session.get_one(Entry, new_id)).title == "Sau khi khôi phục"
    finally:
        await again.close()
    copy.unlink()  # large: pytest keeps the last runs' folders
    shutil.rmtree(restored)


async def test_the_restore_drill_brings_back_entries_and_their_evidence(
    tmp_path: Path, app: App
) -> None:
    """`backup --with-files` while the bot runs, then `restore` on a new machine: the same
    entries, each photo with the same bytes. Restoring never overwrites a database, and a
    damaged or doctored archive restores nothing."""
    await member_with_entries(app)  # two entries with a photo each
    store = app.config.data_dir / "files"
    photos = {path.relative_to(store).as_posix(): path.read_bytes() for path in files_in(store)}
    assert len(photos) == 2
    archive = tmp_path / "backups" / "drill.zip"
    result = await asyncio.to_thread(run_bot, tmp_path, "backup", "--with-files", str(archive))
    assert result.returncode == 0, result.stderr
    assert "(kiểm tra toàn vẹn: ổn), kèm 2 tệp minh chứng." in result.stdout
    assert archive.stat().st_mode & 0o777 == 0o600
    with zipfile.ZipFile(archive) as bundle:
        assert sorted(bundle.namelist()) == sorted(
            ["youthbot.sqlite3", *(f"files/{name}" for name in photos)]
        )

    # Over the running bot's database: refused, and the bot goes on.
    over = await asyncio.to_thread(run_bot, tmp_path, "restore", str(archive))
    assert over.returncode == 2
    assert "bot.sqlite3 đã có. Hãy dừng bot" in over.stderr
    assert "Báo cáo: 2" in await say(app, "/mydata")

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = await asyncio.to_thread(run_bot, elsewhere, "restore", str(archive))
    assert result.returncode == 0, result.stderr
    assert "báo cáo: 2; tệp minh chứng đã đặt lại: 2, đã có sẵn: 0." in result.stdout
    assert (elsewhere / "bot.sqlite3").stat().st_mode & 0o777 == 0o600
    back = elsewhere / "var" / "files"
    assert {p.relative_to(back).as_posix(): p.read_bytes() for p in files_in(back)} == photos
    again = build_app(make_config(elsewhere))
    await again.prepare()
    try:
        async with again.db.read() as session:
            assert await session.scalar(select(func.count()).select_from(Entry)) == 2
            paths = set((await session.scalars(select(EntryFile.path))).all())
        assert paths == set(photos)
    finally:
        await again.close()
    twice = await asyncio.to_thread(run_bot, elsewhere, "restore", str(archive))
    assert twice.returncode == 2, twice.stdout

    # Doctored archives: a photo whose bytes are not the ones its name says, a path out of
    # the store, no database at all.
    first = next(iter(photos))
    for name, swap in (
        ("swapped", {f"files/{first}": b"not the photo"}),
        ("escaping", {"files/../../outside.jpg": b"x"}),
        ("no-database", {"youthbot.sqlite3": None}),
    ):
        doctored = tmp_path / f"{name}.zip"
        with zipfile.ZipFile(archive) as source, zipfile.ZipFile(doctored, "w") as target:
            for member in source.namelist():
                if member not in swap:
                    target.writestr(member, source.read(member))
            for member, content in swap.items():
                if content is not None:
                    target.writestr(member, content)
        place = tmp_path / f"restore-{name}"
        place.mkdir()
        refused = await asyncio.to_thread(run_bot, place, "restore", str(doctored))
        assert refused.returncode == 2, (name, refused.stdout)
        assert not (place / "bot.sqlite3").exists(), name
        assert files_in(place / "var" / "files") == [], name
    assert not (tmp_path / "outside.jpg").exists()


async def until(moment: dt.datetime) -> None:
    """Returns once the wall clock has reached `moment` (the condition is the clock itself)."""
    await asyncio.sleep(max(0.0, (moment - dt.datetime.now(dt.UTC)).total_seconds()))


async def test_a_reminder_due_while_the_bot_was_down_is_sent_once_after_start(
    tmp_path: Path, no_proxy: None
) -> None:
    members = 5
    write_config(tmp_path)
    await add_reporters(tmp_path, members, FIRST_CHAT)
    chats = [FIRST_CHAT + n for n in range(members)]
    # Due a few seconds after the bot has started: the bot arms it and is killed before.
    due = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=8)).replace(microsecond=0)
    config = make_config(tmp_path)
    app = build_app(config)
    try:
        async with app.db.write() as session:
            session.add(
                Schedule(
                    kind="reminder",
                    rule={
                        "every": "once",
                        "at": due.astimezone(config.tz).strftime("%Y-%m-%dT%H:%M"),
                    },
                    audience={"who": "all", "units": None},
                    template="general",
                    text="Họp chi đoàn lúc 19 giờ",
                    status="active",
                    next_run_at=due,
                )
            )
    finally:
        await app.close()

    def reminders() -> Counter[int]:
        return Counter(
            m.chat_id
            for m in server.sent
            if m.chat_id in chats and "Họp chi đoàn lúc 19 giờ" in (m.text or "")
        )

    async with FakeBotApi() as server:
        bot = BotProcess(tmp_path, server)
        try:
            await bot.start()
            assert dt.datetime.now(dt.UTC) < due, "the bot took longer to start than planned"
            await bot.kill()
            await until(due + dt.timedelta(seconds=1))
            assert not reminders()
            await bot.start()
            await server.wait_for(lambda _: len(reminders()) == members, timeout=30)
            await wait_for_rows(
                tmp_path, "SELECT count(*) FROM outbox WHERE status = 'sent'", members
            )
            # Started again, the bot has nothing left to send: a member's question answered shows
            # it is past its start-up (scheduler synced, outbox read).
            await bot.kill()
            await bot.start()
            await Reporter(server, PollingDelivery(server), chats[0]).ask("/help", "Cách dùng bot")
            assert await bot.stop() == 0
        finally:
            await bot.kill()
        assert reminders() == Counter(dict.fromkeys(chats, 1))
        assert not bot.troubles(), bot.troubles()[:10]
    assert database_rows(tmp_path, "SELECT status, next_run_at FROM schedules") == [("done", None)]
    assert database_rows(tmp_path, "SELECT count(*) FROM schedule_runs") == [(1,)]
    assert database_rows(tmp_path, "SELECT count(*) FROM outbox") == [(members,)]


async def wait_for_rows(tmp_path: Path, query: str, expected: int, timeout: float = 30) -> None:
    """Awaits until a count query on the bot's database gives `expected`."""
    async with asyncio.timeout(timeout):
        while database_rows(tmp_path, query) != [(expected,)]:  # noqa: ASYNC110 (no event)
            await asyncio.sleep(0.05)


async def test_with_no_network_at_start_the_bot_waits_one_line_per_attempt(
    tmp_path: Path,
) -> None:
    """A Telegram run started before the network is up keeps trying with growing waits,
    one log line per attempt and no traceback, and still stops cleanly when told to."""
    token = "123456:no-network-token"
    env = bot_env(
        tmp_path,
        TELEGRAM_BOT_TOKEN=token,
        TELEGRAM_API_BASE_URL=f"http://127.0.0.1:{free_port()}",  # nobody listens there
    )
    process = await start_bot_run(
        env, stderr=asyncio.subprocess.PIPE, cwd=tmp_path, stdin=asyncio.subprocess.DEVNULL
    )
    assert process.stderr is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(30):
            while sum("cannot reach" in line for line in lines) < 2:
                line = (await process.stderr.readline()).decode()
                assert line, f"the bot exited: {lines}"
                lines.append(line)
        process.send_signal(signal.SIGTERM)
        _, rest = await asyncio.wait_for(process.communicate(), timeout=30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    log = "".join(lines) + rest.decode()
    attempts = [line for line in log.splitlines() if "cannot reach" in line]
    assert process.returncode == 0, log
    assert "Traceback" not in log and token not in log
    assert [line.split("(attempt ")[1] for line in attempts[:2]] == ["1)", "2)"]
    assert all(" WARNING " in line for line in attempts)


async def test_a_platform_that_answers_again_is_served_after_the_retries(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with FakeBotApi() as server:
        server.fail_next("getMe", 502, times=2)
        channel = await started(telegram_config(tmp_path, server))
        try:
            await User(server, 1001).says("/help", expect="Cách dùng bot")
        finally:
            await stopped(channel)
    attempts = [r for r in caplog.records if "cannot reach" in r.getMessage()]
    assert len(attempts) == 2 and not any(r.exc_info for r in attempts)
