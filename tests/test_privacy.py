"""Data-subject rights: /mydata holds everything stored about the member, their audit rows
included; /deleteme (or withdrawing consent) leaves no personal data in any table, in the
database's files or in the file store, and keeps what belongs to the movement (approved
entries, a unit's collective entries, what the audit needs) without the person."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import String, select, text, update
from sqlalchemy import inspect as schema

from bot.app import App, build_app
from bot.channels.console import parse_line
from bot.events import Attachment, Inbound, InboundKind, Reply
from bot.evidence import EvidenceStore
from domain.vocabulary import CLI, ERASED
from models import AuditRecord, Base, Entry, EntryFile
from models.certificates import VOLUNTEER_HOURS, add_certificate
from models.people import identity_for
from models.privacy import ACTOR_COLUMNS
from models.tables import ContactRequest, Highlight, Nomination, ReviewDigest, utcnow
from tests.botapi import FakeBotApi
from tests.conftest import make_config
from tests.test_abuse import Chat, TelegramUser, joined, register, texts
from tests.test_abuse import give as give_to
from tests.test_admin import give
from tests.test_reporting import REGISTER, VOLUNTEER, entries, say
from tests.test_stats import add_plain_members
from tests.test_telegram import started, stopped, telegram_config

NAME = "Hoàng Thị Mai"
PHONE = "+84912345678"


def jpeg(colour: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(buffer, "JPEG")
    return buffer.getvalue()


async def send_photo(app: App, data: bytes, name: str) -> list[Reply]:
    """What the channel hands the core once it fetched and checked a photo."""
    stored = EvidenceStore(app.config.data_dir / "files").save(data, original_name=name)
    inbound = Inbound(
        channel="console",
        update_key=uuid.uuid4().hex,
        user_id="local",
        chat_id="local",
        kind=InboundKind.PHOTO,
        attachments=(
            Attachment(
                "file-" + name,
                "photo",
                file_name=name,
                mime_type=stored.mime,
                size=stored.size,
                sha256=stored.sha256,
                path=stored.relative_path,
            ),
        ),
    )
    return await app.dispatcher.handle(inbound) or []


async def member_with_entries(app: App) -> None:
    """A member with two entries with photos: one approved, one waiting."""
    for line in (*REGISTER[:-2], "0912 345 678", "1"):
        await say(app, line)
    for colour in ("red", "blue"):
        await say(app, "/report")
        await say(app, "2")
        for answer in VOLUNTEER[:-1]:
            await say(app, answer)
        replies = await send_photo(app, jpeg(colour), f"{colour}.jpg")
        assert "Đã nhận 1 tệp" in replies[0].text
        assert "bạn vui lòng kiểm tra" in await say(app, "xong")
        await say(app, "1")
    async with app.db.write() as session:
        await session.execute(update(Entry).where(Entry.id == 1).values(status="approved"))


async def test_mydata_holds_every_field_stored_about_the_member(app: App) -> None:
    await member_with_entries(app)
    replies = await app.dispatcher.handle(parse_line("/mydata")) or []
    (reply,) = replies
    assert "Dữ liệu mình đang lưu về bạn" in reply.text  # the bot says "mình" everywhere
    assert f"Họ và tên: {NAME}" in reply.text
    assert "Số điện thoại: 0912 345 678" in reply.text
    assert "Báo cáo: 2" in reply.text
    assert reply.document is not None
    data = json.loads(reply.document.content)
    assert data["profile"]["full_name"] == NAME
    assert data["profile"]["phone"] == PHONE
    assert data["profile"]["unit"]["name"] == "Xã Na Sầm"
    assert data["consents"][0]["notice_version"] == "2026-11-27"
    assert data["accounts"] == [
        {
            "account_id": data["profile"]["account_id"],
            "channel": "console",
            "user_id": "local",
            "chat_id": "local",
            "language": None,
            "app_language": "vi",
            "unreachable_since": None,
            "first_contact": data["accounts"][0]["first_contact"],
        }
    ]
    assert [entry["status"] for entry in data["entries"]] == ["approved", "submitted"]
    assert data["entries"][1]["answers"]["activity"] == VOLUNTEER[0]
    assert data["entries"][1]["history"][0]["status"] == "submitted"
    assert sorted(file["file_name"] for file in data["files"]) == ["blue.jpg", "red.jpg"]
    # Every column of the member's own rows appears in the copy.
    async with app.db.read() as session:
        member = (await session.execute(text("SELECT * FROM members"))).mappings().one()
    for column, value in member.items():
        if column in ("id", "unit_id", "registered_at"):
            continue
        assert data["profile"][column] == value, column


async def test_deleteme_leaves_no_personal_data_anywhere(app: App) -> None:
    await member_with_entries(app)
    store = app.config.data_dir / "files"
    assert len([p for p in store.rglob("*") if p.is_file()]) == 2
    confirm = await say(app, "/deleteme")
    assert "Thao tác này không thể hoàn tác." in confirm
    done = await say(app, "1")
    assert "Dữ liệu của bạn đã được xóa" in done
    assert "(1); các báo cáo khác đã bị xóa (1)" in done

    # The approved entry stays, anonymised; the other is gone.
    (kept,) = await entries(app)
    assert (kept.id, kept.status, kept.reporter_id) == (1, "approved", None)
    assert [p for p in store.rglob("*") if p.is_file()] == []
    needles = [NAME, PHONE, "0912345678"]
    async with app.db.read() as session:
        connection = await session.connection()
        tables = await connection.run_sync(lambda sync: schema(sync).get_table_names())
        for table in tables:
            rows = (await session.execute(text(f'SELECT * FROM "{table}"'))).all()  # noqa: S608
            dump = json.dumps([list(map(str, row)) for row in rows], ensure_ascii=False)
            for needle in needles:
                assert needle not in dump, (table, needle)
        assert (await session.execute(text("SELECT count(*) FROM members"))).scalar() == 0
        assert (await session.execute(text("SELECT count(*) FROM identities"))).scalar() == 0
        assert (await session.execute(text("SELECT count(*) FROM consents"))).scalar() == 0
        actions = (await session.execute(text("SELECT action, details FROM audit_log"))).all()
    assert "member.deleted" in [action for action, _ in actions]
    # The user is a stranger again.
    assert "Chào mừng bạn đến với phong trào" in await say(app, "/start")


async def test_withdrawing_consent_erases_too_and_no_keeps_everything(app: App) -> None:
    await member_with_entries(app)
    await say(app, "/withdrawconsent")
    assert "Chưa có gì bị xóa." in await say(app, "2")
    assert len(await entries(app)) == 2
    await say(app, "/withdrawconsent")
    await say(app, "1")
    async with app.db.read() as session:
        actions = (
            await session.scalars(select(text("action")).select_from(text("audit_log")))
        ).all()
    assert "consent.withdrawn" in actions
    assert "Bạn chưa đăng ký" in await say(app, "/mydata")


async def test_evidence_of_forms_never_sent_is_swept_after_a_month(app: App) -> None:
    await member_with_entries(app)  # two entries with a photo each
    await say(app, "/report")
    await say(app, "2")
    for answer in VOLUNTEER[:-1]:
        await say(app, answer)
    await send_photo(app, jpeg("yellow"), "yellow.jpg")
    await say(app, "/cancel")  # this photo now belongs to nothing
    store = app.config.data_dir / "files"
    files = [p for p in store.rglob("*") if p.is_file()]
    assert len(files) == 3
    await app.maintain()
    assert len([p for p in store.rglob("*") if p.is_file()]) == 3  # too recent to judge
    month_ago = (dt.datetime.now(dt.UTC) - dt.timedelta(days=31)).timestamp()
    for path in files:
        os.utime(path, (month_ago, month_ago))
    await app.maintain()
    async with app.db.read() as session:
        linked = set((await session.scalars(select(EntryFile.path))).all())
    left = {p.relative_to(store).as_posix() for p in store.rglob("*") if p.is_file()}
    assert left == linked
    assert len(left) == 2


@pytest.fixture
async def awake_app(tmp_path: Path) -> AsyncIterator[App]:
    """The app with no quiet hours: news sent now is queued now, whatever the hour."""
    config = make_config(tmp_path)
    awake = dataclasses.replace(config.schedules, quiet_start=dt.time(0), quiet_end=dt.time(0))
    app = build_app(dataclasses.replace(config, schedules=awake))
    await app.prepare()
    yield app
    await app.close()


async def test_an_admin_who_sent_news_and_received_reminders_can_still_be_erased(
    awake_app: App,
) -> None:
    app = awake_app
    """Messages queued for the person, and what they sent or scheduled, do not hold their
    account back: the queue for them goes, what they sent stays without them."""
    for line in REGISTER:
        await say(app, line)
    await give(app, "admin")
    for line in ("/news", "Ngày hội việc làm thanh niên", "bỏ qua", "1", "1", "1", "1"):
        await say(app, line)
    for line in ("/reminders", "1", "1", "1", "5", "08:00", "bỏ qua", "1"):
        await say(app, line)
    async with app.db.read() as session:
        assert (await session.execute(text("SELECT count(*) FROM outbox"))).scalar() == 1
    await say(app, "/deleteme")
    assert "Dữ liệu của bạn đã được xóa" in await say(app, "1")
    async with app.db.read() as session:
        for query, expected in (
            ("SELECT count(*) FROM identities", 0),
            ("SELECT count(*) FROM outbox", 0),
            ("SELECT count(*) FROM broadcasts WHERE sender_identity_id IS NULL", 1),
            ("SELECT count(*) FROM schedules WHERE created_by_identity_id IS NULL", 1),
        ):
            assert (await session.execute(text(query))).scalar() == expected, query


# Where /mydata shows the rows of each table that point at a person (or their accounts).
SECTIONS = {
    ("identities", "member_id"): "accounts",
    ("consents", "member_id"): "consents",
    ("role_grants", "identity_id"): "roles",
    ("entries", "reporter_id"): "entries",
    ("reporter_months", "member_id"): "reported_months",
    ("outbox", "identity_id"): "messages_to_you",
    ("broadcasts", "sender_identity_id"): "broadcasts_you_sent",
    ("schedules", "created_by_identity_id"): "schedules_you_made",
    ("entry_participants", "member_id"): "activities_you_joined",
    ("unit_changes", "member_id"): "unit_changes",
    ("review_digests", "identity_id"): "review_digests_sent_to_you",
    ("certificates", "member_id"): "certificates",
    ("nominations", "proposer_id"): "nominations_you_proposed",
    ("nominations", "nominee_member_id"): "nominations_about_you",
    ("highlights", "member_id"): "honour_roll",
    ("contact_requests", "member_id"): "models_you_asked_to_learn_from",
    ("link_codes", "member_id"): "link_codes",
    ("link_codes", "identity_id"): "link_codes",
}


async def recognised(app: App) -> None:
    """The console member proposed a nomination of someone else, was proposed by another,
    is on the honour roll, and asked to learn from another model."""
    async with app.db.write() as session:
        me = (await session.execute(text("SELECT id, unit_id FROM members ORDER BY id"))).first()
        assert me is not None
        (other,) = await add_plain_members(session, 1)
        for proposer, nominee in ((me.id, other), (other, me.id)):
            session.add(
                Nomination(
                    award="giay-khen",
                    period="year:2026",
                    unit_id=me.unit_id,
                    proposer_id=proposer,
                    participant="individual",
                    nominee_member_id=nominee,
                    summary="Tích cực tham gia phong trào thanh niên tình nguyện.",
                    status="waiting",
                    level="tinh-doan",
                )
            )
        for member, title in ((me.id, "Của tôi"), (other, "Của bạn")):
            session.add(
                Highlight(
                    label="model",
                    kind="volunteer",
                    title=title,
                    citation="Một mô hình hay.",
                    unit_id=me.unit_id,
                    member_id=member,
                    consent="given",
                    marked_by="test",
                )
            )
        await session.flush()
        theirs = (
            await session.scalars(select(Highlight).where(Highlight.member_id == other))
        ).one()
        session.add(ContactRequest(highlight_id=theirs.id, member_id=me.id))


async def test_mydata_shows_every_row_of_every_table_that_points_at_the_person(
    awake_app: App,
) -> None:
    """Walks the schema: a new table pointing at members or accounts fails this test until
    /mydata shows it."""
    app = awake_app
    await member_with_entries(app)
    await give(app, "admin")
    for line in ("/news", "Ngày hội việc làm thanh niên", "bỏ qua", "1", "1", "1", "1"):
        await say(app, line)  # the admin is a member too: the news reaches them
    for line in ("/reminders", "1", "1", "1", "5", "08:00", "bỏ qua", "1"):
        await say(app, line)
    # As secretary they report their commune's clean-up; as a member they took part in it.
    await give(app, "secretary", "ls-x-na-sam")
    for line in ("/report", "2", "2", *VOLUNTEER[:3], "30", "4", *VOLUNTEER[5:], "1"):
        await say(app, line)
    for line in ("/report", "2", "1", *VOLUNTEER[:3], "1", *VOLUNTEER[4:]):
        await say(app, line)
    joining = await say(app, "1")  # submit: the branch reported it already
    assert "Chi đoàn của bạn đã báo cáo một hoạt động trong ngày này" in joining
    assert "Bạn đã ghi tên tham gia báo cáo #3" in await say(app, "1")
    for line in ("/profile", "🔁 Chuyển sinh hoạt sang đơn vị khác", "dong dang"):
        await say(app, line)
    async with app.db.write() as session:  # a reviewer is told what waits (bot.digests)
        identity = await identity_for(session, "console", "local")
        session.add(ReviewDigest(identity_id=identity.id, sent_at=utcnow(), seen_until=utcnow()))
        await add_certificate(  # and their certificate is in the register
            session,
            serial="01234567",
            kind=VOLUNTEER_HOURS,
            member_id=identity.member_id,
            holder="Hoàng Thị Mai",
            unit_name="Xã Na Sầm",
            details={"hours": 4, "from": "2026-01-01", "to": "2026-06-30"},
            issued_at=utcnow(),
            actor=CLI,
        )
    await recognised(app)
    await say(app, "/link")  # a code to join another account, not yet used
    await say(app, "/report")
    await say(app, "2")
    await say(app, "1")  # for themselves
    await say(app, "Dọn rác bờ suối")  # a form left half-way holds what they typed
    reply, question = await app.dispatcher.handle(parse_line("/mydata")) or []
    assert "Hoạt động diễn ra ngày nào?" in question.text  # the form goes on where it was
    assert reply.document is not None
    data = json.loads(reply.document.content)

    pointing = [
        (table.name, column.name)
        for table in Base.metadata.sorted_tables
        for column in table.columns
        for key in column.foreign_keys
        if key.column.table.name in ("members", "identities")
    ]
    assert set(pointing) == set(SECTIONS), "a table points at people: show it in /mydata"
    async with app.db.read() as session:
        member_id = (
            await session.execute(text("SELECT id FROM members ORDER BY id LIMIT 1"))
        ).scalar_one()
        for (table, column), section in SECTIONS.items():
            target = "member_id" if column in ("member_id", "reporter_id") else "identity"
            query = (
                f'SELECT count(*) FROM "{table}" WHERE "{column}" = :id'  # noqa: S608
                if target == "member_id"
                else f'SELECT count(*) FROM "{table}" WHERE "{column}" IN '  # noqa: S608
                "(SELECT id FROM identities WHERE member_id = :id)"
            )
            count = (await session.execute(text(query), {"id": member_id})).scalar_one()
            assert count > 0, f"the test should create a row of {table}"
            assert len(data[section]) == count, (table, section)
    assert data["forms_in_progress"][0]["answers"]["activity"] == "Dọn rác bờ suối"


@pytest.mark.parametrize(
    ("age", "registered"),
    [(14, False), (15, False), (16, True), (17, True), (30, True), (31, False)],
)
async def test_every_member_has_a_recorded_consent_and_nobody_under_16_registers(
    app: App, age: int, registered: bool
) -> None:
    year = dt.datetime.now(app.config.tz).year - age
    name, _year, *rest = REGISTER[2:]
    for line in (*REGISTER[:2], name, str(year), *rest):
        await say(app, line)
    async with app.db.read() as session:
        members = (await session.execute(text("SELECT id, is_minor FROM members"))).all()
        consents = (
            await session.execute(
                text("SELECT member_id, notice_version, accepted_at FROM consents")
            )
        ).all()
        stored = json.dumps(
            [
                list(map(str, row))
                for row in (await session.execute(text("SELECT * FROM dialogues"))).all()
            ],
            ensure_ascii=False,
        )
    assert bool(members) is registered
    if registered:
        ((member_id, is_minor),) = members
        assert bool(is_minor) is (age < 18)
        ((consent_member, version, accepted_at),) = consents
        assert (consent_member, version) == (member_id, app.config.consent_version)
        assert accepted_at is not None
    else:
        assert consents == []
        assert name not in stored  # a refused person's answers are not kept


# -- what an erasure leaves in the files -------------------------------------------------------

PROFILE_NAME = "Mai Hoàng Riêng"  # the name on the Telegram account, sent with every message
DRAFT = "Ghi chú riêng tư chưa từng gửi đi"  # typed into a form never submitted
ERASED_USER = 61_001


def in_files(database: Path, value: str) -> list[str]:
    """Which of the database's files hold `value`: as typed, or as JSON escapes it."""
    forms = {value.encode(), json.dumps(value)[1:-1].encode()}
    found = []
    for path in (database, database.with_name(database.name + "-wal")):
        raw = path.read_bytes() if path.exists() else b""
        if any(form in raw for form in forms):
            found.append(path.name)
    return found


