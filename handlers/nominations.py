"""/nominations: from approved entries to awards. A youth union secretary sees the candidates
their approved entries suggest, proposes an award for a member or a unit of theirs, and
follows their units' nominations: fixes and sends again one that was returned, or withdraws
one. The levels of the award's ladder decide on it (handlers.appraisal), opened from here.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select

from bot.certificates import CertificatesOff, certificate_file, issue_award_certificate
from bot.context import Context
from bot.dialogue import Field, FieldKind, Form, Option, start_form
from bot.documents import DOCX_MIME, PDF_MIME, XLSX_MIME
from bot.events import Document, Reply
from bot.fields import Invalid
from bot.i18n import N_
from bot.nomination_files import award_decision, award_file, level_list
from bot.recognition import (
    entry_line,
    ladder_lines,
    nomination_card,
    nomination_line,
    period_choices,
    period_label,
)
from bot.router import Audience, Router, menu_reply
from bot.text import escape
from domain.awards import PEOPLE
from domain.text import fold
from domain.vocabulary import Nomination as State
from domain.vocabulary import Role
from handlers.appraisal import (
    appraiser_of,
    next_card,
    refused,
    tell,
    tell_reviewers,
    unbind,
)
from handlers.reporting import led_units
from models.entries import scope_unit_ids
from models.nominations import (
    Proposal,
    candidates,
    period_span,
    propose,
    resend,
    supporting_entries,
    unit_nominations,
    waiting_count,
    withdraw,
)
from models.people import audit
from models.tables import Member, Nomination, NominationEntry, Unit

__all__ = ["register"]

# The nomination form's answers.
UNIT, TYPE, NAME, MEMBER, NOMINEE_UNIT = "unit", "type", "name", "member", "nominee_unit"
AWARD, PERIOD, ENTRIES, SUMMARY = "award", "period", "entries", "summary"
NOMINATION_ID, VERSION = "_nomination", "_version"  # prefilled when fixing a returned one
COLLECTIVE = "unit"  # the nominee type of a unit; people are domain.awards.PEOPLE
EDIT, WITHDRAW, LIST = "edit", "withdraw", "list"
DOSSIER, CERTIFICATE = "dossier", "certificate"
MATCHES = 8


async def open_nominations(ctx: Context) -> list[Reply]:
    """What the person can do with nominations: decide the ones waiting for them, see
    candidates, propose, follow their units' nominations, read the ladder."""
    who = await appraiser_of(ctx)
    if not who.appraises and not who.led:
        return refused(ctx)
    return await start_form(ctx, "nominations")


async def menu_options(ctx: Context, _answers: dict[str, Any]) -> tuple[Option, ...]:
    who = await appraiser_of(ctx)
    options = []
    if who.appraises:
        waiting = await waiting_count(ctx.session, who, ctx.config.ladder)
        label = ctx._("📥 Waiting for your decision ({n})").format(n=ctx.t.number(waiting))
        options.append(Option("queue", label))
    if who.led:
        options += [
            Option("candidates", N_("🔎 Suggested candidates")),
            Option("propose", N_("📝 Propose an award")),
            Option("list", N_("📂 Nominations of your units")),
        ]
    elif who.admin or who.appraiser:
        options.append(Option("list", N_("📂 Latest nominations")))
    if who.admin or who.appraiser:
        options.append(Option("batch", N_("📋 List of nominations at your level (Excel)")))
    options.append(Option("ladder", N_("📜 Award forms and criteria")))
    return tuple(options)


async def chose(ctx: Context, answers: dict[str, Any]) -> list[Reply]:
    choice = answers["action"]
    if choice == "queue":
        return await next_card(ctx, await appraiser_of(ctx), [])
    if choice == "candidates":
        return await start_form(ctx, "candidates")
    if choice == "propose":
        return await start_proposal(ctx, {})
    if choice == "list":
        return await _list(ctx)
    if choice == "batch":
        return await _level_lists(ctx)
    lines = ladder_lines(ctx.t, ctx.config.ladder)
    return [Reply("\n".join(lines)), menu_reply(ctx)]


