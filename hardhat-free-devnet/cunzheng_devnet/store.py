"""Durable storage for the devnet's chain: py-evm's key/value store kept in one SQLite file.

py-evm keeps every header, block body, receipt and state-trie node as key/value pairs in a
`BaseDB`. eth-tester gives it a dict, so the chain dies with the process; and since each
post-merge block carries a random mix hash (and a wall-clock timestamp), replaying the
transactions would not give back the same block hashes. So the store itself is persisted:
`JournalingKV` is the `BaseDB` py-evm writes into; it keeps new pairs in memory until
`ChainStore.commit`, which writes them together with the new head in one SQLite
transaction (WAL, `synchronous=FULL`: fsync before commit returns). The RPC layer commits
before it answers, so any block a client has been told about is on disk: restart and the
chain is byte-for-byte the same.

The data directory holds `chain.sqlite3` and a `LOCK` file (flock) so two devnets never
share one chain.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from eth.db.backends.base import BaseDB

from .errors import ChainStoreError, ChainStoreMismatch

STORE_FORMAT = "cunzheng-devnet-store/1"
DB_FILE_NAME = "chain.sqlite3"
LOCK_FILE_NAME = "LOCK"

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS kv (key BLOB PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
)


@dataclass(frozen=True)
class ChainIdentity:
    """What makes a data directory one particular chain; fixed when the chain is created."""

    chain_id: int
    genesis_hash: bytes
    accounts: tuple[str, ...]


@dataclass(frozen=True)
class ChainHead:
    """The canonical head as last committed."""

    number: int
    hash: bytes


class JournalingKV(BaseDB):
    """The py-evm database: reads fall through to SQLite, writes wait for `commit`.

    `None` in the journal marks a deletion (py-evm deletes canonical-index entries when the
    head moves back, as `evm_revert` does).
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._journal: dict[bytes, bytes | None] = {}
        self._cache: dict[bytes, bytes] = {}

    def __getitem__(self, key: bytes) -> bytes:
        if key in self._journal:
            value = self._journal[key]
            if value is None:
                raise KeyError(key)
            return value
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        row = self._conn.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        if row is None:
            raise KeyError(key)
        value = bytes(row[0])
        self._cache[key] = value
        return value

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self._journal[bytes(key)] = bytes(value)

    def __delitem__(self, key: bytes) -> None:
        if not self._exists(key):
            raise KeyError(key)
        self._journal[bytes(key)] = None

    def _exists(self, key: bytes) -> bool:
        try:
            self[key]
        except KeyError:
            return False
        return True

    @property
    def uncommitted(self) -> int:
        """How many writes are waiting for the next commit."""
        return len(self._journal)

    def _take_journal(self) -> dict[bytes, bytes | None]:
        journal, self._journal = self._journal, {}
        for key, value in journal.items():
            if value is None:
                self._cache.pop(key, None)
            else:
                self._cache[key] = value
        return journal

    def _restore_journal(self, journal: dict[bytes, bytes | None]) -> None:
        # A failed commit must not lose the writes: put them back under any newer ones.
        journal.update(self._journal)
        self._journal = journal


class ChainStore:
    """One data directory: the SQLite key/value file, its metadata and the lock."""

    def __init__(self, data_dir: Path, conn: sqlite3.Connection, lock: IO[str]) -> None:
        self.data_dir = data_dir
        self._conn = conn
        self._lock = lock
        self.kv = JournalingKV(conn)

    @classmethod
    def open(cls, data_dir: str | os.PathLike[str]) -> ChainStore:
        """Open (creating if needed) the store in `data_dir`, holding its lock until `close`."""
        path = Path(data_dir)
        path.mkdir(parents=True, exist_ok=True)
        lock = open(path / LOCK_FILE_NAME, "a+")  # noqa: SIM115 - held for the store's life
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            raise ChainStoreError(
                f"data directory {path} is in use by another devnet process"
            ) from None
        try:
            conn = sqlite3.connect(
                path / DB_FILE_NAME, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            for statement in _SCHEMA:
                conn.execute(statement)
            store = cls(path, conn, lock)
            store._check_format()
        except sqlite3.DatabaseError as exc:
            lock.close()
            raise ChainStoreError(f"{path / DB_FILE_NAME} is not a usable store: {exc}") from exc
        except BaseException:
            lock.close()
            raise
        return store

    def _check_format(self) -> None:
        found = self._meta("format")
        if found is None:
            if self._conn.execute("SELECT 1 FROM kv LIMIT 1").fetchone() is not None:
                raise ChainStoreError(f"{self.data_dir}: key/value pairs without a format mark")
            return
        if found != STORE_FORMAT:
            raise ChainStoreMismatch("store format", STORE_FORMAT, found)

    def _meta(self, name: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def identity(self) -> ChainIdentity | None:
        """The stored chain's identity, or None for a fresh directory."""
        raw = self._meta("identity")
        if raw is None:
            return None
        fields = json.loads(raw)
        return ChainIdentity(
            chain_id=int(fields["chain_id"]),
            genesis_hash=bytes.fromhex(fields["genesis_hash"]),
            accounts=tuple(fields["accounts"]),
        )

    def head(self) -> ChainHead | None:
        """The head recorded by the last commit, or None for a fresh directory."""
        raw = self._meta("head")
        if raw is None:
            return None
        fields = json.loads(raw)
        return ChainHead(number=int(fields["number"]), hash=bytes.fromhex(fields["hash"]))

    def commit(self, head: ChainHead, identity: ChainIdentity | None = None) -> int:
        """Write the journal and `head` (and `identity` once, at genesis) durably.

        Returns the number of key/value writes. Returns only after SQLite has fsynced.
        """
        journal = self.kv._take_journal()
        if not journal and head == self.head() and identity is None:
            return 0
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.executemany(
                "INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)",
                ((k, v) for k, v in journal.items() if v is not None),
            )
            self._conn.executemany(
                "DELETE FROM kv WHERE key = ?", ((k,) for k, v in journal.items() if v is None)
            )
            self._put_meta("format", STORE_FORMAT)
            self._put_meta("head", json.dumps({"number": head.number, "hash": head.hash.hex()}))
            if identity is not None:
                self._put_meta(
                    "identity",
                    json.dumps(
                        {
                            "chain_id": identity.chain_id,
                            "genesis_hash": identity.genesis_hash.hex(),
                            "accounts": list(identity.accounts),
                        }
                    ),
                )
            self._conn.execute("COMMIT")
        except BaseException:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            self.kv._restore_journal(journal)
            raise
        return len(journal)

    def _put_meta(self, name: str, value: str) -> None:
        self._conn.execute("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", (name, value))

    def stored_keys(self) -> Iterator[bytes]:
        """Every committed key (for audits and tests)."""
        for (key,) in self._conn.execute("SELECT key FROM kv"):
            yield bytes(key)

    def close(self) -> None:
        """Close the database and release the directory lock. Uncommitted writes are lost."""
        try:
            self._conn.close()
        finally:
            self._lock.close()