async def test_erased_data_is_gone_from_the_database_file_and_its_log(
    tmp_path: Path, no_proxy: None
) -> None:
    """Read as bytes, neither the SQLite file nor its write-ahead log keeps the name, the
    phone, what was typed in a form, or the account's profile once /deleteme is confirmed."""
    async with FakeBotApi() as server:
        channel = await started(telegram_config(tmp_path, server))
        try:
            for transaction in (channel.app.db.read, channel.app.db.write):
                async with transaction() as session:
                    assert (await session.execute(text("PRAGMA secure_delete"))).scalar() == 1
            mai = TelegramUser(server, channel, ERASED_USER)

            async def says(line: str) -> str:
                return texts(
                    await mai.step(
                        lambda: server.user_message(mai.id, line, first_name=PROFILE_NAME)
                    )
                )

            for line in (*REGISTER[:2], NAME, "2004", "na sam", "0912 345 678", "1"):
                await says(line)
            for line in ("/report", "2", *VOLUNTEER[:-1]):
                await says(line)
            assert "không được lưu" in await says("/cancel")  # many answers: asked once
            await says("/cancel")
            await says("/report")
            await says("2")
            assert "Hoạt động diễn ra ngày nào?" in await says(DRAFT)
            await says("/cancel")  # gone from the tables, not yet from the files
            database = tmp_path / "bot.sqlite3"
            needles = [NAME, PHONE, "0912 345 678", DRAFT, PROFILE_NAME, VOLUNTEER[7]]
            assert in_files(database, DRAFT), "the test should see what it looks for"
            assert "Thao tác này không thể hoàn tác" in await says("/deleteme")
            assert "Dữ liệu của bạn đã được xóa" in await says("1")
            await channel.app.dispatcher.settle()
            for needle in needles:
                assert not in_files(database, needle), needle
            # Later writes (and the hourly maintenance) bring nothing back.
            await says("/help")
            await channel.app.maintain()
            for needle in needles:
                assert not in_files(database, needle), needle
        finally:
            await stopped(channel)


