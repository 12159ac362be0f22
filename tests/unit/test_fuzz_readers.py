"""Fuzzing the readers of untrusted bytes with hypothesis, at a budget the normal suite
affords (`FUZZ_EXAMPLES` per property; raise it with CUNZHENG_FUZZ_EXAMPLES for a longer
run): the strict JSON reader (`cunzheng_verify.strictjson`), the signed-note reader
(`cunzheng_verify.notes`), the loan index proof reader (`cunzheng_verify.loanindex`) and the
package reader (`cunzheng_verify`).

Properties: each reader raises nothing but its documented error (`RecordError`,
`CheckpointError`; the package reader never raises at all and reports instead); the JSON
pre-check finds the nesting depth a plain one-character-at-a-time state machine finds; what
the strict reader accepts is what `json.loads` reads; a signed note reads back as signed.
Inputs are drawn from the characters that matter to each format (quotes, backslashes,
brackets, newlines, em dashes, base64), so the shrinker finds a small case when one fails.
Each example is also held to a time bound (`deadline`): generous, but far below what a
super-linear path costs on the larger inputs.
"""

from __future__ import annotations

import base64
import json
import os
from datetime import timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anchoring.errors import CheckpointError, RecordError
from cunzheng_verify import MANIFEST, MANIFEST_SIG, Status, strictjson, verify_package
from cunzheng_verify.loanindex import (
    Entry,
    IndexProof,
    LoanIndexError,
    loan_key,
    prove,
    root_of,
    verify_proof,
)
from cunzheng_verify.notes import (
    Checkpoint,
    Signer,
    parse_checkpoint,
    sign_checkpoint,
    verify_checkpoint,
)
from cunzheng_verify.records import MAX_JSON_DEPTH, parse_json
from dispute.package import deterministic_zip

FUZZ_EXAMPLES = int(os.environ.get("CUNZHENG_FUZZ_EXAMPLES", "200"))
FUZZ = settings(max_examples=FUZZ_EXAMPLES, deadline=timedelta(seconds=2),
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# --- JSON ---------------------------------------------------------------------------------

JSON_TOKENS = ['"', "\\", '\\"', "\\\\", "[", "]", "{", "}", ",", ":", " ", "\n", "1", "-1",
               "1.5", "1e400", "a", "é", "\U0001f600", "true", "null", "NaN", '"k"', '"a":',
               "\\u00e9", "\\ud800", "\x00", "9" * 20]
json_like = st.lists(st.sampled_from(JSON_TOKENS), max_size=400).map("".join)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.text(alphabet=st.sampled_from('a"\\[]{}é\n\U0001f600'), max_size=8),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(alphabet='ab"\\[', max_size=3), inner, max_size=4),
    max_leaves=40)


def reference_depth(data: bytes) -> int:
    """Nesting depth outside strings, one character at a time (the obvious, slow way)."""
    depth = best = 0
    in_string = escaped = False
    for c in data:
        if in_string:
            if escaped:
                escaped = False
            elif c == 0x5C:
                escaped = True
            elif c == 0x22:
                in_string = False
        elif c == 0x22:
            in_string = True
        elif c in b"[{":
            depth += 1
            best = max(best, depth)
        elif c in b"]}":
            depth -= 1
    return best


def fast_depth(data: bytes) -> int:
    brackets = strictjson._outside_strings(data).translate(None, strictjson._NOT_BRACKET)
    return max(0, strictjson._max_depth(brackets))


@FUZZ
@given(json_like)
def test_json_reader_raises_only_record_errors(text: str) -> None:
    data = text.encode("utf-8", "surrogatepass")
    try:
        value = parse_json(data, max_bytes=len(data) + 1)
    except RecordError:
        return
    # accepted: exactly what json.loads reads, and within every bound
    assert value == json.loads(data)
    assert reference_depth(data) <= MAX_JSON_DEPTH


@FUZZ
@given(st.binary(max_size=600))
def test_json_reader_on_arbitrary_bytes(data: bytes) -> None:
    try:
        parse_json(data, max_bytes=600)
    except RecordError:
        pass


