"""/campaigns: admins create, edit and close campaigns (a yearly round such as "Thi đua năm
2027" is a campaign too). New entries attach to the newest open campaign that counts their
kind; each campaign with an end date gets reminders 7 days and 1 day before it."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from bot.announcements import close_campaign, save_campaign
from bot.context import Context
from bot.dialogue import Field, FieldKind, Form, Option, Stop, start_form
from bot.events import Reply
from bot.fields import Invalid
from bot.i18n import N_, NC_
from bot.router import Audience, Router, menu_reply
from bot.text import escape
from domain.kinds import KINDS
from domain.vocabulary import CAMPAIGN_STATES, CampaignState, campaign_state
from models.tables import Campaign

__all__ = ["register"]

NEW = "new"


async def open_campaigns(ctx: Context) -> list[Reply]:
    if not ctx.person.is_admin:
        return [Reply(ctx._("Managing campaigns is for admins."))]
    return await start_form(ctx, "campaigns")


async def _campaigns(ctx: Context) -> list[Campaign]:
    statement = select(Campaign).order_by(
        Campaign.closed_at.is_not(None), Campaign.starts_on.desc(), Campaign.id.desc()
    )
    return list((await ctx.session.scalars(statement)).all())


async def campaign_options(ctx: Context, _answers: dict[str, Any]) -> tuple[Option, ...]:
    options = [Option(NEW, N_("➕ New campaign"))]
    for campaign in await _campaigns(ctx):
        mark = MARKS.get(campaign_state(campaign, ctx.today()), "")
        options.append(Option(str(campaign.id), f"{mark}{campaign.title}"))
    return tuple(options)


MARKS = {CampaignState.UPCOMING: "🔜 ", CampaignState.CLOSED: "🔒 "}


def card(ctx: Context, campaign: Campaign) -> str:
    """A campaign as an admin reads it."""
    kinds = (
        ", ".join(ctx._(KINDS[k].title) for k in campaign.kinds if k in KINDS)
        if campaign.kinds
        else ctx._("every kind")
    )
    ends = ctx.t.date(campaign.ends_on) if campaign.ends_on else "—"
    state = ctx._(CAMPAIGN_STATES[campaign_state(campaign, ctx.today())])
    if campaign.closed_at:
        state = ctx._("closed on {date}").format(date=ctx.t.datetime(campaign.closed_at))
    lines = [
        f"<b>{escape(campaign.title)}</b>",
        ctx._("From {start} to {end} · {state}").format(
            start=ctx.t.date(campaign.starts_on), end=ends, state=state
        ),
        ctx._("Counts: {kinds}").format(kinds=kinds),
    ]
    if campaign.description:
        lines += ["", escape(campaign.description)]
    return "\n".join(lines)


async def chosen(ctx: Context, answers: dict[str, Any]) -> list[Reply]:
    if not ctx.person.is_admin:
        return [Reply(ctx._("Managing campaigns is for admins."))]
    if answers["campaign"] == NEW:
        return await start_form(ctx, "campaign_edit")
    campaign = await ctx.session.get(Campaign, int(answers["campaign"]))
    if campaign is None:
        return [menu_reply(ctx, ctx._("That campaign no longer exists."))]
    return [
        Reply(card(ctx, campaign)),
        *await start_form(ctx, "campaign_action", {"id": campaign.id}),
    ]


async def action_options(ctx: Context, answers: dict[str, Any]) -> tuple[Option, ...]:
    campaign = await ctx.session.get(Campaign, int(answers["id"]))
    if campaign is None or campaign.closed_at is not None:
        return (Option("back", N_("⬅️ Back to the list")),)
    bound = f":{campaign.id}"  # each action names the campaign on the card
    options = [Option("edit" + bound, N_("✏️ Edit"))]
    if not campaign.is_default:
        options.append(Option("close" + bound, N_("🔒 Close it")))
    options.append(Option("back", N_("⬅️ Back to the list")))
    return tuple(options)


async def stale_action(ctx: Context, value: str) -> str | None:
    """Why a button of another campaign's card does nothing."""
    _, _, campaign_id = value.partition(":")
    if not campaign_id.isdigit() or not ctx.person.is_admin:
        return None
    return ctx._("That button belongs to another campaign's card; nothing was changed.")


