"""Worst-case input of the maximum allowed size, for every parser that reads untrusted bytes.

Issue 10: the JSON pre-check stripped strings with a backtracking regular expression, so an
unclosed `"\\"\\"\\"...` cost time quadratic in its size (a 64 KB body: 14 s; a 1 MiB
`manifest.sig`: about an hour, extrapolated). Each case here is the construction that is
worst for the parser it targets (unclosed strings full of escapes, nesting, millions of
tiny values, lone quotes, backslash runs, repeated references), at the largest size the
boundary lets through, and must be answered, accepted or refused with our own error,
within `BOUND` seconds. The bound is a liveness bound for a loaded 2-core machine, not a
benchmark (figures: `bench/hostile_input.py`, `bench/README.md`); the quadratic code took
minutes to hours on these sizes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from anchoring.errors import AnchoringError, CheckpointError, RecordError
from cunzheng_verify import (
    MANIFEST,
    MANIFEST_SIG,
    MAX_JSON_BYTES,
    MAX_MANIFEST_BYTES,
    MAX_MANIFEST_ITEMS,
    MAX_PROOF_BYTES,
    PACKAGE_SCHEMA,
    Status,
    verify_package,
)
from cunzheng_verify.errors import CunzhengError
from cunzheng_verify.notes import (
    MAX_NOTE_BYTES,
    Checkpoint,
    Signer,
    parse_checkpoint,
    sign_checkpoint,
    verify_checkpoint,
)
from cunzheng_verify.records import (
    MAX_JSON_ITEMS,
    MAX_RECORD_BYTES,
    TooLarge,
    build_record,
    check_posted,
    parse_json,
    record_from_bytes,
)
from cunzheng_verify.trust import parse_trusted_key
from dispute.errors import TrustError
from dispute.package import deterministic_zip
from service.settings import Settings

BOUND = 5.0  # seconds; generous for a loaded 2-core machine
MAX_BODY = Settings.model_fields["max_body_bytes"].default  # the API's largest JSON body


def hostile_json(size: int) -> Iterator[tuple[str, bytes]]:
    """The JSON constructions that are worst for a string-state scan or the parser, `size`
    bytes each."""
    n = size
    yield "unclosed escaped quotes (issue 10)", b'"' + b'\\"' * ((n - 1) // 2)
    yield "closed escaped quotes", b'"' + b'\\"' * ((n - 2) // 2) + b'"'
    yield "object of escaped quotes", b'{"a":"' + b'\\"' * ((n - 8) // 2) + b'"}'
    yield "unclosed after a bracket", b"[" * 20 + b'"' + b'\\"' * ((n - 21) // 2)
    yield "deep nesting", b"[" * (n // 2) + b"]" * (n // 2)
    yield "deep objects", b'{"a":' * (n // 6) + b"1" + b"}" * (n // 6)
    yield "empty lists", b"[" + b"[]," * ((n - 4) // 3) + b"[]]"
    yield "empty strings", b"[" + b'"",' * ((n - 4) // 3) + b'""]'
    yield "lone quotes", b'"' * n
    yield "backslash run", b'"' + b"\\" * (n - 2) + b'"'
    yield "escaped backslashes", b'"' + b"\\\\" * ((n - 2) // 2) + b'"'
    yield "commas", b"[" + b"," * (n - 2) + b"]"
    yield "small integers", b"[" + b"1," * ((n - 3) // 2) + b"1]"
    yield "long integer", b"[" + b"9" * (n - 2) + b"]"
    yield "floats", b"[" + b"1.5," * ((n - 5) // 4) + b"1.5]"
    yield "one long string", b'"' + b"a" * (n - 2) + b'"'
    yield "unicode escapes", b'"' + b"\\u00e9" * ((n - 2) // 6) + b'"'
    yield "brackets inside a string", b'"' + b"[{" * ((n - 2) // 2) + b'"'
    keys = min(n // 16, MAX_JSON_ITEMS - 1)  # as many members as the limit lets through
    yield "many keys", b"{" + b",".join(b'"k%d":1' % i for i in range(keys)) + b"}"


def timed(fn: Callable[[], Any], expected: tuple[type[BaseException], ...]) -> float:
    started = time.perf_counter()
    try:
        fn()
    except expected:
        pass
    return time.perf_counter() - started


@pytest.mark.parametrize("size", [64 * 1024, MAX_BODY], ids=["64KB", "max-body"])
def test_parse_json_worst_cases_at_the_largest_body(size: int) -> None:
    assert size <= MAX_BODY
    slowest = ("", 0.0)
    for name, body in hostile_json(size):
        assert len(body) <= size
        took = timed(lambda body=body: parse_json(body, max_bytes=size), (RecordError,))
        assert took < BOUND, f"{name}: {took:.2f} s for {len(body)} bytes"
        slowest = max(slowest, (name, took), key=lambda x: x[1])
    print(f"\nparse_json, {size} bytes: slowest {slowest[0]!r} {slowest[1] * 1000:.0f} ms")


def test_the_issue_10_body_is_refused_with_a_clear_error_at_once() -> None:
    body = b'"' + b'\\"' * 24_000  # the lender's 48 KB body
    with pytest.raises(RecordError, match="Unterminated string"):
        parse_json(body, max_bytes=64 * 1024)


@pytest.mark.parametrize("body, error, needle", [
    (b"[" * 40 + b"]" * 40, RecordError, "nested deeper"),
    (b'"' + b"[" * 100 + b'"', None, ""),  # brackets in a string are not nesting
    (b'["\\"' + b"[" * 100 + b'"]', None, ""),  # nor after an escaped quote
    (b'["\\\\"' + b",[" * 40 + b"]" * 40 + b"]", RecordError, "nested deeper"),
    (b"[" + b"1," * MAX_JSON_ITEMS + b"1]", TooLarge, "limit"),
    (b"[" + b'"",' * (2 * MAX_JSON_ITEMS) + b'""]', TooLarge, "limit"),
    (b"[" + b"1," * (MAX_JSON_ITEMS - 2) + b"1]", None, ""),
    (b'{"a":1,"a":2}', RecordError, "duplicate JSON key"),
    (b'{"a":1.5}', RecordError, "non-integer"),
])
def test_every_guarantee_holds_after_the_rewrite(body: bytes, error: type[Exception] | None,
                                                 needle: str) -> None:
    if error is None:
        parse_json(body, max_bytes=len(body))
    else:
        with pytest.raises(error, match=needle):
            parse_json(body, max_bytes=len(body))


def test_record_reader_worst_cases() -> None:
    for name, body in hostile_json(MAX_RECORD_BYTES):
        took = timed(lambda body=body: record_from_bytes(body), (RecordError,))
        assert took < BOUND, f"{name}: {took:.2f} s"
    # a record larger than any record: refused on its size, before any parsing
    with pytest.raises(TooLarge, match="limit"):
        record_from_bytes(b'"' + b'\\"' * MAX_RECORD_BYTES)
    # deep nesting never reaches the C parser (the suite once segfaulted on it)
    with pytest.raises(RecordError, match="nested deeper"):
        record_from_bytes(b"[" * 30_000 + b"]" * 30_000)


def test_posted_event_validators_with_the_longest_fields() -> None:
    long = "a" * 60_000
    posted = {"event_id": long, "loan_id": "L", "type": "t", "occurred_at": "2" * 60_000,
              "payload": {}, "source": {"s": long}}
    for field, value in (("event_id", long), ("event_id", "a" * 128 + "\x00" * 60_000),
                         ("occurred_at", "2026-03-02T09:30:00" + "." + "1" * 60_000 + "Z"),
                         ("occurred_at", "2026-03-02T09:30:00+08:00" + " " * 60_000)):
        took = timed(lambda f=field, v=value: check_posted({**posted, "event_id": "e",
                                                            f: v}), (RecordError,))
        assert took < BOUND, (field, took)


def _note_cases() -> Iterator[tuple[str, str]]:
    n = MAX_NOTE_BYTES
    body = "o\n1\n" + base64.b64encode(b"\x00" * 32).decode() + "\n\n"
    yield "many signature lines", body + "\u2014 k AAAAAAAA\n" * ((n - len(body)) // 14)
    yield "one long line", body + "\u2014 " + "k" * (n - len(body) - 8) + " A=\n"
    yield "blank lines", "\n" * n
    yield "escapes", body + "\u2014 k " + '\\"' * ((n - len(body) - 8) // 2) + "\n"
    yield "spaces", body + "\u2014 " + " " * (n - len(body) - 6) + "\n"
    yield "over the limit", "x" * (64 * n)


def test_signed_note_reader_worst_cases() -> None:
    signer = Signer("o", __import__("cryptography.hazmat.primitives.asymmetric.ed25519",
                                    fromlist=["x"]).Ed25519PrivateKey.generate())
    for name, note in _note_cases():
        took = timed(lambda note=note: verify_checkpoint(note, key_name="o",
                                                         public_key=signer.public_key),
                     (CheckpointError,))
        assert took < BOUND, (name, took)
    # the reader still reads a real note
    note = sign_checkpoint(Checkpoint("o", 1, b"\x01" * 32), signer)
    assert parse_checkpoint(note)[0].tree_size == 1


def test_trusted_key_reader_with_a_long_hostile_key() -> None:
    for text in ("a+" * 40_000, "k+0000000g+" + "A" * 80_000, "=" * 80_000, " " * 80_000):
        took = timed(lambda text=text: parse_trusted_key(text), (TrustError,))
        assert took < BOUND, took


def test_loan_index_proof_reader_with_huge_hostile_proofs() -> None:
    """A million siblings, a megabyte-long sibling, the longest proof of whitespace hex:
    refused on the count or the first bad value, at once."""
    from cunzheng_verify.loanindex import Entry, IndexProof, LoanIndexError, loan_key, prove

    e = Entry(loan_key("bank-a", "L-1"), 1, 0, b"\x01" * 32)
    good = prove([e], e.key).as_json(1, "bank-a", "L-1")
    for name, data, needle in (
            ("a million siblings", {**good, "siblings": ["00" * 32] * 1_000_000}, "at most 256"),
            ("a long sibling", {**good, "siblings": ["0" * (1 << 20)]}, "64 lowercase hex"),
            ("whitespace hex", {**good, "siblings": [" " * 64] * 256}, "64 lowercase hex"),
            ("a long loan id", {**good, "loan_id": "\u8d37" * (1 << 20)}, "is not the key")):
        started = time.perf_counter()
        with pytest.raises(LoanIndexError, match=needle) as info:
            IndexProof.from_json(data)
        assert time.perf_counter() - started < BOUND, name
        assert len(str(info.value)) < 400, name  # the message quotes a bounded excerpt


# --- the package reader -----------------------------------------------------------------




def _verify(data: bytes) -> tuple[float, Any]:
    started = time.perf_counter()
    report = verify_package(data)
    return time.perf_counter() - started, report


def _failed(report: Any, step: str) -> str:
    reasons = [s.reason for s in report.steps if s.step == step and s.status is Status.FAILED]
    assert reasons, [s.as_json() for s in report.steps][:5]
    return reasons[0]


@pytest.mark.parametrize("size", [64 * 1024, MAX_JSON_BYTES], ids=["64KB", "max"])
def test_manifest_sig_of_the_issue_10_pattern(size: int) -> None:
    """The attack: a `manifest.sig` of an unclosed string of escaped quotes (14.8 s at 64 KB
    through the API, 16.8 s offline; about an hour at 1 MiB)."""
    sig = b'"' + b'\\"' * ((size - 1) // 2)
    data = deterministic_zip({MANIFEST: b"{}", MANIFEST_SIG: sig})
    assert len(data) < 8 * 1024  # a few KB of zip
    took, report = _verify(data)
    assert took < BOUND, took
    assert "Unterminated string" in _failed(report, "manifest.signature")


def test_manifest_of_every_hostile_shape_at_its_largest() -> None:
    for name, body in hostile_json(MAX_MANIFEST_BYTES):
        took, report = _verify(deterministic_zip({MANIFEST: body, MANIFEST_SIG: b"{}"}))
        assert took < BOUND, (name, took)
        assert not report.ok
    # a manifest of more values than any package has: refused before the parser builds them
    body = b"[" + b"1," * MAX_MANIFEST_ITEMS + b"1]"
    took, report = _verify(deterministic_zip({MANIFEST: body, MANIFEST_SIG: b"{}"}))
    assert "limit" in _failed(report, "manifest.schema") and took < BOUND


def _posted(i: int, doc_sha: str, doc_size: int) -> dict[str, Any]:
    from tests.conftest import make_event

    return make_event(f"E-{i}", documents=[{"role": "contract", "sha256": doc_sha,
                                            "media_type": "application/pdf",
                                            "filename": "c.pdf", "size": doc_size}])


def _shaped_package(files: dict[str, bytes], items: list[dict[str, Any]],
                    checkpoints: list[dict[str, Any]]) -> bytes:
    """A package whose manifest has every field (its signature does not verify: the
    verifier goes on through every other step, which is what is timed)."""
    manifest = {
        "schema": PACKAGE_SCHEMA, "package_id": "pkg-x", "created_at": "2026-03-02T00:00:00Z",
        "venue": "court", "log": {"origin": "o", "key_name": "o",
                                  "public_key": base64.b64encode(b"\x00" * 32).decode()},
        "chain": {"chain_id": 1, "contract": "0x" + "00" * 20},
        "loan": {"loan_id": "L-1", "tenant": "bank-a"}, "items": items,
        "checkpoints": checkpoints,
        "files": {p: hashlib.sha256(d).hexdigest() for p, d in files.items()},
    }
    return deterministic_zip({**files, MANIFEST: json.dumps(manifest).encode(),
                              MANIFEST_SIG: b"{}"})


def _checkpoint(size: int) -> dict[str, Any]:
    return {"tree_size": size, "root": "00" * 32, "note": f"checkpoints/{size}.txt",
            "anchor": {"chain_id": 1, "contract": "0x" + "00" * 20, "tx_hash": "0x" + "00" * 32,
                       "block_number": 1, "block_hash": "0x" + "00" * 32,
                       "block_time": "2026-03-02T00:00:00Z"}, "cosigners": []}


def test_one_large_document_named_over_and_over_is_hashed_once() -> None:
    """1000 items naming one 48 MiB document 64 times each: 64 000 references. Hashed per
    reference that was ~3 TB of SHA-256; each file is hashed once."""
    doc = b"\x00" * (48 * 1024 * 1024)
    sha = hashlib.sha256(doc).hexdigest()
    rec = build_record(_posted(0, sha, len(doc)), tenant="bank-a",
                       received_at=datetime(2026, 3, 2, tzinfo=UTC), salt=b"\x01" * 32)
    item = {"no": "1", "title": "t", "source": "s", "purpose": "p", "leaf_index": 0,
            "leaf_hash": rec.leaf_hash.hex(), "record": "records/0.json",
            "proof": "proofs/0.json", "checkpoint_size": 1,
            "documents": [{"role": "contract", "sha256": sha, "path": "documents/c.pdf"}] * 64}
    data = _shaped_package({"records/0.json": rec.data, "documents/c.pdf": doc},
                           [item] * 1000, [_checkpoint(1)])
    took, report = _verify(data)
    assert took < 2 * BOUND, took  # the zip itself is 48 MiB to inflate and hash once
    docs = [s for s in report.steps if s.step == "record.document"]
    assert len(docs) == 64_000 and all(s.status is Status.OK for s in docs), docs[0]
    # and a 65th reference is more than a record may cite
    too_many = {**item, "documents": item["documents"] * 2}
    took, report = _verify(_shaped_package({"records/0.json": rec.data, "documents/c.pdf": doc},
                                           [too_many], [_checkpoint(1)]))
    assert "at most 64" in _failed(report, "item.entry")


def test_a_thousand_hostile_proofs_and_notes() -> None:
    """1000 items, each with its own proof file of the worst shape at the proof limit, and
    1000 checkpoints with consistency proofs and notes of the worst shape."""
    pattern = b'{"audit_path":"' + b'\\"' * (MAX_PROOF_BYTES // 2 - 10)
    assert len(pattern) <= MAX_PROOF_BYTES
    files, items = {}, []
    for i in range(1000):
        files[f"proofs/{i}.json"] = pattern
        items.append({"no": str(i), "title": "t", "source": "s", "purpose": "p",
                      "leaf_index": i, "leaf_hash": "00" * 32, "record": f"records/{i}.json",
                      "proof": f"proofs/{i}.json", "checkpoint_size": 1000, "documents": []})
    cps = [_checkpoint(s) for s in range(1, 1001)]
    for s in range(1, 1001):
        files[f"checkpoints/{s}.txt"] = ("\u2014 k A\n" * (MAX_NOTE_BYTES // 8)).encode()
        if s < 1000:
            files[f"proofs/consistency/{s}-1000.json"] = pattern
    files["checkpoints/1000.txt"] = b"x" * (4 * 1024 * 1024)  # over the note limit
    took, report = _verify(_shaped_package(files, items, cps))
    assert took < 2 * BOUND, took
    assert "Unterminated string" in _failed(report, "proof.inclusion")
    assert "Unterminated string" in _failed(report, "checkpoint.consistency")
    assert any("limit" in s.reason for s in report.steps if s.step == "checkpoint.signature")
    # a proof over its limit is refused on its size (a valid one is ~9 KB at most)
    files["proofs/0.json"] = b" " * (MAX_PROOF_BYTES + 1)
    took, report = _verify(_shaped_package(files, items, cps))
    assert any("limit" in s.reason for s in report.steps if s.step == "proof.inclusion")


def test_errors_raised_are_ours() -> None:
    """What the readers raise on hostile input is in our error family (the API and CLI turn
    it into a clear 4xx / one line), never a RecursionError or a ValueError."""
    for _name, body in hostile_json(64 * 1024):
        try:
            parse_json(body, max_bytes=64 * 1024)
        except CunzhengError as exc:
            assert isinstance(exc, AnchoringError)


# --- the witness reads the log's answers (it trusts the log no more than a court does) ------


@pytest.mark.parametrize("answer, status", [
    (b"[" * 100_000 + b"]" * 100_000, 200),  # json.loads would recurse 100 000 deep
    (b'"' + b'\\"' * 30_000, 200),  # the issue-10 pattern
    (b'{"size1": 1, "size2": 2, "proof": ["zz"]}', 200),
    (b'{"size1": 1, "size2": 2, "proof": "x"}', 200),
    (b"[]", 200),
    (b" " * (1 << 20), 200),  # larger than any proof
    (b"[" * 100_000, 404),
])
def test_witness_refuses_a_hostile_log_answer_clearly(answer: bytes, status: int) -> None:
    import httpx

    from anchoring.witness import HttpLogSource, WitnessRefusal

    transport = httpx.MockTransport(lambda request: httpx.Response(status, content=answer))
    source = HttpLogSource(httpx.Client(transport=transport, base_url="http://log"), "k")
    started = time.perf_counter()
    with pytest.raises(WitnessRefusal):
        source.consistency_proof(1, 2)
    assert time.perf_counter() - started < BOUND


def _version_64_zip() -> bytes:
    """A zip whose central directory asks for "version 6.4 to extract": `zipfile` raises
    NotImplementedError, which escaped the package reader (found by fuzzing)."""
    data = bytearray(deterministic_zip({MANIFEST: b"{}", MANIFEST_SIG: b"{}"}))
    at = data.find(b"PK\x01\x02")
    data[at + 6:at + 8] = (64).to_bytes(2, "little")
    return bytes(data)


def test_a_zip_of_an_unsupported_version_is_a_failed_step() -> None:
    report = verify_package(_version_64_zip())
    assert "zip file version 6.4" in _failed(report, "zip.open")


def test_a_central_directory_placed_past_its_end_is_a_failed_step() -> None:
    """Found by fuzzing: the end record names the central directory 256 bytes further on
    than it is, so each entry's header lies at a negative offset and `zipfile` raised a
    bare ValueError ("negative seek value") out of the package reader."""
    data = bytearray(deterministic_zip({MANIFEST: b"{}", MANIFEST_SIG: b"{}"}))
    at = data.rfind(b"PK\x05\x06")
    offset = int.from_bytes(data[at + 16:at + 20], "little")
    data[at + 16:at + 20] = (offset + 256).to_bytes(4, "little")
    report = verify_package(bytes(data))
    assert "negative seek" in _failed(report, "file.name")
