"""The chain port the anchoring job and the witness need, and its web3 adapter.

The port is narrow on purpose: what the head is, what a block's hash and time are, what a
transaction's receipt says, what the registry has anchored, and sending `anchor` or
`cosign` without waiting (the job tracks inclusion, confirmations and reorgs itself).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from eth_utils.address import to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import TransactionNotFound

from anchoring.errors import RegistryError
from anchoring.registry import (
    AnchoredEvent,
    AnchorRegistryClient,
    CosignedEvent,
    load_artifact,
)


@dataclass(frozen=True, slots=True)
class TxReceipt:
    block_number: int
    block_hash: bytes
    success: bool


class AnchorChain(Protocol):
    # read-only, so an adapter may hold a narrower type (web3's `ChecksumAddress`)
    @property
    def chain_id(self) -> int: ...
    @property
    def contract(self) -> str: ...

    def head(self) -> int: ...
    def block_hash(self, number: int) -> bytes | None: ...
    def block_time(self, number: int) -> int: ...
    def receipt(self, tx_hash: bytes) -> TxReceipt | None: ...
    def tx_known(self, tx_hash: bytes) -> bool: ...
    def latest_anchored(self) -> tuple[int, bytes]: ...
    def root_at(self, size: int) -> bytes: ...
    def send_anchor(self, size: int, root: bytes, proof: Sequence[bytes]) -> bytes: ...
    def send_cosign(self, size: int, root: bytes) -> bytes: ...
    def anchored_events(self, from_block: int, to_block: int) -> list[AnchoredEvent]: ...
    def anchored_event(self, size: int) -> AnchoredEvent | None: ...
    def cosigned_events(self, from_block: int, to_block: int) -> list[CosignedEvent]: ...


class Web3Chain:
    """`AnchorChain` over web3 and a deployed registry, sending from `sender` (an account
    the node unlocks, or one a signing middleware on `w3` holds)."""

    def __init__(self, w3: Web3, address: str, sender: str | None = None) -> None:
        self.w3 = w3
        self.contract = to_checksum_address(address)
        self.sender = to_checksum_address(sender) if sender else None
        self.registry = AnchorRegistryClient(w3, self.contract)
        self._contract = w3.eth.contract(address=self.contract, abi=list(load_artifact().abi))
        self.chain_id = int(w3.eth.chain_id)

    def head(self) -> int:
        return int(self.w3.eth.block_number)

    def block_hash(self, number: int) -> bytes | None:
        try:
            return bytes(self.w3.eth.get_block(number)["hash"])
        except Exception:  # noqa: BLE001 - nodes differ in how they say "no such block"
            return None

    def block_time(self, number: int) -> int:
        return int(self.w3.eth.get_block(number)["timestamp"])

    def receipt(self, tx_hash: bytes) -> TxReceipt | None:
        try:
            r = self.w3.eth.get_transaction_receipt(HexBytes(tx_hash))
        except TransactionNotFound:
            return None
        if r is None or r.get("blockNumber") is None:
            return None
        return TxReceipt(int(r["blockNumber"]), bytes(r["blockHash"]), r["status"] == 1)

    def tx_known(self, tx_hash: bytes) -> bool:
        try:
            return self.w3.eth.get_transaction(HexBytes(tx_hash)) is not None
        except TransactionNotFound:
            return False

    def latest_anchored(self) -> tuple[int, bytes]:
        return self.registry.latest()

    def root_at(self, size: int) -> bytes:
        return self.registry.root_at(size)

    def _send(self, fn: Any) -> bytes:
        if self.sender is None:
            raise RegistryError("no sender account configured for transactions")
        # eth_call first: a refusal comes back as the contract's custom error, before
        # anything is sent.
        self.registry.call(fn, {"from": self.sender})
        return bytes(fn.transact({"from": self.sender}))

    def send_anchor(self, size: int, root: bytes, proof: Sequence[bytes]) -> bytes:
        return self._send(self._contract.functions.anchor(size, root, list(proof)))

    def send_cosign(self, size: int, root: bytes) -> bytes:
        return self._send(self._contract.functions.cosign(size, root))

    def anchored_events(self, from_block: int, to_block: int) -> list[AnchoredEvent]:
        return self.registry.anchored_events(from_block, to_block)

    def anchored_event(self, size: int) -> AnchoredEvent | None:
        """The `Anchored` event of a size (the size is an indexed topic: one filtered query,
        not a scan of the chain)."""
        logs = self._contract.events.Anchored.get_logs(from_block=0, to_block="latest",
                                                       argument_filters={"treeSize": size})
        found = [AnchoredEvent(tree_size=log["args"]["treeSize"], root=bytes(log["args"]["root"]),
                               previous_size=log["args"]["previousSize"],
                               block_number=log["blockNumber"], block_hash=bytes(log["blockHash"]),
                               tx_hash=bytes(log["transactionHash"]), log_index=log["logIndex"])
                 for log in logs if log["args"]["treeSize"] == size]
        return found[0] if found else None

    def cosigned_events(self, from_block: int, to_block: int) -> list[CosignedEvent]:
        return self.registry.cosigned_events(from_block, to_block)
