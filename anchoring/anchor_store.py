"""Anchor state in the database: submissions and their chain facts, cosignatures, and the
lease that lets only one process submit at a time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, and_, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError as SAIntegrityError

from anchoring.tables import anchors, checkpoints, cosignatures, job_state

SUBMITTED, INCLUDED, FINAL = "submitted", "included", "final"
IN_FLIGHT = (SUBMITTED, INCLUDED)


@dataclass(frozen=True, slots=True)
class AnchorRow:
    tree_size: int
    root: bytes
    previous_size: int
    chain_id: int
    contract: str
    tx_hash: str
    status: str
    block_number: int | None
    block_hash: str | None
    block_time: str | None
    confirmations: int
    attempts: int
    submitted_at: str
    updated_at: str
    note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"tree_size": self.tree_size, "root": self.root.hex(), "previous_size":
                self.previous_size, "chain_id": self.chain_id, "contract": self.contract,
                "tx_hash": self.tx_hash, "status": self.status, "block_number": self.block_number,
                "block_hash": self.block_hash, "block_time": self.block_time,
                "confirmations": self.confirmations, "attempts": self.attempts,
                "submitted_at": self.submitted_at, "note": self.note}


@dataclass(frozen=True, slots=True)
class Cosignature:
    tree_size: int
    witness: str
    tx_hash: str
    block_number: int


def _row(r: Any) -> AnchorRow:
    m = dict(r._mapping)
    m["root"] = bytes(m["root"])
    return AnchorRow(**m)


class AnchorStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # --- lease: one submitter at a time ---------------------------------------------------

    def acquire_lease(self, name: str, holder: str, now_ms: int, ttl_ms: int) -> bool:
        """Take or renew the named lease; False while another holder's lease is alive."""
        with self.engine.connect() as conn:
            conn = conn.execution_options(cunzheng_write=True)
            with conn.begin():
                query = select(job_state.c.holder,
                               job_state.c.expires_at).where(job_state.c.name == name)
                if self.engine.dialect.name == "postgresql":
                    query = query.with_for_update()
                row = conn.execute(query).first()
                if row is None:
                    try:
                        with conn.begin_nested():
                            conn.execute(insert(job_state).values(name=name, holder=holder,
                                                                  expires_at=now_ms + ttl_ms))
                        return True
                    except SAIntegrityError:
                        return False
                if row.holder not in (holder, None) and (row.expires_at or 0) > now_ms:
                    return False
                done = conn.execute(
                    update(job_state).where(job_state.c.name == name)
                    .where(job_state.c.holder.is_(row.holder) if row.holder is None
                           else job_state.c.holder == row.holder)
                    .values(holder=holder, expires_at=now_ms + ttl_ms))
                return done.rowcount == 1

    def release_lease(self, name: str, holder: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(job_state).where(and_(job_state.c.name == name,
                                                      job_state.c.holder == holder))
                         .values(holder=None, expires_at=None))

    def get_value(self, name: str) -> str | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(job_state.c.value).where(job_state.c.name == name)).first()
        return None if row is None else row[0]

    def set_value(self, name: str, value: str) -> None:
        with self.engine.begin() as conn:
            done = conn.execute(update(job_state).where(job_state.c.name == name)
                                .values(value=value))
            if done.rowcount == 0:
                conn.execute(insert(job_state).values(name=name, value=value))

    # --- anchors ------------------------------------------------------------------------

    def add(self, row: AnchorRow) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(anchors).where(anchors.c.tree_size == row.tree_size))
            conn.execute(insert(anchors).values(**{f: getattr(row, f) for f in row.__slots__}))

    def save(self, row: AnchorRow) -> None:
        values = {f: getattr(row, f) for f in row.__slots__ if f != "tree_size"}
        with self.engine.begin() as conn:
            conn.execute(update(anchors).where(anchors.c.tree_size == row.tree_size)
                         .values(**values))

    def in_flight(self) -> list[AnchorRow]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(anchors).where(anchors.c.status.in_(IN_FLIGHT))
                                .order_by(anchors.c.tree_size)).all()
        return [_row(r) for r in rows]

    def get(self, size: int) -> AnchorRow | None:
        with self.engine.connect() as conn:
            r = conn.execute(select(anchors).where(anchors.c.tree_size == size)).first()
        return None if r is None else _row(r)

    def latest(self, statuses: Sequence[str] = (INCLUDED, FINAL)) -> AnchorRow | None:
        with self.engine.connect() as conn:
            r = conn.execute(select(anchors).where(anchors.c.status.in_(statuses))
                             .order_by(anchors.c.tree_size.desc()).limit(1)).first()
        return None if r is None else _row(r)

    def covering(self, size: int, statuses: Sequence[str] = (INCLUDED, FINAL)) -> AnchorRow | None:
        """The earliest anchor of a tree of at least `size` leaves."""
        with self.engine.connect() as conn:
            r = conn.execute(select(anchors).where(anchors.c.tree_size >= size)
                             .where(anchors.c.status.in_(statuses))
                             .order_by(anchors.c.tree_size).limit(1)).first()
        return None if r is None else _row(r)

    def recent(self, limit: int = 50) -> list[AnchorRow]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(anchors).order_by(anchors.c.tree_size.desc())
                                .limit(limit)).all()
        return [_row(r) for r in rows]

    def anchoring_times(self, limit: int) -> list[tuple[int, str, str]]:
        """(tree size, its checkpoint's `signed_at`, the anchor's block time) of the latest
        `limit` anchors with a block time, newest first (the auditor's lag chart)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(anchors.c.tree_size, checkpoints.c.signed_at, anchors.c.block_time)
                .join(checkpoints, checkpoints.c.tree_size == anchors.c.tree_size)
                .where(anchors.c.block_time.is_not(None))
                .order_by(anchors.c.tree_size.desc()).limit(limit)).all()
        return [(int(size), signed_at, block_time) for size, signed_at, block_time in rows]

    # --- cosignatures -------------------------------------------------------------------

    def add_cosignature(self, c: Cosignature) -> bool:
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(cosignatures).values(tree_size=c.tree_size, witness=c.witness,
                                                         tx_hash=c.tx_hash,
                                                         block_number=c.block_number))
            return True
        except SAIntegrityError:
            return False

    def cosigners(self, size: int) -> list[Cosignature]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(cosignatures).where(cosignatures.c.tree_size == size)
                                .order_by(cosignatures.c.block_number)).all()
        return [Cosignature(int(r.tree_size), r.witness, r.tx_hash,
                            int(r.block_number)) for r in rows]

    def witness_summaries(self) -> list[tuple[str, int, int, int, str | None]]:
        """Per witness: its address, how many trees it cosigned, the largest, and that
        cosignature's block number and its anchor's block time (0 and None if unknown)."""
        with self.engine.connect() as conn:
            totals = conn.execute(select(cosignatures.c.witness, func.count(),
                                         func.max(cosignatures.c.tree_size))
                                  .group_by(cosignatures.c.witness)).all()
            out = []
            for address, count, last_size in totals:
                last = conn.execute(
                    select(cosignatures.c.block_number, anchors.c.block_time)
                    .select_from(cosignatures.outerjoin(
                        anchors, anchors.c.tree_size == cosignatures.c.tree_size))
                    .where(cosignatures.c.witness == address,
                           cosignatures.c.tree_size == last_size)).first()
                out.append((str(address), int(count), int(last_size),
                            int(last[0]) if last else 0, last[1] if last else None))
        return out