async def _level_lists(ctx: Context) -> list[Reply]:
    """ "Danh sách đề nghị khen thưởng" of each level the admin or appraiser decides at: the
    nominations waiting there. It names people: who took it is audited."""
    who = await appraiser_of(ctx)
    roles = {Role.ADMIN} if who.admin else set()
    roles |= {Role.APPRAISER} if who.appraiser else set()
    ladder, replies = ctx.config.ladder, []
    for code, level in ladder.levels.items():
        if level.reviewers not in roles:
            continue
        content, rows = await level_list(ctx.session, ctx.t, ladder, code, ctx.today())
        await audit(
            ctx.session, ctx.person.actor, "nomination.list_exported", level=code, rows=rows
        )
        text = ctx.t.ngettext(
            "📋 {n} nomination waits at {level}.", "📋 {n} nominations wait at {level}.", rows
        ).format(n=rows, level=escape(level.name))
        name = f"danh-sach-de-nghi-khen-thuong-{code}-{ctx.today().isoformat()}.xlsx"
        replies.append(Reply(text, document=Document(name, content, XLSX_MIME)))
    return [*replies, menu_reply(ctx)]


# -- candidates ------------------------------------------------------------------------------


async def period_options(ctx: Context, _answers: dict[str, Any]) -> tuple[Option, ...]:
    choices = await period_choices(ctx.session, ctx.t, ctx.config.ladder, ctx.today())
    return tuple(Option(code, label) for code, label in choices)


async def _scope(ctx: Context) -> set[int]:
    """The units the person is secretary of, and every unit below them."""
    roles = [(role, unit) for role, unit in ctx.person.roles if role == Role.SECRETARY]
    return await scope_unit_ids(ctx.session, roles) or set()


async def show_candidates(ctx: Context, answers: dict[str, Any]) -> list[Reply]:
    """Members and units of the person's units ranked by the score of their approved entries
    in the period, with the entries behind each score; pick one to propose them."""
    period = answers[PERIOD]
    span = await period_span(ctx.session, ctx.config.ladder, period)
    scope = await _scope(ctx)
    if span is None or not scope:
        return [menu_reply(ctx, ctx._("That period is no longer available."))]
    people, units, cut = await candidates(ctx.session, ctx.config.ladder, scope, *span)
    label = await period_label(ctx.session, ctx.t, ctx.config.ladder, period)
    if not people and not units:
        text = ctx._("No approved entries of your units in {period} yet.").format(
            period=escape(label)
        )
        return [menu_reply(ctx, text)]
    lines = [ctx._("<b>Suggested candidates: {period}</b>").format(period=escape(label))]
    lines.append(
        ctx._("Ranked by the score of their approved entries (see 📜 Award forms and criteria).")
    )
    for title, found in ((ctx._("<b>Young people</b>"), people), (ctx._("<b>Units</b>"), units)):
        if not found:
            continue
        lines += ["", title]
        for rank, candidate in enumerate(found, start=1):
            where = f" · {escape(candidate.unit_name)}" if candidate.member_id else ""
            lines.append(
                ctx._("{rank}. {name}{where}: {score} points").format(
                    rank=rank,
                    name=escape(candidate.name),
                    where=where,
                    score=ctx.t.number(candidate.score),
                )
            )
            lines += [f"   • {entry_line(ctx.t, item)}" for item in candidate.entries[:3]]
            if len(candidate.entries) > 3:
                more = len(candidate.entries) - 3
                lines.append(
                    "   "
                    + ctx.t.ngettext("and {n} more entry", "and {n} more entries", more).format(
                        n=more
                    )
                )
    if cut:
        lines += ["", ctx._("Only the newest 50,000 approved entries were counted.")]
    return [Reply("\n".join(lines)), *await start_form(ctx, "candidate", {PERIOD: period})]


