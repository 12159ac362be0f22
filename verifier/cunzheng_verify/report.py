"""The verification report: one `Step` per check and item, and the exception that carries it.

The verifier never stops at the first failure (DESIGN.md, "Evidence package"): every check
adds a step with a stable name (`manifest.signature`, `record.leaf_hash`, `chain.anchor`, ...),
its outcome and why. `VerificationReport.as_json()` is the `cunzheng.verification/v1`
document `cunzheng verify --json` prints; `report_text` the same for people.
`PackageVerificationError` (raised by `raise_for_failures()` and by
`verify_package_or_raise`) carries the whole report and lists the failures in
`diagnostics()`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from cunzheng_verify.errors import DisputeError
from cunzheng_verify.format import REPORT_SCHEMA


class Status(StrEnum):
    OK = "ok"
    FAILED = "failed"
    WARNING = "warning"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class Step:
    """One check: its stable name, outcome, why, and which item (`1-3`) or file it is about."""

    step: str
    status: Status
    reason: str
    item: str | None = None
    subject: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"step": self.step, "status": self.status.value, "reason": self.reason,
                "item": self.item, "subject": self.subject}


@dataclass
class VerificationReport:
    package_id: str | None = None
    steps: list[Step] = field(default_factory=list)

    @property
    def failures(self) -> list[Step]:
        return [s for s in self.steps if s.status is Status.FAILED]

    @property
    def warnings(self) -> list[Step]:
        return [s for s in self.steps if s.status is Status.WARNING]

    @property
    def ok(self) -> bool:
        """No step failed (warnings and skipped steps allowed)."""
        return not self.failures

    @property
    def result(self) -> str:
        return "failed" if self.failures else "warning" if self.warnings else "ok"

    def failed_steps(self) -> set[str]:
        return {s.step for s in self.failures}

    def add(self, step: str, status: Status, reason: str, item: str | None = None,
            subject: str | None = None) -> None:
        self.steps.append(Step(step, status, reason, item, subject))

    def as_json(self) -> dict[str, Any]:
        counts = {s.value: sum(1 for x in self.steps if x.status is s) for s in Status}
        return {"schema": REPORT_SCHEMA, "package_id": self.package_id, "result": self.result,
                "counts": counts, "steps": [s.as_json() for s in self.steps]}

    def raise_for_failures(self) -> None:
        if self.failures:
            raise PackageVerificationError(self)


class PackageVerificationError(DisputeError):
    """A package did not verify; `report` holds every step, `diagnostics()` the failures."""

    def __init__(self, report: VerificationReport) -> None:
        self.report = report
        failed = report.failures
        super().__init__(
            f"evidence package {report.package_id or '(unknown id)'} did not verify: "
            f"{len(failed)} step(s) failed"
        )

    def diagnostics(self) -> str:
        lines = [str(self)]
        for step in self.report.failures:
            where = " ".join(x for x in (step.item and f"item {step.item}", step.subject) if x)
            lines.append(f"  [{step.step}]{' ' + where if where else ''}: {step.reason}")
        return "\n".join(lines)


def report_text(report: VerificationReport) -> str:
    """The report for people: one line per step, then the verdict."""
    lines = []
    for s in report.steps:
        where = " ".join(x for x in (s.item and f"[{s.item}]", s.subject) if x)
        lines.append(f"{s.status.value:<8} {s.step:<22} {where}: {s.reason}")
    counts = {st: sum(1 for x in report.steps if x.status is st) for st in Status}
    lines.append(f"{report.result.upper()}: package {report.package_id or '?'}: "
                 + ", ".join(f"{n} {st.value}" for st, n in counts.items()))
    return "\n".join(lines)
