"""The verification API (issue 6) on a real SQLite file and a real PostgreSQL server: every
kind of question, every status, the package report equal to the offline verifier's, the
limits, nothing personal in any answer, and the access log."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pytest

from anchoring.anchor_store import AnchorRow, Cosignature
from cunzheng_verify import merkle
from cunzheng_verify.notes import verify_checkpoint
from cunzheng_verify.records import build_record
from service import verification
from service.settings import Settings
from tests.conftest import make_event
from tests.integration.api_client import Api, running_api

LOAN, TENANT = "LOAN-SECRET-7", "bank-a"
DOC = "借款合同 正本 2026-03 张三.pdf".encode()
DOC_SHA = hashlib.sha256(DOC).hexdigest()
FILENAME = "合同-张三.pdf"
CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
WITNESS = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
PERSONAL = (LOAN, TENANT, "EVT-SECRET", FILENAME, "core-banking", "payload", "REF-")


@pytest.fixture
def api(settings: Settings) -> Iterator[Api]:
    with running_api(settings) as a:
        yield a


def _post(api: Api, *events: dict[str, Any]) -> list[dict[str, Any]]:
    r = api.post_events(list(events))
    assert r.status_code == 201, r.text
    return list(r.json()["receipts"])


def _seed(api: Api) -> list[dict[str, Any]]:
    """Three events of one loan, the second citing a document; a checkpoint of size 3."""
    r = api.request("PUT", f"/v1/documents/{DOC_SHA}", content=DOC,
                    headers={"Content-Type": "application/pdf"})
    assert r.status_code == 201, r.text
    doc = {"role": "contract", "sha256": DOC_SHA, "media_type": "application/pdf",
           "filename": FILENAME, "size": len(DOC)}
    receipts = _post(api, make_event("EVT-SECRET-1", LOAN),
                     make_event("EVT-SECRET-2", LOAN, "contract_signed", documents=[doc]),
                     make_event("EVT-SECRET-3", LOAN, "disbursement"))
    api.wait_checkpoint(3)
    return receipts


def _anchor(api: Api, size: int, block: int = 10) -> None:
    cp = api.ctx.store.checkpoint(size)
    api.ctx.anchors.add(AnchorRow(
        tree_size=size, root=cp.root, previous_size=0, chain_id=31337, contract=CONTRACT,
        tx_hash="0x" + f"{size:02x}" * 32, status="final", block_number=block,
        block_hash="0x" + f"{block:02x}" * 32, block_time="2026-03-02T01:31:00Z",
        confirmations=5, attempts=1, submitted_at="2026-03-02T01:30:59Z",
        updated_at="2026-03-02T01:31:30Z"))
    api.ctx.anchors.add_cosignature(Cosignature(size, WITNESS, "0x" + "ee" * 32, block + 1))


def _record_bytes(api: Api, index: int) -> bytes:
    leaf = api.ctx.store.leaf(index)
    assert leaf.record is not None
    return leaf.record


def _verify(api: Api, method: str, path: str, **kwargs: Any) -> Any:
    """A verifier's call; nothing personal in the answer (a package's own report may repeat
    what the caller's package says, which the caller brought)."""
    r = api.request(method, path, role="verifier", **kwargs)
    for secret in () if path == "/v1/verify/package" else PERSONAL:
        assert secret not in r.text, f"{path} answered {secret!r}"
    return r


def _check_facts(api: Api, answer: dict[str, Any], index: int) -> None:
    """The proof and the note in an answer verify with nothing but the log's key."""
    assert answer["evidence_id"] == f"{api.ctx.log.origin}#{index}"
    proof, cp = answer["inclusion_proof"], answer["checkpoint"]
    assert proof["tree_size"] == cp["tree_size"] and proof["leaf_index"] == index
    signer = api.ctx.log.signer
    found = verify_checkpoint(cp["note"], key_name=signer.name, public_key=signer.public_key,
                              origin=api.ctx.log.origin)
    assert (found.tree_size, found.root.hex()) == (cp["tree_size"], cp["root"])
    merkle.verify_inclusion(index, cp["tree_size"], bytes.fromhex(answer["leaf_hash"]),
                            [bytes.fromhex(h) for h in proof["audit_path"]], found.root)


