"""Hostile input (issue 10): the worst-case input of the largest allowed size, per parser.

`.venv/bin/python -m bench.hostile_input [--quick]`

1. In process, each reader of untrusted bytes on the constructions worst for it, at its
   limit: `parse_json` (API bodies, 16 MiB by default; record uploads, 64 KiB),
   `record_from_bytes`, `verify_checkpoint` (signed notes, 16 KiB), `verify_package`
   (`manifest.sig` at 64 KiB and 1 MiB, `manifest.json` at 8 MiB, 1000 hostile proofs).
2. Baseline in the same run: the JSON pre-check as it was before issue 10 (its code is
   copied below), on the issue's pattern at sizes it finishes in a minute; larger sizes
   are extrapolated from its quadratic fit, and marked so.
3. Against `cunzheng serve` (SQLite, anchoring off, default limits): the slowest
   `/healthz` answer while a hostile request runs, polled every 20 ms from another client.
"""

from __future__ import annotations

import argparse
import base64
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from anchoring.errors import AnchoringError
from bench.common import machine, print_table, save
from bench.ingest import BIN, free_port, ledger_env, server
from cunzheng_verify import MAX_JSON_BYTES, MAX_MANIFEST_BYTES, MAX_PROOF_BYTES, verify_package
from cunzheng_verify.notes import MAX_NOTE_BYTES, verify_checkpoint
from cunzheng_verify.records import MAX_JSON_DEPTH, MAX_RECORD_BYTES, parse_json, record_from_bytes
from dispute.package import deterministic_zip
from service.settings import Settings

MAX_BODY = Settings.model_fields["max_body_bytes"].default