async def test_the_database_files_are_readable_by_their_owner_only(app: App) -> None:
    database = Path(str(app.db.url.database))
    await say(app, "/start")
    for path in (database, database.with_name(database.name + "-wal")):
        assert path.stat().st_mode & 0o777 == 0o600, path.name


# -- the audit log ------------------------------------------------------------------------------


async def audit_rows(app: App) -> list[AuditRecord]:
    async with app.db.read() as session:
        return list((await session.scalars(select(AuditRecord).order_by(AuditRecord.id))).all())


def about(
    records: list[AuditRecord], identity_ids: set[int], member_id: int, entry_ids: set[int]
) -> list[AuditRecord]:
    """The rows by or about the person, found the slow way: every row's actor and details."""
    actors = {f"identity:{n}" for n in identity_ids}
    return [
        record
        for record in records
        if record.actor in actors
        or record.details.get("member_id") == member_id
        or record.details.get("identity_id") in identity_ids
        or record.details.get("entry_id") in entry_ids
    ]


async def approved_by_a_secretary(app: App) -> None:
    """Lý Văn Sơn, secretary of Na Sầm, approves the oldest waiting entry in the chat."""
    reviewer = Chat(app, "son")
    await register(reviewer, "Lý Văn Sơn", "na sam")
    await give_to(app, "son", "secretary", "ls-x-na-sam")
    assert "#2" in joined(await reviewer.send("/review"))
    await reviewer.send("1")


