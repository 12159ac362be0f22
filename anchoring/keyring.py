"""Encryption at rest for the log (see `anchoring.crypto`): each loan's data key, wrapped by
the master key in `data_keys` and kept unwrapped in a bounded in-memory cache; sealing and
opening record contents with it (bound to the record's columns); erasing a loan by first
logging the erasure (`cunzheng_verify.erasure`) and then destroying its key
(crypto-shredding), in one transaction; and rewrapping every key under a new master key.
Without a `Cipher` nothing is sealed and `data_keys` only marks erased loans.

A sealed record opens to nothing (None, "erased") only when its loan's erasure event is in
the log; a record that cannot be opened otherwise raises `CryptoError`: its columns, its
bytes or the key table were changed."""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, and_, insert, select, update

from anchoring.crypto import (
    Cipher,
    CryptoError,
    RecordColumns,
    document_label,
    is_sealed,
    loan_label,
)
from anchoring.errors import LogError, NotFound
from anchoring.sql import as_bytes, pairs_in
from anchoring.tables import data_keys, documents, leaves, record_documents
from cunzheng_verify import merkle
from cunzheng_verify.erasure import (
    DEFAULT_BASIS,
    ERASURE_SYSTEM,
    ERASURE_TYPE,
    erasure_event,
    read_erasure,
)
from cunzheng_verify.errors import CunzhengError
from cunzheng_verify.records import Record, build_record, posted_hash, read_record

if TYPE_CHECKING:
    from anchoring.store import Accepted, BatchItemError, Pending

MAX_CACHED_KEYS = 100_000  # unwrapped loan data keys kept in memory


def _now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class AlreadyErased(LogError):
    """The loan's personal data was erased before: it is erased once."""


def is_ledger_record(rec: Record) -> bool:
    """An erasure event written by the ledger: stored in the clear (no personal data)."""
    if rec.type != ERASURE_TYPE:
        return False
    source = rec.content.get("source")
    return isinstance(source, dict) and source.get("system") == ERASURE_SYSTEM


