"""Abuse and security: who may do what (every command, menu entry and form button, forged ones
included), hostile text shown back as HTML, hostile uploads, and a user flooding the bot.

The role matrix talks to the dispatcher directly; the rest runs end to end over HTTP against
the fake Bot API server, which parses HTML and checks lengths like Telegram.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import functools
import io
import itertools
import json
import logging
import re
import sqlite3
import statistics
import string
import struct
import time
import uuid
import zipfile
import zlib
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import Any

import httpx
import pytest
from babel.messages.pofile import read_po
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from sqlalchemy import select

from bot.app import App, build_app
from bot.channels.console import parse_line
from bot.channels.runtime import Channel
from bot.config import ConfigError, FloodConfig
from bot.dialogue import FieldKind
from bot.events import Attachment, Inbound, InboundKind, Reply
from bot.evidence import EvidenceStore, StoredFile
from bot.fields import Invalid, parse_text
from bot.text import escape, nfc
from domain.text import BIDI_CONTROLS
from handlers.registration import is_full_name
from models.people import grant_role, identity_for
from models.tables import Unit
from tests.botapi import FakeBotApi, SentMessage
from tests.botapi.server import render_html
from tests.conftest import ROOT, make_config, run_bot
from tests.faults_support import database_rows
from tests.test_evidence import ACTIVE_PDF, SCRIPT, pdf_of
from tests.test_reporting import VOLUNTEER
from tests.test_telegram import started, stopped, telegram_config
from tests.test_zalo import at_the_evidence_step, zalo_config
from tests.zaloapi import FakeZaloBotApi

# The dispatcher's apology for a handler that raised: it must never be the answer to abuse.
APOLOGY = "hệ thống vừa gặp sự cố"
NO_LONGER_ACTIVE = "That button is no longer active. Here is the menu:"
MAX_TEXT = 4096
log = logging.getLogger(__name__)

# -- who may do what ---------------------------------------------------------------------------

# Commands each role may use. Anything else, including every command added later, must be
# refused to that role: secure by default, so a new command fails here until classified.
PUBLIC_COMMANDS = frozenset(
    {"start", "join", "menu", "help", "cancel", "back", "language", "verify", "highlights"}
    | {"link"}  # a stranger is told how; a code typed joins their account to its owner
)
MEMBER_COMMANDS = PUBLIC_COMMANDS | {
    "report",
    "myentries",
    "totals",
    "mydata",
    "profile",
    "deleteme",
    "withdrawconsent",
    "stop",
    "certificate",
}
SECRETARY_COMMANDS = MEMBER_COMMANDS | {
    "review",
    "invite",
    "broadcast",
    "broadcasts",
    "stats",
    "units",
    "export",
    "periodreport",
    "nominations",
}
STRANGER_MENU = frozenset({"register", "language", "help"})
MEMBER_MENU = frozenset(
    {"report", "entries", "totals", "certificate", "profile", "language", "highlights", "help"}
)
SECRETARY_MENU = MEMBER_MENU | {"review", "invite", "broadcast", "stats", "export", "nominations"}
ALLOWED_COMMANDS = {
    "stranger": PUBLIC_COMMANDS,
    "member": MEMBER_COMMANDS,
    "secretary": SECRETARY_COMMANDS,
}
ALLOWED_MENU = {"stranger": STRANGER_MENU, "member": MEMBER_MENU, "secretary": SECRETARY_MENU}
# Where each role has a form of its own open while pressing buttons of forms it never opened.
OWN_FORM = {"stranger": "/start", "member": "/report", "secretary": "/broadcast"}

# Option values that handlers offer somewhere, for fields whose options depend on the person.
KEYWORDS = (
    "new",
    "back",
    "close",
    "edit",
    "cancel",
    "text",
    "time",
    "send",
    "yes",
    "no",
    "fix",
    "withdraw",
    "evidence",
    "list",
    "prev",
    "next",
    "self",
    "all",
    "grant:admin",
    "grant:secretary",
    "1|grant:admin",
    "1|revoke:admin:",
    "revoke:admin:",
    "initiative",
    "volunteer",
    # Buttons that name a record (an entry at a revision, a request, a scheduled item).
    "edit:1:1",
    "withdraw:1:1",
    "approve:1:1",
    "reject:1:1",
    "skip:1:1",
    "approve:1",
    "cancel:1",
    "full_name",
    "unit",
    "movement",
    "own",
    # Nominations and the honour roll: their menus, and buttons that name a record.
    "grant:appraiser",
    "1|grant:appraiser",
    "queue",
    "candidates",
    "propose",
    "ladder",
    "m:1",
    "u:1",
    "pass:1:1",
    "award:1:1",
    "return:1:1",
    "yes:1",
    "no:1",
    "learn:1",
    "remove:1",
    "dossier:1:1",
    "certificate:1:1",
    "batch",
    "later",
    "newest",
    "kind",
    "commune",
    "mark",
    "hide",
    "phone",
    "name",
    "programme",
)
ODD_BUTTONS = (
    "",
    "m:",
    "m:../campaigns",
    "m:campaigns ",
    "M:CAMPAIGNS",
    "f:",
    "f:review",
    "f:review:decision",
    "f:review:decision:",
    "f::::",
    "nav:back",
    "nav:cancel",
    "nav:submit",
    "f:campaign_action:action:close:extra",
    "f:review:decision:approve\x00",
    "ф:review:decision:approve",
)

REPORTER = "reporter"  # a member of Xã Na Sầm whose entry waits for review
NEIGHBOUR = "neighbour"  # a member of Xã Đồng Đăng
NA_SAM_PEOPLE = ("Hoàng Thị Mai", "Vi Văn Tùng", "Nông Thị Hà")


class Chat:
    """Someone typing and pressing buttons in a private chat, straight into the dispatcher."""

    def __init__(self, app: App, user: str) -> None:
        self.app = app
        self.user = user

    async def send(self, line: str) -> list[Reply]:
        inbound = dataclasses.replace(
            parse_line(line, language="vi"), user_id=self.user, chat_id=self.user
        )
        return await self._handle(inbound)

    async def press(self, data: str) -> list[Reply]:
        inbound = Inbound(
            channel="console",
            update_key=uuid.uuid4().hex,
            user_id=self.user,
            chat_id=self.user,
            kind=InboundKind.BUTTON,
            button=data,
            client_language="vi",
        )
        return await self._handle(inbound)

    async def attach(self, stored: StoredFile, kind: str, file_name: str) -> list[Reply]:
        """Sends a file the channel has fetched, checked and stored already."""
        attachment = Attachment(
            f"file-{uuid.uuid4().hex}",
            "document" if kind == "document" else "photo",
            file_name=file_name,
            mime_type=stored.mime,
            size=stored.size,
            sha256=stored.sha256,
            path=stored.relative_path,
        )
        inbound = Inbound(
            channel="console",
            update_key=uuid.uuid4().hex,
            user_id=self.user,
            chat_id=self.user,
            kind=InboundKind.DOCUMENT if kind == "document" else InboundKind.PHOTO,
            attachments=(attachment,),
            client_language="vi",
        )
        return await self._handle(inbound)

    async def _handle(self, inbound: Inbound) -> list[Reply]:
        replies = await self.app.dispatcher.handle(inbound) or []
        text = joined(replies)
        assert replies, f"no answer to {inbound.kind} {inbound.text or inbound.button!r}"
        assert APOLOGY not in text, f"{inbound.text or inbound.button!r} crashed a handler"
        return replies


def joined(replies: Iterable[Reply]) -> str:
    return "\n\n".join(reply.text for reply in replies)


def db_file(app: App) -> Path:
    url = app.config.database.url
    return Path(url.split("///", 1)[1])


def snapshot(app: App, *, only: Iterable[str] | None = None) -> dict[str, list[Any]]:
    """Every row of every table but the inbox (which records each update by design)."""
    with sqlite3.connect(db_file(app)) as db:
        tables = [
            name
            for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if name != "inbox" and (only is None or name in set(only))
        ]
        return {
            table: sorted(db.execute(f"SELECT * FROM {table}").fetchall(), key=repr)  # noqa: S608
            for table in tables
        }


def changes(before: dict[str, list[Any]], after: dict[str, list[Any]]) -> dict[str, Any]:
    """The rows that appeared or went, per table: {} when nothing changed."""
    diff: dict[str, Any] = {}
    for table in before.keys() | after.keys():
        old, new = before.get(table, []), after.get(table, [])
        if old != new:
            diff[table] = {
                "gone": [row for row in old if row not in new],
                "new": [row for row in new if row not in old],
            }
    return diff


@dataclasses.dataclass
class World:
    """A stranger, a member, a secretary of Xã Đồng Đăng and an admin; members of Na Sầm and
    Đồng Đăng with entries; and the things admins act on: a campaign, scheduled news, a
    running broadcast and an invitation."""

    app: App
    chats: dict[str, Chat]
    ids: dict[str, list[int]]

    def translate(self, msgid: str) -> str:
        return self.app.catalogs.translator("vi", self.app.config.tz).gettext(msgid)


async def run(chat: Chat, lines: Iterable[str]) -> list[Reply]:
    """Types each line, expecting no warning on the way."""
    replies: list[Reply] = []
    for line in lines:
        replies = await chat.send(line)
        assert "⚠️" not in joined(replies), f"{line!r}: {joined(replies)}"
    return replies


async def register(chat: Chat, name: str, unit: str) -> None:
    replies = await run(chat, ("/start", "1", name, "2004", unit, "bỏ qua", "1"))
    assert "Bạn đã đăng ký thành công" in joined(replies), joined(replies)


async def report(chat: Chat) -> None:
    replies = await run(chat, ("/report", "2", *VOLUNTEER, "1"))
    assert "✅ Đã lưu" in joined(replies), joined(replies)


async def give(app: App, user: str, role: str, unit_code: str | None = None) -> None:
    async with app.db.write() as session:
        identity = await identity_for(session, "console", user)
        unit = None
        if unit_code is not None:
            unit = (await session.scalars(select(Unit).where(Unit.code == unit_code))).one()
        await grant_role(session, identity, role, unit, granted_by="test")


OWN_ENTRIES = (
    "SELECT e.id FROM entries e JOIN identities i ON i.member_id = e.reporter_id "
    "WHERE i.user_id = ? ORDER BY e.id"
)


def ids_of(app: App) -> dict[str, list[int]]:
    with sqlite3.connect(db_file(app)) as db:

        def column(query: str, *params: str) -> list[int]:
            return [row[0] for row in db.execute(query, params).fetchall()]

        return {
            "entries": column("SELECT id FROM entries ORDER BY id"),
            "reporter_entries": column(OWN_ENTRIES, REPORTER),
            "member_entries": column(OWN_ENTRIES, "member"),
            "campaigns": column("SELECT id FROM campaigns WHERE is_default = 0"),
            "schedules": column("SELECT id FROM schedules WHERE status = 'active'"),
            "broadcasts": column("SELECT id FROM broadcasts WHERE status = 'running'"),
            "invites": column("SELECT id FROM invites"),
            "members": column("SELECT id FROM members"),
            "units": column(
                "SELECT id FROM units WHERE code IN ('ls-x-na-sam', 'ls-x-dong-dang')"
            ),
            "na_sam": column("SELECT id FROM units WHERE code = 'ls-x-na-sam'"),
        }


async def build_world(app: App) -> World:
    chats = {
        name: Chat(app, name)
        for name in ("stranger", "member", "secretary", "admin", REPORTER, NEIGHBOUR)
    }
    await chats["stranger"].send("/help")  # first contact: the identity exists from now on
    await register(chats[REPORTER], NA_SAM_PEOPLE[0], "na sam")
    await report(chats[REPORTER])
    await register(chats["member"], NA_SAM_PEOPLE[1], "na sam")
    await report(chats["member"])
    await register(chats[NEIGHBOUR], "Lương Thị Hoa", "dong dang")
    await register(chats["secretary"], "Lý Văn Sơn", "dong dang")
    await give(app, "secretary", "secretary", "ls-x-dong-dang")
    await register(chats["admin"], NA_SAM_PEOPLE[2], "na sam")
    await give(app, "admin", "admin")

    admin = chats["admin"]
    later = (dt.datetime.now(app.config.tz) + dt.timedelta(days=40)).strftime("%d/%m/%Y")
    created = await run(
        admin,
        ("/campaigns", "1", "Thi đua năm 2027", "bỏ qua", "01/01/2027", "31/12/2027", "1, 2, 3"),
    )
    assert "kiểm tra trước khi gửi" in joined(created), joined(created)
    await run(admin, ("1",))
    news = ("/news", "Tin thử nghiệm cho đoàn viên", "bỏ qua", "1", "1", "2", f"{later} 09:00")
    await run(admin, (*news, "1"))
    await run(admin, ("/broadcast", "Thông báo thử nghiệm cho đoàn viên", "bỏ qua", "1", "1"))
    await run(admin, ("1",))
    await run(admin, ("/invite ls-x-na-sam",))
    world = World(app, chats, ids_of(app))
    for kind in ("campaigns", "schedules", "broadcasts", "invites", "reporter_entries"):
        assert world.ids[kind], f"the setup made no {kind}"
    return world


@pytest.fixture
async def world(app: App) -> World:
    return await build_world(app)


def forged_buttons(world: World) -> dict[str, list[str]]:
    """Callback data for every field of every form, by form: the static options, and for
    options that depend on the person the ids of things that exist and the values handlers
    offer; the review's own buttons; every menu entry; and malformed data."""
    pool = set(KEYWORDS) | {str(ids[0]) for ids in world.ids.values() if ids}
    groups: dict[str, list[str]] = {"odd": list(ODD_BUTTONS)}
    for form in world.app.router.forms.values():
        buttons = []
        for field in form.fields:
            values = {option.value for option in field.options}
            if field.options_for is not None or field.kind is FieldKind.UNIT:
                values |= pool
            if not values:
                values = {"x"}  # a typed answer's field: a button is never its answer
            if field.optional or field.kind in (FieldKind.MULTI_CHOICE, FieldKind.PHOTOS):
                values |= {"_skip", "_done"}
            buttons += [f"f:{form.name}:{field.name}:{value}" for value in sorted(values)]
        buttons += [f"f:{form.name}:_review:_submit", f"f:{form.name}:_review:_change"]
        groups[form.name] = buttons
    groups["menu"] = [f"m:{item.key}" for item in world.app.router.menu]
    return groups