def test_record_bytes_logged_then_anchored_with_proof_to_the_earliest_anchor(api: Api) -> None:
    _seed(api)
    data = _record_bytes(api, 0)
    r = _verify(api, "POST", "/v1/verify/record", content=data)
    assert r.status_code == 200, r.text
    a = r.json()
    assert a["status"] == "logged-not-yet-anchored" and a["anchor"] is None
    assert a["leaf_hash"] == merkle.leaf_hash(data).hex() == a["submitted_leaf_hash"]
    _check_facts(api, a, 0)

    _anchor(api, 3)
    _post(api, make_event("EVT-SECRET-4", LOAN, "repayment_received"),
          make_event("EVT-SECRET-5", "OTHER-LOAN"))
    api.wait_checkpoint(5)
    a = _verify(api, "POST", "/v1/verify/record", content=data).json()
    assert a["status"] == "anchored" and a["inclusion_proof"]["tree_size"] == 3
    _check_facts(api, a, 0)
    assert a["anchor"] == {
        "tree_size": 3, "root": a["checkpoint"]["root"], "chain_id": 31337, "contract": CONTRACT,
        "tx_hash": "0x" + "03" * 32, "block_number": 10, "block_hash": "0x" + "0a" * 32,
        "block_time": "2026-03-02T01:31:00Z", "confirmations": 5, "status": "final"}
    assert a["cosigners"] == [{"address": WITNESS, "tx_hash": "0x" + "ee" * 32,
                               "block_number": 11}]
    # a leaf after the anchor: proof to the latest checkpoint, no anchor facts
    late = _verify(api, "POST", "/v1/verify/record", content=_record_bytes(api, 4)).json()
    assert late["status"] == "logged-not-yet-anchored" and late["checkpoint"]["tree_size"] == 5
    _check_facts(api, late, 4)


def test_altered_and_reserialised_records_are_a_mismatch_naming_the_logged_leaf(api: Api) -> None:
    _seed(api)
    data = _record_bytes(api, 1)
    content = json.loads(data)
    altered = build_record({k: content[k] for k in ("event_id", "loan_id", "type",
                                                    "occurred_at", "payload", "documents")}
                           | {"source": {"system": "forged"}}, tenant=TENANT,
                           received_at=datetime(2026, 3, 2, tzinfo=UTC), salt=b"\x01" * 32)
    a = _verify(api, "POST", "/v1/verify/record", content=altered.data).json()
    assert a["status"] == "mismatch" and a["evidence_id"].endswith("#1")
    assert a["submitted_leaf_hash"] == altered.leaf_hash.hex() != a["leaf_hash"]
    _check_facts(api, a, 1)
    pretty = json.dumps(content, indent=2, ensure_ascii=False).encode()
    a = _verify(api, "POST", "/v1/verify/record", content=pretty).json()
    assert a["status"] == "mismatch" and a["evidence_id"].endswith("#1")
    assert "exact bytes" in a["reason"]


def test_a_record_the_log_never_saw_is_unknown(api: Api) -> None:
    _seed(api)
    other = build_record(make_event("EVT-SECRET-9", LOAN), tenant="bank-z",
                         received_at=datetime(2026, 3, 2, tzinfo=UTC), salt=b"\x02" * 32)
    a = _verify(api, "POST", "/v1/verify/record", content=other.data).json()
    assert a["status"] == "unknown" and a["evidence_id"] is None and a["inclusion_proof"] is None
    assert a["leaf_hash"] == other.leaf_hash.hex()


@pytest.mark.parametrize(("body", "status", "words"), [
    (b"", 400, "empty"),
    (b"\xff\xfe not json", 400, "UTF-8"),
    (b'{"a": 1', 400, "invalid JSON"),
    (b'{"schema": "cunzheng.event/v1"}', 400, "not a cunzheng.event/v1 record"),
    (b'{"amount": 1.5}', 422, "non-integer"),
    (b" " * (verification.MAX_RECORD_UPLOAD_BYTES + 1), 413, "limit"),
])
def test_malformed_records_are_a_clear_4xx(api: Api, body: bytes, status: int, words: str) -> None:
    r = _verify(api, "POST", "/v1/verify/record", content=body)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert words in r.json()["detail"]