async def candidate_options(ctx: Context, answers: dict[str, Any]) -> tuple[Option, ...]:
    span = await period_span(ctx.session, ctx.config.ladder, answers[PERIOD])
    scope = await _scope(ctx)
    if span is None or not scope:
        return ()
    people, units, _ = await candidates(ctx.session, ctx.config.ladder, scope, *span)
    return tuple(
        [Option(f"m:{c.member_id}", "👤 " + c.name) for c in people]
        + [Option(f"u:{c.unit_id}", "👥 " + c.name) for c in units]
    )


async def picked_candidate(ctx: Context, answers: dict[str, Any]) -> list[Reply]:
    """Opens the proposal for the chosen candidate, in the period of the ranking."""
    kind, _, value = str(answers["pick"]).partition(":")
    prefill: dict[str, Any] = {PERIOD: answers[PERIOD]}
    nominee_unit = int(value)
    if kind == "m":
        member = await ctx.session.get(Member, int(value))
        if member is None:
            return [menu_reply(ctx, ctx._("That person is no longer registered."))]
        prefill |= {TYPE: "individual", MEMBER: str(member.id)}
        nominee_unit = member.unit_id
    else:
        prefill |= {TYPE: COLLECTIVE, NOMINEE_UNIT: nominee_unit}
    # Proposed by the person's own unit that holds the nominee.
    for unit in await led_units(ctx):
        subtree = await scope_unit_ids(ctx.session, [(Role.SECRETARY, unit.id)]) or set()
        if nominee_unit in subtree:
            prefill[UNIT] = str(unit.id)
            break
    return await start_proposal(ctx, prefill)


# -- proposing -------------------------------------------------------------------------------


async def start_proposal(ctx: Context, prefill: dict[str, Any]) -> list[Reply]:
    units = await led_units(ctx)
    if not units:
        return [Reply(ctx._("Proposing an award is for youth union secretaries."))]
    if len(units) == 1:
        prefill = {UNIT: str(units[0].id), **prefill}
    return await start_form(ctx, "nomination", prefill)


async def unit_options(ctx: Context, _answers: dict[str, Any]) -> tuple[Option, ...]:
    return tuple(Option(str(unit.id), unit.name) for unit in await led_units(ctx))


async def _proposing_unit(ctx: Context, answers: dict[str, Any]) -> Unit | None:
    """The proposing unit, if the person is still its secretary."""
    chosen = int(answers.get(UNIT) or 0)
    return next((unit for unit in await led_units(ctx) if unit.id == chosen), None)


async def _subtree(ctx: Context, unit_id: int) -> set[int]:
    return await scope_unit_ids(ctx.session, [(Role.SECRETARY, unit_id)]) or set()


def _participant(ctx: Context, answers: dict[str, Any], unit: Unit | None) -> str | None:
    """What kind of participant the nominee is: a person as chosen, a unit by its kind."""
    if answers.get(TYPE) in PEOPLE:
        return str(answers[TYPE])
    return ctx.config.ladder.unit_participant(unit.kind) if unit else None


TYPES = (
    Option("individual", N_("👤 A young person")),
    Option("official", N_("👔 An official who manages youth affairs")),
    Option(COLLECTIVE, N_("👥 A unit (a collective)")),
)


async def check_type(ctx: Context, value: Any, answers: dict[str, Any]) -> None:
    unit = await _proposing_unit(ctx, answers)
    if unit is not None and value in PEOPLE and not ctx.config.ladder.proposable(unit.kind, value):
        raise Invalid(N_("Your unit cannot propose an award for this kind of nominee."))


async def _members_named(ctx: Context, answers: dict[str, Any]) -> list[tuple[Member, str]]:
    """Members of the proposing unit and the units below it whose name holds every word."""
    unit = await _proposing_unit(ctx, answers)
    if unit is None:
        return []
    words = fold(str(answers.get(NAME, ""))).split()
    rows = await ctx.session.execute(
        select(Member, Unit.name)
        .join(Unit, Unit.id == Member.unit_id)
        .where(Member.unit_id.in_(await _subtree(ctx, unit.id)))
        .order_by(Member.full_name, Member.id)
    )
    return [
        (member, unit_name)
        for member, unit_name in rows.all()
        if all(word in fold(member.full_name) for word in words)
    ][:MATCHES]