async def act(ctx: Context, answers: dict[str, Any]) -> list[Reply]:
    if not ctx.person.is_admin:
        return [Reply(ctx._("Managing campaigns is for admins."))]
    campaign = await ctx.session.get(Campaign, int(answers["id"]))
    action, _, bound = str(answers["action"]).partition(":")
    if action == "back" or campaign is None:
        return await start_form(ctx, "campaigns")
    if bound != str(campaign.id):
        return [menu_reply(ctx, ctx._("That campaign can no longer be changed."))]
    if action == "edit" and campaign.closed_at is None:
        return await start_form(
            ctx,
            "campaign_edit",
            {
                "id": campaign.id,
                "title": campaign.title,
                "description": campaign.description or None,
                "starts_on": campaign.starts_on.isoformat(),
                "ends_on": campaign.ends_on.isoformat() if campaign.ends_on else None,
                "kinds": list(campaign.kinds or KINDS),
            },
        )
    if action == "close" and campaign.closed_at is None and not campaign.is_default:
        await close_campaign(
            ctx.session,
            ctx.config,
            campaign,
            actor=ctx.person.actor,
            created_by=ctx.person.identity_id,
        )
        text = ctx._(
            "🔒 {title} is closed. New entries now go to the movement-wide campaign or another "
            "open one."
        ).format(title=escape(campaign.title))
        return [menu_reply(ctx, text)]
    return [menu_reply(ctx, ctx._("That campaign can no longer be changed."))]


async def check_end(ctx: Context, value: Any, answers: dict[str, Any]) -> Stop | None:
    if value < answers["starts_on"]:
        raise Invalid(N_("The end must not be before the start."))
    return None


async def save(ctx: Context, answers: dict[str, Any]) -> list[Reply]:
    """Creates or updates the campaign and re-arranges its deadline reminders."""
    if not ctx.person.is_admin:
        return [Reply(ctx._("Managing campaigns is for admins."))]
    campaign = None
    if "id" in answers:
        campaign = await ctx.session.get(Campaign, int(answers["id"]))
        if campaign is None or campaign.closed_at is not None:
            return [menu_reply(ctx, ctx._("That campaign can no longer be changed."))]
    campaign, reminders = await save_campaign(
        ctx.session,
        ctx.config,
        campaign,
        title=answers["title"],
        description=answers.get("description") or "",
        starts_on=dt.date.fromisoformat(answers["starts_on"]),
        ends_on=dt.date.fromisoformat(answers["ends_on"]),
        kinds=answers["kinds"],
        actor=ctx.person.actor,
        created_by=ctx.person.identity_id,
    )
    text = ctx._("✅ Saved.") + "\n\n" + card(ctx, campaign)
    if reminders:
        when = "; ".join(ctx.t.datetime(r.next_run_at) for r in reminders if r.next_run_at)
        text += "\n\n" + ctx._("🔔 Members will be reminded of the deadline on {when}.").format(
            when=when
        )
    return [menu_reply(ctx, text)]


CAMPAIGNS = Form(
    name="campaigns",
    interruptible=True,
    title=N_("Campaigns"),
    steps=False,
    complete=chosen,
    cancelled=N_("Closed."),
    fields=(
        Field(
            "campaign",
            FieldKind.CHOICE,
            N_("Campaigns: choose one to see or change it, or start a new one."),
            options_for=campaign_options,
        ),
    ),
)

CAMPAIGN_ACTION = Form(
    name="campaign_action",
    interruptible=True,
    title=N_("Campaigns"),
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
    ),
)

CAMPAIGN_EDIT = Form(
    name="campaign_edit",
    title=N_("Campaign"),
    review=True,
    complete=save,
    fields=(
        Field(
            "title",
            FieldKind.TEXT,
            N_('Its title? For example "Thi đua năm 2027".'),
            label=NC_("campaign", "Title"),
            min_length=5,
            max_length=200,
        ),
        Field(
            "description",
            FieldKind.TEXT,
            N_("A short description (optional)"),
            label=NC_("campaign", "Description"),
            optional=True,
            max_length=1000,
        ),
        Field(
            "starts_on",
            FieldKind.DAY,
            N_("When does it start? (dd/mm/yyyy)"),
            label=N_("Starts"),
        ),
        Field(
            "ends_on",
            FieldKind.DAY,
            N_("When does it end? (dd/mm/yyyy)"),
            label=N_("Ends"),
            check=check_end,
        ),
        Field(
            "kinds",
            FieldKind.MULTI_CHOICE,
            N_("Which kinds of entries count towards it?"),
            label=N_("Counts"),
            options=tuple(Option(name, kind.title) for name, kind in KINDS.items()),
        ),
    ),
)


def register(router: Router) -> None:
    for form in (CAMPAIGNS, CAMPAIGN_ACTION, CAMPAIGN_EDIT):
        router.form(form)
    router.command(
        "campaigns",
        open_campaigns,
        N_("create, edit or close campaigns"),
        audience=Audience.ADMINS,
    )
    router.menu_item(
        "campaigns", N_("🏁 Campaigns"), open_campaigns, visible=lambda ctx: ctx.person.is_admin
    )
