"""The chain port the anchoring job and the witness need, and its web3 adapter.

The port is narrow on purpose: what the head is, what a block's hash and time are, what a
transaction's receipt says, what the registry has anchored, and sending `anchor` or
`cosign` without waiting (the job tracks inclusion, confirmations and reorgs itself).

The reads are the verifier's: `head`, `block` and `receipt` have `ChainView`'s signatures
and answers (a `ChainReceipt`, hashes as 0x hex), and `Web3Chain` answers them through a
`Web3ChainView`, so there is one web3 read adapter and one receipt type.
"""

from __future__ import annotations

from collections.abc import Sequence
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
from cunzheng_verify.chain import ChainReceipt, Web3ChainView


class AnchorChain(Protocol):
    # read-only, so an adapter may hold a narrower type (web3's `ChecksumAddress`)
    @property
    def chain_id(self) -> int: ...
    @property
    def contract(self) -> str: ...

    # the reads, as the verifier's `ChainView` has them (hashes are 0x hex)
    def head(self) -> int: ...
    def block(self, number: int) -> tuple[str, int] | None: ...  # (0x hash, unix time)
    def receipt(self, tx_hash: str) -> ChainReceipt | None: ...
    def tx_known(self, tx_hash: str) -> bool: ...
    def latest_anchored(self) -> tuple[int, bytes]: ...
    def root_at(self, size: int) -> bytes: ...
    def send_anchor(self, size: int, root: bytes, proof: Sequence[bytes]) -> bytes: ...
    def send_cosign(self, size: int, root: bytes) -> bytes: ...
    def anchored_events(self, from_block: int, to_block: int) -> list[AnchoredEvent]: ...
    def anchored_event(self, size: int) -> AnchoredEvent | None: ...
    def cosigned_events(self, from_block: int, to_block: int) -> list[CosignedEvent]: ...


class Web3Chain:
    """`AnchorChain` over web3 and a deployed registry, sending from `sender` (an account
    the node unlocks, or one a signing middleware on `w3` holds). Its reads are the
    verifier's `Web3ChainView` over the same connection."""

    def __init__(self, w3: Web3, address: str, sender: str | None = None) -> None:
        self.w3 = w3
        self.view = Web3ChainView(w3)
        self.contract = to_checksum_address(address)
        self.sender = to_checksum_address(sender) if sender else None
        self.registry = AnchorRegistryClient(w3, self.contract)
        self._contract = w3.eth.contract(address=self.contract, abi=list(load_artifact().abi))
        self.chain_id = self.view.chain_id()

    def head(self) -> int:
        return self.view.head()

    def block(self, number: int) -> tuple[str, int] | None:
        try:
            return self.view.block(number)
        except Exception:  # noqa: BLE001 - nodes differ in how they say "no such block"
            return None

    def receipt(self, tx_hash: str) -> ChainReceipt | None:
        return self.view.receipt(tx_hash)

    def tx_known(self, tx_hash: str) -> bool:
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
        """The `Anchored` event of a size (one filtered query, not a scan of the chain)."""
        found = [e for e in self.registry.anchored_events(0, tree_size=size)
                 if e.tree_size == size]
        return found[0] if found else None

    def cosigned_events(self, from_block: int, to_block: int) -> list[CosignedEvent]:
        return self.registry.cosigned_events(from_block, to_block)
