"""The member's rights over their data: /mydata sends a copy, /deleteme erases it (withdrawing
consent does the same)."""

from __future__ import annotations

import functools
import json
import logging
from typing import Any

from bot.context import Context
from bot.dialogue import Field, FieldKind, Form, Option, start_form
from bot.events import Document, Reply
from bot.evidence import EvidenceStore
from bot.i18n import N_
from bot.router import Router
from bot.text import escape, format_phone
from models.people import audit
from models.privacy import erase_member, member_data

__all__ = ["register"]

log = logging.getLogger(__name__)

REASON = "_reason"  # prefilled: "delete" or "consent"


def evidence_store(ctx: Context) -> EvidenceStore:
    return EvidenceStore(ctx.config.data_dir / "files")


async def send_my_data(ctx: Context) -> list[Reply]:
    """A readable summary, and everything as a JSON file."""
    member_id = ctx.person.member_id
    if member_id is None:
        return [Reply(ctx._("You have not registered yet. Type /start to begin."))]
    data = {"exported_at": ctx.today().isoformat(), **await member_data(ctx.session, member_id)}
    profile = data["profile"]
    text = "\n".join(
        [
            ctx._("<b>What we store about you</b>"),
            ctx._("Full name: {name}").format(name=escape(profile["full_name"])),
            ctx._("Birth year: {year}").format(year=profile["birth_year"]),
            ctx._("Unit: {name}").format(name=escape((profile["unit"] or {}).get("name", ""))),
            ctx._("Phone: {phone}").format(
                phone=format_phone(profile["phone"]) if profile["phone"] else ctx._("not given")
            ),
            ctx._("Consent records: {n}").format(n=len(data["consents"])),
            ctx._("Entries: {n}").format(n=len(data["entries"])),
            ctx._("Evidence files: {n}").format(n=len(data["files"])),
            ctx._("Recorded actions by you or about you: {n}").format(n=len(data["audit_log"])),
            "",
            ctx._("The attached file holds all of it. Type /deleteme to erase your data."),
        ]
    )
    content = json.dumps(data, ensure_ascii=False, indent=2).encode()
    await audit(ctx.session, ctx.person.actor, "member.data_copied")
    name = f"youthbot-data-{ctx.today().isoformat()}.json"
    return [Reply(text, document=Document(name, content, "application/json"))]


async def ask_delete(ctx: Context) -> list[Reply]:
    return await start_form(ctx, "erase", {REASON: "delete"})


async def ask_withdraw_consent(ctx: Context) -> list[Reply]:
    return await start_form(ctx, "erase", {REASON: "consent"})


async def erase(ctx: Context, answers: dict[str, Any]) -> list[Reply]:
    """Erases the member once they confirmed; files go from disk after the commit."""
    member_id = ctx.person.member_id
    if answers["confirm"] != "yes" or member_id is None:
        return [Reply(ctx._("Nothing was deleted. Type /menu to see what you can do."))]
    action = "consent.withdrawn" if answers.get(REASON) == "consent" else "member.deleted"
    inbound = ctx.inbound
    erasure = await erase_member(
        ctx.session,
        member_id,
        keep_update=(inbound.channel, inbound.update_key),
        action=action,
        tz=ctx.config.tz,
    )
    store = evidence_store(ctx)
    for path in erasure.file_paths:
        ctx.after_commit.append(functools.partial(store.delete, path))
    ctx.later.append(functools.partial(_checkpoint, ctx))
    text = ctx._(
        "Your data has been erased: your profile, contact details, consent and evidence files. "
        "Approved entries stay in the movement's statistics without your name ({kept}); the "
        "others were deleted ({deleted}). Thank you for taking part. Type /start if you ever "
        "want to join again."
    ).format(kept=erasure.kept_anonymised, deleted=erasure.deleted_entries)
    if erasure.kept_for_units:
        text += "\n" + ctx.t.ngettext(
            "{n} entry you reported on behalf of a unit stays with that unit, without your name.",
            "{n} entries you reported on behalf of a unit stay with that unit, without your name.",
            erasure.kept_for_units,
        ).format(n=erasure.kept_for_units)
    return [Reply(text)]


async def _checkpoint(ctx: Context) -> list[Reply]:
    """Once the erasure is committed: gone from the database's journal (its WAL) too."""
    if ctx.db is not None and not await ctx.db.checkpoint():
        log.warning("an erasure stays in the write-ahead log until the next checkpoint")
    return []


ERASE = Form(
    name="erase",
    title=N_("Delete my data"),
    steps=False,
    complete=erase,
    cancelled=N_("Nothing was deleted."),
    fields=(
        Field(
            "confirm",
            FieldKind.CHOICE,
            N_(
                "Delete all your data? Your profile, phone number, consent record and evidence "
                "files will be erased, and entries not yet approved will be deleted. Approved "
                "entries stay in the statistics without your name. This cannot be undone."
            ),
            options=(
                Option("yes", N_("Yes, delete my data")),
                Option("no", N_("No, keep it")),
            ),
        ),
    ),
)


def register(router: Router) -> None:
    router.form(ERASE)
    # A copy of one's data changes nothing, so it may be asked for in the middle of a form.
    router.command(
        "mydata",
        send_my_data,
        N_("get a copy of your data"),
        members_only=True,
        keeps_dialogue=True,
    )
    router.command("deleteme", ask_delete, N_("delete your data"), members_only=True)
    router.command(
        "withdrawconsent",
        ask_withdraw_consent,
        N_("withdraw your consent (your data is deleted)"),
        members_only=True,
    )
