"""The legal workbench's read model: every loan rebuilt from its stored records, classified
by the post-loan monitoring rules (五级分类, days past due) as of a date, one loan's
timeline with each event's evidence status, and each loan's proof status: how many records
it has at the newest indexed checkpoint, its last, and whether the history is complete
(`service.completeness`, the API's check; at most `MAX_PROOF_CHECKS` loans per page).

Loans are rebuilt with `lending_core.state` (through `service.monitoring_job.loan_state`)
and assessed with `lending_core.monitoring.assess`, the same rules the monitoring job
posts flags with. Nothing is cached: the page reads the ledger as it is. `MAX_LOANS`
bounds one page's work.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from anchoring.receipts import evidence_id
from cunzheng_verify.errors import CunzhengError
from lending_core.monitoring import MonitoringReport, RiskCategory, assess
from lending_core.state import LoanState, LoanStatus
from service.completeness import Completeness, IndexedCheckpoint, check, indexed_checkpoint
from service.context import AppContext
from service.loans import findings_json, loan_history
from service.monitoring_job import loan_state, schedule_in_force

MAX_LOANS = 500
"""Loans read for one page; the summary says when there were more."""

MAX_PROOF_CHECKS = 100
"""Loans whose completeness one workbench page checks (an index proof, the loan's chain and
its events: three reads, every record parsed, none folded): the first rows as sorted (most
days past due first); the rest say 'not checked on this page' and the loan page checks them."""

CATEGORIES = tuple(c.value for c in RiskCategory)
CATEGORY_EN = {"正常": "normal", "关注": "special mention", "次级": "substandard",
               "可疑": "doubtful", "损失": "loss"}
DPD_BUCKETS = ((0, 0, "0"), (1, 30, "1–30"), (31, 90, "31–90"), (91, 180, "91–180"),
               (181, 360, "181–360"), (361, 10**9, "360+"))
_NOT_SERVICED = (LoanStatus.DECLINED, LoanStatus.APPROVED, LoanStatus.CONTRACTED)


@dataclass(frozen=True, slots=True)
class LoanRow:
    tenant: str
    loan_id: str
    status: str
    category: str | None  # None when not assessable (not yet disbursed, settled, unreadable)
    days_past_due: int | None
    overdue_amount: Decimal | None
    principal: Decimal | None
    dispute_candidate: bool
    events: int
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Portfolio:
    as_of: date
    rows: tuple[LoanRow, ...]
    truncated: bool

    def by_category(self) -> dict[str, int]:
        counts = Counter(r.category for r in self.rows if r.category)
        return {c: counts.get(c, 0) for c in CATEGORIES}

    def by_dpd(self) -> list[tuple[str, int]]:
        out = []
        for lo, hi, label in DPD_BUCKETS:
            out.append((label, sum(1 for r in self.rows if r.days_past_due is not None
                                   and lo <= r.days_past_due <= hi)))
        return out

    @property
    def dispute_candidates(self) -> int:
        return sum(1 for r in self.rows if r.dispute_candidate)


def loan_keys(ctx: AppContext, limit: int = MAX_LOANS + 1) -> list[tuple[str, str]]:
    return ctx.store.loans(limit)


def report_for(state: LoanState, as_of: date) -> MonitoringReport | None:
    if (state.status in _NOT_SERVICED or state.status is LoanStatus.SETTLED
            or state.terms is None or state.first_value_date is None):
        return None
    schedule, repayments = schedule_in_force(state)
    accel = state.acceleration.payload.accelerated_on if state.acceleration else None
    return assess(schedule, repayments, as_of, accelerated_on=accel)


def loan_row(ctx: AppContext, tenant: str, loan_id: str, as_of: date) -> LoanRow:
    count = 0
    try:  # a record that cannot be opened (its columns changed: fsck) is this row's note
        count = len(ctx.store.loan_events(tenant, loan_id))
        state = loan_state(ctx.store, tenant, loan_id)
    except CunzhengError as exc:
        return LoanRow(tenant, loan_id, "unreadable", None, None, None, None, False, count,
                       f"cannot rebuild: {exc}")
    if state is None:
        return LoanRow(tenant, loan_id, "erased", None, None, None, None, False, count)
    try:
        report = report_for(state, as_of)
    except CunzhengError as exc:
        return LoanRow(tenant, loan_id, state.status.value, None, None, None, None, False,
                       count, f"cannot assess: {exc}")
    principal = state.terms.principal if state.terms is not None else None
    if report is None:
        return LoanRow(tenant, loan_id, state.status.value, None, None, None, principal,
                       False, count)
    return LoanRow(tenant, loan_id, state.status.value, report.category.value,
                   report.days_past_due, report.overdue_amount, principal,
                   report.dispute_candidate, count)


def portfolio(ctx: AppContext, as_of: date, *, tenant: str | None = None,
              category: str | None = None) -> Portfolio:
    keys = loan_keys(ctx)
    truncated = len(keys) > MAX_LOANS
    keys = keys[:MAX_LOANS]
    if tenant:
        keys = [k for k in keys if k[0] == tenant]
    rows = [loan_row(ctx, t, loan, as_of) for t, loan in keys]
    if category:
        rows = [r for r in rows if r.category == category]
    rows.sort(key=lambda r: (-(r.days_past_due or 0), r.tenant, r.loan_id))
    return Portfolio(as_of, tuple(rows), truncated)


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    leaf_index: int
    evidence_id: str
    leaf_hash: str
    event_id: str
    type: str
    occurred_at: str | None
    received_at: str
    summary: str
    documents: list[dict[str, Any]]
    status: str  # anchored | logged-not-yet-anchored | erased
    checkpoint_size: int | None
    block_number: int | None
    block_time: str | None
    tx_hash: str | None
    cosigners: int


_SUMMARY_FIELDS = ("amount", "principal", "installment_no", "due_date", "amount_due",
                   "classification", "days_past_due", "channel", "accelerated_on", "decision")


def _summary(payload: Any) -> str:
    if not isinstance(payload, dict):
        return ""
    parts = [f"{k}={payload[k]}" for k in _SUMMARY_FIELDS if k in payload
             and not isinstance(payload[k], (dict, list))]
    return ", ".join(parts)[:160]


def timeline(ctx: AppContext, tenant: str, loan_id: str) -> list[TimelineEntry]:
    import json

    out = []
    anchor_cache: dict[int, Any] = {}
    for leaf in ctx.store.loan_events(tenant, loan_id):
        content: dict[str, Any] = {}
        if leaf.record is not None:
            try:
                content = json.loads(leaf.record)
            except ValueError:
                content = {}
        row = ctx.anchors.covering(leaf.leaf_index + 1)
        anchored = row is not None and bool(row.block_time)
        cosigners = 0
        if anchored and row is not None:
            if row.tree_size not in anchor_cache:
                anchor_cache[row.tree_size] = len(ctx.anchors.cosigners(row.tree_size))
            cosigners = anchor_cache[row.tree_size]
        status = "erased" if leaf.record is None else (
            "anchored" if anchored else "logged-not-yet-anchored")
        out.append(TimelineEntry(
            leaf.leaf_index, evidence_id(ctx.log.origin, leaf.leaf_index), leaf.leaf_hash.hex(),
            leaf.event_id, leaf.event_type, content.get("occurred_at"), leaf.received_at,
            _summary(content.get("payload")),
            [d for d in content.get("documents", []) if isinstance(d, dict)],
            status, row.tree_size if anchored and row else None,
            row.block_number if anchored and row else None,
            row.block_time if anchored and row else None,
            row.tx_hash if anchored and row else None, cosigners))
    return out


def tenants(ctx: AppContext) -> list[str]:
    return ctx.store.tenants()


def loan_findings(ctx: AppContext, tenant: str, loan_id: str) -> list[dict[str, Any]]:
    """The loan's findings, open first, with the arrivals that revealed and resolved them."""
    try:
        loan = loan_history(ctx.store, tenant, loan_id)
    except CunzhengError:
        return []
    return findings_json(loan.findings) if loan is not None else []