async def test_mydata_shows_the_audit_rows_by_and_about_the_member(app: App) -> None:
    await member_with_entries(app)
    await give(app, "secretary", "ls-x-na-sam")  # by someone else, about them
    await approved_by_a_secretary(app)
    await say(app, "/mydata")  # recorded too: the next copy shows it
    reply, *_ = await app.dispatcher.handle(parse_line("/mydata")) or []
    assert reply.document is not None
    data = json.loads(reply.document.content)
    assert "Các thao tác do bạn thực hiện hoặc liên quan đến bạn:" in reply.text

    records = await audit_rows(app)
    async with app.db.read() as session:
        identities = set(
            (
                await session.scalars(text("SELECT id FROM identities WHERE user_id = 'local'"))
            ).all()
        )
    *expected, this_copy = about(records, identities, data["profile"]["member_id"], {1, 2})
    assert this_copy.action == "member.data_copied"  # recorded after the copy was made
    shown = [(row["action"], row["by_you"]) for row in data["audit_log"]]
    assert shown == [
        (r.action, r.actor.startswith("identity:") and int(r.actor[9:]) in identities)
        for r in expected
    ]
    assert ("member.registered", True) in shown
    assert ("entry.submitted", True) in shown
    assert ("role.granted", False) in shown
    assert ("entry.approved", False) in shown
    assert ("member.data_copied", True) in shown
    assert len(set(shown)) == 5


