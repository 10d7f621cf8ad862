"""Invites: a secretary gets a code, a QR code and (on Telegram) a deep link; a young person who
opens it registers straight into the unit; codes are listed and revoked, and only in scope.

The users here speak English, so that the assertions hold before and after the Vietnamese
catalog has these messages.
"""

from __future__ import annotations

import dataclasses
import io
import sqlite3
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select

from bot.app import App
from bot.channels.console import parse_line, render
from bot.channels.runtime import Channel
from bot.events import Inbound, InboundKind, Reply
from models import AuditRecord, Invite, Member
from models.invites import ALPHABET, CODE_LENGTH, normalize_code
from models.people import grant_role, identity_for, revoke_role
from models.tables import Unit
from tests.botapi import FakeBotApi, SentMessage
from tests.conftest import run_bot
from tests.test_telegram import User, started, stopped, telegram_config

UNIT_QUESTION = "Which commune, ward or body do you belong to?"
SECRETARY, NEWCOMER, MEMBER, ADMIN = "sec", "new", "member", "admin"


async def send(app: App, inbound: Inbound) -> list[Reply]:
    return await app.dispatcher.handle(inbound) or []


async def say(app: App, line: str, user: str = NEWCOMER) -> list[Reply]:
    """What `user` types in a text-only chat (as on the console or Zalo), in English."""
    inbound = dataclasses.replace(
        parse_line(line, language="en"), user_id=user, chat_id=user, display_name=user
    )
    return await send(app, inbound)


async def press(app: App, user: str, value: str) -> list[Reply]:
    """A button press with any value: what a forged callback looks like to the core."""
    inbound = Inbound(
        channel="console",
        update_key=uuid.uuid4().hex,
        user_id=user,
        chat_id=user,
        kind=InboundKind.BUTTON,
        button=value,
        client_language="en",
    )
    return await send(app, inbound)


def shown(replies: list[Reply]) -> str:
    return "\n\n".join(render(reply) for reply in replies)


async def grant(app: App, user: str, role: str, unit_code: str | None = None) -> None:
    async with app.db.write() as session:
        identity = await identity_for(session, "console", user)
        unit = None
        if unit_code is not None:
            unit = (await session.scalars(select(Unit).where(Unit.code == unit_code))).one()
        await grant_role(session, identity, role, unit, granted_by="test")


async def register(app: App, user: str, unit: str = "na sam") -> None:
    for line in ("/start", "1", "Hoàng Thị Mai", "2004", unit, "skip", "1"):
        await say(app, line, user)


async def invites(app: App) -> list[Invite]:
    async with app.db.read() as session:
        return list((await session.scalars(select(Invite).order_by(Invite.id))).all())


async def unit_id(app: App, code: str) -> int:
    async with app.db.read() as session:
        return (await session.scalars(select(Unit.id).where(Unit.code == code))).one()


def check_qr_png(content: bytes) -> None:
    """A real PNG: a square code big enough to scan, with both dark and light modules, and
    under it a caption (the unit and what to type), its own dark pixels."""
    with Image.open(io.BytesIO(content)) as image:
        assert image.format == "PNG"
        width, height = image.size
        assert width >= 200
        grey = image.convert("L")
        assert grey.crop((0, 0, width, width)).getextrema() == (0, 255)
        assert height > width + 40  # room for two lines of caption
        darkest, _ = grey.crop((0, width, width, height)).getextrema()
        assert isinstance(darkest, int) and darkest < 128, "the caption is in dark letters"


def the_code(text: str) -> str:
    """The code an invitation reply gives."""
    line = next(line for line in text.splitlines() if line.startswith("Code: "))
    code = line.removeprefix("Code: ").strip().removeprefix("<b>").removesuffix("</b>")
    assert normalize_code(code) == code
    return code


