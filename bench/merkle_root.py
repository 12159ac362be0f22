"""Merkle root build speed: `cunzheng_verify.merkle.root` against pymerkle 6 and raw hashlib.

Run: `.venv/bin/python -m bench.merkle_root [--quick]`.

For N entries (100k and 1M; 10k and 100k with --quick), all three start from the same N
entry byte strings and end with the same RFC 9162 root (checked before any figure counts):

- cunzheng: `merkle.leaf_hash` over the entries, then `merkle.root` over the leaf hashes
  (reported both as the total and as the root step alone, which is what the log does).
- pymerkle: `InmemoryTree.init_from_entries(entries)` then `get_state()`, sha256 with its
  default security mode, which is RFC 9162 domain separation (0x00 before a leaf, 0x01
  before two children) and the same left-balanced shape, so the roots are equal.
- ceiling: the 2N - 1 SHA-256 calls any RFC 9162 tree needs (N leaf hashes of 0x00 + entry,
  N - 1 node hashes of 0x01 + 64 bytes), level by level in the tightest Python loop: no
  Python tree can be faster than this on one core.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
from typing import Any

import pymerkle

from bench.common import print_table, save, timed
from cunzheng_verify import merkle

SIZES = (100_000, 1_000_000)
QUICK_SIZES = (10_000, 100_000)
TARGET_SPEEDUP = 10.0


def entries(n: int) -> list[bytes]:
    """N distinct 64-byte entries (about the size of a small record digest pair)."""
    return [hashlib.sha512(i.to_bytes(8, "big")).digest() for i in range(n)]


def hashlib_floor(data: list[bytes]) -> bytes:
    """RFC 9162 root with nothing but the hash calls: leaves, then levels, carrying an odd
    last node up (equivalent to the recursive definition for the rightmost path)."""
    sha = hashlib.sha256
    level = [sha(b"\x00" + d).digest() for d in data]
    if not level:
        return sha(b"").digest()
    while len(level) > 1:
        nxt = [sha(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
        if len(level) & 1:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def ours(data: list[bytes]) -> tuple[float, float, bytes]:
    t_leaf, leaves = timed(lambda: [merkle.leaf_hash(d) for d in data])
    t_root, root = timed(lambda: merkle.root(leaves))
    return t_leaf, t_root, root


def theirs(data: list[bytes]) -> tuple[float, bytes]:
    def build() -> bytes:
        tree = pymerkle.InmemoryTree.init_from_entries(data, algorithm="sha256")
        return bytes(tree.get_state())

    return timed(build)


def run(quick: bool = False) -> dict[str, Any]:
    rows, results = [], []
    for n in QUICK_SIZES if quick else SIZES:
        data = entries(n)
        gc.collect()
        t_floor, r_floor = timed(lambda data=data: hashlib_floor(data))
        gc.collect()
        t_leaf, t_root, r_ours = ours(data)
        gc.collect()
        t_pym, r_pym = theirs(data)
        gc.collect()
        if not r_ours == r_pym == r_floor:
            raise SystemExit(f"roots differ at N={n}: cunzheng {r_ours.hex()} pymerkle "
                             f"{r_pym.hex()} hashlib {r_floor.hex()}")
        t_ours = t_leaf + t_root
        speedup = t_pym / t_ours
        results.append({
            "n": n, "root": r_ours.hex(),
            "cunzheng_total_s": round(t_ours, 4), "cunzheng_leaf_hashing_s": round(t_leaf, 4),
            "cunzheng_root_from_leaf_hashes_s": round(t_root, 4),
            "pymerkle_s": round(t_pym, 4), "hashlib_floor_s": round(t_floor, 4),
            "speedup_vs_pymerkle": round(speedup, 2),
            "cunzheng_vs_floor": round(t_ours / t_floor, 2),
            "cunzheng_leaves_per_s": round(n / t_ours),
            "meets_target": speedup >= TARGET_SPEEDUP,
        })
        rows.append([n, t_ours, t_root, t_pym, t_floor, f"{speedup:.1f}x",
                     f"{t_ours / t_floor:.1f}x"])
    print_table(
        "Merkle root build (same entries, same RFC 9162 root; seconds, lower is better)",
        ["N", "cunzheng total", "of which root", "pymerkle", "hashlib floor",
         "vs pymerkle", "cunzheng/floor"],
        rows,
    )
    figures = {"target": f"cunzheng at least {TARGET_SPEEDUP:.0f}x faster than pymerkle",
               "pymerkle_version": pymerkle.__version__, "results": results}
    save("merkle_root", quick, figures)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    run(parser.parse_args().quick)


if __name__ == "__main__":
    main()
