"""Verification requests per second through the API, and the service's memory, on a big log.

Run: `.venv/bin/python -m bench.serve_api [--quick] [--leaves N] [--clients C]`.

Serves the cached log of `bench.proofs` (1M leaves; 100k with --quick; built first if it is
not there) with `cunzheng serve` as a subprocess (anchoring off, so no chain: answers are
`logged-not-yet-anchored` with an inclusion proof to the latest signed checkpoint, which the
service signs at start-up). A verifier key and an auditor key come from `cunzheng keys
create`. `CLIENTS` concurrent clients (asyncio, one keep-alive httpx connection each) send
requests for `SECONDS` per route, each for a random leaf:

- `GET /v1/verify/record/{leaf_hash}` (verifier key): leaf by hash, anchor and checkpoint
  lookups, inclusion proof, one access-log row written;
- `GET /v1/verify/evidence?evidence_id=<origin>#<index>` (verifier key): the same by index;
- `GET /v1/log/proofs/inclusion?leaf_index=` (auditor key): a bare inclusion proof.

Baselines in the same run, same clients, same server: `GET /healthz` (no key, the HTTP and
client ceiling) and `GET /v1/log/key` (key checked, nothing else: the auth floor).

Memory: resident set size (VmRSS, and the peak VmHWM) of the service process (and any
children) after start-up, after the verification runs, and after `PROOF_REQUESTS` more
inclusion-proof requests.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common import latency_stats, print_table, save
from bench.ingest import free_port, ledger_env, server

CLIENTS = 8
SECONDS = 15.0
QUICK_SECONDS = 4.0
PROOF_REQUESTS = 3_000
QUICK_PROOF_REQUESTS = 1_000
SAMPLE_LEAVES = 5_000
BIN = Path(sys.executable).parent


def _key(env: dict[str, str], role: str) -> str:
    import subprocess

    args = [str(BIN / "cunzheng"), "keys", "create", "--role", role, "--label", "bench"]
    if role == "lender":
        args += ["--tenant", "bank-a"]
    out = subprocess.run(args, env=env, capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()[-1]


def _rss_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (KiB) of pid plus its children."""
    pids = [pid]
    try:
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            pids.append(int(child))
    except OSError:
        pass
    total = {"rss_kib": 0, "hwm_kib": 0, "processes": len(pids)}
    for p in pids:
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total["rss_kib"] += int(line.split()[1])
            elif line.startswith("VmHWM:"):
                total["hwm_kib"] += int(line.split()[1])
    return total


def _sample_leaves(db: Path, size: int, n: int) -> list[tuple[int, str]]:
    rng = random.Random(7)
    idx = sorted({rng.randrange(size) for _ in range(n)})
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        out = []
        for i in idx:
            (h,) = con.execute("SELECT leaf_hash FROM leaves WHERE leaf_index = ?", (i,)).fetchone()
            out.append((i, bytes(h).hex()))
    finally:
        con.close()
    rng.shuffle(out)
    return out


async def _load(base: str, headers: dict[str, str], paths: list[str], clients: int,
                seconds: float | None, total: int | None = None) -> dict[str, Any]:
    """`clients` tasks cycling through `paths` until `seconds` pass (or `total` are sent)."""
    lat: list[float] = []
    errors: dict[int, int] = {}
    counter = iter(range(10**12))
    stop = time.perf_counter() + (seconds or 1e9)

    async def one(c: int) -> None:
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as client:
            while time.perf_counter() < stop:
                k = next(counter)
                if total is not None and k >= total:
                    return
                t = time.perf_counter()
                r = await client.get(paths[k % len(paths)])
                lat.append(time.perf_counter() - t)
                if r.status_code != 200:
                    errors[r.status_code] = errors.get(r.status_code, 0) + 1
                    if errors[r.status_code] == 1:
                        print(f"  {r.status_code} on {paths[k % len(paths)][:80]}: "
                              f"{r.text[:300]}", flush=True)

    t0 = time.perf_counter()
    await asyncio.gather(*(one(c) for c in range(clients)))
    el = time.perf_counter() - t0
    return {"requests": len(lat), "seconds": round(el, 2),
            "requests_per_s": round(len(lat) / el, 1), "errors": errors,
            "latency": latency_stats(lat)}


