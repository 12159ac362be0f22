"""The devnet's py-evm chain: created once in a `ChainStore`, reopened from it afterwards.

eth-tester's `PyEVMBackend` builds its chain on a fresh in-memory database with a fixed
chain id. `open_chain` builds the same kind of chain (Prague rules, post-merge, constant gas
limit) with a configurable chain id on the store's database instead: on a fresh directory it
writes genesis, otherwise it reopens the chain at the canonical head py-evm recorded, after
checking the stored head, genesis and every parent link. `DevnetBackend` is the
`PyEVMBackend` over that chain, changed in three ways: it never resets to genesis, pending
blocks get the wall-clock time when their first transaction arrives, and failed calls keep
their raw revert data.
"""

from __future__ import annotations

import time
from typing import Any

from eth.abc import BlockHeaderAPI
from eth.chains.base import MiningChain
from eth.db.atomic import AtomicDB
from eth.exceptions import HeaderNotFound, Revert, VMError
from eth.vm.forks import PragueVM
from eth.vm.spoof import SpoofTransaction
from eth_abi import abi
from eth_abi.exceptions import DecodingError
from eth_tester.backends.pyevm.main import (
    PyEVMBackend,
    _get_block_by_number,
    get_default_genesis_params,
)
from eth_utils import ValidationError
from eth_utils.toolz import assoc

from .accounts import DEV_ACCOUNT_BALANCE_WEI, DevAccount
from .errors import ChainStoreError, ChainStoreMismatch, ExecutionHalted, ExecutionReverted
from .store import ChainHead, ChainIdentity, ChainStore

DEFAULT_CHAIN_ID = 1337
ERROR_STRING_SELECTOR = bytes.fromhex("08c379a0")  # Error(string)
PANIC_SELECTOR = bytes.fromhex("4e487b71")  # Panic(uint256)
MAX_FEE_HISTORY_BLOCKS = 1024
_FEE_FIELDS = ("gas_price", "max_fee_per_gas", "max_priority_fee_per_gas")


def make_chain_class(chain_id: int) -> type[MiningChain]:
    """A post-merge Prague chain like eth-tester's, with `chain_id`."""

    class DevnetChain(MiningChain):
        vm_configuration = ((0, PragueVM),)

        def create_header_from_parent(
            self, parent_header: BlockHeaderAPI, **header_params: Any
        ) -> BlockHeaderAPI:
            # A constant gas limit, as eth-tester keeps it.
            return super().create_header_from_parent(
                parent_header, **assoc(header_params, "gas_limit", parent_header.gas_limit)
            )

        def get_transaction_builder(self) -> Any:
            return super().get_vm().get_transaction_builder()

    DevnetChain.chain_id = chain_id
    return DevnetChain


def chain_head(chain: MiningChain) -> ChainHead:
    """The chain's canonical head as a store value."""
    header = chain.get_canonical_head()
    return ChainHead(number=header.block_number, hash=header.hash)


def open_chain(store: ChainStore, chain_id: int, accounts: tuple[DevAccount, ...]) -> MiningChain:
    """The chain in `store`, created with genesis if the store is empty, verified otherwise."""
    chain_class = make_chain_class(chain_id)
    addresses = tuple(a.address for a in accounts)
    identity = store.identity()
    if identity is None:
        genesis_state = {
            bytes.fromhex(a.address[2:]): {
                "balance": DEV_ACCOUNT_BALANCE_WEI,
                "storage": {},
                "code": b"",
                "nonce": 0,
            }
            for a in accounts
        }
        chain = chain_class.from_genesis(
            AtomicDB(store.kv), get_default_genesis_params(), genesis_state
        )
        head = chain_head(chain)
        store.commit(head, ChainIdentity(chain_id, head.hash, addresses))
        return chain

    if identity.chain_id != chain_id:
        raise ChainStoreMismatch(
            f"chain id of the chain in {store.data_dir}", identity.chain_id, chain_id
        )
    if identity.accounts != addresses:
        raise ChainStoreMismatch(
            f"dev accounts of the chain in {store.data_dir}", identity.accounts, addresses
        )
    chain = chain_class(AtomicDB(store.kv))
    verify_chain(chain, store.head(), identity)
    return chain