async def test_after_erasure_the_audit_keeps_what_happened_but_not_who(app: App) -> None:
    await member_with_entries(app)
    await give(app, "secretary", "ls-x-na-sam")
    await approved_by_a_secretary(app)
    async with app.db.read() as session:
        member_id = (
            await session.execute(text("SELECT id FROM members WHERE full_name = :n"), {"n": NAME})
        ).scalar_one()
        identities = set(
            (
                await session.scalars(text("SELECT id FROM identities WHERE user_id = 'local'"))
            ).all()
        )
    before = about(await audit_rows(app), identities, member_id, {1, 2})
    assert len(before) >= 5
    await say(app, "/deleteme")
    assert "Dữ liệu của bạn đã được xóa" in await say(app, "1")

    records = await audit_rows(app)
    kept = {record.id: record for record in records}
    actors = {f"identity:{n}" for n in identities}
    for old in before:
        record = kept[old.id]  # every row stays: what was done, and when
        assert (record.action, record.at) == (old.action, old.at)
        assert record.actor not in actors
        assert record.subject is None
        assert record.details.get("member_id") != member_id
        assert record.details.get("identity_id") not in identities
        if old.actor in actors:
            assert record.actor == ERASED
    assert about(records, identities, member_id, set()) == []
    (erasure,) = [r for r in records if r.action == "member.deleted"]
    assert erasure.details == {
        "kept_anonymised": 2,
        "kept_for_units": 0,
        "deleted_entries": 0,
        "withdrawn_certificates": 0,
    }
    # Nothing else in the database names them as an actor either.
    async with app.db.read() as session:
        for column in ACTOR_COLUMNS:
            found = await session.scalar(select(column).where(column.in_(actors)).limit(1))
            assert found is None, column
    # The secretary's actions stay theirs.
    assert any(r.action == "entry.approved" and r.actor.startswith("identity:") for r in records)


