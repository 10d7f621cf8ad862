"""The console channel: a person types in the terminal and the bot answers.

It renders choices as numbered lines, exactly as a channel without buttons must, which makes it
both the proof that the core knows no platform and the way to try the bot with no token.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sys
import threading
import uuid
from pathlib import Path
from typing import TextIO

from bot.app import App
from bot.delivery import DeliveryWorker, Unreachable
from bot.events import Choice, Document, Inbound, InboundKind, Reply
from bot.evidence import EvidenceStore
from bot.pacing import Pacer
from bot.text import strip_html

__all__ = ["ConsoleChannel", "parse_line", "render"]

CHANNEL = "console"
USER = "local"


def parse_line(line: str, *, language: str | None = None) -> Inbound:
    """One typed line as an Inbound event: a command when it starts with "/"."""
    text = line.strip()
    command = None
    args = ""
    kind = InboundKind.TEXT
    if text.startswith("/") and len(text) > 1:
        kind = InboundKind.COMMAND
        name, _, args = text[1:].partition(" ")
        command = name.split("@")[0].lower()
    return Inbound(
        channel=CHANNEL,
        update_key=uuid.uuid4().hex,
        user_id=USER,
        chat_id=USER,
        kind=kind,
        text=text,
        command=command,
        args=args.strip(),
        client_language=language,
        display_name=USER,
    )


def render(reply: Reply) -> str:
    """Plain text with numbered choices; back and cancel are commands the prompt names."""
    lines = [strip_html(reply.text)]
    numbered = reply.numbered()
    if numbered:
        lines.append("")
        lines += [f"  {i}. {strip_html(choice.label)}" for i, choice in enumerate(numbered, 1)]
    return "\n".join(lines)


class ConsoleChannel:
    channel = CHANNEL

    def __init__(self, app: App, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> None:
        self.app = app
        self.stdin = stdin
        self.stdout = stdout
        # Broadcasts reach the console's one person through the outbox like anyone else.
        self.pacer = Pacer(1000)
        self.worker = DeliveryWorker(app, self)

    async def deliver(
        self, chat_id: str, text: str, photo: str | None, choices: tuple[Choice, ...] = ()
    ) -> None:
        if chat_id != USER:
            raise Unreachable
        self._write(strip_html(text) + "\n")
        if photo is not None:
            self._write(f"📎 {self._save(Document(Path(photo).name, evidence_path=photo))}\n")

    async def show_progress(
        self, broadcast_id: int, chat_id: str, text: str, *, final: bool = False
    ) -> None:
        if chat_id == USER:
            self._write(text + "\n")

    async def run(self) -> None:
        """Opens with /start, then answers every line until end of input."""
        interactive = self.stdin.isatty()
        await self._handle(parse_line("/start"))
        while True:
            if interactive:
                self._write("> ", end="")
            line = await self._read_line()
            if not line:  # end of input: leave quietly
                if interactive:
                    self._write("")
                return
            if line.strip():
                await self._handle(parse_line(line))

    def _read_line(self) -> asyncio.Future[str]:
        """The next typed line. Read in a daemon thread, not the loop's executor: a thread
        blocked in readline would keep Ctrl-C from ending the program until Enter."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[str] = loop.create_future()

        def deliver(line: str) -> None:
            if not future.done():
                future.set_result(line)

        def read() -> None:
            line = self.stdin.readline()
            with contextlib.suppress(RuntimeError):  # the loop closed: we are exiting
                loop.call_soon_threadsafe(deliver, line)

        threading.Thread(target=read, name="console-input", daemon=True).start()
        return future

    async def _handle(self, inbound: Inbound) -> None:
        replies = await self.app.dispatcher.handle(inbound)
        for reply in replies or ():
            if reply.chat_id in (None, USER):
                self._write(render(reply) + "\n")
            if reply.document is not None:
                self._write(f"📎 {self._save(reply.document)}\n")
        self.app.dispatcher.replied(CHANNEL, inbound.update_key)
        while await self.worker.run_once():
            pass

    def _save(self, document: Document) -> Path:
        """A terminal cannot receive a file: it is written under the data directory."""
        folder = self.app.config.data_dir / "console-files"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / Path(document.file_name).name
        if document.evidence_path is not None:
            store = EvidenceStore(self.app.config.data_dir / "files")
            shutil.copyfile(store.path(document.evidence_path), path)
        else:
            path.write_bytes(document.content)
        return path

    def _write(self, text: str, end: str = "\n") -> None:
        self.stdout.write(text + end)
        self.stdout.flush()
