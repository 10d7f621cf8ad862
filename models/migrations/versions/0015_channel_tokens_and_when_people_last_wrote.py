"""channel tokens, and when people last wrote

A channel whose platform rotates its tokens (an access token living a day, a refresh token
that works once) keeps them in the database, shared by every process; and each account
records when its person last wrote, since some platforms let the bot write first only for a
while after that.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04 21:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "channel_tokens",
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("access_token", sa.Text(), nullable=False),
        sa.Column("access_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refresh_token", sa.Text(), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("leased_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("channel", name=op.f("pk_channel_tokens")),
    )
    with op.batch_alter_table("identities", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_message_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("identities", schema=None) as batch_op:
        batch_op.drop_column("last_message_at")
    op.drop_table("channel_tokens")