def test_every_column_that_names_an_actor_is_anonymised_on_erasure() -> None:
    """Columns ending in _by hold who acted ("identity:12"), like the audit log's actor."""
    named = {
        (table.name, column.name)
        for table in Base.metadata.sorted_tables
        for column in table.columns
        if column.name.endswith("_by") and isinstance(column.type, String)
    }
    assert named | {("audit_log", "actor")} == {
        (column.class_.__tablename__, column.key) for column in ACTOR_COLUMNS
    }


# -- collective entries -------------------------------------------------------------------------


async def test_erasing_a_secretary_keeps_their_units_collective_entries(app: App) -> None:
    """An entry filed on behalf of a unit is the unit's: it stays, waiting or decided, with its
    evidence and in the statistics, without who filed it."""
    for line in REGISTER:
        await say(app, line)
    await give(app, "secretary", "ls-x-na-sam")
    for behalf, colour in (("2", "green"), ("1", "yellow")):  # the unit's, then their own
        await say(app, "/report")
        await say(app, "2")
        await say(app, behalf)
        for answer in VOLUNTEER[:-1]:
            await say(app, answer)
        await send_photo(app, jpeg(colour), f"{colour}.jpg")
        await say(app, "xong")
        await say(app, "1")
    collective, own = await entries(app)
    assert (collective.collective, own.collective) == (True, False)
    async with app.db.read() as session:
        totals_before = (
            await session.execute(
                text("SELECT unit_id, kind, status, entries FROM stat_totals WHERE entries > 0")
            )
        ).all()
    store = app.config.data_dir / "files"

    await say(app, "/deleteme")
    done = await say(app, "1")
    assert "1 báo cáo bạn gửi thay mặt đơn vị vẫn thuộc về đơn vị đó" in done

    (kept,) = await entries(app)
    assert (kept.id, kept.collective, kept.status, kept.reporter_id) == (
        collective.id,
        True,
        "submitted",
        None,
    )
    async with app.db.read() as session:
        files = (
            await session.scalars(select(EntryFile).where(EntryFile.entry_id == kept.id))
        ).all()
        totals_after = (
            await session.execute(
                text("SELECT unit_id, kind, status, entries FROM stat_totals WHERE entries > 0")
            )
        ).all()
        revisions = (
            await session.execute(
                text("SELECT count(*) FROM entry_revisions WHERE entry_id = :id"), {"id": kept.id}
            )
        ).scalar()
    assert [f.original_name for f in files] == ["green.jpg"]
    assert [p.name for p in store.rglob("*") if p.is_file()] == [files[0].path.rsplit("/", 1)[-1]]
    assert revisions == 1
    assert len(totals_after) == 1 and totals_after[0][3] == 1  # the unit's entry still counts
    assert len(totals_before) == 1 and totals_before[0][3] == 2
    # It can still be reviewed, at the level above the unit as any collective entry.
    reviewer = Chat(app, "son")
    await register(reviewer, "Lý Văn Sơn", "na sam")
    await give_to(app, "son", "admin")
    assert f"#{kept.id}" in joined(await reviewer.send("/review"))
