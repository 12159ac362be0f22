"""JSON-RPC 2.0 dispatch: wire requests in, eth-tester calls, durable commit, wire answers out.

Requests go through web3.py's `EthereumTesterProvider` request pipeline (its formatting
middleware turns JSON-RPC params into eth-tester's form and eth-tester's results into
JSON-RPC field names), so the mapping is the one web3.py itself is tested against. This
module adds what a real node does and that pipeline does not: an allow-list of methods,
hex encoding of every quantity, proper error objects (revert data in `error.data`, code 3
as Geth does), gas estimation for `eth_sendTransaction` without gas, and the durability
rule: one request at a time, and no answer before the chain it describes is committed.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import traceback
from collections.abc import Callable, Mapping
from typing import Any

from eth_tester import EthereumTester
from eth_tester.exceptions import (
    BlockNotFound,
    FilterNotFound,
    SnapshotNotFound,
    TransactionFailed,
    TransactionNotFound,
)
from eth_tester.exceptions import (
    ValidationError as TesterValidationError,
)
from eth_utils import ValidationError as UtilsValidationError
from web3 import Web3
from web3.providers.eth_tester import EthereumTesterProvider

from . import __version__
from .chain import DevnetBackend, chain_head
from .errors import ExecutionHalted, ExecutionReverted
from .store import ChainStore

MAX_BATCH_SIZE = 100
ZERO_ADDRESS = "0x" + "00" * 20
LOGS_BLOOM_BYTES = 256

# JSON-RPC 2.0 and Geth's codes.
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
SERVER_ERROR = -32000
EXECUTION_REVERTED = 3

SUPPORTED_METHODS = frozenset(
    {
        "web3_clientVersion",
        "web3_sha3",
        "net_version",
        "net_listening",
        "net_peerCount",
        "eth_chainId",
        "eth_syncing",
        "eth_accounts",
        "eth_blockNumber",
        "eth_gasPrice",
        "eth_maxPriorityFeePerGas",
        "eth_feeHistory",
        "eth_getBalance",
        "eth_getCode",
        "eth_getStorageAt",
        "eth_getTransactionCount",
        "eth_getBlockByNumber",
        "eth_getBlockByHash",
        "eth_getBlockTransactionCountByNumber",
        "eth_getBlockTransactionCountByHash",
        "eth_getTransactionByHash",
        "eth_getTransactionByBlockHashAndIndex",
        "eth_getTransactionByBlockNumberAndIndex",
        "eth_getTransactionReceipt",
        "eth_call",
        "eth_estimateGas",
        "eth_sendTransaction",
        "eth_sendRawTransaction",
        "eth_getLogs",
        "eth_newFilter",
        "eth_newBlockFilter",
        "eth_getFilterChanges",
        "eth_getFilterLogs",
        "eth_uninstallFilter",
        "evm_mine",
        "evm_snapshot",
        "evm_revert",
    }
)

# Shapes of positional params, checked before anything reaches eth-tester (whose
# formatters fail on malformed input with errors that look like internal bugs).
# A trailing "?" marks an optional param.
PARAM_SHAPES: dict[str, tuple[str, ...]] = {
    "web3_sha3": ("data",),
    "eth_getBalance": ("address", "block?"),
    "eth_getCode": ("address", "block?"),
    "eth_getTransactionCount": ("address", "block?"),
    "eth_getStorageAt": ("address", "quantity", "block?"),
    "eth_getBlockByNumber": ("block", "bool?"),
    "eth_getBlockByHash": ("hash", "bool?"),
    "eth_getBlockTransactionCountByNumber": ("block",),
    "eth_getBlockTransactionCountByHash": ("hash",),
    "eth_getTransactionByHash": ("hash",),
    "eth_getTransactionByBlockHashAndIndex": ("hash", "quantity"),
    "eth_getTransactionByBlockNumberAndIndex": ("block", "quantity"),
    "eth_getTransactionReceipt": ("hash",),
    "eth_call": ("object", "block?"),
    "eth_estimateGas": ("object", "block?"),
    "eth_sendTransaction": ("object",),
    "eth_sendRawTransaction": ("data",),
    "eth_getLogs": ("object",),
    "eth_newFilter": ("object",),
    "eth_getFilterChanges": ("quantity",),
    "eth_getFilterLogs": ("quantity",),
    "eth_uninstallFilter": ("quantity",),
    "eth_feeHistory": ("quantity", "block", "list?"),
    "evm_revert": ("quantity",),
}
BLOCK_TAGS = frozenset({"latest", "earliest", "pending", "safe", "finalized"})
_SHAPE_PATTERNS = {
    "address": re.compile(r"0x[0-9a-fA-F]{40}"),
    "hash": re.compile(r"0x[0-9a-fA-F]{64}"),
    "quantity": re.compile(r"0x[0-9a-fA-F]{1,64}"),
    "data": re.compile(r"0x(?:[0-9a-fA-F]{2})*"),
}

# eth-tester spellings that differ from the wire, and fields a post-Byzantium node omits.
_RENAMED_FIELDS = {"y_parity": "yParity"}
_DROPPED_FIELDS = frozenset({"state_root"})


class RpcError(Exception):
    """A JSON-RPC error object to send back (internal to this module and the server)."""

    def __init__(self, code: int, message: str, data: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def as_object(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


def to_wire(value: Any, field: str | None = None) -> Any:
    """eth-tester/web3 values to JSON-RPC: ints as hex quantities, bytes as hex data."""
    if field == "to" and value == "":
        return None  # eth-tester's spelling of "contract creation"
    if value is None or isinstance(value, (bool, str, float)):
        return value
    if isinstance(value, int):
        if field == "logsBloom":
            return "0x" + value.to_bytes(LOGS_BLOOM_BYTES, "big").hex()
        return hex(value)
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, Mapping):
        return {
            _RENAMED_FIELDS.get(k, k): to_wire(v, k)
            for k, v in value.items()
            if k not in _DROPPED_FIELDS
        }
    if isinstance(value, (list, tuple)):
        return [to_wire(item, field) for item in value]
    raise TypeError(f"cannot put a {type(value).__name__} on the wire")


class RpcDispatcher:
    """Answers JSON-RPC requests against one devnet chain, one request at a time."""

    def __init__(self, backend: DevnetBackend, store: ChainStore, chain_id: int) -> None:
        self._backend = backend
        self._store = store
        self._chain_id = chain_id
        self._tester = EthereumTester(backend, auto_mine_transactions=True)
        provider = EthereumTesterProvider(self._tester)
        w3 = Web3(provider)
        self._request: Callable[[str, list[Any]], Any] = provider.request_func(
            w3, w3.middleware_onion
        )
        self._lock = threading.Lock()
        self._local: dict[str, Callable[[list[Any]], Any]] = {
            "eth_chainId": lambda params: hex(self._chain_id),
            "net_version": lambda params: str(self._chain_id),
            "web3_clientVersion": lambda params: f"CunzhengDevnet/v{__version__}/py-evm",
            "evm_mine": self._evm_mine,
        }

    # --- wire level ---

    def handle_body(self, body: bytes) -> bytes | None:
        """One HTTP body in, the body to answer with out (None: only notifications)."""
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            return _dump(_error_response(None, RpcError(PARSE_ERROR, f"parse error: {exc}")))
        if isinstance(payload, list):
            if not payload:
                return _dump(_error_response(None, RpcError(INVALID_REQUEST, "empty batch")))
            if len(payload) > MAX_BATCH_SIZE:
                return _dump(
                    _error_response(
                        None,
                        RpcError(
                            INVALID_REQUEST,
                            f"batch too large: at most {MAX_BATCH_SIZE}, found {len(payload)}",
                        ),
                    )
                )
            answers = [a for a in (self.handle_request(r) for r in payload) if a is not None]
            return _dump(answers) if answers else None
        answer = self.handle_request(payload)
        return None if answer is None else _dump(answer)

    def handle_request(self, request: Any) -> dict[str, Any] | None:
        """One request object in, its response object out (None for a notification)."""
        if not isinstance(request, dict):
            return _error_response(None, RpcError(INVALID_REQUEST, "request must be an object"))
        request_id = request.get("id")
        is_notification = "id" not in request
        try:
            if request.get("jsonrpc") != "2.0" or not isinstance(request.get("method"), str):
                raise RpcError(INVALID_REQUEST, 'need "jsonrpc": "2.0" and a string "method"')
            params = request.get("params", [])
            if not isinstance(params, list):
                raise RpcError(INVALID_PARAMS, "params must be an array")
            result = self.call(request["method"], params)
        except RpcError as error:
            return None if is_notification else _error_response(request_id, error)
        if is_notification:
            return None
        return {"jsonrpc": "2.0", "id": request_id, "result": result}

    # --- method level ---

    def call(self, method: str, params: list[Any]) -> Any:
        """Run `method`, commit what it changed, and return its wire result (or RpcError)."""
        if method not in SUPPORTED_METHODS:
            raise RpcError(METHOD_NOT_FOUND, f"the method {method} does not exist/is not available")
        with self._lock:
            try:
                result = self._call_unlocked(method, params)
            finally:
                self._commit()
        return result

    def _commit(self) -> None:
        try:
            self._store.commit(chain_head(self._backend.chain))
        except Exception as exc:
            traceback.print_exc(file=sys.stderr)
            raise RpcError(INTERNAL_ERROR, f"could not persist the chain: {exc}") from exc

    def _call_unlocked(self, method: str, params: list[Any]) -> Any:
        try:
            if method in self._local:
                return self._local[method](params)
            check_param_shapes(method, params)
            params = self._with_defaults(method, params)
            response = self._request(method, params)
        except RpcError:
            raise
        except ExecutionReverted as exc:
            raise RpcError(EXECUTION_REVERTED, str(exc), "0x" + exc.data.hex()) from exc
        except ExecutionHalted as exc:
            raise RpcError(SERVER_ERROR, str(exc)) from exc
        except TransactionFailed as exc:
            raise RpcError(EXECUTION_REVERTED, str(exc)) from exc
        except UtilsValidationError as exc:
            raise RpcError(SERVER_ERROR, f"transaction rejected: {exc}") from exc
        except (BlockNotFound, TransactionNotFound, FilterNotFound, SnapshotNotFound) as exc:
            raise RpcError(SERVER_ERROR, str(exc) or type(exc).__name__) from exc
        except (TesterValidationError, TypeError, ValueError, KeyError, IndexError) as exc:
            raise RpcError(INVALID_PARAMS, f"invalid params for {method}: {exc}") from exc
        except NotImplementedError as exc:
            raise RpcError(METHOD_NOT_FOUND, f"{method}: {exc}") from exc
        except Exception as exc:
            traceback.print_exc(file=sys.stderr)
            raise RpcError(INTERNAL_ERROR, f"internal error in {method}: {exc!r}") from exc
        if "error" in response:
            error = response["error"]
            raise RpcError(int(error.get("code", SERVER_ERROR)), str(error.get("message")))
        return to_wire(response.get("result"))

    def _with_defaults(self, method: str, params: list[Any]) -> list[Any]:
        if method not in ("eth_call", "eth_estimateGas", "eth_sendTransaction"):
            return params
        if not params or not isinstance(params[0], dict):
            raise RpcError(INVALID_PARAMS, f"{method} needs a transaction object")
        transaction = dict(params[0])
        if "input" in transaction and "data" not in transaction:
            transaction["data"] = transaction.pop("input")
        if method == "eth_sendTransaction":
            if "from" not in transaction:
                raise RpcError(INVALID_PARAMS, 'eth_sendTransaction needs "from"')
            if "gas" not in transaction:
                # As Geth does: estimate, which also reports a revert before sending.
                estimate = self._request("eth_estimateGas", [transaction])
                if "error" in estimate:
                    raise RpcError(SERVER_ERROR, str(estimate["error"].get("message")))
                transaction["gas"] = hex(int(estimate["result"]))
        else:
            transaction.setdefault("from", ZERO_ADDRESS)
        return [transaction, *params[1:]]

    def _evm_mine(self, params: list[Any]) -> str:
        self._tester.mine_blocks(1)
        return "0x0"


def check_param_shapes(method: str, params: list[Any]) -> None:
    """Raise RpcError(INVALID_PARAMS) unless `params` fit `PARAM_SHAPES[method]`."""
    shapes = PARAM_SHAPES.get(method)
    if shapes is None:
        return
    required = sum(1 for shape in shapes if not shape.endswith("?"))
    if not required <= len(params) <= len(shapes):
        raise RpcError(
            INVALID_PARAMS,
            f"{method}: expected {required}..{len(shapes)} params, found {len(params)}",
        )
    for position, (shape, value) in enumerate(zip(shapes, params, strict=False)):
        kind = shape.rstrip("?")
        if kind == "block":
            # EIP-1898 block objects are not supported by eth-tester: refused here.
            ok = (isinstance(value, str) and value in BLOCK_TAGS) or _fits("quantity", value)
        elif kind == "bool":
            ok = isinstance(value, bool)
        elif kind == "object":
            ok = isinstance(value, dict)
        elif kind == "list":
            ok = isinstance(value, list)
        else:
            ok = _fits(kind, value)
        if not ok:
            raise RpcError(
                INVALID_PARAMS, f"{method}: param {position}: expected {kind}, found {value!r:.80}"
            )


def _fits(kind: str, value: Any) -> bool:
    return isinstance(value, str) and _SHAPE_PATTERNS[kind].fullmatch(value) is not None


def _error_response(request_id: Any, error: RpcError) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": error.as_object()}


def _dump(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()
