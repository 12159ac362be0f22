"""Reading the log's Merkle tree: its size and head, roots of earlier sizes, and inclusion
and consistency proofs, each from the O(log n) complete-subtree nodes it needs, read in one
query (`nodes`, written by the sequencer in `anchoring.store`)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, Engine, select

from anchoring.errors import LogError, NotFound
from anchoring.sql import as_bytes, pairs_in
from anchoring.tables import log_state, nodes
from cunzheng_verify import merkle


class TreeReads:
    """The tree-reading part of `anchoring.store.LogStore`."""

    engine: Engine

    @staticmethod
    def _size(conn: Connection) -> int:
        row = conn.execute(select(log_state.c.tree_size).where(log_state.c.id == 1)).first()
        return int(row[0]) if row else 0

    @staticmethod
    def _reader(conn: Connection, keys: Sequence[merkle.NodeKey]) -> merkle.NodeReader:
        found: dict[merkle.NodeKey, bytes] = {}
        mark = {"qmark": "?", "format": "%s", "pyformat": "%s"}.get(conn.dialect.paramstyle)
        for chunk in range(0, len(keys), 200):
            part = keys[chunk:chunk + 200]
            if not part:
                continue
            if mark is not None:
                # The hot path of every proof: a plain indexed OR query. Built by hand because
                # building and caching the equivalent SQLAlchemy expression costs more than
                # running it (bench/README.md, proofs).
                where = " OR ".join([f"(level = {mark} AND idx = {mark})"] * len(part))
                rows = conn.exec_driver_sql(f"SELECT level, idx, hash FROM nodes WHERE {where}",
                                            tuple(x for key in part for x in key))
            else:
                rows = conn.execute(select(nodes.c.level, nodes.c.idx, nodes.c.hash)
                                    .where(pairs_in(nodes.c.level, nodes.c.idx, part)))
            found.update({(int(lv), int(ix)): as_bytes(h) for lv, ix, h in rows})

        def read(level: int, index: int) -> bytes:
            try:
                return found[(level, index)]
            except KeyError:
                raise LogError(f"stored tree lacks node level {level} index {index}") from None

        return read

    def tree_size(self) -> int:
        with self.engine.connect() as conn:
            return self._size(conn)

    def tree_head(self) -> tuple[int, bytes]:
        with self.engine.connect() as conn:
            row = conn.execute(select(log_state.c.tree_size, log_state.c.root)).first()
        return (int(row[0]), bytes(row[1])) if row else (0, merkle.EMPTY_ROOT)

    def root(self, size: int) -> bytes:
        with self.engine.connect() as conn:
            self._check_size(conn, size)
            return merkle.root_from_nodes(size, self._reader(conn, merkle.nodes_for_root(size)))

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        with self.engine.connect() as conn:
            self._check_size(conn, size)
            if not 0 <= index < size:
                raise NotFound(f"leaf {index} is not in a tree of size {size}")
            keys = merkle.nodes_for_inclusion(index, size)
            return merkle.inclusion_proof_from_nodes(index, size, self._reader(conn, keys))

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        with self.engine.connect() as conn:
            self._check_size(conn, size2)
            if not 0 <= size1 <= size2:
                raise LogError(f"need 0 <= first <= second, got {size1} and {size2}")
            keys = merkle.nodes_for_consistency(size1, size2)
            return merkle.consistency_proof_from_nodes(size1, size2, self._reader(conn, keys))

    def _check_size(self, conn: Connection, size: int) -> None:
        current = self._size(conn)
        if not 0 <= size <= current:
            raise NotFound(f"tree size {size} is beyond the log's size {current}")
