"""My entries: the member's own entries, page by page; one in detail; withdraw a submitted
one; fix and resubmit a rejected one; and their totals."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import select

from bot.context import Context
from bot.dialogue import Field, FieldKind, Form, Option, start_form, summary
from bot.events import Document, Reply
from bot.i18n import N_
from bot.router import Router, menu_reply
from bot.text import escape
from domain.figures import own_hours
from domain.kinds import BEHALF, KINDS
from domain.vocabulary import OPEN, STATUS_LABELS, Role, Status
from handlers.reporting import ENTRY_ID, SECRETARY, entry_form
from models.entries import (
    count_own_entries,
    entry_files,
    last_sent,
    own_entries,
    withdraw_entry,
)
from models.tables import Campaign, Entry, EntryParticipant, Unit

__all__ = ["entry_card", "register"]

PAGE = 8
EDIT, WITHDRAW, EVIDENCE, LIST = "edit", "withdraw", "evidence", "list"


async def show_entries(ctx: Context) -> list[Reply]:
    """The first page of the member's entries, or how to make the first one."""
    return await _page(ctx, 0)


async def _page(ctx: Context, page: int) -> list[Reply]:
    if ctx.person.member_id is None:
        return [Reply(ctx._("You have not registered yet. Type /start to begin."))]
    if await count_own_entries(ctx.session, ctx.person.member_id) == 0:
        return [menu_reply(ctx, ctx._("You have no entries yet. Choose 📝 Report to add one."))]
    return await start_form(ctx, "my_entries", {"page": page})


async def entry_options(ctx: Context, answers: dict[str, Any]) -> tuple[Option, ...]:
    """One page of own entries, newest first, with page turns."""
    member_id = ctx.person.member_id or 0
    page = int(answers.get("page", 0))
    rows = await own_entries(ctx.session, member_id, offset=page * PAGE, limit=PAGE + 1)
    options = []
    for entry in rows[:PAGE]:
        kind = ctx._(KINDS[entry.kind].title)
        status = ctx._(STATUS_LABELS[entry.status])
        options.append(
            Option(str(entry.id), f"#{entry.id} · {kind} · {_short(entry.title)} · {status}")
        )
    if page > 0:
        options.append(Option("prev", N_("◀️ Previous page")))
    if len(rows) > PAGE:
        options.append(Option("next", N_("Next page ▶️")))
    return tuple(options)


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def picked(ctx: Context, answers: dict[str, Any]) -> list[Reply]:
    """Turns the page, or shows the chosen entry with what can be done with it."""
    page = int(answers.get("page", 0))
    if answers["pick"] in ("prev", "next"):
        return await _page(ctx, page + (1 if answers["pick"] == "next" else -1))
    return await _detail(ctx, int(answers["pick"]))


async def _own(ctx: Context, entry_id: int) -> Entry | None:
    """The entry if it is the member's own: checked on every action, not only on display."""
    entry = await ctx.session.get(Entry, entry_id)
    if entry is None or entry.reporter_id is None or entry.reporter_id != ctx.person.member_id:
        return None
    return entry


async def _detail(ctx: Context, entry_id: int, notice: str | None = None) -> list[Reply]:
    entry = await _own(ctx, entry_id)
    if entry is None:
        return [menu_reply(ctx, ctx._("That entry is not available."))]
    lines = [notice, ""] if notice else []
    lines += await entry_card(ctx, entry)
    return [Reply("\n".join(lines)), *await start_form(ctx, "entry", {"entry": entry.id})]


async def entry_card(ctx: Context, entry: Entry, reporter: str | None = None) -> list[str]:
    """An entry as its reporter or reviewer reads it: status, unit, every answer, files."""
    kind = KINDS[entry.kind]
    unit = await ctx.session.get(Unit, entry.unit_id)
    unit_line = (
        ctx._("Unit: {name} (collective entry)") if entry.collective else ctx._("Unit: {name}")
    )
    campaign = await ctx.session.get(Campaign, entry.campaign_id)
    lines = [
        f"<b>#{entry.id} · {ctx._(kind.title)}</b>",
        ctx._("Status: {status}").format(status=ctx._(STATUS_LABELS[entry.status])),
        ctx._("Sent: {time}").format(time=ctx.t.datetime(entry.submitted_at)),
    ]
    if entry.version > 1:
        again = await last_sent(ctx.session, entry.id)
        lines.append(
            ctx._("Changed and sent again: {time} (revision {version})").format(
                time=ctx.t.datetime(again or entry.updated_at), version=entry.version
            )
        )
    if entry.decided_at is not None and entry.status in (Status.APPROVED, Status.REJECTED):
        decided = (
            ctx._("Approved: {time}")
            if entry.status == Status.APPROVED
            else ctx._("Returned: {time}")
        )
        lines.append(decided.format(time=ctx.t.datetime(entry.decided_at)))
    lines.append(unit_line.format(name=escape(unit.name if unit else "")))
    if campaign is not None and not campaign.is_default:
        lines.append(ctx._("Counts for: {campaign}").format(campaign=escape(campaign.title)))
    if reporter is not None:
        lines.append(ctx._("Reported by: {name}").format(name=escape(reporter)))
    if entry.status == Status.REJECTED and entry.reject_reason:
        lines.append(ctx._("Reason given: {reason}").format(reason=escape(entry.reject_reason)))
    lines.append("")
    lines += await summary(ctx, entry_form(kind), entry.answers)
    for file in await entry_files(ctx.session, entry.id):
        name = escape(file.original_name or file.mime)
        lines.append(f"📎 {name} ({ctx.t.number(round(file.size / 1024))} KB)")
    return lines


