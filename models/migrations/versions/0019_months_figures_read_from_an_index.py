"""months' figures read from an index

The province's figures of a range of months (this year, the twelve months of the chart) read
each month's rows of stat_totals through the index on (month, unit) and then looked each up
in the table: this year's took 17 ms on SQLite at p50 in December (31 ms p95, the query
nearest the 50 ms target at national scale, issue 16). The index now holds the kind, the
status and the figures too, so those queries read it alone. It replaces the index on
(month, unit), which it begins with.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05 01:25:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FIGURES = (
    "entries",
    "participants",
    "volunteer_hours",
    "beneficiaries",
    "jobs",
    "revenue",
    "budget",
    "mobilised",
    "models_replicated",
)


def upgrade() -> None:
    with op.batch_alter_table("stat_totals", schema=None) as batch_op:
        batch_op.drop_index("ix_stat_totals_month")
        batch_op.create_index(
            "ix_stat_totals_month_figures",
            ["month", "unit_id", "kind", "status", *FIGURES],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("stat_totals", schema=None) as batch_op:
        batch_op.drop_index("ix_stat_totals_month_figures")
        batch_op.create_index("ix_stat_totals_month", ["month", "unit_id"], unique=False)
