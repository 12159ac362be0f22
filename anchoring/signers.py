"""Signing keys wherever they live: a file key in this process, or a key inside a hardware
token (`anchoring.pkcs11`) that signs and never leaves it.

Two small interfaces. `KeySigner` is an Ed25519 key (`sign(bytes) -> bytes`, `public_key`
the raw 32 bytes): what `notes.Signer` names for checkpoints, receipts and package
manifests, so the formats and their verifiers do not change with where the key lives.
`DigestSigner` is a secp256k1 key that signs a 32-byte digest (`r, s`), from which
`ethereum_vrs` makes the Ethereum signature (low s, recovery id found by recovering the
public key), and `EthAccount` signs transactions with it for web3's signing middleware.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eth_keys.datatypes import PublicKey, Signature
from eth_typing import ChecksumAddress
from eth_utils.crypto import keccak
from hexbytes import HexBytes

from anchoring.errors import SignatureError
from cunzheng_verify.notes import KeySigner  # the protocol lives with the notes it signs

__all__ = [
    "DigestSigner", "EthAccount", "FileKeySigner", "KeySigner", "ethereum_address", "ethereum_vrs",
]

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


@dataclass(frozen=True, slots=True)
class FileKeySigner:
    """`KeySigner` over a key held in this process (read from a 0600 PEM file)."""

    key: Ed25519PrivateKey

    @property
    def public_key(self) -> bytes:
        return self.key.public_key().public_bytes_raw()

    def sign(self, message: bytes) -> bytes:
        return self.key.sign(message)


class DigestSigner(Protocol):
    """A secp256k1 key: signs a 32-byte digest as (r, s); `public_key` is the 64-byte
    uncompressed point without its 0x04 prefix."""

    @property
    def public_key(self) -> bytes: ...

    def sign_digest(self, digest: bytes) -> tuple[int, int]: ...


def ethereum_address(public_key: bytes) -> ChecksumAddress:
    """The checksummed address of a 64-byte secp256k1 public key."""
    return PublicKey(public_key).to_checksum_address()


def ethereum_vrs(digest: bytes, r: int, s: int, public_key: bytes) -> tuple[int, int, int]:
    """(v, r, s) with v in {0, 1}, for an ECDSA signature by `public_key` over `digest`.

    Ethereum takes only the low-s form (EIP-2), and a token gives no recovery id: flip s
    if it is high, then v is the one of 0 and 1 that recovers `public_key`."""
    if not 0 < r < SECP256K1_N or not 0 < s < SECP256K1_N:
        raise SignatureError("the token's ECDSA signature is out of range")
    if s > SECP256K1_N // 2:
        s = SECP256K1_N - s
    for v in (0, 1):
        try:
            found = Signature(vrs=(v, r, s)).recover_public_key_from_msg_hash(digest)
        except Exception:  # noqa: BLE001, S112 - eth_keys raises several kinds for a bad point
            continue
        if found.to_bytes() == public_key:
            return v, r, s
    raise SignatureError("the token's ECDSA signature does not recover its public key "
                         "(wrong key or mechanism?)")


class _DigestKey:
    """What `eth_account` asks of a key when it signs a transaction: `sign_msg_hash`."""

    def __init__(self, signer: DigestSigner) -> None:
        self._signer = signer

    def sign_msg_hash(self, digest: bytes) -> Signature:
        r, s = self._signer.sign_digest(digest)
        return Signature(vrs=ethereum_vrs(digest, r, s, self._signer.public_key))


class EthAccount:
    """An Ethereum account whose key signs through a `DigestSigner` (a key in a token):
    `address` and `sign_transaction`, the two things web3's signing middleware uses."""

    def __init__(self, signer: DigestSigner) -> None:
        self.signer = signer
        self.address = ethereum_address(signer.public_key)

    def sign_transaction(self, transaction: dict[str, Any]) -> Any:
        from eth_account._utils.signing import sign_transaction_dict
        from eth_account.datastructures import SignedTransaction

        tx = dict(transaction)
        sender = tx.pop("from", None)
        if sender is not None and str(sender).lower() != self.address.lower():
            raise SignatureError(f"transaction is from {sender}, but this key is {self.address}")
        # eth_account types the key as its PrivateKey; it only calls sign_msg_hash on it
        v, r, s, raw = sign_transaction_dict(_DigestKey(self.signer), tx)  # type: ignore[arg-type]
        return SignedTransaction(raw_transaction=HexBytes(raw), hash=HexBytes(keccak(raw)),
                                 r=r, s=s, v=v)
