"""A tiny hand-assembled contract for the devnet tests (no compiler needed).

`Probe`: `set(uint256)` stores a value in slot 0 and emits `Stored(uint256)`; `get()`
returns it; `fail()` reverts with Error("probe says no"); `failCustom()` reverts with the
custom error `Refused(uint256 code)` (code 7). Anything else reverts without data.
"""

from __future__ import annotations

from typing import Any

from eth_abi import abi
from eth_utils import function_signature_to_4byte_selector, keccak

REVERT_REASON = "probe says no"
REFUSED_CODE = 7
STORED_TOPIC = keccak(text="Stored(uint256)")
ERROR_STRING_DATA = bytes.fromhex("08c379a0") + abi.encode(["string"], [REVERT_REASON])
REFUSED_DATA = function_signature_to_4byte_selector("Refused(uint256)") + abi.encode(
    ["uint256"], [REFUSED_CODE]
)

ABI: list[dict[str, Any]] = [
    {"type": "function", "name": "set", "stateMutability": "nonpayable",
     "inputs": [{"name": "v", "type": "uint256"}], "outputs": []},
    {"type": "function", "name": "get", "stateMutability": "view",
     "inputs": [], "outputs": [{"name": "", "type": "uint256"}]},
    {"type": "function", "name": "fail", "stateMutability": "nonpayable",
     "inputs": [], "outputs": []},
    {"type": "function", "name": "failCustom", "stateMutability": "nonpayable",
     "inputs": [], "outputs": []},
    {"type": "event", "name": "Stored", "anonymous": False,
     "inputs": [{"name": "value", "type": "uint256", "indexed": False}]},
    {"type": "error", "name": "Refused", "inputs": [{"name": "code", "type": "uint256"}]},
]  # fmt: skip

_OPCODES = {
    "STOP": 0x00, "LT": 0x10, "EQ": 0x14, "SHR": 0x1C, "CALLDATALOAD": 0x35,
    "CALLDATASIZE": 0x36, "CODECOPY": 0x39, "MSTORE": 0x52, "SLOAD": 0x54, "SSTORE": 0x55,
    "JUMPI": 0x57, "JUMPDEST": 0x5B, "PUSH0": 0x5F, "DUP1": 0x80, "LOG1": 0xA1,
    "RETURN": 0xF3, "REVERT": 0xFD,
}  # fmt: skip


def _selector(signature: str) -> bytes:
    return function_signature_to_4byte_selector(signature)


def _assemble(items: list[Any], data: dict[str, bytes]) -> bytes:
    """Two passes: labels and data blobs are PUSH2 offsets, so sizes are known up front."""

    def size(item: Any) -> int:
        if isinstance(item, str):
            return 1
        kind, value = item
        if kind == "push":
            return 1 + len(value)
        if kind == "label":
            return 1
        return 3  # ref, dataref, datalen

    offsets: dict[str, int] = {}
    position = 0
    for item in items:
        if isinstance(item, tuple) and item[0] == "label":
            offsets[item[1]] = position
        position += size(item)
    for name, blob in data.items():
        offsets["data:" + name] = position
        position += len(blob)

    out = bytearray()
    for item in items:
        if isinstance(item, str):
            out.append(_OPCODES[item])
            continue
        kind, value = item
        if kind == "push":
            out.append(0x5F + len(value))
            out += value
        elif kind == "label":
            out.append(_OPCODES["JUMPDEST"])
        elif kind == "ref":
            out += bytes([0x61]) + offsets[value].to_bytes(2, "big")
        elif kind == "dataref":
            out += bytes([0x61]) + offsets["data:" + value].to_bytes(2, "big")
        elif kind == "datalen":
            out += bytes([0x61]) + len(data[value]).to_bytes(2, "big")
    for blob in data.values():
        out += blob
    return bytes(out)


def _dispatch(signature: str, label: str) -> list[Any]:
    return ["DUP1", ("push", _selector(signature)), "EQ", ("ref", label), "JUMPI"]


def _revert_with(name: str) -> list[Any]:
    return [("datalen", name), ("dataref", name), "PUSH0", "CODECOPY",
            ("datalen", name), "PUSH0", "REVERT"]  # fmt: skip


RUNTIME = _assemble(
    [
        ("push", b"\x04"), "CALLDATASIZE", "LT", ("ref", "fallback"), "JUMPI",
        "PUSH0", "CALLDATALOAD", ("push", b"\xe0"), "SHR",
        *_dispatch("set(uint256)", "set"),
        *_dispatch("get()", "get"),
        *_dispatch("fail()", "fail"),
        *_dispatch("failCustom()", "failCustom"),
        ("label", "fallback"), "PUSH0", "PUSH0", "REVERT",
        ("label", "set"), ("push", b"\x04"), "CALLDATALOAD", "DUP1", "PUSH0", "SSTORE",
        "PUSH0", "MSTORE", ("push", STORED_TOPIC), ("push", b"\x20"), "PUSH0", "LOG1", "STOP",
        ("label", "get"), "PUSH0", "SLOAD", "PUSH0", "MSTORE", ("push", b"\x20"), "PUSH0",
        "RETURN",
        ("label", "fail"), *_revert_with("error_string"),
        ("label", "failCustom"), *_revert_with("refused"),
    ],
    {"error_string": ERROR_STRING_DATA, "refused": REFUSED_DATA},
)  # fmt: skip

_INIT_LENGTH = 11
INIT_CODE = (
    bytes([0x61])
    + len(RUNTIME).to_bytes(2, "big")  # PUSH2 len
    + bytes([0x80])  # DUP1
    + bytes([0x61])
    + _INIT_LENGTH.to_bytes(2, "big")  # PUSH2 offset of runtime
    + bytes([0x5F, 0x39, 0x5F, 0xF3])  # PUSH0 CODECOPY PUSH0 RETURN
    + RUNTIME
)
