"""RFC 9162 section 2.1 Merkle tree math: roots, inclusion and consistency proofs.

Consensus-critical: whether a proof is valid is decided here, and a court may rerun it.
Pay extra attention to any change; the algorithms follow RFC 9162 2.1.3 and 2.1.4 to the
letter and are tested against the golden vectors of transparency-dev/merkle. Standard
library only, so anyone can run it.

Proof generation works over *complete subtrees*: node (level, index) is the hash of the
leaves [index * 2**level, (index + 1) * 2**level). A storage layer that keeps those nodes
answers every proof in O(log n) reads; `nodes_for_inclusion` and `nodes_for_consistency`
say which nodes a proof needs, so it can fetch them in one query.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from cunzheng_verify.errors import ConsistencyProofError, InclusionProofError, MerkleError

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
MAX_PROOF_LENGTH = 128  # far above the 64 hashes any 2**64 tree needs

NodeKey = tuple[int, int]
NodeReader = Callable[[int, int], bytes]


def leaf_hash(data: bytes) -> bytes:
    """MTH of a single entry: SHA-256(0x00 || data)."""
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Interior node: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


# --- hashing a range from complete-subtree nodes ------------------------------------------


def _range_nodes(start: int, end: int) -> list[NodeKey]:
    """Complete subtrees covering [start, end), left to right, for a range that is either
    a complete aligned subtree or the ragged right edge of one (as RFC 9162 splits produce)."""
    keys: list[NodeKey] = []
    while start < end:
        size = end - start
        level = size.bit_length() - 1
        # the biggest aligned power-of-two block starting at `start` that fits
        while level > 0 and start % (1 << level):
            level -= 1
        keys.append((level, start >> level))
        start += 1 << level
    return keys


def _range_hash(start: int, end: int, node: NodeReader) -> bytes:
    """MTH(D[start:end]) for a range produced by RFC 9162 splitting."""
    keys = _range_nodes(start, end)
    acc = node(*keys[-1])
    for level, index in reversed(keys[:-1]):
        acc = node_hash(node(level, index), acc)
    return acc


def root_from_nodes(size: int, node: NodeReader) -> bytes:
    """The root of a tree of `size` leaves, from its complete-subtree nodes."""
    if size < 0:
        raise MerkleError(f"tree size must be >= 0, got {size}")
    if size == 0:
        return EMPTY_ROOT
    return _range_hash(0, size, node)


def _inclusion(index: int, start: int, end: int, node: NodeReader) -> list[bytes]:
    # PATH(m, D[start:end]) of RFC 9162 2.1.3.1, iteratively, leaf-first order.
    path: list[bytes] = []
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            path.append(_range_hash(start + k, end, node))
            end = start + k
        else:
            path.append(_range_hash(start, start + k, node))
            start += k
    path.reverse()
    return path


def inclusion_proof_from_nodes(index: int, size: int, node: NodeReader) -> list[bytes]:
    """The audit path for leaf `index` in a tree of `size` leaves."""
    if not 0 <= index < size:
        raise MerkleError(f"leaf index must be in [0, {size}), got {index}")
    return _inclusion(index, 0, size, node)


def _subproof(m: int, start: int, end: int, complete: bool, node: NodeReader) -> list[bytes]:
    # SUBPROOF(m, D[start:end], b) of RFC 9162 2.1.4.1; m is relative to start.
    n = end - start
    if m == n:
        return [] if complete else [_range_hash(start, end, node)]
    k = _split(n)
    if m <= k:
        return _subproof(m, start, start + k, complete, node) + [_range_hash(start + k, end, node)]
    return _subproof(m - k, start + k, end, False, node) + [_range_hash(start, start + k, node)]


def consistency_proof_from_nodes(size1: int, size2: int, node: NodeReader) -> list[bytes]:
    """The consistency proof between a tree of `size1` leaves and one of `size2` leaves."""
    if not 0 <= size1 <= size2:
        raise MerkleError(f"need 0 <= size1 <= size2, got size1={size1} size2={size2}")
    if size1 == 0 or size1 == size2:
        return []
    return _subproof(size1, 0, size2, True, node)


def _needed(run: Callable[[NodeReader], object]) -> list[NodeKey]:
    keys: list[NodeKey] = []

    def record(level: int, index: int) -> bytes:
        keys.append((level, index))
        return bytes(HASH_SIZE)

    run(record)
    return list(dict.fromkeys(keys))


def nodes_for_root(size: int) -> list[NodeKey]:
    """The complete subtrees covering [0, size), left to right: what a root reads."""
    if size < 0:
        raise MerkleError(f"tree size must be >= 0, got {size}")
    return _range_nodes(0, size)


def nodes_for_inclusion(index: int, size: int) -> list[NodeKey]:
    """The complete-subtree nodes `inclusion_proof_from_nodes` reads: O(log n) of them."""
    return _needed(lambda node: inclusion_proof_from_nodes(index, size, node))


def nodes_for_consistency(size1: int, size2: int) -> list[NodeKey]:
    """The complete-subtree nodes `consistency_proof_from_nodes` reads: O(log n) of them."""
    return _needed(lambda node: consistency_proof_from_nodes(size1, size2, node))


class Frontier:
    """The complete subtrees covering a tree's leaves, left to right: enough to append.

    The log loads it from `nodes_for_root(size)`, appends a batch in memory and stores the
    nodes each append completes.
    """

    def __init__(self, size: int, node: NodeReader) -> None:
        self.size = size
        self._stack: list[tuple[int, int, bytes]] = [
            (level, index, node(level, index)) for level, index in nodes_for_root(size)
        ]

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add a leaf hash; return the nodes (level, index, hash) it completed."""
        _check_hash(leaf, "leaf hash")
        created = [(0, self.size, leaf)]
        self._stack.append(created[0])
        self.size += 1
        while len(self._stack) >= 2 and self._stack[-1][0] == self._stack[-2][0]:
            level, right = self._stack[-1][0], self._stack.pop()[2]
            _, index, left = self._stack.pop()
            merged = (level + 1, index // 2, node_hash(left, right))
            self._stack.append(merged)
            created.append(merged)
        return created

    def root(self) -> bytes:
        if not self._stack:
            return EMPTY_ROOT
        acc = self._stack[-1][2]
        for _, _, h in reversed(self._stack[:-1]):
            acc = node_hash(h, acc)
        return acc


# --- in-memory trees ----------------------------------------------------------------------


class MemoryTree:
    """All complete-subtree nodes of a list of leaf hashes, kept in memory.

    For tests, the offline verifier and small logs; the database keeps the same nodes.
    """

    def __init__(self, leaf_hashes: Sequence[bytes] = ()) -> None:
        self._levels: list[list[bytes]] = [[]]
        for h in leaf_hashes:
            self.append(h)

    @property
    def size(self) -> int:
        return len(self._levels[0])

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add a leaf hash; return the nodes (level, index, hash) it completed."""
        _check_hash(leaf, "leaf hash")
        created = [(0, self.size, leaf)]
        self._levels[0].append(leaf)
        level, index, h = 0, self.size - 1, leaf
        while index % 2 == 1:
            h = node_hash(self._levels[level][index - 1], h)
            level, index = level + 1, index // 2
            if len(self._levels) == level:
                self._levels.append([])
            self._levels[level].append(h)
            created.append((level, index, h))
        return created

    def node(self, level: int, index: int) -> bytes:
        try:
            return self._levels[level][index]
        except IndexError:
            raise MerkleError(f"no complete subtree at level {level} index {index}") from None

    def root(self, size: int | None = None) -> bytes:
        return root_from_nodes(self.size if size is None else self._bounded(size), self.node)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        size = self.size if size is None else self._bounded(size)
        return inclusion_proof_from_nodes(index, size, self.node)

    def consistency_proof(self, size1: int, size2: int | None = None) -> list[bytes]:
        size2 = self.size if size2 is None else self._bounded(size2)
        return consistency_proof_from_nodes(size1, size2, self.node)

    def _bounded(self, size: int) -> int:
        if not 0 <= size <= self.size:
            raise MerkleError(f"tree size must be in [0, {self.size}], got {size}")
        return size


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH over a list of leaf hashes, level by level: pairing left to right and carrying an
    odd last node up unchanged gives exactly RFC 9162's split-at-a-power-of-two tree."""
    level = list(leaf_hashes)
    for h in level:
        _check_hash(h, "leaf hash")
    if not level:
        return EMPTY_ROOT
    sha256, prefix = hashlib.sha256, NODE_PREFIX
    while len(level) > 1:
        odd = level[-1] if len(level) % 2 else None
        level = [sha256(prefix + a + b).digest() for a, b in zip(level[::2], level[1::2])]
        if odd is not None:
            level.append(odd)
    return level[0]


def inclusion_proof(index: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    return MemoryTree(leaf_hashes).inclusion_proof(index)


def consistency_proof(size1: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    return MemoryTree(leaf_hashes).consistency_proof(size1)


# --- verification (RFC 9162 2.1.3.2 and 2.1.4.2) ------------------------------------------


def _check_hash(value: bytes, what: str) -> None:
    if not isinstance(value, (bytes, bytearray)) or len(value) != HASH_SIZE:
        found = len(value) if isinstance(value, (bytes, bytearray)) else type(value).__name__
        raise MerkleError(f"{what} must be {HASH_SIZE} bytes, got {found}")


def root_from_inclusion_proof(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes]
) -> bytes:
    """The root that `proof` implies for `leaf` at `index` in a tree of `size`."""
    if not 0 <= index < size:
        raise InclusionProofError(f"leaf index must be in [0, {size}), got {index}")
    _check_hash(leaf, "leaf hash")
    if len(proof) > MAX_PROOF_LENGTH:
        raise InclusionProofError(f"proof has {len(proof)} hashes, limit {MAX_PROOF_LENGTH}")
    fn, sn = index, size - 1
    r = leaf
    for p in proof:
        _check_hash(p, "proof hash")
        if sn == 0:
            raise InclusionProofError(
                f"proof too long: a leaf at {index} in a tree of {size} needs fewer than "
                f"{len(proof)} hashes"
            )
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise InclusionProofError(
            f"proof too short: a leaf at {index} in a tree of {size} needs more than "
            f"{len(proof)} hashes"
        )
    return r


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], expected_root: bytes
) -> None:
    """Raise `InclusionProofError` unless `proof` shows `leaf` at `index` under the root."""
    _check_hash(expected_root, "root")
    found = root_from_inclusion_proof(index, size, leaf, proof)
    if found != expected_root:
        raise InclusionProofError(
            f"inclusion proof for leaf {index} in tree {size} gives root {found.hex()}, "
            f"expected {expected_root.hex()}",
            expected=expected_root,
            found=found,
        )


