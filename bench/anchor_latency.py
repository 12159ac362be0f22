"""Event-to-finality latency and events per anchoring transaction under a steady load.

Starts `cunzheng serve` on a fresh data directory with its embedded devnet (a separate
process), posts events at a steady rate through the batch API, and polls the anchors the
service reports. For each event: latency = the moment its covering anchor was first seen
final − the moment the event was acknowledged. Baseline in the same run: the gas of one
anchoring transaction per event (from the measured gas of `anchor`) against the gas per
event of the batching the job actually did.

    .venv/bin/python -m bench.anchor_latency [--seconds 60] [--rate 100] [--interval 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
CLI = [sys.executable, "-m", "service.cli"]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _event(i: int) -> dict:
    from lending_core.events import example_payload

    return {"event_id": f"b-{i}", "loan_id": f"BL-{i}", "type": "credit_decision",
            "occurred_at": "2026-03-02T09:30:00+08:00",
            "payload": example_payload("credit_decision"),
            "source": {"system": "bench", "ref": str(i)}}


def run(seconds: float, rate: float, interval: float, confirmations: int, batch: int) -> dict:
    data = Path(tempfile.mkdtemp(prefix="cz-anchor-bench-"))
    port, devnet_port = _free_port(), _free_port()
    env = {**os.environ, "CUNZHENG_DATA_DIR": str(data), "CUNZHENG_DEVNET_PORT": str(devnet_port),
           "CUNZHENG_ANCHOR_INTERVAL": str(interval),
           "CUNZHENG_ANCHOR_CONFIRMATIONS": str(confirmations),
           "CUNZHENG_DEVNET_BLOCK_TIME": "1"}
    keys = {}
    for role, tenant in (("lender", "bank-a"), ("auditor", None)):
        args = ["keys", "create", "--role", role] + (["--tenant", tenant] if tenant else [])
        keys[role] = subprocess.run([*CLI, *args], env=env, cwd=REPO, check=True,
                                    capture_output=True, text=True).stdout.strip()
    log = open(data / "serve.log", "wb")  # noqa: SIM115 - the child process writes it
    proc = subprocess.Popen([*CLI, "serve", "--port", str(port)], env=env, cwd=REPO,
                            stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    client = httpx.Client(timeout=60)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if client.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("service did not start")
            time.sleep(0.2)
        lender = {"Authorization": f"Bearer {keys['lender']}"}
        auditor = {"Authorization": f"Bearer {keys['auditor']}"}
        accepted: dict[int, float] = {}
        final_seen: dict[int, float] = {}
        anchors: dict[int, dict] = {}
        stop = threading.Event()

        def watch() -> None:
            while not stop.is_set():
                try:
                    rows = client.get(f"{base}/v1/log/anchors?limit=500",
                                      headers=auditor).json()["anchors"]
                except httpx.HTTPError:
                    continue
                now = time.monotonic()
                for a in rows:
                    anchors[a["tree_size"]] = a
                    if a["status"] == "final" and a["tree_size"] not in final_seen:
                        final_seen[a["tree_size"]] = now
                time.sleep(0.1)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        i, t0 = 0, time.monotonic()
        while time.monotonic() - t0 < seconds:
            due = int((time.monotonic() - t0) * rate)
            if due - i >= batch or (due > i and time.monotonic() - t0 >= seconds - 0.5):
                n = min(due - i, 1000)
                r = client.post(f"{base}/v1/events/batch", headers=lender,
                                json={"events": [_event(k) for k in range(i, i + n)]})
                r.raise_for_status()
                now = time.monotonic()
                for rec in r.json()["receipts"]:
                    accepted[rec["leaf_index"]] = now
                i += n
            else:
                time.sleep(0.01)
        total = i
        deadline = time.monotonic() + 30 + 4 * interval + 4 * confirmations
        while time.monotonic() < deadline and not any(s >= total for s in final_seen):
            time.sleep(0.2)
        stop.set()
        watcher.join(5)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    sizes = sorted(final_seen)
    latencies = []
    for leaf, at in accepted.items():
        covering = next((s for s in sizes if s > leaf), None)
        if covering is not None:
            latencies.append(final_seen[covering] - at)
    finals = [anchors[s] for s in sizes]
    per_tx = [a["tree_size"] - a["previous_size"] for a in finals]
    gas_file = RESULTS / "gas_anchor.json"
    gas = json.loads(gas_file.read_text()) if gas_file.exists() else None
    latencies.sort()
    return {
        "benchmark": "anchor_latency", "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "params": {"seconds": seconds, "rate_per_s": rate, "anchor_interval_s": interval,
                   "confirmations": confirmations, "devnet_block_time_s": 1, "batch": batch},
        "events": total, "events_with_final_anchor": len(latencies),
        "anchor_transactions": len(finals),
        "events_per_anchor_tx": {"mean": statistics.fmean(per_tx) if per_tx else None,
                                 "min": min(per_tx, default=None),
                                 "max": max(per_tx, default=None)},
        "event_to_final_s": {
            "median": statistics.median(latencies) if latencies else None,
            "p99": latencies[int(0.99 * (len(latencies) - 1))] if latencies else None,
            "max": latencies[-1] if latencies else None},
        "gas_reference": gas,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--rate", type=float, default=100, help="events per second")
    p.add_argument("--interval", type=float, default=2, help="anchoring interval (s)")
    p.add_argument("--confirmations", type=int, default=2)
    p.add_argument("--batch", type=int, default=20)
    args = p.parse_args()
    result = run(args.seconds, args.rate, args.interval, args.confirmations, args.batch)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "anchor_latency.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("events", "anchor_transactions",
                                             "events_per_anchor_tx", "event_to_final_s")},
                                             indent=2))


if __name__ == "__main__":
    main()
