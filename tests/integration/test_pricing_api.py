"""Floating-rate loans against the real API and a real SQLite file: a repricing with an LPR
that was never published is refused and nothing is written; an inconsistent one is recorded
as a finding; an applied one changes the rates of the loan view's computation rows."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from lending_core.events import example_payload
from lending_core.events.examples import FLOATING_PRICING
from service.settings import Settings
from tests.conftest import make_event
from tests.integration.api_client import Api, running_api

LOAN = "L-FLOAT-1"


@pytest.fixture
def api(settings: Settings) -> Iterator[Api]:
    with running_api(settings) as a:
        yield a


def opening() -> list[dict[str, Any]]:
    c = example_payload("contract_signed")
    c.update(amount="120000.00", annual_rate="0.0445", repayment_method="equal_principal",
             first_due_date="2024-04-20", due_day=20)
    c["pricing"] = dict(FLOATING_PRICING, spread_bp=100)
    c["e_signature"]["signed_at"] = "2024-03-18T10:00:00+08:00"
    d = example_payload("disbursement")
    d.update(amount="120000.00", value_date="2024-03-20")
    return [
        make_event(f"{LOAN}-cd", LOAN, occurred_at="2024-03-01T12:00:00+08:00"),
        make_event(f"{LOAN}-c", LOAN, type_="contract_signed", payload=c,
                   occurred_at="2024-03-18T12:00:00+08:00"),
        make_event(f"{LOAN}-d", LOAN, type_="disbursement", payload=d,
                   occurred_at="2024-03-20T12:00:00+08:00"),
    ]


def repricing(event_id: str, day: str = "2025-01-01", **changes: Any) -> dict[str, Any]:
    p = example_payload("repricing")
    p.update(lpr="0.0310", spread_bp=100, new_rate="0.0410", previous_rate="0.0445")
    p.update(changes)
    return make_event(event_id, LOAN, type_="repricing", payload=p,
                      occurred_at=f"{day}T12:00:00+08:00")


def test_repricing_through_the_api(api: Api) -> None:
    for e in opening():
        r = api.request("POST", "/v1/events", json=e)
        assert r.status_code == 201, r.text
    size = api.ctx.store.tree_size()
    # An LPR that was not the one published for its date can never become true: refused.
    bad = api.request("POST", "/v1/events",
                      json=repricing(f"{LOAN}-bad", lpr="0.0320", new_rate="0.0420"))
    assert bad.status_code == 422 and bad.json()["reason_code"] == "lpr_mismatch", bad.text
    assert "published 2024-12-20" in bad.json()["detail"]
    assert api.ctx.store.tree_size() == size
    # A reset off the contract's repricing dates is recorded, and is a finding.
    off = api.request("POST", "/v1/events",
                      json=repricing(f"{LOAN}-off", day="2025-01-02",
                                     effective_date="2025-01-02"))
    assert off.status_code == 201, off.text
    f = api.request("GET", f"/v1/loans/{LOAN}/findings").json()
    assert [x["code"] for x in f["findings"]] == ["repricing_off_schedule"]
    # The right one is applied: the loan view's computation rows carry both rates.
    ok = api.request("POST", "/v1/events", json=repricing(f"{LOAN}-ok"))
    assert ok.status_code == 201, ok.text
    view = api.request("GET", f"/v1/loans/{LOAN}?as_of=2025-01-31").json()
    rates = {(r["from"], r["annual_rate"]) for r in view["arrears"]["rows"]
             if r["kind"] == "期内利息"}
    assert ("2024-12-20", "0.0445") in rates and ("2025-01-01", "0.0410") in rates
