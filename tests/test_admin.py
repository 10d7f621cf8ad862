"""Roles and units from the chat, and who may do what: every secretary and admin action
refused to those without the role, in the chat as typed."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from bot.app import App
from models.entries import current_campaign, save_entry
from models.people import audit, grant_role, identity_for
from models.tables import Identity, Member, RoleGrant, Unit
from tests.test_reporting import REGISTER, say


async def give(app: App, role: str, unit_code: str | None = None) -> None:
    async with app.db.write() as session:
        identity = await identity_for(session, "console", "local")
        unit = None
        if unit_code is not None:
            unit = (await session.scalars(select(Unit).where(Unit.code == unit_code))).one()
        await grant_role(session, identity, role, unit, granted_by="test")


async def roles_of_local(app: App) -> list[tuple[str, int | None]]:
    async with app.db.read() as session:
        return [
            (grant.role, grant.unit_id)
            for grant in (
                await session.scalars(
                    select(RoleGrant)
                    .join(Identity, Identity.id == RoleGrant.identity_id)
                    .where(Identity.user_id == "local")
                )
            ).all()
        ]


@pytest.mark.parametrize(
    ("command", "refusal"),
    [
        ("/review", "Chức năng xét duyệt dành cho bí thư và quản trị viên"),
        ("/broadcast", "Chức năng gửi thông báo dành cho bí thư và quản trị viên"),
        ("/broadcasts", "Chức năng gửi thông báo dành cho bí thư và quản trị viên"),
        ("/invite", "Chức năng mời thanh niên tham gia dành cho bí thư và quản trị viên"),
        ("/roles", "Chức năng phân quyền dành cho quản trị viên."),
        ("/units", "Chức năng thêm đơn vị dành cho bí thư và quản trị viên"),
    ],
)
async def test_a_member_is_refused_every_secretary_and_admin_action(
    app: App, command: str, refusal: str
) -> None:
    for line in REGISTER:
        await say(app, line)
    assert refusal in await say(app, command)
    assert await roles_of_local(app) == []


async def test_a_secretary_may_not_manage_roles(app: App) -> None:
    for line in REGISTER:
        await say(app, line)
    await give(app, "secretary", "ls-x-na-sam")
    assert "Chức năng phân quyền dành cho quản trị viên." in await say(app, "/roles")


async def test_an_admin_grants_and_revokes_a_role_in_the_chat(app: App) -> None:
    for line in REGISTER:
        await say(app, line)
    await give(app, "admin")
    await say(app, "/roles")
    assert "Không tìm thấy người nào đã đăng ký" in await say(app, "zzz")
    choose = await say(app, "mai")
    assert "1. Hoàng Thị Mai · Xã Na Sầm" in choose
    change = await say(app, "1")
    assert "Giao quyền Bí thư một đơn vị" in change
    assert "Thu hồi: quản trị viên" in change
    await say(app, "1")
    done = await say(app, "dong dang")
    assert "Đã giao cho Hoàng Thị Mai làm Bí thư Đoàn xã Đồng Đăng." in done
    async with app.db.read() as session:
        dong_dang = (
            await session.scalars(select(Unit).where(Unit.code == "ls-x-dong-dang"))
        ).one()
    assert ("secretary", dong_dang.id) in await roles_of_local(app)
    await say(app, "/roles")
    await say(app, "mai")
    change = await say(app, "1")
    revoke = next(line for line in change.splitlines() if "Thu hồi: Bí thư" in line)
    assert "Thu hồi: Bí thư Đoàn xã Đồng Đăng" in revoke
    revoked = await say(app, revoke.split(".")[0].strip())
    assert "Hoàng Thị Mai không còn là Bí thư Đoàn xã Đồng Đăng." in revoked
    assert await roles_of_local(app) == [("admin", None)]


async def test_a_secretary_adds_a_branch_that_young_people_can_join(app: App) -> None:
    for line in REGISTER:
        await say(app, line)
    await give(app, "secretary", "ls-x-na-sam")
    await say(app, "/units")
    await say(app, "1")
    await say(app, "Chi đoàn thôn Bản Chu")
    review = await say(app, "1")
    assert "Tên đơn vị: Chi đoàn thôn Bản Chu" in review
    done = await say(app, "1")
    assert "Đã thêm Chi đoàn thôn Bản Chu vào Xã Na Sầm" in done
    async with app.db.read() as session:
        unit = (
            await session.scalars(select(Unit).where(Unit.name == "Chi đoàn thôn Bản Chu"))
        ).one()
        parent = await session.get(Unit, unit.parent_id)
    assert (unit.code, unit.kind, parent and parent.code) == (
        "ls-x-na-sam-chi-doan-thon-ban-chu",
        "branch",
        "ls-x-na-sam",
    )
    # Someone registering finds it by typing, diacritics optional.
    await say(app, "/deleteme")
    await say(app, "1")
    for line in REGISTER[:4]:
        await say(app, line)
    assert "Đơn vị: Chi đoàn thôn Bản Chu" in await say(app, "ban chu")


async def test_review_shows_what_waits_in_each_unit(app: App) -> None:
    from tests.test_stats import add_plain_members  # noqa: PLC0415 (it imports this module)

    for line in REGISTER:
        await say(app, line)
    await give(app, "secretary", "ls-x-na-sam")
    await say(app, "/units")
    await say(app, "1")
    await say(app, "Chi đoàn thôn Bản Chu")
    await say(app, "1")
    await say(app, "1")
    async with app.db.write() as session:
        others = await add_plain_members(session, 3)
        branch = (await session.scalars(select(Unit).where(Unit.name.like("Chi đoàn%")))).one()
        for number, member_id in enumerate(others):
            member = await session.get_one(Member, member_id)
            if number == 0:
                member.unit_id = branch.id
            campaign = await current_campaign(session, dt.date(2026, 11, 2), "initiative")
            await save_entry(
                session,
                kind="initiative",
                reporter_id=member_id,
                unit_id=member.unit_id,
                campaign_id=campaign.id,
                collective=False,
                title=f"Sáng kiến {number}",
                answers={"title": f"Sáng kiến {number}", "applied_on": "2026-11-02"},
                happened_on=dt.date(2026, 11, 2),
                evidence=[],
                actor="test",
                tz=app.config.tz,
            )
    review = await say(app, "/review")
    assert "Báo cáo chờ bạn duyệt, theo đơn vị\nXã Na Sầm: 2\nChi đoàn thôn Bản Chu: 1" in review
    assert "Có 3 báo cáo chờ bạn duyệt" in review


async def test_the_audit_log_is_for_admins_and_names_who_acted(app: App) -> None:
    for line in REGISTER:
        await say(app, line)
    assert "Nhật ký hoạt động dành cho quản trị viên." in await say(app, "/audit")
    await give(app, "admin")
    await say(app, "/roles")
    await say(app, "mai")
    await say(app, "1")
    await say(app, "1")
    await say(app, "dong dang")
    async with app.db.write() as session:
        await audit(session, "cli", "export.created", format="xlsx", rows=4, filters={})
        await audit(session, "scheduler", "entry.approved", entry_id=1)
        await audit(session, "cli", "award.appraised", entry_id=3)  # of a newer version
    log = await say(app, "/audit")
    assert "Các hoạt động gần đây" in log
    # Sentences, not codes: who acted (an admin by name), what, on what.
    assert "· Hoàng Thị Mai: Giao quyền Bí thư Đoàn xã Đồng Đăng cho Hoàng Thị Mai" in log
    assert "· test: Giao quyền quản trị viên cho Hoàng Thị Mai" in log
    assert "· Hoàng Thị Mai: Đăng ký tham gia" in log
    assert "· Dòng lệnh (người vận hành): Xuất 4 báo cáo (Excel)" in log
    assert "· Lịch gửi tự động: Duyệt báo cáo #1" in log
    assert "award.appraised (entry_id: 3)" in log
    assert "role.granted" not in log and "{" not in log


async def test_help_shows_each_person_the_commands_of_their_role(app: App) -> None:
    for line in REGISTER:
        await say(app, line)
    member = await say(app, "/help")
    assert "/report — báo cáo sáng kiến" in member
    assert "/review" not in member and "Dành cho" not in member
    assert "/nominations" not in member and "/periodreport" not in member  # secretaries'

    await give(app, "secretary", "ls-x-na-sam")
    secretary = await say(app, "/help")
    mine, theirs = secretary.split("Dành cho bí thư\n")
    assert "/report —" in mine and "/review" not in mine
    assert "/review — xét duyệt báo cáo của đơn vị\n" in theirs
    assert "/nominations — khen thưởng" in theirs and "/periodreport — báo cáo sơ kết" in theirs
    assert "(dành cho" not in theirs  # the part's title says it once
    assert "/campaigns" not in secretary and "Dành cho quản trị viên" not in secretary

    await give(app, "admin")
    admin = await say(app, "/help")
    assert admin.index("Dành cho bí thư") < admin.index("Dành cho quản trị viên\n/roles")
    assert "/audit — xem các hoạt động quan trọng gần đây" in admin
