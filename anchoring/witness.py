"""A neutral witness (a notary office, an arbitration commission, a court) that cosigns
anchored checkpoints only after checking them itself.

For each new `Anchored` event on chain, in size order, the witness fetches the log's signed
checkpoint of that size and checks: the note's signature by the log key the witness pinned;
that the note's root is the root anchored on chain; and an RFC 9162 consistency proof from
the root it cosigned last. Only then does it call `cosign`. Any failure is a refusal: it is
logged loudly, recorded in the witness's state file, and nothing is cosigned. The witness
trusts neither the bank's service nor the anchorer: only its own state and the maths.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx

from anchoring.chain import AnchorChain
from anchoring.errors import AnchoringError, MerkleError, RecordError
from anchoring.keyfiles import write_atomic
from cunzheng_verify import merkle
from cunzheng_verify.notes import verify_checkpoint
from cunzheng_verify.records import parse_json

logger = logging.getLogger("cunzheng.witness")
STATE_SCHEMA = "cunzheng.witness-state/v1"
MAX_LOG_ANSWER_BYTES = 64 * 1024  # a consistency proof is under 10 KB


class WitnessError(AnchoringError):
    """The witness cannot run (bad state file, log or chain unreachable)."""


class WitnessRefusal(AnchoringError):
    """An anchored checkpoint failed the witness's own checks; it was not cosigned."""


class LogSource(Protocol):
    def checkpoint_note(self, size: int) -> str: ...
    def consistency_proof(self, size1: int, size2: int) -> list[bytes]: ...


class HttpLogSource:
    """The service's log API, read with an auditor (or any log-reading) key."""

    def __init__(self, client: httpx.Client, api_key: str, base_url: str = "") -> None:
        self._client = client
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self._base = base_url.rstrip("/")

    def _get(self, path: str) -> httpx.Response:
        r = self._client.get(f"{self._base}{path}", headers=self._headers)
        if r.status_code == 404:
            detail = self._json(r, path)
            raise WitnessRefusal(f"the log has no {path}: "
                                 f"{detail.get('detail', '') if isinstance(detail, dict) else ''}")
        if r.status_code != 200:
            raise WitnessError(f"log API answered {r.status_code} for {path}: {r.text[:200]}")
        return r

    @staticmethod
    def _json(r: httpx.Response, path: str) -> Any:
        # the witness does not trust the log: its answers get the strict, bounded reader
        # (json.loads would recurse as deep as the log nests, past a raised recursion limit)
        try:
            return parse_json(r.content, max_bytes=MAX_LOG_ANSWER_BYTES)
        except RecordError as exc:
            raise WitnessRefusal(f"the log's answer to {path} is not JSON the witness reads: "
                                 f"{exc}") from None

    def checkpoint_note(self, size: int) -> str:
        return self._get(f"/v1/log/checkpoints/{size}/note").text

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        path = f"/v1/log/proofs/consistency?first={size1}&second={size2}"
        body = self._json(self._get(path), path)
        if not isinstance(body, dict) or not isinstance(body.get("proof"), list):
            raise WitnessRefusal(f"the log's answer to {path} is not a consistency proof")
        if body.get("size1") != size1 or body.get("size2") != size2:
            raise WitnessRefusal(f"asked for a proof {size1}->{size2}, got "
                                 f"{body.get('size1')}->{body.get('size2')}")
        try:
            return [bytes.fromhex(h) for h in body["proof"]]
        except (TypeError, ValueError):
            raise WitnessRefusal(f"the log's proof {size1}->{size2} holds a hash that is not "
                                 "hex") from None


@dataclass
class WitnessState:
    """What the witness remembers: the log it watches and the last root it cosigned."""

    origin: str
    key_name: str
    public_key: str  # base64, pinned at the first run
    contract: str
    chain_id: int
    last_size: int = 0
    last_root: str = merkle.EMPTY_ROOT.hex()
    next_block: int = 0
    cosigned: list[dict[str, Any]] = field(default_factory=list)
    refused: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> WitnessState:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise WitnessError(f"cannot read witness state {path}: {exc}") from None
        if data.pop("schema", None) != STATE_SCHEMA:
            raise WitnessError(f"{path} is not a {STATE_SCHEMA} file")
        return cls(**data)

    def save(self, path: Path) -> None:
        write_atomic(path, json.dumps({"schema": STATE_SCHEMA, **asdict(self)}, indent=2).encode())


