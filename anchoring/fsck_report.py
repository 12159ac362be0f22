"""What fsck reports (`anchoring.fsck`): each divergence as a `Finding` naming its place
(leaf, checkpoint) and, for a column or a field, what was expected and what was found."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str
    detail: str
    leaf_index: int | None = None
    checkpoint_size: int | None = None
    column: str | None = None  # the column (or record field) that diverges
    expected: str | None = None  # what the record (or the re-derivation) says
    found: str | None = None  # what storage holds


@dataclass(frozen=True, slots=True)
class FsckReport:
    tree_size: int
    leaves_checked: int
    checkpoints_checked: int
    findings: tuple[Finding, ...]
    notes: tuple[str, ...] = ()  # what was not checked, and why

    @property
    def ok(self) -> bool:
        return not self.findings

    def as_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "tree_size": self.tree_size, "leaves_checked": self.leaves_checked,
                "checkpoints_checked": self.checkpoints_checked,
                "first": asdict(self.findings[0]) if self.findings else None,
                "findings": [asdict(f) for f in self.findings], "notes": list(self.notes)}
