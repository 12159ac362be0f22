"""Run the benchmarks: `.venv/bin/python -m bench.run [--quick] [--only NAME] [--big N]`.

Each benchmark prints its table (with its baseline, measured in the same run) and writes
`bench/results/<name>.json` (`<name>.quick.json` with --quick) with the machine's facts.
`make bench` runs them all at full size; `--quick` keeps the whole run to a few minutes.
`--big N` also measures proofs and the API on a log of N leaves (e.g. 10,000,000; the log
is built once under /tmp/cunzheng-bench, see `bench.proofs` for the build rate).
`bench.gas_anchor` (gas at 2^10, 2^20, 2^30) is run on its own; `anchor_cost` reads it.
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


def _sha256(quick: bool) -> Any:
    from bench import sha256
    return sha256.run(quick)


def _serve_api(quick: bool) -> Any:
    from bench import serve_api
    return serve_api.run(quick)


def _package(quick: bool) -> Any:
    from bench import package
    return package.run(quick)


def _loan_index(quick: bool) -> Any:
    from bench import loan_index
    return loan_index.main_figures(quick)


def _anchor_cost(quick: bool) -> Any:
    from bench import anchor_cost
    return anchor_cost.run(quick)


BENCHMARKS: dict[str, Callable[[bool], Any]] = {
    "sha256": _sha256,
    "merkle_root": _merkle_root,
    "proofs": _proofs,
    "serve_api": _serve_api,
    "ingest": _ingest,
    "ingest_profile": _ingest_profile,
    "package": _package,
    "anchor_cost": _anchor_cost,
    "loan_index": _loan_index,
}


def main() -> None:
    parser = argparse.ArgumentParser(description="Cunzheng benchmarks")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, a few minutes")
    parser.add_argument("--only", choices=sorted(BENCHMARKS), action="append",
                        help="run only this benchmark (repeatable)")
    parser.add_argument("--big", type=int, metavar="N",
                        help="also run proofs and serve_api on a log of N leaves")
    args = parser.parse_args()
    m = machine()
    print(f"{m['cpu_model']}, {m['cores']} cores, {m['memory_gb']} GB, Python {m['python']}, "
          f"{m['date']}{' (quick)' if args.quick else ''}")
    for name in args.only or list(BENCHMARKS):
        print(f"\n=== {name} ===", flush=True)
        t = time.perf_counter()
        BENCHMARKS[name](args.quick)
        print(f"({name}: {time.perf_counter() - t:.0f} s)", flush=True)
    if args.big:
        from bench import proofs, serve_api

        print(f"\n=== proofs and serve_api at {args.big:,} leaves ===", flush=True)
        proofs.run(False, args.big)
        serve_api.run(False, args.big)


if __name__ == "__main__":
    main()
