"""The evidence log's tables (SQLAlchemy 2 Core). Alembic migrations in
`service/migrations` create them; a test checks the two never drift apart. The service's
own tables (API keys, verification log, page sessions) are in `service.tables`, on this
same `metadata`.

`nodes` keeps every complete subtree hash (level 0 are the leaf hashes), so any root or
proof is O(log n) indexed reads; `log_state` is the single row writers lock to sequence
leaves with no gap and no duplicate. `loan_index_nodes` keeps every version of the loan
index's nodes (`anchoring.loan_index_store`).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

log_state = Table(
    "log_state",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("tree_size", BigInteger, nullable=False),
    Column("root", LargeBinary(32), nullable=False),
)

leaves = Table(
    "leaves",
    metadata,
    Column("leaf_index", BigInteger, primary_key=True, autoincrement=False),
    Column("leaf_hash", LargeBinary(32), nullable=False),
    Column("tenant", String(64), nullable=False),
    Column("event_id", String(128), nullable=False),
    Column("loan_id", String(128), nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("posted_hash", String(64), nullable=False),
    Column("received_at", String(32), nullable=False),
    # NULL once the loan's personal data is erased; the leaf hash stays.
    Column("record", LargeBinary, nullable=True),
    # the record's place in its loan (1, 2, 3... in leaf order): record v2's `loan_seq`, and
    # for v1 records the same count kept beside them (migration 0007)
    Column("loan_seq", BigInteger, nullable=False),
    UniqueConstraint("tenant", "event_id", name="uq_leaves_tenant_event_id"),
    # a loan's leaves in order, and its head (the highest loan_seq) in one index seek
    UniqueConstraint("tenant", "loan_id", "loan_seq", name="uq_leaves_tenant_loan_seq"),
    Index("ix_leaves_leaf_hash", "leaf_hash"),
)

nodes = Table(
    "nodes",
    metadata,
    Column("level", SmallInteger, primary_key=True, autoincrement=False),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary(32), nullable=False),
)

checkpoints = Table(
    "checkpoints",
    metadata,
    Column("tree_size", BigInteger, primary_key=True, autoincrement=False),
    Column("root", LargeBinary(32), nullable=False),
    Column("note", Text, nullable=False),
    Column("signed_at", String(32), nullable=False),
)

documents = Table(
    "documents",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("media_type", String(128), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("content", LargeBinary, nullable=True),
    Column("created_at", String(32), nullable=False),
    # the document's own data key wrapped by the master key (NULL: stored in the clear)
    Column("wrapped_key", LargeBinary, nullable=True),
    Column("master_key_id", String(16), nullable=True),
    Column("erased_at", String(32), nullable=True),
)

document_tenants = Table(
    "document_tenants",
    metadata,
    Column("sha256", String(64), ForeignKey("documents.sha256"), primary_key=True),
    Column("tenant", String(64), primary_key=True),
)

producer_keys = Table(
    "producer_keys",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("key_id", String(16), primary_key=True),
    Column("public_key", LargeBinary(32), nullable=False),
    Column("created_at", String(32), nullable=False),
    # a retired key signs no new event; its public key stays so old events still verify
    Column("retired_at", String(32), nullable=True),
)

# a tenant's explicit choice; without a row, signatures are required once it has a key
producer_policies = Table(
    "producer_policies",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("require_signatures", Boolean, nullable=False),
    Column("updated_at", String(32), nullable=False),
)

# --- anchoring (issue 3) ------------------------------------------------------------------

anchors = Table(
    "anchors",
    metadata,
    Column("tree_size", BigInteger, primary_key=True, autoincrement=False),
    Column("root", LargeBinary(32), nullable=False),
    Column("previous_size", BigInteger, nullable=False),
    Column("chain_id", BigInteger, nullable=False),
    Column("contract", String(42), nullable=False),
    Column("tx_hash", String(66), nullable=False),
    # submitted -> included -> final; back to submitted on a reorg or a dropped transaction
    Column("status", String(16), nullable=False),
    Column("block_number", BigInteger, nullable=True),
    Column("block_hash", String(66), nullable=True),
    Column("block_time", String(32), nullable=True),
    Column("confirmations", Integer, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("submitted_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
    Column("note", Text, nullable=True),
)

cosignatures = Table(
    "cosignatures",
    metadata,
    Column("tree_size", BigInteger, primary_key=True, autoincrement=False),
    Column("witness", String(42), primary_key=True),
    Column("tx_hash", String(66), nullable=False),
    Column("block_number", BigInteger, nullable=False),
)

job_state = Table(
    "job_state",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(64), nullable=True),
    Column("expires_at", BigInteger, nullable=True),  # lease expiry, unix ms
    Column("value", Text, nullable=True),
)

# --- encryption at rest and erasure (issue 7) -----------------------------------------------

data_keys = Table(
    "data_keys",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("loan_id", String(128), primary_key=True),
    # the loan's data key wrapped by the master key; NULL once erased (crypto-shredding)
    Column("wrapped", LargeBinary, nullable=True),
    Column("master_key_id", String(16), nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("erased_at", String(32), nullable=True),
)

# --- the loan index (issue 13) --------------------------------------------------------------

# A node of the loan index (`cunzheng_verify.loanindex`) as written by the transaction that
# left the log at `version` leaves (`anchoring.loan_index_store`). `kind` "node": a subtree
# of two or more entries, with each child's hash and the version its row was written at
# (NULL: an empty child); "entry": a single-entry subtree, with its entry. Clustered by
# version: a transaction's rows are written together (WITHOUT ROWID on SQLite).
loan_index_nodes = Table(
    "loan_index_nodes",
    metadata,
    Column("version", BigInteger, primary_key=True, autoincrement=False),
    Column("node_id", LargeBinary(34), primary_key=True),  # u16be depth || path prefix
    Column("kind", String(8), nullable=False),
    Column("hash", LargeBinary(32), nullable=False),
    Column("left_hash", LargeBinary(32), nullable=True),
    Column("right_hash", LargeBinary(32), nullable=True),
    Column("left_version", BigInteger, nullable=True),
    Column("right_version", BigInteger, nullable=True),
    Column("entry_key", LargeBinary(32), nullable=True),
    Column("entry_count", BigInteger, nullable=True),
    Column("entry_last_index", BigInteger, nullable=True),
    Column("entry_last_hash", LargeBinary(32), nullable=True),
    sqlite_with_rowid=False,
)

record_documents = Table(
    "record_documents",
    metadata,
    Column("leaf_index", BigInteger, primary_key=True, autoincrement=False),
    Column("sha256", String(64), primary_key=True),
    Index("ix_record_documents_sha256", "sha256"),
)
