"""Properties of the RFC 9162 math, checked against the RFC's recursive definitions."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anchoring.errors import ConsistencyProofError, InclusionProofError, MerkleError
from cunzheng_verify import merkle


def _mth(hs: list[bytes]) -> bytes:
    if not hs:
        return hashlib.sha256(b"").digest()
    if len(hs) == 1:
        return hs[0]
    k = merkle._split(len(hs))
    return merkle.node_hash(_mth(hs[:k]), _mth(hs[k:]))


def _path(m: int, hs: list[bytes]) -> list[bytes]:
    if len(hs) == 1:
        return []
    k = merkle._split(len(hs))
    if m < k:
        return _path(m, hs[:k]) + [_mth(hs[k:])]
    return _path(m - k, hs[k:]) + [_mth(hs[:k])]


def _subproof(m: int, hs: list[bytes], b: bool) -> list[bytes]:
    n = len(hs)
    if m == n:
        return [] if b else [_mth(hs)]
    k = merkle._split(n)
    if m <= k:
        return _subproof(m, hs[:k], b) + [_mth(hs[k:])]
    return _subproof(m - k, hs[k:], False) + [_mth(hs[:k])]


def _leaves(n: int) -> list[bytes]:
    return [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(n)]


def test_every_index_and_size_up_to_64_matches_the_rfc_definitions() -> None:
    hs = _leaves(64)
    tree = merkle.MemoryTree(hs)
    for n in range(1, 65):
        root = _mth(hs[:n])
        assert tree.root(n) == root
        for m in range(n):
            proof = tree.inclusion_proof(m, n)
            assert proof == _path(m, hs[:n])
            merkle.verify_inclusion(m, n, hs[m], proof, root)
        for m in range(1, n + 1):
            proof = tree.consistency_proof(m, n)
            assert proof == ([] if m == n else _subproof(m, hs[:n], True))
            merkle.verify_consistency(m, n, proof, _mth(hs[:m]), root)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_random_sizes_up_to_a_few_thousand(data: st.DataObject) -> None:
    n = data.draw(st.integers(1, 3000), label="size")
    hs = _leaves(n)
    tree = merkle.MemoryTree(hs)
    root = tree.root()
    assert root == _mth(hs)
    m = data.draw(st.integers(0, n - 1), label="index")
    proof = tree.inclusion_proof(m)
    assert len(proof) <= (n - 1).bit_length()
    merkle.verify_inclusion(m, n, hs[m], proof, root)
    size1 = data.draw(st.integers(1, n), label="size1")
    cproof = tree.consistency_proof(size1)
    merkle.verify_consistency(size1, n, cproof, tree.root(size1), root)
    # a proof never verifies for the neighbouring leaf or a flipped root
    if n > 1:
        with pytest.raises(InclusionProofError):
            merkle.verify_inclusion(m, n, hs[(m + 1) % n], proof, root)
    bad = bytes([root[0] ^ 1]) + root[1:]
    with pytest.raises(ConsistencyProofError):
        merkle.verify_consistency(size1, n, cproof, tree.root(size1), bad)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 1 << 40), st.data())
def test_proofs_read_logarithmically_many_nodes(size: int, data: st.DataObject) -> None:
    index = data.draw(st.integers(0, size - 1))
    size1 = data.draw(st.integers(1, size))
    bound = 2 * size.bit_length() + 2
    assert len(merkle.nodes_for_inclusion(index, size)) <= bound
    assert len(merkle.nodes_for_consistency(size1, size)) <= bound
    assert len(merkle.nodes_for_root(size)) <= size.bit_length()


def test_consistency_holds_across_appends() -> None:
    tree = merkle.MemoryTree()
    roots = []
    for i in range(200):
        tree.append(merkle.leaf_hash(bytes([i])))
        roots.append(tree.root())
    for s1 in range(1, 201, 7):
        merkle.verify_consistency(s1, 200, tree.consistency_proof(s1), roots[s1 - 1], roots[-1])


def test_errors_name_expected_and_found() -> None:
    hs = _leaves(5)
    tree = merkle.MemoryTree(hs)
    wrong = bytes(32)
    with pytest.raises(InclusionProofError) as info:
        merkle.verify_inclusion(2, 5, hs[2], tree.inclusion_proof(2), wrong)
    assert info.value.expected == wrong and info.value.found == tree.root()
    assert wrong.hex() in str(info.value) and tree.root().hex() in str(info.value)
    with pytest.raises(MerkleError, match="must be 32 bytes"):
        merkle.verify_inclusion(0, 5, b"short", [], wrong)
    with pytest.raises(MerkleError, match=r"leaf index must be in \[0, 5\)"):
        tree.inclusion_proof(5)
    with pytest.raises(ConsistencyProofError, match="different roots"):
        merkle.verify_consistency(3, 3, [], tree.root(3), tree.root(4))


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 600), st.integers(0, 300))
def test_frontier_appends_like_the_full_tree(start: int, more: int) -> None:
    hs = _leaves(start + more)
    full = merkle.MemoryTree(hs)
    frontier = merkle.Frontier(start, merkle.MemoryTree(hs[:start]).node)
    assert frontier.root() == full.root(start)
    for h in hs[start:]:
        for level, index, value in frontier.append(h):
            assert full.node(level, index) == value
    assert frontier.root() == full.root()


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 2100))
def test_level_by_level_root_equals_the_recursive_definition(n: int) -> None:
    hs = _leaves(n)
    assert merkle.root(hs) == _mth(hs) == merkle.MemoryTree(hs).root()
