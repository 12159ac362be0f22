"""Examples for the OpenAPI document: one per route, so every route shows what it takes or
returns. Kept in one table (rather than on each route) so the route modules stay readable;
`install` adds them to the schema FastAPI generates, and a test checks no route lacks one."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

H = "826b1202d447338e69d0e27aa3cf7cc4bcd3fce50dfa1bf8e20257dfc07f2923"
ROOT = "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
ORIGIN = "cunzheng.local/evidence-log"
NOTE = (f"{ORIGIN}\n37\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n\n"
        f"\u2014 {ORIGIN} 0GgOxhTLja2mxawQf6mNxLl8y+4BaWlGQux8z5EcZIJvbJrzvyNwdt88Yla+6s3pLsx==\n")
ANCHOR = {"tree_size": 40, "root": ROOT, "previous_size": 20, "chain_id": 1337,
          "contract": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
          "tx_hash": "0x3e45cfa2e945b4be4a85242d947eff286b8ad182a5eb9ed4b0a37fa88819ab59",
          "status": "final", "block_number": 23,
          "block_hash": "0xbb55b95b1dcbfc39facc4ce26fed77700a87a4091f0721b982c69d70058d7296",
          "block_time": "2026-03-02T01:30:05Z", "confirmations": 2, "attempts": 1,
          "submitted_at": "2026-03-02T01:30:04.201880Z", "covers_size": 37,
          "cosigners": [{"address": "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
                         "tx_hash": "0x047fb9013fb7e320d5401bb95f0d23b7"
                                    "d19a2a54fe2f0511a42954fc5433e3f7",
                         "block_number": 24}]}
CHECKPOINT = {"tree_size": 37, "root": ROOT, "note": NOTE, "signed_at": "2026-03-02T01:30:01Z",
              "anchor": ANCHOR}
RECEIPT = {"schema": "cunzheng.receipt/v1", "origin": ORIGIN, "evidence_id": f"{ORIGIN}#0",
           "leaf_index": 0, "leaf_hash": H, "received_at": "2026-03-02T01:30:00.723886Z",
           "key_name": ORIGIN, "key_id": "d0680ec6",
           "signature": "P1y55XNpxvkl9R2vqsSg2gn2Sl6fAvmo3c/sUxp94pCdrKMGOCmt9nUQkTJX3KBtj+8K9/G=="}
EVENT_VIEW = {"leaf_index": 0, "leaf_hash": H, "tenant": "bank-a", "event_id": "disb-2026-000123",
              "loan_id": "HQ-2026-000123", "type": "disbursement",
              "received_at": "2026-03-02T01:30:00.723886Z", "erased": False,
              "record": '{"documents":[],"event_id":"disb-2026-000123", ...}', "receipt": RECEIPT,
              "anchor": ANCHOR}
PRODUCER_KEY = {"tenant": "bank-a", "key_id": "9f2c1a7b3d4e5f60",
                "public_key": "O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik=",
                "created_at": "2026-03-01T08:00:00Z", "retired_at": None, "status": "active"}
PRODUCER_POLICY = {"tenant": "bank-a", "require_signatures": True, "source": "default",
                   "active_keys": ["9f2c1a7b3d4e5f60"]}
KEY_ROW = {"key_id": "72d9c94a5498230f", "role": "lender", "tenant": "bank-a",
           "label": "loan origination", "created_at": "2026-03-01T08:00:00Z", "revoked_at": None}

FINDING = {"code": "before_contract", "event_id": "rep-2026-000123-01",
           "event_type": "repayment_received", "occurred_at": "2026-04-20T03:00:00Z",
           "leaf_index": 7, "derived": False,
           "reason": "expected credit_decision or contract_signed first, found repayment_received",
           "found_by": "rep-2026-000123-01", "found_at": "2026-04-20T03:00:01.5Z",
           "resolved": True, "resolved_by": "con-2026-000123",
           "resolved_at": "2026-04-21T01:00:02.1Z"}

RESPONSES: dict[tuple[str, str], Any] = {
    ("get", "/v1/events/{event_id}"): EVENT_VIEW,
    ("get", "/v1/records/{leaf_index}"): EVENT_VIEW,
    ("get", "/v1/loans/{loan_id}/events"): {"tenant": "bank-a", "loan_id": "HQ-2026-000123",
                                            "events": [{**EVENT_VIEW, "content": {"...": "..."}}]},
    ("get", "/v1/loans/{loan_id}"): {
        "loan_id": "HQ-2026-000123", "tenant": "bank-a", "as_of": "2026-11-30",
        "status": "overdue", "events": 9, "erased": 0, "last_event": "mon:HQ-2026-000123:flag",
        "recorded_classification": "关注", "disbursed": "300000.00", "received": "51200.24",
        "principal_outstanding": "251975.38", "missed_open": [3], "notices": [],
        "accelerated_on": None, "findings": [FINDING], "open_findings": 0,
        "terms": {"principal": "300000.00", "term_months": 12, "annual_rate": "0.0435",
                  "method": "equal_installment", "first_due_date": "2026-04-20",
                  "due_day": 20, "agreed_by": "CQB-HQSX-2026-0000123"},
        "schedule": [{"no": 1, "due_date": "2026-04-20", "principal": "23968.87",
                      "interest": "1631.25", "payment": "25600.12"}],
        "monitoring": {"days_past_due": 10, "category": "关注", "overdue_amount": "25600.12",
                       "warnings": ["installment 3 unpaid"], "dispute_candidate": False},
        "arrears": {"label": "暂计至2026年11月30日", "total_due": "25634.80", "rows": [
            {"kind": "penalty", "base": "23968.87", "from": "2026-06-21", "to": "2026-06-30",
             "days": 10, "annual_rate": "0.06525", "amount": "43.44", "paid": "0.00",
             "outstanding": "43.44", "clause": "8.2", "note": ""}]}},
    ("get", "/v1/loans/{loan_id}/findings"): {"tenant": "bank-a", "loan_id": "HQ-2026-000123",
                                              "open": 0, "findings": [FINDING]},
    ("put", "/v1/documents/{sha256}"): {"sha256": H, "size": 48213,
                                        "media_type": "application/pdf"},
    ("get", "/v1/documents/{sha256}"): "%PDF-1.7 ... (the document's bytes)",
    ("get", "/v1/log/key"): {"origin": ORIGIN, "key_name": ORIGIN,
                             "public_key": "O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik=",
                             "key_id": "d0680ec6",
                             "vkey": f"{ORIGIN}+d0680ec6+AQ...=="},
    ("get", "/v1/log/anchors"): {"anchors": [{**ANCHOR, "cosigners": [
        "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"]}]},
    ("get", "/v1/log/checkpoint"): CHECKPOINT,
    ("get", "/v1/log/checkpoints"): {"checkpoints": [CHECKPOINT]},
    ("get", "/v1/log/checkpoints/{tree_size}"): CHECKPOINT,
    ("get", "/v1/log/checkpoints/{tree_size}/note"): NOTE,
    ("get", "/v1/log/proofs/inclusion"): {
        "evidence_id": f"{ORIGIN}#5", "leaf_index": 5, "tree_size": 37, "leaf_hash": H,
        "audit_path": [ROOT, H], "checkpoint": CHECKPOINT},
    ("get", "/v1/log/proofs/consistency"): {"size1": 20, "size2": 37, "proof": [ROOT, H],
                                            "checkpoint": CHECKPOINT},
    ("get", "/v1/log/leaves"): {"start": 0, "end": 2, "leaf_hashes": [H, ROOT]},
    ("get", "/v1/admin/keys"): {"keys": [KEY_ROW]},
    ("post", "/v1/admin/keys"): {"key": "cz_72d9c94a5498230f_3eS0Wvl-hTE42cKBeFjGibmKHyX350dLtk",
                                 "key_id": "72d9c94a5498230f", "role": "lender",
                                 "tenant": "bank-a"},
    ("delete", "/v1/admin/keys/{key_id}"): None,
    ("post", "/v1/admin/producer-keys"): {"tenant": "bank-a", "key_id": "9f2c1a7b3d4e5f60"},
    ("get", "/v1/admin/producer-keys"): {"keys": [PRODUCER_KEY]},
    ("post", "/v1/admin/producer-keys/{tenant}/{key_id}/retire"): {
        **PRODUCER_KEY, "retired_at": "2026-03-02T09:00:00Z", "status": "retired"},
    ("get", "/v1/admin/producer-policies/{tenant}"): PRODUCER_POLICY,
    ("put", "/v1/admin/producer-policies/{tenant}"): {**PRODUCER_POLICY, "source": "explicit"},
    ("get", "/healthz"): {"status": "ok", "tree_size": 37, "root": ROOT, "checkpoint_size": 37},
}
REQUESTS: dict[tuple[str, str], tuple[str, Any]] = {
    ("post", "/v1/admin/keys"): ("application/json",
                                 {"role": "lender", "tenant": "bank-a",
                                  "label": "loan origination"}),
    ("post", "/v1/admin/producer-keys"): ("application/json", {
        "tenant": "bank-a", "public_key": "O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik="}),
    ("put", "/v1/admin/producer-policies/{tenant}"): ("application/json",
                                                     {"require_signatures": True}),
    ("put", "/v1/documents/{sha256}"): ("application/octet-stream", "(the document's bytes)"),
    ("post", "/v1/verify/record"): ("application/octet-stream",
                                    '{"documents":[],"event_id":"disb-2026-000123",...}'),
    ("post", "/v1/verify/document"): ("application/octet-stream", "(the document's bytes)"),
}


def _apply(schema: dict[str, Any]) -> dict[str, Any]:
    for (method, path), example in RESPONSES.items():
        op = schema["paths"].get(path, {}).get(method)
        if op is None or example is None:
            continue
        for code in ("200", "201"):
            response = op.get("responses", {}).get(code)
            if response is None:
                continue
            content = response.setdefault("content", {})
            media = next(iter(content), "application/json") if content else (
                "text/plain" if isinstance(example, str) else "application/json")
            content.setdefault(media, {}).setdefault("example", example)
    for (method, path), (media, example) in REQUESTS.items():
        op = schema["paths"].get(path, {}).get(method)
        if op is None:
            continue
        body = op.setdefault("requestBody", {"required": True, "content": {}})
        body.setdefault("content", {}).setdefault(media, {}).setdefault("example", example)
    return schema


def install(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _apply(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented override