async def check_name(ctx: Context, _value: Any, answers: dict[str, Any]) -> None:
    if not await _members_named(ctx, {**answers, NAME: _value}):
        raise Invalid(N_("Nobody of your units matches that name. Try another part of it."))


async def member_options(ctx: Context, answers: dict[str, Any]) -> tuple[Option, ...]:
    if NAME not in answers and MEMBER in answers:  # prefilled from the candidates
        member = await ctx.session.get(Member, int(answers[MEMBER]))
        return (Option(str(member.id), member.full_name),) if member else ()
    return tuple(
        Option(str(member.id), f"{member.full_name} · {unit_name}")
        for member, unit_name in await _members_named(ctx, answers)
    )


async def check_nominee_unit(ctx: Context, value: Any, answers: dict[str, Any]) -> None:
    unit = await _proposing_unit(ctx, answers)
    nominee = await ctx.session.get(Unit, int(value))
    if unit is None or nominee is None or nominee.id not in await _subtree(ctx, unit.id):
        raise Invalid(N_("Please choose your own unit or a unit below it."))
    participant = ctx.config.ladder.unit_participant(nominee.kind)
    if participant is None or not ctx.config.ladder.proposable(unit.kind, participant):
        raise Invalid(N_("Your unit cannot propose an award for this kind of unit."))


async def award_options(ctx: Context, answers: dict[str, Any]) -> tuple[Option, ...]:
    unit = await _proposing_unit(ctx, answers)
    nominee_unit = await ctx.session.get(Unit, int(answers.get(NOMINEE_UNIT) or 0))
    participant = _participant(ctx, answers, nominee_unit)
    if unit is None or participant is None:
        return ()
    awards = ctx.config.ladder.proposable(unit.kind, participant)
    return tuple(Option(award.code, award.name) for award in awards)


def _nominee(answers: dict[str, Any]) -> tuple[int | None, int | None]:
    """(member id, unit id) of the nominee as answered."""
    if answers.get(TYPE) in PEOPLE:
        return int(answers.get(MEMBER) or 0), None
    return None, int(answers.get(NOMINEE_UNIT) or 0)


async def _supporting(ctx: Context, answers: dict[str, Any], limit: int = 20) -> list[Any]:
    span = await period_span(ctx.session, ctx.config.ladder, str(answers.get(PERIOD)))
    if span is None:
        return []
    member_id, unit_id = _nominee(answers)
    return await supporting_entries(
        ctx.session,
        ctx.config.ladder,
        member_id=member_id,
        unit_id=unit_id,
        first=span[0],
        last=span[1],
        limit=limit,
    )


async def check_period(ctx: Context, value: Any, answers: dict[str, Any]) -> None:
    if not await _supporting(ctx, {**answers, PERIOD: value}, limit=1):
        raise Invalid(
            N_(
                "No approved entry of this nominee happened in that period. Choose another "
                "period, or first report and approve their work."
            )
        )


async def entry_options(ctx: Context, answers: dict[str, Any]) -> tuple[Option, ...]:
    return tuple(
        Option(str(item.entry.id), entry_line(ctx.t, item, html=False))
        for item in await _supporting(ctx, answers)
    )


def _asks_name(answers: dict[str, Any]) -> bool:
    return answers.get(TYPE) in PEOPLE and (NAME in answers or MEMBER not in answers)


