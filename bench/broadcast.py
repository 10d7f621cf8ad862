"""Broadcast benchmark: delivery rate against a Bot API server that enforces 30 messages per
second, and how fast people chatting during the broadcast are answered.

    .venv/bin/python -m bench.broadcast [--members 10000]

Everything runs on loopback in one process: the test Bot API server (tests/botapi), the real
Telegram channel with its delivery worker, and a SQLite database in a temporary folder.
Figures are printed as ratios against the server's cap and against the same chat measured
with no broadcast running, in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import statistics
import tempfile
import time
from pathlib import Path

from bot.app import build_app
from bot.config import FloodConfig, load
from models.outbox import audience, enqueue_broadcast
from models.tables import Broadcast
from tests.botapi import FakeBotApi, SentMessage
from tests.test_broadcast import add_members

CAP = 30
FIRST_MEMBER = 10_000_000
CHATTERS = (901, 902, 903)
THINK = 1.0  # seconds between one chat message and the next


async def chat_latencies(server: FakeBotApi, rounds: int) -> list[float]:
    """Seconds from a user's message to the bot's answer: a few users taking turns, one
    message a second in all, as people chatting do."""
    latencies = []
    for _ in range(rounds):
        for user in CHATTERS:
            await asyncio.sleep(THINK)
            mark = len(server.sent)
            started = time.perf_counter()
            server.user_message(user, "/help")
            await server.wait_reply(user, after=mark, timeout=30)
            latencies.append(time.perf_counter() - started)
    return latencies


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


async def main(members: int) -> None:
    async with FakeBotApi() as server:
        server.rate_limit = CAP
        folder = Path(tempfile.mkdtemp(prefix="bench-broadcast-"))
        config = load(
            Path("config.toml"),
            {
                "DATABASE_URL": f"sqlite+aiosqlite:///{folder / 'bench.sqlite3'}",
                "TELEGRAM_BOT_TOKEN": server.token,
                "TELEGRAM_API_BASE_URL": server.root_url,
            },
        )
        config = dataclasses.replace(
            config, data_dir=folder, flood=FloodConfig(messages=10_000, per_seconds=1.0)
        )
        app = build_app(config)
        await app.prepare()
        channel = app.channels["telegram"]
        await channel.start()
        try:
            unit_id = await add_members(channel, members, first_chat=FIRST_MEMBER)
            idle = await chat_latencies(server, rounds=10)

            calls_before = sum(1 for method, _ in server.calls if method == "sendMessage")
            async with app.db.write() as session:
                broadcast = Broadcast(
                    sender_unit_id=unit_id, text="Benchmark", audience={}, status="running"
                )
                session.add(broadcast)
                await session.flush()
                await enqueue_broadcast(session, broadcast, audience({unit_id}))
            channel.worker.wake()

            delivered = 0
            times: list[float] = []

            def counted(message: SentMessage) -> bool:
                # Called once per message sent: counting here keeps the watcher cheap.
                nonlocal delivered
                if message.method == "sendMessage" and message.chat_id >= FIRST_MEMBER:
                    delivered += 1
                    times.append(time.perf_counter())
                return delivered >= members

            watcher = asyncio.create_task(server.wait_for(counted, timeout=members / 10 + 60))
            busy = await chat_latencies(server, rounds=10)
            await watcher
            calls = sum(1 for method, _ in server.calls if method == "sendMessage") - calls_before
        finally:
            await channel.stop()
            await app.close()

    rate = (members - 1) / (times[-1] - times[0])
    print(f"broadcast to {members:,} members against a {CAP}/s server, one run")
    print(f"  achieved rate      {rate:6.2f} msg/s = {rate / CAP:.1%} of the cap (target >= 95%)")
    print(
        f"  answered 429       {server.rate_limited} of {calls} sends = "
        f"{server.rate_limited / calls:.2%} (target <= 1%)"
    )
    print(
        f"  chat reply p95     idle {p95(idle) * 1000:6.1f} ms, during the broadcast "
        f"{p95(busy) * 1000:6.1f} ms = {p95(busy) / p95(idle):.2f}x (target <= 1.5x)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=10_000)
    asyncio.run(main(parser.parse_args().members))
