"""Dispatch: dedupe, person and locale, routing, replies stored — in the update's transaction.

The channel runtime hands an update to `Dispatcher.respond` (one transaction), or the updates
that arrived together to `Dispatcher.respond_together` (one transaction for all, each rolled
back with the others and then handled alone if anything fails), sends the replies returned,
then runs the deferred work and sends what that says; the inbox row of an update is marked
handled, with its replies, in the same transaction as the handler's writes. A redelivered
update therefore changes nothing and sends nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field

from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.capabilities import Capabilities, fit
from bot.config import Config
from bot.context import Context
from bot.dialogue import FieldKind, answer, cancel, go_back, match_choice, prompt
from bot.events import Inbound, InboundKind, Reply
from bot.flood import FloodGate
from bot.i18n import N_, Catalogs, Translator, pick_locale
from bot.router import Router, menu_reply
from bot.text import escape
from models import Database
from models.dialogues import DialogueState, current_dialogue, end_dialogue
from models.inbox import finish_handling, finish_update, mark_replied
from models.people import person_for

__all__ = ["Deferred", "Dispatcher", "Response"]

log = logging.getLogger(__name__)

DB_ATTEMPTS = 3

APOLOGY = N_(
    "Sorry, something went wrong on our side and your last message was not saved. "
    "Please try again in a moment."
)
UNFINISHED = N_(
    "Sorry, something went wrong on our side while preparing this. Please try again in a moment."
)
HINTS = {
    InboundKind.STICKER: N_("Nice sticker! I can only read text and buttons here."),
    InboundKind.VOICE: N_("I cannot listen to voice messages. Please type your answer."),
    InboundKind.PHOTO: N_("Photos are only needed when a report asks for evidence."),
    InboundKind.DOCUMENT: N_("Files are only needed when a report asks for evidence."),
    InboundKind.CONTACT: N_("Thank you, but I only need a phone number during registration."),
    InboundKind.LOCATION: N_("A location is only needed when a report asks for a place."),
    InboundKind.OTHER: N_("I cannot read that kind of message. Please type text."),
}


Deferred = Callable[[], Awaitable[list[Reply]]]


@dataclass
class Response:
    """What an update produced: replies to send at once, and slow work (an export, charts)
    to run after they went out, each returning the replies that follow."""

    replies: list[Reply]
    deferred: list[Deferred] = field(default_factory=list)


class Dispatcher:
    def __init__(
        self,
        config: Config,
        db: Database,
        catalogs: Catalogs,
        router: Router,
    ) -> None:
        self.config = config
        self.db = db
        self.catalogs = catalogs
        self.router = router
        # What each channel can show and carry, as its adapter declared (by channel name;
        # App.add_channel fills it); replies are fitted to it. A channel not named here can
        # do everything.
        self.channels: dict[str, Capabilities] = {}
        self.flood = FloodGate(config.flood.messages, config.flood.per_seconds)
        self._answered: list[tuple[str, str]] = []  # updates whose replies went out
        self._marking: asyncio.Task[None] | None = None

    def admit(self, inbound: Inbound) -> tuple[float, Reply | None]:
        """Flood control: how long to hold this update, and a notice to send once."""
        delay, notify = self.flood.admit(
            f"{inbound.channel}:{inbound.user_id}", inbound.media_group
        )
        if not notify:
            return delay, None
        t = self._fallback_translator(inbound)
        notice = t.gettext(
            "You are sending messages very quickly. I will answer them one by one, "
            "please wait a moment."
        )
        return delay, Reply(notice)

    def admit_at_once(self, inbound: Inbound) -> bool:
        """Flood control for an update to be handled now: counted if it need not wait;
        False, and nothing counted, if it must (`admit` then holds it in its turn)."""
        return self.flood.admit_at_once(f"{inbound.channel}:{inbound.user_id}")

    def _fallback_translator(self, inbound: Inbound) -> Translator:
        """For messages outside a transaction: the client's language, else the default."""
        locale = pick_locale(None, inbound.client_language, self.config.default_locale)
        return self.catalogs.translator(locale, self.config.tz)

    async def handle(self, inbound: Inbound) -> list[Reply] | None:
        """Handles one update with its deferred work, and returns every reply at once; None if
        it was handled before. For callers that send nothing in between (tests, scripts)."""
        response = await self.respond(inbound)
        if response is None:
            return None
        replies = list(response.replies)
        for work in response.deferred:
            replies += await work()
        return replies

    async def respond(self, inbound: Inbound) -> Response | None:
        """Handles one update: the replies to send now and the work deferred until they went
        out; None if it was handled before.

        A database that is busy or briefly unreachable gets a few more tries; a handler that
        fails is rolled back and the user told so, once.
        """
        for attempt in range(1, DB_ATTEMPTS + 1):
            try:
                return await self._handle_once(inbound)
            except OperationalError:
                if attempt == DB_ATTEMPTS:
                    raise  # the update stays in the inbox and is handled after restart
                log.warning("database unavailable; retrying update (attempt %d)", attempt)
                await asyncio.sleep(0.2 * 2**attempt)
            except Exception:
                # The handler's writes are rolled back; record the update as handled with an
                # apology, so a poisonous update is not retried forever.
                log.exception("handling %s update failed", inbound.channel)
                return await self._apologise(inbound)
        return None

    async def _handle_once(self, inbound: Inbound) -> Response | None:
        after_commit: list[Callable[[], None]] = []
        try:
            async with self.db.write() as session:
                handled = await self._respond_in(session, inbound, after_commit)
        except _HandledBefore:
            return None  # a redelivery: what the handler did is rolled back
        for work in after_commit:
            work()
        return self._response(handled)

    async def respond_together(
        self,
        inbounds: Sequence[Inbound],
        store: Callable[[AsyncSession], Awaitable[Collection[str]]],
    ) -> dict[str, Response]:
        """Handles the updates of one poll in one transaction, in order: `store` stores them
        and returns the keys stored now (the others were stored before, and are not
        handled again); their responses by update key, once all are committed.

        One commit for many updates: the replies go only after it, as with one update. If
        anything fails, everything is rolled back (nothing stored, nothing handled) and the
        error raised: the caller handles the updates one by one instead, where a failing
        handler is rolled back alone and its person told so.
        """
        after_commit: list[Callable[[], None]] = []
        handled: dict[str, _Handled] = {}
        marks, self._answered = self._answered, []
        try:
            async with self.db.write() as session:
                new = set(await store(session))
                await self._write_marks(session, marks)  # the earlier replies' marks, too
                for inbound in inbounds:
                    if inbound.update_key in new:
                        handled[inbound.update_key] = await self._respond_in(
                            session, inbound, after_commit
                        )
        except BaseException:
            self._answered[:0] = marks  # to be written on their own
            self._mark_soon()
            raise
        for work in after_commit:
            work()
        return {key: self._response(done) for key, done in handled.items()}

    async def _respond_in(
        self, session: AsyncSession, inbound: Inbound, after_commit: list[Callable[[], None]]
    ) -> _Handled:
        """Handles one update in the session: the person, their language, the route; the
        update marked handled with its replies (_HandledBefore if it was already)."""
        later: list[Deferred] = []
        person = await person_for(
            session,
            inbound.channel,
            inbound.user_id,
            inbound.chat_id,
            (inbound.client_language or "")[:16] or None,
        )
        locale = pick_locale(person.locale, inbound.client_language, self.config.default_locale)
        ctx = Context(
            inbound=inbound,
            person=person,
            t=self.catalogs.translator(locale, self.config.tz),
            session=session,
            config=self.config,
            router=self.router,
            catalogs=self.catalogs,
            db=self.db,
            after_commit=after_commit,
            later=later,
            channels=self.channels,
        )
        replies = self._fit(ctx, await self._route(ctx))
        await _finish(session, inbound, replies)
        return _Handled(ctx, replies, later)

    def _response(self, handled: _Handled) -> Response:
        deferred = [self._deferred(handled.ctx, job) for job in handled.later]
        return Response(handled.replies, deferred)

    def _fit(self, ctx: Context, replies: list[Reply]) -> list[Reply]:
        return [fit(ctx.t, reply, ctx.channel) for reply in replies]

    def _deferred(self, ctx: Context, job: Deferred) -> Deferred:
        """The deferred job, its replies fitted to the channel; a failure is logged and the
        person told so (what the update itself did is committed already)."""

        async def run() -> list[Reply]:
            try:
                replies = await job()
            except Exception:
                log.exception("deferred work of a %s update failed", ctx.inbound.channel)
                replies = [Reply(ctx._(UNFINISHED))]
            return self._fit(ctx, replies)

        return run

    async def _apologise(self, inbound: Inbound) -> Response | None:
        t = self._fallback_translator(inbound)
        replies = [Reply(t.gettext(APOLOGY))]
        try:
            async with self.db.write() as session:
                await _finish(session, inbound, replies)
        except _HandledBefore:
            return None  # handled meanwhile (a concurrent delivery): nothing to say
        return Response(replies)

    async def wants_files(self, inbound: Inbound) -> bool:
        """Whether the chat's form is waiting for evidence, so files are worth fetching."""
        async with self.db.read() as session:
            dialogue = await current_dialogue(session, inbound.channel, inbound.chat_id)
        if dialogue is None or dialogue.form not in self.router.forms:
            return False
        form = self.router.forms[dialogue.form]
        return any(f.name == dialogue.field and f.kind is FieldKind.PHOTOS for f in form.fields)

    async def ignore(self, channel: str, update_key: str) -> None:
        """Records an update that is not for the bot (a group message, an edit) as done."""
        async with self.db.write() as session:
            await finish_update(session, channel, update_key)

    def replied(self, channel: str, update_key: str) -> None:
        """Records that the replies of an update were sent.

        The marks are written behind the conversation, many to a transaction: the reply is
        out already, and a mark lost to a crash only means the reply is sent once more after
        restart.
        """
        self._answered.append((channel, update_key))
        self._mark_soon()

    def _mark_soon(self) -> None:
        if self._answered and (self._marking is None or self._marking.done()):
            self._marking = asyncio.create_task(self._mark_replied(), name="mark-replied")

    async def settle(self) -> None:
        """Waits until every update answered so far is marked so."""
        while self._marking is not None and not self._marking.done():
            await asyncio.shield(self._marking)

    async def _mark_replied(self) -> None:
        while self._answered:
            answered, self._answered = self._answered, []
            try:
                async with self.db.write() as session:
                    await self._write_marks(session, answered)
            except Exception:
                log.exception("could not mark %d updates answered", len(answered))

    @staticmethod
    async def _write_marks(session: AsyncSession, answered: list[tuple[str, str]]) -> None:
        for name in {channel for channel, _ in answered}:
            keys = [key for channel, key in answered if channel == name]
            await mark_replied(session, name, keys)

    def _leaves_freely(self, dialogue: DialogueState) -> bool:
        form = self.router.forms.get(dialogue.form)
        return form is not None and form.interruptible

    async def _route(self, ctx: Context) -> list[Reply]:
        inbound = ctx.inbound
        dialogue = await current_dialogue(ctx.session, inbound.channel, inbound.chat_id)
        if inbound.kind is InboundKind.COMMAND:
            name = inbound.command or ""
            if dialogue is not None and name == "cancel":
                return await cancel(ctx, dialogue)
            if dialogue is not None and name == "back":
                return await go_back(ctx, dialogue)
            command = self.router.commands.get(name)
            if command is None:
                text = ctx._("I do not know the command /{name}. Type /help to see what I can do.")
                reply = Reply(text.format(name=escape(name[:32])))
                return [await prompt(ctx, dialogue, reply.text)] if dialogue else [reply]
            if command.members_only and not ctx.person.registered:
                if dialogue is not None and dialogue.form == "registration":
                    notice = ctx._(
                        "Please finish registering first: answer the question below, "
                        "or type /cancel to stop."
                    )
                    return [await prompt(ctx, dialogue, notice)]
                return [Reply(ctx._("You have not registered yet. Type /start to begin."))]
            # An invitation opened in the middle of registering starts registration afresh.
            restart = (
                name in ("start", "join")
                and bool(inbound.args)
                and dialogue is not None
                and (dialogue.form == "registration")
            )
            if (
                dialogue is not None
                and self._leaves_freely(dialogue)
                and not command.keeps_dialogue
            ):
                await end_dialogue(ctx.session, dialogue)  # a menu-like question: nothing is lost
                dialogue = None
            if dialogue is not None and not command.keeps_dialogue and not restart:
                notice = ctx._(
                    "You are in the middle of a form. Answer the question below, "
                    "or type /cancel to stop it first."
                )
                if name == "start":
                    notice = ctx._("Let us continue where you left off.")
                return [await prompt(ctx, dialogue, notice)]
            replies = await command.handler(ctx)
            if dialogue is not None and command.keeps_dialogue:
                replies.append(await prompt(ctx, dialogue))
            return replies

        if dialogue is not None:
            return await answer(ctx, dialogue)

        if inbound.kind is InboundKind.BUTTON:
            key = (inbound.button or "").removeprefix("m:")
            for item in self.router.menu_for(ctx):
                if item.key == key:
                    return await item.handler(ctx)
            why = await self._stale(ctx, inbound.button or "")
            if why is not None:
                return [menu_reply(ctx, "⚠️ " + why)]
            return [menu_reply(ctx, ctx._("That button is no longer active. Here is the menu:"))]

        if inbound.kind is InboundKind.TEXT:
            items = self.router.menu_for(ctx)
            chosen = match_choice(
                ctx, [(item.key, ctx._(item.label)) for item in items], inbound.text
            )
            for item in items:
                if item.key == chosen:
                    return await item.handler(ctx)
            if not ctx.person.registered:
                return [Reply(ctx._("Hello! Type /start to join the movement."))]
            return [
                menu_reply(
                    ctx, ctx._("I did not understand that. Choose from the menu, or type /help.")
                )
            ]

        return [Reply(ctx._(HINTS.get(inbound.kind, HINTS[InboundKind.OTHER])))]

    async def _stale(self, ctx: Context, button: str) -> str | None:
        """Why a button of a form no longer open did nothing, when its field can tell (a
        decision on an entry decided since, a request answered already)."""
        _, form_name, field_name, value = [*button.split(":", 3), "", "", ""][:4]
        form = self.router.forms.get(form_name)
        field = next((f for f in form.fields if f.name == field_name), None) if form else None
        if field is None or field.stale is None or not value:
            return None
        return await field.stale(ctx, value)


@dataclass(frozen=True)
class _Handled:
    """An update handled in a transaction not yet committed."""

    ctx: Context
    replies: list[Reply]
    later: list[Deferred]  # the work deferred until the replies went out


class _HandledBefore(Exception):
    """Rolls back the handling of an update that turned out to be handled already."""


async def _finish(session: AsyncSession, inbound: Inbound, replies: list[Reply]) -> None:
    """Marks the update handled with the replies to send, in the handler's transaction."""
    items = [reply.to_json() for reply in replies]
    if not await finish_handling(
        session, inbound.channel, inbound.update_key, inbound.chat_id, items
    ):
        raise _HandledBefore
