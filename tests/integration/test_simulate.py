"""A simulated portfolio posted through the client to the real app: not one event refused,
every receipt verifies, fsck is clean, and a rerun is a pure replay."""

from __future__ import annotations

import base64
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from anchoring.fsck import fsck
from anchoring.receipts import verify_receipt as anchoring_verify
from lending_core.client import LedgerClient, ReceiptStore
from lending_core.documents import PDF_MEDIA_TYPE, DocumentRenderer
from lending_core.simulator import SimConfig, simulate
from service.cli_lending import post_portfolio
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
