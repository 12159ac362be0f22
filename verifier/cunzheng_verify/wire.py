"""The wire format the lender's client and the log share: key ids, receipts, evidence ids.

A lender's service signs its events and checks the log's receipts with
`lending_core.client`; the log (`anchoring`) registers the producer keys, checks the
signatures and signs the receipts. Both derive the same names from the same bytes here, so
the two sides cannot drift:

- a note key's id (C2SP signed note): the first 4 bytes of
  SHA-256(key name || 0x0A || 0x01 || Ed25519 public key);
- a producer key's id: the first 16 hex digits of SHA-256(Ed25519 public key);
- a receipt: the log's Ed25519 signature over the RFC 8785 bytes of `RECEIPT_FIELDS`;
- an evidence id (存证编号): `<origin>#<leaf index>`;
- the venues a loan contract names for its disputes, which are the venues an evidence
  package is built for (`manifest.json`'s `venue`).

This module imports nothing from the project and only the standard library, so a lending
service can vendor `lending_core` without the log, and the log needs nothing of the loan
domain. Changing anything here breaks every receipt and key id already issued.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, Literal, get_args

__all__ = [
    "ED25519_ALG",
    "PRODUCER_SIGNATURE_FIELD",
    "RECEIPT_FIELDS",
    "RECEIPT_SCHEMA",
    "VENUES",
    "Venue",
    "evidence_id",
    "note_key_id",
    "producer_key_id",
    "receipt_body",
    "unsigned_event",
]

ED25519_ALG = b"\x01"
"""The C2SP signature-type byte of an Ed25519 note key."""

RECEIPT_SCHEMA = "cunzheng.receipt/v1"

RECEIPT_FIELDS = ("schema", "origin", "evidence_id", "leaf_index", "leaf_hash", "received_at")
"""The fields of a receipt that the log signs, in the order a receipt lists them."""

Venue = Literal["court", "arbitration", "notary"]
"""The forums a contract may name for its disputes (and a package may be built for)."""

VENUES: tuple[Venue, ...] = get_args(Venue)
"""The venues in the order they are offered: court, arbitration, notary."""

PRODUCER_SIGNATURE_FIELD = "producer_signature"
"""The field of a posted event that holds its producer's signature (never signed itself)."""


def note_key_id(key_name: str, public_key: bytes) -> bytes:
    """The 4-byte key id of an Ed25519 note key (the log's key)."""
    return hashlib.sha256(key_name.encode() + b"\n" + ED25519_ALG + public_key).digest()[:4]


def producer_key_id(public_key: bytes) -> str:
    """The id a producer key is registered under: hex of SHA-256(key)[:8]."""
    return hashlib.sha256(public_key).hexdigest()[:16]


def evidence_id(origin: str, leaf_index: int) -> str:
    """存证编号: `<origin>#<leaf_index>`."""
    return f"{origin}#{leaf_index}"


def unsigned_event(posted: Mapping[str, Any]) -> dict[str, Any]:
    """What a producer signs (as RFC 8785 bytes): the posted event without its signature."""
    return {k: v for k, v in posted.items() if k != PRODUCER_SIGNATURE_FIELD}


def receipt_body(signed: Mapping[str, Any]) -> dict[str, Any]:
    """The signed part of a receipt; raises `KeyError` naming a missing field."""
    return {k: signed[k] for k in RECEIPT_FIELDS}