async def submit_proposal(ctx: Context, answers: dict[str, Any]) -> list[Reply]:
    """Checks everything again now (roles, nominee, award, period and entries may have
    changed since they were answered), then sends the nomination, or a returned one again,
    to the first level of its ladder; tells the nominee and that level's reviewers."""
    ladder = ctx.config.ladder
    unit = await _proposing_unit(ctx, answers)
    if unit is None or ctx.person.member_id is None:
        return [
            menu_reply(ctx, ctx._("You are no longer a secretary of that unit. Nothing was sent."))
        ]
    member_id, unit_id = _nominee(answers)
    subtree = await _subtree(ctx, unit.id)
    nominee_unit = await ctx.session.get(Unit, unit_id or 0)
    member = await ctx.session.get(Member, member_id or 0)
    participant = _participant(ctx, answers, nominee_unit)
    if (member is None or member.unit_id not in subtree) and (
        nominee_unit is None or nominee_unit.id not in subtree
    ):
        return [
            menu_reply(ctx, ctx._("That nominee is no longer in your units. Nothing was sent."))
        ]
    awards = {award.code for award in ladder.proposable(unit.kind, participant or "")}
    chosen = [int(value) for value in answers.get(ENTRIES) or []]
    valid = {item.entry.id for item in await _supporting(ctx, answers, limit=10_000)}
    if answers.get(AWARD) not in awards or not chosen or not set(chosen) <= valid:
        # A change of the nominee or the period since the entries were chosen: ask again.
        keep = {k: v for k, v in answers.items() if k not in (ENTRIES, AWARD)}
        note = ctx._("Please choose the award form and the supporting entries again.")
        return [Reply("⚠️ " + note), *await start_form(ctx, "nomination", keep)]
    proposal = Proposal(
        award=str(answers[AWARD]),
        period=str(answers[PERIOD]),
        participant=participant or "",
        nominee_member_id=member.id if member is not None and member_id else None,
        nominee_unit_id=nominee_unit.id if nominee_unit is not None and unit_id else None,
        summary=str(answers[SUMMARY]),
        entry_ids=chosen,
    )
    actor = ctx.person.actor
    if NOMINATION_ID in answers:
        nomination = await ctx.session.get(Nomination, int(answers[NOMINATION_ID]))
        if (
            nomination is None
            or nomination.unit_id != unit.id
            or not await resend(
                ctx.session,
                ladder,
                nomination,
                proposal,
                version=int(answers[VERSION]),
                actor=actor,
            )
        ):
            text = ctx._("This nomination can no longer be sent again. Nothing was sent.")
            return [menu_reply(ctx, text)]
        text = ctx._("✅ Sent again. Nomination #{id} goes to {level}.")
    else:
        nomination = await propose(
            ctx.session,
            ladder,
            proposal,
            unit_id=unit.id,
            proposer_id=ctx.person.member_id,
            actor=actor,
        )
        text = ctx._("✅ Nomination #{id} has been sent to {level}.")
    level = ladder.levels[nomination.level].name
    replies = [Reply(text.format(id=nomination.id, level=escape(level)))]
    await tell(ctx, nomination, "nomination_submitted")
    if not await tell_reviewers(ctx, nomination):
        replies.append(
            Reply(
                ctx._(
                    "Nobody at {level} can decide it yet (nobody decides on their own "
                    "nomination): it waits until someone there holds the role. The admins "
                    "have been told."
                ).format(level=escape(level))
            )
        )
    return [*replies, menu_reply(ctx)]


PROPOSAL = Form(
    name="nomination",
    title=N_("Award proposal"),
    review=True,
    submit=N_("📨 Send the proposal"),
    complete=submit_proposal,
    cancelled=N_("Proposal cancelled. Nothing was sent."),
    fields=(
        Field(
            UNIT,
            FieldKind.CHOICE,
            N_("Which of your units proposes it?"),
            label=N_("Proposing unit"),
            options_for=unit_options,
        ),
        Field(
            TYPE,
            FieldKind.CHOICE,
            N_("Whom do you propose?"),
            label=N_("Nominee"),
            options=TYPES,
            check=check_type,
        ),
        Field(
            NAME,
            FieldKind.TEXT,
            N_("Type part of their name."),
            hint=N_("Members of your unit and the units below it."),
            label=N_("Name searched"),
            min_length=2,
            max_length=100,
            check=check_name,
            ask_if=_asks_name,
        ),
        Field(
            MEMBER,
            FieldKind.CHOICE,
            N_("Which person?"),
            label=N_("Person"),
            options_for=member_options,
            ask_if=lambda answers: answers.get(TYPE) in PEOPLE,
        ),
        Field(
            NOMINEE_UNIT,
            FieldKind.UNIT,
            N_("Which unit? Type part of its name."),
            hint=N_('Your unit or a unit below it; or type "list".'),
            label=N_("Unit"),
            check=check_nominee_unit,
            ask_if=lambda answers: answers.get(TYPE) == COLLECTIVE,
        ),
        Field(
            AWARD,
            FieldKind.CHOICE,
            N_("Which award form do you propose?"),
            hint=N_("The forms your unit may propose for this nominee, lowest first."),
            label=N_("Award form"),
            options_for=award_options,
        ),
        Field(
            PERIOD,
            FieldKind.CHOICE,
            N_("Which period do the achievements count for?"),
            hint=N_("A year, a campaign, or a review of the plan (sơ kết, tổng kết)."),
            label=N_("Period"),
            options_for=period_options,
            check=check_period,
        ),
        Field(
            ENTRIES,
            FieldKind.MULTI_CHOICE,
            N_("Which approved entries support it?"),
            hint=N_(
                "Tap each one, then Done; or type their numbers, for example 1, 3. Highest "
                "score first."
            ),
            label=N_("Supporting entries"),
            options_for=entry_options,
        ),
        Field(
            SUMMARY,
            FieldKind.TEXT,
            N_("Summarise the achievements in a few sentences."),
            hint=N_(
                "What the nominee did in the period, with figures; every level reads it "
                "(30 to 2,000 characters)."
            ),
            label=N_("Summary of achievements"),
            min_length=30,
            max_length=2000,
        ),
    ),
)


