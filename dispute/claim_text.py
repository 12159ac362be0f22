"""The claim in words: the requests, the fields left to complete, the adjustments explained.

`requests(claim, venue)` writes the numbered requests (诉讼请求 / 仲裁请求 / 申请事项) from
the claim's figures; `to_complete` lists the form fields the records cannot give (a legal
representative, the lender's domicile, pre-suit preservation), so none is invented;
`adjustments(state, as_of)` explains every reversal, correction, prepayment, extension and
fee, so a record in the package that the figures leave out surprises nobody.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from dispute.claim_amounts import money, rate_text
from dispute.evidence import Venue
from dispute.wording import METHOD_ZH, pct
from lending_core.events.adjustments import DEFAULT_PREPAYMENT_RULE
from lending_core.reamortise import PREPAYMENT_RULE_ZH as _RULE_ZH
from lending_core.state import LoanState

__all__ = ["LIABILITY_ZH", "adjustments", "requests", "to_complete"]

LIABILITY_ZH = {"joint_and_several": "连带保证", "general": "一般保证"}


def to_complete(venue: Venue, guarantors: Sequence[Any]) -> list[str]:
    """Form fields the records do not hold: the legal team fills them in."""
    fields = ["parties.claimant.address", "parties.claimant.legal_representative",
              "parties.respondents[*].legal_representative"]
    if venue == "court":
        fields.append("pre_suit_preservation")
    if any(g.kind == "guarantee" for g in guarantors):
        fields.append("security[*].guarantee_period")
    return fields


def requests(claim: dict[str, Any], venue: Venue) -> list[str]:
    """The numbered requests (诉讼请求 / 仲裁请求 / 申请事项) in words."""
    a = claim["amounts"]
    to = claim["accrued_to_label"]
    lines = [f"偿还借款本金{a['principal']}元"]
    parts = [f"期内利息{a['interest']['amount']}元", f"罚息{a['penalty_interest']['amount']}元"]
    if claim["contract"]["compound_interest"]["allowed"]:
        parts.append(f"复利{a['compound_interest']['amount']}元")
    line = "支付" + "、".join(parts) + f"（{to}）"
    if claim["continuing"]:
        line += "；" + "；".join(c["text"] for c in claim["continuing"])
    lines.append(line)
    if Decimal(a["costs"]["amount"]) > 0:
        lines.append(f"支付实现债权的费用{a['costs']['amount']}元")
    if Decimal(a.get("cap_reduction", "0")) > 0:
        # 法发〔2017〕22号 第2条: the amounts above are already lowered to the 24 % cap.
        lines[-1] += (f"（上述利息、罚息、复利及费用已按年利率"
                      f"{pct(Decimal(claim['ceiling']['annual_rate']))}上限调减"
                      f"{a['cap_reduction']}元）")
    for sec in claim["security"]:
        name = sec["provider"]["name"]
        if sec["kind"] == "guarantee":
            lines.append(f"{name}对上述债务在{sec['secured_amount']}元范围内承担"
                         f"{LIABILITY_ZH.get(sec['liability'] or '', '保证')}责任")
        else:
            lines.append(f"对{name}提供的{sec['label']}财产折价或拍卖、变卖所得价款在"
                         f"{sec['secured_amount']}元范围内优先受偿")
    lines.append({"court": "本案诉讼费用由被告承担", "arbitration": "本案仲裁费用由被申请人承担",
                  "notary": "公证费用由被申请人承担"}[venue])
    return lines


_TYPE_ZH = {"repayment_received": "还款", "disbursement": "放款", "fee_charged": "费用",
            "prepayment": "提前还款"}


def adjustments(state: LoanState, as_of: date) -> dict[str, Any]:
    """Reversals, corrections, prepayments, extensions and fees, as the court reads them.

    A reversed posting is not in `repayments`/`disbursements` (nor in the computation); it
    is listed here with the reversal, so nobody is surprised by a record in the package
    that the figures leave out."""
    notes = [n for n in state.corrections if hasattr(n, "outcome")]
    contract_rule = state.contract.payload.prepayment_rule if state.contract else None
    out: dict[str, Any] = {
        "reversals": [
            {"event_id": n.event_id, "original_event_id": n.original_event_id,
             "original_type": n.original_type, "reversed_on": n.on.isoformat() if n.on else None,
             "reason": n.reason, "applied": n.applied, "finding": None if n.applied else n.outcome,
             "text": (f"{n.on.isoformat() if n.on else ''}冲正{_TYPE_ZH.get(n.original_type, '')}"
                      f"记录{n.original_event_id}（{n.reason}），原记录保留、不计入计算"
                      if n.applied else f"冲正记录{n.event_id}未生效：{n.detail}")}
            for n in notes if n.kind == "reversal"],
        "corrections": [
            {"event_id": n.event_id, "original_event_id": n.original_event_id,
             "original_type": n.original_type, "corrected_on": n.on.isoformat() if n.on else None,
             "reason": n.reason, "applied": n.applied, "finding": None if n.applied else n.outcome,
             "changed": [{"field": f, "from": a, "to": b} for f, a, b in n.changed],
             "text": (f"{n.on.isoformat() if n.on else ''}调账：{_TYPE_ZH.get(n.original_type, '')}"
                      f"记录{n.original_event_id}" + "；".join(
                          f"{f}由{a}更正为{b}" for f, a, b in n.changed) + f"（{n.reason}）"
                      if n.applied else f"调账记录{n.event_id}未生效：{n.detail}")}
            for n in notes if n.kind == "correction"],
        "prepayments": [
            {"event_id": f.event_id, "kind": f.payload.kind,
             "value_date": f.payload.value_date.isoformat(), "amount": money(f.payload.amount),
             "principal": money(f.payload.principal), "interest": money(f.payload.interest),
             "fee": money(f.payload.fee), "clearing_ref": f.payload.clearing_ref,
             "rule": f.payload.rule or contract_rule or DEFAULT_PREPAYMENT_RULE,
             "counted": f.payload.value_date <= as_of,
             "text": (f"{f.payload.value_date.isoformat()}"
                      f"{'提前结清' if f.payload.kind == 'full' else '部分提前还款'}"
                      f"{money(f.payload.amount)}元（本金{money(f.payload.principal)}元、利息"
                      f"{money(f.payload.interest)}元、提前还款违约金{money(f.payload.fee)}元）"
                      + ("" if f.payload.kind == "full" else "，剩余本金按"
                         f"{_RULE_ZH[f.payload.rule or contract_rule or DEFAULT_PREPAYMENT_RULE]}"
                         "重新计算还款计划"))}
            for f in state.adjustments.prepayments],
        "extensions": [
            {"event_id": r.fact.event_id, "agreement_no": r.fact.payload.agreement_no,
             "effective_date": r.fact.payload.effective_date.isoformat(),
             "original_maturity": r.fact.payload.original_maturity.isoformat(),
             "new_maturity": r.fact.payload.new_maturity.isoformat(),
             "principal": money(r.fact.payload.principal), "annual_rate": rate_text(r.annual_rate),
             "repayment_method": r.repayment_method, "term_months": r.fact.payload.term_months,
             "exceeds_limit": r.exceeds_limit,
             "text": (f"依展期协议{r.fact.payload.agreement_no}，贷款到期日由"
                      f"{r.fact.payload.original_maturity.isoformat()}展期至"
                      f"{r.fact.payload.new_maturity.isoformat()}，自"
                      f"{r.fact.payload.effective_date.isoformat()}起本金"
                      f"{money(r.fact.payload.principal)}元按年利率{pct(r.annual_rate)}、"
                      f"{METHOD_ZH.get(r.repayment_method, r.repayment_method)}分"
                      f"{r.fact.payload.term_months}期重新计算还款计划"
                      + (f"（注意：{r.exceeds_limit}）" if r.exceeds_limit else ""))}
            for r in state.adjustments.extensions],
        "fees": [
            {"event_id": f.event_id, "fee_id": f.payload.fee_id, "kind": f.payload.kind,
             "amount": money(f.payload.amount), "charged_on": f.payload.charged_on.isoformat(),
             "description": f.payload.description, "clause_no": f.payload.clause_no}
            for f in state.adjustments.fees],
    }
    return out
