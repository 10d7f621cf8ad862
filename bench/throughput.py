"""Update throughput: report-form steps end to end over HTTP, against a bare
python-telegram-bot echo bot on the same test Bot API server, in the same run; and how the
cost of a step grows with the data.

    .venv/bin/python -m bench.throughput [--users 50] [--cycles 2] [--rounds 2]
                                         [--entries 10000 100000 1000000]
    .venv/bin/python -m bench.throughput --quick

Everything runs on loopback in one process, as in bench/broadcast.py: the test Bot API server
(tests/botapi, its rate limit off), the users, and one bot at a time.

- echo: a bare python-telegram-bot `Application`, long polling with its own Updater, with one
  MessageHandler that answers every text with `reply_text(text)`.
- ours: the project's Telegram channel and application on a SQLite file, built as the tests
  build it (`tests.test_telegram.telegram_config`), migrations run by `App.prepare`.

The users are registered members (written with Core inserts) whose chat is in the middle of
the volunteer report form (a `dialogues` row at its "activity" question, as choosing the kind
leaves it). Each sends the answers of the test suite's volunteer report (`VOLUNTEER` in
tests/test_reporting.py), then "1" to submit on the summary, "1" for Report in the menu and
"2" for volunteer work, round and round: twelve typed messages a report, every one validated
against its step, with the dialogue state written and a reply sent; the submit also saves the
entry with its revision, audit row and running totals. The echo bot gets the same users and
the same messages. Each user sends the next message as soon as the answer to the last has
reached the server (a closed loop, `--users` at a time); a step counts when its last reply
has, and its latency runs from the server queueing the message to that reply. The users are
spread over the twelve steps first (user n starts at step n mod 12), so that they do not all
submit at once; then each sends `--cycles` reports' worth of steps after a warm-up of half a
report, which is not counted. Before the crowd, one more user sends ten reports alone: the
latency of each kind of step with nothing else going on. Processor time per step is that of
the whole process (server, users and bot, all threads) over the measured steps; the load
average of the machine is printed at the start and the end, as other processes share it.

For the data sizes, the database of bench/stats.py is generated once per size (entries,
a tenth as many members) and kept under `--data-dir`; each run works on a fresh copy of it.
At each size the echo bot is measured right before ours, one after the other, `--rounds`
times; the rounds are pooled (steps over seconds, latencies together).

Two settings are raised for the load and printed: flood control (the tests' 1,000 messages a
second per user, as the users answer faster than people do) and the channel's sending pace
(`telegram.rate_per_second`, 30 by default as Telegram allows a bot; 1,000 here, the most
the config accepts), since the echo bot has no pacing at all. Exits 0 whatever the verdicts:
it is a benchmark.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import telegram
from sqlalchemy import func, insert, select
from telegram import Update
from telegram.ext import Application, ContextTypes, MessageHandler, filters

from bench.stats import database_for
from bot.app import build_app
from bot.channels.runtime import Channel
from domain.vocabulary import Role
from handlers.reporting import SECRETARY
from models.tables import Dialogue, Entry, Identity, RoleGrant
from tests.botapi import FakeBotApi, SentMessage
from tests.test_broadcast import add_members
from tests.test_reporting import VOLUNTEER
from tests.test_telegram import telegram_config

TARGET = 0.5  # ours' updates/s at least this share of the echo bot's (issue 16; was 0.7)
DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
ENTRIES_PER_MEMBER = 10  # as in bench/stats.py: 2,000,000 entries, 200,000 members
DEFAULT_DATA_DIR = Path(tempfile.gettempdir()) / "youthbot-bench" / "throughput"
FIRST_USER = 30_000_000  # chat ids of the bench users, far from anything generated
RATE_PER_SECOND = 1000
TIMEOUT = 600.0  # seconds for one play of the scripts before it is called stuck


@dataclasses.dataclass(frozen=True)
class Step:
    """One message a user types, and how many messages our bot sends back for it."""

    text: str
    kind: str  # "answer" a question of the form, "submit" it, or pick from a "menu"
    replies: int = 1


# From the "activity" question round to it again: one report.
REPORT = (
    *(Step(text, "answer") for text in VOLUNTEER),  # the last is "bỏ qua": no evidence
    Step("1", "submit", replies=2),  # "✅ Saved. Entry #…", then the menu
    Step("1", "menu"),  # 📝 Report
    Step("2", "menu"),  # Volunteer work
)
KINDS = ("answer", "submit", "menu")
WARM_UP = len(REPORT) // 2  # steps of every user not measured
IDLE_CYCLES = 10  # reports of the user alone


@dataclasses.dataclass
class Run:
    """What one bot did for the measured steps."""

    bot: str
    steps: int
    seconds: float
    latencies: dict[str, list[float]]  # by step kind, seconds
    cpu_seconds: float  # of the whole process (server and users too), all its threads

    @property
    def rate(self) -> float:
        return self.steps / self.seconds

    @classmethod
    def pooled(cls, runs: list[Run]) -> Run:
        """The rounds as one run: steps over seconds, latencies together."""
        return cls(
            runs[0].bot,
            sum(run.steps for run in runs),
            sum(run.seconds for run in runs),
            {kind: [v for run in runs for v in run.latencies.get(kind, [])] for kind in KINDS},
            sum(run.cpu_seconds for run in runs),
        )

    @property
    def cpu_ms(self) -> float:
        """Processor time per step, in milliseconds."""
        return self.cpu_seconds / self.steps * 1000

    def all_latencies(self) -> list[float]:
        return [value for values in self.latencies.values() for value in values]

    def ms(self, percent: int, kind: str | None = None) -> float:
        values = self.latencies[kind] if kind else self.all_latencies()
        if len(values) < 2:
            return values[0] * 1000 if values else float("nan")
        return statistics.quantiles(values, n=100, method="inclusive")[percent - 1] * 1000


class Users:
    """Users in a closed loop: each sends its next message once the last one is answered."""

    def __init__(
        self, server: FakeBotApi, scripts: dict[int, list[Step]], warm_up: int, *, echo: bool
    ) -> None:
        self.server = server
        self.scripts = {chat: script for chat, script in scripts.items() if script}
        self.echo = echo
        self.position = dict.fromkeys(self.scripts, 0)
        self.outstanding = dict.fromkeys(self.scripts, 0)
        self.queued_at = dict.fromkeys(self.scripts, 0.0)
        self.total = sum(len(script) for script in self.scripts.values())
        self.warm_up = sum(min(warm_up, len(script)) for script in self.scripts.values())
        self.completed = 0
        self.window_start = self.window_end = 0.0
        self.cpu_start = self.cpu_end = 0.0
        self.latencies: dict[str, list[float]] = {kind: [] for kind in KINDS}
        self.warnings: list[str] = []  # replies saying an answer was refused
        self.earlier = len(server.sent)  # messages sent before this play, skipped by seen()

    def _send(self, chat: int) -> None:
        step = self.scripts[chat][self.position[chat]]
        self.outstanding[chat] = 1 if self.echo else step.replies
        self.queued_at[chat] = time.perf_counter()
        self.server.user_message(chat, step.text)

    def seen(self, message: SentMessage) -> bool:
        """Called once for every message the bot sent, in order; True when all is done."""
        if self.earlier:
            self.earlier -= 1
            return False
        chat = message.chat_id
        if chat in self.position and message.method == "sendMessage":
            self._replied(chat, message)
        return self.completed == self.total

    def _replied(self, chat: int, message: SentMessage) -> None:
        now = time.perf_counter()
        if self.outstanding[chat] <= 0:
            raise AssertionError(f"a reply nobody waited for: {message.describe()}")
        if "⚠️" in (message.text or ""):
            self.warnings.append(message.describe())
        self.outstanding[chat] -= 1
        if self.outstanding[chat]:
            return
        step = self.scripts[chat][self.position[chat]]
        self.completed += 1
        if self.completed == self.warm_up:
            self.window_start, self.cpu_start = now, time.process_time()
        elif self.window_start and self.queued_at[chat] >= self.window_start:
            self.latencies[step.kind].append(now - self.queued_at[chat])
        if self.completed == self.total:
            self.window_end, self.cpu_end = now, time.process_time()
        self.position[chat] += 1
        if self.position[chat] < len(self.scripts[chat]):
            self._send(chat)

    async def play(self, bot: str) -> None:
        """Every user sends its script to the end."""
        if not self.total:
            return
        watcher = asyncio.create_task(self.server.wait_for(self.seen, timeout=TIMEOUT))
        for chat in self.scripts:
            self._send(chat)
        await watcher
        assert not self.warnings, f"{bot}: answers refused, e.g. {self.warnings[:3]}"

    async def run(self, bot: str) -> Run:
        """Plays the scripts and measures what follows the warm-up."""
        await self.play(bot)
        return Run(
            bot,
            self.total - self.warm_up,
            self.window_end - self.window_start,
            {kind: values for kind, values in self.latencies.items() if values},
            self.cpu_end - self.cpu_start,
        )


def scripts(chats: list[int], cycles: int) -> tuple[dict[int, list[Step]], dict[int, list[Step]]]:
    """What each user sends to get to its place in the report, then what is measured.

    The users are spread over the twelve steps (user n starts at step n mod 12), as people
    who started at different times are: otherwise all would submit at the same moment. Every
    user then sends the same number of each step.
    """
    size = len(REPORT)
    ahead = {chat: list(REPORT[: n % size]) for n, chat in enumerate(chats)}
    measured = {
        chat: [REPORT[(n + j) % size] for j in range(WARM_UP + size * cycles)]
        for n, chat in enumerate(chats)
    }
    return ahead, measured


def submits(chats: list[int], cycles: int) -> int:
    """How many reports these users submit in all."""
    return sum(
        step.kind == "submit"
        for script in scripts(chats, cycles)
        for steps in script.values()
        for step in steps
    )


@dataclasses.dataclass(frozen=True)
class Load:
    """Who sends what: one user alone (the cost of a step), then many at once."""

    users: int
    cycles: int

    @property
    def crowd(self) -> list[int]:
        return [FIRST_USER + n for n in range(self.users)]

    @property
    def alone(self) -> list[int]:
        return [FIRST_USER + self.users]

    @property
    def everyone(self) -> list[int]:
        return self.crowd + self.alone

    @property
    def reports(self) -> int:
        return submits(self.alone, IDLE_CYCLES) + submits(self.crowd, self.cycles)


@dataclasses.dataclass(frozen=True)
class Runs:
    idle: Run  # one user
    loaded: Run  # all users at once


async def drive(server: FakeBotApi, chats: list[int], cycles: int, *, bot: str) -> Run:
    """The users take their places, then send their reports after a warm-up."""
    ahead, measured = scripts(chats, cycles)
    echo = bot == "echo"
    await Users(server, ahead, 0, echo=echo).play(bot)
    return await Users(server, measured, WARM_UP, echo=echo).run(bot)


async def drive_both(server: FakeBotApi, load: Load, *, bot: str) -> Runs:
    idle = await drive(server, load.alone, IDLE_CYCLES, bot=bot)
    return Runs(idle, await drive(server, load.crowd, load.cycles, bot=bot))


# ---------------------------------------------------------------------------------------------
# The baseline: a bare python-telegram-bot echo bot.


async def echo(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
    """Sends the text back."""
    message = update.effective_message
    if message is not None and message.text is not None:
        await message.reply_text(message.text)


async def run_echo(load: Load) -> Runs:
    async with FakeBotApi() as server:
        server.rate_limit = None
        application = (
            Application.builder()
            .token(server.token)
            .base_url(server.base_url)
            .base_file_url(server.base_file_url)
            .build()
        )
        application.add_handler(MessageHandler(filters.TEXT, echo))
        await application.initialize()
        assert application.updater is not None
        await application.updater.start_polling(poll_interval=0.0)
        await application.start()
        try:
            return await drive_both(server, load, bot="echo")
        finally:
            await application.updater.stop()
            await application.stop()
            await application.shutdown()


# ---------------------------------------------------------------------------------------------
# Ours: the Telegram channel on a copy of a generated database.


def working_copy(cached: Path, folder: Path) -> Path:
    """A copy of the cached database to write to, flushed so its write-back does not land
    in the measurement."""
    copy = folder / "bench.sqlite3"
    for suffix in ("", "-wal"):
        source = cached.with_name(cached.name + suffix)
        if source.is_file():
            shutil.copyfile(source, copy.with_name(copy.name + suffix))
            with copy.with_name(copy.name + suffix).open("rb+") as written:
                os.fsync(written.fileno())
    return copy


async def in_the_form(channel: Channel, chats: list[int]) -> None:
    """Registered members whose chat is at the volunteer form's first question, as choosing
    "volunteer work" in /report leaves a member who is not a secretary."""
    unit_id = await add_members(channel, len(chats), first_chat=chats[0])
    async with channel.app.db.write() as session:
        # The unit's secretary, so that every report has someone to review it, as in a
        # province at work (with nobody, each submit would also tell the admins).
        secretary = Identity(channel="telegram", user_id="1", chat_id="1")
        session.add(secretary)
        await session.flush()
        session.add(
            RoleGrant(
                identity_id=secretary.id,
                role=Role.SECRETARY,
                unit_id=unit_id,
                granted_by="bench",
            )
        )
        await session.execute(
            insert(Dialogue),
            [
                {
                    "channel": "telegram",
                    "chat_id": str(chat),
                    "form": "volunteer",
                    "field": "activity",
                    "answers": {SECRETARY: False},
                    "pending": {},
                }
                for chat in chats
            ],
        )


async def count_reports(channel: Channel, chats: list[int]) -> int:
    """Entries saved by the bench users."""
    async with channel.app.db.read() as session:
        found = await session.scalar(
            select(func.count())
            .select_from(Entry)
            .join(Identity, Identity.member_id == Entry.reporter_id)
            .where(Identity.channel == "telegram", Identity.user_id.in_(map(str, chats)))
        )
    return int(found or 0)


async def run_ours(database: Path, load: Load) -> Runs:
    async with FakeBotApi() as server:
        server.rate_limit = None
        config = telegram_config(
            database.parent, server, DATABASE_URL=f"sqlite+aiosqlite:///{database}"
        )
        config = dataclasses.replace(
            config,
            telegram=dataclasses.replace(config.telegram, rate_per_second=RATE_PER_SECOND),
        )
        app = build_app(config)
        await app.prepare()
        channel = app.channels["telegram"]
        try:
            await in_the_form(channel, load.everyone)
            await channel.start()
            try:
                runs = await drive_both(server, load, bot="ours")
            finally:
                await channel.stop()
            reports = await count_reports(channel, load.everyone)
            assert reports == load.reports, f"{reports} reports saved of {load.reports}"
        finally:
            await app.close()
    return runs


# ---------------------------------------------------------------------------------------------
# The report.


@dataclasses.dataclass(frozen=True)
class Measured:
    """Both bots at one data size, the rounds pooled."""

    entries: int
    echo: Runs
    ours: Runs

    @property
    def ratio(self) -> float:
        return self.ours.loaded.rate / self.echo.loaded.rate

    @property
    def verdict(self) -> str:
        return "PASS" if self.ratio >= TARGET else "FAIL"


def print_results(results: list[Measured], options: Options) -> None:
    print()
    print(
        f"update throughput: {options.users} users at once in a closed loop; per bot and size "
        f"{results[0].ours.loaded.steps:,} measured steps ({options.rounds} round(s) of "
        f"{options.cycles} reports of {len(REPORT)} steps per user, after {WARM_UP} steps of "
        "warm-up); latency from the server queueing a message to the bot's (last) reply"
    )
    header = (
        f"{'entries':>10} {'echo upd/s':>11} {'ours upd/s':>11} {'ours/echo':>10} "
        f"{'target':>7}  verdict  {'echo p50/p95 ms':>16} {'ours p50/p95 ms':>16} "
        f"{'echo cpu/upd':>13} {'ours cpu/upd':>13} {'cpu ratio':>10}"
    )
    print(header)
    print("-" * len(header))
    for result in results:
        echo, ours = result.echo.loaded, result.ours.loaded
        print(
            f"{result.entries:>10,} {echo.rate:11.1f} {ours.rate:11.1f} "
            f"{result.ratio:9.2f}x {'>= ' + str(TARGET):>7}  {result.verdict:7}  "
            f"{echo.ms(50):7.1f} /{echo.ms(95):7.1f} {ours.ms(50):7.1f} /{ours.ms(95):7.1f} "
            f"{echo.cpu_ms:10.2f} ms {ours.cpu_ms:10.2f} ms {echo.cpu_ms / ours.cpu_ms:9.2f}x"
        )
    print(
        "cpu/upd: processor time of the whole process per step; cpu ratio: echo's over ours, "
        "the throughput ratio if both were bound by the processor alone"
    )
    print()
    print(
        f"one user alone ({IDLE_CYCLES} reports a round): p50 / p95 latency of a step (ms), "
        "ours by kind"
    )
    header = (
        f"{'entries':>10} {'echo':>17} {'ours':>17} "
        + " ".join(f"{'ours ' + kind:>17}" for kind in KINDS)
        + f" {'ours upd/s':>11}"
    )
    print(header)
    print("-" * len(header))
    for result in results:
        echo, ours = result.echo.idle, result.ours.idle
        cells = [_p50_p95(echo), _p50_p95(ours), *(_p50_p95(ours, kind) for kind in KINDS)]
        print(
            f"{result.entries:>10,} "
            + " ".join(f"{cell:>17}" for cell in cells)
            + f" {ours.rate:11.1f}"
        )
    if len(results) < 2:
        return
    first = results[0].ours
    print()
    print(f"growth of ours against {results[0].entries:,} entries ({options.users} users)")
    header = (
        f"{'entries':>10} {'upd/s':>14} {'p95 ms':>15} {'cpu/upd ms':>15} {'ours/echo':>10} "
        f"{'alone: answer p50':>22} {'submit p50':>19}"
    )
    print(header)
    print("-" * len(header))
    for result in results:
        ours = result.ours.loaded
        answer, submit = result.ours.idle.ms(50, "answer"), result.ours.idle.ms(50, "submit")
        print(
            f"{result.entries:>10,} {ours.rate:7.1f} {_times(ours.rate, first.loaded.rate)} "
            f"{ours.ms(95):7.1f} {_times(ours.ms(95), first.loaded.ms(95))} "
            f"{ours.cpu_ms:7.2f} {_times(ours.cpu_ms, first.loaded.cpu_ms)} "
            f"{result.ratio:9.2f}x "
            f"{answer:13.1f} {_times(answer, first.idle.ms(50, 'answer'))} "
            f"{submit:10.1f} {_times(submit, first.idle.ms(50, 'submit'))}"
        )


def _p50_p95(run: Run, kind: str | None = None) -> str:
    return f"{run.ms(50, kind):7.1f} /{run.ms(95, kind):7.1f}"


def _times(value: float, base: float) -> str:
    return f"({value / base:4.2f}x)"


def machine() -> str:
    return (
        f"{os.cpu_count()} cores, Python {platform.python_version()}, "
        f"python-telegram-bot {telegram.__version__}, SQLite on {tempfile.gettempdir()}; "
        f"{load_average()}"
    )


def load_average() -> str:
    """Other processes share the processors: their load is printed with the figures."""
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min)"


@dataclasses.dataclass(frozen=True)
class Options:
    users: int
    cycles: int
    rounds: int
    sizes: tuple[int, ...]
    data_dir: Path


def main(options: Options) -> None:
    # Loopback must never go through a proxy from the environment (as tests/conftest.py).
    for key in [key for key in os.environ if key.lower().endswith("_proxy")]:
        del os.environ[key]
    print(machine())
    print(
        f"settings raised for the load: flood control 1,000 messages/s per user; "
        f"telegram.rate_per_second {RATE_PER_SECOND}; the server's rate limit off"
    )
    now = dt.datetime.now(dt.UTC)
    databases = {
        size: database_for(size, max(1, size // ENTRIES_PER_MEMBER), options.data_dir, now)
        for size in options.sizes
    }
    load = Load(options.users, options.cycles)
    results = []
    for size, cached in databases.items():
        runs: dict[str, list[Runs]] = {"echo": [], "ours": []}
        for round_number in range(1, options.rounds + 1):
            work = Path(tempfile.mkdtemp(prefix="bench-throughput-"))
            try:
                database = working_copy(cached, work)
                echo = asyncio.run(run_echo(load))
                ours = asyncio.run(run_ours(database, load))
            finally:
                shutil.rmtree(work, ignore_errors=True)
            runs["echo"].append(echo)
            runs["ours"].append(ours)
            print(
                f"{size:>10,} entries, round {round_number}: echo {echo.loaded.rate:6.1f} upd/s "
                f"({echo.loaded.cpu_ms:.2f} ms cpu/upd), ours {ours.loaded.rate:6.1f} upd/s "
                f"({ours.loaded.cpu_ms:.2f} ms cpu/upd) = "
                f"{ours.loaded.rate / echo.loaded.rate:.2f}x; ours p95 {ours.loaded.ms(95):.0f} "
                f"ms, alone {ours.idle.ms(95):.1f} ms",
                flush=True,
            )
        results.append(Measured(size, pooled(runs["echo"]), pooled(runs["ours"])))
    print_results(results, options)
    print()
    print(f"at the end: {load_average()}")


def pooled(runs: list[Runs]) -> Runs:
    return Runs(Run.pooled([run.idle for run in runs]), Run.pooled([run.loaded for run in runs]))


def parse(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--cycles", type=int, default=2, help="measured reports per user")
    parser.add_argument("--rounds", type=int, default=2, help="echo then ours, per size")
    parser.add_argument("--entries", type=int, nargs="+", default=list(DEFAULT_SIZES))
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument(
        "--quick", action="store_true", help="20 users, one report each, one round, 10,000 entries"
    )
    arguments: Any = parser.parse_args(argv)
    if arguments.quick:
        return Options(20, 1, 1, (10_000,), arguments.data_dir)
    return Options(
        arguments.users,
        arguments.cycles,
        arguments.rounds,
        tuple(arguments.entries),
        arguments.data_dir,
    )


if __name__ == "__main__":
    main(parse())
