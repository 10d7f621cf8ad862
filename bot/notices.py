"""Notices: what the bot tells one person about something another person did (a review
decision, entries waiting for a secretary), through the outbox to the account the person is
reached on, whatever its channel. Each is a built-in text, translated for the recipient when
it is sent, with at most one button."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.events import Choice
from bot.i18n import N_, Translator
from bot.text import escape

__all__ = ["NOTICES", "Notice", "format_params", "render_notice"]


@dataclass(frozen=True)
class Notice:
    text: str  # msgid with {placeholders} filled from the outbox row's params
    button: tuple[str, str] | None = None  # (label msgid, value): a menu entry to open


MY_ENTRIES = (N_("📂 My entries"), "m:entries")
REVIEW = (N_("🗂 Review entries"), "m:review")
NOMINATIONS = (N_("🏅 Awards"), "m:nominations")
HONOUR_ROLL = (N_("⭐ Honour roll"), "m:highlights")

NOTICES = {
    "entry_approved": Notice(
        N_("✅ Your entry #{id} «{title}» has been approved. Thank you!"), MY_ENTRIES
    ),
    "entry_rejected": Notice(
        N_(
            "↩️ Your entry #{id} «{title}» has been returned for changes.\nReason: {reason}\n"
            "Open it under 📂 My entries to fix it and send it again."
        ),
        MY_ENTRIES,
    ),
    "review_digest": Notice(
        N_(
            "📥 New entries waiting for your review: {n} ({total} waiting in all). "
            "Type /review to open them."
        ),
        REVIEW,
    ),
    "join_digest": Notice(
        N_("🔁 Members asking to move into your units: {n}. Type /review to decide."),
        REVIEW,
    ),
    "unit_change_approved": Notice(
        N_("✅ Your move to {unit} has been accepted. Welcome!"),
        (N_("👤 My profile"), "m:profile"),
    ),
    "unit_change_refused": Notice(
        N_(
            "Your move to {unit} was not accepted. You stay in your unit; ask its secretary "
            "if you think this is a mistake."
        ),
        (N_("👤 My profile"), "m:profile"),
    ),
    # To the admins, from the channel runtime (bot.alerts), on their accounts elsewhere.
    "quota_used_up": Notice(
        N_(
            "⚠️ <b>{channel}</b>: the bot's message quota for this month is used up, so nothing "
            "more is sent there: no answers, no announcements. The bot tries again every hour; "
            "announcements waiting are kept and go out once {channel} accepts messages again. "
            "A larger plan, or moving people to another channel, ends this."
        )
    ),
    "nomination_submitted": Notice(
        N_(
            "🏅 {unit} has proposed {nominee} for the award «{award}» ({period}). "
            "Nomination #{id} now waits for {level}."
        ),
        NOMINATIONS,
    ),
    "nomination_waiting": Notice(
        N_(
            "📥 Nomination #{id} ({award}, {nominee}) waits for your decision at {level}. "
            "Type /nominations to open it."
        ),
        NOMINATIONS,
    ),
    "nomination_passed": Notice(
        N_(
            "✅ Nomination #{id} of {nominee} for «{award}» was approved by {level} and "
            "passed on to {next}."
        ),
        NOMINATIONS,
    ),
    "nomination_returned": Notice(
        N_(
            "↩️ Nomination #{id} of {nominee} for «{award}» was returned by {level}.\n"
            "Reason: {reason}\nThe proposing unit can fix it and send it again under "
            "🏅 Awards."
        ),
        NOMINATIONS,
    ),
    "nomination_awarded": Notice(
        N_(
            "🏅 Congratulations! {nominee} has been awarded «{award}» by decision No. "
            "{number} of {date}, signed by {signer}."
        ),
        NOMINATIONS,
    ),
    "nomination_nobody": Notice(
        N_(
            "⚠️ Nomination #{id} ({award}, {nominee}) waits at {level}, but nobody there can "
            "decide it: nobody decides on their own nomination. Please give the role to "
            "someone (/roles)."
        )
    ),
    "highlight_consent": Notice(
        N_(
            "⭐ The provincial Youth Union would like to show «{title}» on the honour roll of "
            "the movement, with your name and unit. Do you agree to be shown publicly? Type "
            "/highlights to answer; nothing is shown until you agree."
        ),
        HONOUR_ROLL,
    ),
    "learn_request": Notice(
        N_(
            "🤝 {name} ({unit}) would like to learn from «{title}» on the honour roll. "
            "Please get in touch with them through your youth union."
        )
    ),
    "learn_request_phone": Notice(
        N_(
            "🤝 {name} ({unit}) would like to learn from «{title}» on the honour roll. "
            "Their phone number: {phone}."
        )
    ),
    # To a person's other accounts when /link joined one more: if it was not them, they know.
    "accounts_joined": Notice(
        N_(
            "🔗 Another account has just been joined to your registration with a /link code. "
            "From now on the bot tells you things on the account you wrote from "
            "last. If this was not you, tell your youth union secretary at once."
        )
    ),
    "token_refused": Notice(
        N_(
            "⚠️ <b>{channel}</b>: the platform no longer accepts the bot's access token, and "
            "a new one could not be obtained, so nothing is sent there: no answers, no "
            "announcements. Messages waiting are kept. An operator must give the bot a new "
            "token (see the README); the bot tries again every ten minutes."
        )
    ),
    "nobody_reviews": Notice(
        N_(
            "⚠️ Entry #{id} «{title}» waits, but nobody can review it: nobody reviews their "
            "own work, and no other secretary of a unit above it, nor another admin, exists. "
            "Please give one of these roles to someone (/roles)."
        )
    ),
}


def format_params(t: Translator, params: Mapping[str, Any]) -> dict[str, Any]:
    """A built-in text's values as the recipient reads them, escaped for HTML: ISO days as
    dates, "YYYY-MM" as a month, numbers in their locale."""
    values: dict[str, Any] = {}
    for key, value in params.items():
        if key in ("date", "day") and isinstance(value, str):
            values[key] = t.date(dt.date.fromisoformat(value))
        elif key == "month" and isinstance(value, str):
            year, month = value.split("-")
            values[key] = f"{month}/{year}"
        elif isinstance(value, bool):
            values[key] = value
        elif isinstance(value, int) and key not in ("id", "year"):
            values[key] = t.number(value)
        elif isinstance(value, str):
            values[key] = escape(value)
        else:
            values[key] = value
    return values


def render_notice(
    t: Translator, template: str, params: Mapping[str, Any]
) -> tuple[str, tuple[Choice, ...]]:
    """A notice in the recipient's language, and its button."""
    notice = NOTICES[template]
    text = t.gettext(notice.text).format(**format_params(t, params))
    if notice.button is None:
        return text, ()
    label, value = notice.button
    return text, (Choice(t.gettext(label), value),)
