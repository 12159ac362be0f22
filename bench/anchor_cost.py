"""Anchoring cost per event and event-to-finality latency: batching against one anchor per event.

Run: `.venv/bin/python -m bench.anchor_cost [--quick] [--reuse]`.

1. Runs `bench.anchor_latency` (the real service and its embedded devnet under a steady
   100 events/s, anchoring every 2 s, 2 confirmations; 60 s, 15 s with --quick) for the
   event-to-finality latency and the events each anchoring transaction covered. With
   --reuse, takes `bench/results/anchor_latency.json` as it is.
2. Measures the gas of `AnchorRegistry.anchor` on eth-tester (as `bench.gas_anchor` does,
   same periodic 2^20-leaf tree) for the interval the run actually had (previous checkpoint
   = 2^20 - mean events per transaction) and for one event per anchor (previous = 2^20 - 1,
   the baseline: anchoring each event on its own), plus the witnesses' cosign.
3. Gas per event = anchor gas / events per anchor, with and without the cosignatures.

The 2^20 target (anchor under 100,000 gas) is read from `bench/results/gas_anchor.json`,
which `bench.gas_anchor` writes (2^10, 2^20 and 2^30, longest and typical proofs).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from bench.common import RESULTS_DIR, print_table, save

LOG_SIZE = 2**20
SECONDS = 60.0
QUICK_SECONDS = 15.0


def _gas_at(previous: int, size: int) -> dict[str, int]:
    from web3 import EthereumTesterProvider, Web3

    from bench import gas_anchor

    gas_anchor.self_check()
    w3 = Web3(EthereumTesterProvider())
    return gas_anchor.measure_anchor(w3, list(w3.eth.accounts), previous, size)


def run(quick: bool = False, reuse: bool = False) -> dict[str, Any]:
    from bench import anchor_latency

    latency_file = RESULTS_DIR / "anchor_latency.json"
    if reuse:
        lat = json.loads(latency_file.read_text())
        source = f"{latency_file.name} of {lat['date']}"
    else:
        lat = anchor_latency.run(QUICK_SECONDS if quick else SECONDS, rate=100, interval=2,
                                 confirmations=2, batch=20)
        lat.pop("gas_reference", None)
        name = "anchor_latency.quick.json" if quick else "anchor_latency.json"
        (RESULTS_DIR / name).write_text(json.dumps(lat, indent=2) + "\n")
        source = f"this run ({name})"
    per_tx = lat["events_per_anchor_tx"]["mean"]
    if not per_tx:
        raise SystemExit("the latency run saw no final anchor; nothing to divide by")
    batched = _gas_at(LOG_SIZE - round(per_tx), LOG_SIZE)
    single = _gas_at(LOG_SIZE - 1, LOG_SIZE)
    cosign = batched["first_cosign_gas"]

    def per_event(gas: int, events: float) -> float:
        return round(gas / events, 1)

    rows = [
        ["one anchor per event (baseline)", 1, single["proof_length"], single["anchor_gas"],
         per_event(single["anchor_gas"], 1), per_event(single["anchor_gas"] + cosign, 1)],
        ["batched, as the job ran", round(per_tx, 1), batched["proof_length"],
         batched["anchor_gas"], per_event(batched["anchor_gas"], per_tx),
         per_event(batched["anchor_gas"] + cosign, per_tx)],
    ]
    print_table(f"Anchoring at a log of 2^20 leaves (gas; latency run: {source})",
                ["scheme", "events per tx", "proof hashes", "anchor gas", "gas per event",
                 "+1 cosign, per event"], rows)
    e2f = lat["event_to_final_s"]
    print(f"  event to final anchor: median {e2f['median']:.2f} s, p99 {e2f['p99']:.2f} s, "
          f"max {e2f['max']:.2f} s ({lat['events']} events, {lat['anchor_transactions']} "
          f"anchors, {lat['params']})")
    gas_file = RESULTS_DIR / "gas_anchor.json"
    gas_target = json.loads(gas_file.read_text())["target"] if gas_file.exists() else None
    figures = {
        "log_size": LOG_SIZE, "latency_source": source, "latency_params": lat["params"],
        "events": lat["events"], "anchor_transactions": lat["anchor_transactions"],
        "events_per_anchor_tx": lat["events_per_anchor_tx"], "event_to_final_s": e2f,
        "batched": {**batched, "gas_per_event": per_event(batched["anchor_gas"], per_tx),
                    "gas_per_event_with_one_cosign": per_event(batched["anchor_gas"] + cosign,
                                                               per_tx)},
        "baseline_one_anchor_per_event": {**single, "gas_per_event": single["anchor_gas"],
                                          "gas_per_event_with_one_cosign":
                                              single["anchor_gas"] + cosign},
        "saving_factor": round(single["anchor_gas"] / (batched["anchor_gas"] / per_tx), 1),
        "gas_anchor_target": gas_target,
    }
    save("anchor_cost", quick, figures)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--reuse", action="store_true",
                        help="take bench/results/anchor_latency.json instead of running it")
    args = parser.parse_args()
    run(args.quick, args.reuse)


if __name__ == "__main__":
    main()
