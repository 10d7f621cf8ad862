"""The console adapter: a person types in the terminal and the bot answers.

It renders choices as numbered lines, exactly as a channel without buttons must, which makes it
both the proof that the core knows no platform and the way to try the bot with no token.
`/attach PATH` sends a file of this computer as if it were a photo or document sent in a
chat: it goes through the same evidence checks. Files the bot sends are written under the
data directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import mimetypes
import shutil
import sys
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from bot.capabilities import Capabilities
from bot.channels.runtime import EndOfInput, TooLarge, Webhook
from bot.delivery import Unreachable
from bot.events import Attachment, Choice, Document, Inbound, InboundKind, Reply
from bot.evidence import EvidenceRejected, EvidenceStore
from bot.i18n import N_
from bot.pacing import Pace
from bot.text import strip_html

if TYPE_CHECKING:
    from bot.app import App

__all__ = ["CHANNEL", "USER", "ConsoleAdapter", "parse_line", "render"]

CHANNEL = "console"
USER = "local"
ATTACH = "attach"


def parse_line(line: str, *, language: str | None = None, update_key: str = "") -> Inbound:
    """One typed line as an Inbound event: a command when it starts with "/", a file of this
    computer for "/attach PATH"."""
    text = line.strip()
    command = None
    args = ""
    kind = InboundKind.TEXT
    attachments: tuple[Attachment, ...] = ()
    if text.startswith("/") and len(text) > 1:
        kind = InboundKind.COMMAND
        name, _, args = text[1:].partition(" ")
        command = name.split("@")[0].lower()
    if command == ATTACH:
        path = args.strip().strip("\"'")
        mime_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
        photo = mime_type.startswith("image/")
        kind = InboundKind.PHOTO if photo else InboundKind.DOCUMENT
        file_name = Path(path).name or None
        attachments = (Attachment(path, "photo" if photo else "document", file_name=file_name),)
        text, command, args = "", None, ""
    return Inbound(
        channel=CHANNEL,
        update_key=update_key or uuid.uuid4().hex,
        user_id=USER,
        chat_id=USER,
        kind=kind,
        text=text,
        command=command,
        args=args.strip(),
        attachments=attachments,
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


class ConsoleAdapter:
    """The terminal for the channel runtime (bot.channels.runtime.Adapter): one person, one
    line at a time, the next read once the last was answered."""

    name = CHANNEL
    title = "Console"
    interactive = True
    # No buttons; files and pictures are written to disk, however large.
    capabilities = Capabilities(
        buttons=False,
        how_to_send_files=N_("To send a file of this computer, type /attach and its path."),
    )
    pace = Pace(1000)
    webhook: Webhook | None = None

    def __init__(
        self, app: App, stdin: TextIO | None = None, stdout: TextIO | None = None
    ) -> None:
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout
        self.data_dir = app.config.data_dir
        self.evidence = EvidenceStore(app.config.data_dir / "files")
        self._opened = False

    async def connect(self) -> None:
        return None

    async def listen(self, webhook: Webhook | None) -> None:
        return None

    async def close(self) -> None:
        return None

    # -- receiving -----------------------------------------------------------------------

    async def poll(self) -> list[dict[str, Any]]:
        """The next typed line (the first is /start); EndOfInput at end of input."""
        if not self._opened:
            self._opened = True
            return [_line("/start")]
        interactive = self.stdin.isatty()
        if interactive:
            self._write("> ", end="")
        line = await self._read_line()
        if not line:
            if interactive:
                self._write("")
            raise EndOfInput
        return [_line(line)] if line.strip() else []

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

    def from_webhook(self, body: dict[str, Any]) -> dict[str, Any]:
        return body

    def identify(self, update: dict[str, Any]) -> tuple[str, str] | None:
        return str(update["id"]), USER

    def to_inbound(self, key: str, update: dict[str, Any]) -> Inbound | None:
        return parse_line(str(update["line"]), update_key=key)

    async def received(self, update: dict[str, Any], inbound: Inbound | None) -> None:
        return None

    async def download(self, attachment: Attachment, limit: int) -> bytes:
        """The file at the typed path, read from this computer."""
        return await asyncio.to_thread(_read, attachment.file_id, limit)

    # -- sending -------------------------------------------------------------------------

    def render(self, chat_id: str, reply: Reply) -> Sequence[Any]:
        """The reply as text, then its file; a notice to another chat is not shown here."""
        if chat_id != USER:
            return []
        return [render(reply), *([reply.document] if reply.document is not None else [])]

    def announcement(
        self, text: str, photo: str | None, choices: tuple[Choice, ...]
    ) -> Sequence[Any]:
        """The text (which says what to type), then the photo written to disk."""
        messages: list[Any] = [strip_html(text)]
        if photo is not None:
            messages.append(Document(Path(photo).name, evidence_path=photo))
        return messages

    async def send(self, chat_id: str, message: Any) -> None:
        if chat_id != USER:
            raise Unreachable
        if isinstance(message, Document):
            self._write(f"📎 {await asyncio.to_thread(self._save, message)}\n")
        else:
            self._write(f"{message}\n")

    async def show_progress(
        self, broadcast_id: int, chat_id: str, text: str, *, final: bool
    ) -> None:
        if chat_id == USER:
            self._write(f"{strip_html(text)}\n")

    def routes(self, path: str) -> list[Any]:
        return []

    def _save(self, document: Document) -> Path:
        """A terminal cannot receive a file: it is written under the data directory."""
        folder = self.data_dir / "console-files"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / Path(document.file_name).name
        if document.evidence_path is not None:
            shutil.copyfile(self.evidence.path(document.evidence_path), path)
        else:
            path.write_bytes(document.content)
        return path

    def _write(self, text: str, end: str = "\n") -> None:
        self.stdout.write(text + end)
        self.stdout.flush()


def _read(typed: str, limit: int) -> bytes:
    path = Path(typed).expanduser()
    if not typed or not path.is_file():
        raise EvidenceRejected(
            N_("There is no file at {path}. Type /attach and the path of a file."),
            {"path": typed or "—"},
        )
    if path.stat().st_size > limit:
        raise TooLarge
    return path.read_bytes()


def _line(text: str) -> dict[str, Any]:
    return {"id": uuid.uuid4().hex, "line": text}
