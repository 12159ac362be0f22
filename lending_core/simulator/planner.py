"""Plans one loan (`LoanPlanner`): its product, amount, term, rate (fixed, or the one-year
LPR plus a spread, repriced), borrower and behaviour, all drawn from the loan's own seeded
streams; then opens it (credit decision, contract, security, disbursement) and services it
(`lending_core.simulator.servicing`).
"""

from __future__ import annotations

import math
import random
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from lending_core.events.types import CREDIT_CODE_CHARSET, CREDIT_CODE_WEIGHTS
from lending_core.interest_model import Disbursement, LoanTerms
from lending_core.lpr import LPR_REFORM_DATE, load_lpr_table, repricing_dates
from lending_core.money import format_payload_money
from lending_core.schedule import RateChange, RepaymentMethod, RepaymentSchedule, build_schedule
from lending_core.simulator.model import (
    AMOUNT_MAX,
    AMOUNT_MEDIAN,
    AMOUNT_MIN,
    AMOUNT_SIGMA,
    LENDER_CODE,
    LENDER_NAME,
    MAX_SPREAD_BP,
    TERMS,
    Behaviour,
    DocumentSpec,
    SimLoan,
)
from lending_core.simulator.servicing import Servicing
from lending_core.simulator.stream import HorizonReached, iso, when

__all__ = ["LoanPlanner", "credit_code"]

_NAME_HEADS = ("渝达", "嘉陵", "山城", "朝天", "两江", "巴渝", "江北", "南岸", "沙坪", "九龙",
               "长江", "大坪", "观音", "解放", "红岩", "磁器", "北碚", "綦江", "永川", "合川")
_NAME_TRADES = ("商贸", "科技", "食品", "建材", "物流", "餐饮", "电子", "服装", "机械", "农业")
_STREETS = ("民族路", "中山路", "解放西路", "建新北路", "杨家坪正街", "渝州路", "金开大道")
_DISTRICTS = {"500103": "渝中区", "500105": "江北区", "500106": "沙坪坝区", "500107": "九龙坡区",
              "500108": "南岸区", "500112": "渝北区"}



def credit_code(rng: random.Random, region: str) -> str:
    """A random unified social credit code with a valid check character (GB 32100-2015)."""
    body = "91" + region + "".join(rng.choice(CREDIT_CODE_CHARSET[:10]) for _ in range(3)) \
        + "".join(rng.choice(CREDIT_CODE_CHARSET) for _ in range(6))
    total = sum(CREDIT_CODE_CHARSET.index(c) * w for c, w in zip(body, CREDIT_CODE_WEIGHTS,
                                                                 strict=True))
    return body + CREDIT_CODE_CHARSET[(31 - total % 31) % 31]


