"""Several processes on one PostgreSQL database: updates per second and processor time per
update with N = 1, 2, 3 `bot run` processes, and a broadcast delivered by three of them.

    .venv/bin/python -m bench.scale_out [--users 50] [--cycles 2] [--members 3000]

Everything runs on this machine: a throwaway PostgreSQL server (as the tests start one), the
test Bot API server and the users in this process (tests/botapi, the users of
bench/throughput.py: registered members in the volunteer form, each sending its next answer
once the last is answered), and the bots as `python -m bot run` subprocesses, each started N
times on a fresh database. Processor time per update is that of the bot processes and of the
PostgreSQL server's processes together (from /proc), over every step of the measured play;
the users and the Bot API server are left out, as they are the same whatever N.

Then the broadcast: three processes, the server answering 429 beyond 30 messages in any
one-second window, the bots' rate at Telegram's 30; the delivery rate from the first message
to the last against the cap, the share answered 429, and whether every member got it once.
Exits 0 whatever the verdicts: it is a benchmark.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime as dt
import os
import signal
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bench.throughput import (
    REPORT,
    Users,
    count_reports,
    in_the_form,
    load_average,
    machine,
    scripts,
)
from bot.app import build_app
from bot.config import DatabaseConfig, FloodConfig, load
from models.outbox import audience, enqueue_broadcast
from models.tables import Broadcast
from tests.botapi import FakeBotApi, SentMessage
from tests.conftest import ROOT, start_bot_run
from tests.test_broadcast import add_members
from tests.test_postgres import free_port, throwaway_postgres

FIRST_USER = 30_000_000
FIRST_MEMBER = 40_000_000
CAP = 30
FAST = 1000  # the bots' pace for the throughput runs: the echo bot has none either


def cpu_seconds(pids: list[int]) -> float:
    """Processor time (user and system) the processes have used so far."""
    ticks = 0
    for pid in pids:
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def server_processes(port: int) -> list[int]:
    """The PostgreSQL server listening on `port` and its children (connections, workers)."""
    parent = None
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
            if "postgres" in command and f"-p {port} " in command:
                parent = int(entry.name)
    return [] if parent is None else [parent, *children.get(parent, [])]


def config_file(folder: Path, rate: int) -> Path:
    """The project's config with the bench's pace and no flood control in the way."""
    content = (ROOT / "config.toml").read_text(encoding="utf-8")
    content = content.replace("rate_per_second = 30", f"rate_per_second = {rate}")
    content = content.replace("messages = 12", "messages = 100000")
    path = folder / "config.toml"
    path.write_text(content, encoding="utf-8")
    return path


async def fresh_database(server_url: str, name: str) -> str:
    engine = create_async_engine(server_url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    await engine.dispose()
    return server_url.rsplit("/", 1)[0] + "/" + name


@contextlib.asynccontextmanager
async def bots(
    count: int, url: str, server: FakeBotApi, folder: Path
) -> AsyncIterator[list[asyncio.subprocess.Process]]:
    """`python -m bot run` started `count` times; yields once every one is ready."""
    processes = []
    ports = [free_port() for _ in range(count)]
    try:
        for number, port in enumerate(ports, 1):
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith("TELEGRAM_")},
                "DATABASE_URL": url,
                "YOUTHBOT_CONFIG": str(folder / "config.toml"),
                "TELEGRAM_BOT_TOKEN": server.token,
                "TELEGRAM_API_BASE_URL": server.root_url,
                "BOT_PROCESS_NAME": f"bot-{number}",
                "HEALTH_LISTEN": f"127.0.0.1:{port}",
            }
            with (folder / f"bot-{number}.log").open("ab") as log:
                processes.append(await start_bot_run(env, stderr=log))
        for port in ports:
            await ready(port)
        yield processes
    finally:
        for process in processes:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            await process.wait()


async def ready(port: int) -> None:
    """Waits until the process on `port` says it is ready."""
    async with asyncio.timeout(120):
        while True:
            with contextlib.suppress(OSError):
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(b"GET /readyz HTTP/1.0\r\n\r\n")
                status = await reader.readline()
                writer.close()
                if b" 200 " in status:
                    return
            await asyncio.sleep(0.2)


@dataclasses.dataclass(frozen=True)
class Measured:
    processes: int
    rate: float  # updates per second after the warm-up
    cpu_ms: float  # per update: bots and the database server
    bots_ms: float  # per update: the bots alone
    p95_ms: float


async def throughput(server_url: str, port: int, count: int, users: int, cycles: int) -> Measured:
    folder = Path(tempfile.mkdtemp(prefix=f"bench-scale-{count}-"))
    config_file(folder, FAST)
    url = await fresh_database(server_url, f"scale_{count}_{int(time.time())}")
    chats = [FIRST_USER + n for n in range(users)]
    async with FakeBotApi() as server:
        server.rate_limit = None
        config = load(
            folder / "config.toml",
            {
                "DATABASE_URL": url,
                "TELEGRAM_BOT_TOKEN": server.token,
                "TELEGRAM_API_BASE_URL": server.root_url,
            },
        )
        app = build_app(config)
        try:
            await app.prepare()
            await in_the_form(app.channels["telegram"], chats)
            async with bots(count, url, server, folder) as processes:
                ahead, measured = scripts(chats, cycles)
                await Users(server, ahead, 0, echo=False).play("ours")
                pids = [process.pid for process in processes]
                database = server_processes(port)
                bots_before, db_before = cpu_seconds(pids), cpu_seconds(database)
                play = Users(server, measured, len(REPORT) // 2, echo=False)
                run = await play.run("ours")
                bots_cpu = cpu_seconds(pids) - bots_before
                db_cpu = cpu_seconds(server_processes(port)) - db_before
            reports = await count_reports(app.channels["telegram"], chats)
            expected = sum(
                step.kind == "submit" for s in (ahead, measured) for v in s.values() for step in v
            )
            assert reports == expected, f"{reports} reports saved of {expected}"
        finally:
            await app.close()
    return Measured(
        count,
        run.rate,
        (bots_cpu + db_cpu) / play.total * 1000,
        bots_cpu / play.total * 1000,
        run.ms(95),
    )


@dataclasses.dataclass(frozen=True)
class Delivered:
    members: int
    rate: float
    calls: int
    refused: int
    once: int  # members who got it exactly once
    twice: int


async def broadcast(server_url: str, members: int) -> Delivered:
    folder = Path(tempfile.mkdtemp(prefix="bench-scale-broadcast-"))
    config_file(folder, CAP)
    url = await fresh_database(server_url, f"broadcast_{int(time.time())}")
    async with FakeBotApi() as server:
        server.rate_limit = CAP
        config = load(
            folder / "config.toml",
            {
                "DATABASE_URL": url,
                "TELEGRAM_BOT_TOKEN": server.token,
                "TELEGRAM_API_BASE_URL": server.root_url,
            },
        )
        config = dataclasses.replace(
            config,
            database=DatabaseConfig(url=url),
            flood=FloodConfig(messages=10_000, per_seconds=1.0),
        )
        app = build_app(config)
        try:
            await app.prepare()
            unit_id = await add_members(app.channels["telegram"], members, first_chat=FIRST_MEMBER)
            async with bots(3, url, server, folder):
                received: Counter[int] = Counter()
                times: list[float] = []

                def counted(message: SentMessage) -> bool:
                    if message.method == "sendMessage" and message.chat_id >= FIRST_MEMBER:
                        received[message.chat_id] += 1
                        times.append(time.perf_counter())
                    return len(received) >= members

                calls_before = sum(1 for method, _ in server.calls if method == "sendMessage")
                async with app.db.write() as session:
                    sent = Broadcast(
                        sender_unit_id=unit_id, text="Benchmark", audience={}, status="running"
                    )
                    session.add(sent)
                    await session.flush()
                    await enqueue_broadcast(session, sent, audience({unit_id}))
                await server.wait_for(counted, timeout=members / 10 + 120)
                # Whatever is still in flight lands, or a second copy shows.
                settle = time.perf_counter() + 5
                with contextlib.suppress(TimeoutError):
                    await server.wait_until(lambda: time.perf_counter() > settle, timeout=6)
                calls = sum(1 for m, _ in server.calls if m == "sendMessage") - calls_before
        finally:
            await app.close()
    return Delivered(
        members,
        (len(times) - 1) / (times[-1] - times[0]),
        calls,
        server.rate_limited,
        sum(1 for n in received.values() if n == 1),
        sum(1 for n in received.values() if n > 1),
    )


async def main(users: int, cycles: int, members: int, counts: list[int]) -> None:
    print(f"machine: {machine()}; load average at start: {load_average()}")
    started = dt.datetime.now(dt.UTC)
    with throwaway_postgres() as server_url:
        port = int(server_url.rsplit(":", 1)[1].split("/", 1)[0])
        results = [await throughput(server_url, port, n, users, cycles) for n in counts]
        delivered = await broadcast(server_url, members)
    print(f"load average at the end: {load_average()}; took {dt.datetime.now(dt.UTC) - started}")
    print()
    print(
        f"{users} users in a closed loop, {cycles} reports each after a warm-up, on PostgreSQL; "
        "cpu/upd: bots and database server together (and the bots alone)"
    )
    header = (
        f"{'processes':>9} {'upd/s':>8} {'p95 ms':>8} {'cpu/upd ms':>11} {'bots ms':>8} "
        f"{'cpu vs N=1':>11}"
    )
    print(header)
    print("-" * len(header))
    first = results[0]
    for result in results:
        print(
            f"{result.processes:>9} {result.rate:8.1f} {result.p95_ms:8.1f} "
            f"{result.cpu_ms:11.2f} {result.bots_ms:8.2f} {result.cpu_ms / first.cpu_ms:10.2f}x"
        )
    print("target: cpu per update with N processes <= 1.15x one process's")
    print()
    print(f"broadcast to {delivered.members:,} members by 3 processes against a {CAP}/s server")
    print(
        f"  achieved rate      {delivered.rate:6.2f} msg/s = {delivered.rate / CAP:.1%} of the "
        "cap (target >= 95%)"
    )
    print(
        f"  answered 429       {delivered.refused} of {delivered.calls} sends = "
        f"{delivered.refused / delivered.calls:.2%} (target <= 1%)"
    )
    print(
        f"  received once      {delivered.once:,} of {delivered.members:,}; more than once: "
        f"{delivered.twice}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--cycles", type=int, default=2)
    parser.add_argument("--members", type=int, default=3000)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2, 3])
    options = parser.parse_args()
    asyncio.run(main(options.users, options.cycles, options.members, options.processes))
