"""The log's signed checkpoints (`checkpoints`): stored once per tree size, read newest
first, by size, or all in order for fsck. Signing them is `anchoring.log`'s job."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError as SAIntegrityError

from anchoring.errors import NotFound
from anchoring.tables import checkpoints


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    tree_size: int
    root: bytes
    note: str
    signed_at: str


_CP_COLUMNS = (checkpoints.c.tree_size, checkpoints.c.root, checkpoints.c.note,
               checkpoints.c.signed_at)


def _checkpoint(row: Any) -> StoredCheckpoint:
    return StoredCheckpoint(int(row[0]), bytes(row[1]), row[2], row[3])


class CheckpointStore:
    """The checkpoint part of `anchoring.store.LogStore`."""

    engine: Engine

    def add_checkpoint(self, cp: StoredCheckpoint) -> bool:
        """Store a signed checkpoint; False if one of that size exists already."""
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(checkpoints).values(
                    tree_size=cp.tree_size, root=cp.root, note=cp.note, signed_at=cp.signed_at))
            return True
        except SAIntegrityError:
            return False

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(*_CP_COLUMNS).order_by(checkpoints.c.tree_size.desc()).limit(1)
            ).first()
        return None if row is None else _checkpoint(row)

    def checkpoint(self, size: int) -> StoredCheckpoint:
        with self.engine.connect() as conn:
            row = conn.execute(select(*_CP_COLUMNS)
                               .where(checkpoints.c.tree_size == size)).first()
        if row is None:
            raise NotFound(f"no checkpoint of size {size}")
        return _checkpoint(row)

    def list_checkpoints(self, limit: int = 20,
                         before: int | None = None) -> list[StoredCheckpoint]:
        query = select(*_CP_COLUMNS).order_by(checkpoints.c.tree_size.desc()).limit(limit)
        if before is not None:
            query = query.where(checkpoints.c.tree_size < before)
        with self.engine.connect() as conn:
            return [_checkpoint(r) for r in conn.execute(query)]

    def iter_checkpoints(self) -> Iterator[StoredCheckpoint]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(*_CP_COLUMNS).order_by(checkpoints.c.tree_size)).all()
        return iter([_checkpoint(r) for r in rows])
