"""Crash drill: `cunzheng serve` (embedded devnet, anchoring every second) is killed with
SIGKILL at random moments while a load generator posts singles and batches, and restarted.

After every restart: every acknowledged event (a 2xx receipt) is still there with the same
leaf index and leaf hash, and reads back with the same receipt; leaf indices are
contiguous; every checkpoint seen before the crash is still served and is extended by the
latest one (consistency proofs checked with cunzheng_verify.merkle). At the end: anchoring has
resumed (a final anchor of the whole log appears), the chain's `Anchored` events have
strictly increasing sizes (none anchored twice), each is the log's root and was recorded
by the service, and `cunzheng fsck` is clean on the data left by one more SIGKILL.

    .venv/bin/python -m tests.stress.crash_test --kills 20 --rate 40 --seconds 300

Prints a summary and exits 1 on any violation. A SIGKILLed serve leaves its devnet child
running (the next serve reuses it): every serve starts in its own session and the drill
ends every group it started.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tests.integration.chain_nodes import free_port
from tests.stress.harness import (
    Api,
    CheckpointWatcher,
    Load,
    Serve,
    chain_anchors,
    check_chain_anchors,
    check_checkpoints,
    check_log,
    create_key,
    final_anchor_of,
    run_fsck,
    stress_env,
    wait_for,
)

READ_BACK = 30
"""Acknowledged events read back one by one after each restart (all are checked by hash)."""
RESUME_TIMEOUT = 150.0
"""Seconds to wait for the final anchor after the last restart: the dead process's
anchoring lease (30 s) must expire first, then a round, two confirmations."""


@dataclass
class CrashReport:
    kills: int = 0
    restart_seconds: list[float] = field(default_factory=list)
    requests: int = 0
    unanswered_requests: int = 0
    retried_requests: int = 0
    events_acknowledged: int = 0
    tree_size: int = 0
    checkpoints_seen: int = 0
    anchors_on_chain: int = 0
    anchored_sizes: list[int] = field(default_factory=list)
    segments_with_new_anchor: int = 0
    resume_seconds_after_last_restart: float | None = None
    fsck_ok: bool | None = None
    violations: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [
            f"kills survived       {self.kills}",
            f"restart (s)          {', '.join(f'{s:.1f}' for s in self.restart_seconds)}",
            (f"requests             {self.requests} ({self.unanswered_requests} unanswered, "
             f"{self.retried_requests} retries)"),
            f"events acknowledged  {self.events_acknowledged} (tree size {self.tree_size})",
            f"checkpoints seen     {self.checkpoints_seen}",
            (f"anchors on chain     {self.anchors_on_chain} (sizes {self.anchored_sizes[:8]}"
             f"{' ...' if len(self.anchored_sizes) > 8 else ''})"),
            f"segments with a new anchor  {self.segments_with_new_anchor} of {self.kills + 1}",
            f"final anchor after last restart  {self.resume_seconds_after_last_restart} s",
            f"fsck                 {'ok' if self.fsck_ok else self.fsck_ok}",
            f"violations           {len(self.violations)}",
        ]
        lines += [f"  - {v}" for v in self.violations[:50]]
        return "\n".join(lines)


def _max_anchored(api: Api) -> int:
    sizes = [a["tree_size"] for a in api.anchors() if a["status"] in ("included", "final")]
    return max(sizes, default=0)


def run(kills: int, rate: float, seconds: float, workdir: Path, *, seed: int | None = None,
        say: Callable[[str], None] = print) -> CrashReport:
    seed = random.randrange(2**32) if seed is None else seed
    rnd = random.Random(seed)
    say(f"crash drill: {kills} kills, ~{rate:g} events/s, {seconds:g} s, seed {seed}, in {workdir}")
    data = workdir / "data"
    devnet_port = free_port()
    env = stress_env(data, CUNZHENG_DEVNET_PORT=str(devnet_port))
    lender, auditor = create_key(env, "lender", "bank-a"), create_key(env, "auditor")
    serve = Serve(env, free_port())
    api = Api(serve.url, lender, auditor)
    report = CrashReport()
    load = Load(serve.url, lender, rate, prefix="crash", seed=seed)
    watcher = CheckpointWatcher(api)
    verified: set[str] = set()
    checked: set[int] = {0}
    try:
        serve.start()
        key_name, public_key = api.log_key()
        load.start()
        watcher.start()
        segment = seconds / (kills + 1)
        began = last_restart = time.monotonic()
        kill_at = began
        anchored_at_restart = 0
        for k in range(kills):
            # kills at random moments of the loaded phase, whatever the checks cost; at least
            # a second of load after each restart
            kill_at += rnd.uniform(0.5, 1.5) * segment
            time.sleep(max(1.0, kill_at - time.monotonic()))
            if _max_anchored(api) > anchored_at_restart:
                report.segments_with_new_anchor += 1
            serve.kill9()
            report.kills += 1
            watcher.poll_once()  # nothing answers; what was seen is what was promised
            acked = load.snapshot()
            report.restart_seconds.append(serve.start())
            last_restart = time.monotonic()
            fresh = set(acked) - verified
            # reading every event back is slow under load: the leaf hashes check them all,
            # a sample is also read back through GET /v1/events/{id}
            sample = set(rnd.sample(sorted(fresh), min(READ_BACK, len(fresh))))
            sample |= set(rnd.sample(sorted(verified), min(READ_BACK // 2, len(verified))))
            violations, size = check_log(api, acked, key_name=key_name, public_key=public_key,
                                         full_reads=sample.__contains__)
            verified |= fresh
            # extension is transitive: the checkpoints new since the last check, and the
            # last one checked, against the latest (all of them again at the end)
            seen = watcher.snapshot()
            recent = {s: v for s, v in seen.items() if s not in checked or s == max(checked)}
            more, _ = check_checkpoints(api, recent, key_name=key_name, public_key=public_key)
            checked |= set(recent)
            violations += more
            for v in violations:
                report.violations.append(f"after kill {k + 1}: {v}")
            anchored_at_restart = _max_anchored(api)
            say(f"kill {k + 1}/{kills}: restarted in {report.restart_seconds[-1]:.1f} s; "
                f"{len(acked)} acknowledged, tree size {size}, anchored up to "
                f"{anchored_at_restart}, {len(violations)} violation(s)")
        time.sleep(max(1.0, began + seconds - time.monotonic()))
        load.stop()
        say(f"load stopped after {time.monotonic() - began:.0f} s; waiting for the final anchor")
        watcher.stop()
        size = api.tree_size()
        wait_for(f"a checkpoint of size {size}",
                 lambda: api.get("/v1/log/checkpoint")["tree_size"] == size, 30)
        watcher.poll_once()
        if _max_anchored(api) > anchored_at_restart:
            report.segments_with_new_anchor += 1
        try:
            wait_for(f"a final anchor of size {size}", lambda: final_anchor_of(api, size),
                     RESUME_TIMEOUT)
            report.resume_seconds_after_last_restart = round(time.monotonic() - last_restart, 1)
        except AssertionError as exc:
            report.violations.append(f"anchoring did not resume: {exc}")
        say(f"final anchor {report.resume_seconds_after_last_restart} s after the last restart")
        acked = load.snapshot()
        final_sample = set(rnd.sample(sorted(acked), min(4 * READ_BACK, len(acked))))
        violations, report.tree_size = check_log(api, acked, key_name=key_name,
                                                 public_key=public_key,
                                                 full_reads=final_sample.__contains__)
        more, _ = check_checkpoints(api, watcher.snapshot(), key_name=key_name,
                                    public_key=public_key)
        events = chain_anchors(f"http://127.0.0.1:{devnet_port}", data / "deployment.json")
        report.violations += [f"final: {v}" for v in violations + more
                              + check_chain_anchors(events, api)]
        report.anchors_on_chain = len(events)
        report.anchored_sizes = [e.tree_size for e in events]
        report.events_acknowledged = len(acked)
        report.checkpoints_seen = len(watcher.snapshot())
        if load.stats.refused:
            report.violations += [f"load: {r}" for r in load.stats.refused]
        report.requests = load.stats.requests
        report.unanswered_requests = load.stats.indeterminate
        report.retried_requests = load.stats.retried
        serve.kill9()  # fsck reads what a crash leaves behind
        report.fsck_ok, out = run_fsck(env)
        if not report.fsck_ok:
            report.violations.append(f"fsck: {out}")
    except Exception as exc:  # noqa: BLE001 - a drill that breaks reports why
        report.violations.append(f"drill stopped: {type(exc).__name__}: {exc}\n{serve.tail()}")
    finally:
        load.stop()
        watcher.stop()
        serve.cleanup()
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.stress.crash_test",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=10, help="SIGKILLs of serve")
    parser.add_argument("--rate", type=float, default=20, help="events per second, about")
    parser.add_argument("--seconds", type=float, default=120, help="length of the loaded phase")
    parser.add_argument("--seed", type=int, default=None, help="random seed (printed)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="keep the data here (default: a temporary directory, removed)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON too")
    args = parser.parse_args(argv)
    # a SIGTERM (a CI timeout) still runs the cleanup of every process the drill started
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
        report = run(args.kills, args.rate, args.seconds, args.workdir, seed=args.seed)
    else:
        with tempfile.TemporaryDirectory(prefix="cunzheng-crash-") as tmp:
            report = run(args.kills, args.rate, args.seconds, Path(tmp), seed=args.seed)
    print(report.summary())
    if args.json:
        out: dict[str, Any] = asdict(report)
        print(json.dumps(out, indent=2))
    return 1 if report.violations else 0


if __name__ == "__main__":
    sys.exit(main())
