"""The verifier's entry points: `verify_package` reports, `verify_package_or_raise` raises.

Both run every step in DESIGN.md's order and never stop at the first failure; the first
returns the `VerificationReport` whatever it says (what `cunzheng verify` and the
verification API print), the second returns it only when no step failed and otherwise
raises `PackageVerificationError` carrying it (for code that must not go on with a package
that did not verify).
"""

from __future__ import annotations

from collections.abc import Sequence

from cunzheng_verify.chain import ChainView
from cunzheng_verify.checks import Verifier
from cunzheng_verify.format import DEFAULT_MIN_CONFIRMATIONS, MANIFEST
from cunzheng_verify.history import check_history
from cunzheng_verify.onchain import on_chain
from cunzheng_verify.report import Status, VerificationReport
from cunzheng_verify.zipread import read_zip


def verify_package(
    data: bytes,
    *,
    trusted_keys: Sequence[bytes] | None = None,
    log_public_key: bytes | None = None,
    chain: ChainView | None = None,
    expected_code: bytes | None = None,
    min_confirmations: int = DEFAULT_MIN_CONFIRMATIONS,
) -> VerificationReport:
    """Verify an evidence package (the zip's bytes) and report every step.

    `trusted_keys`: the package signers' public keys to trust (None: none given, a valid
    signature is a warning). `log_public_key` pins the log key instead of taking the
    manifest's. `chain` and `expected_code` (the committed artifact's runtime code) enable
    the on-chain step. Never raises for a bad package; see `raise_for_failures()` and
    `verify_package_or_raise`."""
    report = VerificationReport()
    entries = read_zip(data, report)
    if entries is None:
        return report
    v = Verifier(entries, report)
    v.check("manifest.signature", lambda: v.manifest_signature(trusted_keys), subject=MANIFEST)
    if v.check("manifest.schema", v.manifest_schema, subject=MANIFEST) is None:
        for step in ("file.hash", "record", "proof.inclusion", "checkpoint.signature", "history",
                     "chain"):
            report.add(step, Status.SKIPPED, "no usable manifest")
        return report
    v.files()
    v.load_checkpoints()
    items = v.items()
    for it in items:
        v.record(it)
    for it in items:
        v.inclusion(it)
    v.checkpoint_notes(v.log_key(log_public_key))
    check_history(v, items)
    if chain is None or expected_code is None:
        report.add("chain", Status.SKIPPED, "on-chain check not requested (no RPC URL given)")
    else:
        try:
            on_chain(v, chain, expected_code, min_confirmations, items)
        except Exception as exc:  # noqa: BLE001 - a node that dies mid-way must not hide the other steps
            report.add("chain", Status.FAILED, f"on-chain check stopped: {type(exc).__name__}: "
                       f"{exc}")
    return report


def verify_package_or_raise(
    data: bytes,
    *,
    trusted_keys: Sequence[bytes] | None = None,
    log_public_key: bytes | None = None,
    chain: ChainView | None = None,
    expected_code: bytes | None = None,
    min_confirmations: int = DEFAULT_MIN_CONFIRMATIONS,
) -> VerificationReport:
    """`verify_package`, raising `PackageVerificationError` (with the whole report and its
    `diagnostics()`) when any step failed; the report, warnings included, otherwise."""
    report = verify_package(data, trusted_keys=trusted_keys, log_public_key=log_public_key,
                            chain=chain, expected_code=expected_code,
                            min_confirmations=min_confirmations)
    report.raise_for_failures()
    return report
