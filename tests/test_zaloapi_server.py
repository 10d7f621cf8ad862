"""Tests of the fake Zalo Bot API server, spoken to over real HTTP with httpx."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
import tornado.httpserver
import tornado.netutil
import tornado.web

from tests.zaloapi import Delivery, FakeZaloBotApi

USER = "7a3f9c2e81d4b6a0"
OTHER = "5e0b7d1c9a2f4e83"
SECRET = "webhook-secret-1"


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep httpx from sending loopback traffic through a proxy from the environment."""
    for key in [k for k in os.environ if k.lower().endswith("_proxy")]:
        monkeypatch.delenv(key)


@pytest_asyncio.fixture
async def server() -> AsyncIterator[FakeZaloBotApi]:
    """Run a fake Zalo Bot API server for one test."""
    async with FakeZaloBotApi() as api:
        yield api


@pytest_asyncio.fixture
async def client(server: FakeZaloBotApi) -> AsyncIterator[httpx.AsyncClient]:
    """Return an httpx client whose relative URLs are API methods."""
    async with httpx.AsyncClient(base_url=server.bot_url + "/", timeout=10) as http:
        yield http


async def call(client: httpx.AsyncClient, method: str, **params: Any) -> httpx.Response:
    """POST one API call with a JSON body."""
    return await client.post(method, json=params)


