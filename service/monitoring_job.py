"""The post-loan monitoring job (贷后监控): for each loan of a tenant, rebuild its state from
the ledger, apply the rules of `lending_core.monitoring` as of a date, and post what changed
back to the ledger like any lending service would.

What it posts, per loan and only when something changed since the loan's last events:
`repayment_missed` for each installment now past due that no event has recorded as missed
yet, and a `monitoring_flag` when the classification (五级分类), the set of early warnings
or the dispute-candidate verdict differs from the last flag (a first flag only once the loan
is no longer plainly 正常). Event ids are `mon:<loan>:<as_of>:<kind>`, so a second run for
the same date posts nothing new, and two concurrent runs cannot post twice (the second gets
a conflict, which is counted and skipped). The decision (`decide`) is pure; the time comes
in as `now`, never from the system clock here.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from anchoring.errors import Conflict
from anchoring.store import BatchItemError, LogStore
from cunzheng_verify.errors import CunzhengError
from lending_core.interest_model import Repayment
from lending_core.loan_schedule import schedule_for
from lending_core.money import format_payload_money
from lending_core.monitoring import (
    MonitoringReport,
    RiskCategory,
    assess,
    installment_statuses,
)
from lending_core.schedule import RepaymentSchedule
from lending_core.state import CHINA_TZ, LoanState, LoanStatus, rebuild
from service.context import AppContext
from service.errors import MonitoringError
from service.lending import DERIVED, leaf_events

logger = logging.getLogger("cunzheng.monitoring")

RULES_VERSION = "yinjianfa-2007-54/v1"
"""The rule set `lending_core.monitoring` implements; recorded in every flag."""
SYSTEM = "cunzheng-monitoring"
MAX_EVENT_ID = 128
_DONE = (LoanStatus.SETTLED, LoanStatus.WRITTEN_OFF, LoanStatus.DECLINED,
         LoanStatus.APPROVED, LoanStatus.CONTRACTED)


@dataclass(frozen=True, slots=True)
class LoanVerdict:
    loan_id: str
    report: MonitoringReport | None
    posted: tuple[str, ...]
    skipped: str | None = None


@dataclass(frozen=True, slots=True)
class MonitoringRun:
    tenant: str
    as_of: date
    ran_at: datetime
    verdicts: tuple[LoanVerdict, ...]

    @property
    def events_posted(self) -> int:
        return sum(len(v.posted) for v in self.verdicts)

    @property
    def loans_checked(self) -> int:
        return len(self.verdicts)

    def by_category(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for v in self.verdicts:
            if v.report is not None:
                out[v.report.category.value] = out.get(v.report.category.value, 0) + 1
        return out


def loan_state(store: LogStore, tenant: str, loan_id: str) -> LoanState | None:
    """The loan rebuilt from its stored records in loan order (erased records left out)."""
    events, _ = leaf_events(store.loan_events(tenant, loan_id))
    return rebuild(events) if events else None


def schedule_in_force(state: LoanState) -> tuple[RepaymentSchedule, list[Repayment]]:
    """The schedule of the terms in force and the repayments that count against it.

    The claim's own inputs (`dispute.claim.arrears_inputs`) when the loan has one schedule:
    the terms in force after a restructuring or an extension (only later repayments count)
    and each prepayment's re-amortisation, so monitoring and the claim agree. Otherwise
    several disbursements are approximated by one schedule over their total from the first
    value date (the simulator and most 好企贷 loans have one).
    """
    from dispute.claim import arrears_inputs

    try:
        inputs = arrears_inputs(state)
    except CunzhengError:
        inputs = None
    if inputs is not None and len(inputs.schedules) == 1:
        return inputs.schedules[0], list(inputs.repayments)
    terms = state.terms
    assert terms is not None and state.first_value_date is not None
    if state.restructurings:
        start, principal = terms.since, terms.principal
    else:
        start, principal = state.first_value_date, state.disbursed_total
    schedule = schedule_for(terms, principal, start)  # the one schedule of every view
    repayments = [Repayment(r.payload.amount, r.payload.value_date) for r in state.repayments
                  if r.payload.value_date >= start]
    return schedule, repayments


def _event_id(loan_id: str, as_of: date, kind: str) -> str:
    event_id = f"mon:{loan_id}:{as_of.isoformat()}:{kind}"
    if len(event_id) > MAX_EVENT_ID:
        digest = hashlib.sha256(loan_id.encode()).hexdigest()[:32]
        event_id = f"mon:{digest}:{as_of.isoformat()}:{kind}"
    return event_id


def decide(state: LoanState, as_of: date, now: datetime) -> tuple[MonitoringReport | None,
                                                                  list[dict[str, Any]], str | None]:
    """The report for `state` as of `as_of`, the events to post at `now`, or why none."""
    if state.status in _DONE or state.terms is None or state.first_value_date is None:
        return None, [], f"status {state.status.value}"
    if state.last_occurred_at > now:
        return None, [], "the loan has events after the run's time"
    schedule, repayments = schedule_in_force(state)
    accel = state.acceleration.payload.accelerated_on if state.acceleration else None
    report = assess(schedule, repayments, as_of, accelerated_on=accel)
    occurred = now.astimezone(CHINA_TZ).isoformat()
    source = {"system": SYSTEM, "ref": f"run-{as_of.isoformat()}"}
    refs = {"system": SYSTEM, "refs": {"run_id": f"MON-{as_of:%Y%m%d}"}}
    events: list[dict[str, Any]] = []
    recorded = {m.installment_no for m in state.missed}
    due_dates = {i.no: i for i in schedule.installments}
    for s in installment_statuses(schedule, repayments, as_of, accelerated_on=accel):
        inst = due_dates[s.no]
        if s.days_past_due == 0 or s.no in recorded or s.due_date != inst.due_date:
            continue  # paid, already recorded, or only due by acceleration (not an installment)
        if s.due_date <= state.first_value_date:
            continue
        owed = s.amount_due - s.paid_by_as_of
        payload: dict[str, Any] = {"due_date": s.due_date.isoformat(), "installment_no": s.no,
                                   "amount_due": format_payload_money(owed), "source": refs}
        if s.paid_by_as_of == 0:
            payload["principal_due"] = format_payload_money(inst.principal)
            payload["interest_due"] = format_payload_money(inst.interest)
        events.append({"event_id": _event_id(state.loan_id, as_of, f"missed-{s.no}"),
                       "loan_id": state.loan_id, "type": "repayment_missed",
                       "occurred_at": occurred, "payload": payload, "source": source})
    last = state.monitoring_flags[-1].payload if state.monitoring_flags else None
    warnings = [{"kind": w.kind.value, "installment_no": w.installment_no,
                 "due_date": w.due_date.isoformat() if w.due_date else None,
                 "detail": w.detail} for w in report.warnings]
    signature = (report.category.value, report.dispute_candidate,
                 sorted((w["kind"], w["installment_no"] or 0) for w in warnings))
    if last is None:
        changed = (report.category is not RiskCategory.NORMAL or report.dispute_candidate
                   or bool(warnings))
    else:
        changed = signature != (last.classification, last.dispute_candidate,
                                sorted((w.kind, w.installment_no or 0) for w in last.warnings))
        changed = changed and as_of >= last.as_of
    if changed:
        flag: dict[str, Any] = {"supersedes": None}
        if last is not None:
            before = state.monitoring_flags[-1]
            why = (f"recomputed as of {as_of} after events arrived late"
                   if as_of == last.as_of else f"the verdict as of {as_of} replaces the one "
                   f"as of {last.as_of}")
            flag = {"supersedes": before.event_id,
                    "supersede_reason": f"{why}: {last.classification} → "
                    f"{report.category.value}, days past due {last.days_past_due} → "
                    f"{report.days_past_due}"}
        taken = {f.event_id for f in state.monitoring_flags}
        kind, n = "flag", 1
        while _event_id(state.loan_id, as_of, kind) in taken:
            n += 1
            kind = f"flag-{n}"
        events.append({
            "event_id": _event_id(state.loan_id, as_of, kind), "loan_id": state.loan_id,
            "type": "monitoring_flag", "occurred_at": occurred, "source": source,
            "payload": {
                "as_of": as_of.isoformat(), "classification": report.category.value,
                "previous_classification": last.classification if last else "正常",
                "days_past_due": report.days_past_due,
                "overdue_amount": format_payload_money(report.overdue_amount),
                "warnings": [{k: v for k, v in w.items() if v is not None} for w in warnings],
                "dispute_candidate": report.dispute_candidate,
                "dispute_reasons": list(report.dispute_reasons)
                if report.dispute_candidate else [],
                "rules_version": RULES_VERSION, "source": refs,
                **{k: v for k, v in flag.items() if v is not None}}})
    return report, events, None


def run_monitoring(ctx: AppContext, as_of: date, tenant: str, *,
                   now: datetime | None = None) -> MonitoringRun:
    """Monitor every loan of `tenant` as of `as_of`; post what changed (see module doc)."""
    now = now or ctx.clock()
    if as_of > now.astimezone(CHINA_TZ).date():
        raise MonitoringError(f"expected as_of on or before the run's date "
                              f"{now.astimezone(CHINA_TZ).date()}, found {as_of}")
    verdicts: list[LoanVerdict] = []
    for loan_id in ctx.store.loan_ids(tenant):
        try:
            state = loan_state(ctx.store, tenant, loan_id)
        except CunzhengError as exc:  # a loan the ledger holds but cannot rebuild: report it
            verdicts.append(LoanVerdict(loan_id, None, (), f"cannot rebuild: {exc}"))
            continue
        if state is None:
            verdicts.append(LoanVerdict(loan_id, None, (), "erased"))
            continue
        report, events, why = decide(state, as_of, now)
        if not events:
            verdicts.append(LoanVerdict(loan_id, report, (), why))
            continue
        try:
            ctx.log.submit(tenant, events, by_service=True, policy=DERIVED)
        except BatchItemError as exc:
            if not isinstance(exc.error, Conflict):
                raise
            verdicts.append(LoanVerdict(loan_id, report, (), "posted by a concurrent run"))
            continue
        verdicts.append(LoanVerdict(loan_id, report, tuple(e["event_id"] for e in events)))
    run = MonitoringRun(tenant, as_of, now, tuple(verdicts))
    logger.info("monitoring %s as of %s: %d loans, %d events posted, %s", tenant, as_of,
                run.loans_checked, run.events_posted, run.by_category())
    return run


def schedule_monitoring(scheduler: Any, ctx: AppContext, tenant: str,
                        clock: Callable[[], datetime], interval: float) -> Any:
    """Add a job to an APScheduler `BackgroundScheduler` that monitors `tenant` every
    `interval` seconds as of the clock's date in China Standard Time. Returns the job."""

    def tick() -> None:
        now = clock()
        try:
            run_monitoring(ctx, now.astimezone(CHINA_TZ).date(), tenant, now=now)
        except Exception:  # keep the scheduler alive; the next tick retries
            logger.exception("monitoring run for %s failed", tenant)

    return scheduler.add_job(tick, "interval", seconds=interval, id=f"monitoring:{tenant}",
                             replace_existing=True, max_instances=1, coalesce=True)


__all__: Sequence[str] = [
    "LoanVerdict",
    "MonitoringError",
    "MonitoringRun",
    "decide",
    "loan_state",
    "run_monitoring",
    "schedule_monitoring",
]
