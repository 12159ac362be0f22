"""Group commit (issue 17) against the real app and a real database (SQLite file and
PostgreSQL): concurrent posts share commits, and nothing a client is promised changes.

- the same event from 10 clients at once: one leaf, 10 identical receipts;
- a group holding replays, conflicts, refused events, a refused batch and strict checks that
  depend on an earlier batch of the same group: each request answered as if it came alone;
- every receipt's leaf is visible to another connection when the receipt arrives;
- a fault injected between the writes and the commit: no receipt escapes, nothing is
  written, and the log takes the same events afterwards.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, event, func, select

from anchoring.errors import Conflict
from anchoring.sequencer import Sequencer
from anchoring.store import BatchItemError
from anchoring.tables import leaves
from lending_core.events import example_payload
from service.lending import LENIENT, STRICT
from service.settings import Settings
from tests.conftest import make_event
from tests.integration.api_client import Api, running_api

CLIENTS = 10


@pytest.fixture
def api(settings: Settings) -> Iterator[Api]:
    with running_api(settings) as a:
        yield a


def _sequencer(api: Api) -> Sequencer:
    seq = api.ctx.log._sequencer
    assert seq is not None and seq.running, "the app runs with group commit on"
    return seq


def _at_once(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run the calls from as many threads, released together; results in call order (an
    exception is returned as the result)."""
    barrier = threading.Barrier(len(calls))
    out: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        try:
            out[i] = calls[i]()
        except Exception as exc:  # noqa: BLE001 - returned for the test to inspect
            out[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return out


def _indices(api: Api) -> list[int]:
    with api.ctx.engine.connect() as conn:
        return [int(r[0]) for r in conn.execute(select(leaves.c.leaf_index)
                                                .order_by(leaves.c.leaf_index))]


def test_the_same_event_from_ten_clients_at_once_is_one_leaf_with_ten_identical_receipts(
    api: Api,
) -> None:
    seq = _sequencer(api)
    same = make_event("dup-1", "L-DUP")
    for round_ in range(3):  # a few rounds: the posts land in one group or several
        ev = {**same, "event_id": f"dup-{round_}"}
        answers = _at_once([lambda ev=ev: api.request("POST", "/v1/events", json=ev)] * CLIENTS)
        codes = sorted(r.status_code for r in answers)
        assert codes == [200] * (CLIENTS - 1) + [201], [r.text for r in answers]
        receipts = [r.json() for r in answers]
        assert all(r == receipts[0] for r in receipts), receipts
        assert receipts[0]["leaf_index"] == round_
    assert api.ctx.store.tree_size() == 3 and _indices(api) == [0, 1, 2]
    assert seq.batches == 3 * CLIENTS


def _queue_behind_the_lock(api: Api, submits: list[Callable[[], Any]]) -> list[Any]:
    """Hold the log's write lock, queue the submits one after another (so their order in
    the group is known), release: the first commits alone, the rest as one group."""
    seq = _sequencer(api)
    out: list[Any] = [None] * len(submits)
    threads = []
    groups = seq.groups

    def run(i: int) -> None:
        try:
            out[i] = submits[i]()
        except Exception as exc:  # noqa: BLE001 - returned for the test to inspect
            out[i] = exc

    with api.ctx.store._write():
        for i in range(len(submits)):
            t = threading.Thread(target=run, args=(i,))
            t.start()
            threads.append(t)
            deadline = time.monotonic() + 10
            # the first is taken at once (and waits for the lock); the others wait in line
            while (seq.groups == groups if i == 0 else seq.queued() != i) and t.is_alive() \
                    and time.monotonic() < deadline:
                time.sleep(0.005)
            assert (seq.groups == groups + 1 if i == 0 else seq.queued() == i), \
                f"submit {i} did not queue: {out[i]!r}"
    for t in threads:
        t.join(60)
    assert seq.groups == groups + 2, "the queued batches formed one group"
    return out


def test_one_group_answers_each_request_as_if_it_came_alone(api: Api) -> None:
    log = api.ctx.log
    first = log.submit("bank-a", [make_event("old-1", "L-OLD")])[0].receipt
    at = {"credit_decision": "2024-03-01T10:20:00+08:00",
          "contract_signed": "2024-03-02T14:05:00+08:00",
          "disbursement": "2024-03-05T09:00:00+08:00"}
    story = {t: make_event(f"G-{t}", "L-G", type_=t, occurred_at=w) for t, w in at.items()}
    early = make_event("H-disb", "L-H", type_="disbursement", occurred_at=at["disbursement"])
    forged = make_event("F-1", "L-F", source={"system": "cunzheng-monitoring"})

    def submit(events: list[dict[str, Any]], policy: Any = LENIENT) -> Any:
        return lambda: log.submit("bank-a", events, policy=policy)

    out = _queue_behind_the_lock(api, [
        submit([make_event("a-1", "L-A")]),                           # 0: alone, first group
        submit([story["credit_decision"], story["contract_signed"]]),  # 1: accepted
        submit([make_event("old-1", "L-OLD", payload={
            **example_payload("credit_decision"), "score": 1})]),  # 2: 409
        submit([make_event("b-1", "L-B"), forged, make_event("b-2", "L-B")]),    # 3: refused
        submit([story["disbursement"]], STRICT),   # 4: strict sees batch 1 of this group
        submit([make_event("b-1", "L-B")]),        # 5: batch 3 was refused: b-1 is new
        submit([early], STRICT),                   # 6: strict: no contract for L-H
        submit([make_event("a-1", "L-A")]),        # 7: replay of the first group
        submit([story["credit_decision"], make_event("c-1", "L-C")]),  # 8: replay + new
        submit([make_event("old-1", "L-OLD")]),    # 9: replay of a stored event
    ])
    ok = {i: [s.receipt for s in r] for i, r in enumerate(out) if isinstance(r, list)}
    err = {i: r for i, r in enumerate(out) if not isinstance(r, list)}
    assert set(err) == {2, 3, 6}, err
    assert all(isinstance(e, BatchItemError) for e in err.values())
    assert isinstance(err[2].error, Conflict) and err[2].index == 0
    assert err[3].index == 1 and getattr(err[3].error, "code", None) == "reserved_producer"
    assert err[6].index == 0 and getattr(err[6].error, "code", None) == "before_contract"
    # indices in queue order, contiguous, refused batches holding none
    assert [r["leaf_index"] for r in ok[0]] == [1]
    assert [r["leaf_index"] for r in ok[1]] == [2, 3]
    assert [r["leaf_index"] for r in ok[4]] == [4]
    assert [r["leaf_index"] for r in ok[5]] == [5]
    assert ok[7] == ok[0] and ok[9] == [first]
    assert ok[8][0] == ok[1][0] and ok[8][1]["leaf_index"] == 6
    replays = {i: [s.replay for s in out[i]] for i in ok}
    assert replays[7] == [True] and replays[9] == [True] and replays[8] == [True, False]
    assert replays[1] == [False, False]
    assert api.ctx.store.tree_size() == 7 and _indices(api) == list(range(7))
    # the refused batch wrote nothing: b-2 is unknown, and its forged event too
    with api.ctx.engine.connect() as conn:
        ids = {r[0] for r in conn.execute(select(leaves.c.event_id))}
    assert "b-2" not in ids and "F-1" not in ids


def test_every_receipt_arrives_after_its_leaf_is_committed(api: Api, database_url: str) -> None:
    """Another connection sees the leaf when the receipt arrives: it was committed."""
    other = create_engine(database_url)
    late: list[str] = []

    def client(c: int) -> None:
        for k in range(8):
            r = api.request("POST", "/v1/events", json=make_event(f"v-{c}-{k}", f"L-{c}"))
            assert r.status_code == 201, r.text
            index = r.json()["leaf_index"]
            with other.connect() as conn:
                seen = conn.execute(select(func.count()).select_from(leaves)
                                    .where(leaves.c.leaf_index == index)).scalar_one()
            if seen != 1:
                late.append(f"receipt for leaf {index} before its commit")

    try:
        results = _at_once([lambda c=c: client(c) for c in range(16)])
    finally:
        other.dispose()
    assert [r for r in results if r is not None] == []
    assert late == []
    assert _indices(api) == list(range(16 * 8))


def test_a_fault_between_the_writes_and_the_commit_lets_no_receipt_escape(api: Api) -> None:
    engine = api.ctx.engine
    seq = _sequencer(api)
    groups = seq.groups

    def wrote(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO LEAVES"):
            conn.info["wrote_leaves"] = True

    def fail_commit(conn: Any) -> None:
        # after the leaves are written, before the database makes them durable
        if conn.info.pop("wrote_leaves", False):
            raise OSError("injected: the disk refused the commit (fsync)")

    event.listen(engine, "after_cursor_execute", wrote)
    event.listen(engine, "commit", fail_commit)
    try:
        answers = _at_once([lambda c=c: api.request("POST", "/v1/events", json=make_event(
            f"f-{c}", f"L-{c}")) for c in range(12)])
    finally:
        event.remove(engine, "commit", fail_commit)
        event.remove(engine, "after_cursor_execute", wrote)
    assert seq.groups > groups
    # the server's error reaches each client (the test client raises it; uvicorn answers 500)
    assert all(isinstance(r, OSError) and "injected" in str(r) for r in answers), answers
    assert api.ctx.store.tree_size() == 0 and _indices(api) == []
    # nothing half-done: the same events are accepted afterwards, from index 0
    again = _at_once([lambda c=c: api.request("POST", "/v1/events", json=make_event(
        f"f-{c}", f"L-{c}")) for c in range(12)])
    assert sorted(r.status_code for r in again) == [201] * 12
    assert sorted(r.json()["leaf_index"] for r in again) == list(range(12))
