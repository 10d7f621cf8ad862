"""The dialogue engine against a model of it: random sequences of valid and invalid answers,
/back, /cancel, restarts of the application and stale buttons. After every step the stored
dialogue (form, field, answers, and what the field has collected so far) matches the model."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import shutil
import sqlite3
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from bot.app import App, build_app
from bot.channels.console import parse_line, render
from bot.config import Config
from bot.dialogue import CANCEL_ASKS_AFTER
from bot.events import Attachment, Inbound, InboundKind, Reply
from bot.text import nfc
from tests.conftest import make_config
from tests.test_dialogue import SURVEY, open_survey

CHAT = "local"
APOLOGY = "something went wrong on our side"
TOPICS = ("youth", "green")
TOPIC_LABELS = {"youth": "Youth", "green": "Green"}
# Buttons the survey shows at some step, pressed again at another: always "an earlier question".
SHOWN_BUTTONS = (
    "f:survey:kind:individual",
    "f:survey:kind:collective",
    "f:survey:people:_skip",
    "f:survey:topics:youth",
    "f:survey:topics:green",
    "f:survey:topics:_done",
    "f:survey:photos:_skip",
    "f:survey:photos:_done",
    "f:registration:consent:agree",
)


def survey_app(config: Config) -> App:
    app = build_app(config)
    app.router.form(SURVEY)
    app.router.command("survey", open_survey, "Language")
    return app


@dataclass
class Model:
    """What the engine should hold: the field it asks, the answers, and what the current
    field has collected (topics ticked, photos received)."""

    field: str | None = None  # None: no form open
    answers: dict[str, Any] = dataclasses.field(default_factory=dict)
    selected: list[str] = dataclasses.field(default_factory=list)
    files: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    saved: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    def asked(self) -> list[str]:
        return [f.name for f in SURVEY.asked(self.answers)]

    def open(self) -> None:
        self.field, self.answers, self.selected, self.files = "kind", {}, [], []

    def accept(self, value: Any) -> None:
        assert self.field is not None
        self.answers = {**self.answers, self.field: value}
        self.selected, self.files = [], []
        following = next((name for name in self.asked() if name not in self.answers), None)
        if following is None:
            self.saved.append(self.answers)
            self.field, self.answers = None, {}
        else:
            self.field = following

    def back(self) -> None:
        asked = self.asked()
        position = asked.index(self.field or "")
        if position == 0:
            return  # "This is the first step."
        forget = set(asked[position - 1 :])
        self.answers = {k: v for k, v in self.answers.items() if k not in forget}
        self.field, self.selected, self.files = asked[position - 1], [], []

    def cancel(self) -> None:
        self.field, self.answers, self.selected, self.files = None, {}, [], []


# -- what a person sends ---------------------------------------------------------------------


@dataclass(frozen=True)
class Say:
    """Something to send: a typed line, a button, a sticker, a location or a photo."""

    text: str = ""
    button: str | None = None
    kind: InboundKind | None = None
    location: tuple[float, float] | None = None
    photo: str | None = None

    def inbound(self) -> Inbound:
        if self.button is not None:
            return _event(InboundKind.BUTTON, button=self.button)
        if self.location is not None:
            latitude, longitude = self.location
            return _event(InboundKind.LOCATION, latitude=latitude, longitude=longitude)
        if self.photo is not None:
            attachment = Attachment(
                self.photo,
                "photo",
                mime_type="image/jpeg",
                size=3,
                sha256=self.photo * 32,
                path=f"{self.photo}.jpg",
            )
            return _event(InboundKind.PHOTO, attachments=(attachment,))
        if self.kind is not None:
            return _event(self.kind)
        return replace(parse_line(self.text, language="en"), update_key=uuid.uuid4().hex)


def _event(kind: InboundKind, **values: Any) -> Inbound:
    return Inbound(
        channel="console",
        update_key=uuid.uuid4().hex,
        user_id=CHAT,
        chat_id=CHAT,
        kind=kind,
        client_language="en",
        **values,
    )


def stored_file(photo: str) -> dict[str, Any]:
    return {
        "sha256": photo * 32,
        "path": f"{photo}.jpg",
        "mime": "image/jpeg",
        "size": 3,
        "name": None,
        "kind": "photo",
    }


def pressed(name: str, value: str) -> Say:
    return Say(button=f"f:survey:{name}:{value}")


LATITUDES = st.floats(21.0, 22.5, allow_nan=False)
LONGITUDES = st.floats(106.0, 107.5, allow_nan=False)


def typed_place(words: str) -> tuple[Say, Any]:
    return Say(text="Thôn " + words), {"place": nfc("Thôn " + words)}


def shared(at: tuple[float, float]) -> tuple[Say, Any]:
    return Say(location=at), {"latitude": at[0], "longitude": at[1]}


def valid_answers(name: str, local_today: dt.date) -> st.SearchStrategy[tuple[Say, Any]]:
    """A valid answer to the field, in any of the ways a person gives it, and its value."""
    if name == "kind":
        return st.sampled_from(("individual", "collective")).flatmap(
            lambda kind: st.sampled_from(
                (
                    (pressed("kind", kind), kind),
                    (Say(text="1" if kind == "individual" else "2"), kind),
                    (Say(text=kind.title()), kind),
                    (Say(text=kind.upper() + "."), kind),
                )
            )
        )
    if name == "people":
        number = st.integers(1, 100).map(lambda n: (Say(text=str(n)), n))
        skip = st.sampled_from(
            (
                (Say(text="skip"), None),
                (Say(text="Bỏ qua"), None),
                (pressed("people", "_skip"), None),
            )
        )
        return st.one_of(number, skip)
    if name == "hours":
        halves = st.integers(1, 48)
        return halves.flatmap(
            lambda n: st.sampled_from(
                (
                    (Say(text=f"{n // 2},5" if n % 2 else str(n // 2)), n / 2),
                    (Say(text=f"{n / 2:.1f}"), n / 2),
                )
            )
        )
    if name == "value":
        return st.integers(0, 10**6).flatmap(
            lambda n: st.sampled_from(
                ((Say(text=str(n)), n), (Say(text=f"{n}k"), n * 1000), (Say(text=f"{n} đ"), n))
            )
        )
    if name == "day":
        days = st.dates(dt.date(2021, 1, 1), local_today)
        dated = days.map(lambda day: (Say(text=day.strftime("%d/%m/%Y")), day.isoformat()))
        return st.one_of(dated, st.just((Say(text="hôm nay"), local_today.isoformat())))
    if name == "place":
        words = st.text(st.sampled_from("abcdefghij ĐđẦầếơ"), max_size=60)
        return st.one_of(words.map(typed_place), st.tuples(LATITUDES, LONGITUDES).map(shared))
    if name == "photos":
        return st.sampled_from(((Say(text="skip"), None), (pressed("photos", "_skip"), None)))
    raise AssertionError(name)


INVALID = {
    "kind": ("3", "0", "maybe", "f:survey:kind:both"),
    "people": ("0", "101", "many", "1.5", "-3"),
    "hours": ("0", "25", "0,4", "a few"),
    "value": ("a lot", "5 usd", "-5"),
    "day": ("32/01/2024", "31/12/2020", "yesterday-ish", "tomorrow"),
    "topics": ("9", "f:survey:topics:red"),
    "place": ("x",),
    "photos": ("hello", "f:survey:photos:more"),
}


class Dialogues(RuleBasedStateMachine):
    """One chat with the survey form, on its own database file."""

    template: ClassVar[Path]

    def __init__(self) -> None:
        super().__init__()
        self.folder = tempfile.TemporaryDirectory()
        root = Path(self.folder.name)
        for part in self.template.parent.glob("bot.sqlite3*"):
            shutil.copy(part, root / part.name)
        self.config = make_config(root)
        self.today = dt.datetime.now(self.config.tz).date()
        self.runner = asyncio.Runner()
        self.app = self.runner.run(self._open())
        self.model = Model()
        self.photos = 0

    async def _open(self) -> App:
        app = survey_app(self.config)
        await app.prepare()
        return app

    def teardown(self) -> None:
        self.runner.run(self.app.close())
        self.runner.close()
        self.folder.cleanup()

    def send(self, say: Say) -> str:
        replies: list[Reply] | None = self.runner.run(self.app.dispatcher.handle(say.inbound()))
        text = "\n\n".join(render(reply) for reply in replies or [])
        assert replies, f"no answer to {say}"
        assert APOLOGY not in text, f"{say} crashed the engine"
        return text

    # -- rules -----------------------------------------------------------------------------

    @rule()
    def open_survey(self) -> None:
        text = self.send(Say(text="/survey"))
        if self.model.field is None:
            self.model.open()
            assert "Survey · step 1 of 8" in text, text
        else:
            assert "You are in the middle of a form." in text, text

    def answer(self, say: Say, value: Any) -> None:
        """Sends an answer the field must accept; the last one completes the form."""
        text = self.send(say)
        assert "⚠️" not in text, text
        self.model.accept(value)
        if self.model.field is None:
            assert text.startswith("SAVED "), text
            assert json.loads(text.removeprefix("SAVED ")) == self.model.saved[-1]

    @precondition(lambda self: self.model.field is not None)
    @rule(data=st.data())
    def answer_validly(self, data: st.DataObject) -> None:
        name = self.model.field or ""
        if name == "topics":
            if not self.model.selected:
                return  # "done" with nothing ticked is invalid: see answer_invalidly
            done = (pressed("topics", "_done"), Say(text="xong"), Say(text="Done"))
            self.answer(data.draw(st.sampled_from(done)), list(self.model.selected))
        elif name == "photos" and self.model.files:
            done = (pressed("photos", "_done"), Say(text="done"), Say(text="Xong"))
            self.answer(data.draw(st.sampled_from(done)), list(self.model.files))
        else:
            self.answer(*data.draw(valid_answers(name, self.today)))

    @precondition(lambda self: self.model.field == "topics")
    @rule(data=st.data())
    def tick_topic(self, data: st.DataObject) -> None:
        topic = data.draw(st.sampled_from(TOPICS))
        number = str(TOPICS.index(topic) + 1)
        say = data.draw(
            st.sampled_from(
                (pressed("topics", topic), Say(text=number), Say(text=TOPIC_LABELS[topic]))
            )
        )
        text = self.send(say)
        selected = self.model.selected
        self.model.selected = (
            [t for t in selected if t != topic] if topic in selected else [*selected, topic]
        )
        assert ("✅ " + TOPIC_LABELS[topic] in text) == (topic in self.model.selected), text

    @precondition(lambda self: self.model.field == "topics")
    @rule(data=st.data())
    def type_topics_at_once(self, data: st.DataObject) -> None:
        chosen = data.draw(st.permutations(TOPICS).map(list))
        typed = data.draw(
            st.sampled_from(
                (
                    ", ".join(str(TOPICS.index(t) + 1) for t in chosen),
                    ",".join(str(TOPICS.index(t) + 1) for t in chosen),
                    "; ".join(TOPIC_LABELS[t] for t in chosen),
                )
            )
        )
        self.answer(Say(text=typed), chosen)

    @precondition(lambda self: self.model.field == "photos")
    @rule()
    def send_a_photo(self) -> None:
        self.photos += 1
        photo = f"p{self.photos}"
        text = self.send(Say(photo=photo))
        if len(self.model.files) < SURVEY.field("photos").max_files:
            self.model.files = [*self.model.files, stored_file(photo)]
            assert f"Received {len(self.model.files)} file" in text, text
        else:
            assert "At most" in text, text

    @precondition(lambda self: self.model.field is not None)
    @rule(data=st.data())
    def answer_invalidly(self, data: st.DataObject) -> None:
        name = self.model.field or ""
        typed = data.draw(st.sampled_from(INVALID[name]))
        say = Say(button=typed) if typed.startswith("f:") else Say(text=typed)
        if name == "topics" and not self.model.selected:
            say = data.draw(st.sampled_from((say, Say(text="done"), pressed("topics", "_done"))))
        if name == "photos" and not self.model.files:
            say = data.draw(st.sampled_from((say, Say(text="done"), pressed("photos", "_done"))))
        say = data.draw(st.sampled_from((say, Say(kind=InboundKind.STICKER))))
        assert "⚠️" in self.send(say)

    @precondition(lambda self: self.model.field is not None)
    @rule(data=st.data())
    def press_a_stale_button(self, data: st.DataObject) -> None:
        current = f"f:survey:{self.model.field}:"
        button = data.draw(
            st.sampled_from([b for b in SHOWN_BUTTONS if not b.startswith(current)])
        )
        assert "That button belongs to an earlier question." in self.send(Say(button=button))

    @rule(data=st.data())
    def go_back(self, data: st.DataObject) -> None:
        say = data.draw(
            st.sampled_from((Say(text="/back"), Say(text="quay lại"), Say(button="nav:back")))
        )
        text = self.send(say)
        if self.model.field is not None:
            first = self.model.field == self.model.asked()[0]
            assert ("This is the first step." in text) == first, text
            self.model.back()

    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        say = data.draw(
            st.sampled_from((Say(text="/cancel"), Say(text="Hủy"), Say(button="nav:cancel")))
        )
        text = self.send(say)
        if self.model.field is not None:
            given = sum(1 for name in self.model.asked() if name in self.model.answers)
            if given > CANCEL_ASKS_AFTER:  # many answers would be lost: asked once first
                assert "will not be saved" in text, text
                text = self.send(say)  # the same again means yes
            assert "Cancelled. Nothing was saved." in text, text
            self.model.cancel()

    @rule(data=st.data())
    def use_another_command(self, data: st.DataObject) -> None:
        """Commands that are not part of the form leave it exactly as it was."""
        line = data.draw(st.sampled_from(("/help", "/menu", "/start", "/report", "/nonsense")))
        if self.model.field is None and line == "/start":
            return  # outside a form it opens registration: not this model's form
        self.send(Say(text=line))

    @rule()
    def restart(self) -> None:
        """A new process on the same database continues where the chat was."""
        self.runner.run(self.app.close())
        self.app = self.runner.run(self._open())

    # -- the comparison --------------------------------------------------------------------

    @invariant()
    def stored_dialogue_matches_the_model(self) -> None:
        with sqlite3.connect(Path(self.folder.name) / "bot.sqlite3") as db:
            rows = db.execute(
                "SELECT form, field, answers, pending FROM dialogues WHERE chat_id = ?", (CHAT,)
            ).fetchall()
        model = self.model
        if model.field is None:
            assert rows == [], rows
            return
        ((form, current, answers, pending),) = rows
        pending = json.loads(pending or "{}")
        assert (form, current) == ("survey", model.field)
        assert json.loads(answers) == model.answers
        assert pending.get("selected", []) == model.selected
        assert pending.get("files", []) == model.files


@pytest.fixture(scope="module")
def template() -> Iterator[Path]:
    """A migrated database with the units imported, copied for each example."""
    with tempfile.TemporaryDirectory() as folder:
        config = make_config(Path(folder))

        async def prepare() -> None:
            app = survey_app(config)
            await app.prepare()
            await app.close()

        asyncio.run(prepare())
        yield Path(folder) / "bot.sqlite3"


def test_the_engine_keeps_the_dialogue_the_model_expects(template: Path) -> None:
    Dialogues.template = template
    run_state_machine_as_test(
        Dialogues,
        settings=settings(
            max_examples=40,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
            # Shrinking a stateful failure takes minutes here (a database per example) and the
            # test timeout would cut it short; the failing steps are printed unshrunk.
            phases=[Phase.explicit, Phase.reuse, Phase.generate],
        ),
    )


async def test_commands_that_keep_a_form_open_keep_it_as_it_was(config: Config) -> None:
    """Every command marked keeps_dialogue runs in the middle of a form and leaves it be."""
    app = survey_app(config)
    await app.prepare()

    async def send(say: Say) -> str:
        replies = await app.dispatcher.handle(say.inbound()) or []
        return "\n\n".join(reply.text for reply in replies)

    def stored() -> list[tuple[str, str, dict[str, Any]]]:
        with sqlite3.connect(config.database.url.split("///", 1)[1]) as db:
            rows = db.execute("SELECT form, field, answers FROM dialogues").fetchall()
        return [(form, name, json.loads(answers)) for form, name, answers in rows]

    try:
        keeping = [name for name, command in app.router.commands.items() if command.keeps_dialogue]
        assert "help" in keeping
        for name in keeping:
            await send(Say(text="/survey"))
            await send(Say(text="Collective"))
            before = stored()
            assert before == [("survey", "people", {"kind": "collective"})]
            text = await send(Say(text=f"/{name}"))
            assert stored() == before, f"/{name} in the middle of a form replaced it: {text!r}"
            await send(Say(text="/cancel"))
    finally:
        await app.close()
