"""A loan as every view shows it: rebuilt from its stored records in loan order, with its
findings, monitoring verdict and arrears statement.

`loan_history` reads the records (leaf order is arrival order), `loan_json` is the one JSON
shape that `cunzheng loan show --json`, `GET /v1/loans/{loan_id}` and the pages share.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from anchoring.store import LogStore
from cunzheng_verify.records import format_utc
from dispute.claim import arrears_in_force
from lending_core.monitoring import assess
from lending_core.state import FindingRecord, LoanEvent, LoanState, history
from service.lending import leaf_events
from service.monitoring_job import schedule_in_force


@dataclass(frozen=True, slots=True)
class LoanHistory:
    """A loan's state, every finding any arrival revealed, and its readable records."""

    state: LoanState
    findings: tuple[FindingRecord, ...]
    events: tuple[LoanEvent, ...]
    erased: int  # records whose content was erased (left out of the fold)


def loan_history(store: LogStore, tenant: str, loan_id: str) -> LoanHistory | None:
    """The loan rebuilt from its stored records, or None if it has no readable record."""
    events, erased = leaf_events(store.loan_events(tenant, loan_id))
    if not events:
        return None
    state, findings = history(events)
    return LoanHistory(state, findings, tuple(events), erased)


def _time(moment: datetime | None) -> str | None:
    return format_utc(moment) if moment is not None else None


def findings_json(findings: tuple[FindingRecord, ...]) -> list[dict[str, Any]]:
    """Open findings first, then resolved ones, each in loan order."""
    ordered = sorted(findings, key=lambda r: (r.resolved, r.finding.occurred_at,
                                              r.finding.seq))
    return [{
        "code": r.finding.code, "reason": r.finding.reason,
        "event_id": r.finding.event_id, "event_type": r.finding.event_type,
        "occurred_at": _time(r.finding.occurred_at), "leaf_index": r.finding.seq,
        "derived": r.finding.derived,
        "found_by": r.found_by, "found_at": _time(r.found_at),
        "resolved": r.resolved, "resolved_by": r.resolved_by,
        "resolved_at": _time(r.resolved_at)} for r in ordered]


def loan_json(tenant: str, loan: LoanHistory, as_of: date) -> dict[str, Any]:
    """The loan's state, findings, monitoring verdict and arrears statement as of `as_of`."""
    state = loan.state
    view: dict[str, Any] = {
        "loan_id": state.loan_id, "tenant": tenant, "as_of": as_of.isoformat(),
        "status": state.status.value, "events": len(loan.events), "erased": loan.erased,
        "last_event": state.last_event_id, "recorded_classification": state.classification,
        "disbursed": str(state.disbursed_total), "received": str(state.received_total),
        "principal_outstanding": str(state.principal_outstanding),
        "missed_open": [m.installment_no for m in state.open_missed],
        "notices": [{"notice_id": n.sent.payload.notice_id, "kind": n.sent.payload.kind,
                     "channel": str(n.sent.payload.channel),
                     "delivered": n.delivered is not None} for n in state.notices],
        "accelerated_on": state.acceleration.payload.accelerated_on.isoformat()
        if state.acceleration else None,
        "findings": findings_json(loan.findings),
        "open_findings": sum(1 for r in loan.findings if not r.resolved),
        "superseded": [{"event_id": e, "reason": why} for e, why in state.superseded],
        "terms": None, "schedule": None, "monitoring": None, "arrears": None}
    t = state.terms
    if t is None or not state.disbursements:
        return view
    view["terms"] = {"principal": str(t.principal), "term_months": t.term_months,
                     "annual_rate": str(t.annual_rate), "method": t.repayment_method,
                     "first_due_date": t.first_due_date.isoformat() if t.first_due_date
                     else None, "due_day": t.due_day, "agreed_by": t.agreed_by}
    accel = state.acceleration.payload.accelerated_on if state.acceleration else None
    schedule, repayments = schedule_in_force(state)
    report = assess(schedule, repayments, as_of, accelerated_on=accel)
    view["monitoring"] = {"days_past_due": report.days_past_due,
                          "category": report.category.value,
                          "overdue_amount": str(report.overdue_amount),
                          "warnings": [w.detail for w in report.warnings],
                          "dispute_candidate": report.dispute_candidate}
    view["schedule"] = [{"no": i.no, "due_date": i.due_date.isoformat(),
                         "principal": str(i.principal), "interest": str(i.interest),
                         "payment": str(i.payment)} for i in schedule.installments]
    # the claim's own computation (terms in force, re-amortised prepayments, fees), so the
    # figures here are the claim's figures
    st = arrears_in_force(state, as_of)
    view["arrears"] = {
        "label": st.accrued_to_label, "outstanding_principal": str(st.outstanding_principal),
        "overdue_principal": str(st.overdue_principal), "interest_due": str(st.interest_due),
        "penalty_interest": str(st.penalty_interest),
        "compound_interest": str(st.compound_interest), "total_due": str(st.total_due),
        "total_outstanding": str(st.total_outstanding), "daily_accrual": str(st.daily_accrual),
        "rows": [{"kind": r.kind.value, "base": str(r.base), "from": r.from_date.isoformat(),
                  "to": r.to_date.isoformat(), "days": r.days, "annual_rate": str(r.annual_rate),
                  "amount": str(r.amount), "paid": str(r.paid),
                  "outstanding": str(r.outstanding), "clause": r.clause, "note": r.note}
                 for r in st.rows]}
    return view