def run(quick: bool = False, leaves: int | None = None, clients: int = CLIENTS) -> dict[str, Any]:
    from bench import proofs

    n = leaves or (100_000 if quick else 1_000_000)
    seconds = QUICK_SECONDS if quick else SECONDS
    n_proofs = QUICK_PROOF_REQUESTS if quick else PROOF_REQUESTS
    engine, store, db = proofs.open_log(n)
    size = store.tree_size()
    if size < n:
        print(f"building a log of {n:,} leaves first", flush=True)
        proofs.build(store, n)
        size = store.tree_size()
    engine.dispose()
    sample = _sample_leaves(db, size, SAMPLE_LEAVES if not quick else 1_000)

    data_dir = proofs.log_dir(n)
    env = ledger_env(data_dir, None)
    env["CUNZHENG_ANCHOR_ENABLED"] = "false"
    keys = {role: _key(env, role) for role in ("verifier", "auditor")}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    work = Path(tempfile.mkdtemp(prefix="cunzheng-bench-serve-"))
    argv = [str(BIN / "cunzheng"), "serve", "--port", str(port)]
    figures: dict[str, Any] = {"tree_size": size, "clients": clients, "seconds_per_route": seconds,
                               "database": str(db), "anchoring": "off (no chain)"}
    with server(argv, port, env, work / "serve.log") as proc:
        memory = {"after_start": _rss_kib(proc.pid)}
        verifier = {"authorization": f"Bearer {keys['verifier']}"}
        auditor = {"authorization": f"Bearer {keys['auditor']}"}
        origin = httpx.get(f"{base}/v1/log/key", headers=verifier).json()["origin"]
        deadline = time.monotonic() + 60
        while True:  # the publisher signs a checkpoint of the whole log after start-up
            r = httpx.get(f"{base}/v1/log/checkpoint", headers=auditor)
            if r.status_code == 200 and r.json()["tree_size"] == size:
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"no checkpoint of size {size} after 60 s: {r.text[:300]}")
            time.sleep(0.5)
        memory["after_checkpoint"] = _rss_kib(proc.pid)
        from urllib.parse import quote

        routes = {
            "healthz (baseline, no key)": ({}, ["/healthz"]),
            "log key (baseline, auth only)": (verifier, ["/v1/log/key"]),
            "verify record by leaf hash": (verifier, [f"/v1/verify/record/{h}" for _, h in sample]),
            "verify evidence id": (verifier, [f"/v1/verify/evidence?evidence_id="
                                              f"{quote(f'{origin}#{i}', safe='')}"
                                              for i, _ in sample]),
            "inclusion proof (auditor)": (auditor, [f"/v1/log/proofs/inclusion?leaf_index={i}"
                                                    for i, _ in sample]),
        }
        results: dict[str, Any] = {}
        for name, (headers, paths) in routes.items():
            asyncio.run(_load(base, headers, paths[:50], clients, 1.0))  # warm-up
            results[name] = asyncio.run(_load(base, headers, paths, clients, seconds))
            print(f"  {name}: {results[name]['requests_per_s']:,} req/s", flush=True)
        memory["after_verification_runs"] = _rss_kib(proc.pid)
        proof_paths = [f"/v1/log/proofs/inclusion?leaf_index={i}" for i, _ in reversed(sample)]
        results["proof requests for memory"] = asyncio.run(
            _load(base, auditor, proof_paths, clients, None, total=n_proofs))
        memory["after_proof_requests"] = _rss_kib(proc.pid)
        figures["proof_requests_before_last_rss"] = n_proofs
    served = sum(r["requests"] for r in results.values())
    figures.update({"routes": results, "memory": memory, "requests_served": served,
                    "server_log": str(work / "serve.log")})
    rows = [[name, r["requests"], r["requests_per_s"], r["latency"]["median_ms"],
             r["latency"]["p99_ms"], sum(r["errors"].values())] for name, r in results.items()]
    print_table(f"API on a log of {size:,} leaves, {clients} concurrent clients",
                ["route", "requests", "req/s", "median ms", "p99 ms", "errors"], rows)
    print_table("Service memory (MiB)", ["when", "RSS", "peak RSS"],
                [[k, v["rss_kib"] / 1024, v["hwm_kib"] / 1024] for k, v in memory.items()])
    save("serve_api" if n in (1_000_000, 100_000) else f"serve_api_{n}", quick, figures)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--leaves", type=int)
    parser.add_argument("--clients", type=int, default=CLIENTS)
    args = parser.parse_args()
    run(args.quick, args.leaves, args.clients)


if __name__ == "__main__":
    main()

