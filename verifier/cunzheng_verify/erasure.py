"""The erasure event: crypto-shredding a loan leaves evidence of itself in the log.

Before the ledger destroys a loan's data key it appends, for that loan, a record of type
`data_erased` from the ledger itself (`source.system` `cunzheng-ledger`), stored in the
clear (it holds no personal data, so it stays readable after the erasure it describes). Its
payload says who erased (`erased_by`), on what legal basis (`basis`), how many of the
loan's records lost their content (`records`) and which (`records_sha256`, see
`erased_records_digest`), and which documents went with them (`documents`, SHA-256 hex).
When is the record's own `received_at`; its leaf index is the erasure's evidence id.

Only a record that its loan's erasure event covers may lack its content; any other record
that cannot be read is an integrity finding (`anchoring.fsck`). The loan takes no event
after its erasure event.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cunzheng_verify.errors import RecordError
from cunzheng_verify.records import format_utc

__all__ = [
    "DEFAULT_BASIS", "ERASURE_SYSTEM", "ERASURE_TYPE", "MAX_ERASED_DOCUMENTS", "Erasure",
    "erased_records_digest", "erasure_event", "erasure_event_id", "read_erasure",
]

ERASURE_TYPE = "data_erased"
ERASURE_SYSTEM = "cunzheng-ledger"
"""The producer name of events the ledger writes about its own records."""
DEFAULT_BASIS = "PIPL art. 47"
"""《个人信息保护法》第四十七条: the data subject's right to deletion."""
MAX_ERASED_DOCUMENTS = 500
"""Documents one erasure event lists (a record is at most 64 KiB)."""
DIGEST_DOMAIN = b"cunzheng.erased-records/v1\n"
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_EVENT_ID_PREFIX = "erasure:"


def erased_records_digest(leaves: Iterable[tuple[int, bytes]]) -> str:
    """SHA-256 (hex) of `DIGEST_DOMAIN`, then each erased leaf in index order as its index
    (8 bytes, big-endian) and its 32-byte leaf hash."""
    h = hashlib.sha256(DIGEST_DOMAIN)
    for index, leaf_hash in leaves:
        h.update(index.to_bytes(8, "big") + leaf_hash)
    return h.hexdigest()


def erasure_event_id(loan_id: str) -> str:
    """The erasure event's id: one per loan (a loan is erased once)."""
    eid = _EVENT_ID_PREFIX + loan_id
    if len(eid) <= 128:
        return eid
    return _EVENT_ID_PREFIX + hashlib.sha256(loan_id.encode()).hexdigest()


def erasure_event(loan_id: str, *, at: datetime, erased_by: str, basis: str,
                  records: Iterable[tuple[int, bytes]],
                  documents: Iterable[str]) -> dict[str, Any]:
    """The posted form of the erasure of `loan_id` at `at`: `records` are (leaf index,
    leaf hash) of the loan's records whose content goes, `documents` the SHA-256 of the
    documents erased with them."""
    erased = list(records)
    docs = sorted(documents)
    if len(docs) > MAX_ERASED_DOCUMENTS:
        raise RecordError(f"an erasure event lists at most {MAX_ERASED_DOCUMENTS} documents, "
                          f"this one would list {len(docs)}")
    return {
        "event_id": erasure_event_id(loan_id), "loan_id": loan_id, "type": ERASURE_TYPE,
        "occurred_at": format_utc(at), "documents": [],
        "payload": {"scope": "loan", "erased_by": erased_by, "basis": basis,
                    "records": len(erased), "records_sha256": erased_records_digest(erased),
                    "documents": docs},
        "source": {"system": ERASURE_SYSTEM, "operation": "erase_loan"},
    }


@dataclass(frozen=True, slots=True)
class Erasure:
    """An erasure event as read back from its record."""

    tenant: str
    loan_id: str
    event_id: str
    received_at: str
    erased_by: str
    basis: str
    records: int
    records_sha256: str
    documents: tuple[str, ...]


def read_erasure(content: Mapping[str, Any]) -> Erasure | None:
    """The erasure a record's content states, None if it is not an erasure event; raises
    `RecordError` for one that claims to be and is malformed."""
    if content.get("type") != ERASURE_TYPE:
        return None
    source = content.get("source")
    if not isinstance(source, Mapping) or source.get("system") != ERASURE_SYSTEM:
        raise RecordError(f"an erasure event comes from {ERASURE_SYSTEM!r}, found source "
                          f"{source!r}", field="source")
    p = content.get("payload")
    if not isinstance(p, Mapping):
        raise RecordError("an erasure event's payload must be an object", field="payload")
    for name, kind in (("erased_by", str), ("basis", str), ("records", int),
                       ("records_sha256", str), ("documents", list)):
        if not isinstance(p.get(name), kind) or isinstance(p.get(name), bool):
            raise RecordError(f"an erasure event's payload.{name} must be a {kind.__name__}",
                              field=f"payload.{name}")
    if not _SHA256_HEX.fullmatch(p["records_sha256"]) or not all(
            isinstance(d, str) and _SHA256_HEX.fullmatch(d) for d in p["documents"]):
        raise RecordError("an erasure event's digests must be 64 lowercase hex digits",
                          field="payload")
    return Erasure(str(content.get("tenant")), str(content.get("loan_id")),
                   str(content.get("event_id")), str(content.get("received_at")),
                   p["erased_by"], p["basis"], p["records"], p["records_sha256"],
                   tuple(p["documents"]))
