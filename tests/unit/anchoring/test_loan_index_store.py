"""The stored loan index (`anchoring.loan_index_store`) against the reference algorithm
(`cunzheng_verify.loanindex.root_of` and `prove`), on a real SQLite file: after every
transaction, and read back at every earlier version, the roots and proofs are exactly the
reference's; the node ids name positions; a node is written once per transaction."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, insert, select, update

from anchoring.errors import NotFound
from anchoring.loan_index_store import ROOT_ID, build_index, index_rows, node_id, sibling_id
from anchoring.store import LogStore, Pending
from anchoring.tables import loan_index_nodes, log_state
from cunzheng_verify.loanindex import EMPTY, Entry, loan_key, prove, root_of, verify_proof
from cunzheng_verify.merkle import EMPTY_ROOT
from cunzheng_verify.records import build_record, posted_hash
from service.db import make_engine, migrate
from tests.conftest import make_event


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'index.db'}")
    migrate(engine)
    with engine.begin() as conn:  # a log "of" 10**9 leaves, so any version can be read
        conn.execute(insert(log_state).values(id=1, tree_size=10**9, root=EMPTY_ROOT))
    yield engine
    engine.dispose()


def _write(store: LogStore, changes: list[Entry], version: int) -> None:
    """One transaction taking the "log" from the last version written to `version`."""
    before = getattr(store, "_test_version", 0)
    with store.engine.begin() as conn:
        store._update_loan_index(conn, {e.key: e for e in changes},
                                 (before, _h("head", before)), (version, _h("head", version)))
    store._test_version = version  # type: ignore[attr-defined]


def _h(*parts: object) -> bytes:
    return hashlib.sha256(repr(parts).encode()).digest()


def _key(prefix_bits: str, rest: int) -> bytes:
    """A key starting with the given bits, the rest from a counter."""
    value = int(prefix_bits, 2) << (256 - len(prefix_bits)) if prefix_bits else 0
    value |= int.from_bytes(_h(rest), "big") >> len(prefix_bits)
    return value.to_bytes(32, "big")


def test_node_ids_name_positions() -> None:
    key = bytes([0b1011_0110]) + bytes(31)
    assert node_id(0, key) == ROOT_ID == b"\x00\x00"
    assert node_id(3, key) == b"\x00\x03" + bytes([0b1010_0000])
    assert node_id(8, key) == b"\x00\x08" + bytes([0b1011_0110])
    assert node_id(256, key) == b"\x01\x00" + key
    assert sibling_id(3, key) == b"\x00\x03" + bytes([0b1000_0000])
    assert sibling_id(1, key) == node_id(1, bytes(32))
    # every position on a path, and its sibling, has its own id
    ids = {node_id(d, key) for d in range(257)} | {sibling_id(d, key) for d in range(1, 257)}
    assert len(ids) == 257 + 256


def test_an_empty_index_and_one_entry(engine: Engine) -> None:
    store = LogStore(engine)
    assert store.loan_index_root(0) == EMPTY
    proof = store.loan_index_proof("bank-a", "L-1", 0)
    assert proof.siblings == () and proof.entry is None
    assert store.loan_index_root(5) is None  # no index was kept at 5
    with pytest.raises(NotFound, match="no loan index at tree size 5"):
        store.loan_index_proof("bank-a", "L-1", 5)
    one = Entry(loan_key("bank-a", "L-1"), 1, 9, _h(9))
    _write(store, [one], 10)
    assert store.loan_index_root(10) == one.hash == root_of([one])
    assert store.loan_index_root(9) is None
    assert store.loan_index_proof("bank-a", "L-1", 10) == prove([one], one.key)
    assert verify_proof(store.loan_index_proof("bank-a", "L-2", 10), one.hash) is None
    with pytest.raises(NotFound, match="beyond the log's size"):
        store.loan_index_root(10**9 + 1)


def _check(store: LogStore, states: dict[int, dict[bytes, Entry]], probes: list[bytes]) -> None:
    for version, state in states.items():
        entries = list(state.values())
        assert store.loan_index_root(version) == root_of(entries), version
        for key in [*probes, *list(state)[:20]]:
            assert store.loan_index_proof_for_key(key, version) == prove(entries, key), version


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_transactions_match_the_reference_at_every_version(engine: Engine,
                                                                  seed: int) -> None:
    rng = random.Random(seed)
    store = LogStore(engine)
    # keys with long shared prefixes as well as random ones: deep paths and collapsed chains
    pool = ([_key("", i) for i in range(60)] + [_key("1011" * 10, i) for i in range(8)]
            + [_key("0" * 200, i) for i in range(4)])
    flip_last = bytearray(pool[-1])
    flip_last[31] ^= 1
    pool.append(bytes(flip_last))  # differs from another key in bit 255 alone
    state: dict[bytes, Entry] = {}
    states: dict[int, dict[bytes, Entry]] = {}
    version = 0
    for _ in range(40):
        changed = rng.sample(pool, rng.choice([1, 1, 2, 3, 8, 20]))
        for key in changed:
            old = state.get(key)
            version += 1
            state[key] = Entry(key, 1 if old is None else old.count + 1, version, _h(version))
        _write(store, [state[k] for k in changed], version)
        states[version] = dict(state)
    probes = [pool[0], pool[-1], pool[-2], _key("1011" * 10, 999), _key("", 10**6)]
    _check(store, states, probes)


def test_a_transaction_writes_each_node_once_and_only_its_paths(engine: Engine) -> None:
    store = LogStore(engine)
    first = [Entry(_key("", i), 1, i, _h(i)) for i in range(64)]
    _write(store, first, 64)
    rows_before = _count(engine)
    assert rows_before == len(index_rows(first, 64))  # all of it, once
    _write(store, [Entry(first[5].key, 2, 64, _h("x"))], 65)
    with engine.connect() as conn:
        written = conn.execute(select(loan_index_nodes.c.node_id)
                               .where(loan_index_nodes.c.version == 65)).all()
    depth = len(store.loan_index_proof_for_key(first[5].key, 65).siblings)
    assert len(written) == depth + 1  # the path to the entry and nothing else
    assert store.loan_index_root(64) == root_of(first)  # the old version reads as it was


def test_the_index_is_built_whole_by_index_rows(engine: Engine) -> None:
    store = LogStore(engine)
    entries = [Entry(_key("", i), i + 1, i, _h(i)) for i in range(100)]
    with engine.begin() as conn:
        conn.execute(insert(loan_index_nodes), index_rows(entries, 500))
    store._test_version = 500  # type: ignore[attr-defined]
    assert store.loan_index_root(500) == root_of(entries)
    assert store.loan_index_proof_for_key(entries[7].key, 500) == prove(entries, entries[7].key)
    # and grows from there
    more = Entry(_key("", 1000), 1, 500, _h(1000))
    _write(store, [more], 501)
    assert store.loan_index_root(501) == root_of([*entries, more])


def test_a_whole_build_is_written_in_bounded_chunks() -> None:
    entries = [Entry(_key("", i), 1, i, _h(i)) for i in range(50)]
    chunks: list[list[dict[str, object]]] = []
    root = build_index(entries, 9, chunks.append, chunk=7)
    assert root == root_of(entries) and all(1 <= len(c) <= 7 for c in chunks)
    assert [row for c in chunks for row in c] == index_rows(entries, 9)
    assert build_index([], 9, chunks.append) == EMPTY


def _count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(loan_index_nodes)).scalar_one())


def test_without_the_index_nothing_is_written(engine: Engine) -> None:
    store = LogStore(engine, loan_index=False)
    _write(store, [Entry(_key("", 1), 1, 0, _h(1))], 1)
    assert _count(engine) == 0 and store.loan_index_root(1) is None


def test_a_damaged_stored_node_changes_the_root_read(engine: Engine) -> None:
    """Reads take what is stored: fsck, not the reader, compares it with the leaves."""
    store = LogStore(engine)
    entries = [Entry(_key("", i), 1, i, _h(i)) for i in range(10)]
    _write(store, entries, 10)
    with engine.begin() as conn:
        conn.execute(update(loan_index_nodes).where(loan_index_nodes.c.node_id == ROOT_ID)
                     .values(hash=b"\x01" * 32))
    assert store.loan_index_root(10) == b"\x01" * 32 != root_of(entries)


# --- through LogStore.append: the update in the append transaction -------------------------


def _pending(event_id: str, loan: str) -> Pending:
    event = make_event(event_id, loan)
    return Pending("bank-a", posted_hash(event), build_record(
        event, tenant="bank-a", received_at=datetime(2026, 3, 2, tzinfo=UTC), salt=bytes(32)))


def _rebuilt_root(store: LogStore, size: int) -> bytes:
    return root_of(store.loan_index_entries(size))


@pytest.fixture
def log_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'log.db'}")
    migrate(engine)
    yield engine
    engine.dispose()


def test_two_writers_and_a_rolled_back_transaction_keep_the_index_right(
    log_engine: Engine, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each store keeps the newest upper nodes between its transactions: another writer's
    appends, and its own transaction rolled back after the index was written, must not
    leave it stale."""
    one, two = LogStore(log_engine), LogStore(log_engine)
    loans = [f"L-{i}" for i in range(12)]
    n = 0
    for round_ in range(6):
        for store in (one, two, one, one, two):
            store.append([_pending(f"e{n}", loans[n % len(loans)]),
                          _pending(f"f{n}", loans[(n * 7) % len(loans)])])
            n += 1
            size = store.tree_size()
            assert store.loan_index_root(size) == _rebuilt_root(store, size)
        # a transaction of `one` that fails after its index rows were written
        monkeypatch.setattr(LogStore, "_update_loan_index", _fail_after_index)
        with pytest.raises(RuntimeError):
            one.append([_pending(f"x{round_}", loans[round_])])
        monkeypatch.undo()
        size = one.tree_size()
        assert one.loan_index_root(size) == _rebuilt_root(one, size)
        # the other writer takes the log to the size the rolled-back transaction would have
        # left it at, with other leaves; then `one` writes on top of that
        two.append([_pending(f"y{round_}", loans[round_])])
        one.append([_pending(f"z{round_}", loans[round_ + 1])])
        size = one.tree_size()
        assert one.loan_index_root(size) == _rebuilt_root(one, size)
    for loan in loans:
        proof = one.loan_index_proof("bank-a", loan, one.tree_size())
        entry = verify_proof(proof, _rebuilt_root(one, one.tree_size()))
        chain = one.loan_chain("bank-a", loan, one.tree_size())
        assert entry is not None and entry.count == len(chain)
        assert (entry.last_index, entry.last_hash) == (chain[-1].leaf_index, chain[-1].leaf_hash)


_real_update = LogStore._update_loan_index


def _fail_after_index(self: LogStore, *args: Any) -> None:
    _real_update(self, *args)
    raise RuntimeError("disk gone after the index")
