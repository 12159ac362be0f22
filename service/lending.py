"""Adapters from the log's hooks to `lending_core`: the checks an event passes before the
ledger accepts it.

Record first, judge second (DESIGN.md, "Event time and arrival order"). By default an event
is refused only for what no later arrival could fix: a payload that does not fit its schema,
a rule false on its own (`lending_core.state.check_intrinsic`), or a producer name the
service reserves for itself. Whether it fits the loan's other events is judged later, by the
fold, and a misfit becomes a finding on the loan. A producer that wants the old behaviour
asks for it per request (`Prefer: handling=strict`, RFC 7240): then an event that would add
a finding is refused with the finding's code, and nothing is written.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from anchoring.errors import PolicyRefusal
from anchoring.store import StoredLeaf
from cunzheng_verify.erasure import ERASURE_SYSTEM
from cunzheng_verify.errors import CunzhengError
from cunzheng_verify.records import Record, parse_rfc3339
from lending_core.errors import LoanStateError
from lending_core.events import LEDGER_EVENT_TYPES, validate_payload
from lending_core.state import LoanEvent, check_intrinsic, rebuild


def validate_event(event: Mapping[str, Any]) -> None:
    validate_payload(event["type"], event["payload"])


def loan_event(content: Mapping[str, Any], *, seq: int = 0) -> LoanEvent:
    """The lending view of a stored record's content (`seq`: its place in arrival order, the
    leaf index when known): `LoanEvent.from_record`, the reading `dispute.records` folds
    too, given the record's `received_at`. Times must be RFC 3339 with an offset, as the
    log writes them (`cunzheng_verify.records.RecordError` otherwise)."""
    parse_rfc3339(content.get("occurred_at"), "occurred_at")
    received = content.get("received_at")
    return LoanEvent.from_record(
        content, seq=seq,
        received_at=parse_rfc3339(received, "received_at") if isinstance(received, str) else None)


def record_events(records: Iterable[tuple[int, bytes | None]]) -> tuple[list[LoanEvent], int]:
    """The lending events of stored records (`(seq, bytes)` in arrival order; None for an
    erased record), and how many were left out: erased, or not an event at all (a damaged
    row: `cunzheng fsck` names it). The ledger's own events (an erasure) are neither: they
    state no lending fact. Every view of a loan, and the strict check, read a loan's
    records through this one function."""
    events, left_out = [], 0
    for seq, record in records:
        if record is None:
            left_out += 1
            continue
        try:
            content = json.loads(record)
            if content["type"] in LEDGER_EVENT_TYPES:  # the record's type, not the column's
                continue
            events.append(loan_event(content, seq=seq))
        except (ValueError, KeyError, TypeError, AttributeError, CunzhengError):
            left_out += 1
    return events, left_out


def leaf_events(leaves: Iterable[StoredLeaf]) -> tuple[list[LoanEvent], int]:
    """`record_events` of stored leaves (arrival order = leaf index)."""
    return record_events((leaf.leaf_index, leaf.record) for leaf in leaves)


class ReservedProducer(LoanStateError):
    """An event that names the service's own producer (its monitoring job) as its source."""


class ReservedType(LoanStateError):
    """A ledger event (an erasure) posted by anyone but the ledger."""


class LendingPolicy:
    """The loan checks of one request: `LoanPolicy` for `LogStore.append`. Raises
    `anchoring.errors.PolicyRefusal` naming the refused record.

    `strict`: also refuse an event that would add a finding to its loan (the producer asked
    for it). `derived`: the caller is the service's own job, which may name its producer.
    `ledger`: the caller is the ledger recording an erasure (`anchoring.keyring`), the only
    one that may post a ledger event type or name the ledger as producer."""

    def __init__(self, *, strict: bool = False, derived: bool = False,
                 ledger: bool = False) -> None:
        self.strict = strict
        self.derived = derived
        self.ledger = ledger

    @property
    def needs_history(self) -> bool:
        """Only strict checks read the loan's stored records."""
        return self.strict

    def __call__(self, history: Sequence[bytes], new: Sequence[Record]) -> None:
        events = []
        for i, record in enumerate(new):
            try:
                event = loan_event(record.content, seq=len(history) + i)
                if event.derived and not self.derived:
                    raise ReservedProducer(
                        event.event_id, event.type, "reserved_producer",
                        f"expected a source.system of your own, found "
                        f"{record.content['source']['system']!r}, which is reserved for the "
                        f"ledger's monitoring job")
                self._check_ledger(record, event)
                check_intrinsic(event)
            except Exception as exc:
                raise PolicyRefusal(i, exc) from exc
            events.append(event)
        if self.strict:
            self._strict(history, events)

    def _check_ledger(self, record: Record, event: LoanEvent) -> None:
        source = record.content["source"]
        system = source.get("system") if isinstance(source, Mapping) else None
        if self.ledger:
            if event.type not in LEDGER_EVENT_TYPES or system != ERASURE_SYSTEM:
                raise ReservedType(event.event_id, event.type, "reserved_type",
                                   f"expected a ledger event from {ERASURE_SYSTEM!r}, found "
                                   f"{event.type} from {system!r}")
            return
        if event.type in LEDGER_EVENT_TYPES:
            raise ReservedType(event.event_id, event.type, "reserved_type",
                               f"expected a lending event type, found {event.type!r}, which "
                               f"only the ledger writes (DELETE /v1/admin/loans/{{loan_id}}/"
                               f"personal-data erases a loan)")
        if system == ERASURE_SYSTEM:
            raise ReservedProducer(event.event_id, event.type, "reserved_producer",
                                   f"expected a source.system of your own, found "
                                   f"{system!r}, which is reserved for the ledger")

    @staticmethod
    def _strict(history: Sequence[bytes], new: Sequence[LoanEvent]) -> None:
        old, _ = record_events(enumerate(history))
        before = {f.key for f in rebuild(old).findings} if old else set()
        after = rebuild([*old, *new])
        added = [f for f in after.findings if f.key not in before]
        if not added:
            return
        ids = {e.event_id: i for i, e in enumerate(new)}
        finding = next((f for f in added if f.event_id in ids), added[0])
        error = LoanStateError(finding.event_id, finding.event_type, finding.code, finding.reason)
        raise PolicyRefusal(ids.get(finding.event_id, 0), error)


LENIENT = LendingPolicy()
STRICT = LendingPolicy(strict=True)
DERIVED = LendingPolicy(derived=True)
LEDGER = LendingPolicy(ledger=True)
"""The erasure event's checks (`anchoring.keyring.Keyring.erase_loan`)."""


def lending_policy(history: Sequence[bytes], new: Sequence[Record]) -> None:
    """The default checks (for one-off use and benchmarks)."""
    LENIENT(history, new)
