"""The dialogue engine: runs form declarations, one field at a time, with state in the database.

A form is data (fields with a type, limits, a prompt and a hint); this module is the only
conversation. Every prompt offers back and cancel, every choice can be answered by button,
number or label, and the state is saved in the handler's transaction, so a restart or another
worker continues where the user was.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bot.context import Context
from bot.events import Choice, InboundKind, Reply
from bot.fields import (
    parse_date,
    parse_day,
    parse_decimal,
    parse_integer,
    parse_moment,
    parse_money,
    parse_phone,
    parse_text,
    parse_time,
    parse_year,
)
from bot.i18n import N_
from bot.text import escape, format_phone
from domain.forms import CHOOSING, Field, FieldKind, Invalid, Option
from domain.text import bare, clean_file_name, fold
from models.dialogues import DialogueState, end_dialogue, open_dialogue, save_dialogue
from models.tables import utcnow
from models.units import get_unit, list_units, search_units

__all__ = [
    "Field",
    "FieldKind",
    "Form",
    "Option",
    "Stop",
    "answer",
    "cancel",
    "go_back",
    "match_choice",
    "prompt",
    "start_form",
]

NAV_BACK = "nav:back"
NAV_CANCEL = "nav:cancel"
SKIP = "_skip"
DONE = "_done"
UNIT_LIST = "_list"
UNIT_NEXT = "_next"
UNIT_PREV = "_prev"
UNIT_PAGE = 8
# Steps after the fields of a reviewed form: the summary, and choosing which field to change.
REVIEW = "_review"
CHANGE = "_change"
SUBMIT = "_submit"
EDITING = "_editing"  # in the answers while one field of a reviewed form is being changed
UNUSUAL = "unusual"  # in `pending`: an unusual answer waiting for the person to confirm it
KEEP, AGAIN = "_keep", "_again"
# Pending while /cancel waits for "yes, stop" on a form with many answers.
CANCELLING = "_cancelling"
CANCEL_YES = "nav:cancel_yes"
CANCEL_NO = "nav:cancel_no"
# /cancel after more answers than this asks once whether to throw them away.
CANCEL_ASKS_AFTER = 3
BACK_WORDS = {"back", "quay lai", "tro lai"}
CANCEL_WORDS = {"cancel", "huy", "huy bo"}
SKIP_WORDS = {"skip", "bo qua", "khong"}
DONE_WORDS = {"done", "xong", "hoan tat"}
YES_WORDS = {"yes", "ok", "co", "dung", "dung roi", "dung vay", "dong y", "vang", "phai"}
NO_WORDS = {"no", "khong", "sai", "nhap lai", "thoi", "khong huy"}


@dataclass(frozen=True)
class Stop:
    """Ends the form early (e.g. consent declined) with these replies; nothing is kept."""

    replies: list[Reply]


Complete = Callable[[Context, dict[str, Any]], Awaitable[list[Reply]]]


@dataclass(frozen=True)
class Form:
    name: str
    title: str  # msgid
    fields: tuple[Field, ...]
    complete: Complete
    cancelled: str = N_("Cancelled. Nothing was saved.")
    # Show every answer before completing, with submit, change one field, or cancel.
    review: bool = False
    steps: bool = True  # "step 2 of 5" (not for one-question pickers such as a list)
    # A picker that loses nothing when left: any command leaves it without asking.
    interruptible: bool = False
    submit: str = N_("✅ Confirm")  # the review's button that completes the form
    # A line below the review's summary, e.g. that quiet hours will hold the news (HTML).
    note: Callable[[Context, dict[str, Any]], Awaitable[str | None]] | None = None

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)

    def asked(self, answers: dict[str, Any]) -> list[Field]:
        return [f for f in self.fields if f.ask_if is None or f.ask_if(answers)]

    def first_unanswered(self, answers: dict[str, Any]) -> Field | None:
        """Where the form goes next: prefilled and already given answers are not asked."""
        return next((f for f in self.asked(answers) if f.name not in answers), None)


@dataclass
class _Stay:
    """The answer was understood but the field is not finished (a page turned, a photo added)."""

    notice: str | None = None


@dataclass
class _Accept:
    value: Any
    notice: str | None = None


_Outcome = _Stay | _Accept


async def start_form(
    ctx: Context, name: str, answers: dict[str, Any] | None = None
) -> list[Reply]:
    """Opens a form (replacing any other open form) and asks its first unanswered field; with
    every field prefilled (fixing a rejected entry), it opens on the review."""
    form = ctx.router.forms[name]
    answers = dict(answers or {})
    first = form.first_unanswered(answers)
    dialogue = await open_dialogue(
        ctx.session,
        ctx.inbound.channel,
        ctx.inbound.chat_id,
        form=name,
        field=first.name if first else REVIEW,
        answers=answers,
    )
    return [await prompt(ctx, dialogue)]


async def prompt(ctx: Context, dialogue: DialogueState, notice: str | None = None) -> Reply:
    """The question of the current field, with its step, hint, choices, back and cancel."""
    form = ctx.router.forms[dialogue.form]
    if dialogue.pending.get(CANCELLING):
        return _cancel_prompt(ctx, form, dialogue)
    if dialogue.field in (REVIEW, CHANGE):
        return await _review_prompt(ctx, form, dialogue, notice)
    current = form.field(dialogue.field)
    asked = form.asked(dialogue.answers)
    step = next(i for i, f in enumerate(asked, start=1) if f.name == current.name)
    params = _escaped(current.params(ctx, dialogue.answers) if current.params else {})
    if current.kind is FieldKind.PHOTOS:
        params = {"max_files": current.max_files, "max_mb": ctx.channel.max_download_mb, **params}
    lines = []
    if notice:
        lines += [notice, ""]
    if form.steps:
        lines.append(
            ctx._("{form} · step {step} of {total}").format(
                form=ctx._(form.title), step=step, total=len(asked)
            )
        )
    if UNUSUAL in dialogue.pending and current.unusual_prompt:
        value = _number(ctx, dialogue.pending[UNUSUAL])
        lines.append(f"<b>{ctx._(current.unusual_prompt).format(**params, value=value)}</b>")
    else:
        lines.append(f"<b>{ctx._(current.prompt).format(**params)}</b>")
        if current.hint:
            lines.append(f"<i>{ctx._(current.hint).format(**params)}</i>")
    choices = list(await _choices(ctx, dialogue, current))
    if current.kind is FieldKind.UNIT and dialogue.pending.get("total"):
        page = dialogue.pending.get("page", 0)
        lines.append(
            ctx._("Page {page} of {pages}.").format(
                page=page + 1, pages=-(-dialogue.pending["total"] // UNIT_PAGE)
            )
        )
    lines.append("")
    if current.optional and current.kind not in CHOOSING:
        lines.append(ctx._('Type "skip" to leave this out.'))
    if current.kind is FieldKind.PHOTOS:
        if ctx.channel.how_to_send_files:
            lines.append(ctx._(ctx.channel.how_to_send_files))
        lines.append(ctx._('Type "done" when you have sent them all.'))
    if step > 1:
        lines.append(ctx._("Type /back to go back a step, /cancel to stop."))
    else:
        lines.append(ctx._("Type /cancel to stop."))
    if step > 1:
        choices.append(Choice(ctx._("⬅️ Back"), NAV_BACK, nav=True))
    choices.append(Choice(ctx._("✖️ Cancel"), NAV_CANCEL, nav=True))
    contact = ctx._("📱 Share my phone number") if current.kind is FieldKind.PHONE else None
    return Reply("\n".join(lines), tuple(choices), request_contact=contact)


async def _options(ctx: Context, current: Field, answers: dict[str, Any]) -> tuple[Option, ...]:
    return await current.options_for(ctx, answers) if current.options_for else current.options


async def describe(ctx: Context, current: Field, value: Any, answers: dict[str, Any]) -> str:
    """An answer as the user reads it in a summary, formatted for their locale (HTML)."""
    if isinstance(value, dict) and "value" in value and "at" in value:
        value = value["value"]  # a stamped answer
    if value is None or value == []:
        return "—"
    kind = current.kind
    if kind in (FieldKind.CHOICE, FieldKind.MULTI_CHOICE):
        labels = {o.value: ctx._(o.label) for o in await _options(ctx, current, answers)}
        values = value if isinstance(value, list) else [value]
        return escape(", ".join(str(labels.get(v, v)) for v in values))
    if kind is FieldKind.MONEY:
        return ctx.t.money(int(value))
    if kind in (FieldKind.INTEGER, FieldKind.DECIMAL):
        return ctx.t.number(value)
    if kind in (FieldKind.DATE, FieldKind.DAY):
        return ctx.t.date(dt.date.fromisoformat(value))
    if kind is FieldKind.MOMENT:
        local = dt.datetime.fromisoformat(value).replace(tzinfo=ctx.config.tz)
        return ctx.t.datetime(local)
    if kind is FieldKind.UNIT:
        unit = await get_unit(ctx.session, int(value))
        return escape(unit.name) if unit else "—"
    if kind is FieldKind.PHOTOS:
        return ctx.t.ngettext("{n} file", "{n} files", len(value)).format(n=len(value))
    if kind is FieldKind.LOCATION:
        if "place" in value:
            return escape(value["place"])
        return "📍 {:.5f}, {:.5f}".format(value["latitude"], value["longitude"])
    if kind is FieldKind.PHONE:
        return format_phone(str(value))
    return escape(str(value))


async def summary(ctx: Context, form: Form, answers: dict[str, Any]) -> list[str]:
    """One line per asked field: its label and the answer."""
    lines = []
    for current in _summarised(form, answers):
        label = ctx._(current.label or current.prompt).format(
            **_escaped(_params(ctx, current, answers))
        )
        lines.append(
            f"<b>{label}:</b> {await describe(ctx, current, answers.get(current.name), answers)}"
        )
    return lines


def _params(ctx: Context, current: Field, answers: dict[str, Any]) -> dict[str, Any]:
    return current.params(ctx, answers) if current.params else {}


def _summarised(form: Form, answers: dict[str, Any]) -> list[Field]:
    return [f for f in form.asked(answers) if f.summarised]


async def _review_prompt(
    ctx: Context, form: Form, dialogue: DialogueState, notice: str | None
) -> Reply:
    tag = f"f:{dialogue.form}:{dialogue.field}:"
    lines: list[str] = [notice, ""] if notice else []
    if dialogue.field == REVIEW:
        lines.append(
            ctx._("<b>{form}: please check before sending</b>").format(form=ctx._(form.title))
        )
        lines += await summary(ctx, form, dialogue.answers)
        note = await form.note(ctx, dialogue.answers) if form.note else None
        if note:
            lines += ["", note]
        lines += ["", ctx._("Type /back to go back a step, /cancel to stop.")]
        choices = [
            Choice(ctx._(form.submit), tag + SUBMIT),
            Choice(ctx._("✏️ Change an answer"), tag + CHANGE),
        ]
    else:
        lines.append(ctx._("Which answer would you like to change?"))
        lines += ["", ctx._("Type /back to return to the summary, /cancel to stop.")]
        choices = [
            Choice(
                ctx._(f.label or f.prompt).format(**_escaped(_params(ctx, f, dialogue.answers))),
                tag + f.name,
            )
            for f in _summarised(form, dialogue.answers)
        ]
    choices += [
        Choice(ctx._("⬅️ Back"), NAV_BACK, nav=True),
        Choice(ctx._("✖️ Cancel"), NAV_CANCEL, nav=True),
    ]
    return Reply("\n".join(lines), tuple(choices))


async def _answer_review(ctx: Context, form: Form, dialogue: DialogueState) -> list[Reply]:
    """Submit, or choose one field to answer again (the others are kept)."""
    inbound = ctx.inbound
    reply = await _review_prompt(ctx, form, dialogue, None)
    value = inbound.button
    if inbound.kind is InboundKind.TEXT:
        word = bare(inbound.text)
        if word in BACK_WORDS:
            return await _go_back(ctx, dialogue)
        if word in CANCEL_WORDS:
            return await _cancel(ctx, dialogue)
        value = match_choice(ctx, [(c.value, c.label) for c in reply.numbered()], inbound.text)
    elif inbound.kind is InboundKind.BUTTON:
        if value == NAV_BACK:
            return await _go_back(ctx, dialogue)
        if value == NAV_CANCEL:
            return await _cancel(ctx, dialogue)
    if value not in {choice.value for choice in reply.numbered()}:
        stale = inbound.kind is InboundKind.BUTTON
        problem = (
            ctx._("That button belongs to an earlier question.")
            if stale
            else ctx._(
                "Please choose one of the options: tap a button or type its number (1 to {n})."
            ).format(n=len(reply.numbered()))
        )
        return [await prompt(ctx, dialogue, "⚠️ " + problem)]
    choice = (value or "").rsplit(":", 1)[-1]
    if choice == SUBMIT:
        await end_dialogue(ctx.session, dialogue)
        return await form.complete(ctx, dialogue.answers)
    if choice == CHANGE:
        dialogue.field = CHANGE
        return [await prompt(ctx, dialogue)]
    # A field to answer again: forget its answer, but keep it to restore on /back.
    answers = dict(dialogue.answers)
    answers[EDITING] = {"field": choice, "was": answers.pop(choice, None)}
    dialogue.answers, dialogue.field, dialogue.pending = answers, choice, {}
    return [await prompt(ctx, dialogue)]


async def _choices(ctx: Context, dialogue: DialogueState, current: Field) -> list[Choice]:
    tag = f"f:{dialogue.form}:{current.name}:"
    choices: list[Choice] = []
    if UNUSUAL in dialogue.pending:
        return [
            Choice(ctx._("Yes, that is right"), tag + KEEP),
            Choice(ctx._("No, I will type it again"), tag + AGAIN),
        ]
    if current.kind is FieldKind.CHOICE:
        options = await _options(ctx, current, dialogue.answers)
        choices = [Choice(ctx._(o.label), tag + o.value) for o in options]
    elif current.kind is FieldKind.MULTI_CHOICE:
        selected = set(dialogue.pending.get("selected", []))
        choices = [
            Choice(("✅ " if o.value in selected else "") + ctx._(o.label), tag + o.value)
            for o in await _options(ctx, current, dialogue.answers)
        ]
        choices.append(Choice(ctx._("Done"), tag + DONE))
    elif current.kind is FieldKind.UNIT:
        offered = dialogue.pending.get("offered", [])
        choices = [Choice(name, f"{tag}{unit_id}") for unit_id, name in offered]
        page = dialogue.pending.get("page")
        total = dialogue.pending.get("total", 0)
        if page is not None and page > 0:
            choices.append(Choice(ctx._("◀️ Previous page"), tag + UNIT_PREV))
        if page is not None and (page + 1) * UNIT_PAGE < total:
            choices.append(Choice(ctx._("Next page ▶️"), tag + UNIT_NEXT))
        if page is None:
            choices.append(Choice(ctx._("📋 Show the list"), tag + UNIT_LIST))
    elif current.kind is FieldKind.PHOTOS and dialogue.pending.get("files"):
        # Buttons only: in text a number could be an answer, so "done" is typed as a word.
        choices.append(Choice(ctx._("Done"), tag + DONE, nav=True))
    if current.optional:
        choices.append(Choice(ctx._("Skip"), tag + SKIP, nav=current.kind not in CHOOSING))
    return choices


async def answer(ctx: Context, dialogue: DialogueState) -> list[Reply]:
    """Takes the user's answer to the current field and moves the form on; saves where the
    form now is."""
    replies = await _answer(ctx, dialogue)
    await save_dialogue(ctx.session, dialogue)
    return replies


async def _answer(ctx: Context, dialogue: DialogueState) -> list[Reply]:
    inbound = ctx.inbound
    form = ctx.router.forms[dialogue.form]
    if dialogue.pending.get(CANCELLING):
        decided = _cancel_decision(ctx)
        if decided:
            return await _cancel(ctx, dialogue)
        dialogue.pending = {k: v for k, v in dialogue.pending.items() if k != CANCELLING}
        if decided is not None:
            return [await prompt(ctx, dialogue)]
        # Neither yes nor no: an answer to the question, as if /cancel had not been typed.
    if dialogue.field in (REVIEW, CHANGE):
        return await _answer_review(ctx, form, dialogue)
    current = form.field(dialogue.field)
    value: str | None = None  # the chosen button's value, or what was typed
    if inbound.kind is InboundKind.BUTTON and inbound.button is not None:
        if inbound.button == NAV_BACK:
            return await _go_back(ctx, dialogue)
        if inbound.button == NAV_CANCEL:
            return await _cancel(ctx, dialogue)
        prefix = f"f:{dialogue.form}:{current.name}:"
        if not inbound.button.startswith(prefix):
            return [
                await prompt(ctx, dialogue, ctx._("That button belongs to an earlier question."))
            ]
        value = inbound.button.removeprefix(prefix)
        if current.stale is not None and current.kind is FieldKind.CHOICE:
            offered = {o.value for o in await _options(ctx, current, dialogue.answers)}
            if value not in offered:
                # A button of a record that changed since, or of an earlier card: it acts on
                # nothing, and the person is told why.
                why = await current.stale(ctx, value)
                notice = why or ctx._("That button belongs to an earlier question.")
                return [await prompt(ctx, dialogue, "⚠️ " + notice)]
    elif inbound.kind is InboundKind.TEXT:
        word = bare(inbound.text)
        if word in BACK_WORDS:
            return await _go_back(ctx, dialogue)
        if word in CANCEL_WORDS:
            return await _cancel(ctx, dialogue)
        if current.kind in CHOOSING:
            # A typed number or label means the same as pressing what the prompt showed.
            shown = [c for c in await _choices(ctx, dialogue, current) if not c.nav]
            typed = match_choice(ctx, [(c.value, c.label) for c in shown], inbound.text)
            if typed is not None:
                value = typed.removeprefix(f"f:{dialogue.form}:{current.name}:")
    return await _take(ctx, dialogue, form, current, value)


async def _take(
    ctx: Context, dialogue: DialogueState, form: Form, current: Field, value: str | None
) -> list[Reply]:
    """Keeps a valid answer to the current field and moves the form on, or asks again."""
    outcome = await _outcome(ctx, dialogue, current, value)
    if not isinstance(outcome, _Accept):
        return outcome
    if current.check is not None:
        try:
            stop = await current.check(ctx, outcome.value, dialogue.answers)
        except Invalid as invalid:
            return [await _warn(ctx, dialogue, invalid)]
        if stop is not None:
            await end_dialogue(ctx.session, dialogue)
            return stop.replies
    stored: Any = outcome.value
    if current.stamp:
        stored = {"value": stored, "at": utcnow().isoformat()}
    answers = {**dialogue.answers, current.name: stored}
    answers.pop(EDITING, None)
    following = form.first_unanswered(answers)
    dialogue.answers, dialogue.pending = answers, {}
    if following is None and not form.review:
        await end_dialogue(ctx.session, dialogue)
        replies = await form.complete(ctx, answers)
        if outcome.notice:
            replies.insert(0, Reply(outcome.notice))
        return replies
    dialogue.field = following.name if following else REVIEW
    return [await prompt(ctx, dialogue, outcome.notice)]


async def _outcome(
    ctx: Context, dialogue: DialogueState, current: Field, value: str | None
) -> _Accept | list[Reply]:
    """The answer as a value (a confirmed unusual one included), or the question again: with
    what was wrong, the page or file it moved on by, or whether an unusual answer is right."""
    if UNUSUAL in dialogue.pending:
        settled = _settle_unusual(ctx, value)
        if settled == KEEP:
            return _Accept(dialogue.pending[UNUSUAL])
        dialogue.pending = {}  # no, or a new answer instead of yes or no
        if settled == AGAIN:
            return [await prompt(ctx, dialogue)]
    if current.optional and (value == SKIP or _typed_word(ctx, SKIP_WORDS)):
        return _Accept(None)
    try:
        outcome = await _read(ctx, dialogue, current, value)
    except Invalid as invalid:
        return [await _warn(ctx, dialogue, invalid)]
    if isinstance(outcome, _Stay):
        return [await prompt(ctx, dialogue, outcome.notice)]
    if current.unusual and outcome.value is not None and current.unusual(ctx, outcome.value):
        dialogue.pending = {UNUSUAL: outcome.value}
        return [await prompt(ctx, dialogue)]
    return outcome


def _settle_unusual(ctx: Context, button: str | None) -> str | None:
    """KEEP or AGAIN when the person answered whether an unusual answer is right; None when
    they typed a new answer instead."""
    if button in (KEEP, AGAIN):
        return button
    if ctx.inbound.kind is not InboundKind.TEXT:
        return None
    typed, word = ctx.inbound.text.strip().rstrip(".)"), bare(ctx.inbound.text)
    if typed == "1" or word in YES_WORDS:
        return KEEP
    if typed == "2" or word in NO_WORDS:
        return AGAIN
    return None


async def _warn(ctx: Context, dialogue: DialogueState, invalid: Invalid) -> Reply:
    """Asks again, saying first what was wrong with the answer."""
    message = ctx._(invalid.message).format(**_values(ctx, invalid.params))
    return await prompt(ctx, dialogue, "⚠️ " + message)


def _values(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Values for a rule's message: text escaped, limits written as the user writes them."""
    return {key: _number(ctx, value) for key, value in _escaped(params).items()}


