"""The loan index: an authenticated map from a loan to its history's head (DESIGN.md, "Loan
index"; the algorithm is written down in `verifier/LOAN_INDEX.md` and pinned by golden
vectors in `tests/conformance/loan_index_vectors.json`).

A sparse Merkle tree over 256-bit keys with single-entry subtrees collapsed to their entry
(the shape of Diem's and Aptos' sparse Merkle tree):

- key: `SHA-256("cunzheng.loan/v1\\n" || tenant || "\\n" || loan_id)` (UTF-8); its bits are
  read most significant first (bit 0 is the top bit of byte 0); 0 goes left.
- value: `(count, last leaf index, last leaf hash)`: how many records the loan has in the
  log, and the leaf index and leaf hash of the newest.
- an empty subtree hashes to 32 zero bytes (`EMPTY`); so does the root of an empty map;
- a subtree holding exactly one entry hashes to that entry's leaf hash,
  `SHA-256(0x02 || key || u64be(count) || u64be(last index) || last hash)`, wherever the
  subtree is;
- a subtree holding two or more entries hashes to `SHA-256(0x03 || left || right)`.

The shape is a function of the set of entries alone, so equal maps have equal roots.

A proof for a key at a root is the sibling hashes along the key's path from the root down
to where the path ends (an empty subtree, or a single-entry subtree), and that entry if
there is one. It proves membership when the entry's key is the key asked for, and
non-membership when the path ends empty or at another key that shares the path's prefix.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cunzheng_verify.errors import MerkleError, ProofError

__all__ = [
    "EMPTY", "INDEX_LINE", "PROOF_SCHEMA", "Entry", "IndexProof", "LoanIndexError",
    "index_line", "key_bit", "leaf_hash", "loan_key", "node_hash", "parse_index_line", "prove",
    "root_of", "verify_proof",
]

EMPTY = bytes(32)
KEY_BITS = 256
INDEX_LINE = "loan-index"  # the checkpoint note's extension line: `loan-index <base64 root>`
PROOF_SCHEMA = "cunzheng.loan-index-proof/v1"
_LEAF, _NODE = b"\x02", b"\x03"
_U64 = 2**64


class LoanIndexError(ProofError):
    """A loan index proof does not verify, or is malformed."""


def loan_key(tenant: str, loan_id: str) -> bytes:
    """The loan's 32-byte key in the index."""
    return hashlib.sha256(f"cunzheng.loan/v1\n{tenant}\n{loan_id}".encode()).digest()


def key_bit(key: bytes, depth: int) -> int:
    """Bit `depth` of `key`, most significant first: 0 goes left, 1 right."""
    return (key[depth >> 3] >> (7 - (depth & 7))) & 1


@dataclass(frozen=True, slots=True)
class Entry:
    """One loan in the index: its key and the head of its history."""

    key: bytes
    count: int
    last_index: int
    last_hash: bytes

    def __post_init__(self) -> None:
        if len(self.key) != 32 or len(self.last_hash) != 32:
            raise MerkleError("a loan index key and a leaf hash are 32 bytes")
        if not (1 <= self.count < _U64 and 0 <= self.last_index < _U64):
            raise MerkleError(f"loan index value out of range: count {self.count}, "
                              f"last index {self.last_index}")

    @property
    def hash(self) -> bytes:
        return leaf_hash(self)

    def as_json(self) -> dict[str, Any]:
        return {"key": self.key.hex(), "count": self.count,
                "last_leaf_index": self.last_index, "last_leaf_hash": self.last_hash.hex()}


def leaf_hash(entry: Entry) -> bytes:
    return hashlib.sha256(_LEAF + entry.key + entry.count.to_bytes(8, "big")
                          + entry.last_index.to_bytes(8, "big") + entry.last_hash).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(_NODE + left + right).digest()


def root_of(entries: Iterable[Entry]) -> bytes:
    """The root of the map holding `entries` (distinct keys), computed from scratch: the
    reference the stored tree, fsck and the tests are compared with."""
    ordered = sorted(entries, key=lambda e: e.key)
    if len({e.key for e in ordered}) != len(ordered):
        raise MerkleError("a loan index holds each key once")
    return _subtree(ordered, 0)


def prove(entries: Iterable[Entry], key: bytes) -> IndexProof:
    """The proof for `key` in the map holding `entries`, computed from scratch (O(n)): the
    reference for the stored tree's proofs, and for tests."""
    subset = sorted(entries, key=lambda e: e.key)
    if len(key) != 32:
        raise MerkleError(f"a loan index key is 32 bytes, got {len(key)}")
    if len({e.key for e in subset}) != len(subset):  # else an IndexError past bit 255
        raise MerkleError("a loan index holds each key once")
    siblings: list[bytes] = []
    depth = 0
    while len(subset) > 1:
        split = next((i for i, e in enumerate(subset) if key_bit(e.key, depth)), len(subset))
        left, right = subset[:split], subset[split:]
        mine, other = (right, left) if key_bit(key, depth) else (left, right)
        siblings.append(_subtree(other, depth + 1))
        subset = mine
        depth += 1
    return IndexProof(key, tuple(siblings), subset[0] if subset else None)


def _subtree(entries: list[Entry], depth: int) -> bytes:
    if not entries:
        return EMPTY
    if len(entries) == 1:
        return entries[0].hash
    split = next((i for i, e in enumerate(entries) if key_bit(e.key, depth)), len(entries))
    return node_hash(_subtree(entries[:split], depth + 1), _subtree(entries[split:], depth + 1))


