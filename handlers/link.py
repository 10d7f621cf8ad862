"""/link: one person on several channels. A registered person gets a short-lived code in one
chat and types it in the other app's chat: that account joins their registration (the older
of two registrations is kept; models.links). Notices then follow them to the account they
wrote from last."""

from __future__ import annotations

from sqlalchemy import func, literal, select

from bot.context import Context
from bot.events import Reply
from bot.i18n import N_
from bot.router import Router, menu_reply
from bot.text import escape
from models.links import LINK_MINUTES, Linked, Refusal, join_with_code, new_link_code
from models.outbox import enqueue_notices
from models.people import load_person
from models.tables import Identity, Member, Unit

__all__ = ["register"]

REFUSALS = {
    Refusal.UNKNOWN: N_(
        "⚠️ This code is not right, or it has expired (a code lasts {minutes} minutes). "
        "Type /link in the chat where you registered for a new one."
    ),
    Refusal.SAME_ACCOUNT: N_(
        "This code is for your other account: open the bot in the other app and type "
        "/link {code} there."
    ),
    Refusal.ALREADY: N_("This account is already joined to that registration."),
    Refusal.TOO_MANY: N_(
        "⚠️ Too many codes that were not right. For your safety, please wait an hour and "
        "try again with a new code."
    ),
}


async def link(ctx: Context) -> list[Reply]:
    if ctx.inbound.args.strip():
        return await _join(ctx, ctx.inbound.args)
    if not ctx.person.registered or ctx.person.member_id is None:
        return [
            Reply(
                ctx._(
                    "🔗 To use this account with your registration in another app: type /link "
                    "in the chat where you registered, then type here /link and the code it "
                    "gives you.\nNot registered yet? Type /start."
                )
            )
        ]
    code = await new_link_code(ctx.session, ctx.person.member_id, ctx.person.identity_id)
    shown = f"{code.code[:4]}-{code.code[4:]}"
    return [
        Reply(
            ctx._(
                "🔗 <b>Use the bot in another app too</b>\n"
                "Open the chat with the bot in the other app and type:\n"
                "<b>/link {code}</b>\n\n"
                "The code works once, for {minutes} minutes. That account then joins your "
                "registration: your entries, results and roles are there too, and the bot "
                "tells you things on the account you wrote from last. If you had registered "
                "there as well, the older registration is kept and the other one's entries "
                "move into it.\nGive this code to nobody."
            ).format(code=shown, minutes=LINK_MINUTES)
        )
    ]


async def _join(ctx: Context, typed: str) -> list[Reply]:
    result = await join_with_code(ctx.session, ctx.person.identity_id, typed)
    if isinstance(result, Refusal):
        text = ctx._(REFUSALS[result]).format(minutes=LINK_MINUTES, code=escape(typed.strip()))
        return [Reply(text)]
    await _tell_other_accounts(ctx, result)
    identity = await ctx.session.get_one(Identity, ctx.person.identity_id)
    ctx.person = await load_person(ctx.session, identity)
    member = await ctx.session.get_one(Member, result.kept)
    unit = await ctx.session.get(Unit, member.unit_id)
    lines = [
        ctx._("✅ This account is now joined to your registration: {name}, {unit}.").format(
            name=escape(member.full_name), unit=escape(unit.name if unit else "")
        )
    ]
    if result.joined is not None:
        lines.append(
            ctx._(
                "You had registered in both apps: the older registration (since {day}) is "
                "kept, and the entries of the other one are in it now."
            ).format(day=ctx.t.date(member.registered_at.astimezone(ctx.config.tz).date()))
        )
    return [menu_reply(ctx, "\n".join(lines))]


async def _tell_other_accounts(ctx: Context, linked: Linked) -> None:
    accounts = select(
        Identity.member_id,
        Identity.id,
        Identity.chat_id,
        Identity.channel,
        func.coalesce(Identity.locale, Identity.client_language, literal("")),
    ).where(
        Identity.member_id == linked.kept,
        Identity.id != ctx.person.identity_id,
        Identity.chat_id.is_not(None),
        Identity.unreachable_at.is_(None),
    )
    await enqueue_notices(ctx.session, "accounts_joined", {}, accounts)


def register(router: Router) -> None:
    router.command("link", link, N_("use the bot in another app with the same registration"))
