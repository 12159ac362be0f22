"""fsck's opening of sealed records (`anchoring.fsck`): a record that does not open under its
loan's key is a finding, and this names what changed where it can: a column naming a loan
with no data key (the loan_id or tenant was changed), the columns of another of the loan's
rows it opens with (record contents swapped or copied), or one column whose other value it
opens with (a `SEALED_V2` record binds its columns; the values tried are those seen in the
loan, the event types seen in the log, and the received_at of the leaves around it, since a
batch's events share one). A changed byte, or a column changed to a value seen nowhere, is
named as the record that does not open."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from sqlalchemy import Connection, and_, distinct, select

from anchoring.crypto import CryptoError, RecordColumns, sealed_version
from anchoring.errors import LogError
from anchoring.fsck_report import Finding
from anchoring.sql import as_bytes
from anchoring.store import LogStore
from anchoring.tables import data_keys, leaves

MAX_DIAGNOSES = 100  # sealed records that do not open, tried against their loan's columns
MAX_DIAGNOSIS_ROWS = 2000  # of one loan's rows, tried as the columns a record was sealed with
NEIGHBOURS = 8  # leaves each side whose received_at a changed one is tried against


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
        with store.engine.connect() as conn:
            keys = store._loan_keys_for(conn, {key}, create=False)
            if key not in keys:
                self.note(self._no_key(conn, leaf_index, cols))
                return None, True
            dek = keys[key]
            if dek is None:
                return None, False
            try:
                return store.cipher.open_record(dek, blob, cols), False
            except CryptoError as exc:
                self.note(self._diagnose(conn, leaf_index, cols, blob, dek, exc))
                return None, True

    @staticmethod
    def _no_key(conn: Connection, leaf_index: int, cols: RecordColumns) -> Finding:
        tenant_known = conn.execute(select(data_keys.c.tenant)
                                    .where(data_keys.c.tenant == cols.tenant).limit(1)).first()
        column = "loan_id" if tenant_known else "tenant"
        found = cols.loan_id if tenant_known else cols.tenant
        return Finding(
            "record-column", f"leaf {leaf_index}: the record is sealed, but its columns name "
            f"loan {cols.loan_id!r} of tenant {cols.tenant!r}, which has no data key and no "
            f"erasure: the {column} column was changed (the record belongs to another "
            f"{'loan' if tenant_known else 'tenant'}), or the loan's data key was deleted",
            leaf_index=leaf_index, column=column, found=found)

    def _diagnose(self, conn: Connection, leaf_index: int, cols: RecordColumns, blob: bytes,
                  dek: bytes, exc: CryptoError) -> Finding:
        """Name what changed when a sealed record does not open under its loan's key: the
        columns of another of the loan's rows it opens with (the blobs were swapped), or one
        column whose other value it opens with; else the bytes or an unguessable column."""
        generic = Finding("record-sealed", f"leaf {leaf_index}: {exc}", leaf_index=leaf_index)
        cipher = self.store.cipher
        if cipher is None or self.diagnoses >= MAX_DIAGNOSES:
            return generic
        self.diagnoses += 1
        rows = conn.execute(
            select(leaves.c.leaf_index, leaves.c.leaf_hash, leaves.c.event_id,
                   leaves.c.event_type, leaves.c.received_at)
            .where(and_(leaves.c.tenant == cols.tenant, leaves.c.loan_id == cols.loan_id))
            .order_by(leaves.c.leaf_index).limit(MAX_DIAGNOSIS_ROWS)).all()

        def opens(candidate: RecordColumns) -> bool:
            try:
                cipher.open_record(dek, blob, candidate)
            except CryptoError:
                return False
            return True

        for j, lh, eid, etype, at in rows:
            other = replace(cols, leaf_hash=as_bytes(lh), event_id=eid, event_type=etype,
                            received_at=at)
            if int(j) != leaf_index and opens(other):
                return Finding("record-moved", f"leaf {leaf_index} holds the sealed record of "
                               f"leaf {j} (record contents swapped or copied between rows)",
                               leaf_index=leaf_index, column="record",
                               expected=f"leaf {leaf_index}'s record", found=f"leaf {j}'s")
        if sealed_version(blob) == 2:
            # a batch's events share received_at: the leaves around this one are candidates
            near = {r[0] for r in conn.execute(
                select(leaves.c.received_at).where(leaves.c.leaf_index.between(
                    leaf_index - NEIGHBOURS, leaf_index + NEIGHBOURS)))}
            values = {"event_type": {r[3] for r in rows} | set(self._event_types(conn)),
                      "received_at": {r[4] for r in rows} | near,
                      "event_id": {r[2] for r in rows}}
            for column, candidates in values.items():
                now = getattr(cols, column)
                for value in sorted(candidates - {now}):
                    if opens(replace(cols, **{column: value})):
                        return Finding(
                            "record-column", f"leaf {leaf_index}: column {column} is {now!r}, "
                            f"the record was sealed with {value!r}", leaf_index=leaf_index,
                            column=column, expected=value, found=now)
            return replace(generic, detail=generic.detail + "; not another row's record, and "
                           "no other value of event_type, received_at or event_id seen in the "
                           "loan opens it: its bytes, its leaf hash or one of those columns "
                           "(to a value seen nowhere) was changed")
        return generic

    def _event_types(self, conn: Connection) -> list[str]:
        if self._types is None:
            self._types = [str(r[0]) for r in conn.execute(select(distinct(leaves.c.event_type)))]
        return self._types