def _number(ctx: Context, value: Any) -> Any:
    """Limits as the user writes them: 0,5 in Vietnamese; years stay 2004, not 2.004."""
    if isinstance(value, float) or (isinstance(value, int) and value >= 10_000):
        return ctx.t.number(value)
    return value


def _escaped(params: dict[str, Any]) -> dict[str, Any]:
    """Values for a translated template: text is escaped for the reply's HTML."""
    return {
        key: escape(value) if isinstance(value, str) else value for key, value in params.items()
    }


def _typed_word(ctx: Context, words: set[str]) -> bool:
    return ctx.inbound.kind is InboundKind.TEXT and bare(ctx.inbound.text) in words


async def go_back(ctx: Context, dialogue: DialogueState) -> list[Reply]:
    """Returns to the previous question, forgetting its answer; while changing one field of a
    reviewed form, returns to the review with the old answer. Saves where the form now is."""
    replies = await _go_back(ctx, dialogue)
    await save_dialogue(ctx.session, dialogue)
    return replies


async def _go_back(ctx: Context, dialogue: DialogueState) -> list[Reply]:
    form = ctx.router.forms[dialogue.form]
    dialogue.pending = {k: v for k, v in dialogue.pending.items() if k != CANCELLING}
    if EDITING in dialogue.answers or dialogue.field == CHANGE:
        answers = dict(dialogue.answers)
        editing = answers.pop(EDITING, None)
        if editing is not None:
            answers[editing["field"]] = editing["was"]
        dialogue.answers, dialogue.field, dialogue.pending = answers, REVIEW, {}
        return [await prompt(ctx, dialogue)]
    asked = [f.name for f in form.asked(dialogue.answers)]
    position = len(asked) if dialogue.field == REVIEW else asked.index(dialogue.field)
    if position == 0:
        return [await prompt(ctx, dialogue, ctx._("This is the first step."))]
    forget = set(asked[position - 1 :])
    dialogue.answers = {k: v for k, v in dialogue.answers.items() if k not in forget}
    dialogue.field, dialogue.pending = asked[position - 1], {}
    return [await prompt(ctx, dialogue)]