@dataclass(frozen=True)
class Outcome:
    tree_size: int
    cosigned: bool
    detail: str


class Witness:
    def __init__(self, chain: AnchorChain, log: LogSource, state: WitnessState,
                 state_path: Path, *, max_recorded: int = 200) -> None:
        if state.contract.lower() != chain.contract.lower() or state.chain_id != chain.chain_id:
            raise WitnessError(
                f"state file watches contract {state.contract} on chain {state.chain_id}, "
                f"the node gives {chain.contract} on chain {chain.chain_id}")
        self.chain = chain
        self.log = log
        self.state = state
        self.state_path = state_path
        self._max = max_recorded

    def run_once(self) -> list[Outcome]:
        head = self.chain.head()
        if self.state.next_block > head:
            return []
        events = sorted(self.chain.anchored_events(self.state.next_block, head),
                        key=lambda e: e.tree_size)
        outcomes = []
        for ev in events:
            if ev.tree_size <= self.state.last_size:
                continue
            outcomes.append(self._witness(ev.tree_size, ev.root, ev.block_number))
        self.state.next_block = head + 1
        self.state.save(self.state_path)
        return outcomes

    def _witness(self, size: int, root: bytes, block: int) -> Outcome:
        try:
            self._check(size, root)
        except (WitnessRefusal, AnchoringError) as exc:
            logger.error("REFUSED to cosign size %s root %s (block %s): %s",
                         size, root.hex(), block, exc)
            self.state.refused = (self.state.refused + [
                {"tree_size": size, "root": root.hex(), "block": block,
                 "reason": str(exc)}])[-self._max:]
            self.state.save(self.state_path)
            return Outcome(size, False, str(exc))
        tx = self.chain.send_cosign(size, root)
        self.state.last_size, self.state.last_root = size, root.hex()
        self.state.cosigned = (self.state.cosigned + [
            {"tree_size": size, "root": root.hex(), "tx_hash": "0x" + tx.hex()}])[-self._max:]
        self.state.save(self.state_path)
        logger.info("cosigned size %s root %s in %s", size, root.hex(), "0x" + tx.hex())
        return Outcome(size, True, "0x" + tx.hex())

    def _check(self, size: int, root: bytes) -> None:
        public_key = base64.b64decode(self.state.public_key)
        note = self.log.checkpoint_note(size)
        cp = verify_checkpoint(note, key_name=self.state.key_name, public_key=public_key,
                               origin=self.state.origin)
        if cp.tree_size != size:
            raise WitnessRefusal(
                f"the log's checkpoint is for size {cp.tree_size}, anchored {size}")
        if cp.root != root:
            raise WitnessRefusal(
                f"the chain anchored root {root.hex()} for size {size}, the log signed "
                f"{cp.root.hex()}")
        last_size, last_root = self.state.last_size, bytes.fromhex(self.state.last_root)
        if last_size:
            proof = self.log.consistency_proof(last_size, size)
            try:
                merkle.verify_consistency(last_size, size, proof, last_root, root)
            except MerkleError as exc:
                raise WitnessRefusal(
                    f"size {size} is not an append-only extension of the size {last_size} "
                    f"this witness cosigned: {exc}") from None


def first_state(*, origin: str, key_name: str, public_key: bytes, contract: str,
                chain_id: int, start_block: int = 0) -> WitnessState:
    return WitnessState(origin=origin, key_name=key_name,
                        public_key=base64.b64encode(public_key).decode(), contract=contract,
                        chain_id=chain_id, next_block=start_block)


def summarize(outcomes: Sequence[Outcome]) -> str:
    done = sum(o.cosigned for o in outcomes)
    return f"{done} cosigned, {len(outcomes) - done} refused"
