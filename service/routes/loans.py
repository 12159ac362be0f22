"""Loans as a lending service or a legal system integrates with them: the state in loan
order, the arrears statement and the findings (`service.loans.loan_json`)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from starlette.concurrency import run_in_threadpool

from anchoring.errors import NotFound, RecordError
from lending_core.state import CHINA_TZ
from service.auth import Principal, Role
from service.completeness import completeness_json
from service.deps import Ctx, require
from service.loans import findings_json, loan_history, loan_json
from service.routes.verify import COMPLETENESS_DESCRIPTION, LoanCompleteness

router = APIRouter(prefix="/v1/loans", tags=["loans"])

LoanReader = Annotated[Principal, Depends(require(Role.LENDER, Role.LEGAL, Role.ADMIN))]
FindingReader = Annotated[Principal, Depends(require(Role.LENDER, Role.LEGAL, Role.ADMIN,
                                                     Role.AUDITOR))]
AS_OF = Query(description="YYYY-MM-DD; today in China Standard Time when left out")
TENANT = Query(description="the loan's tenant (legal, admin, auditor; a lender reads its own)")


def _tenant(who: Principal, tenant: str | None) -> str:
    if who.role is Role.LENDER:
        return who.tenant or ""
    if not tenant:
        raise RecordError("tenant is required for this role (?tenant=...)", field="tenant")
    return tenant


def _day(as_of: str | None, ctx: Ctx) -> date:
    if as_of is None:
        now: datetime = ctx.clock()
        return now.astimezone(CHINA_TZ).date()
    try:
        return date.fromisoformat(as_of)
    except ValueError:
        raise RecordError(f"as_of expects YYYY-MM-DD, found {as_of!r}", field="as_of") from None


@router.get("/{loan_id}", summary="A loan's state, arrears and findings as of a date")
async def get_loan(loan_id: str, ctx: Ctx, who: LoanReader,
                   as_of: Annotated[str | None, AS_OF] = None,
                   tenant: Annotated[str | None, TENANT] = None) -> dict[str, Any]:
    owner, day = _tenant(who, tenant), _day(as_of, ctx)
    loan = await run_in_threadpool(loan_history, ctx.store, owner, loan_id)
    if loan is None:
        raise NotFound(f"no readable events for loan {loan_id!r} of tenant {owner!r}")
    return await run_in_threadpool(loan_json, owner, loan, day)


@router.get("/{loan_id}/findings", summary="Events recorded but inconsistent with the loan")
async def get_findings(loan_id: str, ctx: Ctx, who: FindingReader,
                       tenant: Annotated[str | None, TENANT] = None) -> dict[str, Any]:
    owner = _tenant(who, tenant)
    loan = await run_in_threadpool(loan_history, ctx.store, owner, loan_id)
    if loan is None:
        raise NotFound(f"no readable events for loan {loan_id!r} of tenant {owner!r}")
    found = findings_json(loan.findings)
    if who.role is Role.AUDITOR:  # auditors see no content: codes and places only
        found = [{k: f[k] for k in ("code", "event_id", "event_type", "leaf_index",
                                    "found_at", "resolved", "resolved_at")} for f in found]
    return {"tenant": owner, "loan_id": loan_id,
            "open": sum(1 for f in found if not f["resolved"]), "findings": found}


@router.get("/{loan_id}/completeness", response_model=LoanCompleteness,
            summary="Is the loan's history complete up to a checkpoint",
            description=COMPLETENESS_DESCRIPTION + " Auditors see places and hashes only "
            "(no event type, no time); a lender reads its own tenant's loans.")
async def get_completeness(
    loan_id: str, ctx: Ctx, who: FindingReader,
    tenant: Annotated[str | None, TENANT] = None,
    tree_size: Annotated[int | None, Query(ge=0, le=2**62, examples=[1024],
                                           description="a signed checkpoint's size")] = None,
) -> dict[str, Any]:
    owner = _tenant(who, tenant)
    return await run_in_threadpool(completeness_json, ctx, owner, loan_id, tree_size,
                                   contents=who.role is not Role.AUDITOR)
