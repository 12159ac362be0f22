"""Derived events never block primary ones, and are superseded when late events change the
picture (DESIGN.md, "Event time and arrival order"): the monitoring job flags a loan whose
repayment has not arrived; core banking posts that repayment a day late (T+1); it is
recorded, cures the installment, and the next run posts a flag that supersedes the first
with the reason."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from lending_core.client import LedgerClient
from lending_core.simulator import SimConfig, simulate
from lending_core.state import CHINA_TZ
from service.monitoring_job import loan_state, run_monitoring
from service.settings import Settings
from tests.integration.api_client import running_api

OPENING = ("credit_decision", "contract_signed", "security", "disbursement")


def test_a_late_repayment_is_recorded_and_supersedes_the_flag(
    sqlite_settings: Settings,
) -> None:
    portfolio = simulate(SimConfig(loans=20, months=12, seed=5, documents=False,
                                   default_share=0.0))
    loan = max((x for x in portfolio.loans if x.behaviour == "good"),
               key=lambda x: sum(e.type == "repayment_received" for e in x.events))
    opening = [e.event for e in loan.events if e.type in OPENING]
    repayments = [e.event for e in loan.events if e.type == "repayment_received"]
    assert len(repayments) >= 4
    on_time, late = repayments[:2], repayments[2]
    due = date.fromisoformat(late["payload"]["value_date"])
    as_of = due + timedelta(days=10)
    with running_api(sqlite_settings) as api:
        client = LedgerClient(None, api.key("lender", "bank-a"), http=api.client)
        client.post_events([{**e, "documents": []} for e in [*opening, *on_time]])
        first = run_monitoring(api.ctx, as_of, "bank-a",
                               now=datetime.combine(as_of, time(2, 0), CHINA_TZ))
        [verdict] = first.verdicts
        assert verdict.report is not None and verdict.report.category.value == "关注"
        flag_id = next(p for p in verdict.posted if p.endswith(":flag"))
        # T+1: core banking posts the repayment after the monitoring run; it is recorded
        r = api.request("POST", "/v1/events", json={**late, "documents": []})
        assert r.status_code == 201, r.text
        state = loan_state(api.ctx.store, "bank-a", loan.loan_id)
        assert state is not None and state.findings == ()
        assert state.open_missed == () and state.status.value != "overdue"
        # the next run recomputes: a new flag names the one it supersedes, and why
        second = run_monitoring(api.ctx, as_of, "bank-a",
                                now=datetime.combine(as_of, time(3, 0), CHINA_TZ))
        [verdict] = second.verdicts
        assert verdict.report is not None and verdict.report.category.value == "正常"
        [new_flag] = verdict.posted
        assert new_flag.endswith(":flag-2")
        state = loan_state(api.ctx.store, "bank-a", loan.loan_id)
        assert state is not None and state.classification == "正常"
        latest = state.monitoring_flags[-1].payload
        assert latest.supersedes == flag_id
        assert latest.supersede_reason and "late" in latest.supersede_reason
        assert "关注 → 正常" in latest.supersede_reason
        # and a third run at the same time posts nothing more
        assert run_monitoring(api.ctx, as_of, "bank-a",
                              now=datetime.combine(as_of, time(3, 30), CHINA_TZ)
                              ).events_posted == 0
