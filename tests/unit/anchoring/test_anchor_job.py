"""The anchoring job on an in-process EVM (eth-tester) and a real SQLite log: submits when
the log grows, never the same size twice, tracks confirmations, notices a reorg and a
dropped transaction, refuses a chain that disagrees with the log, one submitter at a time."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from web3 import EthereumTesterProvider, Web3

from anchoring.anchor_job import AnchoringJob, AnchorJobConfig, Backoff, run_guarded
from anchoring.anchor_store import AnchorStore
from anchoring.chain import Web3Chain
from anchoring.errors import IntegrityError
from anchoring.registry import deploy_registry
from cunzheng_verify.chain import ChainReceipt
from cunzheng_verify.records import format_utc
from service.context import AppContext, build_context
from service.settings import Settings
from tests.conftest import make_event


class Clock:
    def __init__(self) -> None:
        # after make_event's occurred_at (01:30 UTC): the log refuses events from the future
        self.now = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def w3() -> Web3:
    return Web3(EthereumTesterProvider())


@pytest.fixture
def chain(w3: Web3) -> Web3Chain:
    a = w3.eth.accounts
    record = deploy_registry(w3, a[0], anchorers=[a[1]], witnesses=[a[2]])
    return Web3Chain(w3, record.address, sender=a[1])


def _ctx(tmp_path: Path, clock: Clock, name: str = "data") -> AppContext:
    return build_context(Settings(data_dir=tmp_path / name), clock=clock)


def _post(ctx: AppContext, start: int, n: int) -> None:
    ctx.log.submit("bank-a", [make_event(f"e-{i}", f"L-{i}") for i in range(start, start + n)])


def _job(ctx: AppContext, chain: Web3Chain, clock: Clock, holder: str = "a",
         confirmations: int = 3) -> AnchoringJob:
    return AnchoringJob(ctx.log, AnchorStore(ctx.engine), chain,
                        AnchorJobConfig(holder=holder, confirmations=confirmations,
                                        drop_after_seconds=30), clock)


def test_anchors_when_the_log_grows_and_counts_confirmations(tmp_path: Path, chain: Web3Chain,
                                                             w3: Web3) -> None:
    clock = Clock()
    ctx = _ctx(tmp_path, clock)
    job = _job(ctx, chain, clock)
    assert job.run_once().submitted is None  # empty log: nothing to anchor
    _post(ctx, 0, 5)
    assert job.run_once().submitted == 5
    assert chain.latest_anchored() == (5, ctx.store.root(5))
    report = job.run_once()
    row = AnchorStore(ctx.engine).get(5)
    assert row is not None and row.status == "included" and row.confirmations == 1
    assert report.submitted is None  # no growth, and never the same size twice
    w3.testing.mine(2)
    job.run_once()
    row = AnchorStore(ctx.engine).get(5)
    assert row is not None and row.status == "final" and row.confirmations >= 3
    canonical = chain.block(row.block_number)
    assert canonical is not None and row.block_hash == canonical[0]
    assert row.block_time == format_utc(datetime.fromtimestamp(canonical[1], UTC))
    _post(ctx, 5, 8)
    assert job.run_once().submitted == 13
    assert chain.latest_anchored() == (13, ctx.store.root(13))
    assert AnchorStore(ctx.engine).get(13).previous_size == 5
    found = chain.anchored_event(5)
    assert found is not None and (found.tree_size, found.root) == (5, ctx.store.root(5))
    assert "0x" + found.tx_hash.hex() == AnchorStore(ctx.engine).get(5).tx_hash
    assert chain.anchored_event(7) is None


def test_only_the_lease_holder_submits(tmp_path: Path, chain: Web3Chain) -> None:
    clock = Clock()
    ctx = _ctx(tmp_path, clock)
    _post(ctx, 0, 3)
    first, second = _job(ctx, chain, clock, "a"), _job(ctx, chain, clock, "b")
    assert first.run_once().leased
    assert not second.run_once().leased
    clock.advance(31)  # a's lease lapsed: b takes over
    assert second.run_once().leased
    assert not first.run_once().leased


def test_a_reorg_that_drops_the_anchor_is_noticed_and_resubmitted(tmp_path: Path, chain: Web3Chain,
                                                                  w3: Web3) -> None:
    clock = Clock()
    ctx = _ctx(tmp_path, clock)
    job = _job(ctx, chain, clock)
    tester = w3.provider.ethereum_tester
    snapshot = tester.take_snapshot()
    _post(ctx, 0, 4)
    assert job.run_once().submitted == 4
    job.run_once()
    assert AnchorStore(ctx.engine).get(4).status == "included"
    tester.revert_to_snapshot(snapshot)  # the block holding the anchor is gone
    w3.testing.mine(3)
    assert chain.latest_anchored()[0] == 0
    report = job.run_once()
    assert any("reorg" in u for u in report.updated)
    assert AnchorStore(ctx.engine).get(4).status == "submitted"
    clock.advance(31)  # not in the pool either: dropped, resubmitted
    report = job.run_once()
    assert any("resubmitted" in u for u in report.updated)
    row = AnchorStore(ctx.engine).get(4)
    assert row.attempts == 2
    assert chain.latest_anchored() == (4, ctx.store.root(4))


def test_a_chain_that_disagrees_with_the_log_is_refused(tmp_path: Path, chain: Web3Chain) -> None:
    clock = Clock()
    other = _ctx(tmp_path, clock, "other")
    other.log.submit("bank-z", [make_event(f"z-{i}", f"Z-{i}") for i in range(3)])
    _job(other, chain, clock).run_once()  # someone else's log anchored first
    ctx = _ctx(tmp_path, clock)
    _post(ctx, 0, 6)
    with pytest.raises(IntegrityError, match="refusing to anchor"):
        _job(ctx, chain, clock, holder="x").run_once()
    assert run_guarded(_job(ctx, chain, clock, holder="x"), Backoff(lambda: 0.0)) is None


def test_chain_down_backs_off_and_keeps_accepting(tmp_path: Path) -> None:
    clock = Clock()
    ctx = _ctx(tmp_path, clock)
    dead = Web3(Web3.HTTPProvider("http://127.0.0.1:9", request_kwargs={"timeout": 1}))

    class DeadChain:
        chain_id, contract = 1, "0x" + "00" * 20

        def head(self) -> int:
            return int(dead.eth.block_number)

    job = AnchoringJob(ctx.log, AnchorStore(ctx.engine), DeadChain(),  # type: ignore[arg-type]
                       AnchorJobConfig(holder="a"), clock)
    now = [0.0]
    backoff = Backoff(lambda: now[0])
    assert run_guarded(job, backoff) is None and backoff.failures == 1
    assert not backoff.ready()
    now[0] = 1.5
    run_guarded(job, backoff)
    assert backoff.failures == 2
    _post(ctx, 0, 2)  # the log keeps accepting while the chain is down
    assert ctx.store.tree_size() == 2


def test_a_released_lease_lets_another_process_submit_at_once(tmp_path: Path,
                                                              chain: Web3Chain) -> None:
    clock = Clock()
    ctx = _ctx(tmp_path, clock)
    _post(ctx, 0, 3)
    first, second = _job(ctx, chain, clock, "a"), _job(ctx, chain, clock, "b")
    assert first.run_once().leased
    assert not second.run_once().leased
    AnchorStore(ctx.engine).release_lease("anchoring", "a")  # a clean stop gives it back
    assert second.run_once().leased


class _Skewed:
    """The real chain, with its answers about the anchor's block bent as a node could bend
    them: a receipt reporting failure, or a canonical block other than the receipt's."""

    def __init__(self, chain: Web3Chain) -> None:
        self.real = chain
        self.status: int | None = None
        self.canonical: str | None = None

    def __getattr__(self, name: str) -> object:
        return getattr(self.real, name)

    def receipt(self, tx_hash: str) -> ChainReceipt | None:
        found = self.real.receipt(tx_hash)
        if found is None or self.status is None:
            return found
        return replace(found, status=self.status)

    def block(self, number: int) -> tuple[str, int] | None:
        found = self.real.block(number)
        if found is None or self.canonical is None:
            return found
        return self.canonical, found[1]


def test_the_receipt_status_and_the_canonical_block_decide(tmp_path: Path,
                                                           chain: Web3Chain) -> None:
    clock = Clock()
    ctx = _ctx(tmp_path, clock)
    skewed = _Skewed(chain)
    job = AnchoringJob(ctx.log, AnchorStore(ctx.engine), skewed,  # type: ignore[arg-type]
                       AnchorJobConfig(holder="a", confirmations=3), clock)
    _post(ctx, 0, 3)
    assert job.run_once().submitted == 3
    assert "included with 1 confirmation(s)" in job.run_once().updated[0]
    skewed.canonical = "0x" + "ab" * 32  # the receipt's block is no longer canonical
    assert job.run_once().updated == ["3: reorg"]
    row = AnchorStore(ctx.engine).get(3)
    assert row is not None and (row.status, row.block_hash) == ("submitted", None)
    skewed.canonical = None
    assert "included" in job.run_once().updated[0]
    skewed.status = 0  # reverted, and the chain already holds size 3: superseded
    assert job.run_once().updated == ["3: superseded"]
    row = AnchorStore(ctx.engine).get(3)
    assert row is not None and row.status == "superseded"
    assert row.note is not None and row.note.startswith("transaction reverted at block")
