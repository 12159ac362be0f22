"""The evidence log's error family.

Verification raises, it never returns a bool: each error names what was expected and what
was found, and proof errors carry both values so a caller can show them.
"""

from __future__ import annotations

from typing import Any

from cunzheng_verify.errors import (  # the formats' errors live with the verifier
    AnchoringError,
    CheckpointError,
    ConsistencyProofError,
    CunzhengError,
    InclusionProofError,
    MerkleError,
    ProducerSignatureError,
    ProofError,
    RecordError,
    SignatureError,
)

__all__ = [
    "AnchoringError", "ArtifactError", "CheckpointError", "Conflict", "ConsistencyProofError",
    "CunzhengError", "DeployedCodeMismatch", "DeploymentRecordError", "InclusionProofError",
    "IntegrityError", "LogError", "MerkleError", "NotFound", "PolicyRefusal",
    "ProducerSignatureError", "ProofError", "RecordError", "RegistryError", "RegistryRevert",
    "SignatureError", "TransactionFailed",
]


class LogError(AnchoringError):
    """The log refused an operation (unknown size, unknown leaf, conflicting event)."""


class NotFound(LogError):
    """The thing asked for is not in the log."""


class Conflict(LogError):
    """The same event id was posted before with different content."""

    def __init__(self, message: str, *, existing_hash: str, new_hash: str) -> None:
        super().__init__(message)
        self.existing_hash = existing_hash
        self.new_hash = new_hash


class PolicyRefusal(LogError):
    """A loan policy (`anchoring.store.LoanPolicy`) refused one of the new records it was
    given: `item` is that record's position among them, `error` the reason. The store
    reports `error` for the batch item it names (`BatchItemError`)."""

    def __init__(self, item: int, error: Exception) -> None:
        super().__init__(f"new record {item}: {error}")
        self.item = item
        self.error = error


class IntegrityError(AnchoringError):
    """Stored data does not match what the log signed or computed (found by fsck)."""


# --- the chain adapter (anchoring.registry) -------------------------------------------------


class RegistryError(AnchoringError):
    """Root of the chain adapter's errors."""


class ArtifactError(RegistryError):
    """The compiler artifact is missing or malformed."""


class DeploymentRecordError(RegistryError):
    """A deployment record file is missing, malformed or of another schema."""


class DeployedCodeMismatch(RegistryError):
    """The code at the registry's address is not the artifact's runtime code."""

    def __init__(self, message: str, *, expected: str, found: str) -> None:
        super().__init__(message)
        self.expected = expected
        self.found = found


class TransactionFailed(RegistryError):
    """A transaction was mined but did not succeed."""


class RegistryRevert(RegistryError):
    """The contract refused a call with one of its custom errors (or an unknown revert)."""

    def __init__(self, name: str, args: dict[str, Any], data: str) -> None:
        shown = ", ".join(f"{k}={_show(v)}" for k, v in args.items())
        super().__init__(f"AnchorRegistry reverted: {name}({shown})")
        self.name = name
        self.args_by_name = args
        self.data = data


def _show(value: Any) -> str:
    return "0x" + value.hex() if isinstance(value, bytes) else str(value)