async def result(client: httpx.AsyncClient, method: str, **params: Any) -> Any:
    """Return the result of a call that must succeed."""
    response = await call(client, method, **params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ok"] is True
    return body["result"]


async def error(
    client: httpx.AsyncClient, method: str, status: int, **params: Any
) -> dict[str, Any]:
    """Return the body of a call that must fail with HTTP status and the same error_code."""
    response = await call(client, method, **params)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["ok"] is False
    assert body["error_code"] == status
    assert isinstance(body["description"], str)
    return dict(body)


class _Receiver:
    """The bot's side of a webhook: records each POST and answers the next queued status."""

    def __init__(self) -> None:
        self.posts: list[tuple[dict[str, str], Any]] = []
        self.statuses: list[int] = []
        self.url = ""
        self._server: tornado.httpserver.HTTPServer | None = None

    async def __aenter__(self) -> _Receiver:
        receiver = self

        class Hook(tornado.web.RequestHandler):
            def post(self) -> None:
                receiver.posts.append((dict(self.request.headers), json.loads(self.request.body)))
                self.set_status(receiver.statuses.pop(0) if receiver.statuses else 200)

        sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
        self._server = tornado.httpserver.HTTPServer(
            tornado.web.Application([(r"/zalo/hook", Hook)], log_function=lambda _h: None)
        )
        self._server.add_sockets(sockets)
        self.url = f"http://127.0.0.1:{sockets[0].getsockname()[1]}/zalo/hook"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.stop()
        await self._server.close_all_connections()


@pytest.mark.asyncio
async def test_get_me_and_calls(server: FakeZaloBotApi, client: httpx.AsyncClient) -> None:
    me = await result(client, "getMe")
    assert me == {
        "id": "2718281828459045",
        "account_name": "youthbot_test",
        "account_type": "BASIC",
        "can_join_groups": True,
    }
    assert server.calls == [("getMe", {})]
    assert server.api_base_url == server.root_url
    assert server.bot_url == f"{server.root_url}/bot{server.token}"


@pytest.mark.asyncio
async def test_get_updates_answers_one_update_as_an_object(
    server: FakeZaloBotApi, client: httpx.AsyncClient
) -> None:
    first = server.user_text(USER, "xin chào", display_name="Lan")
    second = server.user_text(OTHER, "hai")
    assert isinstance(first, str)
    assert first != second
    assert not first.isdigit()

    update = await result(client, "getUpdates", timeout=1)
    assert isinstance(update, dict)
    assert update["event_name"] == "message.text.received"
    message = update["message"]
    assert message["message_id"] == first
    assert message["text"] == "xin chào"
    assert message["chat"] == {"id": USER, "chat_type": "PRIVATE"}
    assert message["from"] == {"id": USER, "display_name": "Lan", "is_bot": False}
    assert isinstance(message["date"], int)
    assert message["date"] > 1_600_000_000_000  # milliseconds

    # The timeout may come as a string, as Zalo's own examples send it.
    update = await result(client, "getUpdates", timeout="1")
    assert update["message"]["message_id"] == second
    assert server.pending_updates == []
    assert [(d.via, d.message_id, d.repeat) for d in server.deliveries] == [
        ("poll", first, False),
        ("poll", second, False),
    ]


@pytest.mark.asyncio
async def test_long_poll_returns_as_soon_as_an_update_arrives(
    server: FakeZaloBotApi, client: httpx.AsyncClient
) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    task = asyncio.create_task(result(client, "getUpdates", timeout=30))
    await server.wait_call("getUpdates")
    message_id = server.user_text(USER, "now")
    update = await asyncio.wait_for(task, timeout=5)
    assert update["message"]["message_id"] == message_id
    assert loop.time() - started < 5


@pytest.mark.asyncio
async def test_idle_long_poll_ends_with_408(
    server: FakeZaloBotApi, client: httpx.AsyncClient
) -> None:
    body = await error(client, "getUpdates", 408, timeout=0.2)
    assert body == {"ok": False, "error_code": 408, "description": "Request timeout"}
    await error(client, "getUpdates", 408)  # no timeout: answered at once
    await error(client, "getUpdates", 400, timeout="soon")
    assert server.deliveries == []


@pytest.mark.asyncio
async def test_stop_answers_a_pending_long_poll_with_408() -> None:
    server = FakeZaloBotApi()
    await server.start()
    async with httpx.AsyncClient(base_url=server.bot_url + "/") as http:
        task = asyncio.create_task(call(http, "getUpdates", timeout=30))
        await server.wait_call("getUpdates")
        await asyncio.wait_for(server.stop(), timeout=5)
        response = await asyncio.wait_for(task, timeout=5)
    assert response.status_code == 408
    assert response.json()["error_code"] == 408


@pytest.mark.asyncio
async def test_repeat_next_redelivers_later_without_any_offset(
    server: FakeZaloBotApi, client: httpx.AsyncClient
) -> None:
    first = server.user_text(USER, "một")
    second = server.user_text(USER, "hai")
    server.repeat_next(2)

    seen = [(await result(client, "getUpdates"))["message"]["message_id"] for _ in range(4)]
    assert seen == [first, second, first, first]
    assert [d.repeat for d in server.deliveries] == [False, False, True, True]
    await error(client, "getUpdates", 408)


@pytest.mark.asyncio
async def test_repeat_probability_redelivers_first_deliveries_only() -> None:
    async with (
        FakeZaloBotApi(repeat_probability=1.0) as server,
        httpx.AsyncClient(base_url=server.bot_url + "/") as http,
    ):
        first = server.user_text(USER, "một")
        second = server.user_text(USER, "hai")
        seen = [(await result(http, "getUpdates"))["message"]["message_id"] for _ in range(4)]
        assert seen == [first, second, first, second]
        # A redelivered copy is not itself redelivered.
        await error(http, "getUpdates", 408)


@pytest.mark.asyncio
async def test_two_pollers_never_get_the_same_delivery(
    server: FakeZaloBotApi, client: httpx.AsyncClient
) -> None:
    polls = [asyncio.create_task(call(client, "getUpdates", timeout=0.5)) for _ in range(2)]
    await server.wait_call("getUpdates", after=1)
    message_id = server.user_text(USER, "chỉ một lần")
    responses = await asyncio.wait_for(asyncio.gather(*polls), timeout=5)
    assert sorted(r.status_code for r in responses) == [200, 408]
    (taken,) = [r.json()["result"] for r in responses if r.status_code == 200]
    assert taken["message"]["message_id"] == message_id


@pytest.mark.asyncio
async def test_user_update_kinds(server: FakeZaloBotApi, client: httpx.AsyncClient) -> None:
    url = server.host_image(b"\xff\xd8jpeg")
    server.user_image(USER, url, caption="ảnh minh chứng")
    server.user_image(USER, url)
    server.user_sticker(USER)
    server.user_unsupported(USER)
    server.user_text(USER, "nhóm", group_id="g9f8e7d6")
    image, bare, sticker, unsupported, group = [
        await result(client, "getUpdates") for _ in range(5)
    ]
    assert image["event_name"] == "message.image.received"
    assert image["message"]["photo_url"] == url
    assert image["message"]["caption"] == "ảnh minh chứng"
    assert "caption" not in bare["message"]
    assert sticker["event_name"] == "message.sticker.received"
    assert unsupported["event_name"] == "message.unsupported.received"
    assert "text" not in unsupported["message"]
    assert group["message"]["chat"] == {"id": "g9f8e7d6", "chat_type": "GROUP"}
    assert group["message"]["from"]["id"] == USER


@pytest.mark.asyncio
async def test_hosted_images_are_served_under_both_host_names(server: FakeZaloBotApi) -> None:
    own = server.host_image(b"\x89PNG data", content_type="image/png")
    foreign = server.host_image(b"\xff\xd8jpeg", foreign=True)
    assert httpx.URL(own).host == server.media_host == "127.0.0.1"
    assert httpx.URL(foreign).host == server.foreign_media_host == "localhost"
    async with httpx.AsyncClient() as http:
        response = await http.get(own)
        assert response.status_code == 200
        assert response.content == b"\x89PNG data"
        assert response.headers["content-type"] == "image/png"
        response = await http.get(foreign)
        assert response.content == b"\xff\xd8jpeg"
        assert response.headers["content-type"] == "image/jpeg"
        missing = await http.get(f"{server.root_url}/media/nothing.jpg")
        assert missing.status_code == 404
    assert server.downloads[:2] == [own, foreign]


@pytest.mark.asyncio
async def test_send_message_and_the_2000_character_limit(
    server: FakeZaloBotApi, client: httpx.AsyncClient
) -> None:
    sent = await result(client, "sendMessage", chat_id=USER, text="Chào bạn")
    assert set(sent) == {"message_id", "date"}
    assert isinstance(sent["message_id"], str)
    assert isinstance(sent["date"], int)
    assert (await server.wait_reply(USER)).text == "Chào bạn"

    await result(client, "sendMessage", chat_id=USER, text="ờ" * 2000)
    too_long = await error(client, "sendMessage", 400, chat_id=USER, text="x" * 2001)
    assert "2000" in too_long["description"]
    empty = await error(client, "sendMessage", 400, chat_id=USER, text="")
    assert "text" in empty["description"]
    await error(client, "sendMessage", 400, chat_id=USER)
    await error(client, "sendMessage", 400, chat_id=7, text="chat ids are strings")
    await error(client, "sendMessage", 400, text="no chat")

    assert [m.text for m in server.messages_to(USER)] == ["Chào bạn", "ờ" * 2000]
    assert server.sent[0].message_id == sent["message_id"]
    assert server.sent[0].params == {"chat_id": USER, "text": "Chào bạn"}
    assert [m for m, _ in server.calls].count("sendMessage") == 7


@pytest.mark.asyncio
async def test_photo_must_be_a_url_and_other_sends(
    server: FakeZaloBotApi, client: httpx.AsyncClient
) -> None:
    photo = "https://example.org/chart.png"
    await result(client, "sendPhoto", chat_id=USER, photo=photo, caption="Biểu đồ")
    for bad in ("chart.png", "file:///etc/passwd", "data:image/png;base64,AAAA", 5):
        body = await error(client, "sendPhoto", 400, chat_id=USER, photo=bad)
        assert "URL" in body["description"]
    await error(client, "sendPhoto", 400, chat_id=USER, photo=photo, caption="c" * 2001)
    await result(client, "sendSticker", chat_id=USER, sticker="a1b2c3")
    await error(client, "sendSticker", 400, chat_id=USER)
    assert await result(client, "sendChatAction", chat_id=USER, action="typing") is True
    await error(client, "sendChatAction", 400, chat_id=USER, action="dancing")

    picture, sticker = server.messages_to(USER)
    assert (picture.method, picture.photo, picture.caption, picture.text) == (
        "sendPhoto",
        photo,
        "Biểu đồ",
        None,
    )
    assert (sticker.method, sticker.sticker) == ("sendSticker", "a1b2c3")


@pytest.mark.asyncio
async def test_wrong_token_unknown_method_get_and_bad_body(server: FakeZaloBotApi) -> None:
    async with httpx.AsyncClient(base_url=server.root_url) as http:
        wrong = await http.post("/bot2718281828459045:wrong/getMe", json={})
        assert wrong.status_code == 401
        assert wrong.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
        assert server.calls == []

        unknown = await http.post(f"/bot{server.token}/editMessageText", json={})
        assert (unknown.status_code, unknown.json()["error_code"]) == (404, 404)
        as_get = await http.get(f"/bot{server.token}/getMe")
        assert (as_get.status_code, as_get.json()["error_code"]) == (405, 405)
        form = await http.post(
            f"/bot{server.token}/sendMessage", data={"chat_id": USER, "text": "x"}
        )
        assert (form.status_code, form.json()["error_code"]) == (400, 400)
    assert server.sent == []


@pytest.mark.asyncio
async def test_fail_next(server: FakeZaloBotApi, client: httpx.AsyncClient) -> None:
    server.fail_next("sendMessage", 500, times=2)
    for _ in range(2):
        body = await error(client, "sendMessage", 500, chat_id=USER, text="hi")
        assert body["description"] == "Internal Server Error"
    server.fail_next("sendMessage", 429, http_status=200, description="slow down")
    response = await call(client, "sendMessage", chat_id=USER, text="hi")
    assert response.status_code == 200
    assert response.json() == {"ok": False, "error_code": 429, "description": "slow down"}
    await result(client, "sendMessage", chat_id=USER, text="finally")
    assert [m.text for m in server.sent] == ["finally"]

    # A failed poll does not use up the update.
    message_id = server.user_text(USER, "kept")
    server.fail_next("getUpdates", 502)
    await error(client, "getUpdates", 502)
    assert (await result(client, "getUpdates"))["message"]["message_id"] == message_id


@pytest.mark.asyncio
async def test_blocked_chat_answers_403(server: FakeZaloBotApi, client: httpx.AsyncClient) -> None:
    server.blocked.add(USER)
    body = await error(client, "sendMessage", 403, chat_id=USER, text="hi")
    assert "blocked" in body["description"]
    await error(client, "sendPhoto", 403, chat_id=USER, photo="https://example.org/a.png")
    await result(client, "sendMessage", chat_id=OTHER, text="hi")
    assert [m.chat_id for m in server.sent] == [OTHER]


@pytest.mark.asyncio
async def test_rate_limit_is_off_by_default_and_configurable() -> None:
    async with FakeZaloBotApi() as server, httpx.AsyncClient(base_url=server.bot_url + "/") as h:
        for n in range(30):
            await result(h, "sendMessage", chat_id=USER, text=str(n))
    async with (
        FakeZaloBotApi(rate_limit=2) as server,
        httpx.AsyncClient(base_url=server.bot_url + "/") as http,
    ):
        await result(http, "sendMessage", chat_id=USER, text="1")
        await result(http, "sendChatAction", chat_id=USER, action="typing")
        body = await error(http, "sendMessage", 429, chat_id=USER, text="3")
        assert body["description"] == "Too Many Requests"
        assert server.rate_limited == 1
        assert await result(http, "getMe")  # only sends count
        assert [m.text for m in server.sent] == ["1"]


@pytest.mark.asyncio
async def test_webhook_setup_validation_and_conflict(
    server: FakeZaloBotApi, client: httpx.AsyncClient
) -> None:
    assert await result(client, "getWebhookInfo") == {"url": "", "updated_at": 0}
    url = "https://bot.example.org/zalo/hook"
    await error(client, "setWebhook", 400, url=url, secret_token="short")
    await error(client, "setWebhook", 400, url=url, secret_token="s" * 257)
    await error(client, "setWebhook", 400, url=url)
    await error(client, "setWebhook", 400, url="http://bot.example.org/hook", secret_token=SECRET)
    await error(client, "setWebhook", 400, secret_token=SECRET)
    assert server.webhook is None

    answer = await result(client, "setWebhook", url=url, secret_token="s" * 8)
    assert answer["url"] == url
    info = await result(client, "getWebhookInfo")
    assert info == {"url": url, "updated_at": answer["updated_at"]}
    assert isinstance(info["updated_at"], int)
    body = await error(client, "getUpdates", 409)
    assert "webhook" in body["description"]

    await result(client, "deleteWebhook")
    assert server.webhook is None
    assert (await result(client, "getWebhookInfo"))["url"] == ""
    await error(client, "getUpdates", 408)


@pytest.mark.asyncio
async def test_webhook_posts_bare_then_wrapped_updates_with_the_secret(
    server: FakeZaloBotApi, client: httpx.AsyncClient
) -> None:
    async with _Receiver() as receiver:
        await result(client, "setWebhook", url=receiver.url, secret_token=SECRET)
        bare_id = server.user_text(USER, "bare")
        delivery = await server.wait_delivered()
        assert (delivery.via, delivery.status, delivery.message_id) == ("webhook", 200, bare_id)

        server.wrap_webhook = True
        wrapped_id = server.user_text(USER, "wrapped")
        await server.wait_delivered(after=1)
        await server.wait_drained()

    (headers, bare), (_, wrapped) = receiver.posts
    assert headers["X-Bot-Api-Secret-Token"] == SECRET
    assert headers["Content-Type"] == "application/json"
    assert bare["event_name"] == "message.text.received"
    assert bare["message"]["message_id"] == bare_id
    assert wrapped["ok"] is True
    assert wrapped["result"]["message"]["message_id"] == wrapped_id
    assert wrapped["result"]["message"]["text"] == "wrapped"


@pytest.mark.asyncio
async def test_webhook_through_proxy_retries_and_redelivers() -> None:
    async with _Receiver() as receiver:
        proxy = receiver.url.removesuffix("/zalo/hook")
        async with (
            FakeZaloBotApi(webhook_proxy=proxy, wrap_webhook=True) as server,
            httpx.AsyncClient(base_url=server.bot_url + "/") as http,
        ):
            public = "https://bot.example.org/zalo/hook"
            await result(http, "setWebhook", url=public, secret_token=SECRET)
            receiver.statuses = [500]
            server.repeat_next(1)
            message_id = server.user_text(USER, "retry me")

            def answered(d: Delivery) -> bool:
                return d.ok and d.repeat

            await server.wait_delivered(answered)
            await server.wait_drained()
            assert [(d.status, d.repeat) for d in server.deliveries] == [
                (500, False),
                (200, False),
                (200, True),
            ]
    assert [body["result"]["message"]["message_id"] for _, body in receiver.posts] == [
        message_id
    ] * 3


@pytest.mark.asyncio
async def test_webhook_gives_up_after_its_attempts_and_never_leaves_loopback() -> None:
    async with (
        FakeZaloBotApi(webhook_attempts=2) as server,
        httpx.AsyncClient(base_url=server.bot_url + "/") as http,
    ):
        # The fake itself has no such page: each attempt is answered 404.
        await result(http, "setWebhook", url=server.root_url + "/nobody", secret_token=SECRET)
        server.user_text(USER, "lost")
        await server.wait_drained()
        assert [d.status for d in server.deliveries] == [404, 404]

        await result(http, "setWebhook", url="https://bot.example.org/hook", secret_token=SECRET)
        server.user_text(USER, "not posted")
        delivery = await server.wait_delivered(after=2)
        assert delivery.status is None
        assert delivery.error is not None
        assert "not loopback" in delivery.error


@pytest.mark.asyncio
async def test_wait_for_times_out_with_a_dump(
    server: FakeZaloBotApi, client: httpx.AsyncClient
) -> None:
    await result(client, "sendMessage", chat_id=USER, text="hello there")
    found = await server.wait_for(lambda m: "hello" in (m.text or ""), timeout=1)
    assert found.text == "hello there"
    with pytest.raises(TimeoutError, match="hello there"):
        await server.wait_for(lambda m: m.text == "never", timeout=0.05)
    with pytest.raises(TimeoutError, match="sendMessage"):
        await server.wait_reply(USER, after=len(server.sent), timeout=0.05)
    with pytest.raises(TimeoutError, match="a delivery"):
        await server.wait_delivered(timeout=0.05)