async def test_a_secretary_invites_and_a_newcomer_joins_without_choosing_the_unit(
    app: App,
) -> None:
    await grant(app, SECRETARY, "secretary", "ls-x-na-sam")
    replies = await say(app, "/invite", SECRETARY)
    invitation = replies[0]
    assert "New invitation to Xã Na Sầm" in invitation.text
    code = the_code(invitation.text)
    assert len(code) == CODE_LENGTH and set(code) <= set(ALPHABET)
    assert f"/join {code}" in invitation.text
    assert "https://t.me/" not in invitation.text  # no bot username in this configuration
    assert invitation.document is not None
    assert invitation.document.file_name == f"invite-{code}.png"
    assert invitation.document.mime_type == "image/png"
    check_qr_png(invitation.document.content)
    assert "Menu" in replies[-1].text
    (invite,) = await invites(app)
    assert (invite.code, invite.unit_id, invite.uses, invite.revoked_at) == (
        code,
        await unit_id(app, "ls-x-na-sam"),
        0,
        None,
    )
    assert invite.created_by.startswith("identity:")

    # The newcomer types the code in lower case, as people do.
    seen = [shown(await say(app, f"/start {code.lower()}"))]
    assert "You were invited to join Xã Na Sầm" in seen[0]
    for line in ("1", "Hoàng Thị Mai", "2004"):
        seen.append(shown(await say(app, line)))
    assert "Registration · step 4 of 4" in seen[-1]
    assert "Your phone number" in seen[-1]
    # Going back from the last step does not lose the invitation's unit.
    seen.append(shown(await say(app, "/back")))
    assert "In which year were you born?" in seen[-1]
    seen.append(shown(await say(app, "2004")))
    seen.append(shown(await say(app, "skip")))
    # The summary names the unit the invitation gave, though it was never asked.
    assert "Unit: Xã Na Sầm (from the invitation)" in seen[-1]
    seen.append(shown(await say(app, "1")))
    assert "You are registered. Welcome, Hoàng Thị Mai!\nUnit: Xã Na Sầm" in seen[-1]
    assert not any(UNIT_QUESTION in text for text in seen)
    async with app.db.read() as session:
        member = (await session.scalars(select(Member))).one()
        audits = (await session.execute(select(AuditRecord.action, AuditRecord.details))).all()
    assert member.unit_id == invite.unit_id
    (invite,) = await invites(app)
    assert invite.uses == 1
    # Audit rows name the invite and the unit, nothing about a person.
    assert ("invite.created", {"invite_id": invite.id, "unit_id": invite.unit_id}) in audits


async def test_a_revoked_code_leads_to_the_ordinary_registration(app: App) -> None:
    await grant(app, SECRETARY, "secretary", "ls-x-na-sam")
    code = the_code((await say(app, "/invite", SECRETARY))[0].text)
    listing = shown(await say(app, "/invite", SECRETARY))
    assert "Active invitations to Xã Na Sầm" in listing
    assert f"• {code} — since " in listing
    assert "used by 0 people" in listing
    assert f"1. ➕ Create a new invitation\n  2. ❌ Revoke {code}" in listing
    revoked = shown(await say(app, "2", SECRETARY))
    assert f"Invitation {code} revoked" in revoked
    (invite,) = await invites(app)
    assert invite.revoked_at is not None
    async with app.db.read() as session:
        actions = (await session.scalars(select(AuditRecord.action))).all()
    assert "invite.revoked" in actions

    welcome = shown(await say(app, f"/start {code}"))
    assert "This invitation code does not work" in welcome
    for line in ("1", "Hoàng Thị Mai"):
        await say(app, line)
    assert UNIT_QUESTION in shown(await say(app, "2004"))
    await say(app, "dong dang")
    assert "Unit: Xã Đồng Đăng" in shown(await say(app, "skip"))
    await say(app, "1")
    (invite,) = await invites(app)
    assert invite.uses == 0
    # With nothing left to revoke, /invite creates a fresh code straight away.
    assert "New invitation to Xã Na Sầm" in shown(await say(app, "/invite", SECRETARY))
    assert len(await invites(app)) == 2


async def test_an_unknown_code_and_a_member_opening_an_invitation(app: App) -> None:
    assert "This invitation code does not work" in shown(await say(app, "/start NOT-A-CODE"))
    await say(app, "/cancel")
    await grant(app, SECRETARY, "secretary", "ls-x-dong-dang")
    code = the_code((await say(app, "/invite", SECRETARY))[0].text)
    await register(app, MEMBER)
    again = shown(await say(app, f"/start {code}", MEMBER))
    assert "Welcome back, Mai!" in again
    assert "You are already registered, in Xã Na Sầm" in again
    (invite,) = await invites(app)
    assert invite.uses == 0


