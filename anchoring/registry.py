"""The chain adapter for `contracts/AnchorRegistry.sol`: artifact, deployment, client.

Loads the committed compiler artifact, deploys it and keeps a deployment record (chain id,
address, transaction, block, keccak of the runtime code), checks that the code at an address
is byte for byte the artifact's `deployedBytecode` (the contract uses no immutables and no
libraries, so nothing is patched in at deployment), and wraps the contract's calls, views and
events in a thin client. Contract reverts come back as `RegistryRevert` carrying the custom
error's name and arguments, decoded with the artifact's ABI.
"""

from __future__ import annotations

import ast
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import ContractCustomError, ContractLogicError

from anchoring.errors import (
    ArtifactError,
    DeployedCodeMismatch,
    DeploymentRecordError,
    RegistryError,
    RegistryRevert,
    TransactionFailed,
)
from anchoring.keyfiles import write_atomic
from cunzheng_verify.artifact import ARTIFACT_PATH

# the one committed artifact ships inside the standalone verifier (`cunzheng_verify`), which
# checks deployed code against it too
DEFAULT_ARTIFACT_PATH = ARTIFACT_PATH
DEPLOYMENT_SCHEMA = "cunzheng.deployment/v1"
HASH_SIZE = 32
MAX_PROOF_LENGTH = 65  # AnchorRegistry.MAX_PROOF_LENGTH
MAX_TREE_SIZE = 2**64 - 1  # sizes are uint64 on chain

ADMIN_ROLE = bytes(32)
ANCHORER_ROLE = keccak(text="ANCHORER_ROLE")
WITNESS_ROLE = keccak(text="WITNESS_ROLE")


# --- artifact -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ContractArtifact:
    """What `contracts/compile.py` committed: ABI, creation and runtime code, provenance."""

    abi: tuple[dict[str, Any], ...]
    bytecode: bytes
    deployed_bytecode: bytes
    compiler_version: str
    settings_json: str
    source_digest: str

    @property
    def code_hash(self) -> str:
        return "0x" + keccak(self.deployed_bytecode).hex()


def load_artifact(path: str | os.PathLike[str] | None = None) -> ContractArtifact:
    """Read the artifact; `path` defaults to the committed one (`DEFAULT_ARTIFACT_PATH`)."""
    where = Path(path) if path is not None else DEFAULT_ARTIFACT_PATH
    try:
        data = json.loads(where.read_text(encoding="utf-8"))
        return ContractArtifact(
            abi=tuple(data["abi"]),
            bytecode=bytes.fromhex(data["bytecode"].removeprefix("0x")),
            deployed_bytecode=bytes.fromhex(data["deployedBytecode"].removeprefix("0x")),
            compiler_version=data["compiler"]["version"],
            settings_json=json.dumps(data["settings"], sort_keys=True),
            source_digest=data["sourceDigest"],
        )
    except FileNotFoundError as exc:
        raise ArtifactError(
            f"no contract artifact at {where}: run `python contracts/compile.py`"
        ) from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise ArtifactError(f"malformed contract artifact {where}: {exc!r}") from exc


# --- revert decoding ------------------------------------------------------------------------


def _error_table(abi: Sequence[dict[str, Any]]) -> dict[bytes, tuple[str, list[str], list[str]]]:
    table = {}
    for entry in abi:
        if entry.get("type") != "error":
            continue
        types = [i["type"] for i in entry["inputs"]]
        selector = keccak(text=f"{entry['name']}({','.join(types)})")[:4]
        table[selector] = (entry["name"], [i["name"] for i in entry["inputs"]], types)
    return table


def decode_revert(abi: Sequence[dict[str, Any]], data: str | bytes) -> RegistryRevert:
    """Turn revert data into a `RegistryRevert` naming the contract's custom error."""
    raw = bytes.fromhex(data.removeprefix("0x")) if isinstance(data, str) else bytes(data)
    hex_data = "0x" + raw.hex()
    entry = _error_table(abi).get(raw[:4])
    if entry is None:
        return RegistryRevert("UnknownRevert", {"data": hex_data}, hex_data)
    name, names, types = entry
    try:
        values = abi_decode(types, raw[4:])
    except DecodingError:  # malformed revert data: report it raw rather than hide it
        return RegistryRevert(name, {"data": hex_data}, hex_data)
    return RegistryRevert(name, dict(zip(names, values, strict=True)), hex_data)


# --- deployment record ----------------------------------------------------------------------


