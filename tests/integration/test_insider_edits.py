"""An insider with database access edits the leaves table (issue 13): each edit is named by
fsck (which leaf, which column or what), and fsck exits non-zero; a proper erasure is
logged as an event of the loan and passes fsck. Real SQLite files and the real PostgreSQL
server, records sealed at rest (the settings create a master key), events posted through
the real app."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from anchoring.crypto import SEALED_V2
from anchoring.fsck import Finding, fsck
from anchoring.tables import checkpoints, leaves
from cunzheng_verify import loanindex
from cunzheng_verify.notes import Checkpoint, sign_checkpoint
from service.settings import Settings
from tests.conftest import make_event
from tests.integration.api_client import Api, running_api

REPO = Path(__file__).resolve().parents[2]
LOAN, OTHER, GHOST = "L-1", "L-2", "L-GHOST"
REPAID = (6, 7, 8)  # leaves of LOAN's first three repayments, posted in one batch
LONE = 13  # OTHER's 2nd repayment, posted alone: its received_at is its own
SIZE = 14


def _opening(loan: str) -> list[dict[str, Any]]:
    return [make_event(f"{loan}:cd", loan), make_event(f"{loan}:cs", loan, "contract_signed"),
            make_event(f"{loan}:db", loan, "disbursement")]


def _repayment(loan: str, n: int) -> dict[str, Any]:
    return make_event(f"{loan}:rp-{n}", loan, "repayment_received")


@pytest.fixture
def api(settings: Settings) -> Iterator[Api]:
    """Leaves 0-2 and 3-5 open LOAN and OTHER; 6-8 are LOAN's repayments 1-3 (one batch),
    9 LOAN's 4th, 10 OTHER's 1st, 11-12 LOAN's 5th and 6th (9 events of LOAN), 13 OTHER's
    2nd, alone."""
    with running_api(settings) as api:
        for batch in (_opening(LOAN) + _opening(OTHER),
                      [_repayment(LOAN, n) for n in (1, 2, 3)],
                      [_repayment(LOAN, 4), _repayment(OTHER, 1)],
                      [_repayment(LOAN, 5), _repayment(LOAN, 6)], [_repayment(OTHER, 2)]):
            r = api.post_events(batch)
            assert r.status_code == 201, r.text
        api.wait_checkpoint(SIZE)
        with api.ctx.engine.connect() as conn:
            blobs = [bytes(r[0]) for r in conn.execute(select(leaves.c.record))]
        assert len(blobs) == SIZE and all(b.startswith(SEALED_V2) for b in blobs)
        assert _report(api).ok, _report(api).findings
        yield api


def _report(api: Api) -> Any:
    log = api.ctx.log
    api.ctx.store._loan_keys.clear()  # read the key table as it is now
    return fsck(log.store, key_name=log.signer.name, public_key=log.signer.public_key,
                origin=log.origin)


def _cli_fsck(settings: Settings) -> tuple[int, dict[str, Any]]:
    env = {**os.environ, "CUNZHENG_DATA_DIR": str(settings.data_dir),
           "CUNZHENG_DATABASE_URL": settings.resolved_database_url}
    done = subprocess.run([sys.executable, "-m", "service.cli", "fsck", "--json"], env=env,
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    return done.returncode, json.loads(done.stdout)


def _set(api: Api, index: int, **values: Any) -> None:
    with api.ctx.engine.begin() as conn:
        assert conn.execute(update(leaves).where(leaves.c.leaf_index == index)
                            .values(**values)).rowcount == 1


def _column(api: Api, index: int, name: str) -> Any:
    with api.ctx.engine.connect() as conn:
        return conn.execute(select(leaves.c[name]).where(leaves.c.leaf_index == index)).scalar()


def _named(findings: Any, leaf: int, **want: str) -> list[Finding]:
    return [f for f in findings if f.leaf_index == leaf and f"leaf {leaf}" in f.detail
            and all(getattr(f, k) == v for k, v in want.items())]


# --- the edits --------------------------------------------------------------------------


def _loan_id_of_three_repayments(api: Api) -> None:
    for i in REPAID:
        _set(api, i, loan_id=GHOST)


def _tenant(api: Api) -> None:
    _set(api, 7, tenant="bank-z")


def _event_type(api: Api) -> None:
    _set(api, 7, event_type="disbursement")


def _received_at_to_a_neighbours(api: Api) -> None:
    _set(api, 7, received_at=_column(api, 9, "received_at"))


def _received_at_of_a_batch_mate(api: Api) -> None:
    _set(api, 7, received_at="2026-01-01T00:00:00Z")


def _received_at_of_a_lone_event(api: Api) -> None:
    _set(api, LONE, received_at="2026-01-01T00:00:00Z")


def _delete_leaf(api: Api) -> None:
    with api.ctx.engine.begin() as conn:
        assert conn.execute(delete(leaves).where(leaves.c.leaf_index == 7)).rowcount == 1


def _swap_records(api: Api) -> None:
    a, b = _column(api, 6, "record"), _column(api, 11, "record")
    _set(api, 6, record=b)
    _set(api, 11, record=a)


def _null_record(api: Api) -> None:
    _set(api, 7, record=None)


EDITS: list[tuple[str, Callable[[Api], None], Callable[[Any, Api], list[str]]]] = []


def _edit(name: str, change: Callable[[Api], None]) -> Callable[..., Any]:
    def register(check: Callable[[Any, Api], list[str]]) -> Callable[[Any, Api], list[str]]:
        EDITS.append((name, change, check))
        return check
    return register


@_edit("loan_id", _loan_id_of_three_repayments)
def _check_loan_id(findings: Any, api: Api) -> list[str]:
    # the loans of the leaves around each are tried: the one it opens under is named
    return [f"leaf {i}: no loan_id finding" for i in REPAID
            if not _named(findings, i, kind="record-column", column="loan_id", found=GHOST,
                          expected=LOAN)]


@_edit("tenant", _tenant)
def _check_tenant(findings: Any, api: Api) -> list[str]:
    hit = _named(findings, 7, kind="record-column", column="tenant", found="bank-z",
                 expected="bank-a")
    return [] if hit else ["no tenant finding"]


@_edit("event_type", _event_type)
def _check_event_type(findings: Any, api: Api) -> list[str]:
    hit = _named(findings, 7, kind="record-column", column="event_type",
                 expected="repayment_received", found="disbursement")
    return [] if hit else ["no event_type finding"]


@_edit("received_at-neighbour", _received_at_to_a_neighbours)
def _check_received_at(findings: Any, api: Api) -> list[str]:
    hit = _named(findings, 7, kind="record-column", column="received_at",
                 expected=_column(api, 6, "received_at"), found=_column(api, 9, "received_at"))
    return [] if hit else ["no received_at finding with the sealed value"]


@_edit("received_at-batch", _received_at_of_a_batch_mate)
def _check_received_at_batch(findings: Any, api: Api) -> list[str]:
    # its batch-mates (leaves 6 and 8) hold the time it was sealed with
    hit = _named(findings, 7, kind="record-column", column="received_at",
                 expected=_column(api, 6, "received_at"), found="2026-01-01T00:00:00Z")
    return [] if hit else ["no received_at finding with the sealed value"]


@_edit("received_at-lone", _received_at_of_a_lone_event)
def _check_received_at_lone(findings: Any, api: Api) -> list[str]:
    # a time seen nowhere cannot be told from a changed byte: the leaf and the suspects
    hit = [f for f in _named(findings, LONE, kind="record-sealed") if "received_at" in f.detail]
    return [] if hit else [f"leaf {LONE} not named as a sealed record that does not open"]


@_edit("deleted-leaf", _delete_leaf)
def _check_deleted(findings: Any, api: Api) -> list[str]:
    out = [] if _named(findings, 7, kind="gap") else ["no gap at leaf 7"]
    if "loan_seq" in leaves.c and not _named(findings, 8, kind="loan-seq"):
        out.append("no loan-seq finding at leaf 8 (LOAN's next leaf)")
    return out


@_edit("swapped-records", _swap_records)
def _check_swapped(findings: Any, api: Api) -> list[str]:
    out = []
    for here, there in ((6, 11), (11, 6)):
        if not any(f"record of leaf {there}" in f.detail
                   for f in _named(findings, here, kind="record-moved")):
            out.append(f"leaf {here} not named as holding leaf {there}'s record")
    return out


@_edit("nulled-record", _null_record)
def _check_nulled(findings: Any, api: Api) -> list[str]:
    return [] if _named(findings, 7, kind="record-missing") else ["no record-missing at 7"]


@pytest.mark.parametrize("name", [name for name, _, _ in EDITS])
def test_each_insider_edit_is_named_by_fsck(api: Api, settings: Settings, name: str) -> None:
    _, change, check = next(e for e in EDITS if e[0] == name)
    change(api)
    report = _report(api)
    assert not report.ok
    problems = check(report.findings, api)
    assert not problems, (problems, [f"[{f.kind}] {f.detail}" for f in report.findings])
    if settings.resolved_database_url.startswith("sqlite"):
        code, out = _cli_fsck(settings)
        assert code == 1 and out["ok"] is False
        assert [f["detail"] for f in out["findings"]] == [f.detail for f in report.findings]


def test_every_divergence_is_reported_not_only_the_first(api: Api) -> None:
    _loan_id_of_three_repayments(api)
    _event_type(api)  # leaf 7 again: its loan_id and its event_type both changed
    _set(api, 12, tenant="bank-z")
    findings = _report(api).findings
    assert {f.leaf_index for f in findings} >= {6, 7, 8, 12}
    assert len(_named(findings, 7)) >= 2  # both of leaf 7's changes
    # in the order they become visible: a leaf's at it, a checkpoint's at its last leaf
    seen = [f.leaf_index if f.leaf_index is not None else (f.checkpoint_size or 1 << 62) - 1
            for f in findings]
    assert seen == sorted(seen), findings


def test_the_moved_repayments_cannot_be_read_as_erased(api: Api) -> None:
    """The loan loses three events from its own view, but the ghost loan's are not
    "erased": reading them is a problem naming the leaf, not an empty record."""
    _loan_id_of_three_repayments(api)
    api.ctx.store._loan_keys.clear()
    r = api.request("GET", "/v1/records/7", role="legal")
    assert r.status_code == 500 and "leaf 7" in r.json()["detail"], r.text
    assert "no erasure event" in r.json()["detail"]


# --- erasure is evidence -------------------------------------------------------------------


def test_a_logged_erasure_passes_fsck_and_is_in_the_log(api: Api, settings: Settings) -> None:
    r = api.request("DELETE", f"/v1/admin/loans/{LOAN}/personal-data?tenant=bank-a"
                    "&basis=PIPL%20art.%2047%20(request%20R-7)", role="admin")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["leaves"] == 9 and body["records_erased"] == 9
    erasure = body["erasure"]
    assert erasure["leaf_index"] == SIZE and erasure["event_id"] == f"erasure:{LOAN}"
    assert erasure["receipt"]["leaf_index"] == SIZE

    got = api.request("GET", f"/v1/events/erasure:{LOAN}").json()
    record = json.loads(got["record"])
    assert record["type"] == "data_erased" and record["loan_id"] == LOAN
    payload = record["payload"]
    assert payload["records"] == 9 and payload["basis"] == "PIPL art. 47 (request R-7)"
    assert payload["erased_by"].startswith("admin key ")
    assert record["source"]["system"] == "cunzheng-ledger"
    with api.ctx.engine.connect() as conn:
        stored = conn.execute(select(leaves.c.record)
                              .where(leaves.c.leaf_index == SIZE)).scalar_one()
    assert bytes(stored).startswith(b"{")  # in the clear: no personal data

    assert api.request("GET", "/v1/records/0", role="legal").json()["erased"] is True
    assert _report(api).ok, _report(api).findings
    if settings.resolved_database_url.startswith("sqlite"):
        assert _cli_fsck(settings)[0] == 0
    refused = api.post_events([_repayment(LOAN, 7)])
    assert refused.status_code == 400 and "erased" in refused.text
    again = api.request("DELETE", f"/v1/admin/loans/{LOAN}/personal-data?tenant=bank-a",
                        role="admin")
    assert again.status_code == 400 and "already erased" in again.json()["detail"]


def test_a_row_moved_into_an_erased_loan_is_named(api: Api) -> None:
    assert api.request("DELETE", f"/v1/admin/loans/{LOAN}/personal-data?tenant=bank-a",
                       role="admin").status_code == 200
    seq = {"loan_seq": 100} if "loan_seq" in leaves.c else {}  # a free place in the loan
    _set(api, 10, loan_id=LOAN, **seq)  # OTHER's repayment, before the erasure, "into" it
    findings = _report(api).findings
    assert _named(findings, SIZE, kind="erasure-records"), findings
    assert api.post_events([_repayment(OTHER, 3)]).status_code == 201
    _set(api, SIZE + 1, loan_id=LOAN, **({"loan_seq": 101} if seq else {}))  # after it
    assert _named(_report(api).findings, SIZE + 1, kind="after-erasure")


def test_only_the_ledger_writes_an_erasure(api: Api) -> None:
    forged = make_event(f"{OTHER}:fake", OTHER, "correction",
                        type="data_erased", payload={
                            "scope": "loan", "erased_by": "me", "basis": "none", "records": 0,
                            "records_sha256": "0" * 64, "documents": []})
    r = api.post_events([forged])
    assert r.status_code == 422 and "reserved_type" in r.text, r.text
    posing = make_event(f"{OTHER}:pose", OTHER, source={"system": "cunzheng-ledger"})
    r = api.post_events([posing])
    assert r.status_code == 422 and "reserved" in r.text, r.text


def test_cli_erase_logs_who_and_why(api: Api, settings: Settings) -> None:
    if not settings.resolved_database_url.startswith("sqlite"):
        pytest.skip("the CLI's own run; the API's runs on both databases")
    env = {**os.environ, "CUNZHENG_DATA_DIR": str(settings.data_dir),
           "CUNZHENG_DATABASE_URL": settings.resolved_database_url}
    base = [sys.executable, "-m", "service.cli", "erase", "--tenant", "bank-a", "--loan", OTHER]
    done = subprocess.run([*base, "--by", "DPO 张三", "--basis", "PIPL art. 47", "--yes"],
                          env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["records_erased"] == 5 and out["erasure"]["erased_by"] == "DPO 张三"
    assert _report(api).ok
    record = json.loads(api.ctx.store.leaf(out["erasure"]["leaf_index"]).record or b"{}")
    assert record["payload"]["erased_by"] == "DPO 张三" and record["loan_id"] == OTHER


# --- the loan index ------------------------------------------------------------------------


def _commit_loan_index(api: Api) -> list[int]:
    """Re-sign every checkpoint with the loan index of its leaves (what the log signs once
    it keeps the index: DESIGN.md, "Loan index")."""
    log, engine = api.ctx.log, api.ctx.engine
    sizes = []
    for cp in list(log.store.iter_checkpoints()):
        heads: dict[tuple[str, str], tuple[int, int, bytes]] = {}
        with engine.connect() as conn:
            for i, lh, tenant, loan in conn.execute(
                    select(leaves.c.leaf_index, leaves.c.leaf_hash, leaves.c.tenant,
                           leaves.c.loan_id).where(leaves.c.leaf_index < cp.tree_size)
                    .order_by(leaves.c.leaf_index)):
                count = heads.get((tenant, loan), (0, 0, b""))[0]
                heads[(tenant, loan)] = (count + 1, int(i), bytes(lh))
        root = loanindex.root_of(loanindex.Entry(loanindex.loan_key(t, loan), *head)
                                 for (t, loan), head in heads.items())
        line = f"{loanindex.INDEX_LINE} {base64.b64encode(root).decode()}"
        note = sign_checkpoint(Checkpoint(log.origin, cp.tree_size, cp.root, (line,)),
                               log.signer)
        with engine.begin() as conn:
            conn.execute(update(checkpoints).where(checkpoints.c.tree_size == cp.tree_size)
                         .values(note=note))
        sizes.append(cp.tree_size)
    return sizes


def test_the_loan_index_is_compared_with_every_checkpoint(api: Api) -> None:
    sizes = _commit_loan_index(api)
    report = _report(api)
    assert report.ok and not any("not checked" in n for n in report.notes), report
    _set(api, 7, loan_id=GHOST)
    divergent = [f for f in _report(api).findings if f.kind == "loan-index"]
    assert {f.checkpoint_size for f in divergent} == {n for n in sizes if n > 7}, divergent
    if hasattr(api.ctx.store, "loan_index_proof_for_key"):  # the loans are named
        assert f"loan {GHOST!r} of tenant 'bank-a': the checkpoint says none" in \
            divergent[0].detail and f"loan {LOAN!r}" in divergent[0].detail
    # a checkpoint whose committed root was changed (and re-signed) is named alone
    _set(api, 7, loan_id=LOAN)
    cp = api.ctx.store.checkpoint(sizes[-1])
    forged = sign_checkpoint(Checkpoint(api.ctx.log.origin, cp.tree_size, cp.root,
                                        (f"{loanindex.INDEX_LINE} {'A' * 43}=",)),
                             api.ctx.log.signer)
    with api.ctx.engine.begin() as conn:
        conn.execute(update(checkpoints).where(checkpoints.c.tree_size == cp.tree_size)
                     .values(note=forged))
    findings = _report(api).findings
    # the store's own index (when it keeps one) tells the root was changed, not the leaves
    stored = [("loan-index-stored", cp.tree_size)] if hasattr(api.ctx.store,
                                                              "loan_index_root") else []
    assert [(f.kind, f.checkpoint_size) for f in findings] == [*stored,
                                                                ("loan-index", cp.tree_size)]