async def cancel(ctx: Context, dialogue: DialogueState) -> list[Reply]:
    """Closes the form without saving anything; on a form with more than a few answers, asks
    once first (a second /cancel, or "yes", closes it). Saves where the form now is."""
    replies = await _cancel(ctx, dialogue)
    await save_dialogue(ctx.session, dialogue)
    return replies


async def _cancel(ctx: Context, dialogue: DialogueState) -> list[Reply]:
    form = ctx.router.forms[dialogue.form]
    if not dialogue.pending.get(CANCELLING) and _given(form, dialogue) > CANCEL_ASKS_AFTER:
        dialogue.pending = {**dialogue.pending, CANCELLING: True}
        return [await prompt(ctx, dialogue)]
    await end_dialogue(ctx.session, dialogue)
    return [Reply(ctx._(form.cancelled) + "\n" + ctx._("Type /menu to see what you can do."))]


def _given(form: Form, dialogue: DialogueState) -> int:
    """How many of the form's questions have an answer (skipped ones too)."""
    return sum(1 for f in form.asked(dialogue.answers) if f.name in dialogue.answers)


def _cancel_prompt(ctx: Context, form: Form, dialogue: DialogueState) -> Reply:
    given = _given(form, dialogue)
    text = ctx.t.ngettext(
        "Stop {form}? The {n} answer you have given will not be saved.",
        "Stop {form}? The {n} answers you have given will not be saved.",
        given,
    ).format(form=ctx._(form.title), n=given)
    return Reply("❓ " + text, _cancel_choices(ctx))