async def test_members_are_refused_politely(app: App) -> None:
    await register(app, MEMBER)
    for line in ("/invite", "/invite ls-x-na-sam"):
        refused = shown(await say(app, line, MEMBER))
        assert "Inviting young people is for youth union secretaries and admins." in refused
    assert "Invite young people" not in shown(await say(app, "/menu", MEMBER))
    assert await invites(app) == []


async def test_a_secretary_invites_only_to_their_units_and_an_admin_to_any(app: App) -> None:
    await grant(app, SECRETARY, "secretary", "ls-x-na-sam")
    refused = shown(await say(app, "/invite ls-x-dong-dang", SECRETARY))
    assert "only to your own units" in refused
    assert await invites(app) == []

    await grant(app, ADMIN, "admin")
    assert "Type /invite and the unit's code" in shown(await say(app, "/invite", ADMIN))
    assert "No unit has the code nowhere" in shown(await say(app, "/invite nowhere", ADMIN))
    assert "not in Tỉnh Lạng Sơn" in shown(await say(app, "/invite ls", ADMIN))
    created = shown(await say(app, "/invite LS-X-DONG-DANG", ADMIN))
    assert "New invitation to Xã Đồng Đăng" in created
    (invite,) = await invites(app)
    assert invite.unit_id == await unit_id(app, "ls-x-dong-dang")


async def test_a_secretary_of_several_units_chooses_one(app: App) -> None:
    await grant(app, SECRETARY, "secretary", "ls-x-na-sam")
    await grant(app, SECRETARY, "secretary", "ls-x-dong-dang")
    choose = shown(await say(app, "/invite", SECRETARY))
    assert "Invite young people to which unit?" in choose
    assert "1. Xã Na Sầm\n  2. Xã Đồng Đăng" in choose
    assert "New invitation to Xã Đồng Đăng" in shown(await say(app, "2", SECRETARY))
    (invite,) = await invites(app)
    assert invite.unit_id == await unit_id(app, "ls-x-dong-dang")


async def test_forged_buttons_do_nothing_outside_scope(app: App) -> None:
    await grant(app, SECRETARY, "secretary", "ls-x-na-sam")
    await grant(app, "other", "secretary", "ls-x-dong-dang")
    await say(app, "/invite", SECRETARY)
    await say(app, "/invite", "other")
    ours, theirs = await invites(app)
    na_sam = await unit_id(app, "ls-x-na-sam")

    # Another unit's secretary, in their own list, presses a forged "revoke" of our code.
    await say(app, "/invite", "other")
    forged = shown(await press(app, "other", f"f:invite:action:{ours.id}"))
    assert "That button belongs to an earlier question." in forged
    await say(app, "/cancel", "other")
    # Choosing a unit that is not theirs, with or without the unit form open.
    no_form = shown(await press(app, "other", f"f:invite_unit:unit:{na_sam}"))
    assert "That button is no longer active" in no_form
    await grant(app, "other", "secretary", "ls-p-tam-thanh")
    await say(app, "/invite", "other")
    forged = shown(await press(app, "other", f"f:invite_unit:unit:{na_sam}"))
    assert "That button belongs to an earlier question." in forged
    await say(app, "/cancel", "other")
    # A member with no role at all.
    await register(app, MEMBER)
    assert "no longer active" in shown(await press(app, MEMBER, f"f:invite:action:{ours.id}"))

    # The role goes between seeing the list and revoking: nothing is revoked.
    await say(app, "/invite", SECRETARY)
    async with app.db.write() as session:
        identity = await identity_for(session, "console", SECRETARY)
        await revoke_role(session, identity, "secretary", None, revoked_by="test")
    late = shown(await press(app, SECRETARY, f"f:invite:action:{ours.id}"))
    assert "only to your own units" in late
    assert [invite.revoked_at for invite in await invites(app)] == [None, None]
    assert [(i.id, i.unit_id) for i in await invites(app)] == [
        (ours.id, ours.unit_id),
        (theirs.id, theirs.unit_id),
    ]


