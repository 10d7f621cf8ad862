"""how many members each unit has

"Who has not reported" in the whole province counted every member: about 50 ms on PostgreSQL
with two million members (issue 16). Each unit now keeps how many members are in it, kept by
every registration, move, merge of two registrations and erasure; counted here from the
members.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05 01:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("units", schema=None) as batch_op:
        batch_op.add_column(sa.Column("members", sa.Integer(), server_default="0", nullable=False))
    op.execute(
        "UPDATE units SET members = "
        "(SELECT count(*) FROM members WHERE members.unit_id = units.id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("units", schema=None) as batch_op:
        batch_op.drop_column("members")