def test_leaf_hash_and_evidence_id(api: Api) -> None:
    receipts = _seed(api)
    lh, eid = receipts[2]["leaf_hash"], receipts[2]["evidence_id"]
    a = _verify(api, "GET", f"/v1/verify/record/{lh}").json()
    assert a["status"] == "logged-not-yet-anchored" and a["evidence_id"] == eid
    _check_facts(api, a, 2)
    assert _verify(api, "GET", f"/v1/verify/record/{'0' * 64}").json()["status"] == "unknown"
    assert _verify(api, "GET", "/v1/verify/record/XYZ").status_code == 422

    _anchor(api, 3)
    a = _verify(api, "GET", "/v1/verify/evidence", params={"evidence_id": eid}).json()
    assert a["status"] == "anchored" and a["leaf_hash"] == lh
    _check_facts(api, a, 2)
    a = _verify(api, "GET", "/v1/verify/evidence",
                params={"evidence_id": eid, "leaf_hash": lh}).json()
    assert a["status"] == "anchored"
    a = _verify(api, "GET", "/v1/verify/evidence",
                params={"evidence_id": eid, "leaf_hash": "ab" * 32}).json()
    assert a["status"] == "mismatch" and a["leaf_hash"] == lh
    for other in ("elsewhere.example/log#2", f"{api.ctx.log.origin}#999"):
        a = _verify(api, "GET", "/v1/verify/evidence", params={"evidence_id": other}).json()
        assert a["status"] == "unknown" and a["evidence_id"] is None
    for bad in ("no-hash-sign", f"{api.ctx.log.origin}#-1", "#3", f"x#{'9' * 40}"):
        r = _verify(api, "GET", "/v1/verify/evidence", params={"evidence_id": bad})
        assert r.status_code == 400 and "evidence id" in r.json()["detail"], bad


def test_document_names_the_leaves_that_commit_to_it_not_their_content(api: Api) -> None:
    receipts = _seed(api)
    r = _verify(api, "POST", "/v1/verify/document", content=DOC)
    assert r.status_code == 200, r.text
    a = r.json()
    assert (a["status"], a["sha256"], a["size"], a["truncated"]) == (
        "logged-not-yet-anchored", DOC_SHA, len(DOC), False)
    assert [x["leaf_hash"] for x in a["records"]] == [receipts[1]["leaf_hash"]]
    _check_facts(api, a["records"][0], 1)
    _anchor(api, 3)
    a = _verify(api, "GET", f"/v1/verify/document/{DOC_SHA}").json()
    assert a["status"] == "anchored" and a["size"] is None and len(a["records"]) == 1
    a = _verify(api, "POST", "/v1/verify/document", content=b"never cited").json()
    assert a["status"] == "unknown" and a["records"] == []


@dataclass(frozen=True)
class _Exhibit:
    no: str
    leaf_index: int
    title: str = "exhibit"
    source: str = "core banking"
    purpose: str = "performance"


def _package(api: Api) -> bytes:
    from dispute.package import CaseContents, LogIdentity, PackageRequest, build_package
    from dispute.packagekey import package_signer

    ctx = api.ctx
    signer = package_signer(ctx.settings.data_dir, ctx.log.origin)
    built = build_package(
        PackageRequest(TENANT, LOAN, "court", date(2026, 3, 3), datetime(2026, 3, 3, tzinfo=UTC)),
        log=ctx.store, anchors=ctx.anchors,
        identity=LogIdentity(ctx.log.origin, ctx.log.signer.name, ctx.log.signer.public_key),
        signer=signer,
        contents=CaseContents(tuple(_Exhibit(f"1-{i + 1}", i) for i in range(3)),
                              {"claim": "test"}),
        render=lambda inp: b"%PDF-1.7 test case file\n")
    return built.data


def _offline(api: Api, data: bytes) -> dict[str, Any]:
    from cunzheng_verify import verify_package
    from dispute.packagekey import package_signer

    ctx = api.ctx
    trusted = [package_signer(ctx.settings.data_dir, ctx.log.origin).public_key]
    return verify_package(data, trusted_keys=trusted, log_public_key=ctx.log.signer.public_key,
                          min_confirmations=ctx.settings.anchor_confirmations).as_json()