@FUZZ
@given(st.one_of(json_like.map(lambda t: t.encode("utf-8", "surrogatepass")),
                 st.binary(max_size=400),
                 json_values.map(lambda v: json.dumps(v, ensure_ascii=False).encode("utf-8",
                                                                                     "surrogatepass"))))
def test_linear_depth_check_agrees_with_the_state_machine(data: bytes) -> None:
    assert fast_depth(data) == reference_depth(data)


@FUZZ
@given(json_values)
def test_json_reader_reads_every_value_it_may_be_given(value: Any) -> None:
    data = json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")
    try:
        assert parse_json(data, max_bytes=len(data)) == value
    except RecordError as exc:  # only for the documented reasons
        assert "UTF-8" in str(exc) or "duplicate" in str(exc), exc


@FUZZ
@given(st.integers(1, 40), st.sampled_from(["[", '{"a":', '["\\"",']),
       st.sampled_from(["", '"', '"\\"\\"', "]]"]))
def test_nesting_is_refused_exactly_past_the_limit(depth: int, opener: str, tail: str) -> None:
    closer = {"[": "]", '{"a":': "}", '["\\"",': "]"}[opener]
    data = (opener * depth + "1" + closer * depth + tail).encode()
    try:
        parse_json(data, max_bytes=len(data))
        accepted = True
    except RecordError as exc:
        accepted = False
        if depth > MAX_JSON_DEPTH:
            assert "nested deeper" in str(exc), exc
    assert accepted == (depth <= MAX_JSON_DEPTH and tail == "")


# --- signed notes ------------------------------------------------------------------------

SIGNER = Signer("cunzheng.test/log", Ed25519PrivateKey.from_private_bytes(b"\x07" * 32))
NOTE_TOKENS = ["\n", "\n\n", "\u2014 ", "\u2014", " ", "cunzheng.test/log", "1", "0", "01",
               "AAAA", "=", "+", "/", "x", "\\", '"', "\r", "\x00", "é",
               base64.b64encode(b"\x00" * 32).decode(), base64.b64encode(b"\x01" * 68).decode()]
note_like = st.lists(st.sampled_from(NOTE_TOKENS), max_size=200).map("".join)


def _real_note(tree_size: int, root: bytes) -> str:
    return sign_checkpoint(Checkpoint(SIGNER.name, tree_size, root), SIGNER)


@FUZZ
@given(st.one_of(note_like, st.text(max_size=300)))
def test_note_reader_raises_only_checkpoint_errors(note: str) -> None:
    try:
        verify_checkpoint(note, key_name=SIGNER.name, public_key=SIGNER.public_key)
    except CheckpointError:
        pass


@FUZZ
@given(st.integers(0, 2**64 - 1), st.binary(min_size=32, max_size=32),
       st.integers(0, 400), st.sampled_from(NOTE_TOKENS))
def test_a_signed_note_reads_back_and_any_edit_is_refused(size: int, root: bytes, at: int,
                                                          insert: str) -> None:
    note = _real_note(size, root)
    assert verify_checkpoint(note, key_name=SIGNER.name,
                             public_key=SIGNER.public_key) == Checkpoint(SIGNER.name, size, root)
    at = min(at, len(note))
    edited = note[:at] + insert + note[at:]
    try:
        found = verify_checkpoint(edited, key_name=SIGNER.name, public_key=SIGNER.public_key)
    except CheckpointError:
        return
    # an edit that still verifies can only be one the note format ignores (another
    # signature line) and must read back the very same checkpoint
    assert found == Checkpoint(SIGNER.name, size, root)
    assert parse_checkpoint(edited)[0] == found


# --- loan index proofs -------------------------------------------------------------------

_LOANS = [Entry(loan_key("bank-a", f"L-{i}"), i, 9 + i, bytes([i]) * 32) for i in (1, 2, 3)]
INDEX_PROOF = prove(_LOANS, _LOANS[0].key).as_json(12, "bank-a", "L-1")
INDEX_ROOT = root_of(_LOANS)


@FUZZ
@given(json_values, st.sampled_from(sorted(INDEX_PROOF)),
       st.sampled_from(sorted(INDEX_PROOF["entry"])))