class Keyring:
    """The encryption-at-rest part of `anchoring.store.LogStore`."""

    engine: Engine
    cipher: Cipher | None
    # unwrapped data keys of recently used loans (None: erased), least recently used first
    _loan_keys: OrderedDict[tuple[str, str], bytes | None]

    def _write(self) -> AbstractContextManager[Connection]:
        """A transaction holding the log's write lock (`LogStore._write`, the sequencer's)."""
        raise NotImplementedError

    def _append_in(
        self, conn: Connection,
        requests: Sequence[tuple[Sequence[Pending], Callable[..., None] | None]],
    ) -> list[list[Accepted] | BatchItemError]:
        """Sequence and integrate batches inside `conn`'s transaction (`LogStore`)."""
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
        """The bytes stored for a record: sealed under its loan's key, bound to the columns
        stored beside it (`anchoring.crypto.RecordColumns`); in the clear without a cipher,
        and for the ledger's erasure events."""
        if self.cipher is None or is_ledger_record(rec):
            return rec.data
        dek = keys[(tenant, rec.loan_id)]
        assert dek is not None
        return self.cipher.seal_record(dek, rec.data, RecordColumns(
            rec.leaf_hash, tenant, rec.loan_id, rec.event_id, rec.type, rec.received_at))

    def _open_record(self, blob: bytes, columns: RecordColumns,
                     conn: Connection | None = None) -> bytes | None:
        """A stored record's bytes, or None when its loan was erased (the log holds the
        erasure event). Raises `CryptoError` when it cannot be opened otherwise: altered,
        moved, a column changed, or no key for its loan and no erasure. `columns`: the
        columns of the row the bytes were read from, as the caller shows them (a sealed
        record binds them; nothing is looked up again, so an edit is noticed at once)."""
        tenant, loan_id, leaf_hash = columns.tenant, columns.loan_id, columns.leaf_hash
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
            if self._erasure_leaf(tenant, loan_id, conn) is not None:
                return None  # erased: the content is gone, the erasure is in the log
            raise CryptoError(
                f"the record of leaf hash {leaf_hash.hex()} is sealed, but loan {loan_id!r} "
                f"of tenant {tenant!r} has no data key and no erasure event in the log: "
                "the leaf's columns or the key table were changed")
        return self.cipher.open_record(dek, blob, columns)  # a CZE1 record binds its hash only

    def _absent_record(self, columns: RecordColumns, conn: Connection | None = None,
                       erased: dict[tuple[str, str], bool] | None = None) -> None:
        """A row whose record is gone (`record IS NULL`) reads as erased only when its loan's
        erasure event is in the log; otherwise raises `CryptoError` naming the leaf
        hash, as for a record that does not open. `erased`: the answers of one read, by loan
        (a loan's many erased rows look for its erasure event once)."""
        key = (columns.tenant, columns.loan_id)
        known = None if erased is None else erased.get(key)
        if known is None:
            known = self._erasure_leaf(columns.tenant, columns.loan_id, conn) is not None
            if erased is not None:
                erased[key] = known
        if not known:
            raise CryptoError(
                f"the record of leaf hash {columns.leaf_hash.hex()} is missing, but loan "
                f"{columns.loan_id!r} of tenant {columns.tenant!r} has no erasure event in "
                "the log: the record or the leaf's columns were changed")

    def _erasure_leaf(self, tenant: str, loan_id: str, conn: Connection | None) -> int | None:
        """The leaf index of the loan's erasure event, checked from its record (in the
        clear, hashing to its leaf hash, stating this tenant and loan), or None."""
        query = (select(leaves.c.leaf_index, leaves.c.leaf_hash, leaves.c.record)
                 .where(and_(leaves.c.tenant == tenant, leaves.c.loan_id == loan_id,
                             leaves.c.event_type == ERASURE_TYPE))
                 .order_by(leaves.c.leaf_index))
        if conn is None:
            with self.engine.connect() as c:
                rows = c.execute(query).all()
        else:
            rows = conn.execute(query).all()
        for index, lh, data in rows:
            if data is None or is_sealed(as_bytes(data)):
                continue
            record = as_bytes(data)
            if merkle.leaf_hash(record) != as_bytes(lh):
                continue
            try:
                erasure = read_erasure(read_record(record)[1])
            except CunzhengError:
                continue
            if erasure is not None and (erasure.tenant, erasure.loan_id) == (tenant, loan_id):
                return int(index)
        return None

    def erase_loan(self, tenant: str, loan_id: str, erased_at: datetime, *, erased_by: str,
                   basis: str = DEFAULT_BASIS,
                   policy: Callable[..., None] | None = None) -> dict[str, Any]:
        """Crypto-shred a loan, in one transaction: first append its erasure event (who,
        when, on what basis, which records and documents; `cunzheng_verify.erasure`, in the
        clear, judged by `policy`), then destroy its data key, its record contents and the
        documents only its records cite. Leaf hashes, nodes and checkpoints stay; the loan
        takes no event after its erasure event."""
        from anchoring.store import BatchItemError, Pending  # the facade that inherits this

        with self._write() as conn:
            rows = conn.execute(
                select(leaves.c.leaf_index, leaves.c.leaf_hash)
                .where(and_(leaves.c.tenant == tenant, leaves.c.loan_id == loan_id))
                .order_by(leaves.c.leaf_index)).all()
            if not rows:
                raise NotFound(f"no events for loan {loan_id!r} of tenant {tenant!r}")
            done_at = conn.execute(select(data_keys.c.erased_at).where(and_(
                data_keys.c.tenant == tenant, data_keys.c.loan_id == loan_id))).scalar()
            if done_at is not None:
                raise AlreadyErased(f"the personal data of loan {loan_id!r} of tenant "
                                    f"{tenant!r} was already erased at {done_at}")
            erased = [(int(i), as_bytes(h)) for i, h in rows]
            indices = [i for i, _ in erased]
            cited = {r[0] for r in conn.execute(
                select(record_documents.c.sha256)
                .where(record_documents.c.leaf_index.in_(indices)))}
            shared = {r[0] for r in conn.execute(
                select(record_documents.c.sha256).where(record_documents.c.sha256.in_(cited))
                .where(record_documents.c.leaf_index.not_in(indices)))} if cited else set()
            gone = sorted(cited - shared)
            posted = erasure_event(loan_id, at=erased_at, erased_by=erased_by, basis=basis,
                                   records=erased, documents=gone)
            record = build_record(posted, tenant=tenant, received_at=erased_at,
                                  salt=os.urandom(32))
            [outcome] = self._append_in(conn, [([Pending(tenant, posted_hash(posted), record)],
                                                policy)])
            if isinstance(outcome, BatchItemError):
                raise outcome.error
            logged = outcome[0]
            when = record.received_at  # the time the erasure event states
            done = conn.execute(update(data_keys).where(and_(data_keys.c.tenant == tenant,
                                                             data_keys.c.loan_id == loan_id))
                                .values(wrapped=None, erased_at=when))
            if done.rowcount == 0:
                conn.execute(insert(data_keys).values(tenant=tenant, loan_id=loan_id,
                                                      wrapped=None, master_key_id="",
                                                      created_at=when, erased_at=when))
            records = conn.execute(update(leaves).where(leaves.c.leaf_index.in_(indices))
                                   .where(leaves.c.record.is_not(None))
                                   .values(record=None)).rowcount
            docs = conn.execute(update(documents).where(documents.c.sha256.in_(gone))
                                .where(documents.c.content.is_not(None))
                                .values(content=None, wrapped_key=None, erased_at=when)
                                ).rowcount if gone else 0
        self._loan_keys[(tenant, loan_id)] = None
        return {"leaves": len(indices), "records_erased": records, "documents_erased": docs,
                "documents_kept_shared": len(shared),
                "erasure": {"event_id": record.event_id, "leaf_index": logged.leaf_index,
                            "leaf_hash": logged.leaf_hash.hex(), "erased_at": when,
                            "erased_by": erased_by, "basis": basis}}

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
