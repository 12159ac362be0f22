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

Pure: no I/O, no clock. Hashes are bytes here; `Exhibit.leaf_hash_hex` gives the hex form.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from dispute.errors import DisputeError
from lending_core.errors import LendingError
from lending_core.state import CHINA_TZ, LoanEvent, LoanState, NoticeRecord, rebuild

__all__ = [
    "GROUPS",
    "VENUES",
    "EvidenceSelection",
    "Exhibit",
    "ExhibitDocument",
    "Gap",
    "SelectionError",
    "StoredRecord",
    "Venue",
    "loan_state",
    "select_evidence",
]

Venue = Literal["court", "arbitration", "notary"]
VENUES: tuple[Venue, ...] = ("court", "arbitration", "notary")

GROUPS = (
    "contract",
    "disbursement",
    "performance",
    "notices",
    "acceleration",
    "computation",
    "preservation",
    "verification",
)
"""Exhibit groups in numbering order (`verification` only for a notary)."""

MAX_RECORDS = 10_000
"""Most records of one loan accepted: far above any loan's life, bounds the work."""

DEMAND_KINDS = frozenset({"demand", "acceleration", "guarantor_demand"})
"""Notice kinds that must be shown delivered; reminders and confirmations need not."""

_LEAF_PREFIX = b"\x00"  # RFC 9162 leaf domain separation


class SelectionError(DisputeError):
    """The records cannot be read as one loan (wrong shape, mixed loans, refused events)."""


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """A record as the log stores it: its leaf index, leaf hash and JSON content."""

    leaf_index: int
    leaf_hash: bytes
    content: Mapping[str, Any]

    @classmethod
    def from_bytes(cls, leaf_index: int, data: bytes) -> StoredRecord:
        """From the exact stored bytes: leaf hash = SHA-256(0x00 || bytes)."""
        try:
            content = json.loads(data)
        except ValueError as exc:
            raise SelectionError(f"record {leaf_index} is not JSON: {exc}") from None
        if not isinstance(content, dict):
            raise SelectionError(f"record {leaf_index}: expected a JSON object")
        return cls(leaf_index, hashlib.sha256(_LEAF_PREFIX + data).digest(), content)


@dataclass(frozen=True, slots=True)
class ExhibitDocument:
    """A document a record cites (`documents[]` of the record), by its SHA-256 (hex)."""

    role: str
    sha256: str
    media_type: str
    filename: str
    size: int


@dataclass(frozen=True, slots=True)
class Exhibit:
    """One numbered exhibit of the evidence list (证据目录)."""

    no: str  # "1-1"
    group: str  # one of GROUPS
    title: str  # 证据名称
    source: str  # 证据来源, for people: system and references
    purpose: str  # 证明对象
    leaf_index: int | None  # None for derived exhibits (computation, preservation)
    leaf_hash: bytes | None
    event_id: str | None = None
    event_type: str | None = None
    occurred_at: str | None = None
    received_at: str | None = None
    source_system: str = ""
    source_refs: tuple[tuple[str, str], ...] = ()
    producer_key_id: str | None = None  # key id of the producer signature, if signed
    documents: tuple[ExhibitDocument, ...] = ()

    @property
    def leaf_hash_hex(self) -> str | None:
        return self.leaf_hash.hex() if self.leaf_hash is not None else None


@dataclass(frozen=True, slots=True)
class Gap:
    """Evidence the venue needs that the records do not give.

    `severity` is `required` when the venue will likely refuse or lose on it (no delivery of
    a demand for a notary, a contract naming another forum) and `advisory` when the case is
    weaker without it. `message` is English for the legal team's tools, `message_zh` goes in
    the case file.
    """

    code: str
    severity: Literal["required", "advisory"]
    message: str
    message_zh: str
    exhibit_no: str | None = None
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class EvidenceSelection:
    venue: Venue
    exhibits: tuple[Exhibit, ...]
    gaps: tuple[Gap, ...]

    @property
    def recorded(self) -> tuple[Exhibit, ...]:
        """The exhibits backed by a logged record (what a package proves by inclusion)."""
        return tuple(e for e in self.exhibits if e.leaf_index is not None)

    def exhibit(self, no: str) -> Exhibit:
        return next(e for e in self.exhibits if e.no == no)