def _cancel_choices(ctx: Context) -> tuple[Choice, ...]:
    return (
        Choice(ctx._("🗑 Yes, stop and discard"), CANCEL_YES),
        Choice(ctx._("↩️ No, continue"), CANCEL_NO),
    )


def _cancel_decision(ctx: Context) -> bool | None:
    """The answer to "stop the form?": yes, no, or neither (something else was said)."""
    inbound = ctx.inbound
    if inbound.kind is InboundKind.BUTTON:
        if inbound.button in (CANCEL_YES, NAV_CANCEL):
            return True
        return False if inbound.button == CANCEL_NO else None
    if inbound.kind is not InboundKind.TEXT:
        return None
    word = bare(inbound.text)
    if word in YES_WORDS or word in CANCEL_WORDS:
        return True
    if word in NO_WORDS:
        return False
    options = [(choice.value, choice.label) for choice in _cancel_choices(ctx)]
    chosen = match_choice(ctx, options, inbound.text)
    return None if chosen is None else chosen == CANCEL_YES


def match_choice(ctx: Context, choices: list[tuple[str, str]], typed: str) -> str | None:
    """The value of the choice a typed answer means: its number, its label, or words of one
    label that no other label has ("tình nguyện" for "Hoạt động tình nguyện"; of "Tôi đồng ý"
    and "Tôi không đồng ý", "đồng ý" means the one it says with the fewest other words)."""
    text = typed.strip().rstrip(".)")
    if text.isdecimal():  # not isdigit(): "²" is a digit that int() refuses
        index = int(text) - 1 if len(text) <= 4 else -1  # nor does it take 4,300 digits
        return choices[index][0] if 0 <= index < len(choices) else None
    wanted = bare(typed)
    labels = [(value, bare(label)) for value, label in choices]
    for value, label in labels:
        if label == wanted:
            return value
    words = wanted.split()
    if len(wanted.replace(" ", "")) < 2:
        return None
    found = sorted(
        (len(label.split()) - len(words), value)
        for value, label in labels
        if _has_run(label.split(), words)
    )
    if not found or (len(found) > 1 and found[0][0] == found[1][0]):
        return None  # nothing, or two labels say it equally well
    return found[0][1]