async def refused(
    world: World,
    chat: Chat,
    *,
    say: str | None = None,
    press: str | None = None,
    answer: str | None = None,
) -> list[Reply]:
    """Types or presses something that must change nothing; returns the polite answer."""
    what = repr(say if press is None else press)
    before = snapshot(world.app)
    replies = await (chat.send(say or "") if press is None else chat.press(press))
    diff = changes(before, snapshot(world.app))
    assert not diff, f"{chat.user}: {what} changed the database: {diff}"
    if answer is not None:
        assert answer in joined(replies), f"{chat.user}: {what}: {joined(replies)!r}"
    return replies


@pytest.mark.parametrize("role", ["stranger", "member", "secretary"])
async def test_every_command_beyond_the_role_is_refused_and_changes_nothing(
    world: World, role: str
) -> None:
    chat = world.chats[role]
    commands = world.app.router.commands
    for name in commands:
        if name in ALLOWED_COMMANDS[role]:
            await chat.send(f"/{name}")  # allowed: it may open a form, which is closed again
            await chat.send("/cancel")
            continue
        await refused(world, chat, say=f"/{name}")
    # Aimed at somebody else's unit: refused to a secretary of another commune too.
    for line in ("/invite ls-x-na-sam", "/stats na sam", "/stats đồng đăng", "/invite x"):
        if role == "secretary" and line == "/stats đồng đăng":
            continue  # their own
        await refused(world, chat, say=line)