# --- reading the records ------------------------------------------------------------------


def _ordered(records: Sequence[StoredRecord]) -> list[StoredRecord]:
    if len(records) > MAX_RECORDS:
        raise SelectionError(f"expected at most {MAX_RECORDS} records, found {len(records)}")
    loans = {str(r.content.get("loan_id")) for r in records}
    if len(loans) > 1:
        raise SelectionError(f"expected the records of one loan, found loans {sorted(loans)}")
    indices = [r.leaf_index for r in records]
    if len(set(indices)) != len(indices):
        raise SelectionError("expected each leaf index once, found a repeated one")
    # The loan order (DESIGN.md, "Event time and arrival order"): occurred_at, then arrival.
    return sorted(records, key=lambda r: (_instant(r), r.leaf_index))


def _instant(record: StoredRecord) -> datetime:
    # Compared as instants, not text: "…00.5Z" sorts before "…00Z" as a string.
    text = record.content.get("occurred_at")
    try:
        moment = datetime.fromisoformat(str(text))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise SelectionError(f"record {record.leaf_index}: expected occurred_at as RFC 3339 "
                             f"with an offset, found {text!r}")
    return moment


def loan_state(records: Sequence[StoredRecord]) -> LoanState:
    """The loan rebuilt from its records; raises `SelectionError` if they do not fold."""
    if not records:
        raise SelectionError("expected the records of a loan, found none")
    try:
        return rebuild(LoanEvent.from_record(r.content, seq=r.leaf_index)
                       for r in _ordered(records))
    except LendingError as exc:
        raise SelectionError(f"the records do not make one loan: {exc}") from exc


def _source(content: Mapping[str, Any]) -> tuple[str, tuple[tuple[str, str], ...]]:
    """The producing system and every reference number of a record (top level and payload)."""
    refs: dict[str, str] = {}
    system = ""
    for block in (content.get("source"), (content.get("payload") or {}).get("source")):
        if not isinstance(block, Mapping):
            continue
        for key, value in block.items():
            if key in ("system", "name") and isinstance(value, str):
                system = system or value
            elif key == "refs" and isinstance(value, Mapping):
                refs.update({str(k): str(v) for k, v in value.items()})
            elif isinstance(value, str | int):
                refs[str(key)] = str(value)
    payload = content.get("payload") or {}
    for key in ("clearing_ref", "receipt_ref", "receipt_no", "contract_no", "notice_id"):
        if isinstance(payload.get(key), str):
            refs.setdefault(key, payload[key])
    return system, tuple(sorted(refs.items()))


def _source_text(system: str, refs: Iterable[tuple[str, str]]) -> str:
    text = "，".join(f"{k} {v}" for k, v in refs)
    return f"{system or '未注明系统'}（{text}）" if text else (system or "未注明系统")


def _documents(content: Mapping[str, Any]) -> tuple[ExhibitDocument, ...]:
    docs = content.get("documents") or []
    return tuple(
        ExhibitDocument(
            str(d.get("role", "")),
            str(d.get("sha256", "")),
            str(d.get("media_type", "")),
            str(d.get("filename", "")),
            int(d.get("size", 0)),
        )
        for d in docs
        if isinstance(d, Mapping)
    )


def _cst_date(moment: datetime) -> date:
    return moment.astimezone(CHINA_TZ).date()


