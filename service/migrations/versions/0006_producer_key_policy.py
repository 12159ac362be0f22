"""producer key retirement and per-tenant producer-signature policy

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('producer_keys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('retired_at', sa.String(length=32), nullable=True))
    op.create_table('producer_policies',
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('require_signatures', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('tenant', name=op.f('pk_producer_policies'))
    )


def downgrade() -> None:
    op.drop_table('producer_policies')
    with op.batch_alter_table('producer_keys', schema=None) as batch_op:
        batch_op.drop_column('retired_at')