def _bound(action: str, entry: Entry) -> str:
    """An action's button names the entry and the revision shown."""
    return f"{action}:{entry.id}:{entry.version}"


def _unbind(value: str) -> tuple[str, int, int] | None:
    action, _, rest = value.partition(":")
    entry_id, _, version = rest.partition(":")
    if not (entry_id.isdigit() and version.isdigit()):
        return None
    return action, int(entry_id), int(version)


async def action_options(ctx: Context, answers: dict[str, Any]) -> tuple[Option, ...]:
    entry = await _own(ctx, int(answers["entry"]))
    options = []
    if entry is not None and entry.status in OPEN:
        options.append(Option(_bound(EDIT, entry), N_("✏️ Change it")))
        options.append(Option(_bound(WITHDRAW, entry), N_("🗑 Withdraw this entry")))
    if entry is not None and entry.status == Status.REJECTED:
        options.append(Option(_bound(EDIT, entry), N_("✏️ Fix and send again")))
    if entry is not None and await entry_files(ctx.session, entry.id):
        options.append(Option(_bound(EVIDENCE, entry), N_("🖼 Show the evidence")))
    options.append(Option(LIST, N_("📂 Back to my entries")))
    return tuple(options)


async def stale_action(ctx: Context, value: str) -> str | None:
    """Why a button of an earlier card of an entry does nothing now."""
    bound = _unbind(value)
    if bound is None:
        return None
    entry = await _own(ctx, bound[1])
    return None if entry is None else _no_longer(ctx, entry)


def _no_longer(ctx: Context, entry: Entry) -> str:
    """What happened to an entry since its card was shown: nothing was done to it."""
    status = ctx._(STATUS_LABELS[entry.status])
    return ctx._(
        "Entry #{id} has changed since that card was shown (now: {status}); nothing was done."
    ).format(id=entry.id, status=status)


async def act(ctx: Context, answers: dict[str, Any]) -> list[Reply]:
    """Withdraws, opens the entry to change it (waiting) or fix it (returned), shows its
    evidence, or goes back to the list — always on the revision that was shown."""
    bound = _unbind(str(answers["action"]))
    if bound is None:
        return await _page(ctx, 0)
    action, entry_id, version = bound
    entry = await _own(ctx, entry_id)
    if entry is None:
        return await _page(ctx, 0)
    if action == EVIDENCE:
        files = await entry_files(ctx.session, entry.id)
        sent = [
            Reply(
                f"📎 {escape(file.original_name or file.mime)}",
                document=Document(
                    file.original_name or f"{file.sha256[:12]}.{file.path.rsplit('.', 1)[-1]}",
                    mime_type=file.mime,
                    evidence_path=file.path,
                ),
            )
            for file in files
        ]
        return [*sent, *await start_form(ctx, "entry", {"entry": entry.id})]
    if entry.version != version or entry.status not in (*OPEN, Status.REJECTED):
        return await _detail(ctx, entry.id, "⚠️ " + _no_longer(ctx, entry))
    if action == WITHDRAW:
        if answers.get("confirm") != "yes":
            return await _detail(ctx, entry.id)
        if not await withdraw_entry(
            ctx.session, entry, version=version, actor=ctx.person.actor, tz=ctx.config.tz
        ):
            return await _detail(ctx, entry.id, ctx._("This entry can no longer be withdrawn."))
        text = ctx._("Entry #{id} has been withdrawn.").format(id=entry.id)
        return [menu_reply(ctx, text)]
    # Every answer prefilled: the form opens on its summary, to change what is needed.
    prefill = {
        **entry.answers,
        ENTRY_ID: entry.id,
        SECRETARY: any(role == Role.SECRETARY for role, _ in ctx.person.roles),
    }
    if entry.collective:
        prefill[BEHALF] = str(entry.unit_id)
    if entry.status == Status.REJECTED:
        note = ctx._("Reason given: {reason}\nChange what is needed, then send it again.").format(
            reason=escape(entry.reject_reason or "")
        )
    else:
        note = ctx._(
            "Change what is needed, then send it again: the reviewer will see it as changed."
        )
    return [Reply(note), *await start_form(ctx, entry.kind, prefill)]