def _zh_date(d: date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


def _pct(rate: Decimal) -> str:
    return f"{(rate * 100).normalize():f}%"


def _yuan(amount: Decimal) -> str:
    return f"{amount:,.2f}元"


_FORUM_ZH = {"court": "人民法院诉讼", "arbitration": "仲裁", "notary": "赋强公证"}
_FORUM_EN = {"court": "a court", "arbitration": "arbitration", "notary": "a notary (赋强公证)"}
_CHANNEL_ZH = {"sms": "短信", "email": "电子邮件", "ems": "EMS邮寄", "app": "手机银行App"}
_NOTICE_ZH = {
    "reminder": "还款提醒",
    "demand": "催收函",
    "acceleration": "提前到期通知",
    "guarantor_demand": "向保证人催收函",
    "restructuring": "重组通知",
    "settlement": "结清通知",
}
_SECURITY_ZH = {"guarantee": "保证合同", "mortgage": "抵押合同", "pledge": "质押合同"}
_PARTY_ZH = {"borrower": "借款人", "guarantor": "保证人", "mortgagor": "抵押人", "pledgor": "出质人"}


# --- selection ----------------------------------------------------------------------------


class _Builder:
    """Collects exhibits by group and gaps while the venue's rules are applied."""

    def __init__(
        self,
        venue: Venue,
        state: LoanState,
        by_event: Mapping[str, StoredRecord],
        available: Collection[str] | None,
    ) -> None:
        self.venue = venue
        self.state = state
        self.by_event = by_event
        self.available = available
        self.groups: dict[str, list[dict[str, Any]]] = {g: [] for g in GROUPS}
        self.gaps: list[Gap] = []

    def gap(self, code: str, severity: Literal["required", "advisory"], en: str, zh: str,
            event_id: str | None = None) -> None:
        self.gaps.append(Gap(code, severity, en, zh, None, event_id))

    def add(self, group: str, event_id: str | None, title: str, purpose: str) -> None:
        entry: dict[str, Any] = {"group": group, "title": title, "purpose": purpose,
                                 "source": "本案据存证记录生成", "leaf_index": None,
                                 "leaf_hash": None}
        if event_id is not None:
            record = self.by_event[event_id]
            content = record.content
            system, refs = _source(content)
            sig = content.get("producer_signature")
            entry.update(
                leaf_index=record.leaf_index,
                leaf_hash=record.leaf_hash,
                event_id=event_id,
                event_type=str(content.get("type")),
                occurred_at=str(content.get("occurred_at")),
                received_at=content.get("received_at"),
                source_system=system,
                source_refs=refs,
                source=_source_text(system, refs),
                producer_key_id=sig.get("key_id") if isinstance(sig, Mapping) else None,
                documents=_documents(content),
            )
            self._check_documents(event_id, entry["documents"])
        self.groups[group].append(entry)

    def _check_documents(self, event_id: str, docs: tuple[ExhibitDocument, ...]) -> None:
        if self.available is None:
            return
        for d in docs:
            if d.sha256 not in self.available:
                self.gap(
                    "document_missing", "required",
                    f"document {d.filename} ({d.role}, sha256 {d.sha256}) cited by event "
                    f"{event_id} is not in the document store (erased or never uploaded)",
                    f"事件{event_id}引用的文件{d.filename}（SHA-256 {d.sha256}）不在文件库中"
                    "（已删除或未上传），无法提交原件",
                    event_id,
                )

    def finish(self) -> EvidenceSelection:
        exhibits: list[Exhibit] = []
        numbers: dict[str, str] = {}
        major = 0
        for group in GROUPS:
            entries = self.groups[group]
            if not entries:
                continue
            major += 1
            for minor, entry in enumerate(entries, start=1):
                no = f"{major}-{minor}"
                exhibit = Exhibit(no=no, **entry)
                exhibits.append(exhibit)
                if exhibit.event_id is not None:
                    numbers.setdefault(exhibit.event_id, no)
        gaps = tuple(
            Gap(g.code, g.severity, g.message, g.message_zh,
                numbers.get(g.event_id) if g.event_id else None, g.event_id)
            for g in self.gaps
        )
        return EvidenceSelection(self.venue, tuple(exhibits), gaps)


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
    if venue not in VENUES:
        raise SelectionError(f"expected venue one of {', '.join(VENUES)}, found {venue!r}")
    state = loan_state(records)
    by_event = {str(r.content["event_id"]): r for r in records}
    b = _Builder(venue, state, by_event, documents_available)
    _contract(b)
    _disbursements(b)
    _performance(b)
    _notices(b)
    _acceleration(b)
    _derived(b)
    _status(b)
    _findings(b)
    return b.finish()


def _contract(b: _Builder) -> None:
    s, venue = b.state, b.venue
    c = s.contract
    if c is None:
        b.gap("no_contract", "required", "no contract_signed record: the loan contract is not "
              "in evidence", "缺少借款合同存证记录")
        return
    p = c.payload
    dr = p.dispute_resolution
    signed = _zh_date(_cst_date(p.e_signature.signed_at))
    purpose = (
        f"证明{p.party('lender').name}与{p.party('borrower').name}于{signed}以电子签名方式"
        f"（证书序列号{p.e_signature.certificate_serial}）订立借款合同，约定借款"
        f"{_yuan(p.amount)}、期限{p.term_months}个月、年利率{_pct(p.annual_rate)}、"
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
        purpose += f"；合同第{dr.clause_no}条约定争议由{dr.institution}以{_FORUM_ZH[dr.venue]}方式解决"
    b.add("contract", c.event_id, title, purpose + "。")
    if not _documents(b.by_event[c.event_id].content):
        b.gap("contract_document", "required" if venue == "notary" else "advisory",
              f"the contract record (event {c.event_id}) cites no document: the signed "
              "contract itself is not committed",
              "借款合同存证记录未引用合同文件，合同原文未固定", c.event_id)
    if dr.venue != venue:
        b.gap("venue_mismatch", "required",
              f"the contract names {dr.venue} ({dr.institution}, clause {dr.clause_no}), "
              f"not {_FORUM_EN[venue]}",
              f"合同第{dr.clause_no}条约定的争议解决方式为{_FORUM_ZH[dr.venue]}（{dr.institution}），"
              f"而非{_FORUM_ZH[venue]}", c.event_id)
    for r in s.restructurings:
        q = r.payload
        b.add("contract", r.event_id, f"重组协议（编号{q.agreement_no}）",
              f"证明双方于{_zh_date(q.effective_date)}就剩余本金{_yuan(q.principal)}重新约定"
              f"期限{q.term_months}个月、年利率{_pct(q.annual_rate)}。")
    for rf in sorted(s.repricings, key=lambda x: x.payload.effective_date):  # floating rate
        rp = rf.payload
        tenor = "1年期" if rp.tenor == "1y" else "5年期以上"
        b.add("contract", rf.event_id, f"利率重定价记录（{_zh_date(rp.effective_date)}）",
              f"证明依合同第{rp.clause_no}条，自{_zh_date(rp.effective_date)}起执行年利率"
              f"{_pct(rp.new_rate)}（{tenor}LPR {_pct(rp.lpr)}（{_zh_date(rp.lpr_date)}）"
              f"{'+' if rp.spread_bp >= 0 else '-'}{abs(rp.spread_bp)}个基点）。")
    for x in s.adjustments.extensions:  # 展期
        e = x.fact.payload
        b.add("contract", x.fact.event_id, f"展期协议（编号{e.agreement_no}）",
              f"证明双方约定将贷款到期日由{_zh_date(e.original_maturity)}展期至"
              f"{_zh_date(e.new_maturity)}，自{_zh_date(e.effective_date)}起本金{_yuan(e.principal)}"
              f"按年利率{_pct(x.annual_rate)}分{e.term_months}期偿还。")
    for f in s.securities:
        sec = f.payload
        kind = _SECURITY_ZH[sec.kind]
        what = {
            "guarantee": "提供" + ("连带责任保证" if sec.liability == "joint_and_several"
                                 else "一般保证"),
            "mortgage": "以其财产提供抵押担保",
            "pledge": "以其财产提供质押担保",
        }[sec.kind]
        b.add("contract", f.event_id, f"{kind}（编号{sec.contract_no}）",
              f"证明{sec.provider.name}为本笔借款{what}，担保金额{_yuan(sec.secured_amount)}"
              + (f"，担保物：{sec.collateral.description}" if sec.collateral else "") + "。")


def _disbursements(b: _Builder) -> None:
    s = b.state
    if not s.disbursements:
        b.gap("no_disbursement", "required", "no disbursement record: payment of the loan is "
              "not in evidence", "缺少放款存证记录，无法证明已实际发放贷款")
    for f in s.disbursements:
        d = f.payload
        b.add("disbursement", f.event_id, f"借据及放款凭证（借据号{d.receipt_no}）",
              f"证明贷款人已于{_zh_date(d.value_date)}向借款人账户{d.account}发放贷款"
              f"{_yuan(d.amount)}（清算流水号{d.clearing_ref}），履行了放款义务。")
        if not any(doc.role == "loan_receipt" for doc in _documents(b.by_event[f.event_id].content)):
            b.gap("receipt_document", "advisory",
                  f"the disbursement of {d.value_date.isoformat()} (event {f.event_id}) cites no "
                  "loan_receipt document (借据)",
                  f"{_zh_date(d.value_date)}放款记录未引用借据文件", f.event_id)


def _performance(b: _Builder) -> None:
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
                        f"还款记录（{r.value_date.isoformat()}，{_yuan(r.amount)}）",
                        (f"证明{who}于{_zh_date(r.value_date)}还款{_yuan(r.amount)}{parts}，"
                        "已在欠款计算中全额扣除。")))
    for m in s.missed:
        p = m.fact.payload
        entries.append((p.due_date, b.by_event[m.fact.event_id].leaf_index, m.fact.event_id,
                        f"逾期记录（第{p.installment_no}期，应还日{p.due_date.isoformat()}）",
                        (f"证明借款人未按约于{_zh_date(p.due_date)}足额偿还第{p.installment_no}期"
                        f"应还款{_yuan(p.amount_due)}，构成违约。")))
    entries += _adjusting_entries(b)
    for _, _, event_id, title, purpose in sorted(entries):
        b.add("performance", event_id, title, purpose)
    if not s.missed and s.acceleration is None:
        b.gap("no_default", "required", "no missed installment and no acceleration recorded: "
              "the records show no default", "存证记录中无逾期或提前到期事实，无法证明违约")


