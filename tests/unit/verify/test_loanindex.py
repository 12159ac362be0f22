"""Properties of the loan index (`cunzheng_verify.loanindex`, verifier/LOAN_INDEX.md).

For random maps, including keys that share long prefixes (so paths run deep through empty
siblings): every member's proof verifies to its entry, every other key to None; the root
depends on the set alone; any change to a proof (a sibling, the entry's values, the key),
or a proof checked against another map's root, is refused with `LoanIndexError`; the JSON
form round-trips and malformed JSON is refused naming what is wrong. The regressions for
the bugs found while writing the algorithm down are at the end.
"""

from __future__ import annotations

import copy
import hashlib
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from cunzheng_verify.errors import MerkleError
from cunzheng_verify.loanindex import (
    EMPTY,
    KEY_BITS,
    PROOF_SCHEMA,
    Entry,
    IndexProof,
    LoanIndexError,
    key_bit,
    loan_key,
    node_hash,
    prove,
    root_of,
    verify_proof,
)

PROPS = settings(max_examples=80, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
U64 = 2**64 - 1

hashes = st.binary(min_size=32, max_size=32)


@st.composite
def keys_near(draw: st.DrawFn, base: bytes) -> bytes:
    """A key sharing a random-length prefix with `base` (0 to 255 bits), then random."""
    shared = draw(st.integers(0, KEY_BITS - 1))
    tail = int.from_bytes(draw(hashes), "big")
    mask = (1 << (KEY_BITS - shared)) - 1
    value = (int.from_bytes(base, "big") & ~mask) | (tail & mask)
    return value.to_bytes(32, "big")


@st.composite
def entry_maps(draw: st.DrawFn, max_size: int = 24) -> list[Entry]:
    base = draw(hashes)
    keys = draw(st.lists(st.one_of(hashes, keys_near(base)), max_size=max_size, unique=True))
    return [Entry(k, draw(st.integers(1, U64)), draw(st.integers(0, U64)), draw(hashes))
            for k in keys]


def _flip(b: bytes, bit: int = 0) -> bytes:
    return b[:bit // 8] + bytes([b[bit // 8] ^ (0x80 >> bit % 8)]) + b[bit // 8 + 1:]


def _absent(entries: list[Entry], key: bytes) -> bool:
    return all(e.key != key for e in entries)


# --- membership and non-membership ------------------------------------------------------


@PROPS
@given(entry_maps(), st.lists(hashes, max_size=4))
def test_members_verify_to_their_entry_and_others_to_none(entries: list[Entry],
                                                          others: list[bytes]) -> None:
    root = root_of(entries)
    for e in entries:
        assert verify_proof(prove(entries, e.key), root) == e
    # keys one bit away from a member share its whole path but the last step
    near = [_flip(e.key, bit) for e in entries[:3] for bit in (0, 128, 255)]
    for k in others + near:
        if _absent(entries, k):
            assert verify_proof(prove(entries, k), root) is None


@PROPS
@given(entry_maps(), st.randoms(use_true_random=False))
def test_the_root_depends_on_the_set_alone(entries: list[Entry], rnd: Any) -> None:
    shuffled = list(entries)
    rnd.shuffle(shuffled)
    assert root_of(shuffled) == root_of(entries)
    assert root_of(reversed(entries)) == root_of(entries)
    if entries:  # and on every entry's value
        changed = [*entries[1:], Entry(entries[0].key, entries[0].count,
                                       entries[0].last_index, _flip(entries[0].last_hash))]
        assert root_of(changed) != root_of(entries)


def test_the_empty_map_and_a_single_entry() -> None:
    assert root_of([]) == EMPTY == bytes(32)
    assert verify_proof(prove([], loan_key("t", "L")), EMPTY) is None
    e = Entry(loan_key("t", "L"), 3, 7, b"\x11" * 32)
    assert root_of([e]) == e.hash  # a single entry is the root, wherever its key points
    assert prove([e], e.key).siblings == ()
    assert verify_proof(prove([e], loan_key("t", "M")), e.hash) is None


def test_two_entries_sharing_a_prefix_hang_below_empty_siblings() -> None:
    """Only single-entry subtrees collapse: two keys that agree on 255 bits sit at the
    bottom of 255 nodes, each with an empty sibling."""
    a = bytes(31) + b"\x00"
    b = bytes(31) + b"\x01"
    ea, eb = Entry(a, 1, 0, b"\xaa" * 32), Entry(b, 1, 1, b"\xbb" * 32)
    h = node_hash(ea.hash, eb.hash)
    for _ in range(255):
        h = node_hash(h, EMPTY)
    assert root_of([eb, ea]) == h
    proof = prove([ea, eb], a)
    assert proof.siblings == (EMPTY,) * 255 + (eb.hash,)
    assert verify_proof(proof, h) == ea


# --- tampering ----------------------------------------------------------------------------


@PROPS
@given(entry_maps(), st.data())
def test_any_changed_sibling_is_refused(entries: list[Entry], data: st.DataObject) -> None:
    members = [e.key for e in entries]
    key = data.draw(st.sampled_from(members) | hashes) if members else data.draw(hashes)
    proof = prove(entries, key)
    assume(proof.siblings)
    i = data.draw(st.integers(0, len(proof.siblings) - 1))
    new = data.draw(hashes.filter(lambda h: h != proof.siblings[i]))
    siblings = proof.siblings[:i] + (new,) + proof.siblings[i + 1:]
    with pytest.raises(LoanIndexError, match="does not lead"):
        verify_proof(IndexProof(key, siblings, proof.entry), root_of(entries))
    for fewer_or_more in (proof.siblings[:-1], proof.siblings + (EMPTY,)):
        with pytest.raises(LoanIndexError):
            verify_proof(IndexProof(key, fewer_or_more, proof.entry), root_of(entries))


@PROPS
@given(entry_maps(max_size=16).filter(bool), st.data())
def test_any_changed_entry_value_is_refused(entries: list[Entry], data: st.DataObject) -> None:
    e = data.draw(st.sampled_from(entries))
    proof = prove(entries, e.key)
    delta = data.draw(st.integers(1, 2**32))
    forged = [
        Entry(e.key, e.count % U64 + 1, e.last_index, e.last_hash),
        Entry(e.key, e.count - 1 if e.count > 1 else 2, e.last_index, e.last_hash),
        Entry(e.key, e.count, (e.last_index + delta) % (U64 + 1), e.last_hash),
        Entry(e.key, e.count, e.last_index, _flip(e.last_hash, data.draw(st.integers(0, 255)))),
        Entry(_flip(e.key, data.draw(st.integers(0, 255))), e.count, e.last_index, e.last_hash),
        None,  # the member claims its path ends empty
    ]
    for entry in forged:
        if entry == e:
            continue
        with pytest.raises(LoanIndexError):
            verify_proof(IndexProof(e.key, proof.siblings, entry), root_of(entries))


@PROPS
@given(entry_maps(max_size=16), hashes)
def test_a_changed_key_is_refused_or_answered_truthfully(entries: list[Entry],
                                                        other: bytes) -> None:
    """A proof's key changed on its own: the proof is refused, or it is a valid proof for
    the new key (a key sharing the path's prefix that is not in the map), never an answer
    that is false for the new key. In the JSON form the key is derived from tenant and
    loan_id, so a changed key is refused there (`test_json_key_must_be_the_loans_key`)."""
    root = root_of(entries)
    for e in entries:
        proof = prove(entries, e.key)
        for key in (other, _flip(e.key, 255), _flip(e.key, 0)):
            if key == e.key:
                continue
            try:
                found = verify_proof(IndexProof(key, proof.siblings, proof.entry), root)
            except LoanIndexError:
                continue
            assert found is None and _absent(entries, key)
            assert found == verify_proof(prove(entries, key), root)


@PROPS
@given(entry_maps(max_size=12), entry_maps(max_size=12), hashes)
def test_a_proof_from_one_root_fails_against_another(a: list[Entry], b: list[Entry],
                                                    key: bytes) -> None:
    assume(root_of(a) != root_of(b))
    for k in [key] + [e.key for e in a]:
        with pytest.raises(LoanIndexError, match="does not lead"):
            verify_proof(prove(a, k), root_of(b))


def test_the_error_carries_the_expected_and_found_roots() -> None:
    e = Entry(loan_key("t", "L"), 1, 0, b"\x01" * 32)
    with pytest.raises(LoanIndexError) as info:
        verify_proof(prove([e], e.key), EMPTY)
    assert (info.value.expected, info.value.found) == (EMPTY, e.hash)


def _first_key(bit: int, prefix: str) -> bytes:
    """The first loan key `t/<prefix>-<i>` whose top bit is `bit`."""
    return next(k for k in (loan_key("t", f"{prefix}-{i}") for i in range(64))
                if key_bit(k, 0) == bit)


def test_an_entry_off_the_keys_path_is_refused_though_the_hashes_lead_to_the_root() -> None:
    """A root that places a loan under the wrong prefix (no honest log builds one) cannot
    answer for a key whose path ends there: the prefix check, not the hashes, refuses it."""
    misplaced = Entry(_first_key(1, "L"), 1, 0, b"\x01" * 32)  # its key goes right
    bad_root = node_hash(misplaced.hash, EMPTY)  # the root puts it left
    asked = _first_key(0, "M")
    with pytest.raises(LoanIndexError, match="not on the key's path"):
        verify_proof(IndexProof(asked, (EMPTY,), misplaced), bad_root)


# --- the JSON form ------------------------------------------------------------------------


# JSON text can carry a lone surrogate (\ud800) but UTF-8 cannot: refused, tested below
unicode = st.text(alphabet=st.characters(codec="utf-8"), max_size=12)


@PROPS
@given(entry_maps(max_size=16), unicode, unicode, st.integers(0, 2**63))
def test_the_json_form_round_trips(entries: list[Entry], tenant: str, loan_id: str,
                                   tree_size: int) -> None:
    key = loan_key(tenant, loan_id)
    if entries:  # make the loan a member half of the time
        entries = [Entry(key, 2, 5, b"\x07" * 32), *entries[1:]]
        entries = list({e.key: e for e in entries}.values())
    proof = prove(entries, key)
    data = proof.as_json(tree_size, tenant, loan_id)
    assert data["schema"] == PROOF_SCHEMA and data["key"] == key.hex()
    assert IndexProof.from_json(data) == proof
    assert IndexProof.from_json(copy.deepcopy(data)).as_json(tree_size, tenant, loan_id) == data


def _valid_json() -> dict[str, Any]:
    a = Entry(loan_key("bank-a", "L-1"), 3, 9, b"\x01" * 32)
    b = Entry(loan_key("bank-a", "L-2"), 1, 4, b"\x02" * 32)
    return prove([a, b], a.key).as_json(10, "bank-a", "L-1")


def _set(path: str, value: Any) -> dict[str, Any]:
    data = _valid_json()
    *parents, last = path.split(".")
    node: Any = data
    for p in parents:
        node = node[int(p)] if isinstance(node, list) else node[p]
    if value is _DELETE:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return data


_DELETE = object()
HEX = "ab" * 32


@pytest.mark.parametrize("path, value, message", [
    ("schema", "cunzheng.loan-index-proof/v2", "schema must be 'cunzheng.loan-index-proof/v1'"),
    ("schema", _DELETE, "schema must be"),
    ("tree_size", _DELETE, "KeyError('tree_size')"),
    ("tree_size", -1, "tree_size must be an integer >= 0, got -1"),
    ("tree_size", True, "tree_size must be an integer >= 0, got True"),
    ("tree_size", "10", "tree_size must be an integer"),
    ("tenant", _DELETE, "KeyError('tenant')"),
    ("loan_id", 1, "tenant and loan_id must be strings"),
    ("loan_id", "L-2", "is not the key of tenant 'bank-a', loan 'L-2'"),
    ("loan_id", "\ud800", "valid Unicode"),
    ("key", _DELETE, "KeyError('key')"),
    ("key", HEX.upper(), "key must be 64 lowercase hex digits"),
    ("key", HEX[:62], "key must be 64 lowercase hex digits"),
    ("key", HEX + "ab", "key must be 64 lowercase hex digits"),
    ("key", "zz" * 32, "key must be 64 lowercase hex digits"),
    ("key", HEX[:62] + "  ", "key must be 64 lowercase hex digits"),  # fromhex skips spaces
    ("key", HEX[:62] + "\n\t", "key must be 64 lowercase hex digits"),
    ("key", bytes(32), "key must be 64 lowercase hex digits"),
    ("siblings", _DELETE, "KeyError('siblings')"),
    ("siblings", "ab" * 32, "siblings must be a list of at most 256 hashes"),
    ("siblings", [HEX] * 257, "siblings must be a list of at most 256 hashes"),
    ("siblings.0", HEX.upper(), "sibling must be 64 lowercase hex digits"),
    ("siblings.0", None, "sibling must be 64 lowercase hex digits"),
    ("siblings.0", "0x" + HEX[:62], "sibling must be 64 lowercase hex digits"),
    ("entry", _DELETE, "KeyError('entry')"),
    ("entry", [], "malformed loan index proof"),
    ("entry.count", _DELETE, "KeyError('count')"),
    ("entry.count", True, "entry.count must be an integer"),
    ("entry.count", 1.0, "entry.count must be an integer"),
    ("entry.count", "3", "entry.count must be an integer"),
    ("entry.count", 0, "value out of range: count 0"),
    ("entry.count", 2**64, "value out of range: count 18446744073709551616"),
    ("entry.last_leaf_index", False, "entry.last_leaf_index must be an integer"),
    ("entry.last_leaf_index", -1, "value out of range"),
    ("entry.last_leaf_index", 2**64, "value out of range"),
    ("entry.key", "AB" * 32, "entry.key must be 64 lowercase hex digits"),
    ("entry.last_leaf_hash", HEX[:-2], "entry.last_leaf_hash must be 64 lowercase hex digits"),
    ("entry.last_leaf_hash", _DELETE, "KeyError('last_leaf_hash')"),
])
def test_malformed_json_is_refused_naming_the_field(path: str, value: Any,
                                                    message: str) -> None:
    with pytest.raises(LoanIndexError, match="malformed loan index proof") as info:
        IndexProof.from_json(_set(path, value))
    assert message in str(info.value)


@pytest.mark.parametrize("data", [[], "proof", None, 7, {"schema": PROOF_SCHEMA}])
def test_json_that_is_not_a_proof_object_is_refused(data: Any) -> None:
    with pytest.raises(LoanIndexError, match="malformed loan index proof"):
        IndexProof.from_json(data)


def test_json_key_must_be_the_loans_key() -> None:
    """Regression: `from_json` took `key` on trust beside `tenant` and `loan_id`, so a
    proof for loan L-1 relabelled as L-2 (tenant and loan_id changed, key kept) parsed and
    verified, answering for L-1 under L-2's name."""
    data = _valid_json()
    data["loan_id"] = "L-2"
    with pytest.raises(LoanIndexError, match="is not the key of tenant"):
        IndexProof.from_json(data)


def test_json_hex_with_whitespace_is_refused() -> None:
    """Regression: `bytes.fromhex` skips ASCII whitespace, so a key of 62 digits and two
    spaces parsed as a 31-byte key (and `verify_proof` answered "not in the map")."""
    for bad in ("ab" * 31 + "  ", "ab" * 31 + "\n\t", " " + "ab" * 31 + " "):
        for path in ("siblings.0", "entry.last_leaf_hash"):
            with pytest.raises(LoanIndexError, match="64 lowercase hex digits"):
                IndexProof.from_json(_set(path, bad))


def test_a_key_that_is_not_32_bytes_is_refused() -> None:
    """Regression: `verify_proof` and `prove` took a key of any length (an IndexError past
    its last byte, or an answer about a key no loan can have)."""
    with pytest.raises(LoanIndexError, match="32 bytes, got 31"):
        verify_proof(IndexProof(bytes(31), (), None), EMPTY)
    with pytest.raises(MerkleError, match="32 bytes, got 33"):
        prove([], bytes(33))


def test_prove_refuses_a_key_held_twice() -> None:
    """Regression: `prove` over a list holding one key twice ran past bit 255 and raised a
    bare IndexError; `root_of` already refused it."""
    e = Entry(loan_key("t", "L"), 1, 0, bytes(32))
    with pytest.raises(MerkleError, match="each key once"):
        prove([e, e], e.key)
    with pytest.raises(MerkleError, match="each key once"):
        root_of([e, e])


# --- the worst case is cheap ----------------------------------------------------------------


def _deepest() -> tuple[IndexProof, bytes, Entry]:
    """Two keys that differ only in their last bit: the longest proof there is, 256
    siblings (255 of them empty), and a valid one."""
    a = Entry(b"\x5a" * 31 + b"\x00", 2, 41, b"\x01" * 32)
    b = Entry(b"\x5a" * 31 + b"\x01", 1, 40, b"\x02" * 32)
    proof = prove([a, b], a.key)
    assert len(proof.siblings) == KEY_BITS
    return proof, root_of([a, b]), a


def test_the_longest_proof_costs_257_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """The work bound, counted rather than timed: one leaf hash and one node hash a level."""
    import cunzheng_verify.loanindex as li

    proof, root, a = _deepest()
    calls = []

    class Counting:
        @staticmethod
        def sha256(data: bytes) -> Any:
            calls.append(len(data))
            return hashlib.sha256(data)

    monkeypatch.setattr(li, "hashlib", Counting)
    assert verify_proof(proof, root) == a
    assert len(calls) == KEY_BITS + 1
    assert sorted(set(calls)) == [65, 81]  # node: 1 + 32 + 32 bytes, leaf: 1 + 32 + 8 + 8 + 32