def verify_chain(chain: MiningChain, head: ChainHead | None, identity: ChainIdentity) -> None:
    """Check that the reopened chain is the one that was committed, back to genesis.

    Walks every canonical header from the head down: each is found under its hash, sits at
    its number in the canonical index, and names its parent. Raises `ChainStoreError`.
    """
    if head is None:
        raise ChainStoreError("the store names a chain but no head")
    found = chain_head(chain)
    if found != head:
        raise ChainStoreMismatch(
            "canonical head",
            f"#{head.number} 0x{head.hash.hex()}",
            f"#{found.number} 0x{found.hash.hex()}",
        )
    expected_hash = head.hash
    try:
        for number in range(head.number, -1, -1):
            header = chain.chaindb.get_block_header_by_hash(expected_hash)
            canonical = chain.chaindb.get_canonical_block_hash(number)
            if header.block_number != number or canonical != expected_hash:
                raise ChainStoreMismatch(
                    f"canonical block #{number}", f"0x{expected_hash.hex()}", f"0x{canonical.hex()}"
                )
            expected_hash = header.parent_hash
        chain.get_vm(chain.get_canonical_head()).state.get_balance(b"\x00" * 20)
    except (HeaderNotFound, KeyError) as exc:
        raise ChainStoreError(f"the stored chain is incomplete: {exc!r}") from exc
    genesis = chain.chaindb.get_canonical_block_hash(0)
    if genesis != identity.genesis_hash:
        raise ChainStoreMismatch(
            "genesis block", f"0x{identity.genesis_hash.hex()}", f"0x{genesis.hex()}"
        )


def decode_revert_reason(data: bytes) -> str:
    """A short text for a revert payload: the Error(string) message, a panic code, or ''."""
    if data[:4] == ERROR_STRING_SELECTOR:
        try:
            return str(abi.decode(["string"], data[4:])[0])
        except DecodingError:
            return ""
    if data[:4] == PANIC_SELECTOR and len(data) == 36:
        return f"panic: 0x{int.from_bytes(data[4:], 'big'):02x}"
    return ""


def _free_if_unpriced(transaction: dict[str, Any]) -> dict[str, Any]:
    # eth-tester would price a fee-less call at 1 gwei, which the zero address (the
    # default sender) cannot pay; Geth prices it at zero. A priced call stays as it is.
    if any(k in transaction for k in _FEE_FIELDS):
        return transaction
    return {**transaction, "max_fee_per_gas": 0, "max_priority_fee_per_gas": 0}


def _raise_for_vm_error(error: VMError, output: bytes) -> None:
    if isinstance(error, Revert):
        data = bytes(error.args[0]) if error.args and isinstance(error.args[0], bytes) else output
        raise ExecutionReverted(decode_revert_reason(data), data)
    raise ExecutionHalted(str(error) or type(error).__name__)