def _has_run(words: list[str], run: list[str]) -> bool:
    """Whether `run` appears in `words` as whole words, one after the other."""
    return any(words[i : i + len(run)] == run for i in range(len(words) - len(run) + 1))


async def _read(
    ctx: Context, dialogue: DialogueState, current: Field, button: str | None
) -> _Outcome:
    """Parses the inbound event as an answer to `current`; raises Invalid when it is wrong."""
    inbound = ctx.inbound
    kind = current.kind
    if kind is FieldKind.PHOTOS:
        return _read_photos(ctx, dialogue, current, button)
    if kind is FieldKind.PHONE and inbound.kind is InboundKind.CONTACT:
        if not inbound.contact_is_own or not inbound.phone:
            raise Invalid(N_("Please share your own phone number, or type it."))
        return _Accept(parse_phone(inbound.phone))
    if kind is FieldKind.LOCATION and inbound.kind is InboundKind.LOCATION:
        return _Accept({"latitude": inbound.latitude, "longitude": inbound.longitude})
    if button is None and inbound.kind is not InboundKind.TEXT:
        raise Invalid(N_("Please answer this question in text."))
    text = inbound.text
    if kind is FieldKind.CHOICE:
        options = [
            (o.value, ctx._(o.label)) for o in await _options(ctx, current, dialogue.answers)
        ]
        return _Accept(_pick(ctx, options, button, text))
    if kind is FieldKind.MULTI_CHOICE:
        offered = await _options(ctx, current, dialogue.answers)
        return _read_multi(
            ctx, dialogue, [(o.value, ctx._(o.label)) for o in offered], button, text
        )
    if kind is FieldKind.UNIT:
        return await _read_unit(ctx, dialogue, current, button, text)
    if button is not None:
        raise Invalid(N_("Please answer this question in text."))
    today = ctx.today()
    if kind is FieldKind.TEXT:
        return _Accept(
            parse_text(text, min_length=current.min_length, max_length=current.max_length)
        )
    if kind is FieldKind.INTEGER:
        return _Accept(parse_integer(text, **_limits(current)))
    if kind is FieldKind.DECIMAL:
        return _Accept(parse_decimal(text, **_limits(current)))
    if kind is FieldKind.MONEY:
        return _Accept(parse_money(text))
    if kind is FieldKind.DATE:
        return _Accept(parse_date(text, today=today))
    if kind is FieldKind.DAY:
        return _Accept(parse_day(text, today=today))
    if kind is FieldKind.TIME:
        return _Accept(parse_time(text))
    if kind is FieldKind.MOMENT:
        return _Accept(parse_moment(text, now=dt.datetime.now(ctx.config.tz)))
    if kind is FieldKind.YEAR:
        return _Accept(
            parse_year(
                text,
                minimum=int(current.minimum or 1900),
                maximum=int(current.maximum or today.year),
            )
        )
    if kind is FieldKind.PHONE:
        return _Accept(parse_phone(text))
    if kind is FieldKind.LOCATION:
        return _Accept({"place": parse_text(text, min_length=2, max_length=200)})
    raise AssertionError(kind)


