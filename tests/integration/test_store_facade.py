"""`LogStore` split by job (issue 12, item 5) on a real database (SQLite file and PostgreSQL):
the facade keeps every public method, the loan listings the pages and the monitoring job ask
for, and a loan policy's `PolicyRefusal` names the refused item of the batch."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest

from anchoring.errors import PolicyRefusal
from anchoring.store import BatchItemError, LogStore
from cunzheng_verify.records import Record
from service.context import AppContext, build_context
from service.settings import Settings
from tests.conftest import make_event

# every public method LogStore had before the split, with its parameters
PUBLIC = {
    "add_checkpoint": ["cp"], "append": ["items", "policy"], "append_group": ["requests"],
    "checkpoint": ["size"], "consistency_proof": ["size1", "size2"],
    "count_leaves": [], "document": ["sha256", "tenant"], "erase_loan":
    # issue 13: the erasure is logged first (who, on what basis, judged by the policy)
    ["tenant", "loan_id", "erased_at", "erased_by", "basis", "policy"],
    "event": ["tenant", "event_id"],
    "has_documents": ["hashes"], "hash_at": ["index"], "inclusion_proof": ["index", "size"],
    "iter_checkpoints": [], "iter_leaves": ["start", "batch"],
    "latest_checkpoint": [], "leaf": ["index"], "leaf_by_hash": ["leaf_hash"],
    "leaf_hashes": ["start", "end"], "leaves_citing": ["sha256"],
    "list_checkpoints": ["limit", "before"], "loan_events": ["tenant", "loan_id"],
    "locate": ["leaf_hash"], "put_document":
    ["tenant", "sha256", "media_type", "content", "created_at"],
    "root": ["size"], "rotate_master": ["new_cipher"], "tree_head": [], "tree_size": [],
}


@pytest.fixture
def ctx(settings: Settings) -> Iterator[AppContext]:
    context = build_context(settings)
    try:
        yield context
    finally:
        context.engine.dispose()


def test_the_facade_keeps_every_public_method_and_its_parameters() -> None:
    import inspect

    for name, params in PUBLIC.items():
        method = getattr(LogStore, name)
        assert list(inspect.signature(method).parameters)[1:] == params, name
    assert not hasattr(LogStore, "checkpoint_covering") and not hasattr(LogStore, "is_erased")


def test_tenants_and_loans_are_listed_sorted_and_bounded(ctx: AppContext) -> None:
    assert ctx.store.tenants() == [] and ctx.store.loans(10) == []
    ctx.log.submit("bank-b", [make_event("e1", "L-2"), make_event("e2", "L-1"),
                              make_event("e3", "L-2", "contract_signed")])
    ctx.log.submit("bank-a", [make_event("e1", "L-9")])
    assert ctx.store.tenants() == ["bank-a", "bank-b"]
    assert ctx.store.loan_ids("bank-b") == ["L-1", "L-2"]
    assert ctx.store.loan_ids("bank-c") == []
    assert ctx.store.loans(10) == [("bank-a", "L-9"), ("bank-b", "L-1"), ("bank-b", "L-2")]
    assert ctx.store.loans(2) == [("bank-a", "L-9"), ("bank-b", "L-1")]


class _Refuse:
    """A loan policy that refuses the new record at `item` (or raises a plain error)."""

    needs_history = False

    def __init__(self, item: int | None) -> None:
        self.item = item

    def __call__(self, history: Sequence[bytes], new: Sequence[Record]) -> None:
        error = ValueError(f"no to {new[-1].event_id}")
        if self.item is None:
            raise error
        raise PolicyRefusal(self.item, error)


@pytest.mark.parametrize(("item", "index"), [(1, 2), (0, 1), (None, 1), (7, 2)])
def test_a_policy_refusal_names_its_item_of_the_batch(ctx: AppContext, item: int | None,
                                                      index: int) -> None:
    # batch item 0 is loan L-A's; items 1 and 2 are loan L-B's, its new records 0 and 1
    batch = [make_event("a1", "L-A"), make_event("b1", "L-B"),
             make_event("b2", "L-B", "contract_signed")]
    refuse_b = _Refuse(item)

    def policy(history: Sequence[bytes], new: Sequence[Record]) -> None:
        if new[0].loan_id == "L-B":
            refuse_b(history, new)

    with pytest.raises(BatchItemError) as info:
        ctx.log.submit("bank-a", batch, policy=policy)
    assert info.value.index == index  # past the loan's last record: its last one
    assert isinstance(info.value.error, ValueError) and str(info.value.error) == "no to b2"
    assert ctx.store.tree_size() == 0  # nothing of the batch was written
