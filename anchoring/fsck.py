"""Self-audit: re-derive the log from storage and compare with what it stored and signed.

Recomputes every leaf hash from the stored record bytes, every stored subtree node from
the leaves, every checkpoint root from the nodes it re-derived, and every checkpoint's
signature; reports each divergence precisely (which leaf, which node, which checkpoint),
the first one first: findings are ordered by the leaf at which each becomes visible, and at
one leaf the leaf's own findings come before its nodes' (lowest level first) and those before
the checkpoints' (a swapped pair of leaves is named as such, not as the checkpoint whose root
it breaks). Reads storage only; repairs nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import select

from anchoring.errors import AnchoringError, RecordError
from anchoring.sql import pairs_in
from anchoring.store import LogStore, StoredCheckpoint
from anchoring.tables import leaves, nodes
from cunzheng_verify import merkle
from cunzheng_verify.notes import verify_checkpoint
from cunzheng_verify.records import record_from_bytes

BATCH = 5000
MAX_MOVE_LOOKUPS = 100  # leaf nodes looked up in the leaves table to name a moved leaf
_LEAF, _NODE, _CHECKPOINT, _LOG = range(4)  # order of findings visible at the same leaf
_END = 1 << 62  # findings about the log as a whole come last


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str
    detail: str
    leaf_index: int | None = None
    checkpoint_size: int | None = None


@dataclass(frozen=True, slots=True)
class FsckReport:
    tree_size: int
    leaves_checked: int
    checkpoints_checked: int
    findings: tuple[Finding, ...]

    @property
    def ok(self) -> bool:
        return not self.findings

    def as_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "tree_size": self.tree_size, "leaves_checked": self.leaves_checked,
                "checkpoints_checked": self.checkpoints_checked,
                "first": asdict(self.findings[0]) if self.findings else None,
                "findings": [asdict(f) for f in self.findings]}


def fsck(store: LogStore, *, key_name: str, public_key: bytes, origin: str,
         max_findings: int = 1000) -> FsckReport:
    # (visible at leaf, rank, level, arrival) -> finding; each rank capped on its own so
    # that checkpoint findings cannot crowd out the node finding that explains them
    found: list[tuple[tuple[int, int, int, int], Finding]] = []
    per_rank = [0, 0, 0, 0]

    def note_at(f: Finding, at: int, rank: int, level: int = 0) -> None:
        if per_rank[rank] < max_findings:
            per_rank[rank] += 1
            found.append(((at, rank, level, len(found)), f))

    def note(f: Finding) -> None:
        if f.checkpoint_size is not None:
            note_at(f, f.checkpoint_size - 1, _CHECKPOINT)
        else:
            note_at(f, _END, _LOG)

    def note_leaf(f: Finding) -> None:
        assert f.leaf_index is not None
        note_at(f, f.leaf_index, _LEAF)

    size, stored_root = store.tree_head()
    cps = list(store.iter_checkpoints())
    cp_iter: Iterator[StoredCheckpoint] = iter(cps)
    next_cp = next(cp_iter, None)
    frontier = merkle.Frontier(0, lambda level, index: b"")
    expected_index = 0
    batch_nodes: list[tuple[int, int, bytes]] = []
    checked_cps = 0

    def check_checkpoints() -> None:
        nonlocal next_cp, checked_cps
        while next_cp is not None and next_cp.tree_size <= frontier.size:
            if next_cp.tree_size == frontier.size:
                _check_checkpoint(next_cp, frontier.root(), key_name, public_key, origin, note)
                checked_cps += 1
            next_cp = next(cp_iter, None)

    for leaf in store.iter_leaves():
        if leaf.leaf_index != expected_index:
            kind = "gap" if leaf.leaf_index > expected_index else "duplicate"
            note_leaf(Finding(kind, f"expected leaf {expected_index}, found leaf "
                              f"{leaf.leaf_index}", leaf_index=expected_index))
        h = leaf.leaf_hash
        if leaf.problem is not None:
            note_leaf(Finding("record-sealed", f"leaf {leaf.leaf_index}: {leaf.problem}",
                         leaf_index=leaf.leaf_index))
        if leaf.record is not None:
            computed = merkle.leaf_hash(leaf.record)
            if computed != leaf.leaf_hash:
                note_leaf(Finding("leaf-hash", f"leaf {leaf.leaf_index}: stored hash "
                             f"{leaf.leaf_hash.hex()}, record bytes hash to {computed.hex()}",
                             leaf_index=leaf.leaf_index))
            h = computed
            try:
                rec = record_from_bytes(leaf.record)
                if (rec.tenant, rec.event_id, rec.loan_id) != (leaf.tenant, leaf.event_id,
                                                               leaf.loan_id):
                    note_leaf(Finding("record-columns", f"leaf {leaf.leaf_index}: record says "
                                 f"{rec.tenant}/{rec.event_id}/{rec.loan_id}, columns say "
                                 f"{leaf.tenant}/{leaf.event_id}/{leaf.loan_id}",
                                 leaf_index=leaf.leaf_index))
            except RecordError as exc:
                note_leaf(Finding("record-format", f"leaf {leaf.leaf_index}: {exc}",
                             leaf_index=leaf.leaf_index))
        batch_nodes.extend(frontier.append(h))
        expected_index = max(expected_index, leaf.leaf_index + 1)
        check_checkpoints()
        if len(batch_nodes) >= BATCH:
            _compare_nodes(store, batch_nodes, note_at)
            batch_nodes = []
    _compare_nodes(store, batch_nodes, note_at)
    check_checkpoints()
    if frontier.size != size:
        note(Finding("tree-size", f"log state says {size} leaves, storage holds {frontier.size}"))
    elif frontier.root() != stored_root:
        note(Finding("tree-root", f"log state root {stored_root.hex()}, leaves give "
                     f"{frontier.root().hex()}"))
    for cp in cps:
        if cp.tree_size > frontier.size:
            note(Finding("checkpoint-beyond-log", f"checkpoint of size {cp.tree_size} but the "
                         f"log holds {frontier.size} leaves", checkpoint_size=cp.tree_size))
    found.sort(key=lambda pair: pair[0])
    return FsckReport(size, frontier.size, checked_cps,
                      tuple(f for _, f in found[:max_findings]))


def _check_checkpoint(cp: StoredCheckpoint, computed: bytes, key_name: str, public_key: bytes,
                      origin: str, note: Any) -> None:
    if cp.root != computed:
        note(Finding("checkpoint-root", f"checkpoint {cp.tree_size}: stored root "
                     f"{cp.root.hex()}, leaves give {computed.hex()}",
                     checkpoint_size=cp.tree_size))
    try:
        signed = verify_checkpoint(cp.note, key_name=key_name, public_key=public_key, origin=origin)
    except AnchoringError as exc:
        note(Finding("checkpoint-signature", f"checkpoint {cp.tree_size}: {exc}",
                     checkpoint_size=cp.tree_size))
        return
    if signed.tree_size != cp.tree_size or signed.root != computed:
        note(Finding("checkpoint-note", f"checkpoint {cp.tree_size}: the signed note says size "
                     f"{signed.tree_size} root {signed.root.hex()}, leaves give "
                     f"{computed.hex()}", checkpoint_size=cp.tree_size))


def _compare_nodes(store: LogStore, created: list[tuple[int, int, bytes]], note_at: Any) -> None:
    if not created:
        return
    keys = [(lv, ix) for lv, ix, _ in created]
    stored: dict[tuple[int, int], bytes] = {}
    with store.engine.connect() as conn:
        for i in range(0, len(keys), 500):
            rows = conn.execute(select(nodes.c.level, nodes.c.idx, nodes.c.hash)
                                .where(pairs_in(nodes.c.level, nodes.c.idx, keys[i:i + 500])))
            stored.update({(int(a), int(b)): bytes(c) for a, b, c in rows})
    moved = _leaf_rows_holding(store, [stored[(0, ix)] for lv, ix, h in created
                                       if lv == 0 and stored.get((0, ix), h) != h]
                               [:MAX_MOVE_LOOKUPS])
    for lv, ix, h in created:
        have = stored.get((lv, ix))
        first_leaf = ix << lv
        last_leaf = first_leaf + (1 << lv) - 1
        if have is None:
            note_at(Finding("node-missing", f"stored tree lacks node level {lv} index {ix} "
                            f"(leaves {first_leaf}..{last_leaf})", leaf_index=first_leaf),
                    last_leaf, _NODE, lv)
        elif have != h and lv == 0 and moved.get(have, ix) != ix:
            note_at(Finding("leaf-moved", f"leaf {ix}: the tree's leaf {ix} is {have.hex()}, "
                            f"which the leaves table holds at leaf {moved[have]}; leaf {ix} "
                            f"holds {h.hex()} (leaf rows swapped or moved)", leaf_index=ix),
                    last_leaf, _NODE, lv)
        elif have != h:
            note_at(Finding("node-hash", f"node level {lv} index {ix} (leaves {first_leaf}.."
                            f"{last_leaf}): stored {have.hex()}, leaves give {h.hex()}",
                            leaf_index=first_leaf), last_leaf, _NODE, lv)


def _leaf_rows_holding(store: LogStore, hashes: list[bytes]) -> dict[bytes, int]:
    """The leaf index whose row holds each hash (through the leaf-hash index)."""
    if not hashes:
        return {}
    with store.engine.connect() as conn:
        rows = conn.execute(select(leaves.c.leaf_hash, leaves.c.leaf_index)
                            .where(leaves.c.leaf_hash.in_(hashes)))
        return {bytes(h): int(i) for h, i in rows}
