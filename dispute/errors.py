"""The dispute module's error family.

The family's root `DisputeError` and `TrustError` live in `cunzheng_verify.errors` (the
standalone verifier raises them too). Building a package refuses with a `PackageError`
that names what is missing (for example the records that are logged but not yet
anchored). Verifying a package never raises on the
first problem: it returns a report; the exception that carries a failed report,
`PackageVerificationError` (a `DisputeError` whose `diagnostics()` lists every failed step),
lives beside the report in `cunzheng_verify.report`; this module imports only the
verifier's error module.
"""

from __future__ import annotations

from collections.abc import Sequence

# the family's root and the trusted-key error live with the standalone verifier
from cunzheng_verify.errors import DisputeError, TrustError

__all__ = ["DisputeError", "NotYetAnchored", "PackageError", "PackageKeyError", "TrustError"]


class PackageError(DisputeError):
    """An evidence package cannot be built as asked (bad venue, no records, bad input)."""


class NotYetAnchored(PackageError):
    """Selected records are in the log but no anchored checkpoint contains them yet.

    `pending` lists `(evidence id, event id)` of each such record; status
    `logged-not-yet-anchored` in DESIGN.md's terms."""

    status = "logged-not-yet-anchored"

    def __init__(self, pending: Sequence[tuple[str, str]]) -> None:
        self.pending = list(pending)
        shown = ", ".join(f"{eid} (event {ev})" for eid, ev in self.pending[:10])
        more = f" and {len(self.pending) - 10} more" if len(self.pending) > 10 else ""
        super().__init__(
            f"{len(self.pending)} selected record(s) are {self.status}: {shown}{more}; "
            "no anchored checkpoint contains them yet. Wait for the anchoring job to anchor "
            "a checkpoint that covers them and build the package again"
        )


class PackageKeyError(DisputeError):
    """The bank's package-signing key file is unreadable, of the wrong type or too open."""

