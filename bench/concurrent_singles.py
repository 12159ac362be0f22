"""Concurrent single events through the real API (issue 17): many clients, each posting one
event per request (`POST /v1/events`), as lending services do.

Run: `.venv/bin/python -m bench.concurrent_singles [--quick] [--no-postgres] [--profile]`.

For each database, a fresh data directory, a lender key and `cunzheng serve` as a
subprocess (anchoring off): SQLite with one process and with `--workers 2`, PostgreSQL (own
database `cunzheng_bench`, recreated) with `--workers 2`. Each client count (1, 16, 32) posts
new `lone` credit decisions (built from one serialised event, ids numbered) for `SECONDS`;
figures: events/s, median, p99 and max latency, and the answers that were not 201.

Also in process (no HTTP): `EvidenceLog.submit` from 1 and 32 threads on a SQLite file with
group commit off (each call its own transaction, as before issue 17) and on.

Baseline in the same run: the same requests to the bare FastAPI echo app on the same uvicorn
(`bench/echo_app.py`: reads and parses the body, answers a small JSON), at the same client
counts: the HTTP ceiling of this machine and this client.

The client is this process: asyncio, one keep-alive HTTP/1.1 connection per client, requests
pre-serialised, responses read by Content-Length (no HTTP library), so the client's own CPU
is small next to the server's; both share the machine's cores. With `--profile`, py-spy
samples the SQLite server during the 32-client run (raw stacks in the work directory).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import streams
from bench.common import latency_stats, print_table, save
from bench.ingest import (
    BIN,
    _start_pyspy,
    _stop_pyspy,
    free_port,
    fresh_pg_database,
    ledger_env,
    lender_key,
    server,
)

CLIENTS = (1, 16, 32)
SECONDS = 20.0
QUICK_SECONDS = 6.0
WARMUP_SECONDS = 2.0
TARGETS = {"sqlite": 3000, "postgresql": 2500}  # events/s at 32 clients (issue 17)
TARGET_P99_MS = 50.0  # SQLite, 32 clients


class Requests:
    """The i-th request: a new `lone` credit decision (event and loan ids numbered), built
    on demand from one serialised event, so a long run needs no big list in memory."""

    def __init__(self, port: int, key: str, prefix: str) -> None:
        [event] = streams.lone_decisions(1, prefix)
        body = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
        assert body.count("000000000") == 2  # the event id's and the loan id's number
        self._body = body.replace("%", "%%").replace("000000000", "%09d")
        self._head = (f"POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                      f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
                      f"Content-Length: {len(body.encode())}\r\n\r\n").encode()

    def __getitem__(self, i: int) -> bytes:
        return self._head + (self._body % (i, i)).encode()


async def _client(port: int, requests: Requests, lat: list[float], codes: dict[int, int],
                  stop_at: float, counter: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < stop_at:
            k = counter[0]
            counter[0] += 1
            t = time.perf_counter()
            writer.write(requests[k])
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            body = await reader.readexactly(length)
            lat.append(time.perf_counter() - t)
            codes[status] = codes.get(status, 0) + 1
            if status >= 300 and codes[status] == 1:
                print(f"  {status}: {body[:300]!r}", flush=True)
    finally:
        writer.close()


def _load(port: int, requests: Requests, clients: int, seconds: float,
          counter: list[int]) -> dict[str, Any]:
    lat: list[float] = []
    codes: dict[int, int] = {}

    async def go() -> float:
        t0 = time.perf_counter()
        stop_at = t0 + seconds
        await asyncio.gather(*(_client(port, requests, lat, codes, stop_at, counter)
                               for _ in range(clients)))
        return time.perf_counter() - t0

    elapsed = asyncio.run(go())
    ok = codes.get(201, 0)
    return {"clients": clients, "requests": len(lat), "seconds": round(elapsed, 2),
            "events_per_s": round(ok / elapsed), "codes": {str(k): v for k, v in codes.items()},
            "latency": latency_stats(lat)}


def _series(port: int, requests: Requests, seconds: float, counter: list[int],
            on_clients: Any = None) -> dict[str, Any]:
    _load(port, requests, 8, WARMUP_SECONDS, counter)
    out = {}
    for c in CLIENTS:
        hook = on_clients(c) if on_clients else None
        try:
            out[str(c)] = _load(port, requests, c, seconds, counter)
        finally:
            if hook is not None:
                _stop_pyspy(hook)
        r = out[str(c)]
        print(f"    {c:>2} clients: {r['events_per_s']:,} events/s, median "
              f"{r['latency']['median_ms']:.1f} ms, p99 {r['latency']['p99_ms']:.1f} ms",
              flush=True)
    return out


def run_echo(work: Path, seconds: float) -> dict[str, Any]:
    port = free_port()
    argv = [sys.executable, "-m", "uvicorn", "bench.echo_app:app", "--port", str(port),
            "--log-level", "warning", "--no-access-log"]
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    requests = Requests(port, "none", "e")
    with server(argv, port, env, work / "server-echo.log"):
        print("  echo app (baseline)", flush=True)
        return _series(port, requests, seconds, [0])


def run_ledger(label: str, database_url: str | None, workers: int, work: Path,
               seconds: float, profile: bool) -> dict[str, Any]:
    env = ledger_env(work / f"data-{label}", database_url)
    env["CUNZHENG_ANCHOR_ENABLED"] = "false"
    key = lender_key(env)
    port = free_port()
    argv = [str(BIN / "cunzheng"), "serve", "--port", str(port)]
    if workers > 1:
        argv += ["--workers", str(workers)]
    requests = Requests(port, key, f"{label}-c")
    with server(argv, port, env, work / f"server-{label}.log") as proc:
        print(f"  ledger {label} ({workers} process{'es' if workers > 1 else ''})", flush=True)

        def pyspy(clients: int) -> Any:
            if profile and clients == CLIENTS[-1]:
                return _start_pyspy(proc.pid, work / f"pyspy-{label}-{clients}.txt")
            return None

        out = _series(port, requests, seconds, [0], pyspy)
    return {"workers": workers, "runs": out}


def in_process(work: Path, seconds: float) -> dict[str, Any]:
    """`EvidenceLog.submit` of single events from 1 and 32 threads on a SQLite file, with
    group commit off (each call its own transaction) and on: the sequencer's own effect,
    without HTTP."""
    import statistics
    import threading

    from service.context import build_context
    from service.settings import Settings

    def client(submit: Any, template: dict[str, Any], prefix: str, counter: Any,
               stop_at: float, lat: list[float]) -> None:
        while time.perf_counter() < stop_at:
            i = next(counter)
            event = {**template, "event_id": f"{prefix}-{i}", "loan_id": f"L-{prefix}-{i}"}
            t = time.perf_counter()
            submit("bank-a", [event])
            lat.append(time.perf_counter() - t)

    out: dict[str, Any] = {}
    for mode in ("off", "on"):
        ctx = build_context(Settings(data_dir=work / f"inproc-{mode}", anchor_enabled=False))
        if mode == "on":
            ctx.log.start_group_commit()
        [template] = streams.lone_decisions(1, f"ip-{mode}")
        counter = iter(range(10**9))
        for clients in (1, CLIENTS[-1]):
            lat: list[float] = []
            stop_at = time.perf_counter() + seconds
            threads = [threading.Thread(target=client, args=(
                ctx.log.submit, template, f"ip-{mode}", counter, stop_at, lat))
                for _ in range(clients)]
            t0 = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            elapsed = time.perf_counter() - t0
            out[f"{mode}_{clients}"] = {"group_commit": mode, "clients": clients,
                                        "events_per_s": round(len(lat) / elapsed),
                                        "latency": latency_stats(lat)}
            r = out[f"{mode}_{clients}"]
            print(f"    group commit {mode}, {clients:>2} threads: {r['events_per_s']:,} events/s, "
                  f"median {statistics.median(lat) * 1000:.1f} ms, p99 "
                  f"{r['latency']['p99_ms']:.1f} ms", flush=True)
        if mode == "on" and ctx.log._sequencer is not None:
            seq = ctx.log._sequencer
            out["on_batches_per_group"] = round(seq.batches / max(1, seq.groups), 1)
        ctx.log.stop_group_commit()
        ctx.engine.dispose()
    return out


def run(quick: bool = False, postgres: bool = True, profile: bool = False) -> dict[str, Any]:
    seconds = QUICK_SECONDS if quick else SECONDS
    work = Path(tempfile.mkdtemp(prefix="cunzheng-bench-concurrent-"))
    print(f"concurrent singles: {CLIENTS} clients, {seconds:g} s each; work dir {work}", flush=True)
    results: dict[str, Any] = {"clients": list(CLIENTS), "seconds_per_run": seconds,
                               "work_dir": str(work), "anchoring": "off"}
    print("  in process, SQLite, no HTTP", flush=True)
    results["in_process_sqlite"] = in_process(work, seconds / 2)
    results["echo_baseline"] = run_echo(work, seconds)
    results["sqlite"] = run_ledger("sqlite", None, 1, work, seconds, profile)
    # the service is bound by one interpreter's lock: two processes, each its own sequencer,
    # share the SQLite write lock
    results["sqlite_workers2"] = run_ledger("sqlite-w2", None, 2, work, seconds, False)
    if postgres:
        url = fresh_pg_database()
        if url:
            results["postgresql"] = run_ledger("postgresql", url, 2, work, seconds, False)
    rows = []
    for name, runs in [("echo app (baseline)", results["echo_baseline"])] + [
            (f"ledger {db.split('_')[0]} ({results[db]['workers']} proc)", results[db]["runs"])
            for db in ("sqlite", "sqlite_workers2", "postgresql") if db in results]:
        for c, r in runs.items():
            rows.append([name, int(c), r["events_per_s"], r["latency"]["median_ms"],
                         r["latency"]["p99_ms"], r["latency"]["max_ms"],
                         sum(v for k, v in r["codes"].items() if k != "201")])
    print_table("EvidenceLog.submit in process (SQLite, no HTTP), group commit off and on",
                ["group commit", "threads", "events/s", "median ms", "p99 ms"],
                [[r["group_commit"], r["clients"], r["events_per_s"], r["latency"]["median_ms"],
                  r["latency"]["p99_ms"]] for k, r in results["in_process_sqlite"].items()
                 if isinstance(r, dict)])
    print_table("Single events via POST /v1/events, concurrent clients",
                ["server", "clients", "events/s", "median ms", "p99 ms", "max ms", "not 201"],
                rows)
    top = str(CLIENTS[-1])
    met = {}
    for db, target in TARGETS.items():
        if db in results:
            r = results[db]["runs"][top]
            met[db] = r["events_per_s"] >= target and (
                db != "sqlite" or r["latency"]["p99_ms"] < TARGET_P99_MS)
    results["targets"] = {"sqlite": f">= {TARGETS['sqlite']} events/s and p99 < "
                          f"{TARGET_P99_MS:g} ms at {top} clients",
                          "postgresql": f">= {TARGETS['postgresql']} events/s at {top} clients, "
                          f"--workers 2"}
    results["meets_targets"] = met
    save("concurrent_singles", quick, results)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--profile", action="store_true",
                        help="py-spy the SQLite server during the 32-client run")
    args = parser.parse_args()
    run(args.quick, not args.no_postgres, args.profile)


if __name__ == "__main__":
    main()
