"""The anchoring job: publish the log's latest checkpoint on chain, then watch it until
final.

One round (`run_once`): take the submitter lease (only one process submits); reconcile the
submissions in flight (included? in which block? still canonical? dropped?); record
cosignatures the chain has seen; and, when the log has grown past what the chain holds and
nothing is in flight, sign a checkpoint and submit it with its consistency proof from the
last anchored size. The contract refuses a size that is not greater, so a size is never
anchored twice; before submitting, the job checks that the root the chain holds is the
log's own root for that size, and refuses loudly if not.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from anchoring.anchor_store import FINAL, INCLUDED, SUBMITTED, AnchorRow, AnchorStore, Cosignature
from anchoring.chain import AnchorChain
from anchoring.errors import AnchoringError, IntegrityError
from anchoring.log import EvidenceLog
from cunzheng_verify.records import format_utc

logger = logging.getLogger("cunzheng.anchoring")
LEASE = "anchoring"
DROPPED = "dropped"
COSIGN_CURSOR = "anchoring.cosign_cursor"


@dataclass(frozen=True)
class AnchorJobConfig:
    holder: str
    confirmations: int = 2
    drop_after_seconds: float = 60.0
    lease_ms: int = 30_000


@dataclass
class RoundReport:
    leased: bool = False
    submitted: int | None = None
    updated: list[str] = field(default_factory=list)
    cosignatures: int = 0


class AnchoringJob:
    def __init__(self, log: EvidenceLog, anchors: AnchorStore, chain: AnchorChain,
                 config: AnchorJobConfig, clock: Callable[[], datetime]) -> None:
        self.log = log
        self.anchors = anchors
        self.chain = chain
        self.config = config
        self._clock = clock

    def _now(self) -> str:
        return format_utc(self._clock())

    def run_once(self) -> RoundReport:
        report = RoundReport()
        now_ms = int(self._clock().timestamp() * 1000)
        if not self.anchors.acquire_lease(LEASE, self.config.holder, now_ms, self.config.lease_ms):
            return report
        report.leased = True
        head = self.chain.head()
        for row in self.anchors.in_flight():
            change = self._reconcile(row, head)
            if change:
                report.updated.append(f"{row.tree_size}: {change}")
        report.cosignatures = self._record_cosignatures(head)
        if not any(r.status == SUBMITTED for r in self.anchors.in_flight()):
            report.submitted = self._submit_if_grown()
        return report

    # --- tracking submissions -----------------------------------------------------------

    def _reconcile(self, row: AnchorRow, head: int) -> str | None:
        receipt = self.chain.receipt(row.tx_hash)
        if receipt is None:
            if row.status == INCLUDED:
                self.anchors.save(self._replace(row, status=SUBMITTED, block_number=None,
                                                block_hash=None, block_time=None, confirmations=0,
                                                note="reorg: the transaction left the chain"))
                logger.warning("anchor %s: transaction %s left the chain (reorg)", row.tree_size,
                               row.tx_hash)
                return "reorged out"
            return self._maybe_dropped(row)
        if receipt.status != 1:
            size, _ = self.chain.latest_anchored()
            note = f"transaction reverted at block {receipt.block_number}"
            if size >= row.tree_size:
                self.anchors.save(self._replace(row, status="superseded", note=note))
                return "superseded"
            return self._resubmit(row, note)
        canonical = self.chain.block(receipt.block_number)
        if canonical is None or canonical[0] != receipt.block_hash:
            self.anchors.save(self._replace(row, status=SUBMITTED, block_number=None,
                                            block_hash=None,
                                            block_time=None, confirmations=0,
                                            note=f"reorg at block {receipt.block_number}"))
            logger.warning("anchor %s: block %s was replaced (reorg); waiting for re-inclusion",
                           row.tree_size, receipt.block_number)
            return "reorg"
        confirmations = max(0, head - receipt.block_number + 1)
        status = FINAL if confirmations >= self.config.confirmations else INCLUDED
        block_hash, block_unix_time = canonical
        if (row.status, row.confirmations, row.block_hash) == (status, confirmations, block_hash):
            return None
        block_time = row.block_time if row.block_hash == block_hash else None
        if block_time is None:
            block_time = format_utc(datetime.fromtimestamp(block_unix_time, UTC))
        self.anchors.save(self._replace(row, status=status, block_number=receipt.block_number,
                                        block_hash=block_hash, block_time=block_time,
                                        confirmations=confirmations, note=None))
        return f"{status} with {confirmations} confirmation(s)"

    def _maybe_dropped(self, row: AnchorRow) -> str | None:
        size, _root = self.chain.latest_anchored()
        if size >= row.tree_size:
            # anchored by another transaction for this size (an earlier attempt) or beyond
            event = self.chain.anchored_event(row.tree_size)
            if event is not None:
                self.anchors.save(self._replace(row, tx_hash="0x" + event.tx_hash.hex(),
                                                note="anchored by an earlier attempt"))
                return "found earlier attempt"
            self.anchors.save(self._replace(row, status="superseded"))
            return "superseded"
        if self.chain.tx_known(row.tx_hash):
            return None  # pending in the node's pool
        age = (self._clock() - datetime.fromisoformat(row.updated_at)).total_seconds()
        if age < self.config.drop_after_seconds:
            return None
        return self._resubmit(row, f"transaction {row.tx_hash} was dropped")

    def _resubmit(self, row: AnchorRow, why: str) -> str:
        logger.warning("anchor %s: %s; resubmitting", row.tree_size, why)
        self.anchors.save(self._replace(row, status=DROPPED, note=why))
        self._submit_if_grown()
        return f"resubmitted ({why})"

    def _replace(self, row: AnchorRow, **changes: Any) -> AnchorRow:
        from dataclasses import replace

        return replace(row, updated_at=self._now(), **changes)

    def _record_cosignatures(self, head: int) -> int:
        start = int(self.anchors.get_value(COSIGN_CURSOR) or 0)
        if start > head:
            return 0
        found = 0
        for ev in self.chain.cosigned_events(start, head):
            found += self.anchors.add_cosignature(Cosignature(
                ev.tree_size, ev.witness, "0x" + ev.tx_hash.hex(), ev.block_number))
        # look back a few blocks next time, so a reorg near the head is re-read
        self.anchors.set_value(COSIGN_CURSOR, str(max(0, head - 5)))
        return found

    # --- submitting ---------------------------------------------------------------------

    def _submit_if_grown(self) -> int | None:
        self.log.sign_checkpoint_if_grown()
        cp = self.log.store.latest_checkpoint()
        if cp is None:
            return None
        chain_size, chain_root = self.chain.latest_anchored()
        if cp.tree_size < chain_size:
            return None
        if chain_size > 0:
            ours = self.log.store.root(chain_size)
            if ours != chain_root:
                raise IntegrityError(
                    f"the chain holds root {chain_root.hex()} for size {chain_size}, the log's "
                    f"root for that size is {ours.hex()}: refusing to anchor")
            known = self.anchors.get(chain_size)
            if known is None or known.status == DROPPED:
                # sent, then the process died before recording it (or gave it up for dropped
                # just before it was mined): without a row the evidence it covers never
                # shows this anchor
                self._adopt(chain_size, chain_root, known)
                return None
        if cp.tree_size == chain_size:
            return None
        proof = self.log.store.consistency_proof(chain_size, cp.tree_size) if chain_size else []
        previous = self.anchors.get(cp.tree_size)
        tx = self.chain.send_anchor(cp.tree_size, cp.root, proof)
        now = self._now()
        self.anchors.add(AnchorRow(
            tree_size=cp.tree_size, root=cp.root, previous_size=chain_size,
            chain_id=self.chain.chain_id, contract=self.chain.contract, tx_hash="0x" + tx.hex(),
            status=SUBMITTED, block_number=None, block_hash=None, block_time=None,
            confirmations=0, attempts=(previous.attempts + 1) if previous else 1,
            submitted_at=now, updated_at=now))
        logger.info("anchor %s submitted in %s (from %s)", cp.tree_size, "0x" + tx.hex(),
                    chain_size)
        return cp.tree_size


    def _adopt(self, size: int, root: bytes, known: AnchorRow | None) -> None:
        """Record the anchor of `size` the chain holds from its `Anchored` event; the next
        round's reconciliation fills in its block and confirmations."""
        event = self.chain.anchored_event(size)
        if event is None:
            raise AnchoringError(f"the chain holds size {size} but no Anchored event for it")
        now = self._now()
        self.anchors.add(AnchorRow(
            tree_size=size, root=root, previous_size=event.previous_size,
            chain_id=self.chain.chain_id, contract=self.chain.contract,
            tx_hash="0x" + event.tx_hash.hex(), status=SUBMITTED, block_number=None,
            block_hash=None, block_time=None, confirmations=0,
            attempts=known.attempts if known else 1,
            submitted_at=known.submitted_at if known else now, updated_at=now,
            note="found on chain: sent but not recorded (a crash or a late drop)"))
        logger.warning("anchor %s found on chain in %s but not recorded; recording it",
                       size, "0x" + event.tx_hash.hex())


