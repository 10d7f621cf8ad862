"""Data-subject rights: /mydata holds everything stored about the member; /deleteme (or
withdrawing consent) leaves no personal data in any table or in the file store."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import uuid

import pytest
from PIL import Image
from sqlalchemy import inspect as schema
from sqlalchemy import select, text, update

from bot.app import App
from bot.channels.console import parse_line
from bot.events import Attachment, Inbound, InboundKind, Reply
from bot.evidence import EvidenceStore
from models import Base, Entry, EntryFile
from tests.test_admin import give
from tests.test_reporting import REGISTER, VOLUNTEER, entries, say

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
    for line in (*REGISTER[:-1], "0912 345 678"):
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
    assert f"Họ và tên: {NAME}" in reply.text
    assert "Báo cáo: 2" in reply.text
    assert reply.document is not None
    data = json.loads(reply.document.content)
    assert data["profile"]["full_name"] == NAME
    assert data["profile"]["phone"] == PHONE
    assert data["profile"]["unit"]["name"] == "Xã Na Sầm"
    assert data["consents"][0]["notice_version"] == "2026-11-27"
    assert data["accounts"] == [
        {
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


async def test_an_admin_who_sent_news_and_received_reminders_can_still_be_erased(
    app: App,
) -> None:
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
}


async def test_mydata_shows_every_row_of_every_table_that_points_at_the_person(
    app: App,
) -> None:
    """Walks the schema: a new table pointing at members or accounts fails this test until
    /mydata shows it."""
    await member_with_entries(app)
    await give(app, "admin")
    for line in ("/news", "Ngày hội việc làm thanh niên", "bỏ qua", "1", "1", "1", "1"):
        await say(app, line)  # the admin is a member too: the news reaches them
    for line in ("/reminders", "1", "1", "1", "5", "08:00", "bỏ qua", "1"):
        await say(app, line)
    await say(app, "/report")
    await say(app, "2")
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
        member_id = (await session.execute(text("SELECT id FROM members"))).scalar_one()
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
