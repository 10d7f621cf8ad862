"""Statuses, roles and audit actors: the words every layer uses for the same things."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable
from typing import Protocol

__all__ = [
    "CAMPAIGN_STATES",
    "CLI",
    "CONTEXT_SEPARATOR",
    "ERASED",
    "NC_",
    "NOMINATION_STATUS_LABELS",
    "N_",
    "OPEN",
    "ROLE_LABELS",
    "SCHEDULER",
    "STATUS_LABELS",
    "CampaignState",
    "Consent",
    "Nomination",
    "Role",
    "Status",
    "campaign_state",
    "identity_actor",
    "identity_of_actor",
    "member_subject",
    "role_title",
    "union_name",
]


def N_(message: str) -> str:
    """Marks a string for the catalogs without translating it yet (declarations)."""
    return message


# Between a message's context and its text in a catalog's keys: gettext's own convention (the
# key of msgctxt "campaign" msgid "Title" in a .mo file is "campaign\x04Title").
CONTEXT_SEPARATOR = "\x04"


def NC_(context: str, message: str) -> str:
    """Marks a string whose translation depends on where it is used ("Title" of a campaign is
    not "Title" of an initiative). The result is an ordinary msgid for the translators; any
    `gettext` of bot.i18n finds its translation, and shows `message` when there is none."""
    return f"{context}{CONTEXT_SEPARATOR}{message}"


class Status(enum.StrEnum):
    """Where an entry is: submitted → approved | rejected (→ resubmitted), or withdrawn."""

    SUBMITTED = "submitted"
    RESUBMITTED = "resubmitted"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


# Waiting for a decision: the reporter may still edit or withdraw it.
OPEN = (Status.SUBMITTED, Status.RESUBMITTED)

STATUS_LABELS: dict[str, str] = {
    Status.SUBMITTED: N_("⏳ Waiting for review"),
    Status.RESUBMITTED: N_("⏳ Sent again, waiting for review"),
    Status.APPROVED: N_("✅ Approved"),
    Status.REJECTED: N_("↩️ Returned for changes"),
    Status.WITHDRAWN: N_("🗑 Withdrawn"),
}


class Role(enum.StrEnum):
    """A role beyond member. A secretary holds it for a unit and every unit below it; an
    appraiser is on the staff of Sở Nội vụ and appraises nominations at its level."""

    ADMIN = "admin"
    SECRETARY = "secretary"
    APPRAISER = "appraiser"


ROLE_LABELS: dict[str, str] = {
    Role.SECRETARY: N_("secretary"),
    Role.ADMIN: N_("admin"),
    Role.APPRAISER: N_("appraiser (Department of Home Affairs)"),
}


class Nomination(enum.StrEnum):
    """Where a nomination for an award is: waiting at a level of its ladder, returned to the
    unit that proposed it, awarded (the decision recorded), or withdrawn by that unit."""

    WAITING = "waiting"
    RETURNED = "returned"
    AWARDED = "awarded"
    WITHDRAWN = "withdrawn"


NOMINATION_STATUS_LABELS: dict[str, str] = {
    Nomination.WAITING: N_("⏳ Waiting at {level}"),
    Nomination.RETURNED: N_("↩️ Returned by {level}"),
    Nomination.AWARDED: N_("🏅 Awarded"),
    Nomination.WITHDRAWN: N_("🗑 Withdrawn"),
}


class Consent(enum.StrEnum):
    """A person's answer to being shown on the honour roll."""

    ASKED = "asked"
    GIVEN = "given"
    REFUSED = "refused"


# A commune or ward is named as its Youth Union organisation where the union acts (it sends
# announcements, it has a secretary): "Xã Na Sầm" is "Đoàn xã Na Sầm". Other units (Tỉnh Đoàn,
# a school's or an enterprise's branch) are named so already. (kind, prefix of the name, msgid)
UNION_NAMES = {
    "commune": ("Xã ", N_("{name} Commune Youth Union")),
    "ward": ("Phường ", N_("{name} Ward Youth Union")),
    "province": ("Tỉnh ", N_("{name} Provincial Youth Union")),
}


def union_name(gettext: Callable[[str], str], name: str, kind: str | None) -> str:
    """The unit's Youth Union organisation, translated: "Đoàn xã Na Sầm"."""
    if kind not in UNION_NAMES:
        return name
    prefix, message = UNION_NAMES[kind]
    bare = name[len(prefix) :] if name.lower().startswith(prefix.lower()) else name
    return gettext(message).format(name=bare)


def role_title(
    gettext: Callable[[str], str], role: str, unit_name: str | None, unit_kind: str | None
) -> str:
    """A role as a title: "Bí thư Đoàn xã Na Sầm", "quản trị viên"."""
    if role == Role.SECRETARY and unit_name is not None:
        union = union_name(gettext, unit_name, unit_kind)
        return gettext(N_("Secretary of {union}")).format(union=union)
    return gettext(ROLE_LABELS.get(role, role))


# Audit actors that are not a person: the operator's command line and the scheduler; and
# what stands for a person whose data was erased (one word for all of them, so that their
# actions cannot be told apart or traced back).
CLI = "cli"
SCHEDULER = "scheduler"
ERASED = "erased"
_IDENTITY = "identity:"
_MEMBER = "member:"


def identity_actor(identity_id: int) -> str:
    """The audit actor of a person acting through one of their accounts."""
    return f"{_IDENTITY}{identity_id}"


def identity_of_actor(actor: str | None) -> int | None:
    """The account behind an audit actor, or None for the command line and the scheduler."""
    if actor and actor.startswith(_IDENTITY) and actor[len(_IDENTITY) :].isdigit():
        return int(actor[len(_IDENTITY) :])
    return None


def member_subject(member_id: int) -> str:
    """Whom an audit row concerns, when it is a registered member (else their account, written
    as its actor)."""
    return f"{_MEMBER}{member_id}"


class CampaignState(enum.StrEnum):
    """Where a campaign is on a given day."""

    UPCOMING = "upcoming"  # it has not started
    RUNNING = "running"
    PAST_END = "past_end"  # its end has passed; nobody closed it yet
    CLOSED = "closed"


CAMPAIGN_STATES: dict[str, str] = {
    CampaignState.UPCOMING: N_("upcoming"),
    CampaignState.RUNNING: N_("running"),
    CampaignState.PAST_END: N_("past its end date, not closed yet"),
    CampaignState.CLOSED: N_("closed"),
}


class _Dated(Protocol):
    @property
    def starts_on(self) -> dt.date: ...
    @property
    def ends_on(self) -> dt.date | None: ...
    @property
    def closed_at(self) -> dt.datetime | None: ...


def campaign_state(campaign: _Dated, today: dt.date) -> CampaignState:
    """Where a campaign is on `today` (a local day)."""
    if campaign.closed_at is not None:
        return CampaignState.CLOSED
    if campaign.starts_on > today:
        return CampaignState.UPCOMING
    if campaign.ends_on is not None and campaign.ends_on < today:
        return CampaignState.PAST_END
    return CampaignState.RUNNING