_ADJUSTED_ZH = {"repayment_received": "还款", "disbursement": "放款", "fee_charged": "费用",
                "prepayment": "提前还款"}


def _adjusting_entries(b: _Builder) -> list[tuple[date, int, str, str, str]]:
    """Prepayments, fees, and every reversal and correction with the record it names: a
    reversed record stays in evidence, marked as such, so the figures surprise nobody."""
    s = b.state
    out: list[tuple[date, int, str, str, str]] = []
    for f in s.adjustments.prepayments:
        p = f.payload
        out.append((p.value_date, b.by_event[f.event_id].leaf_index, f.event_id,
                    f"提前还款记录（{p.value_date.isoformat()}，{_yuan(p.amount)}）",
                    (f"证明借款人于{_zh_date(p.value_date)}提前归还本金{_yuan(p.principal)}、"
                    f"利息{_yuan(p.interest)}、提前还款违约金{_yuan(p.fee)}，已在欠款计算中扣除，"
                    "剩余本金据此重新计算还款计划。")))
    for fee in s.adjustments.fees:
        q = fee.payload
        out.append((q.charged_on, b.by_event[fee.event_id].leaf_index, fee.event_id,
                    f"费用记录（{q.charged_on.isoformat()}，{q.description}）",
                    f"证明依合同第{q.clause_no}条收取{q.description}{_yuan(q.amount)}。"))
    for n in s.corrections:
        if not hasattr(n, "original_event_id") or n.event_id not in b.by_event:
            continue
        day = n.on or _cst_date(n.occurred_at)
        what = _ADJUSTED_ZH.get(n.original_type, n.original_type)
        verb = "冲正" if n.kind == "reversal" else "调账"
        if not n.applied:
            out.append((day, b.by_event[n.event_id].leaf_index, n.event_id,
                        f"{verb}记录（{day.isoformat()}，未生效）",
                        f"{verb}记录所指原记录{n.original_event_id}：{n.detail}；未计入计算。"))
            continue
        out.append((day, b.by_event[n.event_id].leaf_index, n.event_id,
                    f"{verb}记录（{day.isoformat()}，{what}记录{n.original_event_id}）",
                    f"证明{_zh_date(day)}对{what}记录{n.original_event_id}{verb}（{n.reason}）"
                    + ("，原记录保留、不计入欠款计算。" if n.kind == "reversal" else
                       "，欠款计算以更正后的记录为准。")))
        original = b.by_event.get(n.original_event_id)
        if n.kind == "reversal" and original is not None:
            out.append((day, original.leaf_index, n.original_event_id,
                        f"{what}记录（已冲正，{n.original_event_id}）",
                        f"原{what}记录，已被{n.event_id}冲正，仅为说明未计入计算。"))
    return out


