"""Where a batch's time goes on the server: the work behind `POST /v1/events/batch`,
in process, under cProfile.

Run: `.venv/bin/python -m bench.ingest_profile [--quick]`.

Builds the service's real context (`service.context.build_context`, SQLite in a fresh
/tmp data dir) and does, per batch of 1000 lone credit decisions, what the route does:
`parse_json` of the body, `EvidenceLog.submit`, and the JSON response. The FastAPI and
uvicorn layers are not in it (compare `bench.ingest`'s echo baseline for them). Reports the
share of the time spent in each step the server path is made of, measured as cumulative
time of the named functions, and the top functions by own time. Then, without the
profiler, times each step alone over the same 1000 events (real microseconds per event).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from anchoring.store import Accepted, Pending
from bench import streams
from bench.common import print_table, save
from cunzheng_verify.records import (
    build_record,
    canonical,
    parse_json,
    posted_hash,
    record_from_bytes,
)
from service.context import build_context
from service.lending import lending_policy, validate_event
from service.settings import Settings

BATCHES = 20
QUICK_BATCHES = 5
BATCH = 1000

# (label, file suffix, function name): the steps of the batch path
STEPS = [
    ("parse_json (whole body)", "verifier/cunzheng_verify/records.py", "parse_json"),
    ("  _check_shape (linear pre-check)", "verifier/cunzheng_verify/records.py", "_check_shape"),
    ("build_record", "verifier/cunzheng_verify/records.py", "build_record"),
    ("  record_from_bytes (re-parse)", "verifier/cunzheng_verify/records.py", "record_from_bytes"),
    ("  canonical (rfc8785)", "verifier/cunzheng_verify/records.py", "canonical"),
    ("validate_event (pydantic)", "service/lending.py", "validate_event"),
    ("posted_hash", "verifier/cunzheng_verify/records.py", "posted_hash"),
    ("LogStore.append", "anchoring/store.py", "append"),
    ("  _existing (duplicate check)", "anchoring/store.py", "_existing"),
    ("  _check_loans (state machine)", "anchoring/store.py", "_check_loans"),
    ("  Frontier / _reader", "anchoring/store.py", "_reader"),
    ("receipt (Ed25519 sign)", "anchoring/log.py", "receipt"),
]


def direct_timings(ctx: Any, body: bytes) -> dict[str, float]:
    events = json.loads(body)["events"]
    k = len(events)
    now = datetime.now(UTC)
    out: dict[str, float] = {}

    def per_event(label: str, fn: Any) -> Any:
        t = time.perf_counter()
        result = fn()
        out[label] = round((time.perf_counter() - t) / k * 1e6, 1)
        return result

    per_event("parse_json (share of the body)",
              lambda: parse_json(body, max_bytes=ctx.settings.max_body_bytes))
    per_event("json.loads (same body, baseline)", lambda: json.loads(body))
    recs = per_event("build_record", lambda: [
        build_record(e, tenant="bank-a", received_at=now, salt=os.urandom(32)) for e in events])
    contents = [r.content for r in recs]
    per_event("  canonical(content) once", lambda: [canonical(c) for c in contents])
    per_event("  json.dumps(sort_keys) (baseline)",
              lambda: [json.dumps(c, sort_keys=True, ensure_ascii=False) for c in contents])
    per_event("  record_from_bytes", lambda: [record_from_bytes(r.data) for r in recs])
    per_event("validate_event", lambda: [validate_event(e) for e in events])
    per_event("posted_hash", lambda: [posted_hash(e) for e in events])
    per_event("lending_policy (lone decision)", lambda: [lending_policy([], [r]) for r in recs])
    acc = [Accepted(i, r.leaf_hash, r.received_at, False) for i, r in enumerate(recs)]
    per_event("receipt (sign_receipt)", lambda: [ctx.log.receipt(a) for a in acc])
    pend = [Pending("bank-a", posted_hash(e), r) for e, r in zip(events, recs, strict=True)]
    fresh = [Pending(p.tenant, p.posted_hash, record_from_bytes(
        p.record.data.replace(b'"p-', b'"q-'))) for p in pend]
    per_event("LogStore.append (with lending_policy)",
              lambda: ctx.store.append(fresh, lending_policy))
    return out


def run(quick: bool = False) -> dict[str, Any]:
    n_batches = QUICK_BATCHES if quick else BATCHES
    work = Path(tempfile.mkdtemp(prefix="cunzheng-bench-profile-"))
    ctx = build_context(Settings(data_dir=work))
    events = streams.lone_decisions(n_batches * BATCH, prefix="p")
    payloads = [json.dumps({"events": events[i:i + BATCH]}).encode()
                for i in range(0, len(events), BATCH)]

    def one(body: bytes) -> bytes:
        parsed = parse_json(body, max_bytes=ctx.settings.max_body_bytes)
        done = ctx.log.submit("bank-a", parsed["events"])
        return json.dumps({"receipts": [{**d.receipt, "replay": d.replay} for d in done]}).encode()

    one(payloads[0])  # warm imports and caches, outside the profile
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    for body in payloads[1:]:
        one(body)
    prof.disable()
    wall = time.perf_counter() - t0
    n = (len(payloads) - 1) * BATCH
    stats = pstats.Stats(prof)
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in raw.values())  # own time of everything = profiled total

    def cum(suffix: str, name: str) -> float:
        return sum(v[3] for (f, _, fn), v in raw.items() if f.endswith(suffix) and fn == name)

    steps = []
    profiled_total = max(cum("bench/ingest_profile.py", "one"), 1e-9)
    for label, suffix, name in STEPS:
        t = cum(suffix, name)
        steps.append({"step": label.strip(), "seconds": round(t, 3),
                      "share": round(t / profiled_total, 3),
                      "us_per_event": round(t / n * 1e6, 1)})
    top = sorted(raw.items(), key=lambda kv: kv[1][2], reverse=True)[:15]
    own = [{"function": f"{Path(f).name}:{line}:{fn}", "own_s": round(v[2], 3),
            "calls": v[1]} for (f, line, fn), v in top]
    print_table(f"Server batch path under cProfile: {n:,} events, {wall:.1f} s wall "
                f"({n / wall:,.0f} events/s with profiling on)",
                ["step (cumulative)", "seconds", "share", "us/event"],
                [[label, s["seconds"], f"{s['share'] * 100:.0f}%", s["us_per_event"]]
                 for (label, _, _), s in zip(STEPS, steps, strict=True)])
    print_table("Top functions by own time", ["function", "own s", "calls"],
                [[o["function"], o["own_s"], o["calls"]] for o in own])
    direct = direct_timings(ctx, payloads[-1])
    print_table("Each step alone, no profiler (1000 events)", ["step", "us/event"],
                [[k, v] for k, v in direct.items()])
    figures = {"direct_us_per_event": direct, "events": n, "batch": BATCH,
               "wall_s_with_profiler": round(wall, 2),
               "profiled_total_s": round(total, 2), "steps": steps, "top_own_time": own,
               "note": "cProfile inflates Python-heavy code; read shares, not absolute rates"}
    ctx.engine.dispose()
    save("ingest_profile", quick, figures)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    run(parser.parse_args().quick)


if __name__ == "__main__":
    main()
