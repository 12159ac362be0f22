"""Loan documents as HTML: the loan contract (借款合同) and the loan receipt (借据), in Chinese.

Pure: `contract(...)` and `loan_receipt(...)` turn a posted payload into a `LoanDocument`
(title, date, the whole HTML page, and the texts a renderer must have glyphs for) and read
no font, file or clock. Rendering one to PDF (the CJK font, WeasyPrint, byte-stable output)
is `dispute.pdf.DocumentRenderer`'s job; `STYLESHEET` is the page's look, the renderer
adds the font face of the family `FONT_FAMILY` in front of it.

The page's dates (`dcterms.created`, `dcterms.modified`) are the document's own date, so the
same payload always gives the same page.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from lending_core.money import display_money

__all__ = ["FONT_FAMILY", "STYLESHEET", "LoanDocument", "contract", "loan_receipt"]

FONT_FAMILY = "CunzhengCJK"
"""The CSS family every text of a loan document is set in; the renderer says which file."""

STYLESHEET = """\
@page { size: A4; margin: 22mm 20mm; @bottom-center { content: "第 " counter(page) " 页";
  font-family: CunzhengCJK; font-size: 9pt; } }
body { font-family: CunzhengCJK; font-size: 10.5pt; line-height: 1.7; }
h1 { text-align: center; font-size: 18pt; letter-spacing: 4pt; margin-bottom: 4mm; }
p.no { text-align: right; font-size: 9pt; }
table { border-collapse: collapse; width: 100%; margin: 3mm 0; }
td, th { border: 0.6pt solid #333; padding: 1.5mm 2mm; font-size: 10pt; }
th { background: #eee; font-weight: normal; width: 30%; text-align: left; }
h2 { font-size: 12pt; margin: 4mm 0 1mm; }
"""

_GENERATOR = "cunzheng lending_core.documents"
"""The page's `generator` (the PDF's /Creator); unchanged since the first documents, whose
hashes the ledger holds."""


@dataclass(frozen=True, slots=True)
class LoanDocument:
    """One document ready to render: `html` is the whole page, `texts` what it prints."""

    title: str
    created: datetime
    html: str
    texts: tuple[str, ...]


def _e(value: Any) -> str:
    return html.escape(str(value))


def _page(title: str, created: datetime, body: str, texts: list[str]) -> LoanDocument:
    stamp = created.strftime("%Y-%m-%dT%H:%M:%S%z")
    page = (f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
            f"<title>{_e(title)}</title>"
            f'<meta name="dcterms.created" content="{stamp}">'
            f'<meta name="dcterms.modified" content="{stamp}">'
            f'<meta name="generator" content="{_GENERATOR}">'
            f"</head><body>{body}</body></html>")
    return LoanDocument(title, created, page, (title, *texts))


def _rows(rows: list[tuple[str, Any]]) -> str:
    return "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)


def contract(c: Mapping[str, Any], *, loan_id: str) -> LoanDocument:
    """借款合同 for a `contract_signed` payload (as posted)."""
    lender = next(p for p in c["parties"] if p["role"] == "lender")
    borrower = next(p for p in c["parties"] if p["role"] == "borrower")
    method = {"equal_installment": "等额本息", "equal_principal": "等额本金",
              "interest_only": "按月付息、到期还本"}[c["repayment_method"]]
    signed = datetime.fromisoformat(c["e_signature"]["signed_at"])
    rate = Decimal(c["annual_rate"]) * 100
    rows = [("合同编号", c["contract_no"]), ("贷款编号", loan_id),
            ("贷款人（甲方）", f"{lender['name']}（统一社会信用代码 {lender['credit_code']}）"),
            ("借款人（乙方）",
             f"{borrower['name']}（统一社会信用代码 {borrower['credit_code']}）"),
            ("产品", c["product_code"]), ("借款金额", f"人民币 {display_money(c['amount'])} 元"),
            ("借款期限", f"{c['term_months']} 个月"), ("年利率", f"{rate.normalize():f}%"),
            ("还款方式", method), ("每月还款日", f"每月 {c.get('due_day') or '-'} 日"),
            ("首期还款日", c.get("first_due_date") or "-")]
    clauses = _clauses(c, signed)
    body = (f"<h1>流动资金借款合同</h1><p class='no'>合同编号：{_e(c['contract_no'])}</p>"
            + "<table>" + _rows(rows) + "</table>"
            + "".join(f"<h2>{_e(h)}</h2><p>{_e(t)}</p>" for h, t in clauses))
    texts = [str(v) for _, v in rows] + [h + t for h, t in clauses]
    return _page(f"借款合同 {c['contract_no']}", signed, body, texts)


def _clauses(c: Mapping[str, Any], signed: datetime) -> list[tuple[str, str]]:
    """The contract's clauses after its table: heading and text."""
    dr = c["dispute_resolution"]
    venue = {"notary": "向{}申请办理具有强制执行效力的债权文书公证",
             "arbitration": "提交{}在线仲裁", "court": "向{}提起诉讼"}[dr["venue"]].format(
                 dr["institution"])
    channels = "；".join(f"{ch['channel']}：{ch['address']}"
                        for ch in c["service_address"]["channels"])
    return [
        ("第八条 逾期罚息", f"乙方未按期还款的，甲方有权自逾期之日起按合同利率上浮 "
         f"{Decimal(c['penalty']['markup']) * 100:.0f}% 计收罚息（第 "
         f"{c['penalty']['clause_no']} 款）。"
         + ("对不能按时支付的利息，按罚息利率计收复利（第 "
            f"{c['compound_interest']['clause_no']} 款）。"
            if c["compound_interest"]["allowed"] else "")),
        ("第九条 提前到期", ("乙方连续两期未按期足额还款的，甲方有权宣布贷款提前到期，"
         "要求乙方立即偿还全部借款本金、利息、罚息和复利。")),
        ("第十五条 争议解决",
         f"因本合同发生的争议，双方同意{venue}（第 {dr['clause_no']} 款）。"),
        ("第十六条 送达地址确认", (f"乙方确认送达地址为{c['service_address']['address']}，"
         f"并同意通过以下方式接收通知：{channels}（第 {c['service_address']['clause_no']} "
         f"款）。")),
        ("电子签名",
         (f"本合同由乙方于 {signed.strftime('%Y年%m月%d日 %H:%M')} 以电子签名方式签署，"
          f"数字证书序列号 {c['e_signature']['certificate_serial']}。")),
    ]


def loan_receipt(d: Mapping[str, Any], c: Mapping[str, Any], *, loan_id: str,
                 occurred_at: datetime) -> LoanDocument:
    """借据 for a `disbursement` payload `d` under its contract `c`."""
    borrower = next(p for p in c["parties"] if p["role"] == "borrower")
    rows = [("借据编号", d["receipt_no"]), ("合同编号", c["contract_no"]),
            ("贷款编号", loan_id), ("借款人", borrower["name"]),
            ("放款金额", f"人民币 {display_money(d['amount'])} 元"), ("收款账户", d["account"]),
            ("起息日", d["value_date"]), ("清算流水号", d["clearing_ref"]),
            ("年利率", f"{(Decimal(c['annual_rate']) * 100).normalize():f}%"),
            ("期限", f"{c['term_months']} 个月")]
    body = ("<h1>借 据</h1><p class='no'>借据编号：" + _e(d["receipt_no"]) + "</p><table>"
            + _rows(rows)
            + "</table><p>借款人确认已收到上述借款，并按借款合同约定按期还本付息。</p>")
    return _page(f"借据 {d['receipt_no']}", occurred_at, body, [str(v) for _, v in rows])