def _notices(b: _Builder) -> None:
    s, venue = b.state, b.venue
    c = s.contract.payload if s.contract else None
    agreed_clause = c.service_address.clause_no if c else "?"
    delivered_demand = False
    for n in s.notices:
        p = n.sent.payload
        if p.kind in ("restructuring", "settlement"):
            continue
        sent_day = _cst_date(p.sent_at)
        label = _NOTICE_ZH[p.kind]
        who = _PARTY_ZH.get(p.recipient_role, p.recipient_role)
        channel = _CHANNEL_ZH.get(str(p.channel), str(p.channel))
        agreed = (f"通过合同第{agreed_clause}条约定的送达方式" if n.via_agreed_channel
                  else "")
        demanded = f"，催收金额{_yuan(p.amount_demanded)}" if p.amount_demanded else ""
        b.add("notices", n.sent.event_id,
              f"{label}（编号{p.notice_id}，{channel}，{sent_day.isoformat()}发出）",
              f"证明贷款人于{_zh_date(sent_day)}{agreed}以{channel}向{who}（{p.address}）"
              f"发出{label}{demanded}。")
        _notice_delivery(b, n, label, sent_day)
        if p.kind in DEMAND_KINDS and n.delivered is not None and n.via_agreed_channel:
            delivered_demand = True
        if n.via_agreed_channel is False:
            b.gap("channel_not_agreed", "required" if venue == "notary" else "advisory",
                  f"the {p.kind} {p.notice_id} of {sent_day.isoformat()} went by {p.channel} to "
                  f"{p.address}, not a channel and address agreed in clause {agreed_clause}",
                  f"{_zh_date(sent_day)}的{label}（{p.notice_id}）未通过合同第{agreed_clause}条"
                  "约定的送达方式及地址发出", n.sent.event_id)
    if (s.missed or s.acceleration) and not delivered_demand:
        b.gap("no_delivered_demand", "required" if venue == "notary" else "advisory",
              "no demand to the borrower shown delivered through an agreed channel",
              "无通过约定送达方式向借款人送达催收通知的记录")


