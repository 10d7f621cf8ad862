"""The channel runtime around an adapter of the test's own: what a new platform writes (one
adapter, see bot.channels.runtime.Adapter) and what it gets for free. The real adapters are
tested end to end in test_telegram, test_zalo and test_console."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.app import App, build_app
from bot.capabilities import Capabilities
from bot.channels.runtime import Channel, Webhook
from bot.events import Attachment, Choice, Inbound, InboundKind, Reply
from bot.pacing import Pace
from bot.text import strip_html
from tests.conftest import make_config

KEY = b"relay-signing-key"


class Relay:
    """A made-up platform that signs each body (HMAC-SHA256 in X-Relay-Signature), as some
    platforms do instead of sending a shared secret back; text only, no buttons."""

    name = "relay"
    title = "Relay"
    interactive = False
    pace = Pace(1000)
    capabilities = Capabilities(buttons=False, files=False, pictures=False, max_text=500)

    def __init__(self) -> None:
        self.webhook: Webhook | None = Webhook(
            url="https://bot.example.vn/relay", listen="127.0.0.1", port=0, verify=signed
        )
        self.sent: list[tuple[str, str]] = []
        self.arrived = asyncio.Event()

    async def connect(self) -> None:
        return None

    async def listen(self, webhook: Webhook | None) -> None:
        return None

    async def close(self) -> None:
        return None

    async def poll(self) -> list[dict[str, Any]]:
        raise AssertionError("a webhook platform is never polled")

    def from_webhook(self, body: dict[str, Any]) -> dict[str, Any]:
        return body

    def identify(self, update: dict[str, Any]) -> tuple[str, str] | None:
        return str(update["id"]), str(update["from"])

    def to_inbound(self, key: str, update: dict[str, Any]) -> Inbound | None:
        text = str(update["text"])
        command, _, args = text[1:].partition(" ") if text.startswith("/") else ("", "", "")
        return Inbound(
            channel=self.name,
            update_key=key,
            user_id=str(update["from"]),
            chat_id=str(update["from"]),
            kind=InboundKind.COMMAND if command else InboundKind.TEXT,
            text=text,
            command=command or None,
            args=args,
        )

    async def received(self, update: dict[str, Any], inbound: Inbound | None) -> None:
        return None

    async def download(self, attachment: Attachment, limit: int) -> bytes:
        raise AssertionError("nothing to download here")

    def render(self, chat_id: str, reply: Reply) -> Sequence[Any]:
        lines = [strip_html(reply.text)]
        lines += [f"{n}. {c.label}" for n, c in enumerate(reply.numbered(), 1)]
        return ["\n".join([*lines, reply.choices_hint]).strip()]

    def announcement(
        self, text: str, photo: str | None, choices: tuple[Choice, ...]
    ) -> Sequence[Any]:
        return [strip_html(text)]

    async def send(self, chat_id: str, message: Any) -> None:
        self.sent.append((chat_id, str(message)))
        self.arrived.set()

    async def show_progress(
        self, broadcast_id: int, chat_id: str, text: str, *, final: bool
    ) -> None:
        return None

    def routes(self, path: str) -> list[Any]:
        return []


def signed(headers: Mapping[str, str], body: bytes) -> bool:
    expected = hmac.new(KEY, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers.get("X-Relay-Signature", ""), expected)


def signature(body: bytes) -> str:
    return hmac.new(KEY, body, hashlib.sha256).hexdigest()


@pytest.fixture
async def relay(tmp_path: Path, no_proxy: None) -> AsyncIterator[tuple[App, Relay, Channel]]:
    app = build_app(make_config(tmp_path))
    await app.prepare()
    adapter = Relay()
    channel = app.add_channel(adapter)
    await channel.start()
    yield app, adapter, channel
    await channel.stop()
    await app.close()


async def test_a_new_platform_is_one_adapter_and_gets_the_runtime(
    relay: tuple[App, Relay, Channel],
) -> None:
    """Signed posts are taken, unsigned ones refused; the reply is fitted to what the adapter
    declared (no buttons: numbered choices and how to answer them); a second delivery of
    the same update changes nothing and sends nothing."""
    app, adapter, channel = relay
    url = f"http://127.0.0.1:{channel.webhook_port}/relay"
    body = json.dumps({"id": "u-1", "from": "lan", "text": "/start"}).encode()
    headers = {"Content-Type": "application/json"}
    async with httpx.AsyncClient() as client:
        forged = await client.post(
            url, content=body, headers={**headers, "X-Relay-Signature": "00" * 32}
        )
        assert forged.status_code == 403
        for _ in range(2):
            taken = await client.post(
                url, content=body, headers={**headers, "X-Relay-Signature": signature(body)}
            )
            assert taken.status_code == 200
    await asyncio.wait_for(adapter.arrived.wait(), timeout=10)
    await channel.drain()
    consent = adapter.sent[-1][1]
    assert "1. " in consent and "Trả lời 1 hoặc 2." in consent
    assert all(chat == "lan" for chat, _ in adapter.sent)
    assert len([text for _, text in adapter.sent if "Trả lời 1 hoặc 2." in text]) == 1
    declared = app.dispatcher.channels["relay"]
    assert dataclasses.replace(declared, bulk_per_minute=None) == adapter.capabilities
    assert declared.bulk_per_minute == 999 * 60  # the pace, less one slot for replies
