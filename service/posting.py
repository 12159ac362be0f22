"""Posting a simulated portfolio through the lending client, as a lending service would.

`post_portfolio` renders each event's documents (`dispute.pdf`), uploads them,
and posts the events in arrival order (the simulator's late postings, or a shuffled order)
through `lending_core.client`, in batches. An event the ledger refuses is counted with its
reason and the rest are still posted; any other error stops the run. `producer_key` keeps
the producer key beside the receipts, so a rerun signs identically and is answered as a
replay. Used by `cunzheng simulate`, the tests and the benchmarks.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from anchoring.keyfiles import load_or_create_ed25519
from dispute.pdf import PDF_MEDIA_TYPE, DocumentRenderer
from lending_core.client import LedgerClient, LedgerRequestError
from lending_core.simulator import Portfolio, SimEvent

__all__ = ["MAX_REFUSALS_KEPT", "PostSummary", "Refusal", "post_portfolio", "producer_key"]

MAX_REFUSALS_KEPT = 100
"""Refusals kept in the summary (each with the ledger's reason); the count is always exact."""

_REFUSED = (409, 413, 422)
"""Statuses that refuse one event (the rest of its batch is posted again); any other error
(authentication, permissions, an unavailable ledger) stops the run."""


@dataclass(frozen=True, slots=True)
class Refusal:
    event_id: str
    type: str
    status: int
    detail: str


@dataclass(frozen=True, slots=True)
class PostSummary:
    events: int
    """Accepted (receipts received, replays included)."""
    replays: int
    documents: int
    batches: int
    retries: int
    seconds: float
    refused: int = 0
    refusals: tuple[Refusal, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {"accepted": self.events, "replays": self.replays, "refused": self.refused,
                "documents": self.documents, "batches": self.batches, "retries": self.retries,
                "seconds": round(self.seconds, 3),
                "refusals": [{"event_id": r.event_id, "type": r.type, "status": r.status,
                              "detail": r.detail} for r in self.refusals]}


def _materialize(sim: SimEvent, portfolio: Portfolio, renderer: DocumentRenderer | None,
                 client: LedgerClient) -> dict[str, Any]:
    event = dict(sim.event)
    docs = []
    if renderer is not None:
        for spec in sim.documents:
            loan = portfolio.loan(sim.loan_id)
            if spec.role == "contract":
                pdf = renderer.contract(loan.contract, loan_id=loan.loan_id)
            else:
                pdf = renderer.loan_receipt(sim.event["payload"], loan.contract,
                                            loan_id=loan.loan_id, occurred_at=sim.occurred_at)
            digest = client.upload_document(pdf, PDF_MEDIA_TYPE)
            docs.append({"role": spec.role, "sha256": digest, "media_type": PDF_MEDIA_TYPE,
                         "filename": spec.filename, "size": len(pdf)})
    event["documents"] = docs
    return event


class _Poster:
    """The counts of one run, and the batch-splitting rule for refusals."""

    def __init__(self, client: LedgerClient) -> None:
        self.client = client
        self.events = self.replays = self.batches = self.refused = 0
        self.refusals: list[Refusal] = []

    def refuse(self, event: dict[str, Any], exc: LedgerRequestError) -> None:
        self.refused += 1
        if len(self.refusals) < MAX_REFUSALS_KEPT:
            self.refusals.append(Refusal(str(event.get("event_id")), str(event.get("type")),
                                         exc.status, str(exc)))

    def send(self, items: list[dict[str, Any]]) -> None:
        while items:
            try:
                receipts = self.client.post_batch(items)
            except LedgerRequestError as exc:
                if exc.status not in _REFUSED:
                    raise
                items = self._without_refused(items, exc)
                continue
            self.events += len(receipts)
            self.replays += sum(1 for r in receipts if r.get("replay"))
            self.batches += 1
            items = []

    def _without_refused(self, items: list[dict[str, Any]],
                         exc: LedgerRequestError) -> list[dict[str, Any]]:
        """What is left to post after the ledger refused `items` with `exc`."""
        if isinstance(exc.item, int) and 0 <= exc.item < len(items):
            self.refuse(items[exc.item], exc)
            return items[:exc.item] + items[exc.item + 1:]
        if len(items) == 1:
            self.refuse(items[0], exc)
            return []
        for item in items:  # the ledger did not say which: one at a time
            self.send([item])
        return []


def post_portfolio(client: LedgerClient, portfolio: Portfolio, *,
                   renderer: DocumentRenderer | None,
                   advance: Callable[[int], None] | None = None) -> PostSummary:
    """Post every event of `portfolio` in arrival order, uploading documents first.

    A batch is all or nothing: when the ledger refuses one of its events, that event is
    counted as refused (with the ledger's reason) and the rest of the batch is posted again,
    so one refusal never loses the events around it."""
    started = time.perf_counter()
    poster = _Poster(client)
    batch: list[dict[str, Any]] = []
    documents = 0

    def flush() -> None:
        nonlocal batch
        poster.send(batch)
        if advance is not None:
            advance(len(batch))
        batch = []

    for sim in portfolio.events():
        event = _materialize(sim, portfolio, renderer, client)
        documents += len(event["documents"])
        batch.append(client.prepare(event))
        if len(batch) >= client.batch_size:
            flush()
    if batch:
        flush()
    return PostSummary(poster.events, poster.replays, documents, poster.batches, client.retries,
                       time.perf_counter() - started, poster.refused, tuple(poster.refusals))


def producer_key(directory: Path) -> Ed25519PrivateKey:
    """The producer key kept in `directory` (created 0600 on first use, as the log's keys)."""
    return load_or_create_ed25519(directory / "producer-key.pem", "producer key")