def test_the_console_saves_the_qr_code(tmp_path: Path) -> None:
    granted = run_bot(
        tmp_path,
        *("roles", "grant", "secretary", "--channel", "console", "--user-id", "local"),
        *("--unit", "ls-x-na-sam"),
    )
    assert granted.returncode == 0, granted.stderr
    # The console opens registration by itself; the secretary leaves it to invite.
    result = run_bot(tmp_path, "chat", stdin="/language en\n/cancel\n/invite\n")
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(tmp_path / "bot.sqlite3") as db:
        (code,) = db.execute("SELECT code FROM invites").fetchone()
    assert f"Code: {code}" in result.stdout
    assert f"type /join {code}" in result.stdout
    saved = tmp_path / "var" / "console-files" / f"invite-{code}.png"
    assert f"📎 {saved}" in result.stdout
    check_qr_png(saved.read_bytes())


# --- Telegram end to end ---------------------------------------------------------------------

SON, LAN = 2001, 2002


@pytest.fixture
async def server(no_proxy: None) -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as server:
        yield server


@pytest.fixture
async def bot(tmp_path: Path, server: FakeBotApi) -> AsyncIterator[Channel]:
    # The bot's username, for the deep link, where the configuration knows that setting.
    config = telegram_config(tmp_path, server, TELEGRAM_BOT_USERNAME=server.bot_username)
    channel = await started(config)
    yield channel
    await stopped(channel)


async def test_on_telegram_a_deep_link_and_a_qr_photo_register_into_the_unit(
    tmp_path: Path, server: FakeBotApi, bot: Channel
) -> None:
    async with bot.app.db.write() as session:
        identity = await identity_for(session, "telegram", str(SON))
        unit = (await session.scalars(select(Unit).where(Unit.code == "ls-x-na-sam"))).one()
        await grant_role(session, identity, "secretary", unit, granted_by="test")
    son = User(server, SON, language="en")
    mark = len(server.sent)
    text = (await son.says("/invite", expect="New invitation to Xã Na Sầm")).text or ""
    code = the_code(text.replace("<b>", "").replace("</b>", ""))
    username = getattr(bot.app.config.telegram, "bot_username", None)
    link = f"https://t.me/{server.bot_username}?start={code}"
    if username:  # the setting exists (and the test set it): the link is in the reply
        assert f"Link: {link}" in text
    assert f"/join {code}" in text

    def photo(message: SentMessage) -> bool:
        return message.chat_id == SON and message.method == "sendPhoto"

    sent = await server.wait_for(lambda m: m in server.sent[mark:] and photo(m), timeout=10)
    check_qr_png(sent.params["photo"].content)

    # Opening the link makes Telegram send "/start CODE" in the newcomer's chat.
    lan = User(server, LAN, language="en")
    welcome = await lan.says(f"/start {code}", expect="You were invited to join")
    assert "Xã Na Sầm" in (welcome.text or "")
    await lan.presses("✅ I agree", expect="What is your full name?")
    await lan.says("Vi Thị Lan", expect="In which year were you born?")
    phone = await lan.says("2003", expect="Your phone number")
    assert "step 4 of 4" in (phone.text or "")
    summary = await lan.says("Skip", expect="please check")  # a reply-keyboard button
    assert "Unit: Xã Na Sầm (from the invitation)" in (summary.text or "")
    await lan.presses("✅ Register", expect="You are registered")
    assert not any(UNIT_QUESTION in (m.text or "") for m in server.messages_to(LAN))
    with sqlite3.connect(tmp_path / "bot.sqlite3") as db:
        rows = db.execute(
            "SELECT m.full_name, u.code FROM members m JOIN units u ON u.id = m.unit_id"
        ).fetchall()
        uses = db.execute("SELECT uses FROM invites WHERE code = ?", (code,)).fetchone()
    assert rows == [("Vi Thị Lan", "ls-x-na-sam")]
    assert uses == (1,)
