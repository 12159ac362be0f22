"""What the loan index costs (issue 13): ingestion with the index on against off, and the
time of a loan index proof.

Run: `.venv/bin/python -m bench.loan_index [--quick] [--loans N] [--prefill N] [--group G]`.

Two fresh SQLite files in one work directory, the real `LogStore.append_group` (one
transaction per group of G single-event batches, as the sequencer commits them): `on`
keeps the loan index (`LogStore(engine)`), `off` is the baseline in the same run
(`LogStore(engine, loan_index=False)`), both prefilled with the same number of events over
the same number of loans (untimed), then timed in alternating rounds on new events of
random loans. Then `loan_index_proof` for random loans at the newest size of `on`: median
and p90. Target (issue 13): ingestion with the index within 20% of without; proofs under
2 ms median at 1M leaves and 100k loans (`--prefill 1000000 --loans 100000`, about ten
minutes to build on a 2-core machine).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from anchoring.store import LogStore, Pending
from bench.common import print_table, save
from cunzheng_verify.records import build_record, posted_hash
from service.db import make_engine, migrate
from tests.conftest import make_event

NOW = datetime(2026, 3, 2, tzinfo=UTC)


def _groups(rng: random.Random, prefix: str, count: int, group: int,
            loans: int) -> list[list[tuple[list[Pending], None]]]:
    out = []
    for g in range(count // group):
        batch = []
        for i in range(group):
            ev = make_event(f"{prefix}-{g}-{i}", f"L-{rng.randrange(loans)}")
            record = build_record(ev, tenant="bank-a", received_at=NOW, salt=os.urandom(32))
            batch.append(([Pending("bank-a", posted_hash(ev), record)], None))
        out.append(batch)
    return out


def _store(path: Path, index: bool) -> LogStore:
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    return LogStore(engine, loan_index=index)


def run(*, loans: int, prefill: int, group: int, per_round: int, rounds: int,
        proofs: int) -> dict[str, Any]:
    rng = random.Random(13)
    work = Path(tempfile.mkdtemp(prefix="cunzheng-bench-index-"))
    stores = {"on": _store(work / "on.db", True), "off": _store(work / "off.db", False)}
    fill = _groups(rng, "fill", prefill, 500, loans)
    for mode, store in stores.items():  # the same events in both, untimed
        for batch in fill:
            store.append_group(batch)
        print(f"prefilled {mode}: {prefill} events over {loans} loans")
    rates: dict[str, list[float]] = {"on": [], "off": []}
    for r in range(rounds):
        for mode in ("off", "on") if r % 2 == 0 else ("on", "off"):
            batches = _groups(rng, f"r{r}-{mode}", per_round, group, loans)
            started = time.perf_counter()
            for batch in batches:
                stores[mode].append_group(batch)
            rates[mode].append(len(batches) * group / (time.perf_counter() - started))
    on = stores["on"]
    size = on.tree_size()
    times = []
    for _ in range(proofs):
        loan = f"L-{rng.randrange(loans)}"
        started = time.perf_counter()
        on.loan_index_proof("bank-a", loan, size)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    on_rate, off_rate = statistics.median(rates["on"]), statistics.median(rates["off"])
    return {
        "loans": loans, "prefill": prefill, "group": group, "per_round": per_round,
        "rounds": rounds, "tree_size": size,
        "events_per_s_off": round(off_rate), "events_per_s_on": round(on_rate),
        "index_cost_percent": round(100 * (1 - on_rate / off_rate), 1),
        "proof_ms_median": round(statistics.median(times), 3),
        "proof_ms_p90": round(times[int(len(times) * 0.9)], 3), "proofs": proofs,
        "work_dir": str(work),
    }


def main_figures(quick: bool, loans: int | None = None, prefill: int | None = None,
                 group: int = 16) -> dict[str, Any]:
    """Run at the default sizes (or those given), print and save the figures."""
    figures = run(loans=loans or (2_000 if quick else 20_000),
                  prefill=prefill if prefill is not None else (10_000 if quick else 100_000),
                  group=group, per_round=2_000 if quick else 8_000, rounds=4 if quick else 6,
                  proofs=200 if quick else 1_000)
    print_table("loan index: ingestion (events/s, LogStore.append_group) and proofs",
                ["measure", "value"], [[k, v] for k, v in figures.items()])
    print(f"target: cost within 20% (measured {figures['index_cost_percent']}%); "
          f"proofs under 2 ms median (measured {figures['proof_ms_median']} ms)")
    print(save("loan_index", quick, figures))
    return figures


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--loans", type=int)
    p.add_argument("--prefill", type=int)
    p.add_argument("--group", type=int, default=16)
    args = p.parse_args()
    main_figures(args.quick, args.loans, args.prefill, args.group)


if __name__ == "__main__":
    main()
