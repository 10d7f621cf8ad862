"""Feature modules. Each registers its commands, forms and menu entries on the router."""

from bot.i18n import N_
from bot.router import Router
from handlers import (
    admin,
    appraisal,
    audit,
    broadcast,
    campaigns,
    certificates,
    export,
    highlights,
    invites,
    language,
    link,
    my_entries,
    nominations,
    period_reports,
    privacy,
    profile,
    registration,
    reporting,
    review,
    schedules,
    start,
    stats,
)

__all__ = ["register_all"]


def register_all(router: Router) -> None:
    """Registers every feature. Order matters: it is the order of /help and of the menu."""
    start.register(router)  # /start /menu /help /cancel /back, "Register" and "Help" entries
    registration.register(router)
    reporting.register(router)
    my_entries.register(router)
    review.register(router)
    nominations.register(router)  # /nominations: awards, after review (who reviews, appraises)
    appraisal.register(router)  # deciding on nominations, opened from /nominations
    invites.register(router)  # /invite, after review: both are for secretaries
    broadcast.register(router)
    stats.register(router)
    period_reports.register(router)
    admin.register(router)
    campaigns.register(router)
    schedules.register(router)  # /news /reminders /scheduled
    export.register(router)
    audit.register(router)
    profile.register(router)
    link.register(router)  # /link: the same person in another app
    language.register(router)
    privacy.register(router)
    # /certificate for members, /verify for anyone: last before help in the menu, so that
    # the numbers people have learnt for the others stay.
    certificates.register(router)
    highlights.register(router)  # /highlights: the honour roll, for everyone
    router.menu_item("help", N_("❓ Help"), start.show_help)
