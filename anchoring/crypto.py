"""Encryption at rest and crypto-shredding.

Each loan's record contents are sealed with its own 256-bit data key (AES-GCM, the leaf
hash as associated data, so a sealed record cannot be moved to another leaf); each document
with a data key of its own. Data keys are stored wrapped (AES-GCM) by the master key from
the settings. Erasing a loan's personal data destroys its wrapped key and its contents: the
leaf hashes stay, so every proof stays valid, and nothing can decrypt what might remain in a
backup. Rotating the master key rewraps the data keys; contents are not re-encrypted.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from anchoring.errors import AnchoringError

SEALED_PREFIX = b"CZE1"  # sealed blobs start with this; plaintext records start with "{"
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


def _seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return SEALED_PREFIX + nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def _open(key: bytes, sealed: bytes, aad: bytes, what: str) -> bytes:
    if not sealed.startswith(SEALED_PREFIX):
        raise CryptoError(f"{what} is not sealed data")
    body = sealed[len(SEALED_PREFIX):]
    try:
        return AESGCM(key).decrypt(body[:NONCE_BYTES], body[NONCE_BYTES:], aad)
    except InvalidTag:
        raise CryptoError(
            f"{what} does not decrypt: altered, moved, or sealed under another key") from None


def is_sealed(blob: bytes) -> bool:
    return blob.startswith(SEALED_PREFIX)


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


def loan_label(tenant: str, loan_id: str) -> bytes:
    return f"loan\n{tenant}\n{loan_id}".encode()


def document_label(sha256: str) -> bytes:
    return f"document\n{sha256}".encode()
