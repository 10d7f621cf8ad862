"""accounts joined by link codes; the account a member wrote from last

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 22:30:00.000000

A person may use the bot on several channels (/link joins the accounts to one member); a
notice goes to the account they wrote from last (members.account_id). Until they write
again, that is the newest of their accounts, as before.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('members') as batch:
        batch.add_column(sa.Column('account_id', sa.Integer(), nullable=True))
    op.execute(
        "UPDATE members SET account_id = "
        "(SELECT max(identities.id) FROM identities WHERE identities.member_id = members.id)"
    )
    op.create_table(
        'link_codes',
        sa.Column('code', sa.String(length=16), nullable=False),
        sa.Column('member_id', sa.Integer(), nullable=False),
        sa.Column('identity_id', sa.Integer(), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ['identity_id'], ['identities.id'], name=op.f('fk_link_codes_identity_id_identities')
        ),
        sa.ForeignKeyConstraint(
            ['member_id'], ['members.id'], name=op.f('fk_link_codes_member_id_members')
        ),
        sa.PrimaryKeyConstraint('code', name=op.f('pk_link_codes')),
    )
    with op.batch_alter_table('link_codes') as batch:
        batch.create_index(batch.f('ix_link_codes_member_id'), ['member_id'], unique=False)


def downgrade() -> None:
    op.drop_table('link_codes')
    with op.batch_alter_table('members') as batch:
        batch.drop_column('account_id')
