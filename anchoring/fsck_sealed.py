"""fsck's opening of sealed records (`anchoring.fsck`): a record that does not open under its
loan's key is a finding, and this names what changed where it can. It tries the record
under the keys of its own loan and of the loans of the leaves around it (a batch's events
sit together), first with its columns as they are (its loan_id or tenant was changed), then
with the columns of each row of that loan (record contents swapped or copied), then with
one other column changed back to a value seen in that loan, in the log's event types, or
(received_at) around it, since a batch's events share one. A `SEALED_V2` record binds its
columns, so the one that opens names every changed column with the value it was sealed
with. A changed byte, or a column changed to a value seen nowhere, is named as the record
that does not open."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from sqlalchemy import Connection, and_, distinct, select

from anchoring.crypto import CryptoError, RecordColumns, sealed_version
from anchoring.errors import LogError
from anchoring.fsck_report import Finding
from anchoring.sql import as_bytes
from anchoring.store import LogStore
from anchoring.tables import leaves

MAX_DIAGNOSES = 100  # sealed records that do not open, searched for what changed
MAX_DIAGNOSIS_ROWS = 500  # of one loan's rows, tried as the columns a record was sealed with
NEIGHBOURS = 8  # leaves each side whose loans and received_at are tried
_LOAN_COLUMNS = ("tenant", "loan_id")
_VARIED = ("event_type", "received_at", "event_id")


class SealedRecords:
    """Opens the sealed records of one fsck run, noting a finding for each that fails."""

    def __init__(self, store: LogStore, note: Callable[[Finding], None]) -> None:
        self.store = store
        self.note = note
        self.diagnoses = 0
        self._types: list[str] | None = None

    def open(self, leaf_index: int, cols: RecordColumns,
             blob: bytes) -> tuple[bytes | None, bool]:
        """(record bytes, False); (None, False) when the loan's key was destroyed (an
        erasure must cover it: checked at the end); (None, True) when it cannot be opened,
        with the finding noted."""
        store = self.store
        try:
            if sealed_version(blob) is None:
                return blob, False
        except CryptoError as exc:
            self.note(Finding("record-sealed", f"leaf {leaf_index}: {exc}",
                              leaf_index=leaf_index))
            return None, True
        if store.cipher is None:
            raise LogError("records are encrypted at rest but no master key is configured")
        key = (cols.tenant, cols.loan_id)
        if key in store._loan_keys:  # most rows: no connection needed
            dek = store._loan_keys[key]
            if dek is None:
                return None, False
            try:
                return store.cipher.open_record(dek, blob, cols), False
            except CryptoError:
                pass  # named below
        with store.engine.connect() as conn:
            keys = store._loan_keys_for(conn, {key}, create=False)
            if key not in keys:
                for f in self._diagnose(conn, leaf_index, cols, blob, None, None):
                    self.note(f)
                return None, True
            dek = keys[key]
            if dek is None:
                return None, False
            try:
                return store.cipher.open_record(dek, blob, cols), False
            except CryptoError as exc:
                for f in self._diagnose(conn, leaf_index, cols, blob, dek, exc):
                    self.note(f)
                return None, True

    def _diagnose(self, conn: Connection, leaf_index: int, cols: RecordColumns, blob: bytes,
                  own: bytes | None, exc: CryptoError | None) -> list[Finding]:
        """What changed, for a sealed record that does not open: `own` is its loan's key
        (None: its columns name a loan with no data key), `exc` why it did not open."""
        if own is None:
            generic = Finding(
                "record-column", f"leaf {leaf_index}: the record is sealed, but its columns "
                f"name loan {cols.loan_id!r} of tenant {cols.tenant!r}, which has no data key "
                "and no erasure: its loan_id or tenant column was changed, or the loan's data "
                "key was deleted", leaf_index=leaf_index, column="loan_id", found=cols.loan_id)
        else:
            generic = Finding("record-sealed", f"leaf {leaf_index}: {exc}",
                              leaf_index=leaf_index)
        cipher = self.store.cipher
        if cipher is None or self.diagnoses >= MAX_DIAGNOSES:
            return [generic]
        self.diagnoses += 1
        near = conn.execute(select(leaves.c.tenant, leaves.c.loan_id, leaves.c.received_at)
                            .where(leaves.c.leaf_index.between(leaf_index - NEIGHBOURS,
                                                               leaf_index + NEIGHBOURS))
                            .order_by(leaves.c.leaf_index)).all()
        loans = list(dict.fromkeys([(cols.tenant, cols.loan_id),
                                    *((str(t), str(loan)) for t, loan, _ in near)]))
        keys = self.store._loan_keys_for(conn, set(loans), create=False)
        times = {str(r[2]) for r in near}
        for tenant, loan_id in loans:
            dek = keys.get((tenant, loan_id))
            if dek is None:
                continue
            found = self._search(conn, leaf_index, cols, replace(
                cols, tenant=tenant, loan_id=loan_id), blob, dek, times)
            if found:
                return found
        if own is not None and sealed_version(blob) == 2:
            generic = replace(generic, detail=generic.detail + "; not another row's record, "
                              "and no other value of event_type, received_at or event_id seen "
                              "in the loan opens it: its bytes, its leaf hash or one of those "
                              "columns (to a value seen nowhere) was changed")
        return [generic]

    def _search(self, conn: Connection, leaf_index: int, stored: RecordColumns,
                base: RecordColumns, blob: bytes, dek: bytes,
                times: set[str]) -> list[Finding]:
        """Findings naming each changed column if the record opens under `base`'s loan with
        its columns, another row's, or one more column changed back; else none."""
        cipher = self.store.cipher
        assert cipher is not None

        def opens(candidate: RecordColumns) -> bool:
            try:
                cipher.open_record(dek, blob, candidate)
            except CryptoError:
                return False
            return True

        if opens(base):
            return _changed(leaf_index, stored, base)
        rows = conn.execute(
            select(leaves.c.leaf_index, leaves.c.leaf_hash, leaves.c.event_id,
                   leaves.c.event_type, leaves.c.received_at)
            .where(and_(leaves.c.tenant == base.tenant, leaves.c.loan_id == base.loan_id))
            .order_by(leaves.c.leaf_index).limit(MAX_DIAGNOSIS_ROWS)).all()
        for j, lh, eid, etype, at in rows:
            if int(j) != leaf_index and opens(replace(base, leaf_hash=as_bytes(lh),
                                                      event_id=eid, event_type=etype,
                                                      received_at=at)):
                return [Finding("record-moved", f"leaf {leaf_index} holds the sealed record "
                                f"of leaf {j} (record contents swapped or copied between rows)",
                                leaf_index=leaf_index, column="record",
                                expected=f"leaf {leaf_index}'s record", found=f"leaf {j}'s")]
        if sealed_version(blob) != 2:
            return []
        values = {"event_type": {r[3] for r in rows} | set(self._event_types(conn)),
                  "received_at": {r[4] for r in rows} | times, "event_id": {r[2] for r in rows}}
        for column in _VARIED:
            for value in sorted(values[column] - {getattr(base, column)}):
                candidate = replace(base, **{column: value})
                if opens(candidate):
                    return _changed(leaf_index, stored, candidate)
        return []

    def _event_types(self, conn: Connection) -> list[str]:
        if self._types is None:
            self._types = [str(r[0]) for r in conn.execute(select(distinct(leaves.c.event_type)))]
        return self._types


def _changed(leaf_index: int, stored: RecordColumns, sealed: RecordColumns) -> list[Finding]:
    """One finding per column whose stored value differs from the one the record was sealed
    with."""
    out = []
    for column in (*_LOAN_COLUMNS, *_VARIED):
        now, was = getattr(stored, column), getattr(sealed, column)
        if now != was:
            out.append(Finding("record-column", f"leaf {leaf_index}: column {column} is "
                               f"{now!r}, the record was sealed with {was!r}",
                               leaf_index=leaf_index, column=column, expected=was, found=now))
    return out
