"""/audit: admins read the recent sensitive actions (exports, roles, reviews, deletions,
broadcasts) as sentences: who did what, to which entry, unit or person."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import select

from bot.context import Context
from bot.events import Reply
from bot.i18n import N_
from bot.router import Audience, Router
from bot.text import escape
from domain.vocabulary import (
    CLI,
    ERASED,
    SCHEDULER,
    identity_actor,
    identity_of_actor,
    role_title,
)
from models.people import actor_name
from models.tables import AuditRecord, Campaign, Identity, Member, Unit

__all__ = ["describe_action", "register"]

SHOWN = 25

# What each action says, with the record's details (and the names they point to) filled in.
SENTENCES = {
    "entry.submitted": N_("Sent entry #{entry_id}"),
    "entry.resubmitted": N_("Sent entry #{entry_id} again"),
    "entry.withdrawn": N_("Withdrew entry #{entry_id}"),
    "entry.approved": N_("Approved entry #{entry_id}"),
    "entry.rejected": N_("Returned entry #{entry_id} for changes"),
    "invite.created": N_("Created an invitation to {unit}"),
    "invite.revoked": N_("Revoked an invitation to {unit}"),
    "member.registered": N_("Registered"),
    "member.data_copied": N_("Downloaded a copy of their own data"),
    "member.deleted": N_(
        "Erased a member's data: {kept} approved entries kept without the name, {deleted} "
        "entries deleted"
    ),
    "consent.withdrawn": N_(
        "Withdrew consent and the data was erased: {kept} approved entries kept without the "
        "name, {deleted} entries deleted"
    ),
    "broadcast.created": N_("Sent broadcast #{broadcast_id} to {recipients} people"),
    "broadcast.cancelled": N_("Cancelled broadcast #{broadcast_id}"),
    "news.sent": N_("Sent news #{broadcast_id} to {recipients} people"),
    "news.held": N_("Confirmed news #{schedule_id} during quiet hours: held until {until}"),
    "news.scheduled": N_("Scheduled news #{schedule_id}"),
    "reminder.created": N_("Set up reminder #{schedule_id}"),
    "reminder.sent": N_("Sent a reminder to {recipients} people"),
    "schedule.cancelled": N_("Cancelled scheduled message #{schedule_id}"),
    "schedule.edited": N_("Changed scheduled message #{schedule_id}"),
    "schedule.missed": N_(
        "Skipped scheduled message #{schedule_id}: due at {due_at}, when the bot was not running"
    ),
    "campaign.created": N_("Created the campaign “{campaign}”"),
    "campaign.edited": N_("Changed the campaign “{campaign}”"),
    "campaign.closed": N_("Closed the campaign “{campaign}”"),
    "unit.created": N_("Added the unit {unit}"),
    "entry.joined": N_("Joined the branch's entry #{entry_id}"),
    "member.corrected": N_("Corrected {fields}"),
    "member.unit_change_requested": N_("Asked to move {member} to {to_unit}"),
    "member.unit_changed": N_("Moved {member} from {from_unit} to {to_unit}"),
    "member.unit_change_refused": N_("Did not move {member} to {to_unit}"),
    "role.granted": N_("Made {person} {role}"),
    "role.revoked": N_("Took the role of {role} from {person}"),
}
FORMATS = {"xlsx": N_("Excel"), "csv": N_("CSV"), "evidence": N_("evidence files")}
ACTORS = {
    CLI: N_("The command line"),
    SCHEDULER: N_("The scheduler"),
    "system": N_("The bot"),
    ERASED: N_("A former member"),  # whose data was erased: their actions stay, not them
}
FIELDS = {"full_name": N_("Full name"), "birth_year": N_("Birth year"), "phone": N_("Phone")}

Lookup = Callable[[Context, Any], Awaitable[str]]


async def _campaign(ctx: Context, campaign_id: Any) -> str:
    campaign = await ctx.session.get(Campaign, int(campaign_id))
    return escape(campaign.title) if campaign else f"#{campaign_id}"


async def _person(ctx: Context, identity_id: Any) -> str:
    name = await actor_name(ctx.session, identity_actor(int(identity_id)))
    if name:
        return escape(name)
    identity = await ctx.session.get(Identity, int(identity_id))
    if identity is None:
        return ctx._("a former member")
    return ctx._("{channel} user {id} (not registered)").format(
        channel=identity.channel.capitalize(), id=escape(identity.user_id)
    )


def _time(ctx: Context, value: Any) -> str:
    try:
        return ctx.t.datetime(dt.datetime.fromisoformat(str(value)))
    except ValueError:
        return escape(str(value))


def _counted(ctx: Context, action: str, details: dict[str, Any]) -> str | None:
    """The sentences that count something, in the plural their number needs."""
    n = int(details.get("rows") or 0)
    if action == "export.created":
        fmt = details.get("format")
        return ctx.t.ngettext(
            "Exported {n} entry ({format})", "Exported {n} entries ({format})", n
        ).format(
            n=ctx.t.number(n),
            format=ctx._(FORMATS[fmt]) if fmt in FORMATS else escape(str(fmt)),
        )
    if action == "audit.exported":
        return ctx.t.ngettext(
            "Exported the audit log ({n} row)", "Exported the audit log ({n} rows)", n
        ).format(n=ctx.t.number(n))
    return None


async def describe_action(ctx: Context, record: AuditRecord) -> str:
    """One audit row as a sentence (HTML); an action this version does not know is shown
    with its details, never dropped."""
    details = dict(record.details or {})
    counted = _counted(ctx, record.action, details)
    if counted is not None:
        return counted
    sentence = SENTENCES.get(record.action)
    if sentence is None:
        shown = ", ".join(f"{key}: {value}" for key, value in sorted(details.items()))
        return escape(f"{record.action} ({shown})" if shown else record.action)
    values: dict[str, Any] = {
        key: ctx.t.number(value) if isinstance(value, int) and not key.endswith("_id") else value
        for key, value in details.items()
    }
    for key in [key for key in details if key.endswith("unit_id")]:  # unit, to_unit, …
        named = await ctx.session.get(Unit, int(details[key])) if details[key] else None
        values[key.removesuffix("_id")] = (
            escape(named.name) if named else ctx._("a unit no longer listed")
        )
    unit = await ctx.session.get(Unit, int(details["unit_id"])) if details.get("unit_id") else None
    if "role" in details:
        where = (unit.name, unit.kind) if unit else (None, None)
        values["role"] = escape(role_title(ctx._, details["role"], *where))
    if "campaign_id" in details:
        values["campaign"] = await _campaign(ctx, details["campaign_id"])
    if "identity_id" in details:
        values["person"] = await _person(ctx, details["identity_id"])
    if "member_id" in details:
        member = await ctx.session.get(Member, int(details["member_id"]))
        values["member"] = escape(member.full_name) if member else ctx._("a former member")
    if isinstance(details.get("fields"), list):
        values["fields"] = ", ".join(
            ctx._(FIELDS[name]).lower() if name in FIELDS else escape(str(name))
            for name in details["fields"]
        )
    for key in ("due_at", "until"):
        if key in details:
            values[key] = _time(ctx, details[key])
    try:
        return ctx._(sentence).format(**values)
    except (KeyError, IndexError):  # details of an older version: the action, still readable
        return escape(record.action)


async def _actor(ctx: Context, actor: str) -> str:
    """A person's name when the actor is a registered member; the command line, the
    scheduler or the bot itself; else "a former member"."""
    if actor in ACTORS:
        return ctx._(ACTORS[actor])
    if identity_of_actor(actor) is None:
        return escape(actor)
    name = await actor_name(ctx.session, actor)
    return escape(name) if name else ctx._("A former member")


async def show_audit(ctx: Context) -> list[Reply]:
    """The newest audit rows, newest first, one sentence each."""
    if not ctx.person.is_admin:
        return [Reply(ctx._("The audit log is for admins."))]
    records = (
        await ctx.session.scalars(select(AuditRecord).order_by(AuditRecord.id.desc()).limit(SHOWN))
    ).all()
    if not records:
        return [Reply(ctx._("Nothing has been recorded yet."))]
    lines = [ctx._("<b>Recent actions</b> (newest first)")]
    for record in records:
        lines.append(
            f"{ctx.t.datetime(record.at)} · <b>{await _actor(ctx, record.actor)}</b>: "
            f"{await describe_action(ctx, record)}"
        )
    return [Reply("\n".join(lines))]


def register(router: Router) -> None:
    router.command("audit", show_audit, N_("recent sensitive actions"), audience=Audience.ADMINS)
