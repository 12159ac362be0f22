"""The JSON-RPC edge: wire encoding, param shapes, loopback rule (no server process)."""

from __future__ import annotations

import pytest

from cunzheng_devnet.errors import DevnetConfigError
from cunzheng_devnet.rpc import INVALID_PARAMS, RpcError, check_param_shapes, to_wire
from cunzheng_devnet.server import check_settings, is_loopback


def test_to_wire_encodes_quantities_data_and_fixes_eth_tester_spellings() -> None:
    wire = to_wire({"number": 16, "hash": b"\x01\x02", "logsBloom": 0, "to": "",
                    "y_parity": 1, "state_root": b"\x01", "removed": False,
                    "gasUsedRatio": [0.5], "logs": [{"logIndex": 0}]})  # fmt: skip
    assert wire == {"number": "0x10", "hash": "0x0102", "logsBloom": "0x" + "00" * 256,
                    "to": None, "yParity": "0x1", "removed": False, "gasUsedRatio": [0.5],
                    "logs": [{"logIndex": "0x0"}]}  # fmt: skip


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("eth_getBalance", ["x"]),
        ("eth_getBalance", []),
        ("eth_getBalance", ["0x" + "11" * 20, "latest", "extra"]),
        ("eth_getBlockByNumber", ["newest", False]),
        ("eth_getBlockByHash", ["0x12", False]),
        ("eth_sendRawTransaction", ["0x1"]),
        ("eth_call", ["0x00"]),
        ("eth_call", [{}, {"blockNumber": "0x1"}]),
    ],
)
def test_malformed_params_are_invalid_params(method: str, params: list[object]) -> None:
    with pytest.raises(RpcError) as raised:
        check_param_shapes(method, params)
    assert raised.value.code == INVALID_PARAMS


def test_wellformed_params_pass() -> None:
    check_param_shapes("eth_getBalance", ["0x" + "ab" * 20])
    check_param_shapes("eth_getBlockByNumber", ["0x0", True])
    check_param_shapes("eth_getStorageAt", ["0x" + "ab" * 20, "0x0", "finalized"])
    check_param_shapes("eth_call", [{"to": "0x" + "ab" * 20}, "0x1"])


def test_loopback_rule() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("8.8.8.8")
    check_settings("127.0.0.1", 8545, 1337, allow_non_loopback=False)
    with pytest.raises(DevnetConfigError, match="refusing"):
        check_settings("0.0.0.0", 8545, 1337, allow_non_loopback=False)
    check_settings("0.0.0.0", 8545, 1337, allow_non_loopback=True)
    with pytest.raises(DevnetConfigError, match="chain id"):
        check_settings("127.0.0.1", 8545, 0, allow_non_loopback=False)
