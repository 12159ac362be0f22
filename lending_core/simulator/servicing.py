"""How a loan is serviced once disbursed, by its borrower's behaviour: installments paid on
the due date (some bounced and paid again, some booked with a wrong value date and
corrected), paid late after a reminder, prepaid in full, extended at maturity (展期), or
stopped (missed installments, a demand letter, and most often acceleration).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from lending_core.money import format_payload_money, round_fen
from lending_core.schedule import RepaymentSchedule, add_months, build_schedule
from lending_core.simulator.model import PREPAYMENT_FEE_RATE, Behaviour
from lending_core.simulator.stream import EventStream, iso, when

__all__ = ["Servicing"]


class Servicing(EventStream):
    """The servicing part of a loan's story (see the module docstring)."""

    def _service(self, schedule: RepaymentSchedule, behaviour: Behaviour) -> None:
        rng = self.rng
        insts = schedule.installments
        n = len(insts)
        late_at: set[int] = set()
        if behaviour == "late" and n >= 2:
            late_at = set(rng.sample(range(1, n), k=min(n - 1, rng.choice((1, 1, 2)))))
        stop_at = rng.randint(2, max(2, n - 1)) if behaviour == "default" and n >= 3 else None
        extra, cfg = self.extra, self.config
        prepay_after = extend = None
        if behaviour == "good" and n >= 4 and extra.random() < cfg.prepayment_share:
            prepay_after = extra.randint(2, n - 2)
        elif behaviour == "good" and n >= 6 and extra.random() < cfg.extension_share:
            extend = n
        for inst in insts:
            self._reprice_until(inst.due_date)
            following = insts[inst.no] if inst.no < n else None
            if stop_at is not None and inst.no >= stop_at:
                self._default(insts[inst.no - 1:], stop_at)
                return
            if inst.no in late_at:
                self._late(inst, following)
                continue
            if inst.no == extend:
                self._extend(inst)
                return
            hh = rng.randint(8, 17)
            parts = (Decimal(0), inst.interest, inst.principal)
            roll = extra.random()
            # adjusted only when the story can finish inside the horizon (the money comes
            # back, or the value date is restated, before the next installment falls due)
            adjustable = following is not None and following.due_date < cfg.end
            if adjustable and roll < cfg.reversal_share:
                self._bounced(inst, following, hh, parts)
            elif adjustable and roll < cfg.reversal_share + cfg.correction_share:
                self._booked_late(inst, hh, parts)
            else:
                self._pay(inst.due_date, hh, inst.payment, parts, [inst.no])
            if inst.no == prepay_after and following is not None:
                self._prepay(inst, following)
                return
        self._settle(max(insts[-1].due_date, self.repayments[-1].value_date))

    def _bounced(self, inst: Any, following: Any, hh: int,
                 parts: tuple[Decimal, Decimal, Decimal]) -> None:
        """Paid on the due date, returned by the payer's bank the next day (冲正), paid again
        within days with the penalty interest that accrued meanwhile."""
        original = self._pay(inst.due_date, hh, inst.payment, parts, [inst.no])
        self.repayments.pop()
        bounced = inst.due_date + timedelta(days=1)
        self.post("reversal", when(bounced, 10, self.extra.randint(0, 59)), {
            "original_event_id": original, "original_type": "repayment_received",
            "amount": format_payload_money(inst.payment), "reversed_on": bounced.isoformat(),
            "reason": "付款行退汇（收款账户状态异常）", "clearing_ref": self.clearing(bounced),
            "source": self.src("core-banking", "txn_id")})
        gap = (following.due_date - inst.due_date).days
        cure = inst.due_date + timedelta(days=self.extra.randint(3, max(3, min(10, gap - 3))))
        st = self._arrears(cure)
        self._pay(cure, self.extra.randint(9, 17), st.total_due,
                  (st.penalty_interest + st.compound_interest, st.interest_due,
                   st.overdue_principal), [inst.no], draw=self.extra)

    def _booked_late(self, inst: Any, hh: int, parts: tuple[Decimal, Decimal, Decimal]) -> None:
        """Paid on the due date, booked by the night batch with the next day as value date,
        restated by a correction (调账) two days later."""
        booked = inst.due_date + timedelta(days=1)
        original = self._pay(inst.due_date, hh, inst.payment, parts, [inst.no], booked=booked)
        fixed = inst.due_date + timedelta(days=3)
        self.post("correction", when(fixed, 15, self.extra.randint(0, 59)), {
            "original_event_id": original, "original_type": "repayment_received",
            "corrected": {"value_date": inst.due_date.isoformat()},
            "corrected_on": fixed.isoformat(), "reason_code": "wrong_value_date",
            "reason": f"批量入账起息日误记为{booked.isoformat()}，"
                      f"实际到账{inst.due_date.isoformat()}",
            "approval_ref": f"TZ-{self.loan_id}-{inst.no:02d}",
            "source": self.src("core-banking", "adjustment_id")})

    def _prepay(self, inst: Any, following: Any) -> None:
        """Repay everything between two due dates: the remaining principal, its interest
        since the last due date by actual days, and (under clause 7.3) a 1 % fee."""
        gap = (following.due_date - inst.due_date).days
        day = inst.due_date + timedelta(days=self.extra.randint(3, max(3, gap - 3)))
        self._reprice_until(day)
        principal = inst.remaining
        interest = round_fen(principal * self.rate * (day - inst.due_date).days / 360)
        fee = round_fen(principal * PREPAYMENT_FEE_RATE) if self.extra.random() < 0.5 \
            else Decimal("0.00")
        payload: dict[str, Any] = {
            "kind": "full", "amount": format_payload_money(principal + interest + fee),
            "value_date": day.isoformat(), "clearing_ref": self.clearing(day),
            "principal": format_payload_money(principal),
            "interest": format_payload_money(interest),
            "fee": format_payload_money(fee), "receipt_no": self.receipt_no,
            "source": self.src("core-banking", "txn_id")}
        if fee:
            payload["fee_clause_no"] = "7.3"
        self.post("prepayment", when(day, 11, self.extra.randint(0, 59)), payload)
        self.prepaid = True
        self._settle(day)

    def _extend(self, last: Any) -> None:
        """At maturity the borrower pays the last period's interest and the lender extends
        its principal (展期) over 3 or 6 more months, paid on the new schedule."""
        maturity = last.due_date
        self._pay(maturity, self.extra.randint(8, 12), last.interest,
                  (Decimal(0), last.interest, Decimal(0)), [last.no], draw=self.extra)
        months = self.extra.choice((3, 6))
        first_due = add_months(maturity, 1, self.due_day)
        new_maturity = add_months(maturity, months, self.due_day)
        signed = when(maturity - timedelta(days=3), 10, self.extra.randint(0, 59))
        self.post("extension", when(maturity, 18), {
            "agreement_no": f"CQB-ZQ-{self.loan_id}", "effective_date": maturity.isoformat(),
            "original_maturity": maturity.isoformat(), "new_maturity": new_maturity.isoformat(),
            "principal": format_payload_money(last.principal),
            "first_due_date": first_due.isoformat(),
            "clause_no": "2",
            "e_signature": {"certificate_serial": f"CFCA-ZQ-{self.loan_id}",
                            "signed_at": iso(signed),
                            "identity_check_refs": [f"FACE-ZQ-{self.loan_id}"]},
            "source": self.src("core-banking", "agreement_id")})
        self.extended = True
        schedule = build_schedule(self.method, last.principal, self.rate, months, maturity,
                                  self.due_day, first_due)
        for inst in schedule.installments:
            self._reprice_until(inst.due_date)
            self._pay(inst.due_date, self.extra.randint(8, 17), inst.payment,
                      (Decimal(0), inst.interest, inst.principal), [inst.no], draw=self.extra)
        self._settle(schedule.maturity)

    def _late(self, inst: Any, following: Any) -> None:
        """Miss `inst`, get a reminder, then pay everything due before the next due date."""
        rng = self.rng
        gap = (following.due_date - inst.due_date).days if following else 40
        cure = inst.due_date + timedelta(days=rng.randint(3, max(3, min(25, gap - 2))))
        self._missed(inst)
        self._notice("reminder", "sms", when(inst.due_date + timedelta(days=2), 9),
                     timedelta(seconds=rng.randint(2, 50)), inst.payment)
        self._deliver()
        st = self._arrears(cure)
        penalty = st.penalty_interest + st.compound_interest
        self._pay(cure, rng.randint(9, 17), st.total_due,
                  (penalty, st.interest_due, st.overdue_principal), [inst.no])

    def _default(self, remaining: Any, stop_at: int) -> None:
        """Stop paying at `stop_at`: each installment missed, a demand letter after the
        second, and (most often) acceleration with its own notice."""
        rng, cfg = self.rng, self.config
        second = remaining[1]
        demand_day = second.due_date + timedelta(days=5)
        accel_on = None
        if rng.random() < cfg.acceleration_share:
            accel_on = demand_day + timedelta(days=rng.randint(15, 30))
        for k, inst in enumerate(remaining):
            if accel_on is not None and inst.due_date >= accel_on:
                break
            self._missed(inst)
            if k == 1:
                st = self._arrears(demand_day)
                self._notice("demand", "ems", when(demand_day, 9), timedelta(days=2, hours=3),
                             st.total_due)
                self._deliver()
        if accel_on is None:
            return
        st = self._arrears(accel_on, accel_on)
        notice = self._notice("acceleration", "ems", when(accel_on, 9),
                              timedelta(days=2, hours=1), st.total_due)
        penalty = st.penalty_interest + st.compound_interest
        self.post("acceleration", when(accel_on, 10), {
            "accelerated_on": accel_on.isoformat(), "clause_no": "9.1",
            "amount_declared_due": format_payload_money(st.total_due),
            "breakdown": {"principal": format_payload_money(st.overdue_principal),
                          "interest": format_payload_money(st.interest_due),
                          "penalty": format_payload_money(penalty),
                          "costs": format_payload_money(st.costs_due)},
            "reason": f"连续两期未按期还款（自第{stop_at}期起）", "notice_id": notice,
            "source": self.src("collections", "case_id")})
        self.accelerated = True
        self._deliver()