def shapes(n: int) -> Iterator[tuple[str, bytes]]:
    """JSON constructions worst for a string-state scan or for the parser, `n` bytes."""
    yield "issue 10: unclosed escaped quotes", b'"' + b'\\"' * ((n - 1) // 2)
    yield "closed escaped quotes", b'"' + b'\\"' * ((n - 2) // 2) + b'"'
    yield "deep nesting", b"[" * (n // 2) + b"]" * (n // 2)
    yield "empty lists", b"[" + b"[]," * ((n - 4) // 3) + b"[]]"
    yield "empty strings", b"[" + b'"",' * ((n - 4) // 3) + b'""]'
    yield "lone quotes", b'"' * n
    yield "backslash run", b'"' + b"\\" * (n - 2) + b'"'
    yield "one long string", b'"' + b"a" * (n - 2) + b'"'
    keys = min(n // 16, 199_999)
    yield "199,999 keys (the value limit)", b"{" + b",".join(b'"k%d":1' % i for i in
                                                             range(keys)) + b"}"


# --- the pre-check before issue 10, verbatim (the baseline) -------------------------------

_OLD_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_OLD_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


def old_check_depth(text: str) -> None:
    brackets = _OLD_NOT_BRACKET.sub("", _OLD_STRING.sub("", text))
    depth = 0
    for ch in brackets:
        depth += 1 if ch in "[{" else -1
        if depth > MAX_JSON_DEPTH:
            raise ValueError("too deep")


def _time(fn: Callable[[], Any]) -> tuple[float, str]:
    started = time.perf_counter()
    try:
        fn()
        outcome = "accepted"
    except AnchoringError as exc:
        outcome = type(exc).__name__
    return time.perf_counter() - started, outcome


def in_process(quick: bool) -> list[dict[str, Any]]:
    rows = []
    sizes = [("API body (max_body_bytes)", MAX_BODY), ("record upload", MAX_RECORD_BYTES)]
    if quick:
        sizes = [("API body, 1 MiB (quick)", 1 << 20), ("record upload", MAX_RECORD_BYTES)]
    for where, size in sizes:
        for name, body in shapes(size):
            took, outcome = _time(lambda b=body, s=size: parse_json(b, max_bytes=s))
            rows.append({"parser": "parse_json", "input": f"{where}: {name}", "bytes": len(body),
                         "ms": took * 1000, "outcome": outcome})
    for name, body in shapes(MAX_RECORD_BYTES):
        took, outcome = _time(lambda b=body: record_from_bytes(b))
        rows.append({"parser": "record_from_bytes", "input": name, "bytes": len(body),
                     "ms": took * 1000, "outcome": outcome})
    key = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    head = "o\n1\n" + base64.b64encode(bytes(32)).decode() + "\n\n"
    notes = {"many signature lines": head + "\u2014 k AAAAAAAA\n" * (MAX_NOTE_BYTES // 16),
             "one long signature line": head + "\u2014 " + "k" * (MAX_NOTE_BYTES - 80) + " A=\n",
             "blank lines": "\n" * MAX_NOTE_BYTES}
    for name, note in notes.items():
        took, outcome = _time(lambda n=note: verify_checkpoint(n, key_name="o", public_key=key))
        rows.append({"parser": "verify_checkpoint", "input": name, "bytes": len(note.encode()),
                     "ms": took * 1000, "outcome": outcome})
    for name, data in packages(quick):
        started = time.perf_counter()
        report = verify_package(data)
        rows.append({"parser": "verify_package", "input": name, "bytes": len(data),
                     "ms": (time.perf_counter() - started) * 1000,
                     "outcome": f"{len(report.failures)} failed step(s)"})
    return rows




def _pattern(n: int) -> bytes:
    return b'"' + b'\\"' * ((n - 1) // 2)


def packages(quick: bool) -> Iterator[tuple[str, bytes]]:
    yield "manifest.sig of the pattern, 64 KiB", deterministic_zip({"manifest.json": b"{}",
                                                       "manifest.sig": _pattern(64 * 1024)})
    yield (f"manifest.sig of the pattern, {MAX_JSON_BYTES} (the limit)",
           deterministic_zip({"manifest.json": b"{}", "manifest.sig": _pattern(MAX_JSON_BYTES)}))
    if not quick:
        yield (f"manifest.json of the pattern, {MAX_MANIFEST_BYTES} (the limit)",
               deterministic_zip({"manifest.json": _pattern(MAX_MANIFEST_BYTES),
                                  "manifest.sig": b"{}"}))
    # 1000 items, each its own proof of the pattern at the proof limit (32 MB of proofs);
    # the package shape is the hostile-input tests' own
    from tests.unit.test_hostile_parsers import _checkpoint, _shaped_package

    proof = b'{"audit_path":"' + b'\\"' * (MAX_PROOF_BYTES // 2 - 10)
    items = [{"no": str(i), "title": "t", "source": "s", "purpose": "p", "leaf_index": i,
              "leaf_hash": "00" * 32, "record": f"records/{i}.json", "proof": f"proofs/{i}.json",
              "checkpoint_size": 1000, "documents": []} for i in range(1000)]
    yield ("1000 inclusion proofs of the pattern, each at the proof limit",
           _shaped_package({f"proofs/{i}.json": proof for i in range(1000)}, items,
                           [_checkpoint(1000)]))


def baseline(quick: bool) -> list[dict[str, Any]]:
    """The old pre-check on the issue's pattern; quadratic, so only small sizes are run."""
    rows = []
    sizes = [8 * 1024, 16 * 1024] if quick else [8 * 1024, 16 * 1024, 32 * 1024, 48 * 1024]
    for n in sizes:
        text = _pattern(n).decode()
        started = time.perf_counter()
        old_check_depth(text)
        rows.append({"bytes": n, "old_ms": (time.perf_counter() - started) * 1000,
                     "measured": True})
    # quadratic fit through the largest measured point
    n0, t0 = rows[-1]["bytes"], rows[-1]["old_ms"]
    for n in (64 * 1024, MAX_JSON_BYTES, MAX_MANIFEST_BYTES, MAX_BODY):
        rows.append({"bytes": n, "old_ms": t0 * (n / n0) ** 2, "measured": False})
    for r in rows:
        text = _pattern(r["bytes"])
        started = time.perf_counter()
        try:
            parse_json(text, max_bytes=len(text))
        except AnchoringError:
            pass
        r["new_ms"] = (time.perf_counter() - started) * 1000
    return rows


# --- a live service ---------------------------------------------------------------------


def live(quick: bool) -> list[dict[str, Any]]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="cunzheng-hostile-") as work:
        env = {**ledger_env(Path(work), None), "CUNZHENG_ANCHOR_ENABLED": "false"}
        keys = {role: subprocess.run(
            [str(BIN / "cunzheng"), "keys", "create", "--role", role, *extra], env=env,
            capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
            for role, extra in (("lender", ["--tenant", "bank-a"]), ("verifier", []))}
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        with server([str(BIN / "cunzheng"), "serve", "--port", str(port)], port, env,
                    Path(work) / "serve.log"):
            body_max = (1 << 20) if quick else MAX_BODY
            attacks: list[tuple[str, str, str, bytes, str]] = [
                ("POST /v1/events", "lender", "/v1/events", _pattern(48 * 1024), "json"),
                ("POST /v1/events", "lender", "/v1/events", _pattern(body_max), "json"),
                ("POST /v1/events", "lender", "/v1/events",
                 dict(shapes(body_max))["199,999 keys (the value limit)"], "json"),
                ("POST /v1/verify/record", "verifier", "/v1/verify/record",
                 _pattern(MAX_RECORD_BYTES), "json"),
                ("POST /v1/verify/package (manifest.sig)", "verifier", "/v1/verify/package",
                 deterministic_zip({"manifest.json": b"{}",
                                    "manifest.sig": _pattern(64 * 1024)}), "zip"),
                ("POST /v1/verify/package (manifest.sig)", "verifier", "/v1/verify/package",
                 deterministic_zip({"manifest.json": b"{}",
                                    "manifest.sig": _pattern(MAX_JSON_BYTES)}), "zip"),
            ]
            if not quick:
                attacks.append(("POST /v1/verify/package (manifest.json)", "verifier",
                                "/v1/verify/package",
                                deterministic_zip({"manifest.json": _pattern(MAX_MANIFEST_BYTES),
                                      "manifest.sig": b"{}"}), "zip"))
            for label, role, path, body, kind in attacks:
                rows.append({"request": label, "bytes": len(body),
                             **_attack(base, keys[role], path, body, kind)})
    return rows


def _attack(base: str, key: str, path: str, body: bytes, kind: str) -> dict[str, Any]:
    result: dict[str, Any] = {}

    def send() -> None:
        started = time.monotonic()
        r = httpx.post(base + path, content=body, timeout=600, headers={
            "Authorization": f"Bearer {key}",
            "content-type": "application/zip" if kind == "zip" else "application/json"})
        result.update(status=r.status_code, answer_ms=(time.monotonic() - started) * 1000)

    latencies = []
    worker = threading.Thread(target=send)
    with httpx.Client(base_url=base, timeout=600) as client:
        client.get("/healthz")
        worker.start()
        while worker.is_alive():
            started = time.monotonic()
            client.get("/healthz")
            latencies.append((time.monotonic() - started) * 1000)
            time.sleep(0.02)
    worker.join()
    return {**result, "healthz_polls": len(latencies),
            "healthz_max_ms": max(latencies, default=0.0)}


def run(quick: bool = False) -> dict[str, Any]:
    figures: dict[str, Any] = {"machine": machine(), "quick": quick}
    figures["baseline"] = base = baseline(quick)
    print_table("Issue 10 pattern: the old pre-check (before) and parse_json now (after), ms",
                ["bytes", "before", "after", "before measured?"],
                [[r["bytes"], r["old_ms"], r["new_ms"], "yes" if r["measured"] else
                  "extrapolated (n^2)"] for r in base])
    figures["parsers"] = rows = in_process(quick)
    print_table("Worst case at the largest allowed size, per parser (ms)",
                ["parser", "input", "bytes", "ms", "outcome"],
                [[r["parser"], r["input"], r["bytes"], r["ms"], r["outcome"]] for r in rows])
    figures["live"] = live_rows = live(quick)
    print_table("cunzheng serve: a hostile request and /healthz polled every 20 ms",
                ["request", "bytes", "status", "answer ms", "polls", "slowest /healthz ms"],
                [[r["request"], r["bytes"], r["status"], r["answer_ms"], r["healthz_polls"],
                  r["healthz_max_ms"]] for r in live_rows])
    print(f"\nsaved {save('hostile_input', quick, figures)}")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, about a minute")
    run(parser.parse_args().quick)


if __name__ == "__main__":
    sys.exit(main())
