"""Fixtures for the page tests: a real app on a real SQLite data directory, holding a
simulated portfolio, with part of the log anchored the way the anchoring job records it.

The anchors are written through `AnchorStore` (what the job stores after the chain answers)
rather than by running a chain: the pages read only those tables. The chain itself is
exercised by tests/integration/test_chain_anchoring.py.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from anchoring.anchor_store import AnchorRow, Cosignature
from cunzheng_verify.records import format_utc
from lending_core.client import LedgerClient
from lending_core.simulator import Portfolio, SimConfig, simulate
from service.context import AppContext
from service.posting import post_portfolio
from service.settings import Settings
from tests.integration.api_client import Api, running_api

CONTRACT = "0x" + "5a" * 20
WITNESSES = ("0x" + "11" * 20, "0x" + "22" * 20)
TENANT = "bank-a"


def record_anchor(ctx: AppContext, size: int, block_number: int, *, lag: float = 4.0,
                  witnesses: tuple[str, ...] = WITNESSES) -> AnchorRow:
    """Record that the checkpoint of `size` was anchored `lag` seconds after it was signed."""
    cp = ctx.store.checkpoint(size)
    previous = ctx.anchors.latest()
    signed = datetime.fromisoformat(cp.signed_at)
    block_time = format_utc(signed + timedelta(seconds=lag))
    tx = "0x" + hashlib.sha256(f"tx{size}".encode()).hexdigest()
    row = AnchorRow(size, cp.root, previous.tree_size if previous else 0, 31337, CONTRACT, tx,
                    "final", block_number,
                    "0x" + hashlib.sha256(f"b{block_number}".encode()).hexdigest(),
                    block_time, 3, 1, cp.signed_at, block_time)
    ctx.anchors.add(row)
    for i, w in enumerate(witnesses):
        ctx.anchors.add_cosignature(Cosignature(size, w, "0x" + hashlib.sha256(
            f"c{size}{w}".encode()).hexdigest(), block_number + 1 + i))
    return row


def post(api: Api, portfolio: Portfolio) -> None:
    client = LedgerClient(None, api.key("lender", TENANT), http=api.client, batch_size=200)
    post_portfolio(client, portfolio, renderer=None)


@dataclass
class Ledger:
    api: Api
    portfolio: Portfolio
    anchored_size: int
    later: Portfolio

    @property
    def ctx(self) -> AppContext:
        return self.api.ctx


def fill(api: Api) -> Ledger:
    """Two simulated portfolios: the first anchored in three steps (so the lag chart has
    a line), the second only logged."""
    first = simulate(SimConfig(loans=6, months=8, seed=3, documents=False, default_share=0.5,
                               late_share=0.3))
    block = 100
    for n, lag in ((2, 3.0), (4, 7.5), (6, 5.0)):
        post(api, Portfolio(first.config, first.loans[n - 2:n]))
        size = api.ctx.store.tree_size()
        api.wait_checkpoint(size)
        record_anchor(api.ctx, size, block, lag=lag)
        block += 10
    later = simulate(SimConfig(loans=2, months=4, seed=9, documents=False, loan_prefix="NEW"))
    post(api, later)
    api.wait_checkpoint(api.ctx.store.tree_size())
    return Ledger(api, first, size, later)


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    settings = Settings(data_dir=tmp_path / "data", checkpoint_interval=0.05,
                        anchor_enabled=False)
    with running_api(settings) as api:
        yield fill(api)


def now_utc() -> datetime:
    return datetime.now(UTC)
