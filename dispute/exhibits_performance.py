"""The performance group of the evidence list: how the borrower paid, or did not.

Repayments, missed installments, prepayments, fees and every reversal and correction with
the record it names, in the order of their value dates (then arrival); a reversed record
stays in evidence, marked as such. `finding_exhibits` adds the events the log holds but
the fold left out, each with an advisory gap saying why. Gap: no default recorded.
"""

from __future__ import annotations

from datetime import date

from dispute.evidence import ExhibitList
from dispute.wording import ADJUSTED_ZH, EVENT_ZH, cst_date, yuan, zh_date

__all__ = ["finding_exhibits", "performance_exhibits"]


def performance_exhibits(b: ExhibitList) -> None:
    s = b.state
    entries: list[tuple[date, int, str, str, str]] = []
    for f in s.repayments:
        r = f.payload
        who = {"borrower": "借款人", "guarantor": "保证人", "other": "第三人"}[r.payer]
        parts = ""
        if r.allocation is not None:
            a = r.allocation
            parts = (f"（入账：费用{a.costs}元、罚息复利{a.penalty}元、利息{a.interest}元、"
                     f"本金{a.principal}元）")
        entries.append((r.value_date, b.by_event[f.event_id].leaf_index, f.event_id,
                        f"还款记录（{r.value_date.isoformat()}，{yuan(r.amount)}）",
                        (f"证明{who}于{zh_date(r.value_date)}还款{yuan(r.amount)}{parts}，"
                        "已在欠款计算中全额扣除。")))
    for m in s.missed:
        p = m.fact.payload
        entries.append((p.due_date, b.by_event[m.fact.event_id].leaf_index, m.fact.event_id,
                        f"逾期记录（第{p.installment_no}期，应还日{p.due_date.isoformat()}）",
                        (f"证明借款人未按约于{zh_date(p.due_date)}足额偿还第{p.installment_no}期"
                        f"应还款{yuan(p.amount_due)}，构成违约。")))
    entries += _adjusting_entries(b)
    for _, _, event_id, title, purpose in sorted(entries):
        b.add("performance", event_id, title, purpose)
    if not s.missed and s.acceleration is None:
        b.gap("no_default", "required", "no missed installment and no acceleration recorded: "
              "the records show no default", "存证记录中无逾期或提前到期事实，无法证明违约")


def _adjusting_entries(b: ExhibitList) -> list[tuple[date, int, str, str, str]]:
    """Prepayments, fees, and every reversal and correction with the record it names: a
    reversed record stays in evidence, marked as such, so the figures surprise nobody."""
    s = b.state
    out: list[tuple[date, int, str, str, str]] = []
    for f in s.adjustments.prepayments:
        p = f.payload
        out.append((p.value_date, b.by_event[f.event_id].leaf_index, f.event_id,
                    f"提前还款记录（{p.value_date.isoformat()}，{yuan(p.amount)}）",
                    (f"证明借款人于{zh_date(p.value_date)}提前归还本金{yuan(p.principal)}、"
                    f"利息{yuan(p.interest)}、提前还款违约金{yuan(p.fee)}，已在欠款计算中扣除，"
                    "剩余本金据此重新计算还款计划。")))
    for fee in s.adjustments.fees:
        q = fee.payload
        out.append((q.charged_on, b.by_event[fee.event_id].leaf_index, fee.event_id,
                    f"费用记录（{q.charged_on.isoformat()}，{q.description}）",
                    f"证明依合同第{q.clause_no}条收取{q.description}{yuan(q.amount)}。"))
    for n in s.corrections:
        if not hasattr(n, "original_event_id") or n.event_id not in b.by_event:
            continue
        day = n.on or cst_date(n.occurred_at)
        what = ADJUSTED_ZH.get(n.original_type, n.original_type)
        verb = "冲正" if n.kind == "reversal" else "调账"
        if not n.applied:
            out.append((day, b.by_event[n.event_id].leaf_index, n.event_id,
                        f"{verb}记录（{day.isoformat()}，未生效）",
                        f"{verb}记录所指原记录{n.original_event_id}：{n.detail}；未计入计算。"))
            continue
        out.append((day, b.by_event[n.event_id].leaf_index, n.event_id,
                    f"{verb}记录（{day.isoformat()}，{what}记录{n.original_event_id}）",
                    f"证明{zh_date(day)}对{what}记录{n.original_event_id}{verb}（{n.reason}）"
                    + ("，原记录保留、不计入欠款计算。" if n.kind == "reversal" else
                       "，欠款计算以更正后的记录为准。")))
        original = b.by_event.get(n.original_event_id)
        if n.kind == "reversal" and original is not None:
            out.append((day, original.leaf_index, n.original_event_id,
                        f"{what}记录（已冲正，{n.original_event_id}）",
                        f"原{what}记录，已被{n.event_id}冲正，仅为说明未计入计算。"))
    return out


def finding_exhibits(b: ExhibitList) -> None:
    """Events the log holds but the fold left out (DESIGN.md, "Event time and arrival
    order"): each is an exhibit, so the tribunal sees it, and an advisory gap says why."""
    for f in b.state.findings:
        if f.derived or f.event_id not in b.by_event:
            continue  # the service's own inferences are superseded, not evidence
        kind = EVENT_ZH.get(f.event_type, f.event_type)
        day = zh_date(cst_date(f.occurred_at))
        b.add("performance", f.event_id, f"已存证但未计入的{kind}记录（{day}）",
              f"如实提交：该记录已存证，但与本笔贷款的其他记录不一致（{f.code}），"
              "未计入本案计算。")
        b.gap(f"finding:{f.code}", "advisory",
              f"event {f.event_id} ({f.event_type}) is recorded but inconsistent with the "
              f"loan's other records and left out of the computation: {f.reason}",
              f"{day}的{kind}记录（事件{f.event_id}）已存证，但与其他记录不一致（{f.code}），"
              "未计入计算，请核实后说明", f.event_id)