def _limits(current: Field) -> dict[str, Any]:
    limits: dict[str, Any] = {}
    if current.minimum is not None:
        limits["minimum"] = current.minimum
    if current.maximum is not None:
        limits["maximum"] = current.maximum
    return limits


def _pick(ctx: Context, options: list[tuple[str, str]], button: str | None, text: str) -> str:
    """The chosen option's value; `button` is set when the prompt's choice was pressed or typed."""
    if button is not None:
        if button not in {value for value, _ in options}:
            raise Invalid(N_("That button belongs to an earlier question."))
        return button
    chosen = match_choice(ctx, options, text)
    if chosen is None:
        raise Invalid(
            N_("Please choose one of the options: tap a button or type its number (1 to {n})."),
            {"n": len(options)},
        )
    return chosen


def _read_multi(
    ctx: Context,
    dialogue: DialogueState,
    options: list[tuple[str, str]],
    button: str | None,
    text: str,
) -> _Outcome:
    selected: list[str] = list(dialogue.pending.get("selected", []))
    if button == DONE or (button is None and fold(text) in DONE_WORDS):
        if not selected:
            raise Invalid(N_("Please choose at least one option."))
        return _Accept(selected)
    if button is not None:
        value = _pick(ctx, options, button, text)
        selected = [v for v in selected if v != value] if value in selected else [*selected, value]
        dialogue.pending = {"selected": selected}
        return _Stay()
    # Typed: "1, 3" chooses both at once and finishes.
    parts = [part for part in text.replace(";", ",").replace(" ", ",").split(",") if part]
    values = [_pick(ctx, options, None, part) for part in parts]
    if not values:
        raise Invalid(N_("Please choose at least one option."))
    return _Accept(list(dict.fromkeys(values)))


