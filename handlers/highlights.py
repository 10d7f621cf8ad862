"""/highlights: the honour roll. Tỉnh Đoàn (admins) puts approved entries and awards on it as
"gương điển hình" or "mô hình tiêu biểu"; everyone browses it (newest, by kind, by commune);
a young person can ask to learn from a model, which reaches its unit's secretary.

Who is shown (domain invariants, see models.highlights): a person's work or award only once
they agreed, asked when it is marked (a notice they answer here); a minor never by name.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.context import Context
from bot.dialogue import Field, FieldKind, Form, Option, start_form
from bot.events import Reply
from bot.fields import Invalid
from bot.i18n import N_
from bot.router import Router, menu_reply
from bot.text import escape
from domain.kinds import KINDS
from domain.units import union_name
from domain.vocabulary import Consent, Role, Status
from domain.vocabulary import Nomination as State
from models.entries import reviewing_unit, scope_unit_ids
from models.highlights import (
    EXAMPLE,
    MODEL,
    answer_consent,
    ask_to_learn,
    consents_asked,
    is_shown,
    mark,
    shown,
    unmark,
)
from models.outbox import enqueue_notice
from models.tables import Entry, Highlight, Member, Nomination, RoleGrant, Unit

__all__ = ["register"]

# The version of what a person agrees to when they let the honour roll show them.
CONSENT_VERSION = "honour-roll-1"
AWARD = "award"  # the kind of a highlight of an award
LABELS = {EXAMPLE: N_("⭐ Exemplary young person"), MODEL: N_("🌟 Outstanding model")}
ICONS = {EXAMPLE: "⭐", MODEL: "🌟"}
NEWEST, BY_KIND, BY_COMMUNE, MARK, HIDE = "newest", "kind", "commune", "mark", "hide"
LEARN, REMOVE, BACK, LATER = "learn", "remove", "back", "later"
SHOWN = 10


async def open_highlights(ctx: Context) -> list[Reply]:
    """The person's own answer first, when the honour roll waits for it; else the ways to
    browse it."""
    if ctx.person.member_id is not None:
        asked = await consents_asked(ctx.session, ctx.person.member_id)
        if asked:
            return await _ask_consent(ctx, asked[0])
    return await start_form(ctx, "highlights")


# -- browsing --------------------------------------------------------------------------------


async def view_options(ctx: Context, _answers: dict[str, Any]) -> tuple[Option, ...]:
    options = [
        Option(NEWEST, N_("🆕 Newest")),
        Option(BY_KIND, N_("🗂 By kind")),
        Option(BY_COMMUNE, N_("📍 By commune or ward")),
    ]
    if ctx.person.is_admin:
        options.append(Option(MARK, N_("⭐ Put an entry or an award on the honour roll")))
    if ctx.person.member_id is not None and await _own_shown(ctx):
        options.append(Option(HIDE, N_("🙈 Stop showing me on the honour roll")))
    return tuple(options)


async def _own_shown(ctx: Context) -> list[Highlight]:
    found = await ctx.session.scalars(
        select(Highlight).where(
            Highlight.member_id == ctx.person.member_id, Highlight.consent == Consent.GIVEN
        )
    )
    return list(found.all())


KIND_OPTIONS = (
    *(Option(name, kind.title) for name, kind in KINDS.items()),
    Option(AWARD, N_("🏅 Awards")),
)


async def browse(ctx: Context, answers: dict[str, Any]) -> list[Reply]:
    view = answers["view"]
    if view == MARK:
        if not ctx.person.is_admin:
            return [menu_reply(ctx, ctx._("Marking the honour roll is for admins."))]
        return await start_form(ctx, "highlight_mark")
    if view == HIDE:
        for highlight in await _own_shown(ctx):
            await answer_consent(
                ctx.session,
                highlight.id,
                member_id=ctx.person.member_id or 0,
                given=False,
                version=CONSENT_VERSION,
                actor=ctx.person.actor,
            )
        text = ctx._("You are no longer shown on the honour roll. Thank you for taking part!")
        return [menu_reply(ctx, text)]
    found_filter: dict[str, Any] = {k: answers[k] for k in ("kind", "commune") if k in answers}
    if not await _shown(ctx, found_filter):
        return [menu_reply(ctx, ctx._("Nothing on the honour roll here yet."))]
    return await start_form(ctx, "highlight_pick", found_filter)


async def _shown(ctx: Context, found_filter: dict[str, Any]) -> list[Highlight]:
    units = None
    if "commune" in found_filter:
        roots = [(Role.SECRETARY, int(found_filter["commune"]))]
        units = sorted(await scope_unit_ids(ctx.session, roots) or set())
    return await shown(ctx.session, kind=found_filter.get("kind"), unit_ids=units, limit=SHOWN)


async def pick_options(ctx: Context, answers: dict[str, Any]) -> tuple[Option, ...]:
    options = []
    for highlight in await _shown(ctx, answers):
        unit = await ctx.session.get(Unit, highlight.unit_id)
        label = f"{ICONS[highlight.label]} {highlight.title} · {unit.name if unit else ''}"
        options.append(Option(str(highlight.id), label))
    return tuple(options)


async def _card(ctx: Context, highlight: Highlight) -> list[str]:
    """A highlight as everyone reads it: what it is, whose, where, and why (HTML)."""
    unit = await ctx.session.get_one(Unit, highlight.unit_id)
    kind = ctx._("An award") if highlight.kind == AWARD else ctx._(KINDS[highlight.kind].title)
    lines = [
        f"{ctx._(LABELS[highlight.label])} · {kind}",
        f"<b>{escape(highlight.title)}</b>",
    ]
    member = await ctx.session.get(Member, highlight.member_id or 0)
    if member is not None:
        minor = member.is_minor or ctx.today().year - member.birth_year < ctx.config.adult_age
        name = ctx._("A young member") if minor else member.full_name
        lines.append(f"👤 {escape(name)} · {escape(unit.name)}")
    else:
        lines.append(f"👥 {escape(union_name(unit.name, unit.kind))}")
    lines += [
        escape(highlight.citation),
        ctx._("On the honour roll since {date}").format(
            date=ctx.t.date(highlight.marked_at.astimezone(ctx.config.tz).date())
        ),
    ]
    return lines


async def show_highlight(ctx: Context, answers: dict[str, Any]) -> list[Reply]:
    highlight = await is_shown(ctx.session, int(answers["pick"]))
    if highlight is None:
        return [menu_reply(ctx, ctx._("That is no longer on the honour roll."))]
    lines = await _card(ctx, highlight)
    return [Reply("\n".join(lines)), *await start_form(ctx, "highlight", {"id": highlight.id})]


async def card_options(ctx: Context, answers: dict[str, Any]) -> tuple[Option, ...]:
    highlight = await ctx.session.get(Highlight, int(answers["id"]))
    options = []
    if (
        highlight is not None
        and ctx.person.registered
        and highlight.member_id != ctx.person.member_id
    ):
        options.append(Option(f"{LEARN}:{highlight.id}", N_("🤝 I want to learn from this model")))
    if highlight is not None and ctx.person.is_admin:
        options.append(Option(f"{REMOVE}:{highlight.id}", N_("🗑 Take it off the honour roll")))
    options.append(Option(BACK, N_("⬅️ Back to the honour roll")))
    return tuple(options)


async def on_card(ctx: Context, answers: dict[str, Any]) -> list[Reply]:
    action, _, value = str(answers["action"]).partition(":")
    if action == BACK or not value.isdigit():
        return await start_form(ctx, "highlights")
    if action == REMOVE:
        if not ctx.person.is_admin or not await unmark(
            ctx.session, int(value), actor=ctx.person.actor
        ):
            return [menu_reply(ctx, ctx._("That is no longer on the honour roll."))]
        return [menu_reply(ctx, ctx._("Taken off the honour roll."))]
    highlight = await is_shown(ctx.session, int(value))
    if highlight is None or ctx.person.member_id is None:
        return [menu_reply(ctx, ctx._("That is no longer on the honour roll."))]
    member = await ctx.session.get_one(Member, ctx.person.member_id)
    return await start_form(
        ctx,
        "highlight_learn",
        {"id": highlight.id, "title": highlight.title, "phone": bool(member.phone)},
    )


# -- asking to learn from a model ------------------------------------------------------------


def learn_params(_ctx: Context, answers: dict[str, Any]) -> dict[str, Any]:
    return {"title": answers.get("title", "")}


async def learn_options(_ctx: Context, answers: dict[str, Any]) -> tuple[Option, ...]:
    options = [Option("name", N_("✅ Send my name and unit"))]
    if answers.get("phone"):
        options.insert(0, Option("phone", N_("✅ Send my name, unit and phone number")))
    return tuple(options)


async def learn(ctx: Context, answers: dict[str, Any]) -> list[Reply]:
    """Tells the model's unit secretary (or the nearest one above, or the admins) that this
    young person wants to learn from it; once per person and model."""
    highlight = await is_shown(ctx.session, int(answers["id"]))
    member = await ctx.session.get(Member, ctx.person.member_id or 0)
    if highlight is None or member is None:
        return [menu_reply(ctx, ctx._("That is no longer on the honour roll."))]
    with_phone = answers["share"] == "phone" and bool(member.phone)
    if not await ask_to_learn(
        ctx.session, highlight, member.id, with_phone=with_phone, actor=ctx.person.actor
    ):
        text = ctx._("You have already asked to learn from «{title}»; its unit has been told.")
        return [menu_reply(ctx, text.format(title=escape(highlight.title)))]
    unit = await ctx.session.get_one(Unit, member.unit_id)
    params: dict[str, Any] = {
        "name": member.full_name,
        "unit": unit.name,
        "title": highlight.title,
    }
    template = "learn_request"
    if with_phone:
        template, params = "learn_request_phone", {**params, "phone": member.phone}
    told = 0
    for identity_id in await _secretaries_of(ctx, highlight.unit_id):
        told += await enqueue_notice(ctx.session, template, params, identity_id=identity_id)
    text = ctx._("✅ Sent. The secretary of «{title}»'s unit will get in touch with you.")
    if not told:
        text = ctx._(
            "Your request is recorded, but nobody can be reached for «{title}» right now; "
            "the provincial Youth Union will see it."
        )
    return [menu_reply(ctx, text.format(title=escape(highlight.title)))]


async def _secretaries_of(ctx: Context, unit_id: int) -> list[int]:
    """The accounts of the unit's secretaries, else of the nearest unit above that has one,
    else the admins; never the person asking."""
    unit = await reviewing_unit(ctx.session, unit_id, ctx.person.member_id)
    role = RoleGrant.role == Role.SECRETARY if unit else RoleGrant.role == Role.ADMIN
    statement = select(RoleGrant.identity_id).where(
        role, RoleGrant.identity_id != ctx.person.identity_id
    )
    if unit is not None:
        statement = statement.where(RoleGrant.unit_id == unit.id)
    return list((await ctx.session.scalars(statement.distinct())).all())


# -- consent ---------------------------------------------------------------------------------


async def _ask_consent(ctx: Context, highlight: Highlight) -> list[Reply]:
    lines = [
        ctx._("<b>The provincial Youth Union would like to put your work on the honour roll</b>"),
        "",
        *await _card(ctx, highlight),
        "",
        ctx._(
            "Everyone using the bot could then see it, with your name and unit (a member "
            "under 18 is shown without their name). Nothing is shown until you agree, and you "
            "can stop it at any time under ⭐ Honour roll."
        ),
    ]
    return [
        Reply("\n".join(lines)),
        *await start_form(ctx, "highlight_consent", {"id": highlight.id}),
    ]


async def consent_options(_ctx: Context, answers: dict[str, Any]) -> tuple[Option, ...]:
    bound = f":{answers['id']}"
    return (
        Option("yes" + bound, N_("✅ I agree to be shown")),
        Option("no" + bound, N_("🙅 I do not agree")),
        Option(LATER, N_("⏳ Decide later")),
    )


async def consented(ctx: Context, answers: dict[str, Any]) -> list[Reply]:
    """Records the person's own answer, then asks the next one waiting, if any."""
    answer, _, value = str(answers["answer"]).partition(":")
    if answer == LATER or not value.isdigit() or ctx.person.member_id is None:
        return [menu_reply(ctx, ctx._("Nothing is shown until you agree."))]
    given = answer == "yes"
    if not await answer_consent(
        ctx.session,
        int(value),
        member_id=ctx.person.member_id,
        given=given,
        version=CONSENT_VERSION,
        actor=ctx.person.actor,
    ):
        return [menu_reply(ctx, ctx._("That is no longer on the honour roll."))]
    text = (
        ctx._("✅ Thank you! It is now on the honour roll.")
        if given
        else ctx._("Understood: it is not shown.")
    )
    asked = await consents_asked(ctx.session, ctx.person.member_id)
    if asked:
        return [Reply(text), *await _ask_consent(ctx, asked[0])]
    return [menu_reply(ctx, text)]


