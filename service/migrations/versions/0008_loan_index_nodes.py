"""loan_index_nodes: the loan index kept with the log (issue 13)

Creates the versioned node table and builds the index of every loan in the log at the
log's current size, from the leaves' columns (each loan's count of leaves and its last leaf
index and hash): the index exists from that size on, and checkpoints signed from then on
carry its root. Older checkpoints simply have no index line.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def _build_index() -> None:
    # the algorithm is cunzheng_verify.loanindex's (consensus-critical, never changes) and the
    # rows are written as anchoring.loan_index_store names them, a few thousand at a time
    from anchoring.loan_index_store import build_index
    from anchoring.sql import as_bytes
    from cunzheng_verify.loanindex import Entry, loan_key

    bind = op.get_bind()
    size = bind.execute(sa.text("SELECT tree_size FROM log_state WHERE id = 1")).scalar()
    if not size:
        return
    heads: dict[tuple[str, str], tuple[int, int, bytes]] = {}
    rows = bind.execute(sa.text(
        "SELECT tenant, loan_id, leaf_index, leaf_hash FROM leaves WHERE leaf_index < :n "
        "ORDER BY leaf_index").execution_options(stream_results=True, yield_per=10_000),
        {"n": size})
    for tenant, loan, index, h in rows:
        count = heads.get((tenant, loan), (0, 0, b""))[0]
        heads[(tenant, loan)] = (count + 1, int(index), as_bytes(h))
    entries = [Entry(loan_key(t, loan), c, i, h) for (t, loan), (c, i, h) in heads.items()]
    del heads
    table = sa.table("loan_index_nodes", *(sa.column(c) for c in (
        "version", "node_id", "kind", "hash", "left_hash", "right_hash", "left_version",
        "right_version", "entry_key", "entry_count", "entry_last_index", "entry_last_hash")))
    build_index(entries, int(size), lambda chunk: op.bulk_insert(table, chunk))


def upgrade() -> None:
    op.create_table('loan_index_nodes',
    sa.Column('version', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('node_id', sa.LargeBinary(length=34), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('left_hash', sa.LargeBinary(length=32), nullable=True),
    sa.Column('right_hash', sa.LargeBinary(length=32), nullable=True),
    sa.Column('left_version', sa.BigInteger(), nullable=True),
    sa.Column('right_version', sa.BigInteger(), nullable=True),
    sa.Column('entry_key', sa.LargeBinary(length=32), nullable=True),
    sa.Column('entry_count', sa.BigInteger(), nullable=True),
    sa.Column('entry_last_index', sa.BigInteger(), nullable=True),
    sa.Column('entry_last_hash', sa.LargeBinary(length=32), nullable=True),
    sa.PrimaryKeyConstraint('version', 'node_id', name=op.f('pk_loan_index_nodes')),
    sqlite_with_rowid=False,
    )
    _build_index()


def downgrade() -> None:
    op.drop_table('loan_index_nodes')