async def show_totals(ctx: Context) -> list[Reply]:
    """The member's own results: their entries by kind and status, and what the approved
    ones add up to — their own volunteer hours (with the activities of their branch they
    joined), the people who benefited and the jobs created."""
    member_id = ctx.person.member_id
    rows = (await ctx.session.scalars(select(Entry).where(Entry.reporter_id == member_id))).all()
    joined = (
        await ctx.session.execute(
            select(EntryParticipant.hours, Entry.status)
            .join(Entry, Entry.id == EntryParticipant.entry_id)
            .where(EntryParticipant.member_id == member_id)
        )
    ).all()
    if not rows and not joined:
        return [menu_reply(ctx, ctx._("You have no entries yet. Choose 📝 Report to add one."))]
    by_kind_status = Counter((entry.kind, entry.status) for entry in rows)
    lines = [ctx._("<b>Your results</b>")]
    for name, kind in KINDS.items():
        statuses = [
            f"{ctx._(STATUS_LABELS[status])}: {n}"
            for (entry_kind, status), n in sorted(by_kind_status.items())
            if entry_kind == name
        ]
        if statuses:
            lines.append(f"<b>{ctx._(kind.title)}</b> — " + "; ".join(statuses))
    # Only what was approved counts; a collective entry is the unit's, not its reporter's.
    own = [e for e in rows if e.status == Status.APPROVED and not e.collective]
    hours = sum(own_hours(e.answers) for e in own if e.kind == "volunteer")
    branch_hours = sum(h for h, status in joined if status == Status.APPROVED)
    beneficiaries = sum(int(e.answers.get("beneficiaries") or 0) for e in own)
    jobs = sum(int(e.answers.get("jobs") or 0) for e in own if e.kind == "economic_model")
    lines += ["", ctx._("<i>From your approved entries:</i>")]
    hours_line = ctx._("Your volunteer hours: {n}").format(n=ctx.t.number(hours + branch_hours))
    if branch_hours:
        hours_line += " " + ctx._("(of which {n} in your branch's activities)").format(
            n=ctx.t.number(branch_hours)
        )
    lines += [
        hours_line,
        ctx._("People who benefited: {n}").format(n=ctx.t.number(beneficiaries)),
        ctx._("Jobs created: {n}").format(n=ctx.t.number(jobs)),
    ]
    waiting = sum(1 for e in rows if e.status in OPEN) + sum(
        1 for _, status in joined if status in OPEN
    )
    if waiting:
        lines.append(
            ctx.t.ngettext(
                "{n} entry is waiting for review and is not counted yet.",
                "{n} entries are waiting for review and are not counted yet.",
                waiting,
            ).format(n=waiting)
        )
    return [Reply("\n".join(lines))]


MY_ENTRIES = Form(
    name="my_entries",
    interruptible=True,  # looking, not filling in: any command leaves it
    title=N_("My entries"),
    steps=False,
    complete=picked,
    cancelled=N_("Closed."),
    fields=(
        Field(
            "pick",
            FieldKind.CHOICE,
            N_("Your entries, newest first. Choose one to see it."),
            options_for=entry_options,
        ),
    ),
)

ENTRY = Form(
    name="entry",
    interruptible=True,
    title=N_("Entry"),
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
            N_("Withdraw this entry? Your secretary will no longer review it."),
            options=(Option("yes", N_("Yes, withdraw it")), Option("no", N_("No, keep it"))),
            ask_if=lambda answers: str(answers.get("action", "")).startswith(WITHDRAW),
        ),
    ),
)


def register(router: Router) -> None:
    router.form(MY_ENTRIES)
    router.form(ENTRY)
    router.command("myentries", show_entries, N_("see your entries"), members_only=True)
    router.command("totals", show_totals, N_("see your results"), members_only=True)
    registered = lambda ctx: ctx.person.registered  # noqa: E731
    router.menu_item("entries", N_("📂 My entries"), show_entries, visible=registered)
    router.menu_item("totals", N_("📊 My results"), show_totals, visible=registered)