def _notice_delivery(b: _Builder, n: NoticeRecord, label: str, sent_day: date) -> None:
    p = n.sent.payload
    if n.delivered is None:
        if p.kind in DEMAND_KINDS:
            b.gap("no_delivery_receipt", "required" if b.venue == "notary" else "advisory",
                  f"no delivery receipt for the {p.kind} of {sent_day.isoformat()} "
                  f"({p.notice_id}, by {p.channel})",
                  f"{_zh_date(sent_day)}发出的{label}（{p.notice_id}）无送达回执",
                  n.sent.event_id)
        return
    d = n.delivered.payload
    day = _cst_date(d.delivered_at)
    b.add("notices", n.delivered.event_id, f"送达回执（{p.notice_id}，回执号{d.receipt_ref}）",
          f"证明上述{label}已于{_zh_date(day)}送达（回执号{d.receipt_ref}）。")


def _acceleration(b: _Builder) -> None:
    a = b.state.acceleration
    if a is None:
        return
    p = a.payload
    b.add("acceleration", a.event_id, f"宣布贷款提前到期（{p.accelerated_on.isoformat()}）",
          f"证明贷款人依合同第{p.clause_no}条于{_zh_date(p.accelerated_on)}宣布贷款提前到期"
          f"（{p.reason}），宣布到期金额{_yuan(p.amount_declared_due)}。")
    notice = b.state.notice(p.notice_id) if p.notice_id else None
    if p.notice_id is None or notice is None:
        b.gap("acceleration_not_notified", "advisory",
              f"the acceleration of {p.accelerated_on.isoformat()} names no notice sent to the "
              "borrower", f"{_zh_date(p.accelerated_on)}宣布提前到期未关联已发出的通知",
              a.event_id)


