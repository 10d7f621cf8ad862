"""The honour roll: approved entries and awards Tỉnh Đoàn marks as exemplary ("gương điển
hình", "mô hình tiêu biểu"), shown to everyone once the person they show has agreed, and the
requests of young people who want to learn from them.

Who sees what (domain invariants):
- a highlight of a person's own work or award is shown only after that person agreed, and
  stops being shown when they take it back; a unit's work needs no one's consent;
- a minor is never shown by name (see handlers.highlights);
- a person asks to learn from a model once; its unit's secretary is told.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.vocabulary import Consent
from models.people import audit
from models.tables import ContactRequest, Highlight, utcnow

__all__ = [
    "EXAMPLE",
    "MODEL",
    "answer_consent",
    "ask_to_learn",
    "consents_asked",
    "is_shown",
    "mark",
    "shown",
    "unmark",
]

# What a highlight is called on the honour roll.
EXAMPLE, MODEL = "example", "model"  # gương điển hình (a person), mô hình tiêu biểu (a model)


async def mark(
    session: AsyncSession,
    *,
    label: str,
    entry_id: int | None,
    nomination_id: int | None,
    kind: str,
    title: str,
    citation: str,
    unit_id: int,
    member_id: int | None,
    actor: str,
) -> Highlight:
    """Puts an approved entry or an award on the honour roll; when it shows a person, it
    waits for their consent."""
    highlight = Highlight(
        label=label,
        entry_id=entry_id,
        nomination_id=nomination_id,
        kind=kind,
        title=title,
        citation=citation,
        unit_id=unit_id,
        member_id=member_id,
        consent=Consent.ASKED if member_id is not None else None,
        marked_by=actor,
    )
    session.add(highlight)
    await session.flush()
    details: dict[str, object] = {"highlight_id": highlight.id, "label": label}
    if member_id is not None:
        details["member_id"] = member_id
    await audit(session, actor, "highlight.marked", **details)
    return highlight


async def unmark(session: AsyncSession, highlight_id: int, *, actor: str) -> bool:
    """Takes a highlight off the honour roll, with the requests to learn from it."""
    highlight = await session.get(Highlight, highlight_id)
    if highlight is None:
        return False
    await session.execute(
        delete(ContactRequest).where(ContactRequest.highlight_id == highlight_id)
    )
    await session.delete(highlight)
    await audit(session, actor, "highlight.removed", highlight_id=highlight_id)
    return True


async def consents_asked(session: AsyncSession, member_id: int) -> list[Highlight]:
    """Highlights of this person that wait for their answer, oldest first."""
    found = await session.scalars(
        select(Highlight)
        .where(Highlight.member_id == member_id, Highlight.consent == Consent.ASKED)
        .order_by(Highlight.id)
    )
    return list(found.all())


async def answer_consent(
    session: AsyncSession,
    highlight_id: int,
    *,
    member_id: int,
    given: bool,
    version: str,
    actor: str,
) -> bool:
    """Records the person's answer (or its change) about being shown publicly; only they
    answer for themselves. False when the highlight is gone or not theirs."""
    answer = Consent.GIVEN if given else Consent.REFUSED
    result = await session.execute(
        update(Highlight)
        .where(Highlight.id == highlight_id, Highlight.member_id == member_id)
        .values(consent=answer, consent_at=utcnow(), consent_version=version)
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return False
    await audit(
        session,
        actor,
        "highlight.consent_given" if given else "highlight.consent_refused",
        highlight_id=highlight_id,
        member_id=member_id,
        version=version,
    )
    return True


def _public() -> ColumnElement[bool]:
    return or_(Highlight.member_id.is_(None), Highlight.consent == Consent.GIVEN)


async def shown(
    session: AsyncSession,
    *,
    kind: str | None = None,
    unit_ids: Sequence[int] | None = None,
    limit: int = 10,
) -> list[Highlight]:
    """What the honour roll shows, newest first: of a kind ("award" for awards), or in
    these units."""
    statement = select(Highlight).where(_public())
    if kind is not None:
        statement = statement.where(Highlight.kind == kind)
    if unit_ids is not None:
        statement = statement.where(Highlight.unit_id.in_(unit_ids))
    statement = statement.order_by(Highlight.marked_at.desc(), Highlight.id.desc()).limit(limit)
    return list((await session.scalars(statement)).all())


async def is_shown(session: AsyncSession, highlight_id: int) -> Highlight | None:
    return await session.scalar(select(Highlight).where(Highlight.id == highlight_id, _public()))


async def ask_to_learn(
    session: AsyncSession, highlight: Highlight, member_id: int, *, with_phone: bool, actor: str
) -> bool:
    """Records that a young person wants to learn from this model; False if they had
    asked already."""
    asked = await session.scalar(
        select(ContactRequest.id).where(
            ContactRequest.highlight_id == highlight.id, ContactRequest.member_id == member_id
        )
    )
    if asked is not None:
        return False
    session.add(
        ContactRequest(highlight_id=highlight.id, member_id=member_id, with_phone=with_phone)
    )
    await audit(
        session,
        actor,
        "highlight.contact_requested",
        highlight_id=highlight.id,
        member_id=member_id,
        with_phone=with_phone,
    )
    return True