# -- marking (admins) ------------------------------------------------------------------------


SOURCES = (
    Option("entry", N_("An approved entry")),
    Option("nomination", N_("An award (a nomination with its decision)")),
)


async def _marked(ctx: Context, answers: dict[str, Any], number: int) -> tuple[Any, str]:
    """The entry or nomination that may go on the honour roll, and its kind."""
    if answers.get("source") == "entry":
        entry = await ctx.session.get(Entry, number)
        if entry is None or entry.status != Status.APPROVED:
            raise Invalid(N_("Entry #{id} is not an approved entry."), {"id": number})
        column = Highlight.entry_id
        found: tuple[Any, str] = (entry, entry.kind)
    else:
        nomination = await ctx.session.get(Nomination, number)
        if nomination is None or nomination.status != State.AWARDED:
            raise Invalid(N_("Nomination #{id} has no recorded award decision."), {"id": number})
        column = Highlight.nomination_id
        found = (nomination, AWARD)
    if await ctx.session.scalar(select(Highlight.id).where(column == number)) is not None:
        raise Invalid(N_("#{id} is on the honour roll already."), {"id": number})
    return found


async def check_number(ctx: Context, value: Any, answers: dict[str, Any]) -> None:
    await _marked(ctx, answers, int(value))


async def marked(ctx: Context, answers: dict[str, Any]) -> list[Reply]:
    """Puts it on the honour roll; the person it shows is asked first."""
    if not ctx.person.is_admin:
        return [menu_reply(ctx, ctx._("Marking the honour roll is for admins."))]
    try:
        found = await _marked(ctx, answers, int(answers["number"]))
    except Invalid:
        return [
            menu_reply(ctx, ctx._("That can no longer go on the honour roll. Nothing was saved."))
        ]
    record, kind = found
    if isinstance(record, Entry):
        member_id = None if record.collective else record.reporter_id
        entry_id, nomination_id, unit_id, title = record.id, None, record.unit_id, record.title
    else:
        member = await ctx.session.get(Member, record.nominee_member_id or 0)
        member_id = member.id if member else None
        unit_id = member.unit_id if member else (record.nominee_unit_id or record.unit_id)
        award = ctx.config.ladder.awards.get(record.decided_award or record.award)
        entry_id, nomination_id, title = None, record.id, award.name if award else record.award
    highlight = await mark(
        ctx.session,
        label=answers["label"],
        entry_id=entry_id,
        nomination_id=nomination_id,
        kind=kind,
        title=title,
        citation=answers["citation"],
        unit_id=unit_id,
        member_id=member_id,
        actor=ctx.person.actor,
    )
    if member_id is None:
        return [
            menu_reply(
                ctx, ctx._("✅ «{title}» is on the honour roll.").format(title=escape(title))
            )
        ]
    asked = await enqueue_notice(
        ctx.session, "highlight_consent", {"title": title}, member_id=member_id
    )
    text = ctx._("✅ Marked. «{title}» is shown once the person agrees; they have been asked.")
    if not asked:
        text = ctx._(
            "✅ Marked. «{title}» is shown once the person agrees; they cannot be reached "
            "now and will be asked when they open ⭐ Honour roll."
        )
    return [menu_reply(ctx, text.format(title=escape(highlight.title)))]