class DevnetBackend(PyEVMBackend):  # type: ignore[misc]
    """eth-tester's py-evm backend over an already opened (persistent) chain."""

    def __init__(self, chain: MiningChain, accounts: tuple[DevAccount, ...]) -> None:
        # Deliberately not calling super().__init__: it would build a new in-memory chain.
        self.chain = chain
        self.account_keys = tuple(a.private_key for a in accounts)

    def reset_to_genesis(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("the devnet never resets; delete its data directory instead")

    def _refresh_pending_timestamp(self) -> None:
        # py-evm stamps the next header when the previous block is mined; a block should
        # carry the time its first transaction arrived, still strictly after its parent.
        if not self.chain.get_block().transactions:
            parent = self.chain.get_canonical_head()
            self.chain.set_header_timestamp(max(parent.timestamp + 1, int(time.time())))

    def send_raw_transaction(self, raw_transaction: bytes) -> bytes:
        # py-evm does not check the chain id; a node must, or replay protection is void.
        builder = self.chain.get_vm().get_transaction_builder()
        if raw_transaction[:1] != b"\x03":
            signed_chain_id = builder.decode(raw_transaction).chain_id
            if signed_chain_id is not None and signed_chain_id != self.chain.chain_id:
                raise ValidationError(
                    f"invalid chain id: expected {self.chain.chain_id}, found {signed_chain_id}"
                )
        self._refresh_pending_timestamp()
        return super().send_raw_transaction(raw_transaction)  # type: ignore[no-any-return]

    def send_signed_transaction(self, signed_transaction: Any, block_number: Any = "latest") -> Any:
        self._refresh_pending_timestamp()
        return super().send_signed_transaction(signed_transaction, block_number)

    def send_transaction(self, transaction: Any) -> Any:
        self._refresh_pending_timestamp()
        return super().send_transaction(transaction)

    def mine_blocks(self, num_blocks: int = 1, coinbase: bytes = b"\x00" * 20) -> Any:
        self._refresh_pending_timestamp()
        return super().mine_blocks(num_blocks, coinbase)

    def get_fee_history(
        self,
        block_count: int = 1,
        newest_block: Any = "latest",
        reward_percentiles: Any = (),
    ) -> dict[str, Any]:
        # eth-tester reports oldest_block 1 and the ancestors newest-first; this follows
        # the spec: oldest first, plus the base fee of the block after the newest.
        if not 1 <= block_count <= MAX_FEE_HISTORY_BLOCKS:
            raise ValueError(
                f"block count: expected 1..{MAX_FEE_HISTORY_BLOCKS}, found {block_count}"
            )
        if newest_block == "pending":
            newest_block = "latest"
        newest = _get_block_by_number(self.chain, newest_block)
        oldest_number = max(0, newest.number - block_count + 1)
        blocks = [
            self.chain.get_canonical_block_by_number(n)
            for n in range(oldest_number, newest.number + 1)
        ]
        if newest.number < self.chain.get_canonical_head().block_number:
            following = self.chain.get_canonical_block_header_by_number(newest.number + 1)
        else:
            following = self.chain.header
        percentiles = [float(p) for p in reward_percentiles or ()]
        return {
            "oldest_block": oldest_number,
            "base_fee_per_gas": [b.header.base_fee_per_gas for b in blocks]
            + [following.base_fee_per_gas],
            "gas_used_ratio": [b.header.gas_used / b.header.gas_limit for b in blocks],
            "reward": [self._rewards(b, percentiles) for b in blocks] if percentiles else [],
        }

    def _rewards(self, block: Any, percentiles: list[float]) -> list[int]:
        # Priority fee paid per gas at each gas-weighted percentile, as Geth computes it.
        if not block.transactions:
            return [0 for _ in percentiles]
        base_fee = block.header.base_fee_per_gas
        receipts = block.get_receipts(self.chain.chaindb)
        previous = 0
        paid: list[tuple[int, int]] = []
        for tx, receipt in zip(block.transactions, receipts, strict=True):
            gas_used, previous = receipt.gas_used - previous, receipt.gas_used
            tip = min(tx.max_priority_fee_per_gas, tx.max_fee_per_gas - base_fee)
            paid.append((tip, gas_used))
        paid.sort()
        rewards = []
        for p in percentiles:
            threshold = block.header.gas_used * p / 100
            total, chosen = 0, paid[-1][0]
            for tip, gas in paid:
                total += gas
                if total >= threshold:
                    chosen = tip
                    break
            rewards.append(chosen)
        return rewards

    def call(self, transaction: Any, block_number: Any = "latest") -> bytes:
        defaulted = _free_if_unpriced(transaction)
        defaulted.setdefault("gas", self._max_available_gas())
        unsigned = self._get_normalized_and_unsigned_evm_transaction(defaulted, block_number)
        spoofed = SpoofTransaction(unsigned, from_=transaction["from"])
        block = _get_block_by_number(self.chain, block_number)
        vm = self.chain.get_vm(at_header=block.header)
        if defaulted is transaction:
            state = vm.state
        else:
            # Geth runs an unpriced eth_call without a base fee, so any sender can call.
            free_header = block.header.copy(base_fee_per_gas=0)
            state = vm.build_state(vm.chaindb.db, free_header, vm.chain_context, vm.previous_hashes)
        snapshot = state.snapshot()
        try:
            computation = state.apply_transaction(spoofed)
        finally:
            state.revert(snapshot)
        if computation.is_error:
            _raise_for_vm_error(computation.error, bytes(computation.output))
        return bytes(computation.output)

    def estimate_gas(self, transaction: Any, block_number: Any = "latest") -> int:
        unsigned = self._get_normalized_and_unsigned_evm_transaction(
            assoc(_free_if_unpriced(transaction), "gas", 21000), block_number
        )
        spoofed = SpoofTransaction(unsigned, from_=transaction["from"])
        if block_number in ("latest", "safe", "finalized", "pending"):
            at_header = None
        elif block_number == "earliest":
            at_header = self.chain.get_canonical_block_header_by_number(0)
        else:
            at_header = self.chain.get_canonical_block_header_by_number(block_number)
        try:
            return int(self.chain.estimate_gas(spoofed, at_header))
        except VMError as error:
            _raise_for_vm_error(error, b"")
            raise  # unreachable: _raise_for_vm_error always raises
