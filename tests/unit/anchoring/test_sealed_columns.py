"""Sealed records bind their columns (issue 13): `SEALED_V2` opens only with the columns it
was sealed with; `SEALED_V1` records (the leaf hash alone) still open."""

from __future__ import annotations

import os
from dataclasses import fields, replace

import pytest

from anchoring.crypto import (
    SEALED_PREFIX,
    SEALED_V1,
    SEALED_V2,
    Cipher,
    CryptoError,
    RecordColumns,
    is_sealed,
    sealed_version,
)

KEY = os.urandom(32)
COLS = RecordColumns(b"\x07" * 32, "bank-a", "L-1", "e-1", "repayment_received",
                     "2026-03-02T01:30:00.723886Z")
DATA = b'{"event_id":"e-1"}'


def test_a_record_opens_with_its_columns_and_with_no_other() -> None:
    blob = Cipher.seal_record(KEY, DATA, COLS)
    assert blob.startswith(SEALED_V2) and blob.startswith(SEALED_PREFIX)
    assert is_sealed(blob) and sealed_version(blob) == 2
    assert Cipher.open_record(KEY, blob, COLS) == DATA
    for f in fields(RecordColumns):
        changed = replace(COLS, **{f.name: b"\x08" * 32 if f.name == "leaf_hash" else "x"})
        with pytest.raises(CryptoError, match="was one of them changed"):
            Cipher.open_record(KEY, blob, changed)
    with pytest.raises(CryptoError):
        Cipher.open_record(os.urandom(32), blob, COLS)


def test_the_encoding_has_no_ambiguous_boundaries() -> None:
    a = replace(COLS, tenant="ab", loan_id="c").associated_data()
    b = replace(COLS, tenant="a", loan_id="bc").associated_data()
    assert a != b
    assert replace(COLS, event_id="", event_type="x").associated_data() != replace(
        COLS, event_id="x", event_type="").associated_data()


def test_records_sealed_before_still_open_with_the_leaf_hash_alone() -> None:
    old = Cipher.seal(KEY, DATA, COLS.leaf_hash)  # the CZE1 format
    assert old.startswith(SEALED_V1) and sealed_version(old) == 1
    # its columns are not bound: fsck compares them with the content instead
    assert Cipher.open_record(KEY, old, replace(COLS, event_type="disbursement")) == DATA
    with pytest.raises(CryptoError):
        Cipher.open_record(KEY, old, replace(COLS, leaf_hash=b"\x09" * 32))


def test_plaintext_and_unknown_formats() -> None:
    assert sealed_version(b'{"a":1}') is None and not is_sealed(b'{"a":1}')
    with pytest.raises(CryptoError, match="unknown sealed format"):
        sealed_version(b"CZE9" + bytes(40))
    with pytest.raises(CryptoError, match="unknown sealed format"):
        Cipher.open_record(KEY, b"CZE9" + bytes(40), COLS)
