"""The chain port of the verifier: the read-only facts the on-chain step needs.

`ChainView` is the narrow interface (chain id, head, code, a transaction's receipt, a
block's hash and time, the registry's root for a size and its cosigners); `Web3ChainView`
answers it over any Ethereum JSON-RPC node (or eth-tester in tests), reading the registry
with the ABI of the artifact shipped in this package (`cunzheng_verify.artifact`). web3 is
imported only when a `Web3ChainView` is used, so offline verification never needs it (it is
the `chain` extra of `cunzheng-verify`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

# keccak256("Anchored(uint64,bytes32,uint64)"): topic 0 of the registry's Anchored event
ANCHORED_TOPIC = bytes.fromhex("8a625ff6b600489e76c9caf3b3e78a6b1cf48af724479bd7bdca61de573a6412")


@dataclass(frozen=True, slots=True)
class ChainLog:
    address: str
    topics: tuple[bytes, ...]
    data: bytes


@dataclass(frozen=True, slots=True)
class ChainReceipt:
    status: int
    block_number: int
    block_hash: str  # 0x hex
    to: str | None
    logs: tuple[ChainLog, ...]


class ChainView(Protocol):
    """The read-only facts the on-chain step needs (`Web3ChainView` over JSON-RPC)."""

    def chain_id(self) -> int: ...
    def head(self) -> int: ...
    def code(self, address: str) -> bytes: ...
    def receipt(self, tx_hash: str) -> ChainReceipt | None: ...
    def block(self, number: int) -> tuple[str, int] | None: ...  # (0x hash, unix time)
    def root_at(self, contract: str, size: int) -> bytes | None: ...
    def cosigners(self, contract: str, size: int) -> list[str]: ...


class Web3ChainView:
    """`ChainView` over a web3 connection (an RPC URL, or eth-tester in tests)."""

    def __init__(self, w3: Any) -> None:
        self.w3 = w3

    @classmethod
    def from_url(cls, url: str, timeout: float = 30.0) -> Web3ChainView:
        from web3 import Web3

        return cls(Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": timeout})))

    def chain_id(self) -> int:
        return int(self.w3.eth.chain_id)

    def head(self) -> int:
        return int(self.w3.eth.block_number)

    def code(self, address: str) -> bytes:
        from eth_utils.address import to_checksum_address

        return bytes(self.w3.eth.get_code(to_checksum_address(address)))

    def receipt(self, tx_hash: str) -> ChainReceipt | None:
        from web3.exceptions import TransactionNotFound

        try:
            r = self.w3.eth.get_transaction_receipt(tx_hash)
        except TransactionNotFound:
            return None
        if r is None or r.get("blockNumber") is None:
            return None
        logs = tuple(ChainLog(str(lg["address"]), tuple(bytes(t) for t in lg["topics"]),
                              bytes(lg["data"])) for lg in r["logs"])
        return ChainReceipt(int(r["status"]), int(r["blockNumber"]),
                            "0x" + bytes(r["blockHash"]).hex(), r.get("to"), logs)

    def block(self, number: int) -> tuple[str, int] | None:
        from web3.exceptions import BlockNotFound

        try:
            b = self.w3.eth.get_block(number)
        except BlockNotFound:
            return None
        return "0x" + bytes(b["hash"]).hex(), int(b["timestamp"])

    def _registry(self, contract: str) -> Any:
        from eth_utils.address import to_checksum_address

        from cunzheng_verify.artifact import registry_abi

        return self.w3.eth.contract(address=to_checksum_address(contract), abi=registry_abi())

    def root_at(self, contract: str, size: int) -> bytes | None:
        registry = self._registry(contract)
        if not registry.functions.isAnchored(size).call():
            return None
        return bytes(registry.functions.rootAt(size).call())

    def cosigners(self, contract: str, size: int) -> list[str]:
        return [str(a) for a in self._registry(contract).functions.cosigners(size).call()]