BROWSE = Form(
    name="highlights",
    interruptible=True,
    title=N_("Honour roll"),
    steps=False,
    complete=browse,
    cancelled=N_("Closed."),
    fields=(
        Field(
            "view",
            FieldKind.CHOICE,
            N_("The honour roll of the movement: exemplary young people and outstanding models."),
            options_for=view_options,
        ),
        Field(
            "kind",
            FieldKind.CHOICE,
            N_("Which kind?"),
            options=KIND_OPTIONS,
            ask_if=lambda answers: answers.get("view") == BY_KIND,
        ),
        Field(
            "commune",
            FieldKind.UNIT,
            N_("Which commune, ward or body? Type part of its name."),
            hint=N_('Or type "list".'),
            ask_if=lambda answers: answers.get("view") == BY_COMMUNE,
        ),
    ),
)

PICK = Form(
    name="highlight_pick",
    interruptible=True,
    title=N_("Honour roll"),
    steps=False,
    complete=show_highlight,
    cancelled=N_("Closed."),
    fields=(
        Field(
            "pick",
            FieldKind.CHOICE,
            N_("Newest first. Choose one to read it."),
            options_for=pick_options,
        ),
    ),
)

CARD = Form(
    name="highlight",
    interruptible=True,
    title=N_("Honour roll"),
    steps=False,
    complete=on_card,
    cancelled=N_("Closed."),
    fields=(
        Field(
            "action", FieldKind.CHOICE, N_("What would you like to do?"), options_for=card_options
        ),
    ),
)

