"""`cunzheng loan show`, run as a user runs it, on a default (encrypted at rest) data
directory; and a contract with `first_due_date` but no `due_day`, whose due dates must be
the contract's in `loan show`, in the monitoring job and in the claim.

Regressions (issue 11, item 5): `loan show` opened the store without the keyring and
failed on every default data directory; `loan show` and monitoring put due dates on the
value date's day (the 8th here) while the contract says the 20th, so a borrower who paid
on the contract's dates was 12 days past due and charged 罚息.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from anchoring.errors import AnchoringError
from anchoring.store import LogStore
from dispute.claim import arrears_for, loan_terms
from dispute.selection import StoredRecord
from dispute.selection import loan_state as claim_state
from lending_core.events import example_payload
from lending_core.interest import schedules_for
from lending_core.state import CHINA_TZ
from service.context import build_context, open_store
from service.monitoring_job import decide, loan_state, schedule_in_force
from service.settings import Settings
from tests.integration.chain_nodes import REPO

TENANT, LOAN = "bank-a", "L-FDD-1"
AS_OF = date(2024, 7, 19)  # the day before installment 4 falls due
# Hand-written: the contract's dates (first due 2024-04-20, then the 20th of each month).
DUE = ["2024-04-20", "2024-05-20", "2024-06-20", "2024-07-20", "2024-08-20", "2024-09-20",
       "2024-10-20", "2024-11-20", "2024-12-20", "2025-01-20", "2025-02-20", "2025-03-20"]
FIRST_INTEREST = Decimal("1558.75")
"""300,000.00 × 4.35 % × 43 days (8 March to 20 April) / 360, the broken first period."""


def _event(n: int, type_: str, at: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"event_id": f"{LOAN}:{n:02d}", "loan_id": LOAN, "type": type_, "occurred_at": at,
            "payload": payload, "documents": [],
            "source": {"system": "core-banking", "ref": f"{LOAN}/{n}"}}


def _opening() -> list[dict[str, Any]]:
    contract = example_payload("contract_signed")
    del contract["due_day"]  # the contract names its first due date only
    assert contract["first_due_date"] == DUE[0]
    disbursement = {**example_payload("disbursement"), "value_date": "2024-03-08",
                    "clearing_ref": "CNAPS-20240308-000981"}
    events = [_event(0, "credit_decision", "2024-03-01T10:20:00+08:00",
                     example_payload("credit_decision")),
              _event(1, "contract_signed", "2024-03-02T14:05:00+08:00", contract),
              _event(2, "disbursement", "2024-03-08T10:00:00+08:00", disbursement)]
    return events


def _repayment(n: int, due: str, amount: str, interest: str, principal: str) -> dict[str, Any]:
    payload = copy.deepcopy(example_payload("repayment_received"))
    payload.update(amount=amount, value_date=due, clearing_ref=f"CNAPS-{due}-{n}",
                   installment_nos=[n])
    payload["allocation"].update(interest=interest, principal=principal)
    return _event(2 + n, "repayment_received", f"{due}T09:30:00+08:00", payload)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A default data directory (encrypted at rest) holding the loan, paid on time."""
    data = tmp_path / "data"
    settings = Settings(data_dir=data, anchor_enabled=False)
    assert settings.encrypt_at_rest  # the default this regression is about
    ctx = build_context(settings)
    try:
        ctx.log.submit(TENANT, _opening())
        state = loan_state(ctx.store, TENANT, LOAN)
        assert state is not None
        schedule, _ = schedule_in_force(state)
        for inst in schedule.installments[:3]:  # installments 1-3, each on its due date
            ctx.log.submit(TENANT, [_repayment(inst.no, inst.due_date.isoformat(),
                                               str(inst.payment), str(inst.interest),
                                               str(inst.principal))])
    finally:
        ctx.engine.dispose()
    assert (data / "master-key").exists()
    return data


