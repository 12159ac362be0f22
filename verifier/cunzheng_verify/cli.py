"""`cunzheng-verify PACKAGE [--rpc URL] [--trust FILE] [--trust-key KEY] [--log-key KEY]`:
verify an evidence package offline (and on chain with `--rpc`); exit 0 only if every step
holds, 1 if a step failed, 3 if all held but with warnings (an untrusted signer, too few
confirmations), 2 for bad input (an unreadable package or trust file, a bad key).

The same function backs `cunzheng verify` in the main distribution, so both print the same
report for the same package.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from cunzheng_verify.api import verify_package
from cunzheng_verify.artifact import runtime_code
from cunzheng_verify.chain import ChainView, Web3ChainView
from cunzheng_verify.errors import CunzhengError
from cunzheng_verify.format import DEFAULT_MIN_CONFIRMATIONS, MAX_PACKAGE_BYTES
from cunzheng_verify.report import VerificationReport, report_text
from cunzheng_verify.trust import load_trust_file, parse_trusted_key

EXIT_FAILED, EXIT_USAGE, EXIT_WARNINGS = 1, 2, 3


@dataclass(frozen=True, slots=True)
class Inputs:
    """A package's bytes and what to verify it against, read and checked before verifying."""

    data: bytes
    trusted_keys: list[bytes] | None
    log_public_key: bytes | None
    chain: ChainView | None
    expected_code: bytes | None


def read_inputs(package: Path, *, rpc: str | None = None, trust: Path | None = None,
                trust_keys: list[str] | None = None, log_key: str | None = None,
                artifact: Path | None = None) -> Inputs:
    """Read the package, the trusted keys and the chain settings; `CunzhengError` names the
    first bad one. `artifact` replaces the shipped contract artifact (a JSON file with a
    `deployedBytecode`)."""
    trusted: list[bytes] | None = None
    if trust is not None or trust_keys:
        trusted = (load_trust_file(trust) if trust else []) + [
            parse_trusted_key(k) for k in trust_keys or []]
    pinned = parse_trusted_key(log_key) if log_key else None
    try:
        size = package.stat().st_size
        if size > MAX_PACKAGE_BYTES:
            raise CunzhengError(f"{package} is {size} bytes, limit {MAX_PACKAGE_BYTES}")
        data = package.read_bytes()
    except OSError as exc:
        raise CunzhengError(f"cannot read {package}: {exc.strerror}") from None
    chain, code = None, None
    if rpc:
        chain, code = Web3ChainView.from_url(rpc), runtime_code(artifact)
    return Inputs(data, trusted, pinned, chain, code)


def run(inputs: Inputs, *, min_confirmations: int = DEFAULT_MIN_CONFIRMATIONS,
        as_json: bool = False) -> int:
    """Verify, print the report (text or JSON) and return the exit code."""
    report: VerificationReport = verify_package(
        inputs.data, trusted_keys=inputs.trusted_keys, log_public_key=inputs.log_public_key,
        chain=inputs.chain, expected_code=inputs.expected_code,
        min_confirmations=min_confirmations)
    if as_json:
        print(json.dumps(report.as_json(), indent=2, ensure_ascii=False))
    else:
        print(report_text(report))
    return EXIT_FAILED if report.failures else EXIT_WARNINGS if report.warnings else 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cunzheng-verify",
        description="Verify a Cunzheng evidence package (offline; on chain with --rpc).")
    p.add_argument("package", type=Path, help="the evidence package (zip)")
    p.add_argument("--rpc", help="Ethereum JSON-RPC URL for the on-chain step")
    p.add_argument("--trust", type=Path, help="file of trusted package keys, one a line")
    p.add_argument("--trust-key", action="append", dest="trust_keys", metavar="KEY",
                   help="a trusted package key (base64 or verifier key); repeatable")
    p.add_argument("--log-key", help="pin the log's public key (base64 or verifier key)")
    p.add_argument("--min-confirmations", type=int, default=DEFAULT_MIN_CONFIRMATIONS,
                   help="confirmations an anchor needs (default %(default)s)")
    p.add_argument("--artifact", type=Path,
                   help="contract artifact JSON (default: the one shipped in this package)")
    p.add_argument("--json", action="store_true", dest="as_json",
                   help="print the report as JSON")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        inputs = read_inputs(args.package, rpc=args.rpc, trust=args.trust,
                             trust_keys=args.trust_keys, log_key=args.log_key,
                             artifact=args.artifact)
    except CunzhengError as exc:
        print(f"error: {exc.diagnostics()}", file=sys.stderr)
        return EXIT_USAGE
    return run(inputs, min_confirmations=args.min_confirmations, as_json=args.as_json)


def _zipapp_main() -> None:
    """The entry point of the zipapp (`verifier/build_zipapp.py`)."""
    sys.exit(main())


if __name__ == "__main__":
    sys.exit(main())
