"""Is a loan's history complete up to checkpoint N (issue 13, item 6): the loans API and the
verification API through the real app on a real SQLite file and a real PostgreSQL server.
The answer's proof verifies with nothing but the log's key (the signed note, the loan index
proof); the issue's insider edit (three leaves' `loan_id` column changed by raw SQL) is
`complete: false` naming the divergence, not a 500; auditors and verifiers see places and
hashes only; a lender sees its own tenant; an unknown loan is count 0 with a non-membership
proof; bad sizes are clear."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import update

from anchoring.anchor_store import AnchorRow
from anchoring.store import StoredCheckpoint
from anchoring.tables import leaves
from cunzheng_verify.loanindex import IndexProof, loan_key, verify_proof
from cunzheng_verify.notes import Checkpoint, sign_checkpoint, verify_checkpoint
from cunzheng_verify.records import format_utc
from service.context import utc_now
from service.settings import Settings
from tests.conftest import make_event
from tests.integration.api_client import Api, running_api

TENANT = "bank-a"
TYPES_A = ("credit_decision", "contract_signed", "disbursement", "repayment_received",
           "notice_sent")
TX = "0x" + "ab" * 32


@pytest.fixture
def api(settings: Settings) -> Iterator[Api]:
    with running_api(settings) as a:
        yield a


def _post(api: Api, events: list[dict[str, Any]], tenant: str = TENANT) -> None:
    r = api.post_events(events, tenant=tenant)
    assert r.status_code == 201, r.text


def _anchor(api: Api, size: int) -> None:
    cp = api.ctx.store.checkpoint(size)
    api.ctx.anchors.add(AnchorRow(
        tree_size=size, root=cp.root, previous_size=0, chain_id=31337, contract="0x" + "5a" * 20,
        tx_hash=TX, status="final", block_number=42, block_hash="0x" + "cd" * 32,
        block_time="2026-03-02T01:31:00Z", confirmations=5, attempts=1,
        submitted_at="2026-03-02T01:30:59Z", updated_at="2026-03-02T01:31:30Z"))


def _seed(api: Api) -> int:
    """L-A (five records) and L-B (two) of bank-a interleaved, L-C of bank-b; a checkpoint of
    that size, anchored; then one more record of L-A, in a later (unanchored) checkpoint.
    Returns the anchored size."""
    _post(api, [make_event("a-0", "L-A", TYPES_A[0]), make_event("b-0", "L-B"),
                make_event("a-1", "L-A", TYPES_A[1])])
    _post(api, [make_event("c-0", "L-C")], tenant="bank-b")
    _post(api, [make_event(f"a-{i}", "L-A", TYPES_A[i]) for i in (2, 3, 4)]
          + [make_event("b-1", "L-B", "contract_signed")])
    size = api.ctx.store.tree_size()
    api.wait_checkpoint(size)
    _anchor(api, size)
    _post(api, [make_event("a-5", "L-A", "notice_delivered")])
    api.wait_checkpoint(size + 1)
    return size


def _get(api: Api, loan: str, role: str = "legal", tenant: str | None = TENANT,
         **params: Any) -> Any:
    if tenant is not None and role != "lender":
        params["tenant"] = tenant
    return api.request("GET", f"/v1/loans/{loan}/completeness", role=role,
                       tenant=tenant if role == "lender" else None, params=params)


def _verifies(api: Api, answer: dict[str, Any]) -> int:
    """Check the answer's proof with the log's key alone; the index entry's count."""
    cp = answer["checkpoint"]
    signer = api.ctx.log.signer
    found = verify_checkpoint(cp["note"], key_name=signer.name, public_key=signer.public_key,
                              origin=api.ctx.log.origin)
    assert found.tree_size == cp["tree_size"] and found.root.hex() == cp["root"]
    assert found.loan_index_root is not None
    assert found.loan_index_root.hex() == cp["loan_index_root"]
    proof = IndexProof.from_json(answer["index_proof"])
    assert proof.key == loan_key(answer["tenant"], answer["loan_id"])
    entry = verify_proof(proof, found.loan_index_root)
    return 0 if entry is None else entry.count


