"""Migrations 0007 and 0008 on a log of v1 records (SQLite file and PostgreSQL): loan_seq is
backfilled in leaf order per loan, the loan index is built at the log's size, the loans
continue with v2 records whose chain follows their v1 records, checkpoints signed from then
on carry the index root, and the older checkpoint keeps its three lines."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic import command
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, text

from anchoring.errors import NotFound
from anchoring.log import EvidenceLog
from anchoring.store import LogStore, StoredCheckpoint
from cunzheng_verify import merkle
from cunzheng_verify.loanindex import root_of, verify_proof
from cunzheng_verify.notes import Checkpoint, Signer, parse_checkpoint, sign_checkpoint
from cunzheng_verify.records import build_record, posted_hash, record_from_bytes
from service.db import alembic_config, make_engine, migrate
from tests.conftest import make_event

NOW = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)
# (tenant, loan) of each v1 leaf, in leaf order
V1_LEAVES = [("bank-a", "L-1"), ("bank-a", "L-2"), ("bank-a", "L-1"), ("bank-b", "L-1"),
             ("bank-a", "L-1"), ("bank-a", "L-2")]


def _upgrade(engine: Engine, revision: str) -> None:
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def _downgrade(engine: Engine, revision: str) -> None:
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def _v1_log(engine: Engine, signer: Signer) -> list[bytes]:
    """A log as revision 0006 kept it: v1 records, their tree, one checkpoint at size 4."""
    tree = merkle.MemoryTree()
    hashes = []
    with engine.begin() as conn:
        for i, (tenant, loan) in enumerate(V1_LEAVES):
            event = make_event(f"v1-{i}", loan)
            rec = build_record(event, tenant=tenant, received_at=NOW, salt=bytes([i]) * 32)
            assert record_from_bytes(rec.data).loan_seq is None  # a v1 record
            conn.execute(text(
                "INSERT INTO leaves (leaf_index, leaf_hash, tenant, event_id, loan_id, "
                "event_type, posted_hash, received_at, record) VALUES (:i, :h, :t, :e, :l, "
                ":ty, :p, :r, :d)"), {"i": i, "h": rec.leaf_hash, "t": tenant, "e": rec.event_id,
                                       "l": loan, "ty": rec.type, "p": posted_hash(event),
                                       "r": rec.received_at, "d": rec.data})
            for level, idx, h in tree.append(rec.leaf_hash):
                conn.execute(text("INSERT INTO nodes (level, idx, hash) VALUES (:a, :b, :c)"),
                             {"a": level, "b": idx, "c": h})
            hashes.append(rec.leaf_hash)
            if i == 3:
                note = sign_checkpoint(Checkpoint("test/log", 4, tree.root()), signer)
                conn.execute(text("INSERT INTO checkpoints (tree_size, root, note, signed_at) "
                                  "VALUES (4, :r, :n, '2026-03-02T01:30:00Z')"),
                             {"r": tree.root(), "n": note})
        conn.execute(text("INSERT INTO log_state (id, tree_size, root) VALUES (1, :n, :r)"),
                     {"n": len(V1_LEAVES), "r": tree.root()})
    return hashes


def test_a_v1_log_migrates_and_its_loans_continue_in_v2(database_url: str) -> None:
    engine = make_engine(database_url)
    signer = Signer("test/log", Ed25519PrivateKey.generate())
    _upgrade(engine, "0006")
    v1 = _v1_log(engine, signer)
    migrate(engine)
    store = LogStore(engine)
    size = len(V1_LEAVES)

    # loan_seq in leaf order per loan
    chain = store.loan_chain("bank-a", "L-1", size)
    assert [(leaf.leaf_index, leaf.loan_seq) for leaf in chain] == [(0, 1), (2, 2), (4, 3)]
    assert [leaf.loan_seq for leaf in store.loan_chain("bank-b", "L-1", size)] == [1]
    # the index, built at the log's size and nowhere before it
    root = store.loan_index_root(size)
    assert root is not None and root == root_of(store.loan_index_entries(size))
    entry = verify_proof(store.loan_index_proof("bank-a", "L-1", size), root)
    assert entry is not None and (entry.count, entry.last_index, entry.last_hash) == (3, 4, v1[4])
    assert store.loan_index_root(4) is None
    with pytest.raises(NotFound, match="no loan index at tree size 4"):
        store.loan_index_proof("bank-a", "L-1", 4)

    # the loans continue with v2 records chained to their v1 records
    log = EvidenceLog(store, signer, "test/log", clock=lambda: NOW)
    log.submit("bank-a", [make_event("v2-a", "L-1"), make_event("v2-b", "L-3")])
    records = [record_from_bytes(leaf.record or b"")
               for leaf in store.loan_chain("bank-a", "L-1", size + 2)]
    assert [(r.loan_seq, r.loan_prev) for r in records] == [(None, None)] * 3 + [(4, v1[4])]
    assert [leaf.loan_seq for leaf in store.loan_chain("bank-a", "L-1", size + 2)] == [1, 2, 3, 4]
    assert store.loan_index_root(size + 2) == root_of(store.loan_index_entries(size + 2))

    # checkpoints: the new one carries the index root, the old one keeps its three lines
    cp = log.sign_checkpoint_if_grown()
    assert isinstance(cp, StoredCheckpoint) and cp.tree_size == size + 2
    assert parse_checkpoint(cp.note)[0].loan_index_root == store.loan_index_root(size + 2)
    old = parse_checkpoint(store.checkpoint(4).note)[0]
    assert old.extensions == () and old.loan_index_root is None

    # and back: 0006's tables again, the v1 rows kept
    _downgrade(engine, "0006")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM leaves")).scalar_one() == size + 2
    engine.dispose()


def test_an_empty_log_migrates_to_an_empty_index(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate(engine)
    store = LogStore(engine)
    assert store.loan_index_root(0) == bytes(32)
    store.append([])  # nothing to append: nothing written
    assert store.tree_size() == 0
    engine.dispose()
