"""The evidence list's vocabulary: exhibits, gaps, the selection, and the list being built.

An `Exhibit` is one numbered row of the 证据目录 (title, source, purpose, leaf index and
hash, cited documents); a `Gap` is a piece of evidence the venue needs and the records do
not give; an `EvidenceSelection` is both, for one venue. `ExhibitList` collects exhibits
by group and gaps while the venue's rules are applied (`dispute.exhibits_*`), then numbers
them: groups in `GROUPS` order, empty groups left out, so numbers stay contiguous.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from dispute.records import ExhibitDocument, FoldedLoan
from lending_core.events.origination import VENUES, Venue
from lending_core.state import LoanState

__all__ = [
    "DEMAND_KINDS",
    "GROUPS",
    "VENUES",
    "EvidenceSelection",
    "Exhibit",
    "ExhibitList",
    "Gap",
    "Venue",
]


GROUPS = (
    "contract",
    "disbursement",
    "performance",
    "notices",
    "acceleration",
    "computation",
    "preservation",
    "verification",
)
"""Exhibit groups in numbering order (`verification` only for a notary)."""

DEMAND_KINDS = frozenset({"demand", "acceleration", "guarantor_demand"})
"""Notice kinds that must be shown delivered; reminders and confirmations need not."""

Severity = Literal["required", "advisory"]


@dataclass(frozen=True, slots=True)
class Exhibit:
    """One numbered exhibit of the evidence list (证据目录)."""

    no: str  # "1-1"
    group: str  # one of GROUPS
    title: str  # 证据名称
    source: str  # 证据来源, for people: system and references
    purpose: str  # 证明对象
    leaf_index: int | None  # None for derived exhibits (computation, preservation)
    leaf_hash: bytes | None
    event_id: str | None = None
    event_type: str | None = None
    occurred_at: str | None = None
    received_at: str | None = None
    source_system: str = ""
    source_refs: tuple[tuple[str, str], ...] = ()
    producer_key_id: str | None = None  # key id of the producer signature, if signed
    documents: tuple[ExhibitDocument, ...] = ()

    @property
    def leaf_hash_hex(self) -> str | None:
        return self.leaf_hash.hex() if self.leaf_hash is not None else None


@dataclass(frozen=True, slots=True)
class Gap:
    """Evidence the venue needs that the records do not give.

    `severity` is `required` when the venue will likely refuse or lose on it (no delivery of
    a demand for a notary, a contract naming another forum) and `advisory` when the case is
    weaker without it. `message` is English for the legal team's tools, `message_zh` goes in
    the case file.
    """

    code: str
    severity: Severity
    message: str
    message_zh: str
    exhibit_no: str | None = None
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class EvidenceSelection:
    venue: Venue
    exhibits: tuple[Exhibit, ...]
    gaps: tuple[Gap, ...]

    @property
    def recorded(self) -> tuple[Exhibit, ...]:
        """The exhibits backed by a logged record (what a package proves by inclusion)."""
        return tuple(e for e in self.exhibits if e.leaf_index is not None)

    def exhibit(self, no: str) -> Exhibit:
        return next(e for e in self.exhibits if e.no == no)


def _source(content: Mapping[str, Any]) -> tuple[str, tuple[tuple[str, str], ...]]:
    """The producing system and every reference number of a record (top level and payload)."""
    refs: dict[str, str] = {}
    system = ""
    for block in (content.get("source"), (content.get("payload") or {}).get("source")):
        if not isinstance(block, Mapping):
            continue
        for key, value in block.items():
            if key in ("system", "name") and isinstance(value, str):
                system = system or value
            elif key == "refs" and isinstance(value, Mapping):
                refs.update({str(k): str(v) for k, v in value.items()})
            elif isinstance(value, str | int):
                refs[str(key)] = str(value)
    payload = content.get("payload") or {}
    for key in ("clearing_ref", "receipt_ref", "receipt_no", "contract_no", "notice_id"):
        if isinstance(payload.get(key), str):
            refs.setdefault(key, payload[key])
    return system, tuple(sorted(refs.items()))


def _source_text(system: str, refs: Iterable[tuple[str, str]]) -> str:
    text = "，".join(f"{k} {v}" for k, v in refs)
    return f"{system or '未注明系统'}（{text}）" if text else (system or "未注明系统")


class ExhibitList:
    """Collects exhibits by group and gaps while the venue's rules are applied."""

    def __init__(self, venue: Venue, loan: FoldedLoan,
                 available: Collection[str] | None) -> None:
        self.venue = venue
        self.state: LoanState = loan.state
        self.by_event = loan.by_event
        self.available = available
        self.groups: dict[str, list[dict[str, Any]]] = {g: [] for g in GROUPS}
        self.gaps: list[Gap] = []

    def gap(self, code: str, severity: Severity, en: str, zh: str,
            event_id: str | None = None) -> None:
        self.gaps.append(Gap(code, severity, en, zh, None, event_id))

    def add(self, group: str, event_id: str | None, title: str, purpose: str) -> None:
        entry: dict[str, Any] = {"group": group, "title": title, "purpose": purpose,
                                 "source": "本案据存证记录生成", "leaf_index": None,
                                 "leaf_hash": None}
        if event_id is not None:
            record = self.by_event[event_id]
            content = record.content
            system, refs = _source(content)
            sig = content.get("producer_signature")
            entry.update(
                leaf_index=record.leaf_index,
                leaf_hash=record.leaf_hash,
                event_id=event_id,
                event_type=str(content.get("type")),
                occurred_at=str(content.get("occurred_at")),
                received_at=content.get("received_at"),
                source_system=system,
                source_refs=refs,
                source=_source_text(system, refs),
                producer_key_id=sig.get("key_id") if isinstance(sig, Mapping) else None,
                documents=record.documents,
            )
            self._check_documents(event_id, record.documents)
        self.groups[group].append(entry)

    def _check_documents(self, event_id: str, docs: tuple[ExhibitDocument, ...]) -> None:
        if self.available is None:
            return
        for d in docs:
            if d.sha256 not in self.available:
                self.gap(
                    "document_missing", "required",
                    f"document {d.filename} ({d.role}, sha256 {d.sha256}) cited by event "
                    f"{event_id} is not in the document store (erased or never uploaded)",
                    f"事件{event_id}引用的文件{d.filename}（SHA-256 {d.sha256}）不在文件库中"
                    "（已删除或未上传），无法提交原件",
                    event_id,
                )

    def finish(self) -> EvidenceSelection:
        exhibits: list[Exhibit] = []
        numbers: dict[str, str] = {}
        major = 0
        for group in GROUPS:
            entries = self.groups[group]
            if not entries:
                continue
            major += 1
            for minor, entry in enumerate(entries, start=1):
                no = f"{major}-{minor}"
                exhibit = Exhibit(no=no, **entry)
                exhibits.append(exhibit)
                if exhibit.event_id is not None:
                    numbers.setdefault(exhibit.event_id, no)
        gaps = tuple(
            Gap(g.code, g.severity, g.message, g.message_zh,
                numbers.get(g.event_id) if g.event_id else None, g.event_id)
            for g in self.gaps
        )
        return EvidenceSelection(self.venue, tuple(exhibits), gaps)