def test_a_complete_history_with_a_proof_anyone_can_check(api: Api) -> None:
    size = _seed(api)
    r = _get(api, "L-A")
    assert r.status_code == 200, r.text
    a = r.json()
    assert (a["status"], a["complete"], a["problems"]) == ("complete", True, [])
    # the newest anchored checkpoint, not the newer signed one, and it says so
    assert a["checkpoint"]["tree_size"] == size and a["checkpoint"]["chosen"] == "newest-anchored"
    assert a["checkpoint"]["anchor"]["tx_hash"] == TX
    assert a["checkpoint"]["anchor"]["block_number"] == 42
    assert a["count"] == _verifies(api, a) == 5 and a["proved_from"] == 1
    mine = [leaf for leaf in api.ctx.store.loan_events(TENANT, "L-A") if leaf.leaf_index < size]
    assert [(p["loan_seq"], p["leaf_index"], p["leaf_hash"]) for p in a["records"]] == [
        (n, leaf.leaf_index, leaf.leaf_hash.hex()) for n, leaf in enumerate(mine, start=1)]
    assert [p["event_type"] for p in a["records"]] == list(TYPES_A)
    assert all(p["received_at"] and not p["erased"] for p in a["records"])
    assert a["records"][0]["evidence_id"] == f"{api.ctx.log.origin}#{mine[0].leaf_index}"
    assert (a["last_leaf_index"], a["last_leaf_hash"]) == (mine[-1].leaf_index,
                                                           mine[-1].leaf_hash.hex())
    # a later checkpoint asked for by size: six records, not anchored
    later = _get(api, "L-A", tree_size=size + 1).json()
    assert later["checkpoint"]["chosen"] == "requested" and later["checkpoint"]["anchor"] is None
    assert later["count"] == _verifies(api, later) == 6 and later["complete"]
    assert _get(api, "L-B").json()["count"] == 2


def test_the_insider_edit_is_complete_false_naming_the_divergence(api: Api) -> None:
    """The issue's edit: three of the loan's leaves moved to a loan that does not exist."""
    _seed(api)
    moved = [leaf.leaf_index for leaf in api.ctx.store.loan_events(TENANT, "L-A")][2:5]
    with api.ctx.engine.begin() as conn:
        conn.execute(update(leaves).where(leaves.c.leaf_index.in_(moved))
                     .values(loan_id="L-GHOST"))
    r = _get(api, "L-A")
    assert r.status_code == 200, r.text
    a = r.json()
    assert (a["status"], a["complete"]) == ("divergent", False)
    assert "holds 2 record(s), its loan index entry says 5" in a["problems"][0]
    assert "fsck" in a["problems"][0]
    # what the log signed (five) beside what the database now holds (two)
    assert a["count"] == _verifies(api, a) == 5 and len(a["records"]) == 2
    assert a["proved_from"] is None
    ghost = _get(api, "L-GHOST").json()
    assert ghost["complete"] is False and ghost["count"] == 0
    # the moved records are sealed to their loan: reading them under another is refused
    assert "cannot read loan 'L-GHOST''s records" in ghost["problems"][0]
    assert "columns or the key table were changed" in ghost["problems"][0]
    # the verification API answers the same, from the same check
    v = api.request("GET", f"/v1/verify/loan/{TENANT}/L-A/completeness", role="verifier")
    assert v.status_code == 200 and v.json()["problems"] == a["problems"]


def test_an_auditor_and_a_verifier_see_places_and_hashes_only(api: Api) -> None:
    _seed(api)
    legal = _get(api, "L-A").json()
    for r in (_get(api, "L-A", role="auditor"),
              api.request("GET", f"/v1/verify/loan/{TENANT}/L-A/completeness",
                          role="verifier")):
        assert r.status_code == 200, r.text
        a = r.json()
        assert a["count"] == 5 and a["complete"]
        assert all(p["event_type"] is None and p["received_at"] is None for p in a["records"])
        assert [p["leaf_hash"] for p in a["records"]] == [p["leaf_hash"]
                                                           for p in legal["records"]]
        for secret in ("credit_decision", "payload", "core-banking", "salt", "REF-"):
            assert secret not in r.text, secret
    assert _get(api, "L-A", role="auditor", tenant=None).status_code == 422  # tenant needed


