"""Ingestion throughput through the real HTTP API, on SQLite and on PostgreSQL.

Run: `.venv/bin/python -m bench.ingest [--quick] [--no-postgres]`.

For each database, a fresh data directory under /tmp, a lender key from
`cunzheng keys create`, and `cunzheng serve` (uvicorn) as a subprocess on a free port. The
client is this process (httpx, one keep-alive connection) and posts pre-serialised bodies,
so the client's own cost is one `send` per request. Figures:

- batch: `EVENTS` events (50k; 10k with --quick) as `POST /v1/events/batch` of `BATCH`
  events each, one after another; sustained events/s over the whole run, and over the
  first and the last tenth (the log grows while it runs). Two streams: one credit decision
  per new loan (`lone`), and the interleaved whole-story mix of `bench.streams` (`mix`).
- single: `SINGLE` events as `POST /v1/events`, one request per event; events/s and
  latency.

Baselines in the same run: the same bodies posted to `bench.echo_app` (same uvicorn, JSON
parsed, nothing else): the HTTP ceiling; and raw SQLite writes of the same rows the log
writes (one leaf row and about two node rows per event, `BATCH` per transaction, WAL,
synchronous=FULL, same indexes): the storage ceiling.

PostgreSQL runs in its own database `cunzheng_bench` (dropped and created for each run) on
the server at `PG_ADMIN_URL`; no other database is touched.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError

from bench import streams
from bench.common import latency_stats, print_table, save
from service.tables import metadata

EVENTS = 50_000
QUICK_EVENTS = 10_000
BATCH = 1_000
SINGLE = 2_000
QUICK_SINGLE = 300
TARGET_EVENTS_PER_S = 5_000
TENANT = "bank-a"
PG_ADMIN_URL = os.environ.get("CUNZHENG_BENCH_PG_ADMIN_URL",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
PG_DATABASE = "cunzheng_bench"
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server(argv: list[str], port: int, env: dict[str, str],
           log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Start a server subprocess, wait for /healthz, stop it with SIGINT at the end."""
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None:
                    raise SystemExit(f"server exited with {proc.returncode}; see {log}")
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit(f"server did not come up in 60 s; see {log}")
                time.sleep(0.2)
            yield proc
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def bodies(events: list[dict[str, Any]]) -> list[bytes]:
    return [json.dumps({"events": events[i:i + BATCH]}, ensure_ascii=False).encode()
            for i in range(0, len(events), BATCH)]


