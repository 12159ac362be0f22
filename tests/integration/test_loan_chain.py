"""Record v2 through the log on a real database (SQLite file and PostgreSQL): every new
record carries its loan's chain (`loan_seq`, `loan_prev`) inside its bytes, assigned in the
append transaction; group commit, replays, conflicts and refused batches leave the chain
contiguous; the receipt's leaf hash is the stored bytes' leaf hash."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

import pytest

from anchoring.errors import Conflict
from anchoring.store import BatchItemError, LogStore, Pending
from cunzheng_verify.records import Record, build_record, posted_hash, record_from_bytes
from service.context import AppContext, build_context
from service.db import make_engine, migrate
from service.settings import Settings
from tests.conftest import make_event

NOW = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)


@pytest.fixture
def store(database_url: str) -> Iterator[LogStore]:
    engine = make_engine(database_url)
    migrate(engine)
    yield LogStore(engine)
    engine.dispose()


def _pending(event_id: str, loan: str, tenant: str = "bank-a", **changes: object) -> Pending:
    event = make_event(event_id, loan, **changes)
    return Pending(tenant, posted_hash(event),
                   build_record(event, tenant=tenant, received_at=NOW, salt=bytes(32)))


def check_chain(store: LogStore, tenant: str, loan: str) -> list[Record]:
    """The loan's records in loan_seq order, checked: seq 1..k, every `loan_prev` the leaf
    hash of the record before, the columns equal to the record."""
    chain = store.loan_chain(tenant, loan, store.tree_size())
    records = []
    previous = None
    for seq, leaf in enumerate(chain, 1):
        assert leaf.record is not None
        rec = record_from_bytes(leaf.record)
        assert rec.leaf_hash == leaf.leaf_hash == hashlib.sha256(b"\x00" + leaf.record).digest()
        assert (rec.loan_seq, leaf.loan_seq, rec.loan_prev) == (seq, seq, previous)
        assert (rec.tenant, rec.loan_id) == (tenant, loan)
        previous = rec.leaf_hash
        records.append(rec)
    return records


def test_new_records_are_v2_and_chain_per_loan_in_arrival_order(store: LogStore) -> None:
    first = store.append([_pending("a1", "L-A"), _pending("b1", "L-B"), _pending("a2", "L-A")])
    second = store.append([_pending("a3", "L-A"), _pending("b1", "L-B", tenant="bank-b")])
    a = check_chain(store, "bank-a", "L-A")
    assert [r.event_id for r in a] == ["a1", "a2", "a3"]
    assert [r.leaf_hash for r in a] == [first[0].leaf_hash, first[2].leaf_hash,
                                        second[0].leaf_hash]
    assert [json.loads(r.data)["schema"] for r in a] == ["cunzheng.event/v2"] * 3
    assert [r.event_id for r in check_chain(store, "bank-a", "L-B")] == ["b1"]
    # another tenant's loan of the same id is its own chain
    assert [r.loan_seq for r in check_chain(store, "bank-b", "L-B")] == [1]
    # the receipt's hash is the stored record's, and the chain stops at a tree size
    assert store.leaf(first[2].leaf_index).leaf_hash == first[2].leaf_hash
    assert [x.event_id for x in store.loan_chain("bank-a", "L-A", 3)] == ["a1", "a2"]
    assert store.loan_chain("bank-a", "L-NONE", 5) == []


def test_a_group_counts_earlier_batches_and_a_refused_batch_takes_no_place(
    store: LogStore,
) -> None:
    store.append([_pending("x0", "L-1")])
    outcomes = store.append_group([
        ([_pending("x1", "L-1"), _pending("x2", "L-1")], None),
        ([_pending("x3", "L-1"), _pending("x0", "L-1", type_="contract_signed")], None),
        ([_pending("x4", "L-1"), _pending("x1", "L-1")], None),  # x1: a replay of batch 1
    ])
    assert isinstance(outcomes[1], BatchItemError)
    assert isinstance(outcomes[1].error, Conflict)
    chain = check_chain(store, "bank-a", "L-1")
    assert [r.event_id for r in chain] == ["x0", "x1", "x2", "x4"]
    third = outcomes[2]
    assert isinstance(third, list) and third[1].replay
    first = outcomes[0]
    assert isinstance(first, list) and third[1].leaf_hash == first[0].leaf_hash
    assert third[0].leaf_hash == chain[3].leaf_hash


def test_a_replay_keeps_its_first_chain(store: LogStore) -> None:
    [one] = store.append([_pending("r1", "L-R")])
    # the same event again, in a later transaction, built with another salt and time
    event = make_event("r1", "L-R")
    again = Pending("bank-a", posted_hash(event),
                    build_record(event, tenant="bank-a", received_at=datetime.now(UTC),
                                 salt=b"\x07" * 32))
    replay, _ = store.append([again, _pending("r2", "L-R")])
    assert replay.replay and replay.leaf_hash == one.leaf_hash
    assert [r.event_id for r in check_chain(store, "bank-a", "L-R")] == ["r1", "r2"]


def test_a_policy_sees_drafts_and_a_refusal_leaves_the_chain_alone(store: LogStore) -> None:
    seen: list[Record] = []

    def refuse_second(history: Sequence[bytes], new: Sequence[Record]) -> None:
        seen.extend(new)
        if len(seen) > 1:
            raise ValueError("no")

    store.append([_pending("p1", "L-P")], refuse_second)
    with pytest.raises(BatchItemError):
        store.append([_pending("p2", "L-P")], refuse_second)
    assert [r.loan_seq for r in seen] == [None, None]  # drafts: the chain comes after
    store.append([_pending("p3", "L-P")])
    assert [r.event_id for r in check_chain(store, "bank-a", "L-P")] == ["p1", "p3"]


@pytest.fixture
def ctx(settings: Settings) -> Iterator[AppContext]:
    context = build_context(settings)
    try:
        yield context
    finally:
        context.engine.dispose()


def test_receipts_through_the_log_carry_the_final_leaf_hash(ctx: AppContext) -> None:
    """With the service's cipher (records sealed at rest) and its policies."""
    receipts = [s.receipt for s in ctx.log.submit("bank-a", [make_event("c1", "L-C"),
                                                             make_event("c2", "L-C")])]
    records = check_chain(ctx.store, "bank-a", "L-C")
    assert [r["leaf_hash"] for r in receipts] == [r.leaf_hash.hex() for r in records]
    assert records[1].loan_prev == records[0].leaf_hash


