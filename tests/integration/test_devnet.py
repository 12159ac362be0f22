"""The devnet as a real separate process, driven by web3.py over HTTP.

Proves the promise the anchoring relies on: after a clean stop (SIGTERM) or a crash
(SIGKILL right after an answer), the restarted node serves the same blocks, hashes,
receipts, logs and storage, and new blocks extend the old chain. Also: loopback only,
JSON-RPC error objects, revert reasons and custom-error data, eth_getLogs.
"""

from __future__ import annotations

import json
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3
from web3.exceptions import ContractCustomError, ContractLogicError

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "hardhat-free-devnet"))

from cunzheng_devnet import DevnetError, DevnetProcess, start_devnet_process
from tests.unit.devnet.probe_contract import (
    ABI,
    INIT_CODE,
    REFUSED_DATA,
    REVERT_REASON,
    STORED_TOPIC,
)

pytestmark = pytest.mark.chain

# Hardhat/anvil account #1: public test key (see hardhat-free-devnet/README.md).
SIGNER_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"


def rpc(url: str, payload: Any) -> tuple[int, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        body = response.read()
        return response.status, json.loads(body) if body else None


def snapshot(w3: Web3, contract: Any, tx_hashes: list[bytes]) -> dict[str, Any]:
    """Everything a later verifier could look at, as plain comparable values."""
    head = w3.eth.block_number
    blocks = [dict(w3.eth.get_block(n, full_transactions=True)) for n in range(head + 1)]
    return {
        "head": head,
        "blocks": [json.loads(Web3.to_json(b)) for b in blocks],  # type: ignore[arg-type]
        "receipts": [
            json.loads(Web3.to_json(w3.eth.get_transaction_receipt(h)))  # type: ignore[arg-type]
            for h in tx_hashes
        ],
        "transactions": [
            json.loads(Web3.to_json(w3.eth.get_transaction(h)))  # type: ignore[arg-type]
            for h in tx_hashes
        ],
        "storage": w3.eth.get_storage_at(contract.address, 0).hex(),
        "code": w3.eth.get_code(contract.address).hex(),
        "value": contract.functions.get().call(),
        "logs": json.loads(
            Web3.to_json(w3.eth.get_logs({"fromBlock": 0, "address": contract.address}))
        ),  # type: ignore[arg-type]
        "balances": [w3.eth.get_balance(a) for a in w3.eth.accounts[:3]],
    }


def connect(node: DevnetProcess) -> Web3:
    w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 10}))
    assert w3.eth.chain_id == node.chain_id
    return w3


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevnetProcess]:
    with start_devnet_process(tmp_path_factory.mktemp("devnet")) as running:
        yield running


@pytest.fixture(scope="module")
def probe(node: DevnetProcess) -> Any:
    w3 = connect(node)
    tx = (
        w3.eth.contract(abi=ABI, bytecode=INIT_CODE)
        .constructor()
        .transact({"from": w3.eth.accounts[0]})
    )
    address = w3.eth.wait_for_transaction_receipt(tx).contractAddress
    return w3.eth.contract(address=address, abi=ABI)


def test_chain_survives_sigterm_and_sigkill(tmp_path: Path) -> None:
    data_dir = tmp_path / "chain"
    node = start_devnet_process(data_dir, chain_id=4242)
    try:
        w3 = connect(node)
        sender = w3.eth.accounts[0]
        deploy = (
            w3.eth.contract(abi=ABI, bytecode=INIT_CODE).constructor().transact({"from": sender})
        )
        contract = w3.eth.contract(
            address=w3.eth.wait_for_transaction_receipt(deploy).contractAddress, abi=ABI
        )
        hashes = [deploy, contract.functions.set(42).transact({"from": sender})]
        signer = w3.eth.account.from_key(SIGNER_KEY)
        signed = signer.sign_transaction(
            {"to": sender, "value": 12345, "gas": 21000, "maxFeePerGas": 3 * 10**9,
             "maxPriorityFeePerGas": 10**9, "nonce": 0, "chainId": 4242}
        )  # fmt: skip
        hashes.append(w3.eth.send_raw_transaction(signed.raw_transaction))
        before = snapshot(w3, contract, hashes)
        assert before["head"] == 3 and before["value"] == 42
    finally:
        assert node.stop() == 0  # SIGTERM: a clean exit

    node = start_devnet_process(data_dir, chain_id=4242)
    try:
        w3 = connect(node)
        contract = w3.eth.contract(address=contract.address, abi=ABI)
        assert snapshot(w3, contract, hashes) == before
        # New blocks extend the old chain.
        hashes.append(contract.functions.set(7).transact({"from": w3.eth.accounts[0]}))
        receipt = w3.eth.wait_for_transaction_receipt(hashes[-1])
        assert receipt.blockNumber == 4
        assert w3.eth.get_block(4).parentHash.hex() == before["blocks"][3]["hash"][2:]
        before = snapshot(w3, contract, hashes)
    finally:
        node.kill()  # SIGKILL right after the last answer: no chance to flush anything

    node = start_devnet_process(data_dir, chain_id=4242)
    try:
        w3 = connect(node)
        contract = w3.eth.contract(address=contract.address, abi=ABI)
        assert snapshot(w3, contract, hashes) == before
        assert before["value"] == 7
        w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        assert w3.eth.get_block("latest").parentHash.hex() == before["blocks"][4]["hash"][2:]
        assert w3.eth.get_block(5).timestamp > w3.eth.get_block(4).timestamp
    finally:
        node.stop()

    # The directory is one chain: another chain id is refused, not silently forked.
    with pytest.raises(DevnetError, match="chain id"):
        start_devnet_process(data_dir, chain_id=1337)