class Backoff:
    """Exponential backoff for a job whose dependency (the chain) may be down."""

    def __init__(self, clock: Callable[[], float], base: float = 1.0, cap: float = 60.0) -> None:
        self._clock = clock
        self._base = base
        self._cap = cap
        self.failures = 0
        self._until = 0.0

    def ready(self) -> bool:
        return self._clock() >= self._until

    def success(self) -> None:
        self.failures = 0
        self._until = 0.0

    def failure(self) -> float:
        self.failures += 1
        delay: float = min(self._cap, self._base * 2.0 ** (self.failures - 1))
        self._until = self._clock() + delay
        return delay


def run_guarded(job: AnchoringJob, backoff: Backoff) -> RoundReport | None:
    """One scheduled round: skipped while backing off; chain errors back off, never crash."""
    if not backoff.ready():
        return None
    try:
        report = job.run_once()
    except IntegrityError:
        logger.critical("anchoring refused: the chain disagrees with the log", exc_info=True)
        backoff.failure()
        return None
    except Exception as exc:  # noqa: BLE001 - a chain that is down raises many types (web3, OS)
        delay = backoff.failure()
        logger.warning("anchoring round failed (%s: %s); retrying in %.0f s",
                       type(exc).__name__, exc, delay)
        return None
    backoff.success()
    return report