LEARN_FORM = Form(
    name="highlight_learn",
    title=N_("Honour roll"),
    steps=False,
    complete=learn,
    cancelled=N_("Cancelled. Nothing was sent."),
    fields=(
        Field(
            "share",
            FieldKind.CHOICE,
            N_(
                "Ask to learn from «{title}»? Its unit's secretary will be told who you are, "
                "so that they can get in touch with you."
            ),
            params=learn_params,
            options_for=learn_options,
        ),
    ),
)

CONSENT = Form(
    name="highlight_consent",
    interruptible=True,
    title=N_("Honour roll"),
    steps=False,
    complete=consented,
    cancelled=N_("Nothing is shown until you agree."),
    fields=(
        Field(
            "answer",
            FieldKind.CHOICE,
            N_("Do you agree to be shown on the honour roll?"),
            options_for=consent_options,
        ),
    ),
)

MARK_FORM = Form(
    name="highlight_mark",
    title=N_("Honour roll"),
    review=True,
    submit=N_("⭐ Put it on the honour roll"),
    complete=marked,
    fields=(
        Field(
            "source",
            FieldKind.CHOICE,
            N_("What goes on the honour roll?"),
            label=N_("What"),
            options=SOURCES,
        ),
        Field(
            "number",
            FieldKind.INTEGER,
            N_("Its number?"),
            hint=N_("The number after #, as on its card, for example 12."),
            label=N_("Number"),
            minimum=1,
            maximum=2_000_000_000,
            check=check_number,
        ),
        Field(
            "label",
            FieldKind.CHOICE,
            N_("As what?"),
            label=N_("Shown as"),
            options=(Option(EXAMPLE, LABELS[EXAMPLE]), Option(MODEL, LABELS[MODEL])),
        ),
        Field(
            "citation",
            FieldKind.TEXT,
            N_("Why is it exemplary? Everyone will read this."),
            hint=N_("One to three sentences, 20 to 500 characters."),
            label=N_("Citation"),
            min_length=20,
            max_length=500,
        ),
    ),
)


def register(router: Router) -> None:
    for form in (BROWSE, PICK, CARD, LEARN_FORM, CONSENT, MARK_FORM):
        router.form(form)
    router.command(
        "highlights", open_highlights, N_("the honour roll: exemplary young people and models")
    )
    router.menu_item(
        "highlights",
        N_("⭐ Honour roll"),
        open_highlights,
        visible=lambda ctx: ctx.person.registered,
    )
