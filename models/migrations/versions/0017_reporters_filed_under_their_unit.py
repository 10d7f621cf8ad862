"""reporters filed under their unit

"Who has not reported" counted a unit's reporters of the month by looking up each reporter's
member: about 100 ms for a commune of a hundred thousand members (issue 16). Each reported
month now names the member's unit (kept equal to members.unit_id: a move or a merge of two
registrations files the member's months under their new unit), and an index on (month, unit)
counts a unit's reporters from the index alone. It replaces the index on the month, which it
begins with. Filled here from the members' units.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05 00:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("reporter_months", schema=None) as batch_op:
        batch_op.add_column(sa.Column("unit_id", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE reporter_months SET unit_id = "
        "(SELECT members.unit_id FROM members WHERE members.id = reporter_months.member_id)"
    )
    with op.batch_alter_table("reporter_months", schema=None) as batch_op:
        batch_op.alter_column("unit_id", existing_type=sa.Integer(), nullable=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_reporter_months_unit_id_units"), "units", ["unit_id"], ["id"]
        )
        batch_op.drop_index(batch_op.f("ix_reporter_months_month"))
        batch_op.create_index(
            "ix_reporter_months_month_unit", ["month", "unit_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("reporter_months", schema=None) as batch_op:
        batch_op.drop_index("ix_reporter_months_month_unit")
        batch_op.create_index(batch_op.f("ix_reporter_months_month"), ["month"], unique=False)
        batch_op.drop_constraint(
            batch_op.f("fk_reporter_months_unit_id_units"), type_="foreignkey"
        )
        batch_op.drop_column("unit_id")