def test_loan_index_proof_reader_raises_only_its_error(value: Any, member: str,
                                                       entry_member: str) -> None:
    """Any JSON value as a proof, as one member of a real proof, or as one member of its
    entry: `IndexProof.from_json` and `verify_proof` answer or raise `LoanIndexError`, and
    what still verifies is the real proof."""
    entry = {**INDEX_PROOF["entry"], entry_member: value}
    for data in (value, {**INDEX_PROOF, member: value}, {**INDEX_PROOF, "entry": entry}):
        try:
            proof = IndexProof.from_json(data)
            found = verify_proof(proof, INDEX_ROOT)
        except LoanIndexError:
            continue
        assert proof == IndexProof.from_json(INDEX_PROOF) and found == _LOANS[0]


# --- packages ----------------------------------------------------------------------------




def _base_entries() -> dict[str, bytes]:
    from tests.unit.test_hostile_parsers import _checkpoint

    items = [{"no": "1", "title": "t", "source": "s", "purpose": "p", "leaf_index": 0,
              "leaf_hash": "00" * 32, "record": "records/0.json", "proof": "proofs/0.json",
              "checkpoint_size": 1, "documents": []}]
    manifest = {"schema": "cunzheng.package/v1", "package_id": "pkg-x",
                "created_at": "2026-03-02T00:00:00Z", "venue": "court",
                "log": {"origin": SIGNER.name, "key_name": SIGNER.name,
                        "public_key": base64.b64encode(SIGNER.public_key).decode()},
                "chain": {"chain_id": 1, "contract": "0x" + "00" * 20},
                "loan": {"loan_id": "L-1", "tenant": "bank-a"}, "items": items,
                "checkpoints": [_checkpoint(1)], "files": {}}
    return {MANIFEST: json.dumps(manifest).encode(), MANIFEST_SIG: b"{}",
            "records/0.json": b"{}", "proofs/0.json": b'{"audit_path": []}',
            "checkpoints/1.txt": _real_note(1, b"\x00" * 32).encode()}


BASE = _base_entries()
file_content = st.one_of(st.binary(max_size=300),
                         json_like.map(lambda t: t.encode("utf-8", "surrogatepass")),
                         note_like.map(str.encode))


@FUZZ
@given(st.dictionaries(st.sampled_from(sorted(BASE)), file_content, max_size=5),
       st.lists(st.sampled_from(["../x", "a\\b", "records/0.json", "x" * 300, "/abs", "c:x"]),
                max_size=3))
def test_package_reader_never_raises_on_hostile_entries(changed: dict[str, bytes],
                                                        extra: list[str]) -> None:
    entries = {**BASE, **changed, **{name: b"owned" for name in extra}}
    report = verify_package(deterministic_zip(entries))
    assert report.steps and report.failures  # a hostile package never passes
    assert all(isinstance(s.status, Status) and s.reason for s in report.steps)
    report.as_json()


@FUZZ
@given(st.binary(max_size=2000), st.integers(0, 4000), st.binary(min_size=1, max_size=8))
def test_package_reader_never_raises_on_corrupt_zips(junk: bytes, at: int, flip: bytes) -> None:
    data = bytearray(deterministic_zip(BASE))
    at = at % len(data)
    data[at:at + len(flip)] = flip
    for candidate in (bytes(data), junk, b"PK\x03\x04" + junk):
        report = verify_package(candidate)
        assert report.failures and not report.ok  # unsigned: never passes, never raises


def test_found_by_fuzzing_non_ascii_base64_in_a_note() -> None:
    """`base64.b64decode(validate=True)` raises ValueError, not binascii.Error, on a
    non-ASCII string: it escaped the note reader as a bare ValueError."""
    root = base64.b64encode(bytes(32)).decode()
    for note in ("o\n1\n\u2014" + root[1:] + "\n\n\u2014 k AAAAAAAA\n",
                 f"o\n1\n{root}\n\n\u2014 k \u2014AAAAAAA\n"):
        try:
            parse_checkpoint(note)
        except CheckpointError as exc:
            assert "not base64" in str(exc)
        else:
            raise AssertionError(note)