def test_a_lender_sees_only_its_own_tenant(api: Api) -> None:
    _seed(api)
    own = _get(api, "L-A", role="lender", tenant=TENANT).json()
    assert own["tenant"] == TENANT and own["count"] == 5
    # bank-b asking for bank-a's loan (even naming bank-a) gets its own tenant's answer
    r = api.request("GET", "/v1/loans/L-A/completeness", role="lender", tenant="bank-b",
                    params={"tenant": TENANT})
    assert r.status_code == 200
    other = r.json()
    assert other["tenant"] == "bank-b" and other["count"] == 0 and other["records"] == []
    assert own["records"][0]["leaf_hash"] not in r.text
    assert _get(api, "L-C", role="lender", tenant="bank-b").json()["count"] == 1


def test_an_unknown_loan_is_count_zero_with_a_non_membership_proof(api: Api) -> None:
    _seed(api)
    a = _get(api, "L-NEVER").json()
    assert (a["status"], a["complete"], a["count"], a["records"]) == ("no-records", True, 0, [])
    assert a["last_leaf_index"] is None and a["proved_from"] is None
    assert _verifies(api, a) == 0  # the proof verifies, and proves no entry for this key
    assert "holds no record of this loan" in a["reason"]


def test_bad_tree_sizes_are_named(api: Api) -> None:
    size = _seed(api)
    r = _get(api, "L-A", tree_size=size + 50)
    assert r.status_code == 404 and f"tree_size {size + 50} is not a signed checkpoint" \
        in r.json()["detail"]
    assert _get(api, "L-A", tree_size=-1).status_code == 422
    assert _get(api, "L-A", tree_size="x").status_code == 422
    # a checkpoint signed without a loan-index line (as before the index): 422 naming it
    store, log = api.ctx.store, api.ctx.log
    note = sign_checkpoint(Checkpoint(log.origin, 1, store.root(1)), log.signer)
    assert store.add_checkpoint(StoredCheckpoint(1, store.root(1), note,
                                                 format_utc(utc_now())))
    r = _get(api, "L-A", tree_size=1)
    assert r.status_code == 422
    assert "carries no loan-index line" in r.json()["detail"]
    assert f"the newest that does is {size}" in r.json()["detail"]


def test_no_checkpoint_yet_is_a_404(api: Api) -> None:
    r = _get(api, "L-A")
    assert r.status_code == 404 and "loan index yet" in r.json()["detail"]


def test_erased_records_keep_their_place_and_name_the_erasure(api: Api) -> None:
    _seed(api)
    r = api.request("DELETE", "/v1/admin/loans/L-B/personal-data", role="admin",
                    params={"tenant": TENANT})
    assert r.status_code == 200, r.text
    erasure = r.json()["erasure"]["receipt"]["evidence_id"]
    api.wait_checkpoint(api.ctx.store.tree_size())
    a = _get(api, "L-B", tree_size=api.ctx.store.tree_size()).json()
    assert a["complete"] and a["count"] == 3 and a["status"] == "unproved-prefix"
    # the erasure record links to the last erased one: proved from seq 2
    assert a["proved_from"] == 2
    assert [(p["erased"], p["erased_by"]) for p in a["records"]] == [
        (True, erasure), (True, erasure), (False, None)]
    assert a["records"][2]["event_type"] == "data_erased"


def test_the_verification_api_logs_each_call(api: Api) -> None:
    size = _seed(api)
    path = f"/v1/verify/loan/{TENANT}/L-A/completeness"
    assert api.request("GET", path, role="verifier").json()["count"] == 5
    assert api.request("GET", path, role="verifier",
                       params={"tree_size": size + 50}).status_code == 404
    for role in ("legal", "lender", "auditor"):
        assert api.request("GET", path, role=role).status_code == 403
    entries = api.request("GET", "/v1/admin/access-log", role="admin").json()["entries"]
    key = loan_key(TENANT, "L-A").hex()
    assert [(e["kind"], e["subject"], e["status"]) for e in entries[:2]] == [
        ("completeness", f"loan {key} at {size + 50}", "rejected"),
        ("completeness", f"loan {key}", "complete")]
    assert "L-A" not in str(entries[:2])
