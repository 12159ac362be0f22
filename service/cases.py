"""Building a loan's evidence package in this deployment: `dispute.case` adapted thinly.

The one place the CLI (`cunzheng case build`), the legal workbench's pages and the bench
build a case: this deployment's log and anchors, the log's identity, the package key the
caller passes, and the public URL the case file's QR codes point at. The composition
itself (parse once, fold once, select, prove, claim, render, sign) is `dispute.case`.
"""

from __future__ import annotations

from datetime import date, datetime

from cunzheng_verify.notes import Signer
from dispute.case import CaseFileRenderer, build_case_package
from dispute.package import BuiltPackage, LogIdentity, PackageRequest, RenderCaseFile
from service.context import AppContext
from service.settings import Settings

__all__ = ["build_dispute_package", "case_file_renderer"]


def case_file_renderer(settings: Settings) -> CaseFileRenderer:
    """The real case-file renderer, its evidence links on this deployment's public URL."""
    return CaseFileRenderer(settings.public_base_url or f"http://{settings.host}:{settings.port}")


def build_dispute_package(ctx: AppContext, *, tenant: str, loan_id: str, venue: str,
                          as_of: date, signer: Signer, created_at: datetime | None = None,
                          render: RenderCaseFile | None = None) -> BuiltPackage:
    """Build a loan's package from this deployment's log and anchors."""
    return build_case_package(
        PackageRequest(tenant, loan_id, venue, as_of, created_at or ctx.clock()),
        log=ctx.store, anchors=ctx.anchors,
        identity=LogIdentity(ctx.log.origin, ctx.log.signer.name, ctx.log.signer.public_key),
        signer=signer, render=render or case_file_renderer(ctx.settings))