@dataclass(frozen=True, slots=True)
class IndexProof:
    """A proof for `key`: `siblings` from the root down (one per level the path descends),
    and the single entry where the path ends (None: it ends in an empty subtree)."""

    key: bytes
    siblings: tuple[bytes, ...]
    entry: Entry | None

    def as_json(self, tree_size: int, tenant: str, loan_id: str) -> dict[str, Any]:
        return {"schema": PROOF_SCHEMA, "tree_size": tree_size, "tenant": tenant,
                "loan_id": loan_id, "key": self.key.hex(),
                "siblings": [s.hex() for s in self.siblings],
                "entry": None if self.entry is None else self.entry.as_json()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> IndexProof:
        """Parse the JSON form; `LoanIndexError` names the first bad field."""
        try:
            if data.get("schema") != PROOF_SCHEMA:
                raise LoanIndexError(f"loan index proof schema must be {PROOF_SCHEMA!r}")
            tree_size = data["tree_size"]
            if not isinstance(tree_size, int) or isinstance(tree_size, bool) or tree_size < 0:
                raise LoanIndexError(f"tree_size must be an integer >= 0, got {tree_size!r:.80}")
            tenant, loan_id = data["tenant"], data["loan_id"]
            if not isinstance(tenant, str) or not isinstance(loan_id, str):
                raise LoanIndexError("tenant and loan_id must be strings")
            key = _hex32(data["key"], "key")
            # the key is derived, never taken on trust: a proof for one loan cannot be
            # relabelled as another's
            try:
                derived = loan_key(tenant, loan_id)
            except UnicodeEncodeError:  # a lone surrogate, which JSON's \ud800 can carry
                raise LoanIndexError("tenant and loan_id must be valid Unicode") from None
            if key != derived:
                raise LoanIndexError(f"key {key.hex()} is not the key of tenant {tenant!r:.80}, "
                                     f"loan {loan_id!r:.80} ({derived.hex()})")
            siblings = data["siblings"]
            if not isinstance(siblings, list) or len(siblings) > KEY_BITS:
                raise LoanIndexError(f"siblings must be a list of at most {KEY_BITS} hashes")
            raw = data["entry"]
            entry = None if raw is None else Entry(
                _hex32(raw["key"], "entry.key"), _int(raw["count"], "entry.count"),
                _int(raw["last_leaf_index"], "entry.last_leaf_index"),
                _hex32(raw["last_leaf_hash"], "entry.last_leaf_hash"))
            return cls(key, tuple(_hex32(s, "sibling") for s in siblings), entry)
        except (KeyError, TypeError, AttributeError) as exc:
            raise LoanIndexError(f"malformed loan index proof: {exc!r}") from None
        except MerkleError as exc:
            raise LoanIndexError(f"malformed loan index proof: {exc}") from None


_HEX_DIGITS = frozenset("0123456789abcdef")


def _hex32(value: Any, what: str) -> bytes:
    # a set check, not bytes.fromhex alone: fromhex skips whitespace, so 62 digits and two
    # spaces read as a 31-byte key
    if not isinstance(value, str) or len(value) != 64 or not _HEX_DIGITS.issuperset(value):
        raise LoanIndexError(f"{what} must be 64 lowercase hex digits, got {str(value)[:80]!r}")
    return bytes.fromhex(value)


def _int(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise LoanIndexError(f"{what} must be an integer")
    return value


def verify_proof(proof: IndexProof, root: bytes) -> Entry | None:
    """The key's entry at `root` (None: the key is not in the map), or `LoanIndexError`
    if the proof does not lead to `root`."""
    depth = len(proof.siblings)
    if len(proof.key) != 32:
        raise LoanIndexError(f"a loan index key is 32 bytes, got {len(proof.key)}")
    if depth > KEY_BITS:
        raise LoanIndexError(f"a proof has at most {KEY_BITS} siblings")
    entry = proof.entry
    # a path that ends at another loan: that loan must sit where the key's path ends
    if entry is not None and entry.key != proof.key and any(
            key_bit(entry.key, d) != key_bit(proof.key, d) for d in range(depth)):
        raise LoanIndexError("the entry where the path ends is not on the key's path")
    h = EMPTY if entry is None else entry.hash
    for d in range(depth - 1, -1, -1):
        sibling = proof.siblings[d]
        h = node_hash(sibling, h) if key_bit(proof.key, d) else node_hash(h, sibling)
    if h != root:
        raise LoanIndexError("loan index proof does not lead to the checkpoint's index root",
                             expected=root, found=h)
    return entry if entry is not None and entry.key == proof.key else None


def index_line(root: bytes) -> str:
    """The checkpoint note's extension line committing to the index root at its size."""
    if len(root) != 32:
        raise LoanIndexError(f"a loan index root is 32 bytes, got {len(root)}")
    return f"{INDEX_LINE} {base64.b64encode(root).decode()}"


def parse_index_line(extensions: Iterable[str]) -> bytes | None:
    """The index root from a checkpoint's extension lines (None: the note has none)."""
    found = [line for line in extensions if line.startswith(INDEX_LINE + " ")]
    if not found:
        return None
    if len(found) > 1:
        raise LoanIndexError(f"a checkpoint has at most one {INDEX_LINE!r} line")
    try:
        root = base64.b64decode(found[0][len(INDEX_LINE) + 1:], validate=True)
    except (binascii.Error, ValueError):
        raise LoanIndexError(f"the {INDEX_LINE!r} line is not base64") from None
    if len(root) != 32:
        raise LoanIndexError(f"the {INDEX_LINE!r} root must be 32 bytes")
    return root
