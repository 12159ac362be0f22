"""The offline verifier of evidence packages (DESIGN.md, "Evidence package (zip)").

Consensus-critical: whether a court, an arbitration commission or a notary accepts a
package as "found consistent by technical verification" is decided here. Pay extra
attention to any change; every check follows the normative order of DESIGN.md and the
regression fixtures in `tests/unit/dispute/` keep each past attack caught.

Order: the signature on the manifest; every file's hash and no unlisted file (names,
sizes and zip-bomb limits checked before anything is read); each record's leaf hash,
canonical form and document hashes; each inclusion proof; each checkpoint's signature and
the consistency proofs between them; on chain (only with a `ChainView`), the anchoring
transaction, its block, the contract's code, confirmations and cosigners. The verifier
never stops at the first failure: `verify_package` returns a `VerificationReport` with
one step per check and item, `verify_package_or_raise` raises `PackageVerificationError`
if any step failed.

Modules: `format` (the package format's constants, shared with the builder), `report`,
`zipread` (step 0, reading the zip safely), `decode` (the manifest into typed values),
`checks` (steps 1-5), `chain` (the chain port and its web3 adapter), `onchain` (step 6),
`api` (the entry points). Standard library and `cryptography` only (through
`anchoring.merkle`, `anchoring.notes`, and `anchoring.records`, which adds the pure-Python
`rfc8785`); web3 is imported only by `Web3ChainView`, for the on-chain step.
"""

from __future__ import annotations

from dispute.verify.api import verify_package, verify_package_or_raise
from dispute.verify.chain import ANCHORED_TOPIC, ChainLog, ChainReceipt, ChainView, Web3ChainView
from dispute.verify.format import (
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
from dispute.verify.report import (
    PackageVerificationError,
    Status,
    Step,
    VerificationReport,
    report_text,
)
from dispute.verify.zipread import ZIP_ERRORS, name_problem, read_zip

__all__ = [
    "ANCHORED_TOPIC", "DEFAULT_MIN_CONFIRMATIONS", "MANIFEST", "MANIFEST_SIG",
    "MAX_CHECKPOINTS", "MAX_ENTRIES", "MAX_ENTRY_BYTES", "MAX_ITEMS", "MAX_JSON_BYTES",
    "MAX_MANIFEST_BYTES", "MAX_MANIFEST_ITEMS", "MAX_NAME_LENGTH", "MAX_PACKAGE_BYTES",
    "MAX_PROOF_BYTES", "MAX_TOTAL_BYTES", "PACKAGE_SCHEMA", "REPORT_SCHEMA", "REQUIRED_FILES",
    "VENUES", "ZIP_ERRORS", "ChainLog", "ChainReceipt", "ChainView", "PackageVerificationError",
    "Status", "Step", "VerificationReport", "Web3ChainView", "name_problem", "read_zip",
    "report_text", "verify_package", "verify_package_or_raise",
]