def test_data_dir_is_locked_while_a_node_runs(node: DevnetProcess) -> None:
    with pytest.raises(DevnetError, match="in use"):
        start_devnet_process(node.data_dir, log_path=node.data_dir.parent / "second.log")


def test_refuses_non_loopback_host(tmp_path: Path) -> None:
    # More addresses are covered by tests/unit/devnet/test_rpc.py::test_loopback_rule.
    with pytest.raises(DevnetError, match="refusing to listen"):
        start_devnet_process(tmp_path, host="0.0.0.0")
    assert not (tmp_path / "chain.sqlite3").exists()


def test_listens_on_loopback_only(node: DevnetProcess) -> None:
    assert node.url.startswith("http://127.0.0.1:")


def test_jsonrpc_errors(node: DevnetProcess) -> None:
    url = node.url
    _, answer = rpc(url, {"jsonrpc": "2.0", "id": 1, "method": "eth_nope", "params": []})
    assert answer["error"]["code"] == -32601 and answer["id"] == 1
    _, answer = rpc(url, {"jsonrpc": "2.0", "id": 2, "method": "eth_getBalance", "params": ["x"]})
    assert answer["error"]["code"] == -32602
    _, answer = rpc(url, {"id": 3, "method": "eth_chainId"})
    assert answer["error"]["code"] == -32600
    _, answer = rpc(url, [])
    assert answer["error"]["code"] == -32600
    request = urllib.request.Request(
        url, data=b"{not json", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert json.loads(response.read())["error"]["code"] == -32700
    status, answer = rpc(url, {"jsonrpc": "2.0", "method": "eth_chainId"})  # notification
    assert status == 204 and answer is None
    _, answers = rpc(
        url,
        [
            {"jsonrpc": "2.0", "id": "a", "method": "eth_chainId"},
            {"jsonrpc": "2.0", "id": "b", "method": "eth_nope"},
            {"jsonrpc": "2.0", "method": "eth_blockNumber"},
        ],
    )
    assert [a["id"] for a in answers] == ["a", "b"]
    assert answers[0]["result"] == hex(node.chain_id) and answers[1]["error"]["code"] == -32601
    _, answer = rpc(
        url, {"jsonrpc": "2.0", "id": 4, "method": "eth_sendRawTransaction", "params": ["0x01"]}
    )
    assert "error" in answer


def test_revert_reason_and_custom_error_data(node: DevnetProcess, probe: Any) -> None:
    w3 = connect(node)
    with pytest.raises(ContractLogicError, match=REVERT_REASON):
        probe.functions.fail().call()
    with pytest.raises(ContractLogicError, match=REVERT_REASON):
        probe.functions.fail().transact({"from": w3.eth.accounts[0]})  # fails at estimation
    with pytest.raises(ContractCustomError) as raised:
        probe.functions.failCustom().call()
    assert raised.value.data == "0x" + REFUSED_DATA.hex()
    _, answer = rpc(
        node.url,
        {"jsonrpc": "2.0", "id": 1, "method": "eth_call",
         "params": [{"to": probe.address, "data": "0xa9cc4718"}, "latest"]},
    )  # fmt: skip
    assert answer["error"]["code"] == 3
    assert answer["error"]["message"] == f"execution reverted: {REVERT_REASON}"


def test_reverted_transaction_is_mined_with_status_zero(node: DevnetProcess, probe: Any) -> None:
    w3 = connect(node)
    tx = probe.functions.fail().build_transaction({"from": w3.eth.accounts[0], "gas": 100_000})
    receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction(tx))
    assert receipt.status == 0


def test_get_logs(node: DevnetProcess, probe: Any) -> None:
    w3 = connect(node)
    sender = w3.eth.accounts[0]
    first = w3.eth.wait_for_transaction_receipt(probe.functions.set(1).transact({"from": sender}))
    w3.eth.wait_for_transaction_receipt(probe.functions.set(2).transact({"from": sender}))
    logs = w3.eth.get_logs({"fromBlock": first.blockNumber, "address": probe.address,
                            "topics": [STORED_TOPIC]})  # fmt: skip
    assert [int.from_bytes(entry["data"], "big") for entry in logs] == [1, 2]
    events = probe.events.Stored().get_logs(from_block=first.blockNumber)
    assert [e.args.value for e in events] == [1, 2]
    assert w3.eth.get_logs({"fromBlock": first.blockNumber, "topics": ["0x" + "00" * 32]}) == []


def test_block_tags_and_fee_fields(node: DevnetProcess, probe: Any) -> None:
    w3 = connect(node)
    latest = w3.eth.get_block("latest")
    for tag in ("finalized", "safe"):
        assert w3.eth.get_block(tag).hash == latest.hash
    assert w3.eth.get_block("earliest").number == 0
    assert w3.eth.get_block("pending").number == latest.number + 1
    history = w3.eth.fee_history(2, "latest", [50])
    assert history.oldestBlock == latest.number - 1 and len(history.baseFeePerGas) == 3
    assert w3.eth.gas_price > 0 and w3.eth.max_priority_fee > 0
    assert w3.eth.estimate_gas({"to": probe.address, "data": "0x6d4ce63c"}) > 21000


def test_block_time_mines_empty_blocks_that_persist(tmp_path: Path) -> None:
    import time

    with start_devnet_process(tmp_path, extra_args=("--block-time", "0.3")) as running:
        w3 = connect(running)
        start = w3.eth.block_number
        deadline = time.monotonic() + 20
        while w3.eth.block_number < start + 3:
            assert time.monotonic() < deadline, "no empty blocks were mined"
            time.sleep(0.1)
        mined = w3.eth.block_number
        head_hash = w3.eth.get_block(mined)["hash"]
    with start_devnet_process(tmp_path) as again:
        assert connect(again).eth.get_block(mined)["hash"] == head_hash
