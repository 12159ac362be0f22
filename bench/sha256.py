"""SHA-256 throughput of this machine: the ceiling under every Merkle figure.

Run: `.venv/bin/python -m bench.sha256 [--quick]`.

- `openssl speed -evp sha256` (if the `openssl` command exists): bytes/s at OpenSSL's block
  sizes (16 B to 16 KiB), one core, C with the CPU's SHA extensions if it has them.
- `hashlib.sha256` from Python (the same OpenSSL underneath) on the inputs a tree hashes:
  a 65-byte node (0x01 + two hashes) and a 721-byte leaf (0x00 + a ~720-byte record), as
  hashes/s in a tight loop, and bytes/s on 16 KiB buffers. The gap between the two is the
  per-call cost of Python, which is what bounds `cunzheng_verify.merkle` (see `merkle_root`).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import ssl
import subprocess
import time
from typing import Any

from bench.common import print_table, save

SECONDS = 3
QUICK_SECONDS = 1


def openssl_speed(seconds: int) -> dict[str, Any] | None:
    exe = shutil.which("openssl")
    if exe is None:
        return None
    out = subprocess.run([exe, "speed", "-mr", "-seconds", str(seconds), "-evp", "sha256"],
                         capture_output=True, text=True, check=True)
    version = subprocess.run([exe, "version"], capture_output=True, text=True).stdout.strip()
    sizes: list[int] = []
    rates: list[float] = []
    for line in (out.stdout + out.stderr).splitlines():
        if line.startswith("+H:"):
            sizes = [int(x) for x in line.split(":")[1:] if x]
        elif line.startswith("+F:"):
            rates = [float(x) for x in line.split(":")[3:] if x]  # bytes per second
    return {"version": version, "bytes_per_s": dict(zip(map(str, sizes), rates, strict=False))}


def hashlib_rate(size: int, seconds: float) -> dict[str, float]:
    data = os.urandom(size)
    sha = hashlib.sha256
    calls = 0
    stop = time.perf_counter() + seconds
    t0 = time.perf_counter()
    while time.perf_counter() < stop:
        for _ in range(1000):
            sha(data).digest()
        calls += 1000
    el = time.perf_counter() - t0
    return {"input_bytes": size, "hashes_per_s": round(calls / el),
            "bytes_per_s": round(calls * size / el)}


def run(quick: bool = False) -> dict[str, Any]:
    seconds = QUICK_SECONDS if quick else SECONDS
    ossl = openssl_speed(seconds)
    py = {str(s): hashlib_rate(s, seconds) for s in (65, 721, 16384)}
    rows = []
    if ossl:
        for size, rate in ossl["bytes_per_s"].items():
            rows.append([f"openssl speed -evp sha256, {size} B", rate / 1e6,
                         rate / int(size)])
    for size, r in py.items():
        rows.append([f"hashlib.sha256, {size} B", r["bytes_per_s"] / 1e6, r["hashes_per_s"]])
    print_table("SHA-256 on one core", ["what", "MB/s", "hashes/s"], rows)
    cpu_flags = ""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next(line for line in f if line.startswith("flags")).split()
        cpu_flags = " ".join(f for f in ("sha_ni", "avx2", "avx512f") if f in flags)
    except (OSError, StopIteration):
        pass
    figures = {"openssl": ossl, "hashlib": py, "cpu_hash_flags": cpu_flags,
               "openssl_linked_by_python": ssl.OPENSSL_VERSION}
    save("sha256", quick, figures)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    run(parser.parse_args().quick)


if __name__ == "__main__":
    main()