def _derived(b: _Builder) -> None:
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
        channels = "；".join(f"{_CHANNEL_ZH.get(str(ch.channel), str(ch.channel))}：{ch.address}"
                            for ch in sa.channels)
        b.add("verification", c.event_id, f"债务人约定送达地址及核实方式（合同第{sa.clause_no}条）",
              f"供公证机构向债务人核实履约情况：约定送达地址{sa.address}；约定方式{channels}。")


def _status(b: _Builder) -> None:
    s = b.state
    if s.settlement is not None:
        day = s.settlement.payload.settled_on
        b.gap("settled", "required", f"the loan was settled on {day.isoformat()}: nothing to "
              "claim", f"贷款已于{_zh_date(day)}结清，无可主张债权", s.settlement.event_id)
    if s.restructurings:
        r = s.restructurings[-1]
        b.gap("restructured", "advisory",
              f"the loan was restructured on {r.payload.effective_date.isoformat()} "
              f"({r.payload.agreement_no}): the claim rests on the restructured terms",
              f"贷款已于{_zh_date(r.payload.effective_date)}重组（{r.payload.agreement_no}），"
              "应以重组协议约定计算", r.event_id)


_EVENT_ZH = {
    "credit_decision": "授信审批", "contract_signed": "合同签订", "security": "担保",
    "disbursement": "放款", "repayment_received": "还款", "repayment_missed": "逾期",
    "notice_sent": "通知发出", "notice_delivered": "通知送达", "acceleration": "宣布提前到期",
    "restructuring": "重组", "write_off": "核销", "settlement": "结清",
    "monitoring_flag": "贷后监控", "reversal": "冲正", "correction": "调账",
    "prepayment": "提前还款", "extension": "展期", "fee_charged": "费用", "repricing": "利率重定价",
}


def _findings(b: _Builder) -> None:
    """Events the log holds but the fold left out (DESIGN.md, "Event time and arrival
    order"): each is an exhibit, so the tribunal sees it, and an advisory gap says why."""
    for f in b.state.findings:
        if f.derived or f.event_id not in b.by_event:
            continue  # the service's own inferences are superseded, not evidence
        kind = _EVENT_ZH.get(f.event_type, f.event_type)
        day = _zh_date(_cst_date(f.occurred_at))
        b.add("performance", f.event_id, f"已存证但未计入的{kind}记录（{day}）",
              f"如实提交：该记录已存证，但与本笔贷款的其他记录不一致（{f.code}），"
              "未计入本案计算。")
        b.gap(f"finding:{f.code}", "advisory",
              f"event {f.event_id} ({f.event_type}) is recorded but inconsistent with the "
              f"loan's other records and left out of the computation: {f.reason}",
              f"{day}的{kind}记录（事件{f.event_id}）已存证，但与其他记录不一致（{f.code}），"
              "未计入计算，请核实后说明", f.event_id)
