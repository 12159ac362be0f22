"""Encryption at rest, crypto-shredding and master-key rotation on a real database."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from anchoring.crypto import SEALED_PREFIX
from anchoring.fsck import fsck
from anchoring.tables import data_keys, documents, leaves
from cunzheng_verify import merkle
from service.context import build_context
from service.settings import Settings
from tests.conftest import make_event
from tests.integration.api_client import running_api

REPO = Path(__file__).resolve().parents[2]


def _doc_event(event_id: str, loan: str, data: bytes) -> dict:
    return make_event(event_id, loan, documents=[{
        "role": "contract", "sha256": hashlib.sha256(data).hexdigest(),
        "media_type": "application/pdf", "filename": "合同.pdf", "size": len(data)}])


def test_contents_are_sealed_and_erasure_keeps_every_proof(settings: Settings) -> None:
    doc_a, doc_b = "借款合同 A".encode() * 50, "借款合同 B".encode() * 50
    with running_api(settings) as api:
        for data in (doc_a, doc_b):
            r = api.request("PUT", f"/v1/documents/{hashlib.sha256(data).hexdigest()}",
                            content=data, headers={"content-type": "application/pdf"})
            assert r.status_code == 201
        api.post_events([_doc_event("a-1", "L-A", doc_a), make_event("a-2", "L-A2"),
                         _doc_event("b-1", "L-B", doc_b)])
        second = make_event("a-3", "L-A", occurred_at="2026-03-03T09:30:00+08:00")
        second["payload"] = {**second["payload"], "decision_id": "CD-2026-0002"}
        assert api.post_events([second]).status_code == 201
        with api.ctx.engine.connect() as conn:
            stored = [bytes(r[0]) for r in conn.execute(select(leaves.c.record))]
            docs = [bytes(r[0]) for r in conn.execute(select(documents.c.content))]
        assert all(b.startswith(SEALED_PREFIX) and b"core-banking" not in b for b in stored)
        assert all(b.startswith(SEALED_PREFIX) and "借款合同".encode() not in b for b in docs)
        before = api.wait_checkpoint(4)
        leaf_hashes = api.request("GET", "/v1/log/leaves?start=0&end=4", role="auditor").json()

        r = api.request("DELETE", "/v1/admin/loans/L-A/personal-data?tenant=bank-a", role="admin")
        assert r.status_code == 200, r.text
        assert r.json()["records_erased"] == 2 and r.json()["documents_erased"] == 1
        assert api.request("DELETE", "/v1/admin/loans/L-A/personal-data?tenant=bank-a",
                           role="lender").status_code == 403

        erased = api.request("GET", "/v1/records/0", role="legal").json()
        assert erased["erased"] is True and erased["record"] is None
        assert erased["leaf_hash"] == leaf_hashes["leaf_hashes"][0]
        gone = api.request("GET", f"/v1/documents/{hashlib.sha256(doc_a).hexdigest()}",
                           role="legal")
        assert gone.status_code == 410
        kept = api.request("GET", f"/v1/documents/{hashlib.sha256(doc_b).hexdigest()}",
                           role="legal")
        assert kept.content == doc_b
        assert api.request("GET", "/v1/records/2", role="legal").json()["record"] is not None

        # the log is unchanged: same leaves, same root, every proof of the other loans holds
        assert api.request("GET", "/v1/log/leaves?start=0&end=4",
                           role="auditor").json() == leaf_hashes
        root = bytes.fromhex(before["root"])
        for i in (1, 2):
            p = api.request("GET", f"/v1/log/proofs/inclusion?leaf_index={i}&tree_size=4",
                            role="auditor").json()
            merkle.verify_inclusion(i, 4, bytes.fromhex(p["leaf_hash"]),
                                    [bytes.fromhex(h) for h in p["audit_path"]], root)
        log = api.ctx.log
        report = fsck(log.store, key_name=log.signer.name, public_key=log.signer.public_key,
                      origin=log.origin)
        assert report.ok, report.findings

        r = api.request("POST", "/v1/events", json=make_event("a-9", "L-A"))
        assert r.status_code == 400 and "erased" in r.json()["detail"]
        with api.ctx.engine.connect() as conn:
            row = conn.execute(select(data_keys).where(data_keys.c.loan_id == "L-A")).first()
        assert row.wrapped is None and row.erased_at


def test_master_key_rotation_rewraps_and_keeps_contents_readable(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", anchor_enabled=False)
    ctx = build_context(settings)
    ctx.log.submit("bank-a", [make_event(f"e-{i}", f"L-{i}") for i in range(3)])
    before = ctx.store.leaf(1).record
    old_key = settings.resolved_master_key_file.read_bytes()
    assert oct(settings.resolved_master_key_file.stat().st_mode & 0o777) == "0o600"
    ctx.engine.dispose()
    env = {**os.environ, "CUNZHENG_DATA_DIR": str(settings.data_dir)}
    done = subprocess.run([sys.executable, "-m", "service.cli", "keys", "rotate-master"],
                          env=env, cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "rewrapped 3 data keys" in done.stderr
    assert settings.resolved_master_key_file.read_bytes() != old_key
    assert not settings.resolved_master_key_file.with_name("master-key.new").exists()
    again = build_context(settings)
    assert again.store.leaf(1).record == before
    with again.engine.connect() as conn:
        ids = {r[0] for r in conn.execute(select(data_keys.c.master_key_id))}
    assert ids == {again.store.cipher.keys.current_id}
