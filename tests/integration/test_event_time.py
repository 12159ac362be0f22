"""Record first, judge second: late and out-of-order events against the real API and a real
database (DESIGN.md, "Event time and arrival order")."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from lending_core.events import example_payload
from service.settings import Settings
from tests.conftest import make_event
from tests.integration.api_client import Api, running_api

STRICT = {"Prefer": "handling=strict"}


@pytest.fixture
def api(settings: Settings) -> Iterator[Api]:
    with running_api(settings) as a:
        yield a


def story(loan: str = "L-T") -> dict[str, dict[str, Any]]:
    """A loan's first events with their own times (China Standard Time)."""
    at = {"credit_decision": "2024-03-01T10:20:00+08:00",
          "contract_signed": "2024-03-02T14:05:00+08:00",
          "disbursement": "2024-03-05T09:00:00+08:00",
          "repayment_received": "2024-04-20T11:00:00+08:00"}
    return {t: make_event(f"{loan}-{t}", loan, type_=t, occurred_at=when)
            for t, when in at.items()}


def findings(api: Api, loan: str) -> dict[str, Any]:
    r = api.request("GET", f"/v1/loans/{loan}/findings")
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_a_repayment_before_its_contract_is_recorded_as_a_finding_then_resolved(
    api: Api,
) -> None:
    s = story()
    r = api.request("POST", "/v1/events", json=s["repayment_received"])
    assert r.status_code == 201, r.text  # recorded: the contract may still come
    f = findings(api, "L-T")
    assert f["open"] == 1 and f["findings"][0]["code"] == "before_contract"
    assert f["findings"][0]["event_id"] == "L-T-repayment_received"
    for t in ("disbursement", "contract_signed", "credit_decision"):
        assert api.request("POST", "/v1/events", json=s[t]).status_code == 201
    f = findings(api, "L-T")
    assert f["open"] == 0
    # the finding's life is kept: found by the repayment, resolved by a later arrival
    done = {x["event_id"]: x for x in f["findings"]}
    # the contract names a credit decision that had not arrived yet: a finding too
    assert set(done) == {"L-T-repayment_received", "L-T-disbursement", "L-T-contract_signed"}
    assert done["L-T-contract_signed"]["code"] == "unknown_decision"
    first = done["L-T-repayment_received"]
    assert first["resolved"] and first["found_by"] == "L-T-repayment_received"
    assert all(x["resolved_by"] == "L-T-credit_decision" and x["resolved_at"]
               for x in done.values())
    loan = api.request("GET", "/v1/loans/L-T?as_of=2024-04-30").json()
    assert loan["status"] == "disbursed" and loan["received"] == "25600.12"
    assert loan["events"] == 4 and loan["open_findings"] == 0


def test_strict_handling_refuses_with_the_finding_code_and_writes_nothing(api: Api) -> None:
    s = story()
    r = api.request("POST", "/v1/events", json=s["disbursement"], headers=STRICT)
    assert r.status_code == 422
    assert r.json()["reason_code"] == "before_contract" and "contract" in r.json()["detail"]
    assert api.ctx.store.tree_size() == 0
    # in order, strict handling accepts, and says it applied the preference
    for t in ("credit_decision", "contract_signed", "disbursement"):
        ok = api.request("POST", "/v1/events", json=s[t], headers=STRICT)
        assert ok.status_code == 201 and ok.headers["preference-applied"] == "handling=strict"
    # a second disbursement beyond the contract amount: strict refuses, lenient records
    extra = make_event("L-T-d2", "L-T", type_="disbursement",
                       occurred_at="2024-03-06T09:00:00+08:00",
                       payload={**example_payload("disbursement"), "receipt_no": "JJ-2",
                                "clearing_ref": "CNAPS-2", "value_date": "2024-03-06"})
    r = api.request("POST", "/v1/events/batch", json={"events": [extra]}, headers=STRICT)
    assert r.status_code == 422 and r.json()["reason_code"] == "over_disbursement"
    assert api.ctx.store.tree_size() == 3
    assert api.request("POST", "/v1/events", json=extra).status_code == 201
    f = findings(api, "L-T")
    assert [x["code"] for x in f["findings"]] == ["over_disbursement"]


def test_only_what_is_false_on_its_own_is_refused(api: Api) -> None:
    # a repayment whose value date is after its own occurred_at can never become true
    bad = make_event("L-F-r", "L-F", type_="repayment_received",
                     occurred_at="2024-04-19T11:00:00+08:00")
    r = api.request("POST", "/v1/events", json=bad)
    assert r.status_code == 422 and r.json()["reason_code"] == "future_dated"
    assert api.ctx.store.tree_size() == 0


def test_a_lender_cannot_post_as_the_monitoring_job(api: Api) -> None:
    forged = make_event("L-M-f", "L-M", source={"system": "cunzheng-monitoring"})
    r = api.request("POST", "/v1/events", json=forged)
    assert r.status_code == 422 and r.json()["reason_code"] == "reserved_producer"
    assert api.ctx.store.tree_size() == 0


def test_the_loan_view_follows_roles_and_tenants(api: Api) -> None:
    for e in story().values():
        assert api.request("POST", "/v1/events", json=e).status_code == 201
    other = api.request("GET", "/v1/loans/L-T", tenant="bank-b")
    assert other.status_code == 404  # another tenant's lender sees nothing
    legal = api.request("GET", "/v1/loans/L-T?tenant=bank-a&as_of=2024-05-01", role="legal")
    assert legal.status_code == 200 and legal.json()["arrears"]["rows"]
    assert api.request("GET", "/v1/loans/L-T", role="legal").status_code == 422  # no tenant
    assert api.request("GET", "/v1/loans/L-T?tenant=bank-a", role="auditor").status_code == 403
    audit = api.request("GET", "/v1/loans/L-T/findings?tenant=bank-a", role="auditor")
    assert audit.status_code == 200 and audit.json()["open"] == 0
    bad = api.request("GET", "/v1/loans/L-T?as_of=yesterday")
    assert bad.status_code == 422 and "yesterday" in bad.json()["detail"]
