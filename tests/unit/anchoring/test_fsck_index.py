"""fsck's incremental loan index equals the reference `loanindex.root_of` after any
sequence of updates (new loans, moved heads), at every intermediate root."""

from __future__ import annotations

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from anchoring.fsck_index import IncrementalIndex
from cunzheng_verify.loanindex import EMPTY, Entry, loan_key, root_of


def _entry(loan: int, count: int) -> Entry:
    return Entry(loan_key("bank-a", f"L-{loan}"), count, count * 7,
                 hashlib.sha256(f"{loan}:{count}".encode()).digest())


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.integers(0, 40), max_size=12), max_size=12))
def test_incremental_root_equals_the_reference(rounds: list[list[int]]) -> None:
    index = IncrementalIndex()
    counts: dict[int, int] = {}
    assert index.root() == EMPTY == root_of([])
    for loans in rounds:
        for loan in loans:
            counts[loan] = counts.get(loan, 0) + 1
            index.put(_entry(loan, counts[loan]))
        assert index.root() == root_of(_entry(k, c) for k, c in counts.items())


def test_keys_sharing_a_long_prefix() -> None:
    """Two keys equal in their first 200 bits: the path below their split is deep."""
    base = bytes(25)
    a = Entry(base + b"\x00" * 7, 1, 0, b"\x01" * 32)
    b = Entry(base + b"\x00" * 6 + b"\x01", 1, 1, b"\x02" * 32)
    index = IncrementalIndex()
    index.put(a)
    assert index.root() == root_of([a])
    index.put(b)
    assert index.root() == root_of([a, b])
    a2 = Entry(a.key, 2, 5, b"\x03" * 32)
    index.put(a2)
    assert index.root() == root_of([a2, b])
