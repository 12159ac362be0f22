"""verification access log

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('verification_log',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True,
              nullable=False),
    sa.Column('at', sa.String(length=32), nullable=False),
    sa.Column('key_id', sa.String(length=32), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('subject', sa.String(length=300), nullable=True),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_verification_log'))
    )
    with op.batch_alter_table('verification_log', schema=None) as batch_op:
        batch_op.create_index('ix_verification_log_key_id', ['key_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('verification_log', schema=None) as batch_op:
        batch_op.drop_index('ix_verification_log_key_id')

    op.drop_table('verification_log')
