"""The evidence log as its users see it: accept events and return signed receipts, sign
checkpoints at a cadence, serve proofs.

Sequencing and integration happen in one transaction (`LogStore.append`); publishing
(signing a checkpoint) is separate and never signs a checkpoint that is not consistent
with the one before it.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from anchoring import merkle
from anchoring.errors import IntegrityError, RecordError, SignatureError
from anchoring.notes import Checkpoint, Signer, sign_checkpoint, verify_signature
from anchoring.receipts import Receipt, sign_receipt
from anchoring.records import build_record, canonical, format_utc, posted_hash
from anchoring.store import (
    Accepted,
    BatchItemError,
    LoanPolicy,
    LogStore,
    Pending,
    StoredCheckpoint,
)

MAX_BATCH = 1000
MAX_FUTURE_SKEW = timedelta(seconds=300)
"""Default: how far `occurred_at` may lie after `received_at` (the producers' clock error)."""

ProducerKeys = Callable[[str, str], bytes | None]
"""(tenant, key_id) -> the producer's Ed25519 public key, or None if unknown."""


def producer_key_id(public_key: bytes) -> str:
    """The id a producer key is registered under: hex of SHA-256(key)[:8]."""
    return hashlib.sha256(public_key).hexdigest()[:16]


def producer_message(posted: Mapping[str, Any]) -> bytes:
    """What a producer signs: the JCS bytes of the posted object without its signature."""
    return canonical({k: v for k, v in posted.items() if k != "producer_signature"})


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
        producer_keys: ProducerKeys | None = None,
        salt: Callable[[int], bytes] = os.urandom,
        max_future_skew: timedelta = MAX_FUTURE_SKEW,
    ) -> None:
        self.store = store
        self.signer = signer
        self.origin = origin
        self._clock = clock
        self._policy = policy
        self._producer_keys = producer_keys
        self._salt = salt
        self._max_future_skew = max_future_skew

    def submit(self, tenant: str, posted: Sequence[Mapping[str, Any]]) -> list[Submitted]:
        """Accept a batch of posted events for `tenant`, all or nothing."""
        if not 1 <= len(posted) <= MAX_BATCH:
            raise RecordError(f"a batch holds 1 to {MAX_BATCH} events, got {len(posted)}")
        received_at = self._clock()
        pending = []
        for i, event in enumerate(posted):
            try:
                record = build_record(event, tenant=tenant, received_at=received_at,
                                      salt=self._salt(32),
                                      max_future_skew=self._max_future_skew)
                self._check_producer(tenant, event)
            except Exception as exc:
                raise BatchItemError(i, exc) from exc
            pending.append(Pending(tenant, posted_hash(event), record))
        accepted = self.store.append(pending, self._policy)
        return [Submitted(self.receipt(a), a.replay) for a in accepted]

    def _check_producer(self, tenant: str, event: Mapping[str, Any]) -> None:
        sig = event.get("producer_signature")
        if sig is None or self._producer_keys is None:
            return
        key = self._producer_keys(tenant, sig["key_id"])
        if key is None:
            raise SignatureError(
                f"producer key {sig['key_id']!r} is not registered for tenant {tenant!r}")
        try:
            raw = base64.b64decode(sig["sig"], validate=True)
        except ValueError:
            raise SignatureError("producer_signature.sig is not base64") from None
        verify_signature(key, raw, producer_message(event), "the event (producer_signature)")

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
        """Sign a checkpoint of the current tree if it grew since the last one."""
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
        note = sign_checkpoint(Checkpoint(self.origin, size, root), self.signer)
        cp = StoredCheckpoint(size, root, note, format_utc(self._clock()))
        self.store.add_checkpoint(cp)
        return self.store.checkpoint(size)