def roots_from_consistency_proof(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes
) -> tuple[bytes, bytes]:
    """Recompute (root1, root2) from a consistency proof, per RFC 9162 2.1.4.2."""
    if not 0 <= size1 <= size2:
        raise ConsistencyProofError(f"need 0 <= size1 <= size2, got {size1} and {size2}")
    _check_hash(root1, "first root")
    if len(proof) > MAX_PROOF_LENGTH:
        raise ConsistencyProofError(f"proof has {len(proof)} hashes, limit {MAX_PROOF_LENGTH}")
    for p in proof:
        _check_hash(p, "proof hash")
    if size1 == size2 or size1 == 0:
        if proof:
            raise ConsistencyProofError(
                f"expected an empty proof between sizes {size1} and {size2}, "
                f"got {len(proof)} hashes"
            )
        return root1, root1
    if not proof:
        raise ConsistencyProofError(f"empty proof between sizes {size1} and {size2}")
    path = list(proof)
    if size1 & (size1 - 1) == 0:  # size1 is a power of two: root1 is the first node
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ConsistencyProofError(
                f"proof too long for sizes {size1} and {size2}: {len(proof)} hashes"
            )
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ConsistencyProofError(
            f"proof too short for sizes {size1} and {size2}: {len(proof)} hashes"
        )
    return fr, sr


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Raise `ConsistencyProofError` unless the tree (size2, root2) extends (size1, root1)."""
    _check_hash(root2, "second root")
    # Every tree extends the empty tree; its root must still be the empty root.
    if size1 == 0 and root1 != EMPTY_ROOT:
        raise ConsistencyProofError(
            f"a tree of size 0 has root {EMPTY_ROOT.hex()}, got {root1.hex()}",
            expected=EMPTY_ROOT,
            found=root1,
        )
    if size1 == size2 and root1 != root2:
        raise ConsistencyProofError(
            f"trees of equal size {size1} have different roots: "
            f"{root1.hex()} and {root2.hex()}",
            expected=root1,
            found=root2,
        )
    found1, found2 = roots_from_consistency_proof(size1, size2, proof, root1)
    if size1 == 0:
        return
    if found1 != root1:
        raise ConsistencyProofError(
            f"consistency proof {size1}->{size2} gives first root {found1.hex()}, "
            f"expected {root1.hex()}",
            expected=root1,
            found=found1,
        )
    if found2 != root2:
        raise ConsistencyProofError(
            f"consistency proof {size1}->{size2} gives second root {found2.hex()}, "
            f"expected {root2.hex()}",
            expected=root2,
            found=found2,
        )
