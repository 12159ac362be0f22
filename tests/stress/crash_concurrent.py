"""Crash drill under concurrent single events, with group commit on: `cunzheng serve`
(anchoring off; SQLite, or PostgreSQL with `--workers N`) is killed with SIGKILL, the whole
process group at once, while `clients` threads post single events as fast as they are
answered, so the kills land inside shared commits.

After every restart: every acknowledged event (a 2xx receipt) is there with the same leaf
index and leaf hash (a sample also reads back with the same receipt), and leaf indices are
contiguous. At the end `cunzheng fsck` is clean on what one more SIGKILL leaves.

    .venv/bin/python -m tests.stress.crash_concurrent --kills 10 --clients 32 --seconds 60
    .venv/bin/python -m tests.stress.crash_concurrent \
        --database-url postgresql+psycopg://... --workers 2
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tests.integration.chain_nodes import free_port
from tests.stress.crash_test import READ_BACK, CrashReport
from tests.stress.harness import Api, Load, Serve, check_log, create_key, run_fsck, stress_env


def run(kills: int, clients: int, seconds: float, workdir: Path, *,
        database_url: str | None = None, workers: int = 1, seed: int | None = None,
        say: Callable[[str], None] = print) -> CrashReport:
    seed = random.randrange(2**32) if seed is None else seed
    rnd = random.Random(seed)
    say(f"concurrent crash drill: {kills} kills, {clients} clients, {seconds:g} s, "
        f"{workers} worker(s), {'PostgreSQL' if database_url else 'SQLite'}, seed {seed}")
    extra = {"CUNZHENG_ANCHOR_ENABLED": "false"}
    if database_url:
        extra["CUNZHENG_DATABASE_URL"] = database_url
    env = stress_env(workdir / "data", **extra)
    lender, auditor = create_key(env, "lender", "bank-a"), create_key(env, "auditor")
    serve = Serve(env, free_port(), ("--workers", str(workers)) if workers > 1 else ())
    api = Api(serve.url, lender, auditor)
    report = CrashReport()
    load = Load(serve.url, lender, rate=1e9, prefix="cc", workers=clients, seed=seed,
                single_share=1.0)
    verified: set[str] = set()
    try:
        serve.start()
        key_name, public_key = api.log_key()
        load.start()
        segment = seconds / (kills + 1)
        for k in range(kills):
            time.sleep(rnd.uniform(0.5, 1.5) * segment)
            serve.kill9_group()
            report.kills += 1
            acked = load.snapshot()
            report.restart_seconds.append(serve.start())
            fresh = set(acked) - verified
            sample = set(rnd.sample(sorted(fresh), min(READ_BACK, len(fresh))))
            violations, size = check_log(api, acked, key_name=key_name, public_key=public_key,
                                         full_reads=sample.__contains__)
            verified |= fresh
            report.violations += [f"after kill {k + 1}: {v}" for v in violations]
            say(f"kill {k + 1}/{kills}: restarted in {report.restart_seconds[-1]:.1f} s; "
                f"{len(acked)} acknowledged, tree size {size}, {len(violations)} violation(s)")
        time.sleep(max(1.0, segment))
        load.stop()
        acked = load.snapshot()
        sample = set(rnd.sample(sorted(acked), min(4 * READ_BACK, len(acked))))
        violations, report.tree_size = check_log(api, acked, key_name=key_name,
                                                 public_key=public_key,
                                                 full_reads=sample.__contains__)
        report.violations += [f"final: {v}" for v in violations]
        report.events_acknowledged = len(acked)
        report.violations += [f"load: {r}" for r in load.stats.refused]
        report.requests = load.stats.requests
        report.unanswered_requests = load.stats.indeterminate
        report.retried_requests = load.stats.retried
        serve.kill9_group()  # fsck reads what a crash leaves behind
        report.fsck_ok, out = run_fsck(env)
        if not report.fsck_ok:
            report.violations.append(f"fsck: {out}")
    except Exception as exc:  # noqa: BLE001 - a drill that breaks reports why
        report.violations.append(f"drill stopped: {type(exc).__name__}: {exc}\n{serve.tail()}")
    finally:
        load.stop()
        serve.cleanup()
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.stress.crash_concurrent",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cunzheng-crash-cc-") as tmp:
        report = run(args.kills, args.clients, args.seconds, Path(tmp),
                     database_url=args.database_url, workers=args.workers, seed=args.seed)
    print(report.summary())
    return 1 if report.violations else 0


if __name__ == "__main__":
    sys.exit(main())