async def _read_unit(
    ctx: Context, dialogue: DialogueState, current: Field, button: str | None, text: str
) -> _Outcome:
    pending = dialogue.pending
    offered = [(str(unit_id), name) for unit_id, name in pending.get("offered", [])]
    if button in (UNIT_LIST, UNIT_NEXT, UNIT_PREV) or (
        button is None and fold(text) in {"danh sach", "list", "xem danh sach"}
    ):
        # Only the page turns the prompt showed: a forged "previous" on the first page would
        # ask the database for a negative offset (which PostgreSQL refuses).
        if button in (UNIT_NEXT, UNIT_PREV) and button not in {
            choice.value.rsplit(":", 1)[-1] for choice in await _choices(ctx, dialogue, current)
        }:
            raise Invalid(N_("That button belongs to an earlier question."))
        page = pending.get("page", -1)
        page = page - 1 if button == UNIT_PREV else (page + 1 if button == UNIT_NEXT else 0)
        units, total = await list_units(ctx.session, offset=page * UNIT_PAGE, limit=UNIT_PAGE)
        dialogue.pending = {
            "offered": [[u.id, u.name] for u in units],
            "page": page,
            "total": total,
        }
        return _Stay()
    if button is not None:
        if button not in {value for value, _ in offered}:
            raise Invalid(N_("That button belongs to an earlier question."))
        unit = await get_unit(ctx.session, int(button))
        if unit is None:
            raise Invalid(N_("That unit no longer exists. Please search again."))
        return _Accept(unit.id, ctx._("Unit: {name}").format(name=escape(unit.name)))
    if len(fold(text)) < 2:
        raise Invalid(N_("Please type at least two letters of the name."))
    found = await search_units(ctx.session, text[:60], limit=UNIT_PAGE + 1)
    if not found:
        raise Invalid(
            N_('No unit matches "{query}". Try another part of the name, or type "list".'),
            {"query": text[:50]},
        )
    if len(found) == 1:
        return _Accept(found[0].id, ctx._("Unit: {name}").format(name=escape(found[0].name)))
    dialogue.pending = {"offered": [[u.id, u.name] for u in found[:UNIT_PAGE]]}
    if len(found) > UNIT_PAGE:
        return _Stay(ctx._("Many units match. Choose one below, or type more of the name."))
    return _Stay(ctx._("Several units match. Which one is yours?"))


