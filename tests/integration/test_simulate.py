"""A simulated portfolio posted through the client to the real app: not one event refused,
every receipt verifies, fsck is clean, and a rerun is a pure replay."""

from __future__ import annotations

import base64
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from anchoring.fsck import fsck
from anchoring.receipts import verify_receipt as anchoring_verify
from dispute.pdf import PDF_MEDIA_TYPE, DocumentRenderer
from lending_core.client import LedgerClient, ReceiptStore
from lending_core.simulator import SimConfig, simulate
from service.posting import post_portfolio
from service.settings import Settings
from tests.integration.api_client import running_api


def test_simulated_portfolio_posts_cleanly(sqlite_settings: Settings, tmp_path: Path) -> None:
    portfolio = simulate(SimConfig(loans=30, months=12, seed=11, documents=False))
    key = Ed25519PrivateKey.generate()
    with running_api(sqlite_settings) as api:
        admin = LedgerClient(None, api.key("admin"), http=api.client)
        admin.register_producer_key("bank-a", key.public_key().public_bytes_raw())
        store = ReceiptStore(tmp_path / "receipts")
        client = LedgerClient(None, api.key("lender", "bank-a"), http=api.client,
                              signing_key=key, receipts=store, batch_size=200)
        summary = post_portfolio(client, portfolio, renderer=None)
        assert summary.events == portfolio.event_count == len(store)
        assert summary.replays == 0
        # a second run is a replay: same ids, same content, no new leaves
        again = post_portfolio(client, portfolio, renderer=None)
        assert again.replays == portfolio.event_count
        assert api.ctx.store.tree_size() == portfolio.event_count
        # the client's receipt check agrees with the log's own
        body = api.request("GET", "/v1/log/key", role="auditor").json()
        for entry in list(store)[:50]:
            anchoring_verify(entry["receipt"], key_name=body["key_name"],
                             public_key=base64.b64decode(body["public_key"]))
        api.wait_checkpoint(portfolio.event_count)
        signer = api.ctx.log.signer
        report = fsck(api.ctx.store, key_name=signer.name, public_key=signer.public_key,
                      origin=api.ctx.log.origin)
        assert report.ok, report.findings[:3]
        assert report.leaves_checked == portfolio.event_count


def test_documents_are_uploaded_and_cited(sqlite_settings: Settings, tmp_path: Path) -> None:
    portfolio = simulate(SimConfig(loans=2, months=3, seed=5))
    with running_api(sqlite_settings) as api:
        client = LedgerClient(None, api.key("lender", "bank-a"), http=api.client)
        summary = post_portfolio(client, portfolio, renderer=DocumentRenderer())
        assert summary.documents == 4
        loan = portfolio.loans[0]
        events = api.request("GET", f"/v1/loans/{loan.loan_id}/events").json()["events"]
        contract = next(e["content"] for e in events if e["type"] == "contract_signed")
        [doc] = contract["documents"]
        assert doc["role"] == "contract" and doc["media_type"] == PDF_MEDIA_TYPE
        pdf = api.request("GET", f"/v1/documents/{doc['sha256']}")
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


def _posting_client(api, tmp_path: Path) -> LedgerClient:  # type: ignore[no-untyped-def]
    return LedgerClient(None, api.key("lender", "bank-a"), http=api.client,
                        receipts=ReceiptStore(tmp_path / "receipts"), batch_size=100)


def test_shuffled_arrivals_are_all_recorded_and_fold_as_in_order(
        sqlite_settings: Settings, tmp_path: Path) -> None:
    """Each loan's events posted in a random arrival order: none refused, and every loan's
    state is the state of its events folded in the order they occurred."""
    from lending_core.state import LoanEvent, rebuild
    from service.monitoring_job import loan_state

    config = SimConfig(loans=40, months=24, seed=12, documents=False, shuffle_arrivals=True)
    portfolio = simulate(config)
    counts = portfolio.counts()
    assert counts["arrived_out_of_order"] > portfolio.event_count // 4
    with running_api(sqlite_settings) as api:
        summary = post_portfolio(_posting_client(api, tmp_path), portfolio, renderer=None)
        assert (summary.refused, summary.events) == (0, portfolio.event_count)
        for loan in portfolio.loans:
            state = loan_state(api.ctx.store, "bank-a", loan.loan_id)
            in_order = rebuild([LoanEvent.from_record(e.event) for e in loan.events])
            assert state is not None and not state.findings, state.findings[:2]
            assert (state.status, state.principal_outstanding, state.received_total,
                    state.disbursed_total) == (in_order.status, in_order.principal_outstanding,
                                               in_order.received_total,
                                               in_order.disbursed_total), loan.loan_id


def test_a_refused_event_is_counted_and_its_batch_neighbours_are_posted(
        sqlite_settings: Settings, tmp_path: Path) -> None:
    import dataclasses

    portfolio = simulate(SimConfig.plain(loans=3, months=6, seed=4, documents=False))
    loan = portfolio.loans[1]
    k = next(i for i, e in enumerate(loan.events) if e.type == "repayment_received")
    bad = loan.events[k]
    broken = dataclasses.replace(bad, event={**bad.event, "payload": {
        **bad.event["payload"], "amount": "-1.00"}})  # never valid, whatever arrives later
    events = (*loan.events[:k], broken, *loan.events[k + 1:])
    loans = tuple(dataclasses.replace(x, events=events) if x is loan else x
                  for x in portfolio.loans)
    portfolio = dataclasses.replace(portfolio, loans=loans, _by_id={})
    with running_api(sqlite_settings) as api:
        summary = post_portfolio(_posting_client(api, tmp_path), portfolio, renderer=None)
        assert summary.refused == 1 and summary.events == portfolio.event_count - 1
        [refusal] = summary.refusals
        assert refusal.event_id == bad.event["event_id"] and refusal.status == 422
        assert "amount" in refusal.detail
        assert api.ctx.store.tree_size() == portfolio.event_count - 1
