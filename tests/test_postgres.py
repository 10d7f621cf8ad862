"""The same code on PostgreSQL: migrations, first start, registration and dedupe, against a
throwaway server the test starts on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import io
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from docx import Document as open_docx
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from bot.app import App, build_app
from bot.channels.console import parse_line
from bot.config import Config, DatabaseConfig
from bot.evidence import EvidenceStore
from bot.period_reports import Period, write_period_report
from models import Broadcast, Campaign, Consent, Entry, EntryFile, Identity, Member, Unit
from models.credentials import finish_refresh, read_tokens, seed_tokens, take_refresh
from models.db import Database
from models.entries import Reviewer, decide
from models.outbox import audience, due_messages, enqueue_broadcast
from models.people import grant_role, identity_for
from models.tables import Nomination, NominationStep, utcnow
from models.units import search_units
from tests.conftest import make_config, run_bot
from tests.test_abuse import Chat, joined, run
from tests.test_database import (
    AUDIT_AFTER_0008,
    audit_rows_after_upgrade,
    audit_rows_of_an_older_version,
    migrate_to,
)
from tests.test_evidence import pdf
from tests.test_nominations import add_approved, grant
from tests.test_reporting import VOLUNTEER, register, say


def postgres_bin() -> Path:
    found = shutil.which("initdb")
    if found is None:
        versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)
        found = str(versions[0]) if versions else None
    if found is None:
        raise RuntimeError("PostgreSQL is not installed; scripts/test.sh installs it")
    return Path(found).resolve().parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[str]:
    """A PostgreSQL server of our own on loopback, its database's URL; stopped and deleted
    afterwards."""
    home = Path(tempfile.mkdtemp(prefix="youthbot-pg-"))
    try:
        with postgres_server(home) as url:
            yield url
    finally:
        shutil.rmtree(home, ignore_errors=True)


@contextlib.contextmanager
def postgres_server(home: Path, settings: str = "") -> Iterator[str]:
    """A PostgreSQL server on loopback over the cluster in `home` (made there on first use,
    with a database `youthbot`), its database's URL; stopped afterwards, its data kept.
    As the postgres user when we are root (the server refuses to run as root, and pytest's
    temporary folders are closed to other users). `settings`: more `-c name=value` options."""
    binaries = postgres_bin()
    data = home / "data"
    as_user: list[str] = []
    if os.geteuid() == 0:
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(home, "postgres")
    new = not data.exists()
    if new:
        subprocess.run(
            [*as_user, str(binaries / "initdb"), "-D", str(data), "-U", "youthbot", "-A", "trust"],
            check=True,
            capture_output=True,
        )
    port = free_port()
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off {settings}"
    pg_ctl = [*as_user, str(binaries / "pg_ctl"), "-D", str(data), "-l", str(home / "server.log")]
    # -w: pg_ctl itself waits until the server accepts connections.
    subprocess.run([*pg_ctl, "-w", "-t", "60", "-o", options, "start"], check=True, timeout=90)
    try:
        if new:
            create = [
                str(binaries / "createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-U",
                "youthbot",
            ]
            subprocess.run([*create, "youthbot"], check=True, capture_output=True)
        yield f"postgresql+asyncpg://youthbot@127.0.0.1:{port}/youthbot"
    finally:
        subprocess.run([*pg_ctl, "-m", "fast", "stop"], check=False, capture_output=True)


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    with throwaway_postgres() as url:
        yield url


@pytest.fixture
def pg_config(tmp_path: Path, postgres_url: str) -> Config:
    config = make_config(tmp_path)
    return dataclasses.replace(config, database=DatabaseConfig(url=postgres_url))


async def test_registration_works_on_postgresql(pg_config: Config) -> None:
    app = build_app(pg_config)
    try:
        await app.prepare()
        await app.prepare()  # a second start changes nothing
        replies = []
        for line in ("/start", "1", "Hoàng Thị Mai", "2004", "na sam", "bỏ qua", "1"):
            inbound = parse_line(line)
            replies = await app.dispatcher.handle(inbound) or []
            # The same update again: handled once, answered once.
            assert await app.dispatcher.handle(inbound) is None
        assert "Bạn đã đăng ký thành công" in replies[0].text
        async with app.db.read() as session:
            assert await session.scalar(select(func.count()).select_from(Unit)) == 71
            assert await session.scalar(select(func.count()).select_from(Campaign)) == 1
            member = (await session.scalars(select(Member))).one()
            consent = (await session.scalars(select(Consent))).one()
            found = await search_units(session, "NA SẦM", limit=3)
        assert (member.full_name, member.birth_year) == ("Hoàng Thị Mai", 2004)
        assert consent.accepted_at.tzinfo is not None
        assert [unit.name for unit in found] == ["Xã Na Sầm"]
    finally:
        await app.close()


async def test_concurrent_writers_on_postgresql(pg_config: Config) -> None:
    app = build_app(pg_config)
    try:
        await app.prepare()
        lines = [parse_line("/help") for _ in range(20)]
        results = await asyncio.gather(*(app.dispatcher.handle(inbound) for inbound in lines))
        assert all(result and "/start" in result[0].text for result in results)
    finally:
        await app.close()


async def test_the_outbox_works_on_postgresql(pg_config: Config) -> None:
    """INSERT … SELECT for the recipients, and claims that skip rows other workers hold."""
    app = build_app(pg_config)
    try:
        await app.prepare()
        for line in ("/start", "1", "Hoàng Thị Mai", "2004", "na sam", "bỏ qua", "1"):
            await app.dispatcher.handle(parse_line(line))
        async with app.db.write() as session:
            broadcast = Broadcast(text="Họp chi đoàn", audience={}, status="running")
            session.add(broadcast)
            await session.flush()
            assert await enqueue_broadcast(session, broadcast, audience(None)) >= 1
        now = dt.datetime.now(dt.UTC)
        async with app.db.write() as first, app.db.write() as second:
            held = await due_messages(first, "console", now, limit=10)
            skipped = await due_messages(second, "console", now, limit=10)
        assert held and not {m.id for m in held} & {m.id for m in skipped}
    finally:
        await app.close()


async def test_upgrading_the_audit_log_on_postgresql(postgres_url: str) -> None:
    """Revision 0008's SQL (JSON ids, subqueries, anonymising past erasures) on PostgreSQL."""
    server = create_async_engine(postgres_url, isolation_level="AUTOCOMMIT")
    async with server.connect() as connection:
        await connection.execute(text("CREATE DATABASE audit_upgrade"))
    await server.dispose()
    engine = create_async_engine(postgres_url.rsplit("/", 1)[0] + "/audit_upgrade")
    try:
        async with engine.begin() as connection:
            await connection.run_sync(migrate_to, "0007")
            await connection.run_sync(audit_rows_of_an_older_version)
            await connection.run_sync(migrate_to, "head")
            assert await connection.run_sync(audit_rows_after_upgrade) == AUDIT_AFTER_0008
    finally:
        await engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