# -- the nominations of one's units ------------------------------------------------------------


async def _list(ctx: Context) -> list[Reply]:
    who = await appraiser_of(ctx)
    units = None if not who.led and (who.admin or who.appraiser) else sorted(who.led)
    if not await unit_nominations(ctx.session, units, limit=1):
        text = ctx._("No nominations yet. Choose 📝 Propose an award to make the first one.")
        return [menu_reply(ctx, text)]
    return await start_form(ctx, "nomination_list")


async def list_options(ctx: Context, _answers: dict[str, Any]) -> tuple[Option, ...]:
    who = await appraiser_of(ctx)
    units = None if not who.led and (who.admin or who.appraiser) else sorted(who.led)
    found = await unit_nominations(ctx.session, units, limit=10)
    ladder = ctx.config.ladder
    return tuple(
        [Option(str(n.id), await nomination_line(ctx.session, ctx.t, ladder, n)) for n in found]
    )


async def _visible(ctx: Context, nomination_id: int) -> Nomination | None:
    """The nomination, if the person's units proposed it (or they are an admin or an
    appraiser): checked on every action, not only on display."""
    nomination = await ctx.session.get(Nomination, nomination_id)
    who = await appraiser_of(ctx)
    if nomination is None:
        return None
    if nomination.unit_id in who.led or who.admin or who.appraiser:
        return nomination
    return None


async def show_nomination(ctx: Context, answers: dict[str, Any], notice: str = "") -> list[Reply]:
    nomination = await _visible(ctx, int(answers["pick"]))
    if nomination is None:
        return [menu_reply(ctx, ctx._("That nomination is not available."))]
    lines = [notice, ""] if notice else []
    lines += await nomination_card(ctx.session, ctx.t, ctx.config.ladder, nomination)
    return [
        Reply("\n".join(lines)),
        *await start_form(ctx, "nomination_action", {"pick": nomination.id}),
    ]


async def action_options(ctx: Context, answers: dict[str, Any]) -> tuple[Option, ...]:
    """What the proposing unit's secretaries can do with it, bound to the revision shown."""
    nomination = await _visible(ctx, int(answers["pick"]))
    options = []
    if nomination is not None and nomination.unit_id in (await appraiser_of(ctx)).led:
        bound = f":{nomination.id}:{nomination.version}"
        if nomination.status == State.RETURNED:
            options.append(Option(EDIT + bound, N_("✏️ Fix and send again")))
        if nomination.status in (State.WAITING, State.RETURNED):
            options.append(Option(WITHDRAW + bound, N_("🗑 Withdraw this nomination")))
    if nomination is not None:
        bound = f":{nomination.id}:{nomination.version}"
        options.append(Option(DOSSIER + bound, N_("📄 Summary report of achievements (Word)")))
        if nomination.status == State.AWARDED:
            options.append(Option(CERTIFICATE + bound, N_("🎖 Certificate of the award (PDF)")))
    options.append(Option(LIST, N_("📂 Back to the list")))
    return tuple(options)


