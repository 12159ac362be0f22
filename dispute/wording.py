"""How the selection and the claim write dates, rates, amounts and the law's names in Chinese.

One place for the words both the evidence list (证据目录) and the claim use, so the two
texts a tribunal reads side by side say a rate or a date the same way. Money for the
claim's fields is `lending_core.money.format_money`; `yuan` here is only for prose.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from lending_core.money import display_money
from lending_core.state import CHINA_TZ

__all__ = ["cst_date", "pct", "yuan", "zh_date"]


def cst_date(moment: datetime) -> date:
    """The calendar day of `moment` in China Standard Time."""
    return moment.astimezone(CHINA_TZ).date()


def zh_date(d: date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


def pct(rate: Decimal) -> str:
    return f"{(rate * 100).normalize():f}%"


def yuan(amount: Decimal) -> str:
    return f"{display_money(amount)}元"


FORUM_ZH = {"court": "人民法院诉讼", "arbitration": "仲裁", "notary": "赋强公证"}
FORUM_EN = {"court": "a court", "arbitration": "arbitration", "notary": "a notary (赋强公证)"}
CHANNEL_ZH = {"sms": "短信", "email": "电子邮件", "ems": "EMS邮寄", "app": "手机银行App"}
NOTICE_ZH = {
    "reminder": "还款提醒",
    "demand": "催收函",
    "acceleration": "提前到期通知",
    "guarantor_demand": "向保证人催收函",
    "restructuring": "重组通知",
    "settlement": "结清通知",
}
SECURITY_CONTRACT_ZH = {"guarantee": "保证合同", "mortgage": "抵押合同", "pledge": "质押合同"}
PARTY_ZH = {"borrower": "借款人", "guarantor": "保证人", "mortgagor": "抵押人", "pledgor": "出质人"}
ADJUSTED_ZH = {"repayment_received": "还款", "disbursement": "放款", "fee_charged": "费用",
               "prepayment": "提前还款"}
"""The postings a reversal or correction can name."""
EVENT_ZH = {
    "credit_decision": "授信审批", "contract_signed": "合同签订", "security": "担保",
    "disbursement": "放款", "repayment_received": "还款", "repayment_missed": "逾期",
    "notice_sent": "通知发出", "notice_delivered": "通知送达", "acceleration": "宣布提前到期",
    "restructuring": "重组", "write_off": "核销", "settlement": "结清",
    "monitoring_flag": "贷后监控", "reversal": "冲正", "correction": "调账",
    "prepayment": "提前还款", "extension": "展期", "fee_charged": "费用", "repricing": "利率重定价",
}
METHOD_ZH = {
    "equal_installment": "等额本息",
    "equal_principal": "等额本金",
    "interest_only": "按月付息、到期还本",
}
