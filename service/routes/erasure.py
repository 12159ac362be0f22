"""Erasure of a loan's personal data (PIPL art. 47): crypto-shredding that keeps every
leaf hash, so the log and every other loan's proofs stay valid."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from cunzheng_verify.records import TENANT_ID, format_utc
from service.deps import Admin, Ctx

router = APIRouter(prefix="/v1/admin", tags=["admin"])


@router.delete(
    "/loans/{loan_id}/personal-data", summary="Erase a loan's personal data (crypto-shredding)",
    description="Destroys the loan's data key, its record contents and the documents only its "
    "records cite. Leaf hashes, proofs, checkpoints and anchors stay; the loan's evidence then "
    "answers `erased`. The loan takes no new events. Irreversible.")
def erase_loan(loan_id: str, ctx: Ctx, who: Admin,
               tenant: Annotated[str,
                                 Query(pattern=TENANT_ID.pattern,
                                       examples=["bank-a"])]) -> dict[str, Any]:
    counts = ctx.store.erase_loan(tenant, loan_id, format_utc(ctx.clock()))
    return {"tenant": tenant, "loan_id": loan_id, "erased": True, **counts}
