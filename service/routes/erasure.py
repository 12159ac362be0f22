"""Erasure of a loan's personal data (PIPL art. 47): crypto-shredding that keeps every
leaf hash, so the log and every other loan's proofs stay valid, and that is itself logged
first, as the loan's erasure event (who, when, basis, which records and documents)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from cunzheng_verify.erasure import DEFAULT_BASIS
from cunzheng_verify.records import TENANT_ID
from service.deps import Admin, Ctx
from service.lending import LEDGER

router = APIRouter(prefix="/v1/admin", tags=["admin"])


@router.delete(
    "/loans/{loan_id}/personal-data", summary="Erase a loan's personal data (crypto-shredding)",
    description="First appends the loan's erasure event (type `data_erased`, in the clear: "
    "who, when, the legal basis, how many records and which documents), then destroys the "
    "loan's data key, its record contents and the documents only its records cite, in one "
    "transaction. Leaf hashes, proofs, checkpoints and anchors stay; the loan's evidence then "
    "answers `erased`, and the erasure event is its evidence (`erasure.receipt`). The loan "
    "takes no new events. Irreversible.")
def erase_loan(loan_id: str, ctx: Ctx, who: Admin,
               tenant: Annotated[str,
                                 Query(pattern=TENANT_ID.pattern,
                                       examples=["bank-a"])],
               basis: Annotated[str, Query(min_length=1, max_length=512,
                                           description="the legal basis, recorded in the "
                                           "erasure event")] = DEFAULT_BASIS,
               ) -> dict[str, Any]:
    by = f"{who.role.value} key {who.key_id} ({who.label[:200].strip() or 'no label'})"
    counts = ctx.store.erase_loan(tenant, loan_id, ctx.clock(), erased_by=by, basis=basis,
                                  policy=LEDGER)
    counts["erasure"]["receipt"] = ctx.log.receipt_for_leaf(counts["erasure"]["leaf_index"])
    return {"tenant": tenant, "loan_id": loan_id, "erased": True, **counts}