@dataclass(frozen=True)
class DeploymentRecord:
    """Where and from which artifact the registry was deployed. Hashes are 0x-hex."""

    chain_id: int
    address: str
    tx_hash: str
    block_number: int
    block_hash: str
    code_hash: str
    deployed_at: str  # the deploying block's time, UTC RFC 3339
    source_digest: str
    compiler_version: str

    def to_json(self) -> str:
        return json.dumps({"schema": DEPLOYMENT_SCHEMA, **asdict(self)}, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> DeploymentRecord:
        try:
            data = json.loads(text)
            if data.pop("schema", None) != DEPLOYMENT_SCHEMA:
                raise DeploymentRecordError(f"deployment record is not {DEPLOYMENT_SCHEMA}")
            record = cls(**data)
            if not isinstance(record.chain_id, int) or not isinstance(record.block_number, int):
                raise DeploymentRecordError("chain_id and block_number must be integers")
            return cls(**{**data, "address": to_checksum_address(record.address)})
        except (ValueError, TypeError) as exc:
            raise DeploymentRecordError(f"malformed deployment record: {exc}") from exc


def save_deployment(record: DeploymentRecord, path: str | os.PathLike[str]) -> None:
    """Write the record atomically (temporary file, fsync, rename)."""
    write_atomic(Path(path), record.to_json().encode("utf-8"))


def load_deployment(path: str | os.PathLike[str]) -> DeploymentRecord:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise DeploymentRecordError(f"no deployment record at {path}") from exc
    return DeploymentRecord.from_json(text)


def _wait_success(w3: Web3, tx_hash: bytes, what: str) -> Any:
    receipt = w3.eth.wait_for_transaction_receipt(HexBytes(tx_hash))
    if receipt["status"] != 1:
        raise TransactionFailed(f"{what} transaction 0x{bytes(tx_hash).hex()} failed")
    return receipt


def deploy_registry(
    w3: Web3,
    deployer: str,
    anchorers: Sequence[str],
    witnesses: Sequence[str],
    *,
    admin: str | None = None,
    artifact: ContractArtifact | None = None,
) -> DeploymentRecord:
    """Deploy the registry from `deployer` (admin too unless `admin` is given), wait for
    the receipt, check the deployed code against the artifact and return the record."""
    art = artifact or load_artifact()
    factory = w3.eth.contract(abi=list(art.abi), bytecode=art.bytecode)
    tx_hash = factory.constructor(admin or deployer, list(anchorers), list(witnesses)).transact(
        {"from": deployer}
    )
    receipt = _wait_success(w3, tx_hash, "deployment")
    block = w3.eth.get_block(receipt["blockNumber"])
    record = DeploymentRecord(
        chain_id=w3.eth.chain_id,
        address=to_checksum_address(receipt["contractAddress"]),
        tx_hash="0x" + bytes(tx_hash).hex(),
        block_number=receipt["blockNumber"],
        block_hash="0x" + bytes(receipt["blockHash"]).hex(),
        code_hash=art.code_hash,
        deployed_at=datetime.fromtimestamp(block["timestamp"], UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        source_digest=art.source_digest,
        compiler_version=art.compiler_version,
    )
    check_deployed_code(w3, record, art)
    return record


def check_deployed_code(
    w3: Web3, record: DeploymentRecord, artifact: ContractArtifact | None = None
) -> None:
    """Raise unless the node is on the record's chain and the code at the record's address
    is exactly the artifact's runtime code (and the record names that code)."""
    art = artifact or load_artifact()
    chain_id = w3.eth.chain_id
    if chain_id != record.chain_id:
        raise DeployedCodeMismatch(
            f"node is on chain {chain_id}, the deployment record on chain {record.chain_id}",
            expected=str(record.chain_id),
            found=str(chain_id),
        )
    if record.code_hash != art.code_hash:
        raise DeployedCodeMismatch(
            f"deployment record names code {record.code_hash}, the artifact is {art.code_hash}",
            expected=art.code_hash,
            found=record.code_hash,
        )
    code = bytes(w3.eth.get_code(to_checksum_address(record.address)))
    found = "0x" + keccak(code).hex()
    if code != art.deployed_bytecode:
        what = "no code" if not code else f"code with keccak {found} ({len(code)} bytes)"
        raise DeployedCodeMismatch(
            f"{record.address} on chain {chain_id} holds {what}; the artifact's runtime "
            f"code has keccak {art.code_hash} ({len(art.deployed_bytecode)} bytes)",
            expected=art.code_hash,
            found=found,
        )


# --- client ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnchoredEvent:
    tree_size: int
    root: bytes
    previous_size: int
    block_number: int
    block_hash: bytes
    tx_hash: bytes
    log_index: int


@dataclass(frozen=True)
class CosignedEvent:
    tree_size: int
    witness: str
    block_number: int
    block_hash: bytes
    tx_hash: bytes
    log_index: int


def _check_size(size: int) -> None:
    if not isinstance(size, int) or not 0 < size <= MAX_TREE_SIZE:
        raise RegistryError(f"tree size must be an integer in [1, 2**64 - 1], got {size!r}")


def _check_hash(value: bytes, what: str) -> bytes:
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        raise RegistryError(f"{what} must be {HASH_SIZE} bytes, got {value!r:.80}")
    return bytes(value)


class AnchorRegistryClient:
    """Calls, views and events of one deployed registry. Senders are accounts the node (or
    a signing middleware on `w3`) can send from. Write calls wait for the receipt and
    return the transaction hash; a refusal raises `RegistryRevert` before anything is sent
    (the node's gas estimation runs the call)."""

    def __init__(self, w3: Web3, address: str, artifact: ContractArtifact | None = None) -> None:
        self._w3 = w3
        self._artifact = artifact or load_artifact()
        self.address = to_checksum_address(address)
        self._contract = w3.eth.contract(address=self.address, abi=list(self._artifact.abi))

    def call(self, fn: Any, tx: dict[str, Any] | None = None) -> Any:
        """Run a contract function as `eth_call`; a refusal raises `RegistryRevert` with the
        contract's custom error decoded (also how writes are simulated before sending)."""
        try:
            return fn.call(tx or {})
        except ContractCustomError as exc:
            raise decode_revert(self._artifact.abi, _revert_data(exc)) from exc
        except Exception as exc:
            payload = _eth_tester_revert(exc)
            if payload is None:
                raise
            raise decode_revert(self._artifact.abi, payload) from exc

    def _transact(self, fn: Any, sender: str, what: str) -> bytes:
        # Simulate first: every node reports a custom error through eth_call the same way,
        # while gas estimation failures are worded differently per node.
        self.call(fn, {"from": sender})
        try:
            tx_hash = fn.transact({"from": sender})
        except ContractCustomError as exc:
            raise decode_revert(self._artifact.abi, _revert_data(exc)) from exc
        except ContractLogicError as exc:
            raise RegistryRevert("Revert", {"message": str(exc)}, "") from exc
        _wait_success(self._w3, tx_hash, what)
        return bytes(tx_hash)

    def anchor(self, size: int, root: bytes, proof: Sequence[bytes], sender: str) -> bytes:
        _check_size(size)
        _check_hash(root, "root")
        if len(proof) > MAX_PROOF_LENGTH:
            raise RegistryError(f"proof has {len(proof)} hashes, at most {MAX_PROOF_LENGTH}")
        hashes = [_check_hash(h, "proof hash") for h in proof]
        return self._transact(self._contract.functions.anchor(size, root, hashes), sender, "anchor")

    def cosign(self, size: int, root: bytes, sender: str) -> bytes:
        _check_size(size)
        _check_hash(root, "root")
        return self._transact(self._contract.functions.cosign(size, root), sender, "cosign")

    def latest(self) -> tuple[int, bytes]:
        size, root = self.call(self._contract.functions.latest())
        return size, bytes(root)

    def root_at(self, size: int) -> bytes:
        return bytes(self.call(self._contract.functions.rootAt(size)))

    def anchored_at(self, size: int) -> tuple[int, int]:
        block_number, timestamp = self.call(self._contract.functions.anchoredAt(size))
        return block_number, timestamp

    def is_anchored(self, size: int) -> bool:
        return bool(self.call(self._contract.functions.isAnchored(size)))

    def cosigners(self, size: int) -> list[str]:
        return [
            to_checksum_address(a) for a in self.call(self._contract.functions.cosigners(size))
        ]

    def has_role(self, role: bytes, account: str) -> bool:
        return bool(self.call(self._contract.functions.hasRole(role, account)))

    def anchored_events(
        self, from_block: int, to_block: int | str = "latest", *, tree_size: int | None = None
    ) -> list[AnchoredEvent]:
        """`Anchored` events in the blocks; with `tree_size`, that size's only (an indexed
        topic: one filtered query, not a scan of the chain)."""
        filters = {} if tree_size is None else {"argument_filters": {"treeSize": tree_size}}
        logs = self._contract.events.Anchored.get_logs(from_block=from_block, to_block=to_block,
                                                       **filters)
        return [
            AnchoredEvent(
                tree_size=log["args"]["treeSize"],
                root=bytes(log["args"]["root"]),
                previous_size=log["args"]["previousSize"],
                block_number=log["blockNumber"],
                block_hash=bytes(log["blockHash"]),
                tx_hash=bytes(log["transactionHash"]),
                log_index=log["logIndex"],
            )
            for log in logs
        ]

    def cosigned_events(
        self, from_block: int, to_block: int | str = "latest"
    ) -> list[CosignedEvent]:
        logs = self._contract.events.Cosigned.get_logs(from_block=from_block, to_block=to_block)
        return [
            CosignedEvent(
                tree_size=log["args"]["treeSize"],
                witness=to_checksum_address(log["args"]["witness"]),
                block_number=log["blockNumber"],
                block_hash=bytes(log["blockHash"]),
                tx_hash=bytes(log["transactionHash"]),
                log_index=log["logIndex"],
            )
            for log in logs
        ]


def _eth_tester_revert(exc: Exception) -> bytes | None:
    """Revert data from eth-tester's in-process provider, which reports a custom error as
    `TransactionFailed("execution reverted: b'...'")` instead of JSON-RPC error data."""
    if type(exc).__module__ != "eth_tester.exceptions":
        return None
    text = str(exc.args[0]) if exc.args else ""
    prefix = "execution reverted: "
    if not text.startswith(prefix + "b"):
        return None
    try:
        value = ast.literal_eval(text[len(prefix) :])
    except (ValueError, SyntaxError):
        return None
    return value if isinstance(value, bytes) else None


def _revert_data(exc: ContractCustomError) -> str:
    data = exc.data
    if isinstance(data, dict):  # some nodes nest it
        data = data.get("data", "")
    return str(data or exc.message or "")
