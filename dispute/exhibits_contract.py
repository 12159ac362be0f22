"""The contract and disbursement groups of the evidence list: what was agreed, and paid out.

`contract_exhibits` lists the loan contract (with the arbitration or 赋强公证 clause when
the venue is the one the contract names), then each restructuring, repricing (floating
rate), extension (展期) and security; `disbursement_exhibits` each 借据 and payment out.
Gaps: no contract, a contract record citing no signed document, a contract naming
another forum, no disbursement, a disbursement citing no 借据.
"""

from __future__ import annotations

from dispute.evidence import ExhibitList
from dispute.wording import (
    FORUM_EN,
    FORUM_ZH,
    SECURITY_CONTRACT_ZH,
    cst_date,
    pct,
    yuan,
    zh_date,
)

__all__ = ["contract_exhibits", "disbursement_exhibits"]


def contract_exhibits(b: ExhibitList) -> None:
    s, venue = b.state, b.venue
    c = s.contract
    if c is None:
        b.gap("no_contract", "required", "no contract_signed record: the loan contract is not "
              "in evidence", "缺少借款合同存证记录")
        return
    p = c.payload
    dr = p.dispute_resolution
    signed = zh_date(cst_date(p.e_signature.signed_at))
    purpose = (
        f"证明{p.party('lender').name}与{p.party('borrower').name}于{signed}以电子签名方式"
        f"（证书序列号{p.e_signature.certificate_serial}）订立借款合同，约定借款"
        f"{yuan(p.amount)}、期限{p.term_months}个月、年利率{pct(p.annual_rate)}、"
        f"逾期罚息（第{p.penalty.clause_no}条）"
        + (f"及复利（第{p.compound_interest.clause_no}条）" if p.compound_interest.allowed else "")
        + f"，并约定送达地址（第{p.service_address.clause_no}条）"
    )
    title = f"借款合同（编号{p.contract_no}）"
    if venue == dr.venue == "arbitration":
        title += f"及仲裁条款（第{dr.clause_no}条）"
        purpose += f"；合同第{dr.clause_no}条约定争议提交{dr.institution}仲裁，仲裁委员会有管辖权"
    elif venue == dr.venue == "notary":
        title += f"及赋强公证条款（第{dr.clause_no}条）"
        purpose += (f"；合同第{dr.clause_no}条约定债务人不履行或不完全履行时，债权人可向"
                    f"{dr.institution}申请出具执行证书，债务人自愿接受强制执行")
    else:
        purpose += (f"；合同第{dr.clause_no}条约定争议由{dr.institution}以{FORUM_ZH[dr.venue]}"
                    "方式解决")
    b.add("contract", c.event_id, title, purpose + "。")
    if not b.by_event[c.event_id].documents:
        b.gap("contract_document", "required" if venue == "notary" else "advisory",
              f"the contract record (event {c.event_id}) cites no document: the signed "
              "contract itself is not committed",
              "借款合同存证记录未引用合同文件，合同原文未固定", c.event_id)
    if dr.venue != venue:
        b.gap("venue_mismatch", "required",
              f"the contract names {dr.venue} ({dr.institution}, clause {dr.clause_no}), "
              f"not {FORUM_EN[venue]}",
              f"合同第{dr.clause_no}条约定的争议解决方式为{FORUM_ZH[dr.venue]}（{dr.institution}），"
              f"而非{FORUM_ZH[venue]}", c.event_id)
    for r in s.restructurings:
        q = r.payload
        b.add("contract", r.event_id, f"重组协议（编号{q.agreement_no}）",
              f"证明双方于{zh_date(q.effective_date)}就剩余本金{yuan(q.principal)}重新约定"
              f"期限{q.term_months}个月、年利率{pct(q.annual_rate)}。")
    for rf in sorted(s.repricings, key=lambda x: x.payload.effective_date):  # floating rate
        rp = rf.payload
        tenor = "1年期" if rp.tenor == "1y" else "5年期以上"
        b.add("contract", rf.event_id, f"利率重定价记录（{zh_date(rp.effective_date)}）",
              f"证明依合同第{rp.clause_no}条，自{zh_date(rp.effective_date)}起执行年利率"
              f"{pct(rp.new_rate)}（{tenor}LPR {pct(rp.lpr)}（{zh_date(rp.lpr_date)}）"
              f"{'+' if rp.spread_bp >= 0 else '-'}{abs(rp.spread_bp)}个基点）。")
    for x in s.adjustments.extensions:  # 展期
        e = x.fact.payload
        b.add("contract", x.fact.event_id, f"展期协议（编号{e.agreement_no}）",
              f"证明双方约定将贷款到期日由{zh_date(e.original_maturity)}展期至"
              f"{zh_date(e.new_maturity)}，自{zh_date(e.effective_date)}起本金{yuan(e.principal)}"
              f"按年利率{pct(x.annual_rate)}分{e.term_months}期偿还。")
    for f in s.securities:
        sec = f.payload
        kind = SECURITY_CONTRACT_ZH[sec.kind]
        what = {
            "guarantee": "提供" + ("连带责任保证" if sec.liability == "joint_and_several"
                                 else "一般保证"),
            "mortgage": "以其财产提供抵押担保",
            "pledge": "以其财产提供质押担保",
        }[sec.kind]
        b.add("contract", f.event_id, f"{kind}（编号{sec.contract_no}）",
              f"证明{sec.provider.name}为本笔借款{what}，担保金额{yuan(sec.secured_amount)}"
              + (f"，担保物：{sec.collateral.description}" if sec.collateral else "") + "。")


def disbursement_exhibits(b: ExhibitList) -> None:
    s = b.state
    if not s.disbursements:
        b.gap("no_disbursement", "required", "no disbursement record: payment of the loan is "
              "not in evidence", "缺少放款存证记录，无法证明已实际发放贷款")
    for f in s.disbursements:
        d = f.payload
        b.add("disbursement", f.event_id, f"借据及放款凭证（借据号{d.receipt_no}）",
              f"证明贷款人已于{zh_date(d.value_date)}向借款人账户{d.account}发放贷款"
              f"{yuan(d.amount)}（清算流水号{d.clearing_ref}），履行了放款义务。")
        if not any(doc.role == "loan_receipt" for doc in b.by_event[f.event_id].documents):
            b.gap("receipt_document", "advisory",
                  f"the disbursement of {d.value_date.isoformat()} (event {f.event_id}) cites no "
                  "loan_receipt document (借据)",
                  f"{zh_date(d.value_date)}放款记录未引用借据文件", f.event_id)
