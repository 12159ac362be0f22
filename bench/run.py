"""Run the benchmarks: `.venv/bin/python -m bench.run [--quick] [--only NAME]`.

Each benchmark prints its table (with its baseline, measured in the same run) and writes
`bench/results/<name>.json` (`<name>.quick.json` with --quick) with the machine's facts.
`make bench` runs them all at full size. `bench.gas_anchor` is run on its own.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from bench.common import machine


def _merkle_root(quick: bool) -> Any:
    from bench import merkle_root
    return merkle_root.run(quick)


def _proofs(quick: bool) -> Any:
    from bench import proofs
    return proofs.run(quick)


def _ingest(quick: bool) -> Any:
    from bench import ingest
    return ingest.run(quick)


def _ingest_profile(quick: bool) -> Any:
    from bench import ingest_profile
    return ingest_profile.run(quick)


BENCHMARKS: dict[str, Callable[[bool], Any]] = {
    "merkle_root": _merkle_root,
    "proofs": _proofs,
    "ingest": _ingest,
    "ingest_profile": _ingest_profile,
}


def main() -> None:
    parser = argparse.ArgumentParser(description="Cunzheng benchmarks")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, a few minutes")
    parser.add_argument("--only", choices=sorted(BENCHMARKS), action="append",
                        help="run only this benchmark (repeatable)")
    args = parser.parse_args()
    m = machine()
    print(f"{m['cpu_model']}, {m['cores']} cores, {m['memory_gb']} GB, Python {m['python']}, "
          f"{m['date']}{' (quick)' if args.quick else ''}")
    for name in args.only or list(BENCHMARKS):
        print(f"\n=== {name} ===", flush=True)
        t = time.perf_counter()
        BENCHMARKS[name](args.quick)
        print(f"({name}: {time.perf_counter() - t:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
