"""The loan index's golden vectors (`loan_index_vectors.json`, verifier/LOAN_INDEX.md).

Three things are held to the committed file: the module (`cunzheng_verify.loanindex`)
computes every root and serves every proof exactly as stored, and gives every stored
answer or refusal; an independent reimplementation written here from LOAN_INDEX.md alone
(integers for keys, a dict for the map, the document's verification pseudo code line by
line; it imports nothing from the module) does the same; and the generator writes the same
bytes again. The smallest maps are also computed by hand with hashlib, down to the key's
preimage bytes, so the file is not only the module agreeing with itself.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from cunzheng_verify.loanindex import (
    Entry,
    IndexProof,
    LoanIndexError,
    loan_key,
    parse_index_line,
    prove,
    root_of,
    verify_proof,
)
from cunzheng_verify.notes import parse_checkpoint
from tests.conformance import make_loan_index_vectors

VECTORS = Path(__file__).with_name("loan_index_vectors.json")
DATA: dict[str, Any] = json.loads(VECTORS.read_text(encoding="utf-8"))
MAPS = {m["name"]: m for m in DATA["maps"]}


def _entries(m: dict[str, Any]) -> list[Entry]:
    return [Entry(bytes.fromhex(e["key"]), e["count"], e["last_leaf_index"],
                  bytes.fromhex(e["last_leaf_hash"])) for e in m["entries"]]


def _cases(kind: str) -> list[tuple[str, int]]:
    return [(m["name"], i) for m in DATA["maps"] for i in range(len(m[kind]))]


def test_the_generator_writes_the_committed_file_byte_for_byte() -> None:
    assert make_loan_index_vectors.render().encode() == VECTORS.read_bytes()


def test_the_file_covers_what_it_promises() -> None:
    sizes = sorted(len(m["entries"]) for m in DATA["maps"])
    assert sizes == [0, 1, 2, 3, 5, 64]
    ids = [e["loan_id"] for m in DATA["maps"] for e in m["entries"]]
    assert any(re.search(r"[\u4e00-\u9fff]", i) for i in ids)  # Chinese loan ids
    proofs = [p for m in DATA["maps"] for p in m["proofs"]]
    assert {p.get("path_ends") for p in proofs} == {None, "empty", "at another loan"}
    assert max(len(p["proof"]["siblings"]) for p in proofs) >= 17  # through empty siblings
    assert {r["fails_at"] for m in DATA["maps"] for r in m["refused"]} == {"parse", "verify"}


# --- the module against the file ----------------------------------------------------------


@pytest.mark.parametrize("name", list(MAPS))
def test_the_module_computes_every_root_and_key(name: str) -> None:
    m = MAPS[name]
    for e in m["entries"]:
        assert loan_key(e["tenant"], e["loan_id"]).hex() == e["key"]
    entries = _entries(m)
    assert [e.hash.hex() for e in entries] == [e["leaf_hash"] for e in m["entries"]]
    assert root_of(entries).hex() == m["root"]
    assert root_of(reversed(entries)).hex() == m["root"]
    assert base64.b64decode(m["root_base64"]).hex() == m["root"]
    assert parse_index_line([m["checkpoint_line"]]) == bytes.fromhex(m["root"])


@pytest.mark.parametrize("name, i", _cases("proofs"))
def test_the_module_serves_and_verifies_every_proof(name: str, i: int) -> None:
    m, case = MAPS[name], MAPS[name]["proofs"][i]
    stored = case["proof"]
    served = prove(_entries(m), loan_key(stored["tenant"], stored["loan_id"]))
    assert served.as_json(m["tree_size"], stored["tenant"], stored["loan_id"]) == stored
    proof = IndexProof.from_json(stored)
    assert proof == served
    found = verify_proof(proof, bytes.fromhex(m["root"]))
    if case["want"] == "member":
        assert found is not None and found.as_json() == case["entry"]
    else:
        assert found is None


@pytest.mark.parametrize("name, i", _cases("refused"))
def test_the_module_refuses_every_refused_proof(name: str, i: int) -> None:
    m, case = MAPS[name], MAPS[name]["refused"][i]
    root = bytes.fromhex(case.get("root", m["root"]))
    if case["fails_at"] == "parse":
        with pytest.raises(LoanIndexError, match="malformed loan index proof"):
            IndexProof.from_json(case["proof"])
    else:
        proof = IndexProof.from_json(case["proof"])
        with pytest.raises(LoanIndexError):
            verify_proof(proof, root)


def test_the_checkpoint_example_carries_the_line_after_the_root() -> None:
    ex = DATA["checkpoint_example"]
    lines = ex["body"].split("\n")
    assert lines[3] == MAPS[ex["map"]]["checkpoint_line"] and lines[4:] == [""]
    checkpoint, _ = parse_checkpoint(ex["body"] + "\n\u2014 k AAAAAAAA\n")
    assert checkpoint.loan_index_root == bytes.fromhex(ex["loan_index_root"])
    assert checkpoint.body().decode() == ex["body"]


# --- by hand, with hashlib ---------------------------------------------------------------


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _u64(n: int) -> bytes:
    return n.to_bytes(8, "big")


def test_the_empty_map_by_hand() -> None:
    assert MAPS["size-0"]["root"] == "00" * 32 == DATA["empty_root"]
    assert MAPS["size-0"]["checkpoint_line"] == "loan-index " + "A" * 43 + "="


def test_the_one_entry_map_by_hand() -> None:
    """The key's preimage spelled out byte by byte (个 is e4 b8 aa, 贷 is e8 b4 b7 in UTF-8);
    a map of one entry has that entry's leaf hash for its root."""
    (e,) = MAPS["size-1"]["entries"]
    assert (e["tenant"], e["loan_id"]) == ("bank-a", "个贷-2026-0001")
    preimage = (b"cunzheng.loan/v1\x0abank-a\x0a" + bytes.fromhex("e4b8aae8b4b7")
                + b"-2026-0001")
    key = _h(preimage)
    assert key.hex() == e["key"]
    leaf = _h(b"\x02" + key + _u64(e["count"]) + _u64(e["last_leaf_index"])
              + bytes.fromhex(e["last_leaf_hash"]))
    assert len(b"\x02" + key + _u64(0) + _u64(0) + bytes(32)) == 81
    assert leaf.hex() == e["leaf_hash"] == MAPS["size-1"]["root"]