async def stale_action(ctx: Context, value: str) -> str | None:
    bound = unbind(value)
    if bound is None:
        return None
    nomination = await _visible(ctx, bound[1])
    return None if nomination is None else _changed(ctx, nomination)


def _changed(ctx: Context, nomination: Nomination) -> str:
    return ctx._(
        "Nomination #{id} has changed since that card was shown; nothing was done."
    ).format(id=nomination.id)


async def act(ctx: Context, answers: dict[str, Any]) -> list[Reply]:
    """Opens a returned nomination to fix it, or withdraws it — on the revision shown."""
    bound = unbind(str(answers["action"]))
    if bound is None:
        return await _list(ctx)
    action, nomination_id, version = bound
    nomination = await _visible(ctx, nomination_id)
    if nomination is not None and action == DOSSIER:
        return await _dossier(ctx, nomination)
    if nomination is not None and action == CERTIFICATE and nomination.status == State.AWARDED:
        return await _certificate(ctx, nomination)
    if nomination is None or nomination.unit_id not in (await appraiser_of(ctx)).led:
        return await _list(ctx)
    if nomination.version != version:
        return await show_nomination(
            ctx, {"pick": nomination.id}, "⚠️ " + _changed(ctx, nomination)
        )
    if action == WITHDRAW:
        if answers.get("confirm") != "yes":
            return await show_nomination(ctx, {"pick": nomination.id})
        if not await withdraw(ctx.session, nomination, version=version, actor=ctx.person.actor):
            return await show_nomination(
                ctx, {"pick": nomination.id}, "⚠️ " + _changed(ctx, nomination)
            )
        return [
            menu_reply(ctx, ctx._("Nomination #{id} has been withdrawn.").format(id=nomination.id))
        ]
    # Every answer prefilled: the form opens on its summary, to change what is needed.
    chosen = (
        await ctx.session.scalars(
            select(NominationEntry.entry_id).where(NominationEntry.nomination_id == nomination.id)
        )
    ).all()
    prefill: dict[str, Any] = {
        NOMINATION_ID: nomination.id,
        VERSION: nomination.version,
        UNIT: str(nomination.unit_id),
        AWARD: nomination.award,
        PERIOD: nomination.period,
        ENTRIES: [str(entry_id) for entry_id in chosen],
        SUMMARY: nomination.summary,
    }
    if nomination.nominee_member_id is not None:
        prefill |= {TYPE: nomination.participant, MEMBER: str(nomination.nominee_member_id)}
    else:
        prefill |= {TYPE: COLLECTIVE, NOMINEE_UNIT: nomination.nominee_unit_id}
    note = ctx._("Reason given: {reason}\nChange what is needed, then send it again.").format(
        reason=escape(nomination.return_reason or "")
    )
    return [Reply(note), *await start_form(ctx, "nomination", prefill)]


async def _dossier(ctx: Context, nomination: Nomination) -> list[Reply]:
    """ "Báo cáo tóm tắt thành tích" of the nomination as it is now, for its unit to sign and
    send with the file. It names people: who took it is audited."""
    content = await award_file(ctx.session, ctx.t, ctx.config.ladder, nomination, ctx.today())
    await audit(ctx.session, ctx.person.actor, "nomination.dossier", nomination_id=nomination.id)
    text = ctx._(
        "📄 The summary report of achievements of nomination #{id}: check it, sign it and "
        "send it with the file."
    ).format(id=nomination.id)
    name = f"bao-cao-tom-tat-thanh-tich-{nomination.id}.docx"
    reply = Reply(text, document=Document(name, content, DOCX_MIME))
    return [reply, *await start_form(ctx, "nomination_action", {"pick": nomination.id})]


