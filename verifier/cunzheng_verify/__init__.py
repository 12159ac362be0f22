"""The offline verifier of evidence packages (DESIGN.md, "Evidence package (zip)").

Consensus-critical: whether a court, an arbitration commission or a notary accepts a
package as "found consistent by technical verification" is decided here. Pay extra
attention to any change; every check follows the normative order of DESIGN.md and the
regression fixtures in `tests/unit/dispute/` keep each past attack caught.

Order: the signature on the manifest; every file's hash and no unlisted file (names,
sizes and zip-bomb limits checked before anything is read); each record's leaf hash,
canonical form and document hashes; each inclusion proof; each checkpoint's signature and
the consistency proofs between them; on chain (only with a `ChainView`), the anchoring
transaction, its block, the contract's code, confirmations and cosigners; for a v2 package
with a loan history, its completeness (`history`). The verifier
never stops at the first failure: `verify_package` returns a `VerificationReport` with
one step per check and item, `verify_package_or_raise` raises `PackageVerificationError`
if any step failed.

This package is also the standalone distribution `cunzheng-verify` (`verifier/` in the
Cunzheng repository): the log's formats (`errors`, `wire`, `merkle`, `notes`, `records`),
the trusted keys (`trust`), the contract artifact (`artifact`) and the CLI
(`cunzheng-verify`, `python -m cunzheng_verify`, or the zipapp `cunzheng-verify.pyz`).
The names below load their modules on first use, so importing one format module (the log
imports `merkle` and `notes`) does not load the package reader.

Modules: `format` (the package format's constants, shared with the builder), `report`,
`zipread` (step 0, reading the zip safely), `decode` (the manifest into typed values),
`checks` (steps 1-5), `chain` (the chain port and its web3 adapter), `onchain` (step 6),
`history` and `loanindex` (the loan history's completeness),
`api` (the entry points). Standard library and `cryptography` only (through `merkle`,
`notes`, and `records`, which adds the pure-Python `rfc8785`); web3 is imported only by
`Web3ChainView`, for the on-chain step.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cunzheng_verify.api import verify_package, verify_package_or_raise
    from cunzheng_verify.chain import (
        ANCHORED_TOPIC,
        ChainLog,
        ChainReceipt,
        ChainView,
        Web3ChainView,
    )
    from cunzheng_verify.format import (
        DEFAULT_MIN_CONFIRMATIONS,
        MANIFEST,
        MANIFEST_SIG,
        MAX_CHECKPOINTS,
        MAX_ENTRIES,
        MAX_ENTRY_BYTES,
        MAX_ITEMS,
        MAX_JSON_BYTES,
        MAX_MANIFEST_BYTES,
        MAX_MANIFEST_ITEMS,
        MAX_NAME_LENGTH,
        MAX_PACKAGE_BYTES,
        MAX_PROOF_BYTES,
        MAX_TOTAL_BYTES,
        PACKAGE_SCHEMA,
        REPORT_SCHEMA,
        REQUIRED_FILES,
        VENUES,
    )
    from cunzheng_verify.report import (
        PackageVerificationError,
        Status,
        Step,
        VerificationReport,
        report_text,
    )
    from cunzheng_verify.zipread import ZIP_ERRORS, name_problem, peek_manifest, read_zip

_HOMES = {
    "ANCHORED_TOPIC": "cunzheng_verify.chain",
    "ChainLog": "cunzheng_verify.chain",
    "ChainReceipt": "cunzheng_verify.chain",
    "ChainView": "cunzheng_verify.chain",
    "DEFAULT_MIN_CONFIRMATIONS": "cunzheng_verify.format",
    "MANIFEST": "cunzheng_verify.format",
    "MANIFEST_SIG": "cunzheng_verify.format",
    "MAX_CHECKPOINTS": "cunzheng_verify.format",
    "MAX_ENTRIES": "cunzheng_verify.format",
    "MAX_ENTRY_BYTES": "cunzheng_verify.format",
    "MAX_ITEMS": "cunzheng_verify.format",
    "MAX_JSON_BYTES": "cunzheng_verify.format",
    "MAX_MANIFEST_BYTES": "cunzheng_verify.format",
    "MAX_MANIFEST_ITEMS": "cunzheng_verify.format",
    "MAX_NAME_LENGTH": "cunzheng_verify.format",
    "MAX_PACKAGE_BYTES": "cunzheng_verify.format",
    "MAX_PROOF_BYTES": "cunzheng_verify.format",
    "MAX_TOTAL_BYTES": "cunzheng_verify.format",
    "PACKAGE_SCHEMA": "cunzheng_verify.format",
    "PackageVerificationError": "cunzheng_verify.report",
    "REPORT_SCHEMA": "cunzheng_verify.format",
    "REQUIRED_FILES": "cunzheng_verify.format",
    "Status": "cunzheng_verify.report",
    "Step": "cunzheng_verify.report",
    "VENUES": "cunzheng_verify.format",
    "VerificationReport": "cunzheng_verify.report",
    "Web3ChainView": "cunzheng_verify.chain",
    "ZIP_ERRORS": "cunzheng_verify.zipread",
    "name_problem": "cunzheng_verify.zipread",
    "peek_manifest": "cunzheng_verify.zipread",
    "read_zip": "cunzheng_verify.zipread",
    "report_text": "cunzheng_verify.report",
    "verify_package": "cunzheng_verify.api",
    "verify_package_or_raise": "cunzheng_verify.api",
}

__all__ = [
    "ANCHORED_TOPIC", "DEFAULT_MIN_CONFIRMATIONS", "MANIFEST", "MANIFEST_SIG",
    "MAX_CHECKPOINTS", "MAX_ENTRIES", "MAX_ENTRY_BYTES", "MAX_ITEMS", "MAX_JSON_BYTES",
    "MAX_MANIFEST_BYTES", "MAX_MANIFEST_ITEMS", "MAX_NAME_LENGTH", "MAX_PACKAGE_BYTES",
    "MAX_PROOF_BYTES", "MAX_TOTAL_BYTES", "PACKAGE_SCHEMA", "REPORT_SCHEMA", "REQUIRED_FILES",
    "VENUES", "ZIP_ERRORS", "ChainLog", "ChainReceipt", "ChainView", "PackageVerificationError",
    "Status", "Step", "VerificationReport", "Web3ChainView", "name_problem", "peek_manifest",
    "read_zip",
    "report_text", "verify_package", "verify_package_or_raise",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'cunzheng_verify' has no attribute {name!r}")
    return getattr(import_module(home), name)