def _loan_show(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "service.cli", "loan", "show", LOAN,
                           "--tenant", TENANT, "--as-of", AS_OF.isoformat(), *args],
                          cwd=REPO, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "CUNZHENG_DATA_DIR": str(data), "COLUMNS": "200"})


def test_loan_show_reads_an_encrypted_data_dir(data_dir: Path) -> None:
    settings = Settings(data_dir=data_dir, anchor_enabled=False)
    from service.db import make_engine

    engine = make_engine(settings.resolved_database_url)
    try:  # the records really are sealed: without the keyring they cannot be read
        with pytest.raises(AnchoringError, match="no master key is configured"):
            loan_state(LogStore(engine), TENANT, LOAN)
    finally:
        engine.dispose()
    done = _loan_show(data_dir, "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    view = json.loads(done.stdout)
    assert view["loan_id"] == LOAN and view["events"] == 6
    assert view["disbursed"] == "300000.00" and view["status"] == "disbursed"
    text = _loan_show(data_dir)
    assert text.returncode == 0, text.stderr[-2000:]
    assert LOAN in text.stdout and "first due 2024-04-20" in text.stdout


def test_no_master_key_is_one_clear_line(data_dir: Path) -> None:
    (data_dir / "master-key").rename(data_dir / "master-key.away")
    done = _loan_show(data_dir, "--json")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "no master key is configured" in done.stderr


def test_first_due_date_without_due_day_is_the_same_everywhere(data_dir: Path) -> None:
    done = _loan_show(data_dir, "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    view = json.loads(done.stdout)
    assert view["terms"]["first_due_date"] == "2024-04-20" and view["terms"]["due_day"] is None
    # loan show: the contract's dates, nobody past due, no 罚息 or 复利
    assert [i["due_date"] for i in view["schedule"]] == DUE
    assert view["schedule"][0]["interest"] == str(FIRST_INTEREST)
    assert view["monitoring"]["days_past_due"] == 0
    assert view["monitoring"]["category"] == "正常" and not view["monitoring"]["warnings"]
    a = view["arrears"]
    assert a["penalty_interest"] == a["compound_interest"] == a["overdue_principal"] == "0.00"
    assert a["total_due"] == "0.00"
    assert not [r for r in a["rows"] if r["kind"] in ("罚息", "复利")]
    interest_rows = [r for r in a["rows"] if r["kind"] == "期内利息"]
    # each period runs to the day before its due date (算头不算尾)
    assert [r["to"] for r in interest_rows] == [
        (date.fromisoformat(d) - timedelta(days=1)).isoformat() for d in DUE[:3]]
    assert interest_rows[0]["amount"] == str(FIRST_INTEREST) and interest_rows[0]["days"] == 43

    settings = Settings(data_dir=data_dir, anchor_enabled=False)
    ctx = build_context(settings)
    try:
        # monitoring: the same dates, and nothing to post for a borrower paying on time
        state = loan_state(open_store(settings, ctx.engine), TENANT, LOAN)
        assert state is not None
        schedule, _ = schedule_in_force(state)
        assert [i.due_date.isoformat() for i in schedule.installments] == DUE
        now = datetime.combine(AS_OF, time(23, 0), CHINA_TZ)
        report, events, _ = decide(state, AS_OF, now)
        assert report is not None and report.days_past_due == 0 and events == []
        # the claim: the same dates, the same (zero) arrears
        records = [StoredRecord.from_bytes(leaf.leaf_index, leaf.record)
                   for leaf in ctx.store.loan_events(TENANT, LOAN) if leaf.record is not None]
        terms, disbursements, _, _ = loan_terms(claim_state(records))
        [claim_schedule] = schedules_for(terms, disbursements)
        assert [i.due_date.isoformat() for i in claim_schedule.installments] == DUE
        statement = arrears_for(records, AS_OF)
        assert statement.penalty_interest == statement.compound_interest == 0
        assert str(statement.total_due) == a["total_due"]
    finally:
        ctx.engine.dispose()
