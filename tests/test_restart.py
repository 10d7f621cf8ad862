"""The bot as a process: killed with SIGKILL in the middle of a registration, started again,
it continues the form where the user was."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from tests.botapi import FakeBotApi, SentMessage
from tests.conftest import bot_env, start_bot_run

MAI = 1001


@asynccontextmanager
async def bot_process(
    tmp_path: Path, server: FakeBotApi, token: str | None = None
) -> AsyncIterator[asyncio.subprocess.Process]:
    """`python -m bot run` against the test's Bot API server; its stderr is piped."""
    env = bot_env(
        tmp_path,
        TELEGRAM_BOT_TOKEN=token or server.token,
        TELEGRAM_API_BASE_URL=server.root_url,
    )
    process = await start_bot_run(env, stderr=asyncio.subprocess.PIPE)
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


async def answer(server: FakeBotApi, text: str, expect: str) -> SentMessage:
    mark = len(server.sent)
    server.user_message(MAI, text)
    return await server.wait_for(
        lambda m: m in server.sent[mark:] and expect in (m.text or ""), timeout=30
    )


async def test_killed_mid_registration_it_continues_after_restart(
    tmp_path: Path, no_proxy: None
) -> None:
    async with FakeBotApi() as server:
        async with bot_process(tmp_path, server) as process:
            await answer(server, "/start", "Bạn có đồng ý không?")
            await answer(server, "1", "Họ và tên của bạn là gì?")
            await answer(server, "Hoàng Thị Mai", "Bạn sinh năm nào?")
            process.kill()  # SIGKILL: no cleanup at all
            await process.wait()
        async with bot_process(tmp_path, server):
            reply = await answer(server, "2004", "Bạn sinh hoạt ở xã, phường")
            assert "Đăng ký · bước 4/5" in (reply.text or "")
            await answer(server, "na sam", "Số điện thoại")
            await answer(server, "bỏ qua", "Đăng ký: bạn vui lòng kiểm tra trước khi gửi")
            await answer(server, "1", "Bạn đã đăng ký thành công. Chào mừng Hoàng Thị Mai!")


async def test_a_rejected_token_is_one_line_and_exit_code_2(
    tmp_path: Path, no_proxy: None
) -> None:
    async with FakeBotApi() as server, bot_process(tmp_path, server, "999:WRONG") as process:
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 2
    lines = [line for line in stderr.decode().splitlines() if " INFO " not in line]
    assert lines == ["TELEGRAM_BOT_TOKEN: the Bot API server rejected this token"]
