"""Checking a signed receipt: the one check the lender's client and the log both run.

A receipt (`cunzheng_verify.wire`: `RECEIPT_FIELDS`, `RECEIPT_SCHEMA`) is the log's Ed25519
signature over the RFC 8785 bytes of its body, under the log's note key, whose id the
receipt names. `check_receipt` accepts one only when every field is well formed and agrees
with the others (the schema, the evidence id `<origin>#<leaf index>`, a leaf index that is
an integer, a leaf hash in lower-case hex), the key id is that of the expected key, the
origin is the expected one when the caller names it, and the signature verifies. It raises
`SignatureError` naming what was expected and what was found; `lending_core.client` turns
that into its own `ReceiptError`, `anchoring.receipts` raises it as it is.

Standard library, `cryptography` and `rfc8785` only, and of the project only `wire` and
`errors`, so a lending service vendoring `lending_core.client` needs nothing more.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from cunzheng_verify.errors import SignatureError
from cunzheng_verify.wire import RECEIPT_SCHEMA, evidence_id, note_key_id, receipt_body

__all__ = ["CheckedReceipt", "check_receipt"]


@dataclass(frozen=True, slots=True)
class CheckedReceipt:
    """What a receipt that verified promises: the leaf the log accepted, and when."""

    origin: str
    leaf_index: int
    leaf_hash: bytes
    received_at: str


def _parse(signed: Mapping[str, Any]) -> tuple[dict[str, Any], CheckedReceipt, bytes]:
    try:
        body = receipt_body(signed)
        signature = base64.b64decode(signed["signature"], validate=True)
        index, leaf_hash = body["leaf_index"], bytes.fromhex(body["leaf_hash"])
    except (KeyError, ValueError, TypeError) as exc:
        raise SignatureError(f"receipt is malformed: {exc!r}") from None
    if not isinstance(index, int) or isinstance(index, bool) or leaf_hash.hex() != body[
            "leaf_hash"]:
        raise SignatureError(f"expected an integer leaf index and a lower-case hex leaf hash, "
                             f"found {index!r} and {body['leaf_hash']!r}")
    if not isinstance(body["origin"], str) or not isinstance(body["received_at"], str):
        raise SignatureError(f"expected origin and received_at as text, found "
                             f"{body['origin']!r} and {body['received_at']!r}")
    return body, CheckedReceipt(body["origin"], index, leaf_hash, body["received_at"]), signature


def check_receipt(signed: Mapping[str, Any], *, key_name: str, public_key: bytes,
                  origin: str | None = None) -> CheckedReceipt:
    """Raise `SignatureError` unless `signed` is the log's valid receipt (see the module
    docstring); `origin`, when given, is the log the receipt must come from."""
    body, receipt, signature = _parse(signed)
    expected_origin = receipt.origin if origin is None else origin
    if body["schema"] != RECEIPT_SCHEMA or receipt.origin != expected_origin:
        raise SignatureError(f"expected a {RECEIPT_SCHEMA} receipt of {expected_origin!r}, "
                             f"found {body['schema']!r} of {receipt.origin!r}")
    expected_id = evidence_id(receipt.origin, receipt.leaf_index)
    if body["evidence_id"] != expected_id:
        raise SignatureError(f"expected evidence id {expected_id}, "
                             f"found {body['evidence_id']!r}")
    key_id = note_key_id(key_name, public_key).hex()
    if signed.get("key_id") != key_id:
        raise SignatureError(f"expected key id {key_id} ({key_name}), "
                             f"found {signed.get('key_id')!r}")
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, rfc8785.dumps(body))
    except (InvalidSignature, ValueError):
        raise SignatureError(f"the log's signature on receipt {body['evidence_id']} "
                             "does not verify") from None
    return receipt
