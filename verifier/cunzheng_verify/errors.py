"""The project's root error, below every package, and the errors of the formats a verifier
reads.

Every error a user can cause derives from `CunzhengError`, so the service and the CLI can
turn any of them into one clear message (problem+json, or one line and a non-zero exit).
Each package keeps its own family under it (`lending_core.errors`, `anchoring.errors`,
`dispute.errors`, `service.errors`). The standalone verifier (this distribution,
`cunzheng-verify`) sits below all of them, so the root lives here, with the errors of what
it checks: records, Merkle proofs, signed notes (`AnchoringError` and its format errors,
which `anchoring.errors` re-exports for the log), and the dispute family's root with the
trusted-key error (`DisputeError`, `TrustError`, re-exported by `dispute.errors`). Proof
and verification errors raise, they never return a bool: each names what was expected and
what was found. This module imports nothing from the project.
"""

from __future__ import annotations

__all__ = [
    "AnchoringError", "CheckpointError", "ConsistencyProofError", "CunzhengError",
    "DisputeError", "InclusionProofError", "MerkleError", "ProducerSignatureError",
    "ProofError", "RecordError", "SignatureError", "TrustError",
]


class CunzhengError(Exception):
    """Root of every error the project raises on purpose."""

    def diagnostics(self) -> str:
        """A text for people: what was expected, what was found."""
        return str(self)


class AnchoringError(CunzhengError):
    """Root of the errors raised by the evidence log, its proofs and its chain adapter."""


class MerkleError(AnchoringError):
    """Bad input to the Merkle math (sizes, indices, hash lengths)."""


class ProofError(MerkleError):
    """A proof does not verify."""

    def __init__(
        self, message: str, *, expected: bytes | None = None, found: bytes | None = None
    ) -> None:
        super().__init__(message)
        self.expected = expected
        self.found = found


class InclusionProofError(ProofError):
    """An inclusion proof does not lead to the expected root."""


class ConsistencyProofError(ProofError):
    """A consistency proof does not link the two roots."""


class RecordError(AnchoringError):
    """A posted event cannot become a record (bad field, float, too large, ...)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class CheckpointError(AnchoringError):
    """A checkpoint note is malformed or its signature does not verify."""


class SignatureError(AnchoringError):
    """A signature (receipt, producer, package) does not verify."""


class ProducerSignatureError(SignatureError):
    """An event breaks its tenant's producer-signature policy: unsigned where signatures are
    required, signed by an unknown or retired key, or signed wrongly. `code` says which."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


class DisputeError(CunzhengError):
    """Root of the errors raised by case-file building and package verification."""


class TrustError(DisputeError):
    """A trusted-key file or flag cannot be read (not base64, not 32 bytes, bad vkey)."""
