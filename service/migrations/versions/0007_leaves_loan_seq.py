"""leaves.loan_seq: each record's place in its loan (record v2, issue 13)

Records appended from now on are `cunzheng.event/v2` and carry `loan_seq` in their bytes;
the records already stored (v1) get the same count in the column, in leaf order per
(tenant, loan_id), so a loan that has v1 records continues with the next number. The
unique (tenant, loan_id, loan_seq) index reads a loan's head in one seek and replaces the
(tenant, loan_id) index, which is its prefix.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('leaves', schema=None) as batch_op:
        batch_op.add_column(sa.Column('loan_seq', sa.BigInteger(), nullable=True))
    # leaf order per loan; UPDATE ... FROM runs on PostgreSQL and on SQLite 3.33 and later
    op.execute(
        "UPDATE leaves SET loan_seq = s.seq FROM (SELECT leaf_index AS i, ROW_NUMBER() OVER "
        "(PARTITION BY tenant, loan_id ORDER BY leaf_index) AS seq FROM leaves) AS s "
        "WHERE leaves.leaf_index = s.i")
    with op.batch_alter_table('leaves', schema=None) as batch_op:
        batch_op.alter_column('loan_seq', existing_type=sa.BigInteger(), nullable=False)
        batch_op.create_unique_constraint('uq_leaves_tenant_loan_seq',
                                          ['tenant', 'loan_id', 'loan_seq'])
        batch_op.drop_index('ix_leaves_tenant_loan')


def downgrade() -> None:
    with op.batch_alter_table('leaves', schema=None) as batch_op:
        batch_op.create_index('ix_leaves_tenant_loan', ['tenant', 'loan_id'], unique=False)
        batch_op.drop_constraint('uq_leaves_tenant_loan_seq', type_='unique')
        batch_op.drop_column('loan_seq')