def post_batches(base: str, key: str, payloads: list[bytes], expect: int) -> dict[str, Any]:
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    lat: list[float] = []
    counts: list[int] = []
    with httpx.Client(base_url=base, headers=headers, timeout=600) as client:
        t0 = time.perf_counter()
        for body in payloads:
            t = time.perf_counter()
            r = client.post("/v1/events/batch", content=body)
            lat.append(time.perf_counter() - t)
            if r.status_code != expect:
                raise SystemExit(f"batch refused: {r.status_code} {r.text[:500]}")
            counts.append(len(r.json().get("receipts", [])) or r.json().get("received", 0))
        total = time.perf_counter() - t0
    n = sum(counts)
    tenth = max(1, len(lat) // 10)
    return {
        "events": n, "requests": len(lat), "seconds": round(total, 3),
        "events_per_s": round(n / total),
        "first_tenth_events_per_s": round(sum(counts[:tenth]) / sum(lat[:tenth])),
        "last_tenth_events_per_s": round(sum(counts[-tenth:]) / sum(lat[-tenth:])),
        "batch_latency": latency_stats(lat),
    }


def post_singles(base: str, key: str, events: list[dict[str, Any]], expect: int) -> dict[str, Any]:
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    payloads = [json.dumps(e, ensure_ascii=False).encode() for e in events]
    lat: list[float] = []
    with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
        t0 = time.perf_counter()
        for body in payloads:
            t = time.perf_counter()
            r = client.post("/v1/events", content=body)
            lat.append(time.perf_counter() - t)
            if r.status_code != expect:
                raise SystemExit(f"event refused: {r.status_code} {r.text[:500]}")
        total = time.perf_counter() - t0
    return {"events": len(payloads), "seconds": round(total, 3),
            "events_per_s": round(len(payloads) / total), "latency": latency_stats(lat)}


def ledger_env(data_dir: Path, database_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUNZHENG_")}
    env["CUNZHENG_DATA_DIR"] = str(data_dir)
    if database_url:
        env["CUNZHENG_DATABASE_URL"] = database_url
    return env


def lender_key(env: dict[str, str]) -> str:
    out = subprocess.run([str(BIN / "cunzheng"), "keys", "create", "--role", "lender",
                          "--tenant", TENANT, "--label", "bench"],
                         env=env, capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()[-1]


def run_ledger(label: str, database_url: str | None, work: Path, n: int, n_single: int,
               profile: bool) -> dict[str, Any]:
    data_dir = work / f"data-{label}"
    env = ledger_env(data_dir, database_url)
    key = lender_key(env)
    port = free_port()
    argv = [str(BIN / "cunzheng"), "serve", "--port", str(port)]
    out: dict[str, Any] = {}
    with server(argv, port, env, work / f"server-{label}.log") as proc:
        base = f"http://127.0.0.1:{port}"
        lone = bodies(streams.lone_decisions(n, prefix=f"{label}-b"))
        pyspy = _start_pyspy(proc.pid, work / f"pyspy-{label}.txt") if profile else None
        out["batch_lone"] = post_batches(base, key, lone, 201)
        if pyspy is not None:
            _stop_pyspy(pyspy)
            out["pyspy_collapsed_stacks"] = str(work / f"pyspy-{label}.txt")
        out["batch_mix"] = post_batches(base, key, bodies(streams.story_mix(n, f"{label}-m")), 201)
        out["single"] = post_singles(base, key, streams.lone_decisions(n_single, f"{label}-s"), 201)
        out["log_size_at_end"] = httpx.get(f"{base}/healthz").json()["tree_size"]
    return out


def _start_pyspy(pid: int, path: Path) -> subprocess.Popen[bytes] | None:
    exe = shutil.which("py-spy") or "/tmp/pyspy/bin/py-spy"
    if not Path(exe).exists():
        print("  (py-spy not found; no profile)")
        return None
    return subprocess.Popen([exe, "record", "--pid", str(pid), "--format", "raw", "--rate", "200",
                             "--output", str(path), "--nonblocking"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _stop_pyspy(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


def run_echo(work: Path, n: int, n_single: int) -> dict[str, Any]:
    port = free_port()
    argv = [sys.executable, "-m", "uvicorn", "bench.echo_app:app", "--port", str(port),
            "--log-level", "warning", "--no-access-log"]
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    with server(argv, port, env, work / "server-echo.log"):
        base = f"http://127.0.0.1:{port}"
        return {
            "batch_lone": post_batches(base, "none", bodies(streams.lone_decisions(n, "e")), 201),
            "single": post_singles(base, "none", streams.lone_decisions(n_single, "es"), 201),
        }


def raw_sqlite(work: Path, n: int) -> dict[str, Any]:
    """The rows `LogStore.append` writes, straight through sqlite3."""
    path = work / "raw.db"
    create_engine(f"sqlite:///{path}").dispose()
    engine = create_engine(f"sqlite:///{path}")
    metadata.create_all(engine)
    engine.dispose()
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=FULL")
    record = os.urandom(720)
    t0 = time.perf_counter()
    for lo in range(0, n, BATCH):
        leaves, nodes = [], []
        for i in range(lo, min(n, lo + BATCH)):
            h = os.urandom(32)
            leaves.append((i, h, TENANT, f"ev-{i}", f"L-{i}", "credit_decision", "0" * 64,
                           "2026-11-28T00:00:00Z", record, 1))  # loan_seq: one event a loan
            nodes.append((0, i, h))
            level, idx = 0, i
            while idx & 1:
                level, idx = level + 1, idx >> 1
                nodes.append((level, idx, h))
        con.execute("BEGIN IMMEDIATE")
        con.executemany("INSERT INTO leaves VALUES (?,?,?,?,?,?,?,?,?,?)", leaves)
        con.executemany("INSERT INTO nodes VALUES (?,?,?)", nodes)
        con.execute("COMMIT")
    total = time.perf_counter() - t0
    con.close()
    return {"events": n, "seconds": round(total, 3), "events_per_s": round(n / total)}


def fresh_pg_database() -> str | None:
    try:
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{PG_DATABASE}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{PG_DATABASE}"'))
        admin.dispose()
    except SQLAlchemyError as exc:  # report and carry on with SQLite only
        print(f"  PostgreSQL unavailable ({type(exc).__name__}: {exc}); skipping it")
        return None
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + PG_DATABASE


def run(quick: bool = False, postgres: bool = True, profile: bool = False) -> dict[str, Any]:
    n = QUICK_EVENTS if quick else EVENTS
    n_single = QUICK_SINGLE if quick else SINGLE
    work = Path(tempfile.mkdtemp(prefix="cunzheng-bench-ingest-"))
    print(f"ingest: {n:,} events per stream, {n_single:,} single posts; work dir {work}",
          flush=True)
    results: dict[str, Any] = {"events_per_stream": n, "batch_size": BATCH,
                               "single_posts": n_single, "work_dir": str(work)}
    results["echo_baseline"] = run_echo(work, n, n_single)
    print("  echo baseline done", flush=True)
    results["raw_sqlite_baseline"] = raw_sqlite(work, n)
    print("  raw SQLite baseline done", flush=True)
    results["sqlite"] = run_ledger("sqlite", None, work, n, n_single, profile)
    print("  SQLite ledger done", flush=True)
    if postgres:
        url = fresh_pg_database()
        if url:
            results["postgresql"] = run_ledger("postgresql", url, work, n, n_single, profile)
            print("  PostgreSQL ledger done", flush=True)

    rows = []
    echo, raw = results["echo_baseline"], results["raw_sqlite_baseline"]
    rows.append(["echo app (baseline)", "batch", echo["batch_lone"]["events_per_s"], "", "",
                 echo["batch_lone"]["batch_latency"]["median_ms"]])
    rows.append(["raw SQLite rows (baseline)", "batch", raw["events_per_s"], "", "", ""])
    for db in ("sqlite", "postgresql"):
        if db not in results:
            continue
        r = results[db]
        for stream in ("batch_lone", "batch_mix"):
            s = r[stream]
            rows.append([f"ledger {db}", stream, s["events_per_s"],
                         s["first_tenth_events_per_s"], s["last_tenth_events_per_s"],
                         s["batch_latency"]["median_ms"]])
    print_table(f"Ingestion via POST /v1/events/batch ({BATCH} events per request, events/s)",
                ["server", "stream", "sustained", "first 10%", "last 10%", "median ms/req"], rows)
    rows = [["echo app (baseline)", echo["single"]["events_per_s"],
             echo["single"]["latency"]["median_ms"], echo["single"]["latency"]["p99_ms"]]]
    for db in ("sqlite", "postgresql"):
        if db in results:
            s = results[db]["single"]
            rows.append([f"ledger {db}", s["events_per_s"], s["latency"]["median_ms"],
                         s["latency"]["p99_ms"]])
    print_table("Single events via POST /v1/events (one request per event)",
                ["server", "events/s", "median ms", "p99 ms"], rows)
    sustained = results["sqlite"]["batch_lone"]["events_per_s"]
    results["target"] = f"at least {TARGET_EVENTS_PER_S} events/s sustained on SQLite (batch API)"
    results["meets_target"] = sustained >= TARGET_EVENTS_PER_S
    save("ingest", quick, results)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--profile", action="store_true",
                        help="sample the SQLite/PostgreSQL server with py-spy during the lone "
                             "batch run")
    args = parser.parse_args()
    run(args.quick, not args.no_postgres, args.profile)


if __name__ == "__main__":
    main()