def test_the_two_entry_map_by_hand() -> None:
    """Two keys that agree on their first d bits: their node sits at depth d, and each of
    the d nodes above it has an empty sibling (only single-entry subtrees collapse)."""
    m = MAPS["size-2"]
    a, b = sorted(m["entries"], key=lambda e: e["key"])
    ka, kb = int(a["key"], 16), int(b["key"], 16)
    d = 256 - (ka ^ kb).bit_length()  # the first bit where they differ
    leaves = [_h(b"\x02" + bytes.fromhex(e["key"]) + _u64(e["count"])
                 + _u64(e["last_leaf_index"]) + bytes.fromhex(e["last_leaf_hash"]))
              for e in (a, b)]
    h = _h(b"\x03" + leaves[0] + leaves[1])  # a's bit d is 0: it is on the left
    for depth in range(d - 1, -1, -1):
        shared_bit = (ka >> (255 - depth)) & 1
        h = _h(b"\x03" + bytes(32) + h) if shared_bit else _h(b"\x03" + h + bytes(32))
    assert h.hex() == m["root"]
    # and a's proof is those d empty siblings from the top, then b's leaf hash
    (pa,) = [p["proof"] for p in m["proofs"] if p["proof"]["key"] == a["key"]]
    assert pa["siblings"] == ["00" * 32] * d + [leaves[1].hex()]


# --- an independent reimplementation, from LOAN_INDEX.md ---------------------------------


class Refused(Exception):
    pass


HEX64 = re.compile(r"[0-9a-f]{64}")


def ref_key(tenant: str, loan_id: str) -> bytes:
    return _h(b"cunzheng.loan/v1\n" + tenant.encode("utf-8") + b"\n" + loan_id.encode("utf-8"))


def ref_leaf(key: bytes, count: int, last_index: int, last_hash: bytes) -> bytes:
    return _h(b"\x02" + key + _u64(count) + _u64(last_index) + last_hash)


