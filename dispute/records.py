"""A loan's stored records, read once, and the loan they fold to, folded once.

`StoredRecord` is one record as the log stores it: its leaf index, leaf hash, the JSON
content and the documents it cites, all read off the bytes in one pass (`from_bytes` for a
test's or a tool's bytes, `load_evidence` for the log's leaves, which checks each record is
canonical and well-formed first). `FoldedLoan.fold(records)` puts a loan's records in the
loan order (DESIGN.md, "Event time and arrival order": occurred_at as an instant, then
arrival), reads each as a `LoanEvent` and rebuilds the loan with `lending_core.state`: the
selection, the claim and the case file all read this one value.

Pure, except `load_evidence`, which reads the log through a one-method port.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any, Protocol

from anchoring.errors import RecordError
from anchoring.receipts import evidence_id
from anchoring.store import StoredLeaf
from cunzheng_verify import merkle
from cunzheng_verify.records import read_record
from dispute.errors import DisputeError, PackageError
from lending_core.errors import LendingError
from lending_core.state import LoanEvent, LoanState, rebuild

__all__ = [
    "MAX_RECORDS",
    "ExhibitDocument",
    "FoldedLoan",
    "LoanEvidence",
    "SelectionError",
    "StoredRecord",
    "load_evidence",
    "loan_state",
]

MAX_RECORDS = 10_000
"""Most records of one loan accepted: far above any loan's life, bounds the work."""

class SelectionError(DisputeError):
    """The records cannot be read as one loan (wrong shape, mixed loans, refused events)."""


@dataclass(frozen=True, slots=True)
class ExhibitDocument:
    """A document a record cites (`documents[]` of the record), by its SHA-256 (hex)."""

    role: str
    sha256: str
    media_type: str
    filename: str
    size: int


def _documents(content: Mapping[str, Any]) -> tuple[ExhibitDocument, ...]:
    docs = content.get("documents") or []
    return tuple(
        ExhibitDocument(
            str(d.get("role", "")),
            str(d.get("sha256", "")),
            str(d.get("media_type", "")),
            str(d.get("filename", "")),
            int(d.get("size", 0)),
        )
        for d in docs
        if isinstance(d, Mapping)
    )


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """A record as the log stores it: its leaf index, leaf hash and JSON content, and the
    documents the content cites (read off the content once, when the record is made)."""

    leaf_index: int
    leaf_hash: bytes
    content: Mapping[str, Any]
    documents: tuple[ExhibitDocument, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "documents", _documents(self.content))

    @classmethod
    def from_bytes(cls, leaf_index: int, data: bytes) -> StoredRecord:
        """From the exact stored bytes: leaf hash = SHA-256(0x00 || bytes)."""
        try:
            content = json.loads(data)
        except ValueError as exc:
            raise SelectionError(f"record {leaf_index} is not JSON: {exc}") from None
        if not isinstance(content, dict):
            raise SelectionError(f"record {leaf_index}: expected a JSON object")
        return cls(leaf_index, merkle.leaf_hash(data), content)

    @property
    def event_id(self) -> str:
        return str(self.content["event_id"])


# --- the loan, folded once ----------------------------------------------------------------


def _instant(record: StoredRecord) -> datetime:
    # Compared as instants, not text: "…00.5Z" sorts before "…00Z" as a string.
    text = record.content.get("occurred_at")
    try:
        moment = datetime.fromisoformat(str(text))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise SelectionError(f"record {record.leaf_index}: expected occurred_at as RFC 3339 "
                             f"with an offset, found {text!r}")
    return moment


def _ordered(records: Sequence[StoredRecord]) -> list[StoredRecord]:
    if len(records) > MAX_RECORDS:
        raise SelectionError(f"expected at most {MAX_RECORDS} records, found {len(records)}")
    loans = {str(r.content.get("loan_id")) for r in records}
    if len(loans) > 1:
        raise SelectionError(f"expected the records of one loan, found loans {sorted(loans)}")
    indices = [r.leaf_index for r in records]
    if len(set(indices)) != len(indices):
        raise SelectionError("expected each leaf index once, found a repeated one")
    # The loan order (DESIGN.md, "Event time and arrival order"): occurred_at, then arrival.
    return sorted(records, key=lambda r: (_instant(r), r.leaf_index))


@dataclass(frozen=True)
class FoldedLoan:
    """A loan's records and the state they fold to: what selection, claim and case file read.

    `records` keep the order they were given in; `by_event` finds a record by its event id."""

    records: tuple[StoredRecord, ...]
    state: LoanState
    by_event: Mapping[str, StoredRecord]

    @classmethod
    def fold(cls, records: Sequence[StoredRecord]) -> FoldedLoan:
        """Rebuild the loan once; raises `SelectionError` if the records do not fold."""
        if not records:
            raise SelectionError("expected the records of a loan, found none")
        try:
            state = rebuild(LoanEvent.from_record(r.content, seq=r.leaf_index)
                            for r in _ordered(records))
        except LendingError as exc:
            raise SelectionError(f"the records do not make one loan: {exc}") from exc
        return cls(tuple(records), state, {r.event_id: r for r in records})


def loan_state(records: Sequence[StoredRecord]) -> LoanState:
    """The loan rebuilt from its records; raises `SelectionError` if they do not fold."""
    return FoldedLoan.fold(records).state


# --- from the log ---------------------------------------------------------------------------


class LoanEventsReader(Protocol):
    """What reading a loan's evidence needs of the log (`anchoring.store.LogStore` fits)."""

    def loan_events(self, tenant: str, loan_id: str) -> list[StoredLeaf]: ...


@dataclass(frozen=True)
class LoanEvidence:
    """One loan's leaves in the log and its records, each parsed once (erased ones left out:
    their leaves stay, their content is gone)."""

    tenant: str
    loan_id: str
    origin: str
    leaves: tuple[StoredLeaf, ...]
    records: tuple[StoredRecord, ...]

    @cached_property
    def by_index(self) -> Mapping[int, StoredRecord]:
        return {r.leaf_index: r for r in self.records}


def load_evidence(log: LoanEventsReader, tenant: str, loan_id: str, origin: str) -> LoanEvidence:
    """The loan's leaves and records; raises `PackageError` when there are none or a stored
    record is not a canonical, well-formed record."""
    leaves = tuple(log.loan_events(tenant, loan_id))
    if not leaves:
        raise PackageError(f"no records of loan {loan_id!r} for tenant {tenant!r} in the log")
    records = []
    for leaf in leaves:
        if leaf.record is None:
            continue
        try:
            checked, content = read_record(leaf.record)
        except RecordError as exc:
            raise PackageError(f"stored record {evidence_id(origin, leaf.leaf_index)} is "
                               f"damaged: {exc}") from None
        records.append(StoredRecord(leaf.leaf_index, checked.leaf_hash, content))
    return LoanEvidence(tenant, loan_id, origin, leaves, tuple(records))