@pytest.mark.parametrize("role", ["stranger", "member", "secretary"])
async def test_every_menu_entry_beyond_the_role_is_refused_pressed_or_typed(
    world: World, role: str
) -> None:
    chat = world.chats[role]
    inactive = world.translate(NO_LONGER_ACTIVE)
    for item in world.app.router.menu:
        label = world.translate(item.label)
        if item.key in ALLOWED_MENU[role]:
            await chat.press(f"m:{item.key}")
            await chat.send("/cancel")
            continue
        await refused(world, chat, press=f"m:{item.key}", answer=inactive)
        await refused(world, chat, say=label)


@pytest.mark.parametrize("role", ["stranger", "member", "secretary"])
async def test_forged_buttons_of_forms_never_opened_change_nothing(
    world: World, role: str
) -> None:
    chat = world.chats[role]
    groups = forged_buttons(world)
    groups["menu"] = [
        data for data in groups["menu"] if data.removeprefix("m:") not in ALLOWED_MENU[role]
    ]
    assert sum(map(len, groups.values())) > 300
    # With no form open, a form's button finds nothing to answer: the menu instead.
    inactive = world.translate(NO_LONGER_ACTIVE)
    for group, buttons in groups.items():
        before = snapshot(world.app)
        for data in buttons:
            text = joined(await chat.press(data))
            assert inactive in text, f"{role} pressed {data!r}: {text!r}"
        diff = changes(before, snapshot(world.app))
        assert not diff, f"{role} pressing buttons of {group} changed the database: {diff}"

    # With a form of their own open, another form's button is only "an earlier question".
    own = await chat.send(OWN_FORM[role])
    assert own[-1].choices, joined(own)
    with sqlite3.connect(db_file(world.app)) as db:
        row = db.execute("SELECT form FROM dialogues WHERE chat_id = ?", (role,)).fetchone()
    open_form = row[0]
    earlier = world.translate("That button belongs to an earlier question.")
    before = snapshot(world.app)
    for group, buttons in groups.items():
        if group in ("odd", "menu", open_form):
            continue
        for data in buttons[:: max(1, len(buttons) // 8)]:  # a sample: the prefix decides
            text = joined(await chat.press(data))
            assert earlier in text, f"{role} in {open_form} pressed {data!r}: {text!r}"
    diff = changes(before, snapshot(world.app))
    assert not diff, f"{role}: buttons of other forms changed the database: {diff}"
    await chat.send("/cancel")


async def test_forged_values_inside_forms_one_may_open_are_refused(world: World) -> None:
    """A member or secretary in a form of their own, pressing an option it never offered:
    someone else's entry, a unit outside theirs, an invitation of another unit."""
    earlier = world.translate("That button belongs to an earlier question.")
    victim = world.ids["reporter_entries"][0]
    na_sam = world.ids["na_sam"][0]
    member, secretary = world.chats["member"], world.chats["secretary"]

    await member.send("/myentries")
    await refused(world, member, press=f"f:my_entries:pick:{victim}", answer=earlier)
    own = world.ids["member_entries"][0]  # submitted: not to be "fixed", and has no files
    detail = await member.press(f"f:my_entries:pick:{own}")
    assert f"#{own}" in joined(detail)
    for action in ("fix", "evidence"):
        await refused(world, member, press=f"f:entry:action:{action}", answer=earlier)
    await member.send("/cancel")

    await secretary.send("/broadcast")
    await secretary.send("Họp chi đoàn tối thứ Sáu")
    await secretary.send("bỏ qua")
    await refused(world, secretary, press=f"f:broadcast:units:{na_sam}", answer=earlier)
    await secretary.send("/cancel")
    await secretary.send("/units")
    await refused(world, secretary, press=f"f:subunit:parent:{na_sam}", answer=earlier)
    await secretary.send("/cancel")
    await secretary.send("/report")
    await secretary.send("2")
    await refused(world, secretary, press=f"f:volunteer:on_behalf:{na_sam}", answer=earlier)
    await secretary.send("/cancel")
    await secretary.send("/invite")  # the first one creates an invitation to Đồng Đăng
    await secretary.send("/invite")  # now the list, with a choice to revoke
    na_sam_invite = world.ids["invites"][0]
    await refused(world, secretary, press=f"f:invite:action:{na_sam_invite}", answer=earlier)
    await secretary.send("/cancel")


def move_entry(app: App, entry_id: int, unit_code: str) -> None:
    """As if an admin corrected the entry's unit (and so who reviews it) while a reviewer had
    it open."""
    with sqlite3.connect(db_file(app)) as db:
        db.execute(
            "UPDATE entries SET unit_id = (SELECT id FROM units WHERE code = ?), "
            "review_unit_id = (SELECT id FROM units WHERE code = ?) WHERE id = ?",
            (unit_code, unit_code, entry_id),
        )


async def test_a_secretary_cannot_decide_an_entry_outside_their_units(world: World) -> None:
    app, secretary = world.app, world.chats["secretary"]
    decided = ("entries", "entry_revisions", "audit_log", "stat_totals", "reporter_months")

    # Nothing of Na Sầm's is offered, and a forged decision finds no review to answer.
    assert "Sửa đường vào thôn Bản Chu" not in joined(await secretary.send("/review"))
    for decision in ("approve", "reject", "skip"):
        await refused(world, secretary, press=f"f:review:decision:{decision}")

    # An entry of their own unit is on the card; it moves to Na Sầm before they decide.
    await report(world.chats[NEIGHBOUR])
    with sqlite3.connect(db_file(app)) as db:
        (entry_id,) = db.execute("SELECT max(id) FROM entries").fetchone()
    assert "Lương Thị Hoa" in joined(await secretary.send("/review"))
    move_entry(app, entry_id, "ls-x-na-sam")
    before = snapshot(app, only=decided)
    moved = await secretary.press(f"f:review:decision:approve:{entry_id}:1")
    assert not changes(before, snapshot(app, only=decided))
    assert "không còn thuộc các đơn vị bạn xét duyệt" in joined(moved)

    move_entry(app, entry_id, "ls-x-dong-dang")
    assert "Lương Thị Hoa" in joined(await secretary.send("/review"))
    await secretary.press(f"f:review:decision:reject:{entry_id}:1")
    move_entry(app, entry_id, "ls-x-na-sam")
    before = snapshot(app, only=decided)
    await secretary.send("Thiếu ảnh minh chứng của hoạt động")
    assert not changes(before, snapshot(app, only=decided))
    with sqlite3.connect(db_file(app)) as db:
        (status,) = db.execute("SELECT status FROM entries WHERE id = ?", (entry_id,)).fetchone()
    assert status == "submitted"


async def test_what_a_secretary_may_open_shows_and_reaches_only_their_units(
    world: World,
) -> None:
    """Review, statistics, reminders, broadcasts and exports of a secretary of Đồng Đăng: none
    shows or reaches anything of Na Sầm."""
    app, secretary = world.app, world.chats["secretary"]

    def outbox() -> set[tuple[int, str]]:
        with sqlite3.connect(db_file(app)) as db:
            return set(db.execute("SELECT id, chat_id FROM outbox"))

    queued = outbox()  # the admin's broadcast to everyone
    for line in ("/review", "/broadcasts"):
        shown = joined(await secretary.send(line))
        assert "Sửa đường vào thôn Bản Chu" not in shown, shown
        assert "Thông báo thử nghiệm" not in shown, shown
    await secretary.send("/stats")
    silent = joined(await secretary.press("f:stats_more:next:silent"))
    assert "Lương Thị Hoa" in silent, silent
    assert not [name for name in NA_SAM_PEOPLE if name in silent], silent
    await secretary.press("f:stats_remind:remind:yes")
    await run(secretary, ("/broadcast", "Họp chi đoàn tối thứ Sáu", "bỏ qua", "1", "1", "1"))
    reached = sorted(chat for _, chat in outbox() - queued)
    # The reminder to those who have not reported, then the broadcast: Đồng Đăng only.
    assert reached == sorted([NEIGHBOUR, "secretary"] * 2), reached
    exported = await run(secretary, ("/export", "1", "1", "1", "1", "2"))
    assert "Không có báo cáo nào" in joined(exported), joined(exported)


async def test_the_admin_may_do_what_the_others_are_refused(world: World) -> None:
    """The positive control: the refusals above are refusals, not broken features."""
    admin, member = world.chats["admin"], world.chats["member"]
    inactive = world.translate(NO_LONGER_ACTIVE)
    for name in world.app.router.commands:
        refusal = joined(await member.send(f"/{name}"))
        await member.send("/cancel")
        answer = joined(await admin.send(f"/{name}"))
        await admin.send("/cancel")
        if name not in MEMBER_COMMANDS:
            assert answer != refusal, f"/{name} refuses the admin too: {answer!r}"
    for item in world.app.router.menu:
        if item.key == "register":
            continue
        answer = joined(await admin.press(f"m:{item.key}"))
        await admin.send("/cancel")
        assert inactive not in answer, f"m:{item.key} is not in the admin's menu"

    # The buttons forged above, pressed by the admin in the forms they belong to.
    campaign, schedule = world.ids["campaigns"][0], world.ids["schedules"][0]
    before = snapshot(world.app, only=("campaigns", "schedules"))
    await admin.send("/campaigns")
    await admin.press(f"f:campaigns:campaign:{campaign}")
    closed = await admin.press(f"f:campaign_action:action:close:{campaign}")
    assert "🔒 Đã kết thúc Thi đua năm 2027" in joined(closed), joined(closed)
    await admin.send("/scheduled")
    await admin.press(f"f:scheduled:schedule:{schedule}")
    cancelled = await admin.press(f"f:scheduled_action:action:cancel:{schedule}")
    assert f"#{schedule}" in joined(cancelled), joined(cancelled)
    diff = changes(before, snapshot(world.app, only=("campaigns", "schedules")))
    assert set(diff) == {"campaigns", "schedules"}, diff


# -- hostile text over Telegram ------------------------------------------------------------------

# Pieces that break naive HTML or naive text handling; hypothesis strings them together.
HOSTILE = (
    "<b>",
    "</b>",
    "<script>alert(1)</script>",
    "<i>",
    "</",
    "<",
    ">",
    "&",
    "&amp;",
    "&lt;",
    "&#128512;",
    "&nbsp;",
    '<a href="javascript:x">',
    "😀",
    "👩‍👩‍👧‍👦",  # a family joined by zero-width joiners
    "🇻🇳",
    "\u200d",  # zero-width joiner
    "\u200b",  # zero-width space
    "\u200f",  # right-to-left mark
    "\u202e",  # right-to-left override
    "\u2066",  # left-to-right isolate
    "\ufeff",
    "A\u0301",  # a combining accent, composed by NFC
    "Nguyễn",
    "đ",
    " ",
    "x",
)
TYPED = st.characters(exclude_categories=("Cc", "Cs"))  # what a Telegram user can type
hostile_text = st.lists(
    st.one_of(st.sampled_from(HOSTILE), st.text(TYPED, max_size=6)), max_size=30
).map("".join)
long_text = st.builds(
    lambda unit, length: (unit * (length // len(unit) + 1))[:length],
    st.sampled_from(("<b>&amp;", "😀", "&", "<", "x ", "👩‍👩‍👧‍👦", "\u202e<i>")),
    st.integers(1_000, 10_000),
)
hostile_answers = st.one_of(hostile_text, hostile_text, long_text)
hostile_names = st.one_of(hostile_text, hostile_text, long_text).filter(
    lambda text: not any(char.isdigit() for char in text)  # digits make it no name at all
)
EXAMPLES = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
TELEGRAM_USERS = itertools.count(50_000)
SECRETARY_ID = 40_000
REPORTER_ID = 40_001


@pytest.fixture
async def server(no_proxy: None) -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as server:
        yield server


@pytest.fixture
async def bot(tmp_path: Path, server: FakeBotApi) -> AsyncIterator[Channel]:
    """One bot for a whole test: hypothesis examples talk to it as new users each time."""
    channel = await started(telegram_config(tmp_path, server))
    yield channel
    await stopped(channel)


def squash(text: str) -> str:
    """Without whitespace: long answers are split into messages at spaces."""
    return "".join(text.split())


def check_sent(server: FakeBotApi, calls: int, sent: int) -> None:
    """Every message the bot sent since then parses as Telegram HTML, is at most 4096
    characters once parsed, and was accepted: none refused, none an apology."""
    for method, params in server.calls[calls:]:
        for key in ("text", "caption"):
            raw = params.get(key)
            if raw is None or method not in ("sendMessage", "editMessageText", "sendPhoto"):
                continue
            try:
                shown = render_html(raw) if params.get("parse_mode") == "HTML" else raw
            except Exception as error:
                message = f"{method} with invalid HTML ({error}): {raw[:300]!r}"
                raise AssertionError(message) from error
            assert len(shown) <= MAX_TEXT, f"{method} of {len(shown)} characters"
            assert APOLOGY not in shown, shown
    tried = sum(method == "sendMessage" for method, _ in server.calls[calls:])
    accepted = sum(message.method == "sendMessage" for message in server.sent[sent:])
    assert tried == accepted, f"the server refused {tried - accepted} messages"


class TelegramUser:
    """A person in a private chat; each step waits until every reply has been sent."""

    def __init__(self, server: FakeBotApi, channel: Channel, user_id: int) -> None:
        self.server = server
        self.channel = channel
        self.id = user_id

    async def says(self, text: str) -> list[SentMessage]:
        return await self.step(lambda: self.server.user_message(self.id, text))

    async def presses(self, data: str) -> list[SentMessage]:
        return await self.step(lambda: self.server.user_callback(self.id, data))

    async def step(self, act: Callable[[], int]) -> list[SentMessage]:
        """Everything sent to this chat in answer (the update stored, then handled)."""
        calls, sent = len(self.server.calls), len(self.server.sent)
        update_id = act()
        await self.server.wait_quiet_confirmed(update_id)
        await self.channel.drain()
        check_sent(self.server, calls, sent)
        return [
            message
            for message in self.server.sent[sent:]
            if message.chat_id == self.id and message.method.startswith("send")
        ]

    async def answers(
        self, raw: str, *, min_length: int, max_length: int, fallback: str
    ) -> tuple[str, list[SentMessage]]:
        """Types a free-text answer; when the form must refuse it, types the fallback."""
        replies = await self.says(raw)
        try:
            return parse_text(raw, min_length=min_length, max_length=max_length), replies
        except Invalid:
            assert "⚠️" in texts(replies), texts(replies)
        return nfc(fallback), await self.says(fallback)


def texts(messages: Iterable[SentMessage]) -> str:
    return "\n".join(message.text or "" for message in messages)


def shown(value: str, messages: Iterable[SentMessage]) -> bool:
    return squash(value) in squash(texts(messages))


async def registered(
    server: FakeBotApi, channel: Channel, user_id: int, name: str, unit: str = "na sam"
) -> TelegramUser:
    person = TelegramUser(server, channel, user_id)
    for line in ("/start", "1", name, "2004", unit, "bỏ qua"):
        await person.says(line)
    assert "Bạn đã đăng ký thành công" in texts(await person.says("1"))
    return person


async def joins(
    server: FakeBotApi, channel: Channel, part: str
) -> tuple[TelegramUser, str, list[SentMessage]]:
    """A new person registers as "Hoàng <part> Mai" (or a plain name when the form refuses
    that); returns them, the name kept, and the welcome."""
    person = TelegramUser(server, channel, next(TELEGRAM_USERS))
    await person.says("/start")
    await person.presses("f:registration:consent:agree")
    name, replies = await person.answers(
        f"Hoàng {part} Mai", min_length=4, max_length=100, fallback="Hoàng Thị Mai"
    )
    if not is_full_name(name):  # letters, accents and punctuation only: asked again
        assert "⚠️" in texts(replies), texts(replies)
        name, replies = nfc("Hoàng Thị Mai"), await person.says("Hoàng Thị Mai")
    assert "Bạn sinh năm nào?" in texts(replies), texts(replies)
    for line in ("2004", "na sam", "bỏ qua"):
        await person.says(line)
    return person, name, await person.says("1")


@EXAMPLES
@given(part=hostile_names)
async def test_a_hostile_name_is_shown_back_exactly_as_typed(
    server: FakeBotApi, bot: Channel, part: str
) -> None:
    person, name, welcome = await joins(server, bot, part)
    assert shown(f"Chào mừng {name}", welcome), texts(welcome)
    profile = await person.presses("m:profile")
    assert shown(name, profile), texts(profile)
    again = await person.says("/start")
    assert shown(name.split(" ")[-1], again), texts(again)


@pytest.fixture
async def reviewer(server: FakeBotApi, bot: Channel) -> TelegramUser:
    """The secretary of Na Sầm, who reviews what is reported there."""
    secretary = await registered(server, bot, SECRETARY_ID, "Lý Văn Sơn")
    async with bot.app.db.write() as session:
        identity = await identity_for(session, "telegram", str(SECRETARY_ID))
        unit = (await session.scalars(select(Unit).where(Unit.code == "ls-x-na-sam"))).one()
        await grant_role(session, identity, "secretary", unit, granted_by="test")
    return secretary


@settings(EXAMPLES, max_examples=15)  # five hostile answers each, twenty-five steps each
@given(name=hostile_names, typed=st.tuples(*[hostile_answers] * 4))
async def test_hostile_report_answers_are_shown_back_exactly_as_typed(
    server: FakeBotApi,
    bot: Channel,
    reviewer: TelegramUser,
    name: str,
    typed: tuple[str, str, str, str],
) -> None:
    """An activity, a place and a description as the reporter typed them, on the summary, in
    /myentries and on the secretary's card with the reporter's name; the secretary's reason
    as the reporter reads it."""
    reporter, name, _ = await joins(server, bot, name)
    activity, place, description, reason = typed
    await reporter.says("/report")
    await reporter.says("2")
    activity, _ = await reporter.answers(
        f"Hoạt động {activity}", min_length=5, max_length=200, fallback=VOLUNTEER[0]
    )
    await reporter.says("hôm qua")
    place, _ = await reporter.answers(
        f"Thôn {place}", min_length=2, max_length=200, fallback=VOLUNTEER[2]
    )
    for line in VOLUNTEER[3:7]:
        await reporter.says(line)
    description, _ = await reporter.answers(
        f"Mô tả {description}", min_length=20, max_length=3000, fallback=VOLUNTEER[7]
    )
    summary = await reporter.says("bỏ qua")
    for value in (activity, place, description):
        assert shown(value, summary), (value, texts(summary))

    saved = texts(await reporter.says("1"))
    entry = re.search(r"Báo cáo #(\d+)", saved)
    assert entry is not None, saved
    await reporter.says("/myentries")
    card = await reporter.says("1")  # newest first
    assert f"#{entry.group(1)} · Hoạt động tình nguyện" in texts(card), texts(card)
    for value in (activity, place, description):
        assert shown(value, card), (value, texts(card))
    await reporter.says("/cancel")

    card = await reviewer.says("/review")
    assert f"#{entry.group(1)} · Hoạt động tình nguyện" in texts(card), texts(card)
    for value in (activity, place, description, name):
        assert shown(value, card), (value, texts(card))
    await reviewer.presses(f"f:review:decision:reject:{entry.group(1)}:1")
    mark = len(server.sent)
    reason, _ = await reviewer.answers(
        f"Lý do {reason}", min_length=5, max_length=500, fallback="Thiếu ảnh minh chứng"
    )
    # The decision reaches the reporter through the outbox, on their own channel.
    notice = await server.wait_for(
        lambda m: (
            m.chat_id == reporter.id
            and m in server.sent[mark:]
            and "đã được trả lại để chỉnh sửa" in (m.text or "")
        )
    )
    assert shown(reason, [notice]), (reason, texts([notice]))


# -- typed text shown back, and stored ---------------------------------------------------------

# Telegram's HTML as our replies may use it: bold and italic, and escaped text.
OUR_TAGS = re.compile(r"</?(?:b|i)>")


def check_html(text: str) -> str:
    """The visible text of a reply written in our HTML: only <b> and <i>, everything else
    escaped (Telegram would refuse the message, or show a link the user typed)."""
    shown = render_html(text)
    assert "<" not in OUR_TAGS.sub("", text), text
    return shown


def placeholders(message: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(message) if name}


def messages_with_parameters(language: str) -> list[tuple[str, str]]:
    """(source, translation) of every message that has {placeholders}, plural forms apart."""
    path = ROOT / "locales" / language / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    pairs = []
    for message in catalog:
        sources = (message.id,) if isinstance(message.id, str) else message.id
        translations = (message.string,) if isinstance(message.string, str) else message.string
        pairs += [
            (source, translation)
            for source in sources
            for translation in translations or ()
            if message.id and placeholders(source)
        ]
    return pairs


@settings(EXAMPLES, max_examples=50)
@given(typed=hostile_text)
def test_every_translated_message_shows_escaped_user_text_exactly(typed: str) -> None:
    """Whatever fills a message's placeholders, escaped as handlers escape user text, comes
    out of every translation as valid Telegram HTML that shows it exactly as typed."""
    pairs = messages_with_parameters("vi") + messages_with_parameters("en")
    assert len(pairs) > 150
    for source, translation in pairs:
        values = {name: escape(typed) for name in placeholders(source)}
        shown = check_html(translation.format(**values))
        assert typed in shown or not typed, (source, translation)


@settings(EXAMPLES, max_examples=10)
@given(typed=hostile_text.filter(lambda text: text.strip()))
async def test_typed_text_comes_back_escaped_from_every_command(world: World, typed: str) -> None:
    """An unknown command, and every command with something typed after it, by a stranger
    and by an admin: every reply is valid HTML that shows nothing as markup."""
    name = typed.split(maxsplit=1)[0] if typed.split() else typed
    for role in ("stranger", "admin"):
        chat = world.chats[role]
        replies = await chat.send(f"/{name}")
        command = name.split("@")[0].lower()
        if command not in world.app.router.commands:
            shown = check_html(joined(replies))
            assert f"/{command[:32]}" in shown, shown
        for command in world.app.router.commands:
            for reply in await chat.send(f"/{command} {typed}"):
                check_html(reply.text)
            await chat.send("/cancel")
        for reply in await chat.send(typed):
            check_html(reply.text)


async def test_an_unknown_command_is_answered_as_typed(world: World) -> None:
    """ "/a&b" got no answer at all (Telegram refuses the HTML); a crafted one became a link."""
    for typed in ("/a&b", '/x<a href="https://evil.example">here</a>', "/<b>bold"):
        (reply,) = await world.chats["member"].send(typed)
        shown = check_html(reply.text)
        assert typed.split()[0][:33].lower() in shown, shown


async def test_a_number_of_thousands_of_digits_gets_the_fields_range_message(
    world: World,
) -> None:
    """Python refuses to read more than 4,300 digits as a number: such an answer got "something
    went wrong" and a traceback. Now it is out of the field's range like any other."""
    chat = world.chats["member"]
    huge = "9" * 5_000
    await run(chat, ("/report", "2", *VOLUNTEER[:4]))  # at "how many hours did you give?"
    for answer, refusal in (
        (huge, "⚠️ Bạn vui lòng nhập một số từ 0,5 đến 500."),
        ("1" + "0" * 4_400, "⚠️ Bạn vui lòng nhập một số từ 0,5 đến 500."),
        ("0" * 4_999 + "7", "Có bao nhiêu người được hưởng lợi?"),  # leading zeros: 7
    ):
        assert refusal in joined(await chat.send(answer))
    await run(chat, VOLUNTEER[5:6])  # at the value in đồng
    for answer in (huge, f"{huge} triệu", "1." + ".".join(["000"] * 1_500)):
        assert "⚠️ Số tiền này vượt quá giới hạn cho phép." in joined(await chat.send(answer))
    await chat.send("/cancel")  # six answers given: asked once, the second /cancel stops
    await chat.send("/cancel")
    # A typed number that picks a choice, and digits int() does not read.
    await chat.send("/report")
    for answer in (huge, "²", "٣٣٣٣٣٣٣٣٣٣٣٣٣٣٣٣٣٣٣٣"):
        text = joined(await chat.send(answer))
        assert "⚠️ Bạn vui lòng chọn một trong các mục" in text, (answer, text)
    await chat.send("/cancel")


# Names that are no names: what registration must refuse, and why each once passed.
NO_NAMES = {
    "zero-width only": "\u200b\u200b \u200c\u200b",
    "combining marks only": "\u0301\u0300 \u0303\u0309",
    "emoji only": "😀😀 👩‍👩‍👧‍👦",
    "a word of emoji": "Hoàng Thị 😀",
    "letters and a number": "Hoàng Thị Mai 2",
    "one word": "Hoàngthịmai",
    "one word and bidi controls": "\u202eHoàng\u202c \u2066\u2069",
}


@pytest.mark.parametrize("name", NO_NAMES.values(), ids=NO_NAMES.keys())
async def test_a_name_without_letters_is_refused(app: App, name: str) -> None:
    chat = Chat(app, "newcomer")
    await run(chat, ("/start", "1"))
    refusal = joined(await chat.send(name))
    assert "⚠️ Bạn vui lòng ghi đầy đủ họ và tên bằng chữ" in refusal, refusal
    assert snapshot(app, only=["members"]) == {"members": []}


async def test_bidi_controls_and_nul_are_never_stored(world: World) -> None:
    """An override that reverses what others read ("Trojan Source"), an isolate, a mark, and
    a NUL: typed into a name, a report and its file name, none of them reaches the database,
    and what is left reads as the person meant."""
    chat = Chat(world.app, "rtl")
    await run(chat, ("/start", "1", "Ho\u202eàng\u202c Th\x00ị \u2067Mai\u2069", "2004"))
    await run(chat, ("na sam", "bỏ qua", "1"))
    activity = "Dọn \u202dvệ\u202c sinh\u200f đường\x00 làng"
    await run(chat, ("/report", "2", activity, *VOLUNTEER[1:-1]))
    store = EvidenceStore(world.app.config.data_dir / "files")
    stored = store.save(jpeg(), original_name="anh.jpg")
    await chat.attach(stored, "document", "x" * 300 + "gpj\u202eexe.jpg")
    await run(chat, ("xong",))
    assert "✅ Đã lưu" in joined(await run(chat, ("1",)))
    with sqlite3.connect(db_file(world.app)) as db:
        member = db.execute(
            "SELECT m.full_name FROM members m JOIN identities i ON i.member_id = m.id "
            "WHERE i.user_id = 'rtl'"
        ).fetchone()
        (title,) = db.execute("SELECT title FROM entries ORDER BY id DESC LIMIT 1").fetchone()
        (original,) = db.execute(
            "SELECT original_name FROM entry_files ORDER BY id DESC LIMIT 1"
        ).fetchone()
    dump = json.dumps(snapshot(world.app), ensure_ascii=False, default=str)
    assert member == ("Hoàng Thị Mai",)
    assert title == "Dọn vệ sinh đường làng"
    assert (len(original), original[-7:]) == (255, "xx….jpg"), original  # fits the column
    for invisible in (*BIDI_CONTROLS, "\x00"):
        assert invisible not in dump, repr(invisible)


async def test_the_same_photo_sent_again_counts_once_toward_the_cap(world: World) -> None:
    """Ten files an entry: a photo sent twice (an album resent, a double tap) is one of them."""
    chat = Chat(world.app, "member")
    await run(chat, ("/report", "2", *VOLUNTEER[:-1]))
    store = EvidenceStore(world.app.config.data_dir / "files")
    photos = [store.save(jpeg((80 + n, 60)), original_name=f"{n}.jpg") for n in range(11)]
    for _ in range(3):
        text = joined(await chat.attach(photos[0], "photo", "0.jpg"))
        assert "Đã nhận 1 tệp" in text, text
    assert "Bạn đã gửi tệp này rồi; tệp chỉ được tính một lần." in text
    for n in range(1, 10):
        text = joined(await chat.attach(photos[n], "photo", f"{n}.jpg"))
    assert "Đã nhận 10 tệp" in text, text
    again = joined(await chat.attach(photos[5], "photo", "5.jpg"))
    assert "Đã nhận 10 tệp" in again and "⚠️" not in again, again
    refused = joined(await chat.attach(photos[10], "photo", "10.jpg"))
    assert "⚠️ Mỗi báo cáo được gửi tối đa 10 tệp." in refused, refused
    summary = joined(await chat.send("xong"))
    assert "<b>Minh chứng:</b> 10 tệp" in summary, summary
    await chat.send("/cancel")


# -- hostile uploads over Telegram ---------------------------------------------------------------

UNSUPPORTED = "Please send a photo (JPEG, PNG or WebP) or a PDF document."
DAMAGED_IMAGE = "That image is damaged or incomplete. Please send it again."
TOO_MANY_PIXELS = "That image is too large in pixels. Please send a smaller one."
TOO_LARGE = "That file is larger than {max_mb} MB. Please send a smaller one."
EMPTY = "That file is empty. Please send it again."
HEIC = (
    "iPhone HEIC photos are not supported yet. Please send the photo as JPEG: "
    "send it as a photo, not as a file."
)
MEGABYTE = 1024 * 1024
PEAK_GROWTH = 200 * MEGABYTE


def jpeg(size: tuple[int, int] = (80, 60)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, "teal").save(buffer, "JPEG")
    return buffer.getvalue()


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_bomb(width: int, height: int) -> bytes:
    """A real black 1-bit PNG: kilobytes to send, width × height pixels once decoded."""
    compressor = zlib.compressobj(9)
    row = bytes(1 + (width + 7) // 8)  # the filter byte, then the row's bits
    pixels = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", pixels)
        + png_chunk(b"IEND", b"")
    )


def jpeg_zip_polyglot() -> bytes:
    """A JPEG that decodes, followed by a ZIP archive that unpacks: one file, both types."""
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("payload.html", "<script>alert(document.cookie)</script>")
    data = jpeg() + archive.getvalue()
    assert zipfile.is_zipfile(io.BytesIO(data))
    with Image.open(io.BytesIO(data)) as image:
        image.load()
    return data


@dataclasses.dataclass(frozen=True)
class Upload:
    """A file sent into the evidence step, and the refusals that are the right answer."""

    name: str
    send: Callable[[FakeBotApi, int], int]
    refusals: tuple[str, ...]


def as_document(
    content: Callable[[], bytes], file_name: str, mime_type: str
) -> Callable[[FakeBotApi, int], int]:
    """Made when sent, so that collecting the tests builds no bombs."""

    def send(server: FakeBotApi, user: int) -> int:
        return server.user_document(user, content(), file_name=file_name, mime_type=mime_type)

    return send


def as_photo(content: Callable[[], bytes]) -> Callable[[FakeBotApi, int], int]:
    def send(server: FakeBotApi, user: int) -> int:
        return server.user_photo(user, content())

    return send


def claiming(size: int, *, in_message: bool) -> Callable[[FakeBotApi, int], int]:
    """A document Telegram says is `size` bytes: in the message itself, or only when the bot
    asks getFile (older clients leave file_size out)."""

    def send(server: FakeBotApi, user: int) -> int:
        file_id = server.add_file(b"%PDF-1.4 and much more", file_size=size)
        document: dict[str, Any] = {
            "file_id": file_id,
            "file_unique_id": f"big-{file_id}",
            "file_name": "video.pdf",
            "mime_type": "application/pdf",
        }
        if in_message:
            document["file_size"] = size
        return server.add_update(
            {
                "message": {
                    "message_id": 10_000 + len(server.sent),
                    "date": int(time.time()),
                    "chat": {"id": user, "type": "private"},
                    "from": {"id": user, "is_bot": False, "first_name": "Mai"},
                    "document": document,
                }
            }
        )

    return send


UPLOADS = (
    Upload(
        "text-renamed-jpg",
        as_document(lambda: b"I helped at the clinic today.\n" * 20, "anh.jpg", "image/jpeg"),
        (UNSUPPORTED,),
    ),
    Upload(
        "jpeg-zip-polyglot",
        as_document(jpeg_zip_polyglot, "anh.jpg", "image/jpeg"),
        (UNSUPPORTED, DAMAGED_IMAGE),
    ),
    Upload(
        "png-bomb-20000x20000",
        as_document(functools.partial(png_bomb, 20_000, 20_000), "anh.png", "image/png"),
        (TOO_MANY_PIXELS,),
    ),
    Upload("truncated-jpeg", as_photo(lambda: jpeg((400, 300))[:600]), (DAMAGED_IMAGE,)),
    Upload("over-20-mb-said-in-message", claiming(25 * MEGABYTE, in_message=True), (TOO_LARGE,)),
    Upload("over-20-mb-said-by-getfile", claiming(25 * MEGABYTE, in_message=False), (TOO_LARGE,)),
    Upload(
        "heic",
        as_document(
            lambda: b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(200),
            "IMG_0001.HEIC",
            "image/heic",
        ),
        (HEIC,),
    ),
    Upload("empty", as_document(lambda: b"", "anh.jpg", "image/jpeg"), (EMPTY,)),
    Upload(
        "pdf-with-javascript",
        as_document(
            lambda: pdf_of(SCRIPT, catalog=b"/OpenAction 4 0 R"),
            "giay-khen.pdf",
            "application/pdf",
        ),
        (ACTIVE_PDF,),
    ),
)


def peak_rss() -> int:
    """The process's peak resident memory in bytes (Linux: VmHWM)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0  # elsewhere the check below is void


def reset_peak_rss() -> int:
    """Forgets the peak so far where Linux allows it, and returns the new baseline."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")
    return peak_rss()


def form_state(tmp_path: Path, chat: int) -> tuple[Any, ...]:
    """Where the chat's form is, what the field collected, and how many files entries hold."""
    with sqlite3.connect(tmp_path / "bot.sqlite3") as db:
        form, field, pending = db.execute(
            "SELECT form, field, pending FROM dialogues WHERE channel = 'telegram' "
            "AND chat_id = ?",
            (str(chat),),
        ).fetchone()
        (stored,) = db.execute("SELECT count(*) FROM entry_files").fetchone()
    return form, field, json.loads(pending or "{}"), stored


def files_in(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file()) if root.exists() else []


@pytest.mark.parametrize("upload", UPLOADS, ids=[upload.name for upload in UPLOADS])
async def test_a_hostile_upload_is_refused_cleanly_at_the_evidence_step(
    tmp_path: Path,
    server: FakeBotApi,
    bot: Channel,
    caplog: pytest.LogCaptureFixture,
    upload: Upload,
) -> None:
    reporter = await registered(server, bot, REPORTER_ID, "Hoàng Thị Mai")
    await reporter.says("/report")
    await reporter.says("2")
    for line in VOLUNTEER[:-1]:
        await reporter.says(line)
    at_evidence: tuple[Any, ...] = ("volunteer", "evidence", {}, 0)
    assert form_state(tmp_path, REPORTER_ID) == at_evidence
    store = bot.app.config.data_dir / "files"
    t = bot.app.catalogs.translator("vi", bot.app.config.tz)
    refusals = [t.gettext(msgid).format(max_mb=20) for msgid in upload.refusals]
    assert all(refusal != msgid for refusal, msgid in zip(refusals, upload.refusals, strict=True))

    baseline = reset_peak_rss()
    replies = texts(await reporter.step(lambda: upload.send(server, REPORTER_ID)))
    growth = peak_rss() - baseline

    assert any(f"⚠️ {refusal}" in replies for refusal in refusals), (
        f"{upload.name} was not refused: {replies}"
    )
    assert "Bạn vui lòng gửi ảnh hoặc tài liệu làm minh chứng" in replies  # asked again
    assert form_state(tmp_path, REPORTER_ID) == at_evidence
    assert files_in(store) == []
    assert growth < PEAK_GROWTH, f"peak memory grew by {growth // MEGABYTE} MB"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text

    # The step still works: a real photo is received and kept.
    accepted = texts(await reporter.step(lambda: server.user_photo(REPORTER_ID, jpeg())))
    assert "Đã nhận 1 tệp" in accepted, accepted
    assert len(files_in(store)) == 1


# -- flooding ----------------------------------------------------------------------------------

FLOODER = 70_000
FLOOD = 100
NORMAL_STEPS = (
    ("/start", "Bạn có đồng ý không?"),
    ("1", "Họ và tên của bạn là gì?"),
    ("Hoàng Thị Mai", "Bạn sinh năm nào?"),
    ("2004", "Bạn sinh hoạt ở xã, phường"),
    ("na sam", "Số điện thoại của bạn"),
    ("bỏ qua", "bạn vui lòng kiểm tra trước khi gửi"),
    ("1", "Menu"),
    ("/help", "Cách dùng bot"),
    ("/menu", "Menu"),
    # Then looking around, so that the percentiles rest on a hundred samples or more.
    *(
        ("/help", "Cách dùng bot"),
        ("/menu", "Menu"),
        ("/myentries", "Bạn chưa có báo cáo nào"),
        ("/totals", "Bạn chưa có báo cáo nào"),
    )
    * 4,
)


def answer_to(user: int, seen: int, expect: str, message: SentMessage) -> bool:
    """A new message to the user saying what their step expects."""
    return (
        message.chat_id == user
        and message.method == "sendMessage"
        and message.message_id > seen
        and expect in (message.text or "")
    )


async def timed_walk(server: FakeBotApi, user: int) -> list[float]:
    """A normal user registering and looking around: seconds until each answer arrived."""
    latencies = []
    for text, expect in NORMAL_STEPS:
        seen = max((m.message_id for m in server.messages_to(user)), default=0)
        start = time.perf_counter()
        server.user_message(user, text)
        await server.wait_for(functools.partial(answer_to, user, seen, expect), timeout=30)
        latencies.append(time.perf_counter() - start)
    return latencies


async def five_walk(server: FakeBotApi, first: int) -> list[float]:
    walks = await asyncio.gather(*(timed_walk(server, first + n) for n in range(5)))
    return [latency for walk in walks for latency in walk]


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20, method="inclusive")[-1]


async def test_a_flooding_user_is_slowed_with_one_notice_and_others_stay_fast(
    tmp_path: Path, server: FakeBotApi
) -> None:
    """A hundred messages at once from one user, while five others register and look around;
    the same walk without the flood is the baseline. The others share the bot's sending rate
    (bot.pacing) and the database with the flooder's paced answers, so they may slow a
    little, but never queue behind the flood."""
    config = telegram_config(tmp_path, server)
    # Ten at once, then ten a second: a hundred messages take about nine seconds to answer.
    config = dataclasses.replace(config, flood=FloodConfig(messages=10, per_seconds=1.0))
    channel = await started(config)
    try:
        await timed_walk(server, 70_500)  # warm caches first: the baseline must not be cold
        quiet = await five_walk(server, 71_000)
        start = time.perf_counter()
        for _ in range(FLOOD):
            server.user_message(FLOODER, "/help")
        busy = await five_walk(server, 72_000)
        walked = time.perf_counter() - start

        def answered() -> int:
            return sum(
                "Cách dùng bot" in (m.text or "")
                for m in server.messages_to(FLOODER)
                if m.method == "sendMessage"
            )

        await server.wait_for(lambda _m: answered() >= FLOOD, timeout=60)
        flooded = time.perf_counter() - start
        await channel.drain()
    finally:
        await stopped(channel)
    texts_to_flooder = [m.text or "" for m in server.messages_to(FLOODER)]
    notices = [text for text in texts_to_flooder if "gửi tin nhắn rất nhanh" in text]
    assert len(notices) == 1, notices
    assert answered() == FLOOD  # slowed, never dropped, never answered twice
    assert walked < flooded, "the others finished only after the flood: they waited behind it"
    measured = (
        f"p95 of {len(busy)} replies: {p95(quiet) * 1000:.0f} ms without the flood, "
        f"{p95(busy) * 1000:.0f} ms during it; the flood answered in {flooded:.1f} s"
    )
    log.info(measured)
    assert p95(busy) < 1.0, measured
    assert p95(busy) <= 2 * p95(quiet), measured


# -- what reaches a webhook --------------------------------------------------------------------

WEBHOOK_URLS = {
    "telegram": ("https://bot.example.vn/telegram", "X-Telegram-Bot-Api-Secret-Token"),
    "zalo": ("https://bot.example.vn/zalo/hook", "X-Bot-Api-Secret-Token"),
}
WEBHOOK_SECRET = "webhook-s3cret_value"


@contextlib.asynccontextmanager
async def webhook_channel(tmp_path: Path, platform: str) -> AsyncIterator[Channel]:
    """The platform's channel in webhook mode on a port of its own, against its fake API."""
    url, _ = WEBHOOK_URLS[platform]
    async with contextlib.AsyncExitStack() as stack:
        if platform == "telegram":
            server = await stack.enter_async_context(FakeBotApi())
            config = telegram_config(
                tmp_path,
                server,
                TELEGRAM_WEBHOOK_URL=url,
                TELEGRAM_WEBHOOK_SECRET=WEBHOOK_SECRET,
            )
            config = dataclasses.replace(
                config, telegram=dataclasses.replace(config.telegram, webhook_port=0)
            )
        else:
            api = await stack.enter_async_context(FakeZaloBotApi())
            config = zalo_config(
                tmp_path, api, ZALO_WEBHOOK_URL=url, ZALO_WEBHOOK_SECRET=WEBHOOK_SECRET
            )
            config = dataclasses.replace(
                config, zalo=dataclasses.replace(config.zalo, webhook_port=0)
            )
        app = build_app(config)
        await app.prepare()
        channel = app.channels[platform]
        await channel.start()
        try:
            yield channel
        finally:
            await channel.stop()
            await app.close()


async def raw_post(channel: Channel, headers: dict[str, str], body: bytes = b"") -> int:
    """POSTs to the webhook over a bare socket and returns the status of the answer, which
    must come within a few seconds whether or not the declared body was sent."""
    url, _ = WEBHOOK_URLS[channel.name]
    path = url.split("bot.example.vn", 1)[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", channel.webhook_port)
    head = f"POST {path} HTTP/1.1\r\nHost: bot.example.vn\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
    writer.write(head.encode("latin-1") + body)
    try:
        status = await asyncio.wait_for(reader.readline(), timeout=5)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    return int(status.split()[1])


@pytest.mark.parametrize("platform", ["telegram", "zalo"])
async def test_a_webhook_answers_from_the_headers_before_reading_a_body(
    tmp_path: Path, platform: str
) -> None:
    """95 MB announced: refused at once without the secret (the body is never read), and
    refused as too large with it, since no update comes near a few megabytes."""
    _, header = WEBHOOK_URLS[platform]
    announced = {"Content-Type": "application/json", "Content-Length": str(95 * 1024 * 1024)}
    async with webhook_channel(tmp_path, platform) as channel:
        assert await raw_post(channel, announced) == 403
        assert await raw_post(channel, {**announced, header: "wrong"}) == 403
        assert await raw_post(channel, {**announced, header: "m\xe2t-kh\xe2u"}) == 403
        assert await raw_post(channel, {**announced, header: WEBHOOK_SECRET}) == 413
        small = json.dumps({"update_id": 1, "x": "a" * 100}).encode()
        sized = {"Content-Type": "application/json", "Content-Length": str(len(small))}
        assert await raw_post(channel, {**sized, header: WEBHOOK_SECRET}, small) == 200


async def test_malformed_and_unknown_updates_are_stored_once_and_never_block_the_chat(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Authenticated but unreadable updates (a platform bug, a new shape) get 200, are
    stored and marked handled with no reply, are logged once, and come back neither on the
    next delivery nor after a restart; the chat right after them is answered."""
    _, header = WEBHOOK_URLS["telegram"]
    odd = [
        json.dumps({"update_id": 9, "message": "not an object"}),
        json.dumps({"update_id": 10, "message": {"chat": 5, "from": [], "text": 7}}),
        json.dumps({"update_id": "eleven"}),
        json.dumps({"hello": "a shape nobody knows"}),
        json.dumps([1, 2, 3]),
        "not json at all",
    ]
    async with webhook_channel(tmp_path, "telegram") as channel:
        url = f"http://127.0.0.1:{channel.webhook_port}/telegram"
        headers = {header: WEBHOOK_SECRET, "Content-Type": "application/json"}
        async with httpx.AsyncClient() as client:
            for _ in range(2):  # delivered twice, as platforms do after a timeout
                statuses = [
                    (await client.post(url, content=body, headers=headers)).status_code
                    for body in odd
                ]
                assert statuses == [200] * len(odd)
            update = {
                "update_id": 12,
                "message": {
                    "message_id": 1,
                    "date": 0,
                    "chat": {"id": 1001, "type": "private"},
                    "from": {"id": 1001, "is_bot": False, "first_name": "Mai"},
                    "text": "/help",
                },
            }
            assert (await client.post(url, json=update, headers=headers)).status_code == 200
        await channel.drain()
        rows = database_rows(
            tmp_path,
            "SELECT update_key, handled_at IS NOT NULL, replied_at IS NOT NULL FROM inbox",
        )
    assert len(rows) == len(odd) + 1
    assert all(handled and replied for _, handled, replied in rows)
    skipped = [r for r in caplog.records if "skipped" in r.getMessage()]
    assert len(skipped) == len(odd), [r.getMessage() for r in skipped]
    assert "not an object" not in caplog.text  # what people sent is not logged

    async with webhook_channel(tmp_path, "telegram") as restarted:
        await restarted.drain()  # nothing left to redo
    assert "recovered" not in caplog.text


async def test_a_malformed_update_in_a_poll_does_not_stop_the_ones_after_it(
    server: FakeBotApi, bot: Channel
) -> None:
    server.add_update({"update_id": 400, "message": {"chat": "x", "date": "today"}})
    user = TelegramUser(server, bot, 1001)
    replies = await user.says("/help")
    assert any("Cách dùng bot" in (m.text or "") for m in replies)


async def test_odd_photo_addresses_are_refused_politely_not_crashed_on(tmp_path: Path) -> None:
    """Addresses on an allowed host that no URL parser can fetch: the person is told the file
    could not be received, and the update is handled."""
    async with FakeZaloBotApi() as api:
        config = zalo_config(tmp_path, api)
        app = build_app(config)
        await app.prepare()
        channel = app.channels["zalo"]
        await channel.start()
        try:
            mai = await at_the_evidence_step(api, "zalo-mai")
            for odd in (
                f"http://{api.media_host}:99999/photo.jpg",
                f"http://{api.media_host}:8x/photo.jpg",
                f"http://{api.media_host}/\x00photo.jpg",
                f"http://[{api.media_host}/photo.jpg",
            ):
                mark = len(api.sent)
                api.user_image("zalo-mai", odd)
                await mai.reply(mark, "Mình chưa nhận được tệp này")
            await channel.drain()
        finally:
            await channel.stop()
            await app.close()
    pending = database_rows(tmp_path, "SELECT count(*) FROM inbox WHERE handled_at IS NULL")
    assert pending == [(0,)]


def test_a_webhook_secret_that_can_never_match_is_refused_at_start(tmp_path: Path) -> None:
    """HTTP headers are ASCII: a secret with Vietnamese letters would refuse every update."""
    env = {
        "ZALO_BOT_TOKEN": "1:secret",
        "ZALO_WEBHOOK_URL": "https://bot.example.vn/zalo",
        "ZALO_WEBHOOK_SECRET": "mật-khẩu-bí-mật",
    }
    result = run_bot(tmp_path, "migrate", env=env)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert "ZALO_WEBHOOK_SECRET" in result.stderr and "mật" not in result.stderr
    with pytest.raises(ConfigError, match="ZALO_WEBHOOK_SECRET"):
        make_config(tmp_path, **env)
