"""Fixtures for the dispute tests: the example loan's life as stored records.

`story_records()` turns `lending_core.events.example_story()` into the JSON content the log
stores (posted fields plus schema, tenant, received_at, salt), up to and including the
acceleration: a loan that went bad and has not been restructured, written off or settled.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from dispute.selection import StoredRecord
from lending_core.events import example_story

LOAN_ID = "L-2024-0001234"
TENANT = "cqbank"
STORY_DAYS = (
    "2024-03-01", "2024-03-02", "2024-03-02", "2024-03-05", "2024-04-20", "2024-05-21",
    "2024-05-25", "2024-05-27", "2024-07-01", "2024-07-15", "2025-12-31", "2026-07-20",
    "2026-07-20",
)
DEFAULT_DOCUMENTS = {
    "contract_signed": [("contract", "借款合同.pdf")],
    "security": [("guarantee_contract", "保证合同.pdf")],
    "disbursement": [("loan_receipt", "借据.pdf")],
}


def document_bytes(role: str, filename: str) -> bytes:
    return f"{role}:{filename}".encode()


def record_content(
    index: int, event_type: str, payload: dict[str, Any], day: str,
    documents: list[tuple[str, str]] | None = None,
) -> dict[str, Any]:
    docs = [
        {"role": role, "sha256": hashlib.sha256(document_bytes(role, name)).hexdigest(),
         "media_type": "application/pdf", "filename": name,
         "size": len(document_bytes(role, name))}
        for role, name in (documents or [])
    ]
    return {
        "schema": "cunzheng.event/v1",
        "event_id": f"story-{index}",
        "loan_id": LOAN_ID,
        "type": event_type,
        "occurred_at": f"{day}T10:00:00Z",
        "payload": payload,
        "documents": docs,
        "source": {"system": payload["source"]["system"], "batch": f"B-{index:04d}"},
        "tenant": TENANT,
        "received_at": f"{day}T10:00:01Z",
        "salt": hashlib.sha256(f"salt-{index}".encode()).hexdigest(),
    }


def stored(index: int, content: dict[str, Any]) -> StoredRecord:
    data = json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return StoredRecord.from_bytes(index, data.encode())


def story_records(
    *, upto: str = "acceleration", skip: tuple[str, ...] = (), dispute_venue: str | None = None,
    first_leaf: int = 40,
) -> list[StoredRecord]:
    """The story's records up to the first event of type `upto`, leaving out `skip` types.

    Leaf indices start at `first_leaf` (other loans' records come before), one per event.
    `dispute_venue` rewrites the contract's dispute-resolution clause.
    """
    out: list[StoredRecord] = []
    for i, ((event_type, payload), day) in enumerate(zip(example_story(), STORY_DAYS)):
        if event_type == "contract_signed" and dispute_venue is not None:
            institution = {"court": "重庆市渝中区人民法院", "arbitration": "重庆仲裁委员会",
                           "notary": "重庆市渝中公证处"}[dispute_venue]
            payload["dispute_resolution"] = {"venue": dispute_venue,
                                             "institution": institution, "clause_no": "15.1"}
        if event_type not in skip:
            content = record_content(i, event_type, payload, day,
                                     DEFAULT_DOCUMENTS.get(event_type))
            out.append(stored(first_leaf + i, content))
        if event_type == upto:
            break
    return out
