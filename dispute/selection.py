"""Evidence selection: which records of a loan go before which venue, in what order, and why.

`select_evidence(records, venue)` reads a loan's stored records (`StoredRecord`: leaf index,
leaf hash, the record's JSON content), rebuilds the loan with `lending_core.state`, and
returns an `EvidenceSelection`: numbered exhibits (证据1-1, 1-2, …) with title, source
(the producing system and its reference numbers, 在线诉讼规则 art. 18), purpose (证明对象,
民事诉讼证据规定 art. 19), leaf index and hash and cited documents, plus every `Gap`: a
piece of evidence the venue needs and the records do not give (a demand never shown
delivered, a contract naming another forum, a cited document no longer in the store).
Nothing missing is skipped silently.

Groups, numbered in this order with empty groups left out (so numbers stay contiguous):
`contract` (contract, restructuring, security), `disbursement` (借据 and payment out),
`performance` (repayments and missed installments), `notices` (demands and their delivery),
`acceleration`, `computation` (the interest table, or for a notary the net amount after
payments), `preservation` (the evidence-preservation statement) and, for a notary only,
`verification` (the agreed address and channels the notary uses to check performance with
the debtor, 核实, 公证程序规则 art. 55). The `computation` and `preservation` exhibits, and
`verification`, are derived: `computation` and `preservation` have no leaf (`leaf_index` is
None; the case file itself carries them); `verification` cites the contract's leaf again.
Use `EvidenceSelection.recorded` for the exhibits backed by a record (several may share a
leaf).

The loan is folded once (`dispute.records.FoldedLoan`) and read by `select_for`; the
groups' rules live in `dispute.exhibits_contract`, `dispute.exhibits_performance` and
`dispute.exhibits_notices`, the vocabulary in `dispute.evidence`.

Pure: no I/O, no clock. Hashes are bytes here; `Exhibit.leaf_hash_hex` gives the hex form.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from dispute.evidence import VENUES, EvidenceSelection, Exhibit, ExhibitList, Gap, Venue
from dispute.exhibits_contract import contract_exhibits, disbursement_exhibits
from dispute.exhibits_notices import acceleration_exhibits, notice_exhibits
from dispute.exhibits_performance import finding_exhibits, performance_exhibits
from dispute.records import FoldedLoan, SelectionError, StoredRecord, loan_state
from dispute.wording import CHANNEL_ZH, zh_date

__all__ = [
    "VENUES",
    "EvidenceSelection",
    "Exhibit",
    "Gap",
    "SelectionError",
    "StoredRecord",
    "Venue",
    "loan_state",
    "select_evidence",
    "select_for",
]


def select_evidence(
    records: Sequence[StoredRecord],
    venue: Venue,
    *,
    documents_available: Collection[str] | None = None,
) -> EvidenceSelection:
    """Choose, order and number the exhibits of a loan for `venue`, and report every gap.

    `documents_available`, when given, is the set of document SHA-256s (hex) the store still
    holds; a cited document not in it is a gap. Raises `SelectionError` if the records are
    not one loan or `venue` is unknown.
    """
    _check_venue(venue)
    return select_for(FoldedLoan.fold(records), venue, documents_available=documents_available)


def select_for(
    loan: FoldedLoan,
    venue: Venue,
    *,
    documents_available: Collection[str] | None = None,
) -> EvidenceSelection:
    """`select_evidence` for a loan already folded (the case composition folds it once)."""
    _check_venue(venue)
    b = ExhibitList(venue, loan, documents_available)
    contract_exhibits(b)
    disbursement_exhibits(b)
    performance_exhibits(b)
    notice_exhibits(b)
    acceleration_exhibits(b)
    _derived(b)
    _status(b)
    finding_exhibits(b)
    return b.finish()


def _check_venue(venue: str) -> None:
    if venue not in VENUES:
        raise SelectionError(f"expected venue one of {', '.join(VENUES)}, found {venue!r}")


def _derived(b: ExhibitList) -> None:
    venue = b.venue
    if venue == "notary":
        b.add("computation", None, "欠款金额核算表（扣除已还款项后的净额）",
              "证明扣除借款人已还款项后尚欠本金、利息、罚息及复利的数额及计算方法，"
              "供公证机构核定执行标的。")
    else:
        b.add("computation", None, "欠款本息计算表",
              "证明尚欠本金、期内利息、罚息、复利的数额及计算方法（计算基数、期间、利率、"
              "合同依据），并载明暂计日之后的每日续计数额。")
    b.add("preservation", None, "电子数据存证说明（区块链存证）",
          "证明上述电子数据自存证时起未被篡改：记录哈希、默克尔日志、检查点签名、链上锚定区块"
          "及时间、见证方联署；并说明其证明范围与局限。")
    c = b.state.contract
    if venue == "notary" and c is not None:
        sa = c.payload.service_address
        channels = "；".join(f"{CHANNEL_ZH.get(str(ch.channel), str(ch.channel))}：{ch.address}"
                            for ch in sa.channels)
        b.add("verification", c.event_id, f"债务人约定送达地址及核实方式（合同第{sa.clause_no}条）",
              f"供公证机构向债务人核实履约情况：约定送达地址{sa.address}；约定方式{channels}。")


def _status(b: ExhibitList) -> None:
    s = b.state
    if s.settlement is not None:
        day = s.settlement.payload.settled_on
        b.gap("settled", "required", f"the loan was settled on {day.isoformat()}: nothing to "
              "claim", f"贷款已于{zh_date(day)}结清，无可主张债权", s.settlement.event_id)
    if s.restructurings:
        r = s.restructurings[-1]
        b.gap("restructured", "advisory",
              f"the loan was restructured on {r.payload.effective_date.isoformat()} "
              f"({r.payload.agreement_no}): the claim rests on the restructured terms",
              f"贷款已于{zh_date(r.payload.effective_date)}重组（{r.payload.agreement_no}），"
              "应以重组协议约定计算", r.event_id)