class LoanPlanner(Servicing):
    """Plans one loan: its terms, its borrower's behaviour and every event that follows."""

    def plan(self) -> SimLoan:
        rng, p, cfg = self.rng, self.product, self.config
        amount = self._amount()
        terms = [t for t in TERMS if p.term_months.min <= t <= p.term_months.max]
        term = rng.choice(terms)
        spread = Decimal(rng.randint(0, MAX_SPREAD_BP)) / 10000
        rate = min(max(cfg.lpr + spread, p.annual_rate.min), p.annual_rate.max)
        method = RepaymentMethod(rng.choice(p.repayment_methods).value)
        horizon_days = (cfg.end - cfg.start).days
        decided = cfg.start + timedelta(days=rng.randrange(max(horizon_days - 35, 1)))
        value_date = decided + timedelta(days=rng.choice((2, 3, 5)))
        due_day = rng.choice((10, 15, 20, 21, 25))
        self.pricing = self._pricing(decided, rate) if self.extra.random() < cfg.floating_share \
            else None
        if self.pricing is not None:
            rate = Decimal(self.pricing["base_lpr"]) + Decimal(self.pricing["spread_bp"]) / 10000
        self.rate = rate
        schedule = build_schedule(method, amount, rate, term, value_date, due_day)
        # a floating rate resets on the rule's dates to the LPR then in force + the spread;
        # the borrower pays the schedule re-amortised at each reset, as the bank bills it
        self.repricings = self._resets(value_date, schedule.maturity) if self.pricing else []
        changes = tuple(RateChange(day, new) for day, _, _, new in self.repricings)
        if changes:
            schedule = build_schedule(method, amount, rate, term, value_date, due_day, None,
                                      changes)
        roll = rng.random()
        behaviour: Behaviour = ("default" if roll < cfg.default_share else
                                "late" if roll < cfg.default_share + cfg.late_share else "good")
        self.terms = LoanTerms(principal=amount, annual_rate=rate, method=method,
                               term_months=term, due_day=due_day,
                               penalty_markup=p.penalty_markup,
                               compound_allowed=p.compound_interest_allowed,
                               rate_changes=changes)
        self.disbursement = Disbursement(amount, value_date)
        self.accelerated = self.settled = self.prepaid = self.extended = False
        self.due_day, self.method = due_day, method
        try:
            self._open(decided, value_date, amount, term, rate, method, due_day, schedule)
            self._service(schedule, behaviour)
        except HorizonReached:
            pass
        if cfg.shuffle_arrivals:
            self._shuffle_arrivals()
        return SimLoan(self.loan_id, p.code, amount, term, rate, method, behaviour,
                       self.accelerated, self.settled, tuple(self.events),
                       self.pricing is not None, self.prepaid, self.extended)

    def _resets(self, value_date: date, maturity: date
                ) -> list[tuple[date, Decimal, date, Decimal]]:
        """(effective date, LPR, its publication date, new rate) of each repricing."""
        assert self.pricing is not None
        spread = Decimal(self.pricing["spread_bp"]) / 10000
        table = load_lpr_table()
        out = []
        for day in repricing_dates(self.pricing["repricing"], value_date, maturity):
            published = table.in_force(day, carry_forward=True)
            lpr = published.rate("1y")
            out.append((day, lpr, published.published_on, lpr + spread))
        return out

    def _pricing(self, decided: date, fixed_rate: Decimal) -> dict[str, Any] | None:
        """A floating price (one-year LPR in force at the decision + spread) in the product's
        range, or None (fixed rate) when no spread fits or there was no LPR yet."""
        if decided < LPR_REFORM_DATE:
            return None
        published = load_lpr_table().in_force(decided, carry_forward=True)
        lpr = published.rate("1y")
        lo, hi = self.product.annual_rate.min, self.product.annual_rate.max
        spread = int((fixed_rate - lpr) * 10000)
        if not lo <= lpr + Decimal(spread) / 10000 <= hi:
            return None
        return {"kind": "lpr", "tenor": "1y", "base_lpr": f"{lpr:f}",
                "lpr_date": published.published_on.isoformat(), "spread_bp": spread,
                "repricing": self.extra.choice(("january_1", "anniversary")), "clause_no": "4.2"}

    def _amount(self) -> Decimal:
        lo = max(AMOUNT_MIN, self.product.amount.min)
        hi = min(AMOUNT_MAX, self.product.amount.max)
        raw = self.rng.lognormvariate(math.log(AMOUNT_MEDIAN), AMOUNT_SIGMA)
        yuan = Decimal(int(raw) // 1000 * 1000)
        return min(max(yuan, lo), hi).quantize(Decimal("0.01"))

    def _open(self, decided: date, value_date: date, amount: Decimal, term: int, rate: Decimal,
              method: RepaymentMethod, due_day: int, schedule: RepaymentSchedule) -> None:
        rng, p = self.rng, self.product
        region = rng.choice(sorted(_DISTRICTS))
        code = credit_code(rng, region)
        name = f"重庆{rng.choice(_NAME_HEADS)}{rng.choice(_NAME_TRADES)}有限公司"
        address = (f"重庆市{_DISTRICTS[region]}{rng.choice(_STREETS)}{rng.randint(1, 300)}号")
        phone = f"+86-13{rng.randint(0, 9)}-{rng.randint(0, 9999):04d}-{rng.randint(0, 9999):04d}"
        decision_id = f"CD-{self.loan_id}"
        contract_no = f"CQB-{p.code[:2]}-{self.loan_id}"
        self.address, self.phone = address, phone
        self.post("credit_decision", when(decided, 10, rng.randint(0, 59)), {
            "decision_id": decision_id, "outcome": "approved", "product_code": p.code,
            "applicant_credit_code": code, "score": rng.randint(600, 850),
            "policy_version": f"{p.code.lower()}-policy-2024.01", "model_version": "scorecard-v7",
            "limit": format_payload_money(amount), "decided_at": iso(when(decided, 10)),
            "valid_until": (decided + timedelta(days=90)).isoformat(),
            "source": self.src("credit-decision-engine", "application_id")})
        signed = when(decided + timedelta(days=1), 14, rng.randint(0, 59))
        venue = rng.choice(("notary", "arbitration", "court"))
        institution = {"notary": "重庆市渝中公证处", "arbitration": "重庆仲裁委员会",
                       "court": "重庆市渝中区人民法院"}[venue]
        self.contract_no = contract_no
        self.post("contract_signed", signed, {
            "contract_no": contract_no, "decision_id": decision_id, "product_code": p.code,
            "parties": [
                {"role": "lender", "kind": "organization", "name": LENDER_NAME,
                 "credit_code": LENDER_CODE},
                {"role": "borrower", "kind": "organization", "name": name, "credit_code": code}],
            "amount": format_payload_money(amount), "term_months": term, "annual_rate": f"{rate:f}",
            "repayment_method": method.value,
            "first_due_date": schedule.installments[0].due_date.isoformat(), "due_day": due_day,
            **({"pricing": self.pricing} if self.pricing else {}),
            "penalty": {"markup": f"{p.penalty_markup:f}", "clause_no": "8.2"},
            "compound_interest": {"allowed": p.compound_interest_allowed, "clause_no": "8.3"},
            "dispute_resolution": {"venue": venue, "institution": institution,
                                   "clause_no": "15.1"},
            "service_address": {"address": address, "clause_no": "16.1", "channels": [
                {"channel": "sms", "address": phone}, {"channel": "ems", "address": address}]},
            "e_signature": {"certificate_serial": f"CFCA-{self.loan_id}",
                            "signed_at": iso(signed),
                            "identity_check_refs": [f"FACE-{self.loan_id}"]},
            "source": self.src("core-banking", "contract_id")},
            (DocumentSpec("contract", f"contract-{self.loan_id}.pdf"),)
            if self.config.documents else ())
        if p.security in ("guarantee", "mortgage", "receivables-pledge"):
            self._security(signed + timedelta(minutes=30), amount)
        receipt_no = f"JJ-{self.loan_id}-01"
        self.receipt_no = receipt_no
        self.post("disbursement", when(value_date, 10, rng.randint(0, 59)), {
            "receipt_no": receipt_no, "amount": format_payload_money(amount),
            "account": f"6217****{rng.randint(0, 9999):04d}",
            "clearing_ref": self.clearing(value_date), "value_date": value_date.isoformat(),
            "source": self.src("core-banking", "txn_id")},
            (DocumentSpec("loan_receipt", f"jieju-{self.loan_id}.pdf"),)
            if self.config.documents else ())

    def _security(self, at: datetime, amount: Decimal) -> None:
        kind = {"guarantee": "guarantee", "mortgage": "mortgage",
                "receivables-pledge": "pledge"}[self.product.security]
        provider_role = {"guarantee": "guarantor", "mortgage": "mortgagor",
                         "pledge": "pledgor"}[kind]
        region = self.rng.choice(sorted(_DISTRICTS))
        payload: dict[str, Any] = {
            "security_id": f"SEC-{self.loan_id}", "kind": kind,
            "contract_no": f"CQB-{kind[:2].upper()}-{self.loan_id}",
            "provider": {"role": provider_role, "kind": "organization",
                         "name": f"重庆{self.rng.choice(_NAME_HEADS)}"
                         + ("融资担保有限公司" if kind == "guarantee" else "实业有限公司"),
                         "credit_code": credit_code(self.rng, region)},
            "secured_amount": format_payload_money(amount), "signed_at": iso(at),
            "source": self.src("core-banking", "security_id")}
        if kind == "guarantee":
            payload["liability"] = "joint_and_several"
        else:
            payload["collateral"] = {
                "description": "商业用房一套" if kind == "mortgage" else "政府采购合同应收账款",
                "registration_ref": f"REG-{self.loan_id}"}
        self.post("security", at, payload)
