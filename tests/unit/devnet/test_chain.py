"""Creating and reopening the chain in a store, in-process (no server)."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_tester import EthereumTester

from cunzheng_devnet.accounts import dev_accounts
from cunzheng_devnet.chain import DevnetBackend, decode_revert_reason, open_chain
from cunzheng_devnet.errors import ChainStoreError, ChainStoreMismatch
from cunzheng_devnet.store import ChainStore

ACCOUNTS = dev_accounts()


def _grow(data_dir: Path, transfers: int) -> list[str]:
    store = ChainStore.open(data_dir)
    try:
        chain = open_chain(store, 1337, ACCOUNTS)
        tester = EthereumTester(DevnetBackend(chain, ACCOUNTS))
        for i in range(transfers):
            tester.send_transaction(
                {"from": ACCOUNTS[0].address, "to": ACCOUNTS[1].address, "value": i + 1,
                 "gas": 21000}
            )  # fmt: skip
        from cunzheng_devnet.chain import chain_head

        store.commit(chain_head(tester.backend.chain))
        return [tester.get_block_by_number(n)["hash"] for n in range(transfers + 1)]
    finally:
        store.close()


def test_dev_accounts_are_the_well_known_ones() -> None:
    assert ACCOUNTS[0].address == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    assert len(ACCOUNTS) == 10


def test_reopened_chain_has_the_same_blocks_and_extends_them(tmp_path: Path) -> None:
    first = _grow(tmp_path, 3)
    second = _grow(tmp_path, 1)  # reopens, then mines one more block
    assert len(second) == 2 and second == first[:2]
    store = ChainStore.open(tmp_path)
    try:
        chain = open_chain(store, 1337, ACCOUNTS)
        head = chain.get_canonical_head()
        assert head.block_number == 4
        assert chain.get_canonical_block_header_by_number(3).hash.hex() == first[3][2:]
        assert head.parent_hash.hex() == first[3][2:]
    finally:
        store.close()


def test_other_chain_id_is_refused(tmp_path: Path) -> None:
    _grow(tmp_path, 0)
    store = ChainStore.open(tmp_path)
    try:
        with pytest.raises(ChainStoreMismatch, match="chain id"):
            open_chain(store, 1, ACCOUNTS)
        with pytest.raises(ChainStoreMismatch, match="dev accounts"):
            open_chain(store, 1337, ACCOUNTS[:3])
    finally:
        store.close()


def test_missing_header_is_detected(tmp_path: Path) -> None:
    hashes = _grow(tmp_path, 2)
    store = ChainStore.open(tmp_path)
    chain = open_chain(store, 1337, ACCOUNTS)
    header_key = next(
        k for k in store.stored_keys()
        if k.endswith(bytes.fromhex(hashes[1][2:])) and store.kv[k][:1] >= b"\xc0"
    )  # fmt: skip
    del chain
    store._conn.execute("DELETE FROM kv WHERE key = ?", (header_key,))
    store.close()
    store = ChainStore.open(tmp_path)
    try:
        with pytest.raises(ChainStoreError):
            open_chain(store, 1337, ACCOUNTS)
    finally:
        store.close()


def test_head_that_disagrees_with_the_data_is_detected(tmp_path: Path) -> None:
    _grow(tmp_path, 2)
    store = ChainStore.open(tmp_path)
    store._conn.execute(
        "UPDATE meta SET value = json_set(value, '$.number', 1) WHERE name = 'head'"
    )
    store.close()
    store = ChainStore.open(tmp_path)
    try:
        with pytest.raises(ChainStoreMismatch, match="canonical head"):
            open_chain(store, 1337, ACCOUNTS)
    finally:
        store.close()


def test_decode_revert_reason() -> None:
    from eth_abi import abi

    assert decode_revert_reason(bytes.fromhex("08c379a0") + abi.encode(["string"], ["no"])) == "no"
    assert (
        decode_revert_reason(bytes.fromhex("4e487b71") + (17).to_bytes(32, "big")) == "panic: 0x11"
    )
    assert decode_revert_reason(bytes.fromhex("deadbeef")) == ""
    assert decode_revert_reason(b"") == ""
