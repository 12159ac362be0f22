"""Encryption at rest for the log (see `anchoring.crypto`): each loan's data key, wrapped by
the master key in `data_keys` and kept unwrapped in a bounded in-memory cache; sealing and
opening record contents with it; erasing a loan by destroying its key (crypto-shredding); and
rewrapping every key under a new master key. Without a `Cipher` nothing is sealed and
`data_keys` only marks erased loans."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, and_, insert, select, update

from anchoring.crypto import Cipher, document_label, is_sealed, loan_label
from anchoring.errors import LogError, NotFound
from anchoring.sql import as_bytes, pairs_in
from anchoring.tables import data_keys, documents, leaves, record_documents
from cunzheng_verify.records import Record

MAX_CACHED_KEYS = 100_000  # unwrapped loan data keys kept in memory


def _now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Keyring:
    """The encryption-at-rest part of `anchoring.store.LogStore`."""

    engine: Engine
    cipher: Cipher | None
    # unwrapped data keys of recently used loans (None: erased), least recently used first
    _loan_keys: OrderedDict[tuple[str, str], bytes | None]

    def _write(self) -> AbstractContextManager[Connection]:
        """A transaction holding the log's write lock (`LogStore._write`, the sequencer's)."""
        raise NotImplementedError

    def _loan_keys_for(self, conn: Connection, loans: set[tuple[str, str]],
                       create: bool) -> dict[tuple[str, str], bytes | None]:
        """Data keys of the loans (None: erased); new loans get one when `create`."""
        if self.cipher is None:
            return self._erased_marks(conn, loans)
        found: dict[tuple[str, str], bytes | None] = {}
        wanted = [k for k in loans if k not in self._loan_keys]
        for chunk in range(0, len(wanted), 500):
            rows = conn.execute(select(data_keys.c.tenant, data_keys.c.loan_id,
                                       data_keys.c.wrapped, data_keys.c.master_key_id)
                                .where(pairs_in(data_keys.c.tenant, data_keys.c.loan_id,
                                                wanted[chunk:chunk + 500])))
            for t, loan, wrapped, mid in rows:
                self._loan_keys[(t, loan)] = (None if wrapped is None else self.cipher.unwrap(
                    as_bytes(wrapped), mid, loan_label(t, loan)))
        new = []
        for key in loans:
            if key in self._loan_keys:
                self._loan_keys.move_to_end(key)
                found[key] = self._loan_keys[key]
            elif create:
                new.append(key)
        # evict only after this call's keys are taken, so none is mistaken for a new loan
        while len(self._loan_keys) > MAX_CACHED_KEYS:
            self._loan_keys.popitem(last=False)
        found.update(self._new_loan_keys(conn, new))
        return found

    def _new_loan_keys(self, conn: Connection,
                       loans: Sequence[tuple[str, str]]) -> dict[tuple[str, str], bytes | None]:
        """Fresh data keys for loans that have none (the caller knows, under the write lock)."""
        assert self.cipher is not None
        found: dict[tuple[str, str], bytes | None] = {}
        new_rows = []
        for key in loans:
            dek, wrapped, mid = self.cipher.new_data_key(loan_label(*key))
            new_rows.append({"tenant": key[0], "loan_id": key[1], "wrapped": wrapped,
                             "master_key_id": mid, "created_at": _now_text()})
            found[key] = dek
        if new_rows:
            # not cached here: if the batch rolls back, the key must not outlive it
            conn.execute(insert(data_keys), new_rows)
        return found

    @staticmethod
    def _erased_marks(conn: Connection,
                      loans: set[tuple[str, str]]) -> dict[tuple[str, str], bytes | None]:
        erased: dict[tuple[str, str], bytes | None] = {}
        keys = list(loans)
        for chunk in range(0, len(keys), 500):
            rows = conn.execute(select(data_keys.c.tenant, data_keys.c.loan_id)
                                .where(pairs_in(data_keys.c.tenant, data_keys.c.loan_id,
                                                keys[chunk:chunk + 500]))
                                .where(data_keys.c.erased_at.is_not(None)))
            erased.update({(t, loan): None for t, loan in rows})
        return erased

    def _seal_record(self, keys: dict[tuple[str, str], bytes | None], tenant: str,
                     rec: Record) -> bytes:
        if self.cipher is None:
            return rec.data
        dek = keys[(tenant, rec.loan_id)]
        assert dek is not None
        return self.cipher.seal(dek, rec.data, rec.leaf_hash)

    def _open_record(self, tenant: str, loan_id: str, blob: bytes, leaf_hash: bytes,
                     conn: Connection | None = None) -> bytes | None:
        if not is_sealed(blob):
            return blob
        if self.cipher is None:
            raise LogError("records are encrypted at rest but no master key is configured")
        key = (tenant, loan_id)
        if key not in self._loan_keys:
            if conn is None:
                with self.engine.connect() as c:
                    self._loan_keys_for(c, {key}, create=False)
            else:
                self._loan_keys_for(conn, {key}, create=False)
        dek = self._loan_keys.get(key)
        if dek is None:
            return None  # erased (or never had a key): the content is gone
        return self.cipher.open(dek, blob, leaf_hash,
                                f"the record of leaf hash {leaf_hash.hex()}")

    def erase_loan(self, tenant: str, loan_id: str, erased_at: str) -> dict[str, int]:
        """Crypto-shred a loan: destroy its data key, its record contents and the documents
        only its records cite. Leaf hashes, nodes and checkpoints stay."""
        with self._write() as conn:
            indices = [int(r[0]) for r in conn.execute(
                select(leaves.c.leaf_index).where(and_(leaves.c.tenant == tenant,
                                                        leaves.c.loan_id == loan_id)))]
            if not indices:
                raise NotFound(f"no events for loan {loan_id!r} of tenant {tenant!r}")
            done = conn.execute(update(data_keys).where(and_(data_keys.c.tenant == tenant,
                                                             data_keys.c.loan_id == loan_id))
                                .values(wrapped=None, erased_at=erased_at))
            if done.rowcount == 0:
                conn.execute(insert(data_keys).values(tenant=tenant, loan_id=loan_id,
                                                      wrapped=None, master_key_id="",
                                                      created_at=erased_at, erased_at=erased_at))
            records = conn.execute(update(leaves).where(leaves.c.leaf_index.in_(indices))
                                   .where(leaves.c.record.is_not(None))
                                   .values(record=None)).rowcount
            cited = {r[0] for r in conn.execute(
                select(record_documents.c.sha256)
                .where(record_documents.c.leaf_index.in_(indices)))}
            shared = {r[0] for r in conn.execute(
                select(record_documents.c.sha256).where(record_documents.c.sha256.in_(cited))
                .where(record_documents.c.leaf_index.not_in(indices)))} if cited else set()
            gone = sorted(cited - shared)
            docs = conn.execute(update(documents).where(documents.c.sha256.in_(gone))
                                .where(documents.c.content.is_not(None))
                                .values(content=None, wrapped_key=None, erased_at=erased_at)
                                ).rowcount if gone else 0
        self._loan_keys[(tenant, loan_id)] = None
        return {"leaves": len(indices), "records_erased": records, "documents_erased": docs,
                "documents_kept_shared": len(shared)}

    def rotate_master(self, new_cipher: Cipher) -> int:
        """Rewrap every data key under `new_cipher`'s current master key (which must still
        accept the old one); returns how many keys were rewrapped."""
        count = 0
        with self._write() as conn:
            for t, loan, wrapped, mid in conn.execute(select(
                    data_keys.c.tenant, data_keys.c.loan_id, data_keys.c.wrapped,
                    data_keys.c.master_key_id).where(data_keys.c.wrapped.is_not(None))).all():
                new, new_id = new_cipher.rewrap(as_bytes(wrapped), mid, loan_label(t, loan))
                conn.execute(update(data_keys).where(and_(data_keys.c.tenant == t,
                                                          data_keys.c.loan_id == loan))
                             .values(wrapped=new, master_key_id=new_id))
                count += 1
            for sha, wrapped, mid in conn.execute(select(
                    documents.c.sha256, documents.c.wrapped_key, documents.c.master_key_id)
                    .where(documents.c.wrapped_key.is_not(None))).all():
                new, new_id = new_cipher.rewrap(as_bytes(wrapped), mid, document_label(sha))
                conn.execute(update(documents).where(documents.c.sha256 == sha)
                             .values(wrapped_key=new, master_key_id=new_id))
                count += 1
        self.cipher = new_cipher
        return count
