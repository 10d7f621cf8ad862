"""whom audit rows concern

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 10:00:00.000000

Each audit row notes whose data it concerns, so that /mydata shows a member their rows and an
erasure anonymises them without reading every row. Rows written before this revision get
theirs from the ids in their details; rows of people erased before it lose what pointed at
them, as later erasures do.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ERASED = "erased"
POINTERS = ("member_id", "reporter_id", "identity_id")

audit_log = sa.table(
    "audit_log",
    sa.column("id", sa.Integer),
    sa.column("actor", sa.String),
    sa.column("details", sa.JSON),
    sa.column("subject", sa.String),
)
identities = sa.table("identities", sa.column("id", sa.Integer), sa.column("member_id", sa.Integer))
members = sa.table("members", sa.column("id", sa.Integer))
entries = sa.table("entries", sa.column("id", sa.Integer), sa.column("reporter_id", sa.Integer))


def _text(number: sa.ColumnElement[int]) -> sa.ColumnElement[str]:
    return sa.cast(number, sa.String)


def upgrade() -> None:
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.add_column(sa.Column('subject', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_audit_log_actor'), ['actor'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_log_subject'), ['subject'], unique=False)

    details = audit_log.c.details
    member_id = sa.func.coalesce(details["member_id"].as_integer(), details["reporter_id"].as_integer())
    identity_id = details["identity_id"].as_integer()
    entry_id = details["entry_id"].as_integer()
    owner = sa.select(identities.c.member_id).where(identities.c.id == identity_id).scalar_subquery()
    reporter = sa.select(entries.c.reporter_id).where(entries.c.id == entry_id).scalar_subquery()
    op.execute(
        audit_log.update().values(
            subject=sa.case(
                (member_id.is_not(None), "member:" + _text(member_id)),
                (owner.is_not(None), "member:" + _text(owner)),
                (identity_id.is_not(None), "identity:" + _text(identity_id)),
                (reporter.is_not(None), "member:" + _text(reporter)),
                else_=None,
            )
        )
    )

    # Past erasures: the actors and subjects that point at no one any more.
    known_actors = sa.select("identity:" + _text(identities.c.id))
    op.execute(
        audit_log.update()
        .where(audit_log.c.actor.like("identity:%"), audit_log.c.actor.not_in(known_actors))
        .values(actor=ERASED)
    )
    known_subjects = sa.union_all(
        sa.select("member:" + _text(members.c.id)), sa.select("identity:" + _text(identities.c.id))
    )
    connection = op.get_bind()
    gone = connection.execute(
        sa.select(audit_log.c.id, details).where(
            audit_log.c.subject.is_not(None), audit_log.c.subject.not_in(known_subjects)
        )
    ).all()
    for row_id, old in gone:
        connection.execute(
            audit_log.update()
            .where(audit_log.c.id == row_id)
            .values(subject=None, details={k: v for k, v in old.items() if k not in POINTERS})
        )


def downgrade() -> None:
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_log_subject'))
        batch_op.drop_index(batch_op.f('ix_audit_log_actor'))
        batch_op.drop_column('subject')
