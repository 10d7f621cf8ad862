"""the Youth Federation's name as it is written

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 09:00:00.000000

The shipped unit tree wrote "Hội Liên hiệp thanh niên Việt Nam tỉnh Lạng Sơn"; the
organisation writes "Thanh niên" with a capital T. Databases made from the old tree get the
name as written, unless an operator renamed the unit meanwhile (then it is theirs).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CODE = "ls-hoi-lhtn"
OLD = "Hội Liên hiệp thanh niên Việt Nam tỉnh Lạng Sơn"
NEW = "Hội Liên hiệp Thanh niên Việt Nam tỉnh Lạng Sơn"


def _rename(before: str, after: str) -> None:
    # The folded search name is the same either way: only the name changes.
    op.execute(
        sa.text("UPDATE units SET name = :after WHERE code = :code AND name = :before").bindparams(
            after=after, code=CODE, before=before
        )
    )


def upgrade() -> None:
    _rename(OLD, NEW)


def downgrade() -> None:
    _rename(NEW, OLD)