@dataclass(frozen=True, slots=True)
class FindingsRow:
    tenant: str
    loan_id: str
    codes: tuple[tuple[str, int], ...]  # code, how many open

    @property
    def open(self) -> int:
        return sum(n for _, n in self.codes)


def open_findings(ctx: AppContext) -> tuple[list[FindingsRow], bool]:
    """Loans with open findings (codes and counts only: auditors see no content), and
    whether the list stops at `MAX_LOANS` loans read."""
    keys = loan_keys(ctx)
    rows = []
    for tenant, loan_id in keys[:MAX_LOANS]:
        try:
            state = loan_state(ctx.store, tenant, loan_id)
        except CunzhengError:
            continue
        if state is not None and state.findings:
            counts = Counter(f.code for f in state.findings)
            rows.append(FindingsRow(tenant, loan_id, tuple(sorted(counts.items()))))
    return rows, len(keys) > MAX_LOANS



# --- proof status ----------------------------------------------------------------------------


NOT_CHECKED, NO_INDEX = "not-checked", "no-index"


@dataclass(frozen=True, slots=True)
class ProofStatus:
    """A loan's row in the workbench's proof columns: `state` is a `completeness.Status`
    value, `no-index` (no checkpoint commits to a loan index yet) or `not-checked` (past
    `MAX_PROOF_CHECKS` on this page)."""

    state: str
    count: int | None = None
    last_evidence_id: str | None = None
    last_type: str | None = None
    last_received_at: str | None = None
    proved_from: int | None = None
    problem: str | None = None

    @classmethod
    def of(cls, c: Completeness) -> ProofStatus:
        last = c.last
        return cls(c.status.value, c.count,
                   None if last is None else evidence_id(c.origin, last.leaf_index),
                   None if last is None else last.event_type,
                   None if last is None else last.received_at, c.proved_from,
                   "; ".join(c.problems) or None)


def proof_status(ctx: AppContext, at: IndexedCheckpoint | None, tenant: str,
                 loan_id: str) -> ProofStatus:
    if at is None:
        return ProofStatus(NO_INDEX)
    return ProofStatus.of(check(ctx, at, tenant, loan_id))


def proof_statuses(ctx: AppContext, rows: tuple[LoanRow, ...]
                   ) -> tuple[IndexedCheckpoint | None, list[ProofStatus]]:
    """The newest indexed checkpoint and each row's proof status there (the first
    `MAX_PROOF_CHECKS` rows checked, the rest `not-checked`)."""
    at = indexed_checkpoint(ctx)
    return at, [proof_status(ctx, at, r.tenant, r.loan_id) if n < MAX_PROOF_CHECKS
                else ProofStatus(NOT_CHECKED) for n, r in enumerate(rows)]


def loan_completeness(ctx: AppContext, tenant: str, loan_id: str) -> Completeness | None:
    """One loan's completeness at the newest indexed checkpoint (None: there is none)."""
    at = indexed_checkpoint(ctx)
    return None if at is None else check(ctx, at, tenant, loan_id)
