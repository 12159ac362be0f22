"""The persistence layer: journaling key/value store, commits, reopening, the lock."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from cunzheng_devnet.errors import ChainStoreError, ChainStoreMismatch
from cunzheng_devnet.store import DB_FILE_NAME, ChainHead, ChainIdentity, ChainStore

HEAD = ChainHead(number=3, hash=b"\x33" * 32)
IDENTITY = ChainIdentity(chain_id=1337, genesis_hash=b"\x01" * 32, accounts=("0xabc",))


def test_fresh_store_has_no_chain(tmp_path: Path) -> None:
    store = ChainStore.open(tmp_path)
    try:
        assert store.identity() is None and store.head() is None
    finally:
        store.close()


def test_writes_are_visible_before_commit_and_durable_after(tmp_path: Path) -> None:
    store = ChainStore.open(tmp_path)
    store.kv[b"k1"] = b"v1"
    store.kv[b"k2"] = b"v2"
    assert store.kv[b"k1"] == b"v1" and store.kv.uncommitted == 2
    assert store.commit(HEAD, IDENTITY) == 2
    assert store.kv.uncommitted == 0
    store.kv[b"lost"] = b"never committed"
    store.close()

    store = ChainStore.open(tmp_path)
    try:
        assert store.kv[b"k1"] == b"v1" and store.kv[b"k2"] == b"v2"
        assert b"lost" not in store.kv
        assert store.head() == HEAD and store.identity() == IDENTITY
    finally:
        store.close()


def test_deletions_are_committed(tmp_path: Path) -> None:
    store = ChainStore.open(tmp_path)
    store.kv[b"k"] = b"v"
    store.commit(HEAD, IDENTITY)
    del store.kv[b"k"]
    with pytest.raises(KeyError):
        store.kv[b"k"]
    with pytest.raises(KeyError):
        del store.kv[b"k"]
    store.commit(HEAD)
    store.close()
    store = ChainStore.open(tmp_path)
    try:
        assert b"k" not in store.kv and list(store.stored_keys()) == []
    finally:
        store.close()


def test_commit_without_changes_writes_nothing(tmp_path: Path) -> None:
    store = ChainStore.open(tmp_path)
    try:
        store.commit(HEAD, IDENTITY)
        assert store.commit(HEAD) == 0
    finally:
        store.close()


def test_failed_commit_keeps_the_writes_for_the_next_one(tmp_path: Path) -> None:
    store = ChainStore.open(tmp_path)
    try:
        store.kv[b"k"] = b"v"
        store._conn.execute(
            "CREATE TRIGGER no_kv BEFORE INSERT ON kv BEGIN SELECT RAISE(ABORT, 'disk says no'); "
            "END"
        )
        with pytest.raises(sqlite3.DatabaseError):
            store.commit(HEAD, IDENTITY)
        assert store.kv.uncommitted == 1 and store.head() is None
        store._conn.execute("DROP TRIGGER no_kv")
        assert store.commit(HEAD, IDENTITY) == 1
    finally:
        store.close()


def test_second_opener_is_refused_until_the_first_closes(tmp_path: Path) -> None:
    first = ChainStore.open(tmp_path)
    with pytest.raises(ChainStoreError, match="in use"):
        ChainStore.open(tmp_path)
    first.close()
    ChainStore.open(tmp_path).close()


def test_unknown_format_is_refused(tmp_path: Path) -> None:
    store = ChainStore.open(tmp_path)
    store.commit(HEAD, IDENTITY)
    store._conn.execute("UPDATE meta SET value = 'other/9' WHERE name = 'format'")
    store.close()
    with pytest.raises(ChainStoreMismatch, match="other/9"):
        ChainStore.open(tmp_path)


def test_not_a_database_is_refused(tmp_path: Path) -> None:
    (tmp_path / DB_FILE_NAME).write_bytes(b"garbage" * 1000)
    with pytest.raises(ChainStoreError, match="not a usable store"):
        ChainStore.open(tmp_path)
