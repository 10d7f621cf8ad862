"""The dialogue engine runs any declared form: a test declares one with every field kind and
answers it as a text-only user would (the console, or Zalo, has no buttons)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.app import App, build_app
from bot.channels.console import parse_line, render
from bot.config import Config
from bot.context import Context
from bot.dialogue import Field, FieldKind, Form, Option, start_form
from bot.events import Attachment, Inbound, InboundKind, Reply


async def finish(_ctx: Context, answers: dict[str, Any]) -> list[Reply]:
    return [Reply("SAVED " + json.dumps(answers, ensure_ascii=False, sort_keys=True))]


async def open_survey(ctx: Context) -> list[Reply]:
    return await start_form(ctx, "survey")


# Labels and prompts need no catalog entry here: an untranslated msgid reads as itself.
SURVEY = Form(
    name="survey",
    title="Survey",
    fields=(
        Field(
            "kind",
            FieldKind.CHOICE,
            "Individual or collective?",
            options=(Option("individual", "Individual"), Option("collective", "Collective")),
        ),
        Field(
            "people",
            FieldKind.INTEGER,
            "How many of {unit} took part?",
            optional=True,
            minimum=1,
            maximum=100,
            params=lambda _ctx, _answers: {"unit": "Chi đoàn Bản Chu"},
        ),
        Field("hours", FieldKind.DECIMAL, "Hours each?", minimum=0.5, maximum=24),
        Field("value", FieldKind.MONEY, "Value?"),
        Field("day", FieldKind.DATE, "When?"),
        Field(
            "topics",
            FieldKind.MULTI_CHOICE,
            "Topics?",
            options=(Option("youth", "Youth"), Option("green", "Green")),
        ),
        Field(
            "place",
            FieldKind.LOCATION,
            "Where?",
            ask_if=lambda answers: answers.get("kind") != "collective",
        ),
        Field("photos", FieldKind.PHOTOS, "Photos?", optional=True),
    ),
    complete=finish,
)


@pytest.fixture
async def survey_app(config: Config) -> AsyncIterator[App]:
    app = build_app(config)
    app.router.form(SURVEY)
    app.router.command("survey", open_survey, "Language")
    await app.prepare()
    yield app
    await app.close()


async def say(app: App, line: str) -> str:
    replies = await app.dispatcher.handle(parse_line(line, language="en")) or []
    return "\n\n".join(render(reply) for reply in replies)


async def send_photo(app: App, file_id: str) -> str:
    inbound = Inbound(
        channel="console",
        update_key=file_id,
        user_id="local",
        chat_id="local",
        kind=InboundKind.PHOTO,
        attachments=(
            Attachment(
                file_id,
                "photo",
                mime_type="image/jpeg",
                size=3,
                sha256=file_id * 32,
                path=f"{file_id}.jpg",
            ),
        ),
        client_language="en",
    )
    replies = await app.dispatcher.handle(inbound) or []
    return "\n\n".join(render(reply) for reply in replies)


async def test_a_declared_form_runs_by_text_alone(survey_app: App) -> None:
    app = survey_app
    first = await say(app, "/survey")
    assert "Survey · step 1 of 8" in first
    assert "  1. Individual\n  2. Collective" in first
    assert "Type /cancel to stop." in first

    # An optional number: "1" is the number one, never the "Skip" button.
    prompt = await say(app, "1")
    assert "How many of Chi đoàn Bản Chu took part?" in prompt  # parameters filled in
    assert 'Type "skip" to leave this out.' in prompt
    assert "  1." not in prompt  # nothing numbered where a number is an answer
    assert "Please answer with a number from 1 to 100." in await say(app, "500")
    await say(app, "1")
    assert "Please answer with a number from 0.5 to 24." in await say(app, "25")
    await say(app, "2,5")
    assert "1.500.000" in await say(app, "a lot")
    await say(app, "1,5 triệu")
    assert "dd/mm/yyyy" in await say(app, "yesterday-ish")
    await say(app, "hôm nay")
    topics = await say(app, "2")  # a typed number toggles, like pressing the button
    assert "✅ Green" in topics
    await say(app, "youth")  # and so does a typed label
    place = await say(app, "Done")
    assert "step 7 of 8" in place
    assert "Please write at least 2 characters." in await say(app, "x")
    photos = await say(app, "Nhà văn hóa thôn Bản Chu")
    assert 'Type "done" when you have sent them all.' in photos
    # Text where files are due says what to do, in words that work on every channel.
    assert 'Please send photos or PDF documents, then type "done".' in await say(app, "ok")
    assert 'Received 1 file. Send more, or type "done".' in await send_photo(app, "p1")
    assert "Received 2 files" in await send_photo(app, "p2")
    saved = json.loads((await say(app, "xong")).removeprefix("SAVED "))
    assert saved == {
        "kind": "individual",
        "people": 1,
        "hours": 2.5,
        "value": 1_500_000,
        "day": saved["day"],
        "topics": ["green", "youth"],
        "place": {"place": "Nhà văn hóa thôn Bản Chu"},
        "photos": [
            {
                "sha256": "p1" * 32,
                "path": "p1.jpg",
                "mime": "image/jpeg",
                "size": 3,
                "name": None,
                "kind": "photo",
            },
            {
                "sha256": "p2" * 32,
                "path": "p2.jpg",
                "mime": "image/jpeg",
                "size": 3,
                "name": None,
                "kind": "photo",
            },
        ],
    }


async def test_back_forgets_the_answer_and_conditional_fields_are_skipped(
    survey_app: App,
) -> None:
    app = survey_app
    await say(app, "/survey")
    assert "step 2 of 7" in await say(app, "Collective")  # no place for a collective entry
    assert "step 1 of 8" in await say(app, "/back")
    assert "step 2 of 7" in await say(app, "2")
    assert "step 3 of 7" in await say(app, "skip")
    assert "step 2 of 7" in await say(app, "quay lại")  # typed words work like /back
    await say(app, "bỏ qua")
    for line in ("3", "500k", "1/1/2024", "1", "done"):
        reply = await say(app, line)
    assert "step 7 of 7" in reply
    saved = json.loads((await say(app, "skip")).removeprefix("SAVED "))
    assert saved["people"] is None
    assert saved["photos"] is None
    assert saved["topics"] == ["youth"]
    assert "place" not in saved


async def test_cancel_keeps_nothing_and_stale_buttons_do_nothing(survey_app: App) -> None:
    app = survey_app
    await say(app, "/survey")
    stale = Inbound(
        channel="console",
        update_key="stale",
        user_id="local",
        chat_id="local",
        kind=InboundKind.BUTTON,
        button="f:registration:consent:agree",
        client_language="en",
    )
    replies = await app.dispatcher.handle(stale) or []
    assert "That button belongs to an earlier question." in replies[0].text
    assert "Cancelled. Nothing was saved." in await say(app, "/cancel")
    assert "There is nothing to cancel." in await say(app, "/cancel")


async def test_a_failing_handler_changes_nothing_and_apologises_once(config: Config) -> None:
    async def broken(ctx: Context) -> list[Reply]:
        await start_form(ctx, "survey")  # a write that must be rolled back
        raise RuntimeError("bug")

    app = build_app(config)
    app.router.form(SURVEY)
    app.router.command("broken", broken, "Language")
    await app.prepare()
    try:
        inbound = parse_line("/broken", language="en")
        replies = await app.dispatcher.handle(inbound) or []
        assert "something went wrong on our side" in replies[0].text
        assert await app.dispatcher.handle(inbound) is None  # not retried forever
        assert "There is nothing to cancel." in await say(app, "/cancel")  # no form was left
    finally:
        await app.close()
