"""The evidence log as its users see it: accept events and return signed receipts, sign
checkpoints at a cadence, serve proofs.

Sequencing and integration happen in one transaction (`LogStore.append`); publishing
(signing a checkpoint) is separate and never signs a checkpoint that is not consistent
with the one before it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from anchoring.errors import IntegrityError, RecordError
from anchoring.producers import (
    ProducerKey,
    ProducerPolicy,
    check_event_signature,
    producer_message,
)
from anchoring.receipts import Receipt, sign_receipt
from anchoring.sequencer import DEFAULT_MAX_EVENTS, DEFAULT_WINDOW, Sequencer
from anchoring.store import (
    Accepted,
    BatchItemError,
    LoanPolicy,
    LogStore,
    Pending,
    StoredCheckpoint,
)
from cunzheng_verify import merkle
from cunzheng_verify.loanindex import index_line
from cunzheng_verify.notes import Checkpoint, Signer, sign_checkpoint
from cunzheng_verify.records import build_record, format_utc, posted_hash
from cunzheng_verify.wire import producer_key_id

MAX_BATCH = 1000
MAX_FUTURE_SKEW = timedelta(seconds=300)
"""Default: how far `occurred_at` may lie after `received_at` (the producers' clock error)."""
__all__ = ["MAX_BATCH", "EvidenceLog", "Producers", "Submitted", "producer_key_id",
           "producer_message"]  # the last two live in cunzheng_verify.wire and anchoring.producers


class Producers(Protocol):
    """What the log asks about a tenant's producers (`anchoring.producers.ProducerRegistry`)."""

    def key(self, tenant: str, key_id: str) -> ProducerKey | None: ...
    def policy(self, tenant: str) -> ProducerPolicy: ...


@dataclass(frozen=True, slots=True)
class Submitted:
    receipt: dict[str, Any]
    replay: bool


class EvidenceLog:
    def __init__(
        self,
        store: LogStore,
        signer: Signer,
        origin: str,
        *,
        clock: Callable[[], datetime],
        policy: LoanPolicy | None = None,
        producers: Producers | None = None,
        salt: Callable[[int], bytes] = os.urandom,
        max_future_skew: timedelta = MAX_FUTURE_SKEW,
    ) -> None:
        self.store = store
        self.signer = signer
        self.origin = origin
        self._clock = clock
        self._policy = policy
        self._producers = producers
        self._salt = salt
        self._max_future_skew = max_future_skew
        self._sequencer: Sequencer | None = None

    def start_group_commit(self, window: float = DEFAULT_WINDOW,
                           max_events: int = DEFAULT_MAX_EVENTS) -> Sequencer:
        """From now on, concurrent `submit` calls share commits (`anchoring.sequencer`)."""
        if self._sequencer is None:
            self._sequencer = Sequencer(self.store, window=window, max_events=max_events)
            self._sequencer.start()
        return self._sequencer

    def stop_group_commit(self) -> None:
        """Commit what is queued; later calls commit alone."""
        sequencer, self._sequencer = self._sequencer, None
        if sequencer is not None:
            sequencer.close()

    def submit(self, tenant: str, posted: Sequence[Mapping[str, Any]], *,
               by_service: bool = False, policy: LoanPolicy | None = None) -> list[Submitted]:
        """Accept a batch of posted events for `tenant`, all or nothing. `by_service`: the
        service derived these events itself (monitoring), so the tenant's requirement of
        producer signatures does not apply (a signature present is still checked).
        `policy` replaces the log's loan checks for this call (strict handling, or the
        service's own derived events)."""
        if not 1 <= len(posted) <= MAX_BATCH:
            raise RecordError(f"a batch holds 1 to {MAX_BATCH} events, got {len(posted)}")
        received_at = self._clock()
        check = self._producer_check(tenant, by_service)
        pending = []
        for i, event in enumerate(posted):
            try:
                record = build_record(event, tenant=tenant, received_at=received_at,
                                      salt=self._salt(32),
                                      max_future_skew=self._max_future_skew)
                check(event)
            except Exception as exc:
                raise BatchItemError(i, exc) from exc
            pending.append(Pending(tenant, posted_hash(event), record))
        sequencer = self._sequencer
        append = sequencer.append if sequencer is not None else self.store.append
        accepted = append(pending, policy or self._policy)
        return [Submitted(self.receipt(a), a.replay) for a in accepted]

    def _producer_check(self, tenant: str,
                        by_service: bool) -> Callable[[Mapping[str, Any]], object]:
        """The tenant's policy and keys, read once per batch."""
        producers = self._producers
        if producers is None:
            return lambda _event: None
        required = not by_service and producers.policy(tenant).require_signatures
        keys: dict[str, ProducerKey | None] = {}

        def lookup(key_id: str) -> ProducerKey | None:
            if key_id not in keys:
                keys[key_id] = producers.key(tenant, key_id)
            return keys[key_id]

        return lambda event: check_event_signature(event, tenant, required=required,
                                                   lookup=lookup)

    def receipt(self, accepted: Accepted) -> dict[str, Any]:
        return sign_receipt(
            Receipt(self.origin, accepted.leaf_index, accepted.leaf_hash, accepted.received_at),
            self.signer,
        )

    def receipt_for_leaf(self, leaf_index: int) -> dict[str, Any]:
        leaf = self.store.leaf(leaf_index)
        return self.receipt(Accepted(leaf.leaf_index, leaf.leaf_hash, leaf.received_at, False))

    # --- publishing ---------------------------------------------------------------------

    def sign_checkpoint_if_grown(self) -> StoredCheckpoint | None:
        """Sign a checkpoint of the current tree if it grew since the last one: its body
        carries the loan index root at that size as the line `loan-index <base64 root>`
        after the root line."""
        size, root = self.store.tree_head()
        latest = self.store.latest_checkpoint()
        if size == 0 or (latest is not None and latest.tree_size >= size):
            return None
        if self.store.root(size) != root:
            raise IntegrityError(f"stored root for size {size} differs from the tree's nodes")
        if latest is not None:
            # Never sign a checkpoint that does not extend the last one signed.
            proof = self.store.consistency_proof(latest.tree_size, size)
            merkle.verify_consistency(latest.tree_size, size, proof, latest.root, root)
        # the loan index root at this size, committed in the signed body (issue 13); a log
        # that kept no index at this size signs the three lines alone
        index_root = self.store.loan_index_root(size)
        extensions = () if index_root is None else (index_line(index_root),)
        note = sign_checkpoint(Checkpoint(self.origin, size, root, extensions), self.signer)
        cp = StoredCheckpoint(size, root, note, format_utc(self._clock()))
        self.store.add_checkpoint(cp)
        return self.store.checkpoint(size)
