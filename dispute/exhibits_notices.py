"""The notices and acceleration groups of the evidence list: what the borrower was told.

Each notice sent (reminders, demands, acceleration notices; restructuring and settlement
notices are not evidence of default) with its delivery receipt, and the acceleration.
Gaps: a demand never shown delivered, a notice sent outside the agreed channels and
addresses, no delivered demand at all, an acceleration naming no notice.
"""

from __future__ import annotations

from datetime import date

from dispute.evidence import DEMAND_KINDS, ExhibitList
from dispute.wording import CHANNEL_ZH, NOTICE_ZH, PARTY_ZH, cst_date, yuan, zh_date
from lending_core.state import NoticeRecord

__all__ = ["acceleration_exhibits", "notice_exhibits"]


def notice_exhibits(b: ExhibitList) -> None:
    s, venue = b.state, b.venue
    c = s.contract.payload if s.contract else None
    agreed_clause = c.service_address.clause_no if c else "?"
    delivered_demand = False
    for n in s.notices:
        p = n.sent.payload
        if p.kind in ("restructuring", "settlement"):
            continue
        sent_day = cst_date(p.sent_at)
        label = NOTICE_ZH[p.kind]
        who = PARTY_ZH.get(p.recipient_role, p.recipient_role)
        channel = CHANNEL_ZH.get(str(p.channel), str(p.channel))
        agreed = (f"通过合同第{agreed_clause}条约定的送达方式" if n.via_agreed_channel
                  else "")
        demanded = f"，催收金额{yuan(p.amount_demanded)}" if p.amount_demanded else ""
        b.add("notices", n.sent.event_id,
              f"{label}（编号{p.notice_id}，{channel}，{sent_day.isoformat()}发出）",
              f"证明贷款人于{zh_date(sent_day)}{agreed}以{channel}向{who}（{p.address}）"
              f"发出{label}{demanded}。")
        _notice_delivery(b, n, label, sent_day)
        if p.kind in DEMAND_KINDS and n.delivered is not None and n.via_agreed_channel:
            delivered_demand = True
        if n.via_agreed_channel is False:
            b.gap("channel_not_agreed", "required" if venue == "notary" else "advisory",
                  f"the {p.kind} {p.notice_id} of {sent_day.isoformat()} went by {p.channel} to "
                  f"{p.address}, not a channel and address agreed in clause {agreed_clause}",
                  f"{zh_date(sent_day)}的{label}（{p.notice_id}）未通过合同第{agreed_clause}条"
                  "约定的送达方式及地址发出", n.sent.event_id)
    if (s.missed or s.acceleration) and not delivered_demand:
        b.gap("no_delivered_demand", "required" if venue == "notary" else "advisory",
              "no demand to the borrower shown delivered through an agreed channel",
              "无通过约定送达方式向借款人送达催收通知的记录")


def _notice_delivery(b: ExhibitList, n: NoticeRecord, label: str, sent_day: date) -> None:
    p = n.sent.payload
    if n.delivered is None:
        if p.kind in DEMAND_KINDS:
            b.gap("no_delivery_receipt", "required" if b.venue == "notary" else "advisory",
                  f"no delivery receipt for the {p.kind} of {sent_day.isoformat()} "
                  f"({p.notice_id}, by {p.channel})",
                  f"{zh_date(sent_day)}发出的{label}（{p.notice_id}）无送达回执",
                  n.sent.event_id)
        return
    d = n.delivered.payload
    day = cst_date(d.delivered_at)
    b.add("notices", n.delivered.event_id, f"送达回执（{p.notice_id}，回执号{d.receipt_ref}）",
          f"证明上述{label}已于{zh_date(day)}送达（回执号{d.receipt_ref}）。")


def acceleration_exhibits(b: ExhibitList) -> None:
    a = b.state.acceleration
    if a is None:
        return
    p = a.payload
    b.add("acceleration", a.event_id, f"宣布贷款提前到期（{p.accelerated_on.isoformat()}）",
          f"证明贷款人依合同第{p.clause_no}条于{zh_date(p.accelerated_on)}宣布贷款提前到期"
          f"（{p.reason}），宣布到期金额{yuan(p.amount_declared_due)}。")
    notice = b.state.notice(p.notice_id) if p.notice_id else None
    if p.notice_id is None or notice is None:
        b.gap("acceleration_not_notified", "advisory",
              f"the acceleration of {p.accelerated_on.isoformat()} names no notice sent to the "
              "borrower", f"{zh_date(p.accelerated_on)}宣布提前到期未关联已发出的通知",
              a.event_id)
