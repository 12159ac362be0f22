"""encryption at rest, erasure, record documents

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def _backfill_record_documents() -> None:
    """Index which documents the records stored so far cite (they are plaintext before
    this revision, so their `documents` lists can be read)."""
    import json

    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT leaf_index, record FROM leaves WHERE record IS NOT NULL"))
    index = sa.table("record_documents", sa.column("leaf_index", sa.BigInteger),
                     sa.column("sha256", sa.String))
    batch = []
    for leaf_index, record in rows:
        raw = record.encode() if isinstance(record, str) else bytes(record)
        for sha in sorted({d["sha256"] for d in json.loads(raw).get("documents", [])}):
            batch.append({"leaf_index": leaf_index, "sha256": sha})
    if batch:
        op.bulk_insert(index, batch)


def upgrade() -> None:

    op.create_table('data_keys',
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('loan_id', sa.String(length=128), nullable=False),
    sa.Column('wrapped', sa.LargeBinary(), nullable=True),
    sa.Column('master_key_id', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.String(length=32), nullable=False),
    sa.Column('erased_at', sa.String(length=32), nullable=True),
    sa.PrimaryKeyConstraint('tenant', 'loan_id', name=op.f('pk_data_keys'))
    )
    op.create_table('record_documents',
    sa.Column('leaf_index', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('leaf_index', 'sha256', name=op.f('pk_record_documents'))
    )
    with op.batch_alter_table('record_documents', schema=None) as batch_op:
        batch_op.create_index('ix_record_documents_sha256', ['sha256'], unique=False)

    _backfill_record_documents()
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('wrapped_key', sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column('master_key_id', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('erased_at', sa.String(length=32), nullable=True))




def downgrade() -> None:

    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.drop_column('erased_at')
        batch_op.drop_column('master_key_id')
        batch_op.drop_column('wrapped_key')

    with op.batch_alter_table('record_documents', schema=None) as batch_op:
        batch_op.drop_index('ix_record_documents_sha256')

    op.drop_table('record_documents')
    op.drop_table('data_keys')

