"""The loan history annex (package v2, issue 13 item 3) on an in-memory log: the real builder
and the real verifier, without a database or a chain. What the builder writes (every
record, the index proof, the manifest's `history`), what it refuses (a log whose chain,
events and index disagree), what the verifier reports for v1 records, erased records and
packages without a history, and the attacks of `history_attacks` caught at their step."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from anchoring.store import StoredLeaf
from cunzheng_verify import Status, VerificationReport, verify_package
from cunzheng_verify.erasure import erasure_event
from cunzheng_verify.format import LOAN_INDEX_PROOF, history_path
from cunzheng_verify.history import as_of_start
from cunzheng_verify.loanindex import loan_key
from dispute.errors import PackageError
from dispute.package import BuiltPackage
from tests.unit.dispute.history_attacks import HISTORY_ATTACKS, Attack
from tests.unit.dispute.history_fakes import (
    LOAN,
    PACKAGE_SIGNER,
    TENANT,
    FakeLog,
    build_fake,
    story,
)
from tests.unit.dispute.packaging import manifest, resign, rezip, unzip

HISTORY_STEPS = {"history.entry", "history.record", "history.chain", "history.index",
                 "history.exhibits", "history.freshness"}


def _verify(data: bytes) -> VerificationReport:
    return verify_package(data, trusted_keys=[PACKAGE_SIGNER.public_key])


def _steps(report: VerificationReport, prefix: str = "history") -> list[tuple[str, str, str]]:
    return [(s.step, s.status.value, s.reason) for s in report.steps
            if s.step.startswith(prefix)]


@pytest.fixture(scope="module")
def built() -> tuple[FakeLog, list[int], BuiltPackage]:
    log = FakeLog()
    mine = story(log)
    return log, mine, build_fake(log, [mine[1], mine[3]])


def test_the_package_carries_every_record_and_the_index_proof(
        built: tuple[FakeLog, list[int], BuiltPackage]) -> None:
    log, mine, package = built
    m = package.manifest
    h = m["history"]
    newest = max(log.anchors)
    assert m["schema"] == "cunzheng.package/v2"
    assert [c["tree_size"] for c in m["checkpoints"]] == [min(log.anchors), newest]
    assert h == {
        "checkpoint_size": newest, "index_root": log.loan_index_root(newest).hex(),  # type: ignore[union-attr]
        "count": 6, "last_leaf_index": mine[-1],
        "last_leaf_hash": log.leaves[mine[-1]].leaf_hash.hex(),
        "records": [{"loan_seq": n, "leaf_index": i, "leaf_hash": log.leaves[i].leaf_hash.hex(),
                     "path": history_path(i), "erased_by": None}
                    for n, i in enumerate(mine, start=1)],
        "index_proof": LOAN_INDEX_PROOF,
    }
    for i in mine:  # the exact stored bytes, covered by `files`
        assert package.files[history_path(i)] == log.leaves[i].record
        assert history_path(i) in m["files"]
    proof = json.loads(package.files[LOAN_INDEX_PROOF])
    assert proof["tree_size"] == newest and proof["key"] == loan_key(TENANT, LOAN).hex()
    assert proof["entry"]["count"] == 6 and LOAN_INDEX_PROOF in m["files"]
    assert f"proofs/consistency/{min(log.anchors)}-{newest}.json" in package.files


def test_a_normal_package_passes_every_history_step(
        built: tuple[FakeLog, list[int], BuiltPackage]) -> None:
    report = _verify(built[2].data)
    assert report.result == "ok", [s for s in report.steps if s.status is not Status.OK]
    history = [s for s in report.steps if s.step.startswith("history")]
    assert {s.step for s in history} == HISTORY_STEPS
    assert all(s.status is Status.OK for s in history)
    assert sum(s.step == "history.record" for s in history) == 6
    index = next(s for s in history if s.step == "history.index")
    assert "says 6 record(s)" in index.reason


def test_a_log_without_an_index_builds_v1_and_the_verifier_says_completeness_is_not_proved(
        ) -> None:
    log = FakeLog(index=False)
    mine = story(log)
    package = build_fake(log, [mine[1], mine[3]])
    assert package.manifest["schema"] == "cunzheng.package/v1"
    assert "history" not in package.manifest
    assert not any(p.startswith("history/") or p == LOAN_INDEX_PROOF for p in package.files)
    report = _verify(package.data)
    assert report.result == "ok"
    reason = ("cunzheng.package/v1: no loan history in this package; that it holds every "
              "record of the loan is not proved")
    assert _steps(report) == [("history", "skipped", reason)]


def test_v1_records_before_the_chain_are_a_warning_not_a_pass() -> None:
    log = FakeLog()
    mine = story(log, v1_first=2)  # the loan's first two records are v1: no links
    package = build_fake(log, [mine[3]])
    report = _verify(package.data)
    chain = next(s for s in report.steps if s.step == "history.chain")
    assert chain.status is Status.WARNING and report.result == "warning"
    assert "seq 2..6 link back" in chain.reason and "seq 1..1" in chain.reason
    assert "v1 records carry no link" in chain.reason
    assert report.ok  # counted by the index, listed, not failed
    # the v1 records read as records of the loan, and say so
    records = [s.reason for s in report.steps if s.step == "history.record"]
    assert sum("(carries no link)" in r for r in records) == 2


def test_an_erased_record_keeps_its_place_and_names_the_erasure_event() -> None:
    log = FakeLog()
    mine = story(log, noise=False)
    gone = mine[2]
    log.erase(gone)
    erased = [(gone, log.leaves[gone].leaf_hash)]
    at = datetime(2026, 7, 1, tzinfo=UTC)
    event = erasure_event(LOAN, at=at, erased_by="legal@bank", basis="PIPL art. 47",
                          records=erased, documents=[])
    mine.append(log.append(LOAN, posted=event))
    log.anchor()
    package = build_fake(log, [mine[1], mine[3]])
    h = package.manifest["history"]
    eid = f"{log.signer.name}#{mine[-1]}"
    assert h["records"][2] == {"loan_seq": 3, "leaf_index": gone,
                               "leaf_hash": log.leaves[gone].leaf_hash.hex(), "path": None,
                               "erased_by": eid}
    assert history_path(gone) not in package.files
    report = _verify(package.data)
    assert not report.failures, _steps(report)
    step = next(s for s in report.steps if s.step == "history.erased")
    assert step.status is Status.OK and eid in step.reason
    chain = next(s for s in report.steps if s.step == "history.chain")
    assert chain.status is Status.WARNING and "seq 3 was erased" in chain.reason
    # an erasure event that does not list the record: refused at history.erased
    files = unzip(package.data)
    m = manifest(files)
    m["history"]["records"][4]["path"] = None
    m["history"]["records"][4]["erased_by"] = eid
    del files[history_path(m["history"]["records"][4]["leaf_index"])]
    forged = _verify(rezip(resign(files, m, PACKAGE_SIGNER)))
    assert "history.erased" in forged.failed_steps()
    assert any("marks 2 erased" in s.reason for s in forged.failures)


def test_an_erased_record_without_an_erasure_event_is_a_warning() -> None:
    log = FakeLog()
    mine = story(log)
    log.erase(mine[2])
    report = _verify(build_fake(log, [mine[1], mine[3]]).data)
    step = next(s for s in report.steps if s.step == "history.erased")
    assert step.status is Status.WARNING and "no erasure event" in step.reason
    assert report.ok


# --- the builder refuses a log that disagrees with itself ----------------------------------


class _Edited:
    """The fake log as an insider's database edit leaves it: `loan_events` and `loan_chain`
    read what the edited rows say, the signed checkpoints and the index stay."""

    def __init__(self, log: FakeLog, **reads: Any) -> None:
        self._log = log
        self._reads = reads

    def __getattr__(self, name: str) -> Any:
        return self._reads.get(name) or getattr(self._log, name)


def _without(leaves: list[StoredLeaf], index: int) -> list[StoredLeaf]:
    return [leaf for leaf in leaves if leaf.leaf_index != index]


def test_a_thinned_loan_is_refused_not_packaged() -> None:
    log = FakeLog()
    mine = story(log)
    removed = mine[2]
    # the loan_id column of a repayment changed: neither the events nor the chain list it
    edited = _Edited(log,
                     loan_events=lambda t, loan: _without(log.loan_events(t, loan), removed),
                     loan_chain=lambda t, loan, n: _without(log.loan_chain(t, loan, n), removed))
    with pytest.raises(PackageError, match=r"holds 5 record\(s\), its loan index entry says 6"):
        build_fake(log, [mine[1], mine[3]], reader=edited)
    # the chain still lists it, the events do not: the selection would leave it out
    edited = _Edited(log, loan_events=lambda t, loan: _without(log.loan_events(t, loan),
                                                               removed))
    with pytest.raises(PackageError, match="not among its events by loan_id"):
        build_fake(log, [mine[1], mine[3]], reader=edited)


def test_a_log_whose_index_or_bytes_disagree_is_refused() -> None:
    log = FakeLog()
    mine = story(log)
    exhibits = [mine[1], mine[3]]
    newest = max(log.anchors)
    stale = _Edited(log, loan_index_root=lambda n: bytes(32))
    with pytest.raises(PackageError, match="its signed checkpoint commits to"):
        build_fake(log, exhibits, reader=stale)
    other = _Edited(log, loan_index_proof=lambda t, loan, n: log.loan_index_proof(
        t, "L-OTHER-0", n))
    with pytest.raises(PackageError, match="for another key"):
        build_fake(log, exhibits, reader=other)
    older = _Edited(log, loan_index_proof=lambda t, loan, n: log.loan_index_proof(
        t, loan, min(log.anchors)))
    with pytest.raises(PackageError, match=f"does not verify against checkpoint {newest}"):
        build_fake(log, exhibits, reader=older)
    reordered = _Edited(log, loan_chain=lambda t, loan, n: [
        replace(leaf, loan_seq=7 - leaf.loan_seq) if leaf.loan_seq in (3, 4) else leaf
        for leaf in log.loan_chain(t, loan, n)])
    with pytest.raises(PackageError, match="lists it as seq 4"):
        build_fake(log, exhibits, reader=reordered)

    def altered(leaves: list[StoredLeaf]) -> list[StoredLeaf]:
        return [replace(leaf, record=leaf.record.replace(b'"salt":"', b'"salt":"0', 1)[:-1]
                        + b"}") if leaf.leaf_index == mine[2] and leaf.record else leaf
                for leaf in leaves]
    damaged = _Edited(log, loan_chain=lambda t, loan, n: altered(log.loan_chain(t, loan, n)))
    with pytest.raises(PackageError, match="the chain and the loan's events read other bytes"):
        build_fake(log, exhibits, reader=damaged)


# --- the verifier: the tamper suite on the in-memory log ----------------------------------


@pytest.mark.parametrize(("attack", "expected"), HISTORY_ATTACKS,
                         ids=[a.__name__ for a, _ in HISTORY_ATTACKS])
def test_each_history_attack_fails_its_step(
        built: tuple[FakeLog, list[int], BuiltPackage], attack: Attack,
        expected: set[str]) -> None:
    log, _, package = built
    clean = _verify(package.data)
    report = _verify(attack(dict(package.files), PACKAGE_SIGNER, log))
    assert report.failed_steps() == expected, _steps(report)
    assert {s.step for s in clean.steps} <= {s.step for s in report.steps}


def test_an_older_checkpoint_passed_off_as_the_newest_is_caught_by_its_anchor_time() -> None:
    log = FakeLog()
    mine = []
    for n in range(4):
        mine.append(log.append(LOAN, "credit_decision" if n == 0 else "repayment_received"))
        if n == 1:
            log.anchor(at=datetime(2026, 7, 1, tzinfo=UTC))  # before the as-of date
    log.anchor()
    # a copy of the log as it stood at the first checkpoint: the builder will not date its
    # history after that checkpoint's anchor; it leaves the history out, and says why
    early = FakeLog(signer=log.signer, leaves=log.leaves[:2],
                    notes={2: log.notes[2]}, anchors={2: log.anchors[2]})
    stale = build_fake(early, [mine[1]])
    assert stale.manifest["schema"] == "cunzheng.package/v1"
    assert "history" not in stale.manifest
    assert any("completeness not proved" in g and "anchored at 2026-07-01T00:00:00Z, before "
               "the as-of date 2026-08-01" in g for g in stale.manifest["loan"]["gaps"])
    assert _steps(_verify(stale.data))[0][:2] == ("history", "skipped")
    # built honestly as of an earlier date, then re-signed as of a later one: the verifier
    files = dict(build_fake(early, [mine[1]], as_of="2026-06-30").files)
    m = manifest(files)
    m["loan"]["as_of"] = "2026-08-01"
    report = _verify(rezip(resign(files, m, PACKAGE_SIGNER)))
    assert report.failed_steps() == {"history.freshness"}, _steps(report)
    reason = next(s.reason for s in report.failures)
    assert "before the package's as-of date 2026-08-01" in reason
    assert not _verify(build_fake(log, [mine[1]]).data).failures


def test_the_as_of_date_starts_at_midnight_in_china() -> None:
    assert as_of_start("2026-08-01") == datetime(2026, 7, 31, 16, tzinfo=UTC)
    for bad in ("2026-8-1", "20260801", 20260801, None, "2026-08-01T00:00:00"):
        with pytest.raises(Exception, match="loan.as_of must be a date"):
            as_of_start(bad)


def test_a_stripped_history_verifies_as_v1_and_says_nothing_is_proved(
        built: tuple[FakeLog, list[int], BuiltPackage]) -> None:
    """The limit of what a signature can do: the bank can build a package without the annex.
    Then the report says completeness is not proved, rather than pass it silently."""
    files = dict(built[2].files)
    m = manifest(files)
    del m["history"]
    m["schema"] = "cunzheng.package/v1"
    for p in [p for p in files if p.startswith("history/") or p == LOAN_INDEX_PROOF]:
        del files[p]
    report = _verify(rezip(resign(files, m, PACKAGE_SIGNER)))
    assert [(s.step, s.status) for s in report.steps if s.step.startswith("history")] == [
        ("history", Status.SKIPPED)]


def test_a_malformed_history_fails_its_entry_and_skips_the_rest(
        built: tuple[FakeLog, list[int], BuiltPackage]) -> None:
    files = dict(built[2].files)
    m = manifest(files)
    m["history"]["records"][0]["path"] = "../../etc/passwd"
    report = _verify(rezip(resign(files, m, PACKAGE_SIGNER)))
    assert report.failed_steps() == {"history.entry"}
    assert {s.step for s in report.steps if s.status is Status.SKIPPED} >= (
        HISTORY_STEPS - {"history.entry"})


def test_a_hostile_listing_naming_one_file_thousands_of_times_parses_it_once(
        built: tuple[FakeLog, list[int], BuiltPackage], monkeypatch: pytest.MonkeyPatch) -> None:
    from cunzheng_verify import history

    files = dict(built[2].files)
    m = manifest(files)
    first = m["history"]["records"][0]
    m["history"]["records"] = [dict(first, loan_seq=n) for n in range(1, 5001)]
    m["history"]["count"] = 5000
    calls: list[int] = []
    real = history.read_record
    monkeypatch.setattr(history, "read_record", lambda data: calls.append(1) or real(data))
    report = _verify(rezip(resign(files, m, PACKAGE_SIGNER)))
    assert len(calls) == 1
    assert {"history.record", "history.chain", "history.index"} <= report.failed_steps()
    assert sum(s.step == "history.record" and s.status is Status.FAILED
               for s in report.steps) == 4999
