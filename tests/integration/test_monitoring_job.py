"""The monitoring job against the real app and database: loans that fall behind get
`repayment_missed` and `monitoring_flag` events, a rerun posts nothing, fsck stays clean."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from anchoring.fsck import fsck
from lending_core.client import LedgerClient
from lending_core.simulator import SimConfig, simulate
from lending_core.state import CHINA_TZ
from service.monitoring_job import loan_state, run_monitoring, schedule_monitoring
from service.posting import post_portfolio
from service.settings import Settings
from tests.integration.api_client import running_api

OPENING = ("credit_decision", "contract_signed", "security", "disbursement")


def test_a_loan_that_stops_paying_is_flagged(sqlite_settings: Settings) -> None:
    # a plain stream: the test keeps some event types only (no repricing, no reversal)
    portfolio = simulate(SimConfig.plain(loans=40, months=12, seed=3, documents=False,
                                         default_share=0.3))
    loan = next(x for x in portfolio.loans if x.behaviour == "default")
    # post only what core banking knows without collections: opening and repayments
    kept = [e.event for e in loan.events
            if e.type in OPENING or e.type == "repayment_received"]
    with running_api(sqlite_settings) as api:
        client = LedgerClient(None, api.key("lender", "bank-a"), http=api.client)
        client.post_events([{**e, "documents": []} for e in kept])
        last_paid = max(e["payload"]["value_date"] for e in kept
                        if e["type"] in ("repayment_received", "disbursement"))
        as_of = datetime.fromisoformat(last_paid).date() + timedelta(days=75)
        now = datetime.combine(as_of, time(2, 0), CHINA_TZ)
        run = run_monitoring(api.ctx, as_of, "bank-a", now=now)
        [verdict] = run.verdicts
        assert verdict.report is not None and verdict.report.days_past_due > 30
        kinds = [p.rsplit(":", 1)[1] for p in verdict.posted]
        assert kinds[-1] == "flag" and any(k.startswith("missed-") for k in kinds)
        state = loan_state(api.ctx.store, "bank-a", loan.loan_id)
        assert state is not None and state.classification == "关注"
        assert state.status.value == "overdue" and len(state.open_missed) >= 2
        # same date again: nothing changed, nothing posted
        assert run_monitoring(api.ctx, as_of, "bank-a", now=now).events_posted == 0
        # two months on it is 次级 (more than 90 days) and a dispute candidate
        later = as_of + timedelta(days=60)
        run = run_monitoring(api.ctx, later, "bank-a",
                             now=datetime.combine(later, time(2, 0), CHINA_TZ))
        assert run.verdicts[0].report is not None
        assert run.verdicts[0].report.category.value == "次级"
        state = loan_state(api.ctx.store, "bank-a", loan.loan_id)
        assert state is not None and state.monitoring_flags[-1].payload.dispute_candidate
        api.wait_checkpoint(api.ctx.store.tree_size())
        signer = api.ctx.log.signer
        assert fsck(api.ctx.store, key_name=signer.name, public_key=signer.public_key,
                    origin=api.ctx.log.origin).ok


def test_portfolio_at_the_horizon(sqlite_settings: Settings) -> None:
    config = SimConfig(loans=30, months=12, seed=21, documents=False, default_share=0.15)
    portfolio = simulate(config)
    with running_api(sqlite_settings) as api:
        client = LedgerClient(None, api.key("lender", "bank-a"), http=api.client)
        post_portfolio(client, portfolio, renderer=None)
        as_of = config.end - timedelta(days=1)
        run = run_monitoring(api.ctx, as_of, "bank-a",
                             now=datetime.combine(as_of, time(23, 30), CHINA_TZ))
        flagged = {v.loan_id for v in run.verdicts if any(p.endswith(":flag") for p in v.posted)}
        defaults = {x.loan_id for x in portfolio.loans
                    if x.behaviour == "default" and len(x.events) > 6}
        assert defaults and defaults <= flagged
        good = {x.loan_id for x in portfolio.loans if x.behaviour == "good"}
        assert not flagged & good  # borrowers paying on time raise nothing
        assert run_monitoring(api.ctx, as_of, "bank-a",
                              now=datetime.combine(as_of, time(23, 45), CHINA_TZ)
                              ).events_posted == 0


def test_schedule_monitoring_adds_one_interval_job(sqlite_settings: Settings) -> None:
    from apscheduler.schedulers.background import BackgroundScheduler

    scheduler = BackgroundScheduler()
    scheduler.start(paused=True)  # pending jobs are only de-duplicated once started
    with running_api(sqlite_settings) as api:
        job = schedule_monitoring(scheduler, api.ctx, "bank-a", api.ctx.clock, 3600)
        again = schedule_monitoring(scheduler, api.ctx, "bank-a", api.ctx.clock, 3600)
        assert job.id == again.id == "monitoring:bank-a"
        assert len(scheduler.get_jobs()) == 1
        job.func()  # one tick on an empty ledger: nothing to do, no error
    scheduler.shutdown(wait=False)
