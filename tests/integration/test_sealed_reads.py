"""Reading sealed records bound to their columns (issue 13) on a real SQLite file: a loan's
records read whole and one by one, a changed column refused by the very next read (each read
binds the columns of the row it shows), a row without its record read as erased only when
its loan's erasure event is in the log, and records sealed in the format before (CZE1)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import update

from anchoring.crypto import SEALED_V1
from anchoring.errors import IntegrityError
from anchoring.tables import leaves
from service.context import AppContext, build_context
from service.settings import Settings
from tests.conftest import make_event
from tests.integration.api_client import running_api


@pytest.fixture
def ctx(tmp_path: Path) -> AppContext:
    ctx = build_context(Settings(data_dir=tmp_path / "data", anchor_enabled=False))
    ctx.log.submit("bank-a", [make_event(f"e-{i}", "L-big") for i in range(12)]
                   + [make_event("s-1", "L-small")])
    ctx.store._loan_keys.clear()
    return ctx


def test_a_loan_is_read_whole_and_one_by_one(ctx: AppContext) -> None:
    for _ in range(2):
        events = ctx.store.loan_events("bank-a", "L-big")
        assert [e.event_id for e in events] == [f"e-{i}" for i in range(12)]
        assert all(e.record is not None and e.event_id.encode() in e.record for e in events)
    assert all(ctx.store.leaf(i).record is not None for i in range(13))


def test_a_changed_column_is_refused_on_read(ctx: AppContext) -> None:
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


def _set(ctx: AppContext, index: int, **values: object) -> None:
    with ctx.engine.begin() as conn:
        conn.execute(update(leaves).where(leaves.c.leaf_index == index).values(**values))


def test_a_column_edit_is_noticed_by_the_next_read(ctx: AppContext) -> None:
    """No wait: the read right after the edit (its loan's rows read just before) refuses."""
    assert [e.record is not None for e in ctx.store.loan_events("bank-a", "L-big")] == [True] * 12
    hash_3 = ctx.store.leaf(3).leaf_hash
    _set(ctx, 3, received_at="2020-01-01T00:00:00Z")
    with pytest.raises(IntegrityError, match="leaf 3: .*was one of them changed"):
        ctx.store.leaf(3)
    with pytest.raises(IntegrityError, match="leaf 3"):
        ctx.store.leaf_by_hash(hash_3)
    with pytest.raises(IntegrityError, match="leaf 3"):
        ctx.store.event("bank-a", "e-3")
    with pytest.raises(IntegrityError, match="leaf 3"):
        ctx.store.loan_events("bank-a", "L-big")
    with pytest.raises(IntegrityError, match="leaf 3"):
        ctx.store.loan_chain("bank-a", "L-big", 13)
    _set(ctx, 4, event_id="e-renamed")  # the row no longer shows the event it holds
    with pytest.raises(IntegrityError, match="leaf 4"):
        ctx.store.event("bank-a", "e-renamed")
    [fsck_3, fsck_4] = [leaf for leaf in ctx.store.iter_leaves() if leaf.problem is not None]
    assert (fsck_3.leaf_index, fsck_4.leaf_index) == (3, 4) and fsck_3.record is None
    _set(ctx, 3, received_at=ctx.store.leaf(5).received_at)  # put back: it reads again
    assert ctx.store.leaf(3).record is not None


def test_a_missing_record_without_erasure_is_an_error_naming_the_leaf(
        ctx: AppContext) -> None:
    hash_4 = ctx.store.leaf(4).leaf_hash
    _set(ctx, 4, record=None)
    expected = f"leaf 4: the record of leaf hash {hash_4.hex()} is missing.*no erasure event"
    with pytest.raises(IntegrityError, match=expected):
        ctx.store.leaf(4)
    with pytest.raises(IntegrityError, match="leaf 4"):
        ctx.store.loan_events("bank-a", "L-big")
    [damaged] = [leaf for leaf in ctx.store.iter_leaves() if leaf.problem is not None]
    assert damaged.leaf_index == 4 and "is missing" in damaged.problem
    # another loan's erasure does not explain it
    ctx.store.erase_loan("bank-a", "L-small", datetime(2026, 3, 5, tzinfo=UTC), erased_by="dpo")
    with pytest.raises(IntegrityError, match="leaf 4"):
        ctx.store.leaf(4)
    assert ctx.store.leaf(12).record is None


def test_the_api_answers_a_missing_record_with_a_problem_naming_the_leaf(
        tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", anchor_enabled=False)
    with running_api(settings) as api:
        assert api.post_events([make_event("a-1", "L-A"), make_event("a-2", "L-A")]
                               ).status_code == 201
        with api.ctx.engine.begin() as conn:
            conn.execute(update(leaves).where(leaves.c.leaf_index == 1).values(record=None))
        r = api.request("GET", "/v1/records/1", role="legal")
        assert r.status_code == 500 and r.headers["content-type"] == "application/problem+json"
        assert r.json()["type"].endswith("/stored-data-damaged")
        assert "leaf 1: the record of leaf hash" in r.json()["detail"]
        assert api.request("GET", "/v1/records/0", role="legal").json()["record"] is not None


def test_a_properly_erased_loan_still_reads_as_erased(ctx: AppContext) -> None:
    done = ctx.store.erase_loan("bank-a", "L-big", datetime(2026, 3, 5, tzinfo=UTC),
                                erased_by="dpo")
    assert done["records_erased"] == 12
    ctx.store._loan_keys.clear()
    events = ctx.store.loan_events("bank-a", "L-big")
    assert [e.record is None for e in events] == [True] * 12 + [False]
    assert events[-1].event_type == "data_erased" and events[-1].record is not None
    assert ctx.store.leaf(0).record is None and ctx.store.event("bank-a", "e-5").record is None
    assert ctx.store.leaf(12).record is not None  # the other loan is untouched
    assert all(leaf.problem is None for leaf in ctx.store.iter_leaves())