async def either(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[App]:
    """The app on a SQLite file, then on the PostgreSQL server."""
    config = make_config(tmp_path)
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_url")
        config = dataclasses.replace(config, database=DatabaseConfig(url=url))
    app = build_app(config)
    await app.prepare()
    yield app
    await app.close()


async def test_what_postgresql_would_refuse_is_checked_first_on_both(either: App) -> None:
    """A NUL in typed text, a file name longer than 255 characters and a forged "previous
    page" (a negative OFFSET) failed on PostgreSQL alone, the first two at every retry. Each
    is handled before the database, the same way on both."""
    user = f"pg-{uuid.uuid4().hex[:8]}"  # the server's database is shared by these tests
    chat = Chat(either, user)
    await run(chat, ("/start", "1", "Hoàng\x00 Thị Mai", "2004"))
    earlier = "⚠️ Nút này thuộc câu hỏi trước rồi."
    for forged in ("_prev", "_next"):  # no page is shown yet
        assert earlier in joined(await chat.press(f"f:registration:unit:{forged}"))
    assert "Trang 1/" in joined(await chat.send("list"))
    assert earlier in joined(await chat.press("f:registration:unit:_prev"))
    assert "Trang 2/" in joined(await chat.press("f:registration:unit:_next"))
    assert "Trang 1/" in joined(await chat.press("f:registration:unit:_prev"))
    await run(chat, ("na sam", "bỏ qua", "1"))

    await run(chat, ("/report", "2", "Dọn rác\x00 bờ suối", *VOLUNTEER[1:-1]))
    stored = EvidenceStore(either.config.data_dir / "files").save(pdf(), original_name="x.pdf")
    long_name = "Giấy khen " * 40 + ".pdf"
    assert "Đã nhận 1 tệp" in joined(await chat.attach(stored, "document", long_name))
    await run(chat, ("xong",))
    assert "✅ Đã lưu" in joined(await run(chat, ("1",)))
    async with either.db.read() as session:
        member = (
            await session.scalars(select(Member).join(Identity).where(Identity.user_id == user))
        ).one()
        entry = (await session.scalars(select(Entry).where(Entry.reporter_id == member.id))).one()
        (evidence,) = (
            await session.scalars(select(EntryFile).where(EntryFile.entry_id == entry.id))
        ).all()
    assert member.full_name == "Hoàng Thị Mai"
    assert entry.title == "Dọn rác bờ suối"
    assert evidence.original_name is not None
    assert len(evidence.original_name) == 255
    assert evidence.original_name.endswith("….pdf")


async def test_certificates_and_the_period_report_on_postgresql(pg_config: Config) -> None:
    """The JSON measures that rank exemplary entries, the totals by unit and the register of
    certificates, on PostgreSQL."""
    verify = dataclasses.replace(pg_config.verify, secret="k" * 32)
    app = build_app(dataclasses.replace(pg_config, verify=verify))
    try:
        await app.prepare()
        user = f"pg-{uuid.uuid4().hex[:8]}"  # the server's database is shared by these tests
        chat = Chat(app, user)
        await run(chat, ("/start", "1", "Hoàng Thị Mai", "2004", "na sam", "bỏ qua", "1"))
        activity = f"Sửa đường {user}"
        await run(chat, ("/report", "2", activity, *VOLUNTEER[1:], "1"))
        async with app.db.write() as session:
            entry = (await session.scalars(select(Entry).where(Entry.title == activity))).one()
            await decide(
                session,
                entry.id,
                version=1,
                who=Reviewer(scope=None, member_id=None),
                approve=True,
                reason=None,
                actor="test",
                tz=app.config.tz,
            )
        await run(chat, ("/certificate",))
        replies = await run(chat, ("1",))
        (document,) = [reply.document for reply in replies if reply.document is not None]
        code = document.file_name.removeprefix("giay-chung-nhan-").removesuffix(".pdf")
        assert "hợp lệ" in joined(await Chat(app, "someone").send(f"/verify {code}"))
        happened = entry.happened_on
        async with app.db.read() as session:
            content = await write_period_report(
                session,
                app.catalogs.translator("vi", app.config.tz),
                unit=None,
                scope=None,
                period=Period.of_days(happened, happened),
                today=happened,
                ladder=app.config.ladder,
            )
        assert activity in "\n".join(p.text for p in open_docx(io.BytesIO(content)).paragraphs)
    finally:
        await app.close()


async def test_two_decisions_on_a_nomination_at_once_on_postgresql_record_one(
    pg_config: Config,
) -> None:
    """Two admins of Tỉnh Đoàn pass the same nomination on at the same moment: the
    conditional update on its revision lets one through; the other is told who decided."""
    app = build_app(pg_config)
    try:
        await app.prepare()
        tag = uuid.uuid4().hex[:8]
        given = "".join(chr(ord("a") + int(c, 16)) for c in tag).title()  # letters only
        chats = {role: Chat(app, f"{role}-{tag}") for role in ("son", "mai", "a1", "a2")}
        for role, chat in chats.items():
            name = f"Nông Văn {given} {role.strip('12').title()}"
            await run(chat, ("/start", "1", name, "2000", "na sam", "bỏ qua", "1"))
        async with app.db.write() as session:
            na_sam = (await session.scalars(select(Unit).where(Unit.code == "ls-x-na-sam"))).one()
            son = await identity_for(session, "console", f"son-{tag}")
            await grant_role(session, son, "secretary", na_sam, granted_by="test")
            mai = await identity_for(session, "console", f"mai-{tag}")
            mai_id = mai.member_id
        for admin in ("a1", "a2"):
            await grant(app, "console", f"{admin}-{tag}", "admin")
        assert mai_id is not None
        today = dt.datetime.now(app.config.tz).date().isoformat()
        work = {"title": "Sổ tay điện tử", "scope": "province", "applied_on": today}
        await add_approved(app, "initiative", mai_id, "ls-x-na-sam", work)
        proposer = chats["son"]
        await proposer.send("/nominations")
        for data in (
            "f:nominations:action:propose",
            "f:nomination:type:individual",
        ):
            await proposer.press(data)
        await proposer.send(f"{given} mai")
        for data in (
            f"f:nomination:member:{mai_id}",
            "f:nomination:award:bang-khen-ubnd-tinh",
            f"f:nomination:period:year:{today[:4]}",
        ):
            await proposer.press(data)
        await run(proposer, ("1", "xong", "Sáng kiến sổ tay điện tử được áp dụng trên toàn tỉnh."))
        sent = joined(await proposer.press("f:nomination:_review:_submit"))
        assert "đã được gửi tới Tỉnh Đoàn" in sent, sent
        async with app.db.read() as session:
            nomination = (
                await session.scalars(
                    select(Nomination).where(Nomination.nominee_member_id == mai_id)
                )
            ).one()
        data = f"f:nomination_review:decision:pass:{nomination.id}:1"
        for admin in ("a1", "a2"):
            await chats[admin].send("/nominations")
            await chats[admin].press("f:nominations:action:queue")
        first, second = await asyncio.gather(chats["a1"].press(data), chats["a2"].press(data))
        answers = [joined(first), joined(second)]
        assert sum("Đã chuyển đề nghị" in answer for answer in answers) == 1
        assert sum("đã được Nông Văn" in answer for answer in answers) == 1
        async with app.db.read() as session:
            version = await session.scalar(
                select(Nomination.version).where(Nomination.id == nomination.id)
            )
            steps = (
                await session.scalars(
                    select(NominationStep.action).where(
                        NominationStep.nomination_id == nomination.id
                    )
                )
            ).all()
        assert (version, steps) == (2, ["submitted", "passed"])
    finally:
        await app.close()


async def test_one_process_at_a_time_takes_a_token_refresh_on_both(either: App) -> None:
    """Four processes find the token expired at once: one takes the refresh, the others
    find the row changed; the new pair is stored only by the lease's holder, both at once."""
    other = Database(either.config.database.url)
    channel = "t-" + secrets.token_hex(4)
    try:
        async with either.db.write() as session:
            await seed_tokens(session, channel, "rt-first")
        async with either.db.read() as session:
            row = await read_tokens(session, channel)
            assert row is not None
            version = row.version
        now = utcnow()

        async def take(db: Database) -> bool:
            async with db.write() as session:
                return await take_refresh(session, channel, version, now, dt.timedelta(seconds=30))

        taken = await asyncio.gather(take(either.db), take(other), take(either.db), take(other))
        assert sorted(taken) == [False, False, False, True]
        async with other.write() as session:
            late = await finish_refresh(
                session,
                channel,
                version,  # a lease it never got
                access_token="at-x",
                refresh_token="rt-x",
                expires_at=now,
                now=now,
            )
            stored = await finish_refresh(
                session,
                channel,
                version + 1,
                access_token="at-new",
                refresh_token="rt-new",
                expires_at=now + dt.timedelta(hours=25),
                now=now,
            )
        assert (late, stored) == (False, True)
        async with either.db.read() as session:
            row = await read_tokens(session, channel)
        assert row is not None
        assert (row.access_token, row.refresh_token, row.leased_until) == (
            "at-new",
            "rt-new",
            None,
        )
    finally:
        await other.close()


async def test_a_province_moves_from_sqlite_to_postgresql(
    tmp_path: Path, postgres_url: str
) -> None:
    """`migrate-data` copies every table into an empty PostgreSQL database, says so table by
    table, and the bot goes on there: the same people and reports, and new ones after them."""
    config = make_config(tmp_path)
    app = build_app(config)
    await app.prepare()
    try:
        await register(app)
        await say(app, "/report")
        await say(app, "2")
        for answer in VOLUNTEER:
            await say(app, answer)
        assert "✅ Đã lưu" in await say(app, "1")
    finally:
        await app.close()
    server = create_async_engine(postgres_url, isolation_level="AUTOCOMMIT")
    async with server.connect() as connection:
        await connection.execute(text("CREATE DATABASE moved"))
    await server.dispose()
    target = postgres_url.rsplit("/", 1)[0] + "/moved"

    moved = run_bot(tmp_path, "migrate-data", "--from", config.database.url, "--to", target)
    assert moved.returncode == 0, moved.stderr
    lines = moved.stdout.splitlines()
    assert any(line.startswith("entries ") and line.endswith(" ok") for line in lines)
    assert any(line.startswith("units ") and " 71 → " in line for line in lines)
    assert "every count matches" in lines[-1]
    again = run_bot(tmp_path, "migrate-data", "--from", config.database.url, "--to", target)
    assert again.returncode == 2
    assert "the target database is not empty" in again.stderr

    app = build_app(dataclasses.replace(config, database=DatabaseConfig(url=target)))
    await app.prepare()
    try:
        async with app.db.read() as session:
            entry = (await session.scalars(select(Entry))).one()
            member = (await session.scalars(select(Member))).one()
        assert (entry.title, member.full_name) == (VOLUNTEER[0], "Hoàng Thị Mai")
        # New rows take ids after the copied ones.
        for line in ("/start", "1", "Lý Văn Sơn", "2001", "na sam", "bỏ qua", "1"):
            other = dataclasses.replace(parse_line(line), user_id="2002", chat_id="2002")
            reply = await app.dispatcher.handle(other)
        assert reply and "Bạn đã đăng ký thành công" in reply[0].text
    finally:
        await app.close()


async def test_two_accounts_typing_one_link_code_at_once_on_postgresql_join_one(
    pg_config: Config,
) -> None:
    """A /link code is used once: of two accounts typing it at the same moment, one joins the
    registration and the other is told the code is not right (any more)."""
    app = build_app(pg_config)
    try:
        await app.prepare()
        tag = uuid.uuid4().hex[:8]
        owner = Chat(app, f"owner-{tag}")
        await run(owner, ("/start", "1", "Hoàng Thị Mai", "2004", "na sam", "bỏ qua", "1"))
        shown = joined(await owner.send("/link"))
        code = shown.split("/link ", 1)[1][:9]
        first, second = await asyncio.gather(
            Chat(app, f"a-{tag}").send(f"/link {code}"),
            Chat(app, f"b-{tag}").send(f"/link {code}"),
        )
        answers = [joined(first), joined(second)]
        assert sum("đã được nối với bản đăng ký" in answer for answer in answers) == 1, answers
        assert sum("hết hạn" in answer for answer in answers) == 1, answers
        async with app.db.read() as session:
            member = await session.scalar(
                select(Identity.member_id).where(Identity.user_id == f"owner-{tag}")
            )
            accounts = await session.scalar(
                select(func.count()).select_from(Identity).where(Identity.member_id == member)
            )
        assert accounts == 2
    finally:
        await app.close()
