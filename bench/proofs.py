"""Proof latency on a big log: `LogStore.inclusion_proof` and `consistency_proof` on SQLite.

Run: `.venv/bin/python -m bench.proofs [--quick] [--leaves N]`.

Builds a log of N leaves (1M; 100k with --quick) through `LogStore.append` in batches of
`BATCH` `Pending` items, timing the build, then times up to `CALLS` calls each of
`inclusion_proof(random index, size)` and `consistency_proof(random s1, size)` (each series
stops early after `SERIES_BUDGET_S` seconds; the call count is reported) and reports the
median and p99. Every 100th proof is verified against the stored root, so the figures are
for correct proofs.

The build is the real `LogStore.append` (duplicate check included) with the service's
cipher: records are sealed at rest with AES-GCM under a per-loan data key wrapped by a
master key, exactly as `cunzheng serve` stores them (`data_keys` gets one row per loan; each
leaf here is a new loan). The log lives in a data directory with its master key, so
`cunzheng serve` can open it (`bench.serve_api` serves proofs from it and measures RSS).
The cost of the duplicate check and frontier load for one 1000-event batch at size N is
measured and reported.

Records are real canonical records: one is built with `build_record` from the example
credit decision, and each leaf is that record with its event id, loan id and salt replaced
by same-length values (the bytes stay RFC 8785 canonical; a sample is re-read with
`record_from_bytes` to prove it). This skips only the per-event JSON work of the HTTP
path, which `bench.ingest` measures.

The data directory is kept under /tmp (`/tmp/cunzheng-bench/log-<N>/`, database
`cunzheng.db`, key `master-key`) and reused when a complete log of that size at the current
schema is already there, so only the first run pays for the build.

Baselines in the same run: the same proofs from `merkle.MemoryTree` over the same leaf
hashes (pure computation, no database); a single-row primary-key read of `nodes` (the floor
of one database round trip); and the same proof functions fed by one indexed query per
proof (`(level = ? AND idx = ?) OR ...` on the same engine), i.e. what `LogStore` would
take if its node read used the primary key.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from anchoring.crypto import Cipher
from anchoring.store import LogStore, Pending
from anchoring.tables import nodes
from bench.common import latency_stats, print_table, save, timed
from cunzheng_verify import merkle
from cunzheng_verify.records import Record, build_record, record_from_bytes
from lending_core.events import example_payload
from service.db import make_engine, migrate
from service.logkey import load_master_keys

DB_DIR = Path("/tmp/cunzheng-bench")
BATCH = 50_000
CALLS = 2_000
QUICK_CALLS = 1_000
SERIES_BUDGET_S = 60.0
QUICK_SERIES_BUDGET_S = 15.0
HTTP_BATCH = 1_000
TARGET_MEDIAN_MS = 2.0
TENANT = "bank-a"
_EVENT = "ev-00000000000"  # same-length placeholders, replaced per leaf
_LOAN = "LN-00000000000"
_SALT = "ab" * 32


def template() -> bytes:
    posted = {
        "event_id": _EVENT, "loan_id": _LOAN, "type": "credit_decision",
        "occurred_at": "2024-03-01T10:15:00+08:00",
        "payload": example_payload("credit_decision"),
        "source": {"system": "bench", "ref": "proofs"},
    }
    rec = build_record(posted, tenant=TENANT, received_at=datetime(2026, 11, 28, tzinfo=UTC),
                       salt=bytes.fromhex(_SALT))
    return rec.data


def synthetic(tpl: bytes, i: int, received_at: str) -> Record:
    event_id, loan_id, salt = f"ev-{i:011d}", f"LN-{i:011d}", os.urandom(32).hex()
    data = (tpl.replace(_EVENT.encode(), event_id.encode())
            .replace(_LOAN.encode(), loan_id.encode()).replace(_SALT.encode(), salt.encode()))
    return Record(data=data, leaf_hash=merkle.leaf_hash(data), tenant=TENANT, event_id=event_id,
                  loan_id=loan_id, type="credit_decision", occurred_at="2024-03-01T02:15:00Z",
                  received_at=received_at, documents=())


def log_dir(n: int) -> Path:
    """The data directory (database and master key) of the cached log of n leaves."""
    return DB_DIR / f"log-{n}"


def open_log(n: int) -> tuple[Any, LogStore, Path]:
    """Engine and encrypting `LogStore` of the cached log of n leaves, at the schema head."""
    directory = log_dir(n)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "cunzheng.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    return engine, LogStore(engine, Cipher(load_master_keys(directory / "master-key"))), path


def indexed_reader(conn: Any, keys: list[merkle.NodeKey]) -> merkle.NodeReader:
    """Nodes by primary key in one query: the what-if baseline for `LogStore._reader`."""
    where = " OR ".join(["(level = ? AND idx = ?)"] * len(keys))
    rows = conn.exec_driver_sql(f"SELECT level, idx, hash FROM nodes WHERE {where}",
                                tuple(v for k in keys for v in k)).all()
    found = {(int(lv), int(ix)): bytes(h) for lv, ix, h in rows}
    return lambda level, index: found[(level, index)]


def build(store: LogStore, n: int) -> dict[str, Any]:
    tpl = template()
    received_at = record_from_bytes(tpl).received_at
    sample = synthetic(tpl, 12345, received_at)
    if record_from_bytes(sample.data) != sample:
        raise SystemExit("synthetic record is not what record_from_bytes reads back")
    start = store.tree_size()
    t0 = time.perf_counter()
    t_append = 0.0
    marks: list[tuple[int, float]] = [(start, 0.0)]
    for lo in range(start, n, BATCH):
        items = [Pending(TENANT, f"{i:064x}", synthetic(tpl, i, received_at))
                 for i in range(lo, min(n, lo + BATCH))]
        t1 = time.perf_counter()
        store.append(items)
        t_append += time.perf_counter() - t1
        done = lo + len(items)
        if done % 100_000 == 0 or done == n:
            el = time.perf_counter() - t0
            marks.append((done, el))
            print(f"  built {done:,} leaves, {el:.0f} s, {(done - start) / el:,.0f} leaves/s",
                  flush=True)
    total = time.perf_counter() - t0
    built = n - start
    # the rate over the last stretch, not the average, says what the next leaves cost
    (d0, t_0), (d1, t_1) = marks[max(0, len(marks) - 3)], marks[-1]
    last_rate = (d1 - d0) / (t_1 - t_0) if t_1 > t_0 else None
    return {"leaves_built": built, "build_s": round(total, 1),
            "progress_leaves_s": [[d, round(t, 1)] for d, t in marks],
            "last_stretch_leaves_per_s": round(last_rate) if last_rate else None,
            "projected_10m_build_s_at_last_rate": round(1e7 / last_rate) if last_rate else None,
            "build_leaves_per_s": round(built / total) if built else None,
            "append_only_leaves_per_s": round(built / t_append) if built else None,
            "batch": BATCH}


def run(quick: bool = False, leaves: int | None = None) -> dict[str, Any]:
    n = leaves or (100_000 if quick else 1_000_000)
    calls = QUICK_CALLS if quick else CALLS
    engine, store, path = open_log(n)
    size = store.tree_size()
    if size > n:
        raise SystemExit(f"{path} holds {size} leaves, more than {n}; delete it")
    build_info = {"reused_existing_db": size == n}
    if size < n:
        print(f"building a log of {n:,} leaves in {path} (from {size:,})", flush=True)
        build_info.update(build(store, n))
    size, root = store.tree_head()
    build_info["db_bytes"] = path.stat().st_size + sum(
        p.stat().st_size for p in path.parent.glob(path.name + "-*"))

    rng = random.Random(9162)
    inc_idx = [rng.randrange(size) for _ in range(calls)]
    con_s1 = [rng.randrange(1, size) for _ in range(calls)]

    # warm the page cache and the connection pool the same way for every series
    for i in inc_idx[:50]:
        store.inclusion_proof(i, size)

    budget = QUICK_SERIES_BUDGET_S if quick else SERIES_BUDGET_S

    def series(fn: Any, args: list[int]) -> list[float]:
        out: list[float] = []
        stop = time.perf_counter() + budget
        for a in args:
            t = time.perf_counter()
            fn(a)
            out.append(time.perf_counter() - t)
            if t > stop:
                break
        return out

    t_inc = series(lambda i: store.inclusion_proof(i, size), inc_idx)
    t_con = series(lambda s: store.consistency_proof(s, size), con_s1)
    leaf_hashes = {i: store.leaf(i).leaf_hash for i in inc_idx[::100]}
    for i in inc_idx[::100]:
        merkle.verify_inclusion(i, size, leaf_hashes[i], store.inclusion_proof(i, size), root)
    for s in con_s1[::100]:
        merkle.verify_consistency(s, size, store.consistency_proof(s, size), store.root(s), root)

    with engine.connect() as conn:
        def pk_read(i: int) -> None:
            conn.execute(select(nodes.c.hash).where(nodes.c.level == 0, nodes.c.idx == i)).one()
        t_pk = series(pk_read, inc_idx)

        def idx_inc(i: int) -> list[bytes]:
            keys = merkle.nodes_for_inclusion(i, size)
            return merkle.inclusion_proof_from_nodes(i, size, indexed_reader(conn, keys))

        def idx_con(s1: int) -> list[bytes]:
            keys = merkle.nodes_for_consistency(s1, size)
            return merkle.consistency_proof_from_nodes(s1, size, indexed_reader(conn, keys))

        for i, s1 in zip(inc_idx[:20], con_s1[:20], strict=True):
            assert idx_inc(i) == store.inclusion_proof(i, size)
            assert idx_con(s1) == store.consistency_proof(s1, size)
        t_idx_inc = series(idx_inc, inc_idx)
        t_idx_con = series(idx_con, con_s1)

        # the O(n) steps of append for one HTTP-sized batch at this size (read-only)
        tpl = template()
        fresh = [Pending(TENANT, "0" * 64, synthetic(tpl, size + 10**9 + i, "x"))
                 for i in range(HTTP_BATCH)]
        t_dup, found = timed(lambda: LogStore._existing(conn, fresh))
        assert not found
        t_frontier, _ = timed(lambda: merkle.Frontier(
            size, LogStore._reader(conn, merkle.nodes_for_root(size))))
        append_steps = {"batch": HTTP_BATCH, "duplicate_check_s": round(t_dup, 4),
                        "frontier_load_s": round(t_frontier, 4)}

    # pure-computation baseline over the same leaf hashes
    hashes = []
    with engine.connect() as conn:
        for lo in range(0, size, 200_000):
            hashes.extend(bytes(h) for (h,) in conn.execute(
                select(nodes.c.hash).where(nodes.c.level == 0, nodes.c.idx >= lo,
                                           nodes.c.idx < lo + 200_000).order_by(nodes.c.idx)))
    tree = merkle.MemoryTree(hashes)
    if tree.root() != root:
        raise SystemExit("stored root differs from the root of the stored leaf hashes")
    t_mem_inc = series(lambda i: tree.inclusion_proof(i, size), inc_idx)
    t_mem_con = series(lambda s: tree.consistency_proof(s, size), con_s1)
    engine.dispose()

    stats = {
        "inclusion_proof": latency_stats(t_inc),
        "consistency_proof": latency_stats(t_con),
        "baseline_memorytree_inclusion": latency_stats(t_mem_inc),
        "baseline_memorytree_consistency": latency_stats(t_mem_con),
        "baseline_one_pk_read": latency_stats(t_pk),
        "whatif_indexed_inclusion": latency_stats(t_idx_inc),
        "whatif_indexed_consistency": latency_stats(t_idx_con),
    }
    rows = [[name, s["calls"], s["median_ms"], s["p99_ms"], s["max_ms"]]
            for name, s in stats.items()]
    print_table(f"Proof latency, SQLite log of {size:,} leaves (ms)",
                ["call", "calls", "median", "p99", "max"], rows)
    b = build_info
    if "build_s" in b:
        print(f"  build: {b['leaves_built']:,} leaves in {b['build_s']} s "
              f"({b['build_leaves_per_s']:,} leaves/s, LogStore.append alone "
              f"{b['append_only_leaves_per_s']:,}/s), database {b['db_bytes'] / 1e9:.2f} GB")
    else:
        print(f"  reused {path} ({b['db_bytes'] / 1e9:.2f} GB)")
    print(f"  append at this size, one {HTTP_BATCH}-event batch: duplicate check "
          f"{append_steps['duplicate_check_s']} s, frontier load "
          f"{append_steps['frontier_load_s']} s")
    figures = {
        "tree_size": size, "database": str(path), "build": build_info,
        "append_steps_at_size": append_steps, **stats,
        "target": f"median under {TARGET_MEDIAN_MS} ms at 1M leaves",
        "meets_target": max(stats["inclusion_proof"]["median_ms"],
                            stats["consistency_proof"]["median_ms"]) < TARGET_MEDIAN_MS,
    }
    name = "proofs" if leaves in (None, 1_000_000, 100_000) else f"proofs_{n}"
    save(name, quick, figures)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--leaves", type=int, help="log size (default 1M, 100k with --quick)")
    args = parser.parse_args()
    run(args.quick, args.leaves)


if __name__ == "__main__":
    main()
