"""Signed receipts: the log's promise that it accepted an event.

A receipt is the JSON object `{schema, origin, evidence_id, leaf_index, leaf_hash,
received_at}`; the log signs its RFC 8785 bytes with its Ed25519 note key. Ed25519 is
deterministic, so the same event always gets the same receipt, byte for byte.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from cunzheng_verify.notes import Signer
from cunzheng_verify.receipts import check_receipt
from cunzheng_verify.records import canonical
from cunzheng_verify.wire import RECEIPT_SCHEMA, evidence_id

__all__ = ["RECEIPT_SCHEMA", "Receipt", "evidence_id", "sign_receipt", "verify_receipt"]


@dataclass(frozen=True, slots=True)
class Receipt:
    origin: str
    leaf_index: int
    leaf_hash: bytes
    received_at: str

    def body(self) -> dict[str, Any]:
        return {
            "schema": RECEIPT_SCHEMA,
            "origin": self.origin,
            "evidence_id": evidence_id(self.origin, self.leaf_index),
            "leaf_index": self.leaf_index,
            "leaf_hash": self.leaf_hash.hex(),
            "received_at": self.received_at,
        }


def sign_receipt(receipt: Receipt, signer: Signer) -> dict[str, Any]:
    """The receipt as returned to the poster: its body, key name, key id and signature."""
    body = receipt.body()
    return {
        **body,
        "key_name": signer.name,
        "key_id": signer.key_id.hex(),
        "signature": base64.b64encode(signer.sign(canonical(body))).decode(),
    }


def verify_receipt(signed: dict[str, Any], *, key_name: str, public_key: bytes) -> Receipt:
    """Check a signed receipt against the log's key (`cunzheng_verify.receipts`, the check
    the lender's client runs too); return what it promises. Raises `SignatureError`."""
    checked = check_receipt(signed, key_name=key_name, public_key=public_key)
    return Receipt(checked.origin, checked.leaf_index, checked.leaf_hash, checked.received_at)
