"""Dialogue state: where a chat is in a form, loaded and saved once per message.

The dialogue engine works on a `DialogueState`, a plain value; these functions read and write
its row. They run for every message, so their statements are built once and run over the
table (Core): the ORM's unit of work cost more than the whole rest of a step's queries.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models.tables import Dialogue, utcnow

__all__ = [
    "DialogueState",
    "current_dialogue",
    "end_dialogue",
    "open_dialogue",
    "prune_dialogues",
    "save_dialogue",
]


@dataclasses.dataclass
class DialogueState:
    """A chat's open form: the field being asked, the answers so far, and the current field's
    scratch space (`pending`, e.g. the units offered for "na sam")."""

    id: int
    form: str
    field: str
    answers: dict[str, Any]
    pending: dict[str, Any]
    ended: bool = False  # closed in this transaction: nothing more to save
    _stored: tuple[Any, ...] = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.mark_stored()

    def mark_stored(self) -> None:
        """Remembers the state as its row now holds it."""
        answers, pending = copy.deepcopy(self.answers), copy.deepcopy(self.pending)
        self._stored = (self.form, self.field, answers, pending)

    @property
    def changed(self) -> bool:
        """Whether it differs from its row (a stale button, say, changes nothing)."""
        return (self.form, self.field, self.answers, self.pending) != self._stored


_dialogues = cast(Table, Dialogue.__table__)
_CURRENT = select(
    _dialogues.c.id,
    _dialogues.c.form,
    _dialogues.c.field,
    _dialogues.c.answers,
    _dialogues.c.pending,
).where(
    _dialogues.c.channel == bindparam("channel"),
    _dialogues.c.chat_id == bindparam("chat_id"),
)
_CLOSE_CHAT = delete(_dialogues).where(
    _dialogues.c.channel == bindparam("channel"),
    _dialogues.c.chat_id == bindparam("chat_id"),
)
_OPEN = insert(_dialogues).returning(_dialogues.c.id)
_SAVE = (
    update(_dialogues)
    .where(_dialogues.c.id == bindparam("state_id"))
    .values(
        form=bindparam("new_form"),
        field=bindparam("new_field"),
        answers=bindparam("new_answers"),
        pending=bindparam("new_pending"),
        updated_at=bindparam("now"),
    )
)
_END = delete(_dialogues).where(_dialogues.c.id == bindparam("state_id"))


async def current_dialogue(
    session: AsyncSession, channel: str, chat_id: str
) -> DialogueState | None:
    row = (await session.execute(_CURRENT, {"channel": channel, "chat_id": chat_id})).first()
    return None if row is None else DialogueState(*row)


async def open_dialogue(
    session: AsyncSession,
    channel: str,
    chat_id: str,
    *,
    form: str,
    field: str,
    answers: dict[str, Any],
) -> DialogueState:
    """Opens a form in a chat, closing the one that was open there."""
    await session.execute(_CLOSE_CHAT, {"channel": channel, "chat_id": chat_id})
    row = {"channel": channel, "chat_id": chat_id, "form": form, "field": field}
    state_id = (await session.execute(_OPEN, {**row, "answers": answers, "pending": {}})).scalar()
    return DialogueState(int(state_id or 0), form, field, answers, {})


async def save_dialogue(session: AsyncSession, state: DialogueState) -> None:
    """Writes the state back if it changed, unless the form was closed meanwhile."""
    if state.ended or not state.changed:
        return
    await session.execute(
        _SAVE,
        {
            "state_id": state.id,
            "new_form": state.form,
            "new_field": state.field,
            "new_answers": state.answers,
            "new_pending": state.pending,
            "now": utcnow(),
        },
    )
    state.mark_stored()


async def end_dialogue(session: AsyncSession, state: DialogueState) -> None:
    """Closes the form: its answers are forgotten."""
    await session.execute(_END, {"state_id": state.id})
    state.ended = True


async def prune_dialogues(session: AsyncSession, before: dt.datetime) -> int:
    """Forgets forms abandoned since `before`, with the personal answers they hold."""
    result = await session.execute(delete(Dialogue).where(Dialogue.updated_at < before))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
