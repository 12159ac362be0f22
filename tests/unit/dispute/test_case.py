"""The case composition (`dispute.case`) on a real SQLite log anchored on an in-process EVM:
each stored record parsed once and the loan folded once per build; the package the same
bytes as the package builder given the selection and claim by hand; a damaged stored record
refused with its evidence id."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import dispute.records
from anchoring.store import StoredLeaf
from dispute.case import build_case_package
from dispute.claim import claim_for
from dispute.errors import PackageError
from dispute.package import CaseContents, LogIdentity, PackageRequest, build_package
from dispute.records import FoldedLoan, load_evidence
from dispute.selection import Venue, select_for
from tests.unit.dispute import LOAN_ID, TENANT
from tests.unit.dispute.packaging import AS_OF, BUILT_AT, World, make_world, simple_pdf


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return make_world(tmp_path_factory.mktemp("case"))


def _identity(world: World) -> LogIdentity:
    log = world.ctx.log
    return LogIdentity(log.origin, log.signer.name, log.signer.public_key)


def _request(venue: str = "court") -> PackageRequest:
    return PackageRequest(TENANT, LOAN_ID, venue, AS_OF, BUILT_AT)


def _counting(monkeypatch: pytest.MonkeyPatch, name: str) -> list[int]:
    calls: list[int] = []
    real: Callable[..., Any] = getattr(dispute.records, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(dispute.records, name, counted)
    return calls


def test_each_record_is_parsed_once_and_the_loan_folded_once(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    parsed = _counting(monkeypatch, "read_record")
    folded = _counting(monkeypatch, "rebuild")
    built = build_case_package(_request(), log=world.ctx.store, anchors=world.ctx.anchors,
                               identity=_identity(world), signer=world.signer, render=simple_pdf)
    stored = [leaf for leaf in world.ctx.store.loan_events(TENANT, LOAN_ID) if leaf.record]
    assert len(parsed) == len(stored) == 9
    assert len(folded) == 1
    items = {i["leaf_index"] for i in built.manifest["items"]}  # all but the credit decision
    assert len(items) == 8 and items < {leaf.leaf_index for leaf in stored}


def test_the_composition_is_the_builder_given_selection_and_claim(world: World) -> None:
    store, anchors = world.ctx.store, world.ctx.anchors
    venues: tuple[Venue, ...] = ("court", "notary")
    for venue in venues:
        composed = build_case_package(_request(venue), log=store, anchors=anchors,
                                      identity=_identity(world), signer=world.signer,
                                      render=simple_pdf)
        evidence = load_evidence(store, TENANT, LOAN_ID, world.ctx.log.origin)
        loan = FoldedLoan.fold(evidence.records)
        cited = sorted({d.sha256 for r in evidence.records for d in r.documents})
        selection = select_for(loan, venue, documents_available=store.has_documents(cited))
        contents = CaseContents(selection.exhibits, claim_for(loan, venue, AS_OF),
                                tuple(g.message for g in selection.gaps), selection)
        by_hand = build_package(_request(venue), log=store, anchors=anchors,
                                identity=_identity(world), signer=world.signer,
                                contents=contents, render=simple_pdf, evidence=evidence)
        assert composed.data == by_hand.data
        assert composed.manifest["venue"] == venue


class _OneLoan:
    """A log holding one loan's leaves as given (the damaged record a real store would
    refuse to open is made here, where the parser sees it)."""

    def __init__(self, *records: bytes | None) -> None:
        self.leaves = [StoredLeaf(10 + i, bytes(32), TENANT, f"e-{i}", LOAN_ID, "disbursement",
                                  "2026-08-01T00:00:00Z", r) for i, r in enumerate(records)]

    def loan_events(self, tenant: str, loan_id: str) -> list[StoredLeaf]:
        return self.leaves if (tenant, loan_id) == (TENANT, LOAN_ID) else []


def test_a_damaged_stored_record_is_refused_with_its_evidence_id(world: World) -> None:
    good = world.ctx.store.loan_events(TENANT, LOAN_ID)[0].record
    assert good is not None
    evidence = load_evidence(_OneLoan(good, None), TENANT, LOAN_ID, "log.example")
    assert [r.leaf_index for r in evidence.records] == [10]  # the erased one left out
    assert len(evidence.leaves) == 2 and evidence.records[0].content["loan_id"] == LOAN_ID
    not_canonical = good.replace(b'{"', b'{ "', 1)
    damaged = r"stored record log\.example#11 is damaged: .*canonical"
    with pytest.raises(PackageError, match=damaged):
        load_evidence(_OneLoan(good, not_canonical), TENANT, LOAN_ID, "log.example")
    with pytest.raises(PackageError, match="no records of loan 'L-none'"):
        load_evidence(_OneLoan(good), TENANT, "L-none", "log.example")
