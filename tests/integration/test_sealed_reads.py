"""Reading sealed records bound to their columns (issue 13) on a real SQLite file: a loan's
records read one by one (the columns of its rows read at once), a loan larger than one
read, a changed column refused on read, and records sealed in the format before (CZE1)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import update

from anchoring import keyring
from anchoring.crypto import SEALED_V1
from anchoring.errors import IntegrityError
from anchoring.tables import leaves
from service.context import AppContext, build_context
from service.settings import Settings
from tests.conftest import make_event


@pytest.fixture
def ctx(tmp_path: Path) -> AppContext:
    ctx = build_context(Settings(data_dir=tmp_path / "data", anchor_enabled=False))
    ctx.log.submit("bank-a", [make_event(f"e-{i}", "L-big") for i in range(12)]
                   + [make_event("s-1", "L-small")])
    ctx.store._loan_keys.clear()
    return ctx


def test_a_loan_larger_than_one_read_is_read_whole(ctx: AppContext,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keyring, "MAX_PREFETCHED_ROWS", 5)
    for _ in range(2):
        events = ctx.store.loan_events("bank-a", "L-big")
        assert [e.event_id for e in events] == [f"e-{i}" for i in range(12)]
        assert all(e.record is not None and e.event_id.encode() in e.record for e in events)
    assert ctx.store.leaf(12).record is not None


def test_a_changed_column_is_refused_on_read(ctx: AppContext,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keyring, "COLUMNS_TTL", 0.0)
    with ctx.engine.begin() as conn:
        conn.execute(update(leaves).where(leaves.c.leaf_index == 3)
                     .values(event_type="disbursement"))
    with pytest.raises(IntegrityError, match="leaf 3: .*was one of them changed"):
        ctx.store.leaf(3)
    with pytest.raises(IntegrityError, match="leaf 3"):
        ctx.store.loan_events("bank-a", "L-big")
    assert ctx.store.leaf(4).record is not None


def test_records_sealed_before_still_read(ctx: AppContext) -> None:
    leaf = ctx.store.leaf(5)
    key = ctx.store._loan_keys[("bank-a", "L-big")]
    assert key is not None and ctx.store.cipher is not None and leaf.record is not None
    old = ctx.store.cipher.seal(key, leaf.record, leaf.leaf_hash)
    assert old.startswith(SEALED_V1)
    with ctx.engine.begin() as conn:
        conn.execute(update(leaves).where(leaves.c.leaf_index == 5).values(record=old))
    assert ctx.store.leaf(5).record == leaf.record
