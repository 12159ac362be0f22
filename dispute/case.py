"""One case: a loan's evidence package for one venue, composed from its parts.

`build_case_package` reads the loan's leaves from the log and parses each stored record
once (`dispute.records.load_evidence`), folds the loan once (`FoldedLoan`), chooses the
exhibits for the venue (`dispute.selection.select_for`, with the documents the store still
holds), proves them to their earliest anchored checkpoints and adds the loan's history at the
newest (`dispute.package.draft_package`: a record not anchored yet, or a log whose chain and
index disagree, refuses the build before anything else is computed), states the
claim (`dispute.claim.claim_for`, from the same folded loan) and finishes, signs and zips the
package (`finish_package`) with the case file from `render`. `CaseFileRenderer` is the
real renderer (`dispute.casefile.render_case_file`, WeasyPrint) fed from what the builder
has; a caller may pass another (the tests' small PDF writer).

The service adapts this thinly (`service.cases`): its log, anchors, log identity, package
key and public URL. No settings are read here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cunzheng_verify.notes import Signer
from dispute.claim import claim_for
from dispute.errors import PackageError
from dispute.evidence import VENUES, Venue
from dispute.package import (
    AnchorReader,
    BuiltPackage,
    CaseFileInput,
    LogIdentity,
    LogReader,
    PackageRequest,
    RenderCaseFile,
    draft_package,
    finish_package,
)
from dispute.records import FoldedLoan, load_evidence
from dispute.selection import select_for

__all__ = ["ATTACHMENT_TEXT", "CaseFileRenderer", "build_case_package"]

ATTACHMENT_TEXT = (
    ("manifest-",
     "包清单（不含 files 哈希表，见 VERIFY.md） / the manifest without its files table"),
    ("proofs/consistency/", "一致性证明 / consistency proof between checkpoints"),
    ("proofs/loan-index.json",
     "贷款索引证明（记录条数及最后一条） / the loan index proof: the loan's record count"),
    ("history/", "本笔贷款的存证记录原文 / a record of the loan's complete history"),
    ("proofs/", "包含证明 / inclusion proof of a record"),
    ("checkpoints/", "日志签名检查点 / signed checkpoint of the log"),
)
"""How each attachment embedded in the case file is described, by its path's prefix."""


@dataclass(frozen=True)
class CaseFileRenderer:
    """`dispute.casefile.render_case_file` fed from what the package builder has; the
    evidence URLs and QR codes point at `verify_base_url`."""

    verify_base_url: str

    def __call__(self, case: CaseFileInput) -> bytes:
        from dispute.casefile import HistoryFacts, PreservationFacts, render_case_file

        if case.selection is None:
            raise PackageError("the case file lists a selection's exhibits; none was given")
        attachments = [(name, data, next(t for p, t in ATTACHMENT_TEXT if name.startswith(p)))
                       for name, data in case.attachments.items()]
        created = datetime.fromisoformat(str(case.manifest["created_at"]))
        history = (None if case.history is None
                   else HistoryFacts.from_history(case.history, case.manifest))
        return render_case_file(case.selection.venue, case.claim, case.selection,
                                PreservationFacts.from_manifest(case.manifest),
                                self.verify_base_url, attachments, created, history)


def build_case_package(
    request: PackageRequest,
    *,
    log: LogReader,
    anchors: AnchorReader,
    identity: LogIdentity,
    signer: Signer,
    render: RenderCaseFile,
) -> BuiltPackage:
    """The evidence package of `request.loan_id` for `request.venue` (see the module doc).

    Raises `PackageError` (no records, a damaged record, an unknown venue, ...),
    `NotYetAnchored`, `SelectionError` when the records are not one loan, and `ClaimError`
    when they lack a contract or a disbursement."""
    venue = _venue(request.venue)
    evidence = load_evidence(log, request.tenant, request.loan_id, identity.origin)
    loan = FoldedLoan.fold(evidence.records)
    cited = sorted({d.sha256 for r in evidence.records for d in r.documents})
    selection = select_for(loan, venue, documents_available=log.has_documents(cited))
    draft = draft_package(request, evidence, selection.exhibits,
                          tuple(g.message for g in selection.gaps),
                          log=log, anchors=anchors, identity=identity)
    claim = claim_for(loan, venue, request.as_of)
    return finish_package(draft, claim, signer=signer, render=render, selection=selection)


def _venue(venue: str) -> Venue:
    for known in VENUES:
        if venue == known:
            return known
    raise PackageError(f"venue must be one of {', '.join(VENUES)}; got {venue!r}")
