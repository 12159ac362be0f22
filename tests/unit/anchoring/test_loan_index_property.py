"""Property (issue 13, must hold): for random interleavings of many loans' events appended
in groups of random sizes (group commit: several batches in one transaction), at every tree
size the log reached, on a real SQLite file:

- the stored loan index root equals `root_of` of the entries rebuilt from the leaves;
- every loan's index proof verifies against it to (count, last leaf index, last leaf hash)
  of its chain at that size, and a loan never seen gets a non-membership proof;
- every loan's chain verifies: loan_seq 1..k contiguous, each `loan_prev` the leaf hash of
  the record before, each leaf hash the hash of the stored bytes.
"""

from __future__ import annotations

import hashlib
import itertools
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anchoring.store import LogStore, Pending
from anchoring.tables import metadata
from cunzheng_verify.loanindex import loan_key, root_of, verify_proof
from cunzheng_verify.records import build_record, posted_hash, record_from_bytes
from service.db import make_engine
from tests.conftest import make_event

LOANS = [("bank-a", f"L-{i}") for i in range(9)] + [("bank-b", "L-0"), ("bank-b", "L-X")]
NOW = datetime(2026, 3, 2, tzinfo=UTC)

# a group: batches, each a list of loan numbers (one event per number)
groups = st.lists(st.lists(st.lists(st.integers(0, len(LOANS) - 1), min_size=1, max_size=6),
                           min_size=1, max_size=4), min_size=1, max_size=12)


def _pending(n: int, loan: int) -> Pending:
    tenant, loan_id = LOANS[loan]
    event = make_event(f"e-{n}", loan_id)
    return Pending(tenant, posted_hash(event), build_record(event, tenant=tenant, received_at=NOW,
                                                           salt=n.to_bytes(32, "big")))


def _check_at(store: LogStore, size: int) -> None:
    root = store.loan_index_root(size)
    assert root == root_of(store.loan_index_entries(size)), size
    assert root is not None
    for tenant, loan_id in LOANS:
        chain = store.loan_chain(tenant, loan_id, size)
        previous = None
        for seq, leaf in enumerate(chain, 1):
            assert leaf.record is not None and leaf.loan_seq == seq
            rec = record_from_bytes(leaf.record)
            assert rec.leaf_hash == leaf.leaf_hash == hashlib.sha256(
                b"\x00" + leaf.record).digest()
            assert (rec.loan_seq, rec.loan_prev, rec.loan_id) == (seq, previous, loan_id)
            previous = rec.leaf_hash
        proof = store.loan_index_proof(tenant, loan_id, size)
        assert proof.key == loan_key(tenant, loan_id)
        entry = verify_proof(proof, root)
        if not chain:
            assert entry is None
        else:
            assert entry is not None
            assert (entry.count, entry.last_index, entry.last_hash) == (
                len(chain), chain[-1].leaf_index, chain[-1].leaf_hash)


@settings(max_examples=50, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(plan=groups)
def test_every_size_has_the_rebuilt_root_and_every_loan_verifies(
        plan: list[list[list[int]]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'log.db'}")
        metadata.create_all(engine)
        store = LogStore(engine)
        counter = itertools.count()
        sizes = [0]
        for group in plan:
            outcomes = store.append_group(
                [([_pending(next(counter), loan) for loan in batch], None) for batch in group])
            assert all(isinstance(o, list) for o in outcomes)
            sizes.append(store.tree_size())
        assert sizes[-1] == sum(len(b) for g in plan for b in g)
        for size in sizes:  # every size a checkpoint could have been signed at
            _check_at(store, size)
        engine.dispose()
