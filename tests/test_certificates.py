"""Certificates anyone can check: a member gets the certificate of their approved volunteer
hours, an award decision gets one; each code verifies in the chat, on the command line and on
the public page; a changed code is refused, a revoked certificate says so, an erased holder's
certificate is withdrawn; and only admins revoke, once."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import io
import re
import socket
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
import zxingcpp
from pypdf import PdfReader
from sqlalchemy import func, select, update

from bot.app import App, build_app
from bot.certificates import (
    ALPHABET,
    AwardDecision,
    Standing,
    certificate_file,
    check_code,
    issue_award_certificate,
)
from bot.channels.console import render
from bot.config import Config, ConfigError, load
from bot.events import Reply
from bot.verify_page import VerifyServer
from models.entries import Reviewer, current_campaign, decide, save_entry
from models.tables import AuditRecord, Certificate, Entry, EntryParticipant, Member, Unit
from tests.botapi import FakeBotApi
from tests.conftest import ROOT, bot_env, make_config, polled, run_bot, start_bot_run
from tests.test_abuse import Chat, register
from tests.test_abuse import give as give_to
from tests.test_reporting import REGISTER, VOLUNTEER, say
from tests.test_review import join
from tests.test_telegram import User, started, stopped, telegram_config

LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")
SECRET = "a long random key for the tests, not the one in production"
PUBLIC = "https://thidua.example.vn/verify"
ENV = {"CERTIFICATE_SECRET": SECRET, "VERIFY_PUBLIC_URL": PUBLIC}
ADMIN = Reviewer(scope=None, member_id=None)
CODE = re.compile(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}")


@pytest.fixture
def config(tmp_path: Path) -> Config:
    """The test's config with a certificate key and a public verify address (the `app`
    fixture is built from it)."""
    return make_config(tmp_path, **ENV)


def joined(replies: list[Reply]) -> str:
    """What the person reads, as in a text-only chat."""
    return "\n\n".join(render(reply) for reply in replies)


def today() -> dt.date:
    return dt.datetime.now(LOCAL).date()


async def approve_all(app: App) -> None:
    """An admin approves every entry waiting."""
    async with app.db.write() as session:
        for entry in await session.scalars(select(Entry).where(Entry.status == "submitted")):
            await decide(
                session,
                entry.id,
                version=entry.version,
                who=ADMIN,
                approve=True,
                reason=None,
                actor="test",
                tz=LOCAL,
            )


async def volunteer_member(app: App) -> Chat:
    """Hoàng Thị Mai of Na Sầm: her own 4 hours yesterday, approved; 5 more hours in a branch
    activity she joined, approved; another 2 hours of her own still waiting."""
    mai = Chat(app, "local")
    for line in REGISTER:
        await mai.send(line)
    for line in ("/report", "2", *VOLUNTEER, "1"):
        await mai.send(line)
    await approve_all(app)
    for line in ("/report", "2", VOLUNTEER[0], "hôm nay", *VOLUNTEER[2:4], "2", *VOLUNTEER[5:]):
        await mai.send(line)
    assert "Đã lưu" in joined(await mai.send("1"))  # waiting: not certified
    async with app.db.write() as session:
        member = (await session.scalars(select(Member))).one()
        unit = (await session.scalars(select(Unit.id).where(Unit.code == "ls-x-na-sam"))).one()
        day = today() - dt.timedelta(days=2)
        branch = await save_entry(
            session,
            kind="volunteer",
            reporter_id=member.id,
            unit_id=unit,
            campaign_id=(await current_campaign(session, day, "volunteer")).id,
            collective=True,
            title="Ra quân làm sạch bờ suối",
            answers={
                "activity": "Ra quân",
                "date": day.isoformat(),
                "participants": 20,
                "hours": 5,
            },
            happened_on=day,
            evidence=[],
            actor="test",
            tz=LOCAL,
        )
        session.add(EntryParticipant(entry_id=branch.id, member_id=member.id, hours=5))
        await decide(
            session,
            branch.id,
            version=1,
            who=ADMIN,
            approve=True,
            reason=None,
            actor="t",
            tz=LOCAL,
        )
    return mai


def pdf_of(replies: list[Reply]) -> tuple[str, str, str]:
    """The certificate sent: its text, the code on it, and what its QR code holds."""
    (document,) = [reply.document for reply in replies if reply.document is not None]
    assert document.mime_type == "application/pdf"
    page = PdfReader(io.BytesIO(document.content)).pages[0]
    text = page.extract_text()
    found = CODE.search(text)
    assert found is not None, text
    (qr,) = page.images
    (payload,) = [barcode.text for barcode in zxingcpp.read_barcodes(qr.image)]
    return text, found.group(), payload


async def certificate_of_mai(app: App) -> str:
    mai = await volunteer_member(app)
    ask = joined(await mai.send("/certificate"))
    assert "cho khoảng thời gian nào?" in ask
    replies = await mai.send("1")  # this year, up to today
    assert replies[0].text == "⏳ Mình đang chuẩn bị giấy chứng nhận cho bạn…"
    _, code, _ = pdf_of(replies)
    return code


async def test_a_member_gets_a_certificate_of_their_approved_hours(app: App) -> None:
    mai = await volunteer_member(app)
    await mai.send("/certificate")
    replies = await mai.send("1")
    text, code, payload = pdf_of(replies)
    # 4 of her own and 5 in the branch's activity; the 2 waiting hours are not certified.
    year = today().year
    caption = replies[-1].text
    assert f"Giấy chứng nhận 9 giờ tình nguyện năm {year}" in caption
    assert f"/verify {code}" in caption
    for expected in (
        "GIẤY CHỨNG NHẬN",
        "Hoàng Thị Mai",
        "Đơn vị: Xã Na Sầm",
        f"Đã tham gia 9 giờ hoạt động tình nguyện vì cộng đồng năm {year}",
        f"Mã kiểm tra: {code}",
    ):
        assert expected in text, expected
    assert payload == f"{PUBLIC}/{code}"
    # Asking again for the same hours gives the same certificate, not a second one.
    await mai.send("/certificate")
    _, again, _ = pdf_of(await mai.send("1"))
    assert again == code
    async with app.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Certificate)) == 1
        actions = (await session.scalars(select(AuditRecord.action))).all()
    assert actions.count("certificate.issued") == 1


async def test_without_approved_hours_nothing_is_issued(app: App) -> None:
    for line in (*REGISTER, "/report", "2", *VOLUNTEER, "1"):  # waiting for review
        await say(app, line)
    await say(app, "/certificate")
    answer = await say(app, "3")  # since the movement began
    assert "bạn chưa có giờ tình nguyện nào được duyệt" in answer
    assert "báo cáo đang chờ duyệt chưa được tính" in answer
    async with app.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Certificate)) == 0


async def test_anyone_checks_a_code_in_the_chat_and_a_changed_one_is_refused(app: App) -> None:
    code = await certificate_of_mai(app)
    stranger = Chat(app, "employer")  # never registered
    answer = joined(await stranger.send(f"/verify {code}"))
    assert "✅ Giấy chứng nhận hợp lệ." in answer
    assert "Người được cấp: Hoàng Thị Mai" in answer and "Đơn vị: Xã Na Sầm" in answer
    assert "2004" not in answer  # no personal data beyond name, unit and what is certified
    # Typed loosely: lower case, no dashes, O for 0, or the QR code's whole address.
    loose = code.replace("-", "").lower().replace("0", "o")
    for typed in (loose, f"{PUBLIC}/{code}", f" {code} "):
        assert "hợp lệ" in joined(await stranger.send(f"/verify {typed}")), typed
    # Asked for, then typed.
    assert "gõ mã của giấy chứng nhận" in joined(await stranger.send("/verify"))
    assert "✅ Giấy chứng nhận hợp lệ." in joined(await stranger.send(code))
    # Any one character changed: refused, whichever half it is in.
    plain = code.replace("-", "")
    for position in range(len(plain)):
        other = next(c for c in ALPHABET if c != plain[position] and c not in "01")
        changed = plain[:position] + other + plain[position + 1 :]
        answer = joined(await stranger.send(f"/verify {changed}"))
        assert answer.startswith("❌"), (position, answer)
        assert ("Không tìm thấy" if position < 8 else "Không hợp lệ") in answer
    assert "Đây không phải mã giấy chứng nhận" in joined(await stranger.send("/verify hello"))


async def test_a_certificate_changed_in_the_register_no_longer_verifies(
    app: App, config: Config
) -> None:
    code = await certificate_of_mai(app)
    async with app.db.write() as session:
        await session.execute(update(Certificate).values(details={"hours": 90, "year": 2026}))
    async with app.db.read() as session:
        verdict = await check_code(session, config, code)
    assert verdict.standing is Standing.ALTERED
    # Nor does a code made with another key.
    other = dataclasses.replace(config, verify=dataclasses.replace(config.verify, secret="x" * 32))
    async with app.db.write() as session:
        await session.execute(update(Certificate).values(details={}))
    async with app.db.read() as session:
        assert (await check_code(session, other, code)).standing is Standing.ALTERED


async def test_an_admin_revokes_once_and_everyone_sees_it_revoked(app: App) -> None:
    code = await certificate_of_mai(app)
    # A member checking it is offered nothing more.
    assert len(await Chat(app, "local").send(f"/verify {code}")) == 1
    ha = Chat(app, "ha")
    await register(ha, "Nông Thị Hà", "dong kinh")
    await give_to(app, "ha", "admin")
    card, offer = await ha.send(f"/verify {code}")
    assert "hợp lệ" in card.text
    assert "có thể thu hồi giấy chứng nhận này" in offer.text
    revoke_button = offer.choices[0].value
    assert "Lý do thu hồi" in joined(await ha.press(revoke_button))
    assert "ít nhất 5 ký tự" in joined(await ha.send("sai"))  # too short: asked again
    ask = joined(await ha.send("Cấp nhầm: hoạt động đã bị trùng"))
    assert f"Thu hồi giấy chứng nhận {code}?" in ask
    # A second tap on the earlier card's button while the form goes on does nothing.
    assert "câu hỏi trước" in joined(await ha.press(revoke_button))
    done = joined(await ha.send("1"))
    assert f"Đã thu hồi giấy chứng nhận {code}" in done
    # The old card's button, once the form is over, says why it does nothing.
    stale = joined(await ha.press(revoke_button))
    assert "Giấy chứng nhận này đã bị thu hồi từ ngày" in stale
    answer = joined(await Chat(app, "employer").send(f"/verify {code}"))
    assert answer.startswith("⛔ Đã thu hồi ngày")
    assert "Lý do: Cấp nhầm: hoạt động đã bị trùng" in answer
    # An admin checking it again is not offered to revoke it twice.
    assert len(await ha.send(f"/verify {code}")) == 1
    async with app.db.read() as session:
        actions = (await session.scalars(select(AuditRecord.action))).all()
        revoked = (await session.scalars(select(Certificate))).one()
    assert actions.count("certificate.revoked") == 1
    assert revoked.revoke_reason == "Cấp nhầm: hoạt động đã bị trùng"


async def test_the_command_line_issues_verifies_and_revokes(tmp_path: Path, app: App) -> None:
    await volunteer_member(app)
    await app.close()  # the commands use the same database file
    async with app.db.read() as session:
        member_id = (await session.scalars(select(Member.id))).one()
    out = tmp_path / "out" / "mai.pdf"
    year = today().year
    issued = run_bot(
        tmp_path,
        "certificates",
        "issue",
        "--member-id",
        str(member_id),
        "--hours-from",
        f"{year}-01-01",
        "--hours-to",
        f"{year}-12-31",
        "--out",
        str(out),
        env=ENV,
    )
    assert issued.returncode == 0, issued.stderr
    code = CODE.search(issued.stdout)
    assert code is not None and f"Giấy chứng nhận 9 giờ tình nguyện năm {year}" in issued.stdout
    assert "Hoàng Thị Mai" in PdfReader(out).pages[0].extract_text()

    valid = run_bot(tmp_path, "certificates", "verify", code.group(), env=ENV)
    assert valid.returncode == 0
    assert valid.stdout.startswith("Hợp lệ: Hoàng Thị Mai (Xã Na Sầm) đã tham gia 9 giờ")
    assert len(valid.stdout.strip().splitlines()) == 1
    changed = code.group()[:-1] + ("A" if code.group()[-1] != "A" else "B")
    refused = run_bot(tmp_path, "certificates", "verify", changed, env=ENV)
    assert refused.returncode == 1 and refused.stdout.startswith("Không hợp lệ")
    withdrawn = run_bot(
        tmp_path, "certificates", "revoke", code.group(), "--reason", "Trùng hoạt động", env=ENV
    )
    assert withdrawn.returncode == 0, withdrawn.stderr
    revoked = run_bot(tmp_path, "certificates", "verify", code.group(), env=ENV)
    assert revoked.returncode == 1
    assert revoked.stdout.startswith("Đã thu hồi ngày") and "Trùng hoạt động" in revoked.stdout
    again = run_bot(tmp_path, "certificates", "revoke", code.group(), "--reason", "lần 2", env=ENV)
    assert again.returncode == 1

    nothing = run_bot(
        tmp_path,
        "certificates",
        "issue",
        "--member-id",
        str(member_id),
        "--hours-from",
        "2022-01-01",
        "--hours-to",
        "2022-12-31",
        "--out",
        str(tmp_path / "none.pdf"),
        env=ENV,
    )
    assert nothing.returncode == 1 and "no approved volunteer hours" in nothing.stderr
    assert not (tmp_path / "none.pdf").exists()
    unknown = run_bot(
        tmp_path, "certificates", "issue", "--member-id", "999", "--hours-from", "2026-01-01",
        "--hours-to", "2026-12-31", "--out", str(tmp_path / "x.pdf"), env=ENV,
    )  # fmt: skip
    assert unknown.returncode == 2 and "no member 999" in unknown.stderr
    keyless = run_bot(tmp_path, "certificates", "verify", code.group())
    assert keyless.returncode == 1 and "chưa được cài khóa" in keyless.stdout


async def test_the_public_page_answers_valid_revoked_and_changed_codes(
    app: App, no_proxy: None
) -> None:
    code = await certificate_of_mai(app)
    async with app.db.write() as session:  # changed behind the bot's back
        await session.execute(update(Certificate).values(unit_name="Xã Na Sầm Mới"))
    page = VerifyServer(app)
    page.start("127.0.0.1", 0)
    base = f"http://127.0.0.1:{page.port}/verify"
    try:
        async with httpx.AsyncClient() as client:
            altered = await client.get(f"{base}/{code}")
            assert altered.status_code == 404  # the register was changed behind the bot's back
            async with app.db.write() as session:
                await session.execute(update(Certificate).values(unit_name="Xã Na Sầm"))
            valid = await client.get(f"{base}/{code}", headers={"Accept-Language": "vi-VN"})
            assert valid.status_code == 200
            html = valid.text
            assert "Giấy chứng nhận hợp lệ." in html and "Hoàng Thị Mai" in html
            assert "Xã Na Sầm" in html and code in html
            assert "2004" not in html  # name, unit and what is certified: nothing more
            assert valid.headers["content-type"] == "text/html; charset=utf-8"
            assert valid.headers["cache-control"] == "no-store"
            assert valid.headers["x-content-type-options"] == "nosniff"
            assert "default-src 'none'" in valid.headers["content-security-policy"]
            assert "server" not in valid.headers
            english = await client.get(f"{base}/{code}", headers={"Accept-Language": "en-GB"})
            assert "This certificate is valid." in english.text
            typed = await client.get(f"{base}/", params={"code": code.lower()})
            assert typed.status_code == 200
            form = await client.get(base)
            assert form.status_code == 200 and 'name="code"' in form.text
            changed = code[:-1] + ("A" if code[-1] != "A" else "B")
            refused = await client.get(f"{base}/{changed}")
            assert refused.status_code == 404 and "Không hợp lệ" in refused.text
            assert (await client.get(f"{base}/%3Cb%3E")).status_code == 400
            assert (await client.post(f"{base}/{code}", content=b"")).status_code == 405
            async with app.db.write() as session:
                await session.execute(
                    update(Certificate).values(
                        revoked_at=dt.datetime.now(dt.UTC),
                        revoked_by="cli",
                        revoke_reason="Trùng <hoạt động>",
                    )
                )
            revoked = await client.get(f"{base}/{code}")
            assert revoked.status_code == 410
            assert "Giấy chứng nhận này đã bị thu hồi." in revoked.text
            assert "Trùng &lt;hoạt động&gt;" in revoked.text and "<hoạt" not in revoked.text
    finally:
        await page.stop()


async def test_the_page_escapes_what_the_register_holds(app: App, no_proxy: None) -> None:
    """A unit name with markup (units come from an imported file) is shown as text."""
    async with app.db.write() as session:
        issued = await issue_award_certificate(
            session,
            app.config,
            AwardDecision(
                holder="Chi đoàn <script>alert(1)</script>",
                unit_name='Đoàn xã Na Sầm & "Bản Chu"',
                award="Giấy khen của Ban Thường vụ Tỉnh Đoàn",
                decision="12/QĐ-TĐ",
                decided_on=dt.date(2026, 11, 20),
                signer="Bí thư Tỉnh Đoàn",
            ),
            actor="test",
        )
    page = VerifyServer(app)
    page.start("127.0.0.1", 0)
    try:
        async with httpx.AsyncClient() as client:
            found = await client.get(f"http://127.0.0.1:{page.port}/verify/{issued.code}")
    finally:
        await page.stop()
    assert found.status_code == 200
    assert "<script>" not in found.text
    assert "Chi đoàn &lt;script&gt;alert(1)&lt;/script&gt;" in found.text
    assert "Đoàn xã Na Sầm &amp; &quot;Bản Chu&quot;" in found.text


async def test_an_award_decision_gets_a_certificate_that_verifies(app: App) -> None:
    decision = AwardDecision(
        holder="Hoàng Thị Mai",
        unit_name="Xã Na Sầm",
        award="Bằng khen của Chủ tịch Ủy ban nhân dân tỉnh",
        decision="123/QĐ-UBND",
        decided_on=dt.date(2026, 12, 1),
        signer="Chủ tịch UBND tỉnh Lạng Sơn",
        achievement="thành tích xuất sắc trong Phong trào thi đua",
    )
    async with app.db.write() as session:
        issued = await issue_award_certificate(session, app.config, decision, actor="test")
        again = await issue_award_certificate(session, app.config, decision, actor="test")
    assert again.code == issued.code  # the same decision: the same certificate
    t = app.catalogs.translator("vi", LOCAL)
    page = PdfReader(io.BytesIO(certificate_file(t, app.config, issued))).pages[0]
    text = " ".join(page.extract_text().split())  # as read, whatever the line breaks
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in text
    assert "Bằng khen của Chủ tịch Ủy ban nhân dân tỉnh" in text
    assert "Quyết định số 123/QĐ-UBND ngày 01/12/2026" in text
    answer = await say(app, f"/verify {issued.code}")
    assert "hợp lệ" in answer and "Giấy chứng nhận khen thưởng" in answer


async def test_erasing_oneself_withdraws_ones_certificates(app: App) -> None:
    code = await certificate_of_mai(app)
    await say(app, "/deleteme")
    assert "Dữ liệu của bạn đã được xóa" in await say(app, "1")
    answer = joined(await Chat(app, "employer").send(f"/verify {code}"))
    assert "không còn hiệu lực" in answer and "Hoàng Thị Mai" not in answer
    async with app.db.read() as session:
        row = (await session.scalars(select(Certificate))).one()
    assert (row.holder, row.unit_name, row.details, row.member_id) == ("", "", {}, None)


async def test_without_a_key_certificates_are_politely_unavailable(tmp_path: Path) -> None:
    app = build_app(make_config(tmp_path))
    await app.prepare()
    try:
        for line in REGISTER:
            await say(app, line)
        assert "chưa bật chức năng cấp giấy chứng nhận" in await say(app, "/certificate")
        assert "chưa được cài khóa" in await say(app, "/verify ABCD-EFGH-JKMN-PQRS")
    finally:
        await app.close()


async def test_a_member_gets_their_certificate_on_telegram(tmp_path: Path, no_proxy: None) -> None:
    async with FakeBotApi() as server:
        channel = await started(telegram_config(tmp_path, server, **ENV))
        try:
            mai = await join(server, 1001, "Hoàng Thị Mai", "na sam")
            await mai.says("/report", expect="")
            await mai.says("2", expect="")
            for answer in VOLUNTEER:
                await mai.says(answer, expect="")
            await mai.says("1", expect="#")
            await approve_all(channel.app)
            await mai.says("/certificate", expect="cho khoảng thời gian nào?")
            mark = len(server.sent)
            await mai.presses(
                f"Năm {today().year} (đến hôm nay)", expect="Mình đang chuẩn bị giấy chứng nhận"
            )
            sent = await server.wait_for(
                lambda m: (
                    m.chat_id == 1001 and m.method == "sendDocument" and m in server.sent[mark:]
                )
            )
            upload = sent.params["document"]
            text = PdfReader(io.BytesIO(upload.content)).pages[0].extract_text()
            found = CODE.search(text)
            assert found is not None and "Hoàng Thị Mai" in text
            employer = User(server, 1002)
            await employer.says(f"/verify {found.group()}", expect="Giấy chứng nhận hợp lệ.")
        finally:
            await stopped(channel)


async def test_run_serves_the_verify_page_beside_the_channels(
    tmp_path: Path, app: App, no_proxy: None
) -> None:
    """`python -m bot run` with verify.listen set serves the page on its own port, and
    stops serving it when stopped."""
    code = await certificate_of_mai(app)
    await app.close()
    with socket.socket() as probe:  # a port free now, for the bot to listen on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = tmp_path / "config.toml"
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    settings.write_text(
        text.replace('listen = ""', f'listen = "127.0.0.1:{port}"', 1), encoding="utf-8"
    )
    async with FakeBotApi() as server:
        env = bot_env(
            tmp_path,
            TELEGRAM_BOT_TOKEN=server.token,
            TELEGRAM_API_BASE_URL=server.root_url,
            **ENV,
        )
        process = await start_bot_run(env)
        try:
            async with httpx.AsyncClient() as client:

                async def page() -> httpx.Response | None:
                    try:
                        return await client.get(f"http://127.0.0.1:{port}/verify/{code}")
                    except httpx.TransportError:
                        return None  # not listening yet

                answered = await polled(page, timeout=30)
                assert answered.status_code == 200 and "Hoàng Thị Mai" in answered.text
                process.terminate()
                assert await asyncio.wait_for(process.wait(), timeout=30) == 0
                assert await page() is None
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()


async def test_a_double_tap_issues_one_certificate(app: App) -> None:
    mai = await volunteer_member(app)
    await mai.send("/certificate")
    first = await mai.press("f:certificate:period:year")
    again = await mai.press("f:certificate:period:year")  # the same button, tapped twice
    assert pdf_of(first)[1]
    assert not any(reply.document for reply in again)  # the form is over: nothing more
    async with app.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Certificate)) == 1


async def test_two_admins_revoking_at_once_the_first_decides(app: App) -> None:
    code = await certificate_of_mai(app)
    admins = [Chat(app, "ha"), Chat(app, "son")]
    for admin, name in zip(admins, ("Nông Thị Hà", "Lý Văn Sơn"), strict=True):
        await register(admin, name, "dong kinh")
        await give_to(app, admin.user, "admin")
        await admin.send(f"/verify {code}")
        await admin.send("1")
        await admin.send(f"Lý do của {name}")
    answers = [joined(replies) for replies in await asyncio.gather(*(a.send("1") for a in admins))]
    assert sum("Đã thu hồi giấy chứng nhận" in answer for answer in answers) == 1
    assert sum("đã bị thu hồi từ ngày" in answer for answer in answers) == 1
    async with app.db.read() as session:
        actions = (await session.scalars(select(AuditRecord.action))).all()
    assert actions.count("certificate.revoked") == 1


async def test_nobody_revokes_their_own_certificate(app: App) -> None:
    code = await certificate_of_mai(app)
    await give_to(app, "local", "admin")  # Mai is an admin too
    mine = await Chat(app, "local").send(f"/verify {code}")
    assert len(mine) == 1 and "hợp lệ" in joined(mine)  # nothing to revoke
    # A revoke button forged for her own certificate acts on nothing.
    async with app.db.read() as session:
        certificate_id = (await session.scalars(select(Certificate.id))).one()
    forged = await Chat(app, "local").press(f"f:revoke_certificate:action:revoke:{certificate_id}")
    assert "Đã thu hồi" not in joined(forged)
    async with app.db.read() as session:
        assert (await session.scalars(select(Certificate.revoked_at))).one() is None


@pytest.mark.parametrize(
    ("setting", "env", "problem"),
    [
        ("", {"CERTIFICATE_SECRET": "short"}, "CERTIFICATE_SECRET: at least 16 characters"),
        ('public_url = "thidua.vn/verify"', {}, "verify.public_url: must be an https://"),
        ('listen = "8445"', {}, 'verify.listen: must be "host:port"'),
        ('listen = "127.0.0.1:99999"', {}, 'verify.listen: must be "host:port"'),
    ],
)
def test_bad_certificate_settings_name_the_key(
    tmp_path: Path, setting: str, env: dict[str, str], problem: str
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(f"[verify]\n{setting}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape(problem)):
        load(path, env)
    listening = tmp_path / "ok.toml"
    listening.write_text('[verify]\nlisten = "[::1]:8445"\n', encoding="utf-8")
    verify = load(listening, {}).verify
    assert (verify.listen_host, verify.listen_port) == ("::1", 8445)
