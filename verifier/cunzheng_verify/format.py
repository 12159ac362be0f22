"""The evidence package's format constants (DESIGN.md, "Evidence package (zip)").

One copy, imported by the builder (`dispute.package`) and by the verifier
(`cunzheng_verify`): the schema strings, the names of the fixed files, where each kind of
file lives inside the zip, the venues a package is filed with, and the bounds the verifier
checks before it reads anything. A change here changes what packages already filed mean:
the schema strings and paths never change for v1.
"""

from __future__ import annotations

from cunzheng_verify.wire import VENUES, Venue  # one list: the contract's venues are the package's

PACKAGE_SCHEMA = "cunzheng.package/v1"
# v2 (DESIGN.md, "Package v2"): a manifest with the loan's history annex (`history`); every
# v1 package stays valid, forever
PACKAGE_SCHEMA_V2 = "cunzheng.package/v2"
PACKAGE_SCHEMAS = (PACKAGE_SCHEMA, PACKAGE_SCHEMA_V2)
REPORT_SCHEMA = "cunzheng.verification/v1"

MANIFEST = "manifest.json"
MANIFEST_SIG = "manifest.sig"
CASE_FILE = "case/case-file.pdf"
CLAIM_FILE = "case/claim.json"
VERIFY_FILE = "VERIFY.md"
LOAN_INDEX_PROOF = "proofs/loan-index.json"  # the loan index proof at the history's checkpoint
REQUIRED_FILES = (CASE_FILE, CLAIM_FILE, VERIFY_FILE)

MAX_PACKAGE_BYTES = 512 * 1024 * 1024  # the zip as given
MAX_ENTRIES = 10_000
MAX_ENTRY_BYTES = 64 * 1024 * 1024  # one file, uncompressed (documents are <= 50 MiB)
MAX_TOTAL_BYTES = 1024 * 1024 * 1024  # all files, uncompressed: declared and actual
MAX_NAME_LENGTH = 255
MAX_MANIFEST_BYTES = 8 * 1024 * 1024
MAX_JSON_BYTES = 1024 * 1024  # manifest.sig
# An inclusion proof has at most 64 hashes and a consistency proof fewer than 128 (trees
# below 2**64 leaves): under 10 KB as the package writes them (72 bytes a hash). Up to 1000
# of each are read, so their bound, not MAX_JSON_BYTES, caps the time a package can cost.
MAX_PROOF_BYTES = 16 * 1024
# array elements and object members in manifest.json: 1000 items citing 64 documents each,
# 10 000 files and 1000 checkpoints stay well below it
MAX_MANIFEST_ITEMS = 500_000
MAX_ITEMS = 1000  # exhibits in one package: the builder refuses more, the verifier too
MAX_CHECKPOINTS = 1000
# records of one loan in a package's history annex: a 30-year loan paid monthly, with its
# notices and corrections, stays far below; with the exhibits' files below MAX_ENTRIES
MAX_HISTORY = 5000
# a loan index proof has at most 256 siblings (72 bytes each as written): about 19 KB
MAX_INDEX_PROOF_BYTES = 32 * 1024
# how the package's as-of date (`loan.as_of`, a calendar date in China) is read against a
# block time: the date starts at 00:00 in UTC+8
AS_OF_UTC_OFFSET_HOURS = 8
DEFAULT_MIN_CONFIRMATIONS = 2


def record_path(leaf_index: int) -> str:
    """Where an item's record bytes are: `records/<leaf>.json`."""
    return f"records/{leaf_index}.json"


def proof_path(leaf_index: int) -> str:
    """Where an item's inclusion proof is: `proofs/<leaf>.json`."""
    return f"proofs/{leaf_index}.json"


def note_path(tree_size: int) -> str:
    """Where a checkpoint's signed note is: `checkpoints/<size>.txt`."""
    return f"checkpoints/{tree_size}.txt"


def document_path(sha256: str, extension: str) -> str:
    """Where an original document is: `documents/<sha256>.<ext>`."""
    return f"documents/{sha256}.{extension}"


def history_path(leaf_index: int) -> str:
    """Where a record of the loan's history annex is: `history/<leaf>.json`."""
    return f"history/{leaf_index}.json"


def consistency_path(size1: int, size2: int) -> str:
    """Where the consistency proof between two checkpoints is."""
    return f"proofs/consistency/{size1}-{size2}.json"


__all__ = [
    "AS_OF_UTC_OFFSET_HOURS", "CASE_FILE", "CLAIM_FILE", "DEFAULT_MIN_CONFIRMATIONS",
    "LOAN_INDEX_PROOF", "MANIFEST", "MANIFEST_SIG", "MAX_CHECKPOINTS", "MAX_ENTRIES",
    "MAX_ENTRY_BYTES", "MAX_HISTORY", "MAX_INDEX_PROOF_BYTES", "MAX_ITEMS", "MAX_JSON_BYTES",
    "MAX_MANIFEST_BYTES", "MAX_MANIFEST_ITEMS", "MAX_NAME_LENGTH", "MAX_PACKAGE_BYTES",
    "MAX_PROOF_BYTES", "MAX_TOTAL_BYTES", "PACKAGE_SCHEMA", "PACKAGE_SCHEMAS",
    "PACKAGE_SCHEMA_V2", "REPORT_SCHEMA", "REQUIRED_FILES", "VENUES", "VERIFY_FILE", "Venue",
    "consistency_path", "document_path", "history_path", "note_path", "proof_path",
    "record_path",
]
