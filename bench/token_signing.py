"""Signing with a key in a PKCS#11 token (SoftHSM2) against the same key kind in a file.

Run: `.venv/bin/python -m bench.token_signing [--quick]` (needs the Debian package
softhsm2). Makes a throwaway token under a temporary directory, generates an Ed25519 and a
secp256k1 key inside it (non-extractable), and times, one call after another:

- Ed25519 over a 200-byte message (a receipt's size): `TokenEd25519Signer.sign` vs
  `Ed25519PrivateKey.sign` (baseline, same run);
- secp256k1 over a 32-byte digest: `TokenSecp256k1Signer.sign_digest` then
  `ethereum_vrs` (what an anchoring transaction costs) vs eth-account's
  `unsafe_sign_hash` with a file key (baseline).

Every receipt is one signature, so the Ed25519 figure times the events of a batch is what a
token adds to ingestion.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import print_table, save

MODULE = "/usr/lib/softhsm/libsofthsm2.so"


def rate(fn: Any, n: int) -> float:
    fn()
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n = 300 if args.quick else 3000
    root = Path(tempfile.mkdtemp(prefix="cz-hsm-bench-"))
    (root / "tokens").mkdir()
    (root / "conf").write_text(f"directories.tokendir = {root / 'tokens'}\n"
                               "objectstore.backend = file\nlog.level = ERROR\n")
    os.environ["SOFTHSM2_CONF"] = str(root / "conf")
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", "bench",
                    "--so-pin", "87654321", "--pin", "1234"], check=True, capture_output=True)

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from eth_account import Account

    from anchoring.pkcs11 import (
        TokenEd25519Signer,
        TokenSecp256k1Signer,
        TokenUri,
        generate_key,
    )
    from anchoring.signers import ethereum_vrs

    def uri(label: str) -> TokenUri:
        return TokenUri.parse(f"pkcs11:token=bench;object={label}?module-path={MODULE}")

    generate_key(uri("ed"), "1234", "ed25519")
    generate_key(uri("k1"), "1234", "secp256k1")
    ed, k1 = TokenEd25519Signer(uri("ed"), "1234"), TokenSecp256k1Signer(uri("k1"), "1234")
    file_ed = Ed25519PrivateKey.generate()
    secret = os.urandom(32)
    message, digest = b"r" * 200, hashlib.sha256(b"tx").digest()

    def token_eth() -> None:
        r, s = k1.sign_digest(digest)
        ethereum_vrs(digest, r, s, k1.public_key)

    figures = {
        "n": n,
        "ed25519_token_us": round(rate(lambda: ed.sign(message), n), 1),
        "ed25519_file_us": round(rate(lambda: file_ed.sign(message), n), 1),
        "secp256k1_token_us": round(rate(token_eth, max(n // 5, 50)), 1),
        "secp256k1_file_us": round(rate(lambda: Account.unsafe_sign_hash(digest, secret),
                                        max(n // 5, 50)), 1),
    }
    print_table("signing (µs per signature, one after another)", ["key", "token", "file"], [
        ["Ed25519 (receipt, checkpoint, manifest)", figures["ed25519_token_us"],
         figures["ed25519_file_us"]],
        ["secp256k1 + recovery id (anchor tx)", figures["secp256k1_token_us"],
         figures["secp256k1_file_us"]]])
    save("token_signing", args.quick, figures)


if __name__ == "__main__":
    main()