def _read_photos(
    ctx: Context, dialogue: DialogueState, current: Field, button: str | None
) -> _Outcome:
    inbound = ctx.inbound
    files: list[dict[str, Any]] = list(dialogue.pending.get("files", []))
    if button == DONE or (button is None and _typed_word(ctx, DONE_WORDS)):
        if not files:
            raise Invalid(N_("Please send at least one photo or document, or skip."))
        return _Accept(files)
    if not inbound.attachments:
        raise Invalid(N_('Please send photos or PDF documents, then type "done".'))
    again = False
    for attachment in inbound.attachments:
        if attachment.problem:
            raise Invalid(attachment.problem, attachment.problem_params)
        if attachment.sha256 is None or attachment.path is None:
            raise Invalid(N_("That file could not be received. Please send it again."))
        if any(file["sha256"] == attachment.sha256 for file in files):
            again = True  # the same content is one piece of evidence, counted once
            continue
        if len(files) >= current.max_files:
            raise Invalid(N_("At most {max} files per entry."), {"max": current.max_files})
        files.append(
            {
                "sha256": attachment.sha256,
                "path": attachment.path,
                "mime": attachment.mime_type,
                "size": attachment.size,
                "name": clean_file_name(attachment.file_name),
                "kind": attachment.kind,
            }
        )
    # The channel shows only the answer to an album's last photo (see bot.channels.runtime).
    dialogue.pending = {"files": files}
    received = ctx.t.ngettext(
        'Received {n} file. Send more, or type "done".',
        'Received {n} files. Send more, or type "done".',
        len(files),
    ).format(n=len(files))
    if again:
        received = ctx._("You had already sent that file; it counts once.") + "\n" + received
    return _Stay(received)