def _rezip(data: bytes, change: dict[str, bytes | None]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            if info.filename in change:
                if change[info.filename] is not None:
                    dst.writestr(info, change[info.filename] or b"")
            else:
                dst.writestr(info, src.read(info))
    return out.getvalue()


def test_package_report_is_the_offline_verifiers_step_for_step(api: Api) -> None:
    pytest.importorskip("cunzheng_verify")
    _seed(api)
    _anchor(api, 3)
    data = _package(api)
    r = _verify(api, "POST", "/v1/verify/package", content=data,
                headers={"Content-Type": "application/zip"})
    assert r.status_code == 200, r.text
    a = r.json()
    assert a["report"] == _offline(api, data)
    assert a["report"]["result"] in ("ok", "warning") and a["status"] == "anchored"
    assert [i["no"] for i in a["items"]] == ["1-1", "1-2", "1-3"]
    assert all(i["status"] == "anchored" for i in a["items"])
    assert a["sha256"] == hashlib.sha256(data).hexdigest()
    assert "--log-key" in a["offline_command"] and "--trust-key" in a["offline_command"]

    forged = _rezip(data, {"records/0.json": _record_bytes(api, 0).replace(b"credit", b"CREDIT")})
    a = _verify(api, "POST", "/v1/verify/package", content=forged).json()
    assert a["status"] == "mismatch" and a["report"] == _offline(api, forged)
    assert a["report"]["result"] == "failed"
    unsigned = _rezip(data, {"manifest.sig": None})
    a = _verify(api, "POST", "/v1/verify/package", content=unsigned).json()
    assert a["status"] == "mismatch" and a["report"] == _offline(api, unsigned)


def test_package_limits_and_malformed_uploads(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    from cunzheng_verify import MAX_ENTRIES

    assert verification.MAX_PACKAGE_ENTRIES == MAX_ENTRIES
    for body, words in ((b"", "empty"), (b"PK\x03\x04 not really", "not a readable zip")):
        r = _verify(api, "POST", "/v1/verify/package", content=body)
        assert r.status_code == 400 and words in r.json()["detail"], r.text
    many = io.BytesIO()
    with zipfile.ZipFile(many, "w") as zf:
        for i in range(6):
            zf.writestr(f"f{i}.txt", b"x")
    monkeypatch.setattr(verification, "MAX_PACKAGE_ENTRIES", 5)
    r = _verify(api, "POST", "/v1/verify/package", content=many.getvalue())
    assert r.status_code == 413 and "6 entries, limit 5" in r.json()["detail"]
    monkeypatch.setattr(verification, "MAX_PACKAGE_UPLOAD_BYTES", 100)
    r = _verify(api, "POST", "/v1/verify/package", content=b"x" * 101)
    assert r.status_code == 413 and "limit 100" in r.json()["detail"]
    r = _verify(api, "POST", "/v1/verify/package", params={"trust_key": "not base64!"},
                content=many.getvalue()[:90])
    assert r.status_code in (400, 413)


def test_only_verifier_and_admin_may_verify(api: Api) -> None:
    path = f"/v1/verify/record/{'0' * 64}"
    for role in ("lender", "legal", "auditor"):
        assert api.request("GET", path, role=role).status_code == 403
    assert api.client.get(path).status_code == 401
    assert api.request("GET", path, role="admin").status_code == 200


def test_every_call_is_in_the_access_log_without_content(api: Api) -> None:
    receipts = _seed(api)
    data = _record_bytes(api, 0)
    _verify(api, "POST", "/v1/verify/record", content=data)
    _verify(api, "POST", "/v1/verify/document", content=DOC)
    _verify(api, "GET", "/v1/verify/evidence", params={"evidence_id": receipts[1]["evidence_id"]})
    _verify(api, "POST", "/v1/verify/record", content=b"{bad")
    api.request("GET", f"/v1/verify/record/{'1' * 64}", role="admin")
    r = api.request("GET", "/v1/admin/access-log", role="admin")
    assert r.status_code == 200, r.text
    entries = r.json()["entries"]
    verifier_id = api.keys["verifier:None"].split("_")[1]
    got = [(e["role"], e["kind"], e["subject"], e["status"]) for e in entries]
    assert got == [
        ("admin", "leaf-hash", "1" * 64, "unknown"),
        ("verifier", "record", merkle.leaf_hash(b"{bad").hex(), "rejected"),
        ("verifier", "evidence-id", receipts[1]["evidence_id"], "logged-not-yet-anchored"),
        ("verifier", "document", DOC_SHA, "logged-not-yet-anchored"),
        ("verifier", "record", merkle.leaf_hash(data).hex(), "logged-not-yet-anchored"),
    ]
    assert all(e["key_id"] == verifier_id for e in entries[1:]) and entries[0]["at"].endswith("Z")
    assert data.decode() not in r.text and base64.b64encode(DOC).decode() not in r.text
    page = api.request("GET", "/v1/admin/access-log", role="admin", params={"limit": 2}).json()
    assert [e["id"] for e in page["entries"]] == [e["id"] for e in entries[:2]]
    rest = api.request("GET", "/v1/admin/access-log", role="admin",
                       params={"limit": 10, "before": page["next_before"]}).json()
    assert [e["id"] for e in rest["entries"]] == [e["id"] for e in entries[2:]]
    assert rest["next_before"] is None
    for role in ("verifier", "auditor", "legal", "lender"):
        assert api.request("GET", "/v1/admin/access-log", role=role).status_code == 403