async def _certificate(ctx: Context, nomination: Nomination) -> list[Reply]:
    """The certificate of the award decision (the same one again for the same decision), with
    a code anyone can check; the unit passes it on to whom it was awarded."""
    decision = await award_decision(ctx.session, ctx.t, ctx.config.ladder, nomination)
    try:
        issued = await issue_award_certificate(
            ctx.session, ctx.config, decision, actor=ctx.person.actor
        )
    except CertificatesOff:
        text = ctx._(
            "Certificates cannot be issued yet: the operator has not set CERTIFICATE_SECRET."
        )
        return [menu_reply(ctx, text)]
    content = await asyncio.to_thread(certificate_file, ctx.t, ctx.config, issued)
    text = ctx._(
        "🎖 The certificate of the award of nomination #{id}. Anyone can check it with its QR "
        "code or by sending /verify {code} to this bot."
    ).format(id=nomination.id, code=issued.code)
    name = f"giay-chung-nhan-{issued.code}.pdf"
    reply = Reply(text, document=Document(name, content, PDF_MIME))
    return [reply, *await start_form(ctx, "nomination_action", {"pick": nomination.id})]


async def picked(ctx: Context, answers: dict[str, Any]) -> list[Reply]:
    return await show_nomination(ctx, answers)


MENU = Form(
    name="nominations",
    interruptible=True,
    title=N_("Nominations"),
    steps=False,
    complete=chose,
    cancelled=N_("Closed."),
    fields=(
        Field(
            "action",
            FieldKind.CHOICE,
            N_("Awards for the movement: what would you like to do?"),
            options_for=menu_options,
        ),
    ),
)

CANDIDATES = Form(
    name="candidates",
    interruptible=True,
    title=N_("Suggested candidates"),
    steps=False,
    complete=show_candidates,
    cancelled=N_("Closed."),
    fields=(
        Field(
            PERIOD,
            FieldKind.CHOICE,
            N_("Candidates for which period?"),
            options_for=period_options,
        ),
    ),
)

CANDIDATE = Form(
    name="candidate",
    interruptible=True,
    title=N_("Suggested candidates"),
    steps=False,
    complete=picked_candidate,
    cancelled=N_("Closed."),
    fields=(
        Field(
            "pick",
            FieldKind.CHOICE,
            N_("Choose one to propose them for an award."),
            options_for=candidate_options,
        ),
    ),
)

LIST_FORM = Form(
    name="nomination_list",
    interruptible=True,
    title=N_("Nominations"),
    steps=False,
    complete=picked,
    cancelled=N_("Closed."),
    fields=(
        Field(
            "pick",
            FieldKind.CHOICE,
            N_("The latest nominations. Choose one to see it."),
            options_for=list_options,
        ),
    ),
)

ACTION = Form(
    name="nomination_action",
    interruptible=True,
    title=N_("Nominations"),
    steps=False,
    complete=act,
    cancelled=N_("Closed."),
    fields=(
        Field(
            "action",
            FieldKind.CHOICE,
            N_("What would you like to do?"),
            options_for=action_options,
            stale=stale_action,
        ),
        Field(
            "confirm",
            FieldKind.CHOICE,
            N_("Withdraw this nomination? No level will decide it any more."),
            options=(
                Option("yes", N_("Yes, withdraw the nomination")),
                Option("no", N_("No, keep it")),
            ),
            ask_if=lambda answers: str(answers.get("action", "")).startswith(WITHDRAW + ":"),
        ),
    ),
)


def _sees_nominations(ctx: Context) -> bool:
    return any(
        role in (Role.SECRETARY, Role.ADMIN, Role.APPRAISER) for role, _ in ctx.person.roles
    )


def register(router: Router) -> None:
    for form in (MENU, CANDIDATES, CANDIDATE, PROPOSAL, LIST_FORM, ACTION):
        router.form(form)
    router.command(
        "nominations",
        open_nominations,
        N_("awards: candidates, proposals and decisions"),
        audience=Audience.SECRETARIES,
        visible=_sees_nominations,  # and Sở Nội vụ's appraisers
    )
    router.menu_item("nominations", N_("🏅 Awards"), open_nominations, visible=_sees_nominations)