def test_through_the_http_api_receipts_name_the_stored_v2_bytes(settings: Settings) -> None:
    from tests.integration.api_client import running_api

    with running_api(settings) as api:
        one = api.request("POST", "/v1/events", json=make_event("h1", "L-H"))
        assert one.status_code == 201, one.text
        batch = api.post_events([make_event("h2", "L-H", "contract_signed"),
                                 make_event("g1", "L-G")])
        assert batch.status_code == 201, batch.text
        again = api.request("POST", "/v1/events", json=make_event("h1", "L-H"))
        assert again.status_code == 200 and again.json()["leaf_hash"] == one.json()["leaf_hash"]
        receipts = [one.json(), *batch.json()["receipts"]]
        records = []
        for receipt, event_id in zip(receipts, ["h1", "h2", "g1"], strict=True):
            view = api.request("GET", f"/v1/events/{event_id}")
            assert view.status_code == 200, view.text
            data = view.json()["record"].encode()
            assert receipt["leaf_hash"] == hashlib.sha256(b"\x00" + data).hexdigest()
            records.append(record_from_bytes(data))
        assert [json.loads(r.data)["schema"] for r in records] == ["cunzheng.event/v2"] * 3
        assert [(r.loan_seq, r.loan_prev) for r in records] == [
            (1, None), (2, records[0].leaf_hash), (1, None)]


def test_checkpoints_commit_to_the_loan_index_root_under_the_log_signature(
    settings: Settings,
) -> None:
    from cunzheng_verify.loanindex import root_of, verify_proof
    from cunzheng_verify.notes import verify_checkpoint
    from tests.integration.api_client import running_api

    with running_api(settings) as api:
        assert api.post_events([make_event(f"k{i}", f"L-{i % 3}") for i in range(7)]
                               ).status_code == 201
        cp = api.wait_checkpoint(7)
        note = api.request("GET", f"/v1/log/checkpoints/{cp['tree_size']}/note",
                           role="auditor").text
        signed = verify_checkpoint(note, key_name=api.ctx.log.signer.name,
                                   public_key=api.ctx.log.signer.public_key)
        body = note.split("\n\n")[0].split("\n")
        assert len(body) == 4 and body[3].startswith("loan-index ")
        root = signed.loan_index_root
        size = signed.tree_size
        assert root is not None and root == api.ctx.store.loan_index_root(size)
        assert root == root_of(api.ctx.store.loan_index_entries(size))
        entry = verify_proof(api.ctx.store.loan_index_proof("bank-a", "L-1", size), root)
        assert entry is not None and entry.count == 2  # k1, k4
        # the signature covers the index line: another root there breaks it
        forged = note.replace(body[3], "loan-index " + "A" * 43 + "=")
        with pytest.raises(Exception, match="signature"):
            verify_checkpoint(forged, key_name=api.ctx.log.signer.name,
                              public_key=api.ctx.log.signer.public_key)
