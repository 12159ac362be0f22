"""Encryption at rest and crypto-shredding.

Each loan's record contents are sealed with its own 256-bit data key (AES-GCM); each
document with a data key of its own. A sealed record's associated data binds the columns
every view shows beside it (`RecordColumns`: leaf hash, tenant, loan id, event id, event
type, received_at), so a record cannot be moved to another leaf and a changed column makes
it fail to open. Records sealed before that format (`CZE1`) bound the leaf hash alone; they
still open, and fsck compares their columns with their content. Data keys are stored
wrapped (AES-GCM) by the master key from the settings. Erasing a loan's personal data
destroys its wrapped key and its contents: the leaf hashes stay, so every proof stays
valid, and nothing can decrypt what might remain in a backup. Rotating the master key
rewraps the data keys; contents are not re-encrypted.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from anchoring.errors import AnchoringError

SEALED_PREFIX = b"CZE"
"""Every sealed blob starts with this and a format version byte; plaintext starts with "{"."""
SEALED_V1 = SEALED_PREFIX + b"1"
"""Associated data as the caller gives it: a record's leaf hash, a data key's label, a
document's SHA-256."""
SEALED_V2 = SEALED_PREFIX + b"2"
"""Records only: associated data `RecordColumns.associated_data()`."""
RECORD_AAD_DOMAIN = b"cunzheng.sealed-record/v2\n"
NONCE_BYTES = 12
KEY_BYTES = 32


class CryptoError(AnchoringError):
    """A key is wrong or missing, or sealed data was altered."""


def master_key_id(master_key: bytes) -> str:
    return hashlib.sha256(b"cunzheng master key\n" + master_key).hexdigest()[:16]


@dataclass(frozen=True)
class MasterKeys:
    """The current master key, and older ones still accepted for unwrapping during a
    rotation."""

    current: bytes
    previous: tuple[bytes, ...] = ()

    def __post_init__(self) -> None:
        for k in (self.current, *self.previous):
            if len(k) != KEY_BYTES:
                raise CryptoError(f"a master key must be {KEY_BYTES} bytes, got {len(k)}")

    @property
    def current_id(self) -> str:
        return master_key_id(self.current)

    def by_id(self, key_id: str) -> bytes:
        for k in (self.current, *self.previous):
            if master_key_id(k) == key_id:
                return k
        raise CryptoError(f"no master key with id {key_id} is configured (current is "
                          f"{self.current_id}); was the master key rotated without keeping the "
                          "old one?")


@dataclass(frozen=True, slots=True)
class RecordColumns:
    """The columns stored beside a record that the API and the pages show: what a sealed
    record (`SEALED_V2`) binds as associated data."""

    leaf_hash: bytes
    tenant: str
    loan_id: str
    event_id: str
    event_type: str
    received_at: str

    def associated_data(self) -> bytes:
        """`RECORD_AAD_DOMAIN`, then each field as a 4-byte big-endian length and its bytes
        (the leaf hash raw, the others UTF-8), in the order above: no two different column
        sets encode alike."""
        out = [RECORD_AAD_DOMAIN]
        for part in (self.leaf_hash, self.tenant.encode(), self.loan_id.encode(),
                     self.event_id.encode(), self.event_type.encode(),
                     self.received_at.encode()):
            out.append(len(part).to_bytes(4, "big") + part)
        return b"".join(out)


def _seal(key: bytes, plaintext: bytes, aad: bytes, mark: bytes = SEALED_V1) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return mark + nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def _open(key: bytes, sealed: bytes, aad: bytes, what: str, mark: bytes = SEALED_V1) -> bytes:
    if not sealed.startswith(mark):
        found = sealed_version(sealed)
        raise CryptoError(f"{what} is not sealed data" if found is None else
                          f"{what}: expected sealed format {mark.decode()}, found "
                          f"{sealed[:len(mark)]!r}")
    body = sealed[len(mark):]
    try:
        return AESGCM(key).decrypt(body[:NONCE_BYTES], body[NONCE_BYTES:], aad)
    except InvalidTag:
        raise CryptoError(
            f"{what} does not decrypt: altered, moved, or sealed under another key") from None


def is_sealed(blob: bytes) -> bool:
    return blob.startswith(SEALED_PREFIX)


def sealed_version(blob: bytes) -> int | None:
    """1 or 2 for a sealed blob of that format, None for plaintext; raises `CryptoError` for
    a sealed mark of an unknown version."""
    if not is_sealed(blob):
        return None
    if blob.startswith(SEALED_V1):
        return 1
    if blob.startswith(SEALED_V2):
        return 2
    raise CryptoError(f"unknown sealed format {blob[:len(SEALED_V1)]!r}")


class Cipher:
    """Seals and opens record contents and documents with data keys wrapped by the master."""

    def __init__(self, keys: MasterKeys) -> None:
        self.keys = keys

    def new_data_key(self, label: bytes) -> tuple[bytes, bytes, str]:
        """(data key, wrapped data key, master key id) for the loan or document `label`."""
        key = AESGCM.generate_key(bit_length=256)
        return key, _seal(self.keys.current, key, b"data-key\n" + label), self.keys.current_id

    def unwrap(self, wrapped: bytes, master_id: str, label: bytes) -> bytes:
        return _open(self.keys.by_id(master_id), wrapped, b"data-key\n" + label,
                     "a wrapped data key")

    def rewrap(self, wrapped: bytes, master_id: str, label: bytes) -> tuple[bytes, str]:
        key = self.unwrap(wrapped, master_id, label)
        return _seal(self.keys.current, key, b"data-key\n" + label), self.keys.current_id

    @staticmethod
    def seal(data_key: bytes, plaintext: bytes, aad: bytes) -> bytes:
        return _seal(data_key, plaintext, aad)

    @staticmethod
    def open(data_key: bytes, sealed: bytes, aad: bytes, what: str) -> bytes:
        return _open(data_key, sealed, aad, what)

    @staticmethod
    def seal_record(data_key: bytes, record: bytes, columns: RecordColumns) -> bytes:
        """A record sealed in the current format (`SEALED_V2`), bound to its columns."""
        return _seal(data_key, record, columns.associated_data(), SEALED_V2)

    @staticmethod
    def open_record(data_key: bytes, sealed: bytes, columns: RecordColumns) -> bytes:
        """A sealed record's bytes; raises `CryptoError` if it was altered, moved, sealed
        under another key, or (`SEALED_V2`) any of its columns differs from when it was
        sealed. A `SEALED_V1` record binds only its leaf hash."""
        what = f"the record of leaf hash {columns.leaf_hash.hex()}"
        if sealed_version(sealed) == 1:
            return _open(data_key, sealed, columns.leaf_hash, what)
        return _open(data_key, sealed, columns.associated_data(),
                     what + " (sealed with its columns: was one of them changed?)", SEALED_V2)


def loan_label(tenant: str, loan_id: str) -> bytes:
    return f"loan\n{tenant}\n{loan_id}".encode()


def document_label(sha256: str) -> bytes:
    return f"document\n{sha256}".encode()