def ref_root(leaves: dict[int, bytes], depth: int = 0) -> bytes:
    """The root of the subtree at `depth` holding `leaves` (integer key -> leaf hash)."""
    if not leaves:
        return bytes(32)
    if len(leaves) == 1:
        return next(iter(leaves.values()))
    shift = 255 - depth
    left = {k: v for k, v in leaves.items() if not (k >> shift) & 1}
    right = {k: v for k, v in leaves.items() if (k >> shift) & 1}
    return _h(b"\x03" + ref_root(left, depth + 1) + ref_root(right, depth + 1))


def ref_parse(p: Any) -> tuple[bytes, list[bytes], tuple[bytes, int, int, bytes] | None]:
    def h32(v: Any) -> bytes:
        if not isinstance(v, str) or not HEX64.fullmatch(v):
            raise Refused("hex")
        return bytes.fromhex(v)

    def u64(v: Any, low: int) -> int:
        if type(v) is not int or not low <= v < 2**64:
            raise Refused("integer")
        return v

    if not isinstance(p, dict) or p.get("schema") != "cunzheng.loan-index-proof/v1":
        raise Refused("schema")
    for k in ("tree_size", "tenant", "loan_id", "key", "siblings", "entry"):
        if k not in p:
            raise Refused(k)
    if type(p["tree_size"]) is not int or p["tree_size"] < 0:
        raise Refused("tree_size")
    if not isinstance(p["tenant"], str) or not isinstance(p["loan_id"], str):
        raise Refused("names")
    key = h32(p["key"])
    if key != ref_key(p["tenant"], p["loan_id"]):
        raise Refused("key")
    if not isinstance(p["siblings"], list) or len(p["siblings"]) > 256:
        raise Refused("siblings")
    siblings = [h32(s) for s in p["siblings"]]
    e = p["entry"]
    if e is None:
        return key, siblings, None
    if not isinstance(e, dict):
        raise Refused("entry")
    return key, siblings, (h32(e["key"]), u64(e["count"], 1), u64(e["last_leaf_index"], 0),
                           h32(e["last_leaf_hash"]))


def ref_verify(p: Any, root: bytes) -> tuple[bytes, int, int, bytes] | None:
    """LOAN_INDEX.md's pseudo code, line by line."""
    key, siblings, entry = ref_parse(p)
    depth = len(siblings)

    def bit(k: bytes, i: int) -> int:
        return (k[i // 8] >> (7 - i % 8)) & 1

    if entry is not None and entry[0] != key:
        for i in range(depth):
            if bit(entry[0], i) != bit(key, i):
                raise Refused("the entry is not on the key's path")
    h = bytes(32) if entry is None else ref_leaf(*entry)
    for i in reversed(range(depth)):
        if bit(key, i) == 1:
            h = _h(b"\x03" + siblings[i] + h)
        else:
            h = _h(b"\x03" + h + siblings[i])
    if h != root:
        raise Refused("root")
    return entry if entry is not None and entry[0] == key else None


@pytest.mark.parametrize("name", list(MAPS))
def test_the_reimplementation_agrees_on_every_vector(name: str) -> None:
    m = MAPS[name]
    leaves = {}
    for e in m["entries"]:
        key = ref_key(e["tenant"], e["loan_id"])
        assert key.hex() == e["key"]
        leaf = ref_leaf(key, e["count"], e["last_leaf_index"], bytes.fromhex(e["last_leaf_hash"]))
        assert leaf.hex() == e["leaf_hash"]
        leaves[int.from_bytes(key, "big")] = leaf
    root = ref_root(leaves)
    assert root.hex() == m["root"]
    assert m["checkpoint_line"] == "loan-index " + base64.b64encode(root).decode()
    for case in m["proofs"]:
        found = ref_verify(case["proof"], root)
        if case["want"] == "member":
            e = case["entry"]
            assert found == (bytes.fromhex(e["key"]), e["count"], e["last_leaf_index"],
                             bytes.fromhex(e["last_leaf_hash"]))
        else:
            assert found is None
    for case in m["refused"]:
        with pytest.raises(Refused):
            ref_verify(case["proof"], bytes.fromhex(case.get("root", m["root"])))
