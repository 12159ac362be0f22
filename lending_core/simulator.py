"""A portfolio simulator: loans and their events over a simulated clock, for a seed.

`simulate(config)` plans every loan of a portfolio and returns a `Portfolio` whose
`events()` are in posting order (by `occurred_at`, then loan, then sequence) and which the
state machine accepts one loan at a time (a unit test folds every loan). Each loan draws its
own random stream from `(seed, loan number)`, so a loan does not change when the portfolio
around it grows, and the same config gives the same events, byte for byte.

What a portfolio looks like: amounts log-normal between ¥50,000 and ¥3,000,000 (median
¥400,000), terms of 6 to 36 months, rates at the one-year LPR plus a spread of up to 300 bp
clipped to the product's range, products drawn from the catalogue (those that lend in that
amount and term band). Most borrowers pay on the due date; `late_share` of them miss one
or two installments (core banking posts `repayment_missed` the next night and sends an SMS
reminder) and cure within weeks, paying penalty and compound interest as
`lending_core.interest.compute_arrears` computes them; `default_share` stop paying, get a
demand letter by EMS (sent and delivered), and most of those are accelerated with an
acceleration notice. Loans repaid within the horizon are settled.

Documents (the contract PDF and the 借据) are not rendered here: an event names them by
`DocumentSpec` and the caller renders them (`lending_core.documents`) when it posts, so
planning stays pure and fast. Pure: no clock, no I/O.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Literal

from lending_core.events.types import CREDIT_CODE_CHARSET, CREDIT_CODE_WEIGHTS, format_money
from lending_core.interest import compute_arrears
from lending_core.interest_model import Disbursement, LoanTerms, Repayment
from lending_core.products import Catalogue, Product, load_catalogue
from lending_core.schedule import RepaymentMethod, RepaymentSchedule, add_months, build_schedule
from lending_core.state.model import CHINA_TZ

__all__ = [
    "AMOUNT_MAX",
    "AMOUNT_MIN",
    "DEFAULT_LPR",
    "DocumentSpec",
    "Portfolio",
    "SimConfig",
    "SimEvent",
    "SimLoan",
    "simulate",
]

AMOUNT_MIN = Decimal("50000.00")
AMOUNT_MAX = Decimal("3000000.00")
AMOUNT_MEDIAN = 400_000
AMOUNT_SIGMA = 0.8
TERMS = (6, 9, 12, 18, 24, 36)
DEFAULT_LPR = Decimal("0.0345")
"""One-year LPR (2024-2025 level); contract rates are this plus a spread."""
MAX_SPREAD_BP = 300
MAX_LOANS = 1_000_000
MAX_MONTHS = 120
LENDER_NAME = "重庆银行股份有限公司"
LENDER_CODE = "91500000202869177Y"
SYSTEM = "cunzheng-simulator"

Behaviour = Literal["good", "late", "default"]

_NAME_HEADS = ("渝达", "嘉陵", "山城", "朝天", "两江", "巴渝", "江北", "南岸", "沙坪", "九龙",
               "长江", "大坪", "观音", "解放", "红岩", "磁器", "北碚", "綦江", "永川", "合川")
_NAME_TRADES = ("商贸", "科技", "食品", "建材", "物流", "餐饮", "电子", "服装", "机械", "农业")
_STREETS = ("民族路", "中山路", "解放西路", "建新北路", "杨家坪正街", "渝州路", "金开大道")
_DISTRICTS = {"500103": "渝中区", "500105": "江北区", "500106": "沙坪坝区", "500107": "九龙坡区",
              "500108": "南岸区", "500112": "渝北区"}


@dataclass(frozen=True, slots=True)
class SimConfig:
    loans: int
    months: int
    seed: int
    start: date = date(2024, 1, 1)
    lpr: Decimal = DEFAULT_LPR
    late_share: float = 0.12
    default_share: float = 0.04
    acceleration_share: float = 0.7
    """Of the defaults, how many are accelerated within the horizon (if time allows)."""
    documents: bool = True
    loan_prefix: str = "SIM"

    def __post_init__(self) -> None:
        if not 1 <= self.loans <= MAX_LOANS:
            raise ValueError(f"expected 1..{MAX_LOANS} loans, found {self.loans}")
        if not 1 <= self.months <= MAX_MONTHS:
            raise ValueError(f"expected 1..{MAX_MONTHS} months, found {self.months}")
        for name in ("late_share", "default_share", "acceleration_share"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise ValueError(f"expected {name} in [0, 1], found {value}")

    @property
    def end(self) -> date:
        """The first day after the horizon: no event occurs on or after it."""
        return add_months(self.start, self.months)


@dataclass(frozen=True, slots=True)
class DocumentSpec:
    """A document an event cites, to be rendered by the caller before posting."""

    role: Literal["contract", "loan_receipt"]
    filename: str


@dataclass(frozen=True, slots=True)
class SimEvent:
    """One event as a lending service would post it (no `documents` and no signature yet)."""

    event: Mapping[str, Any]
    occurred_at: datetime
    documents: tuple[DocumentSpec, ...] = ()

    @property
    def loan_id(self) -> str:
        return str(self.event["loan_id"])

    @property
    def type(self) -> str:
        return str(self.event["type"])


@dataclass(frozen=True, slots=True)
class SimLoan:
    loan_id: str
    product_code: str
    amount: Decimal
    term_months: int
    annual_rate: Decimal
    method: RepaymentMethod
    behaviour: Behaviour
    accelerated: bool
    settled: bool
    events: tuple[SimEvent, ...]

    @property
    def contract(self) -> Mapping[str, Any]:
        return next(e.event["payload"] for e in self.events if e.type == "contract_signed")


@dataclass(frozen=True, slots=True)
class Portfolio:
    config: SimConfig
    loans: tuple[SimLoan, ...]
    _by_id: dict[str, SimLoan] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_id.update({loan.loan_id: loan for loan in self.loans})

    def loan(self, loan_id: str) -> SimLoan:
        return self._by_id[loan_id]

    def events(self) -> Iterator[SimEvent]:
        """Every event in posting order: by occurred_at, then loan, then the loan's order."""
        keyed = [((e.occurred_at, i, j), e) for i, loan in enumerate(self.loans)
                 for j, e in enumerate(loan.events)]
        keyed.sort(key=lambda item: item[0])
        for _, e in keyed:
            yield e

    @property
    def event_count(self) -> int:
        return sum(len(loan.events) for loan in self.loans)

    def counts(self) -> dict[str, int]:
        """Events by type, and loans by behaviour and outcome."""
        out: dict[str, int] = {}
        for loan in self.loans:
            out[f"loans_{loan.behaviour}"] = out.get(f"loans_{loan.behaviour}", 0) + 1
            out["loans_accelerated"] = out.get("loans_accelerated", 0) + loan.accelerated
            out["loans_settled"] = out.get("loans_settled", 0) + loan.settled
            for e in loan.events:
                out[e.type] = out.get(e.type, 0) + 1
        return dict(sorted(out.items()))


def simulate(config: SimConfig, catalogue: Catalogue | None = None) -> Portfolio:
    """Plan the whole portfolio for `config` (deterministic for its seed)."""
    catalogue = catalogue or load_catalogue()
    products = [p for p in catalogue if _fits(p)]
    if not products:
        raise ValueError("no product in the catalogue lends ¥50,000-¥3,000,000 over 6-36 months")
    loans = tuple(_LoanPlanner(config, products, n).plan() for n in range(config.loans))
    return Portfolio(config, loans)


def _fits(p: Product) -> bool:
    return (p.amount.min <= AMOUNT_MAX and p.amount.max >= AMOUNT_MIN
            and any(p.term_months.min <= t <= p.term_months.max for t in TERMS))


def credit_code(rng: random.Random, region: str) -> str:
    """A random unified social credit code with a valid check character (GB 32100-2015)."""
    body = "91" + region + "".join(rng.choice(CREDIT_CODE_CHARSET[:10]) for _ in range(3)) \
        + "".join(rng.choice(CREDIT_CODE_CHARSET) for _ in range(6))
    total = sum(CREDIT_CODE_CHARSET.index(c) * w for c, w in zip(body, CREDIT_CODE_WEIGHTS,
                                                                 strict=True))
    return body + CREDIT_CODE_CHARSET[(31 - total % 31) % 31]


def _at(day: date, hh: int, mm: int = 0, ss: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm, ss), CHINA_TZ)


def _iso(moment: datetime) -> str:
    return moment.isoformat()


class _LoanPlanner:
    """Plans one loan: its terms, its borrower's behaviour and every event that follows."""

    def __init__(self, config: SimConfig, products: list[Product], n: int) -> None:
        self.config = config
        seed = hashlib.sha256(f"{config.seed}:{n}".encode()).digest()
        self.rng = random.Random(int.from_bytes(seed[:8], "big"))
        self.n = n
        self.loan_id = f"{config.loan_prefix}{config.seed}-{n:06d}"
        self.product = self.rng.choice(products)
        self.events: list[SimEvent] = []
        self.repayments: list[Repayment] = []
        self.refs = 0

    # --- event helpers --------------------------------------------------------------------

    def post(self, type_: str, at: datetime, payload: dict[str, Any],
             documents: tuple[DocumentSpec, ...] = ()) -> None:
        if at.date() >= self.config.end:
            raise _HorizonReached
        if self.events and at < self.events[-1].occurred_at:
            at = self.events[-1].occurred_at  # never out of order within a loan
        seq = len(self.events)
        event = {"event_id": f"{self.loan_id}:{seq:03d}", "loan_id": self.loan_id,
                 "type": type_, "occurred_at": _iso(at), "payload": payload,
                 "source": {"system": SYSTEM, "ref": f"{self.loan_id}/{seq}"}}
        self.events.append(SimEvent(event, at, documents))

    def src(self, system: str, key: str) -> dict[str, Any]:
        self.refs += 1
        return {"system": system, "refs": {key: f"{self.loan_id}-{self.refs:04d}"}}

    def clearing(self, day: date) -> str:
        self.refs += 1
        return f"CNAPS-{day:%Y%m%d}-{self.loan_id}-{self.refs:04d}"

    # --- the plan -------------------------------------------------------------------------

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
        schedule = build_schedule(method, amount, rate, term, value_date, due_day)
        roll = rng.random()
        behaviour: Behaviour = ("default" if roll < cfg.default_share else
                                "late" if roll < cfg.default_share + cfg.late_share else "good")
        self.terms = LoanTerms(principal=amount, annual_rate=rate, method=method,
                               term_months=term, due_day=due_day,
                               penalty_markup=p.penalty_markup,
                               compound_allowed=p.compound_interest_allowed)
        self.disbursement = Disbursement(amount, value_date)
        self.accelerated = self.settled = False
        try:
            self._open(decided, value_date, amount, term, rate, method, due_day, schedule)
            self._service(schedule, behaviour)
        except _HorizonReached:
            pass
        return SimLoan(self.loan_id, p.code, amount, term, rate, method, behaviour,
                       self.accelerated, self.settled, tuple(self.events))

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
        self.post("credit_decision", _at(decided, 10, rng.randint(0, 59)), {
            "decision_id": decision_id, "outcome": "approved", "product_code": p.code,
            "applicant_credit_code": code, "score": rng.randint(600, 850),
            "policy_version": f"{p.code.lower()}-policy-2024.01", "model_version": "scorecard-v7",
            "limit": format_money(amount), "decided_at": _iso(_at(decided, 10)),
            "valid_until": (decided + timedelta(days=90)).isoformat(),
            "source": self.src("credit-decision-engine", "application_id")})
        signed = _at(decided + timedelta(days=1), 14, rng.randint(0, 59))
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
            "amount": format_money(amount), "term_months": term, "annual_rate": f"{rate:f}",
            "repayment_method": method.value,
            "first_due_date": schedule.installments[0].due_date.isoformat(), "due_day": due_day,
            "penalty": {"markup": f"{p.penalty_markup:f}", "clause_no": "8.2"},
            "compound_interest": {"allowed": p.compound_interest_allowed, "clause_no": "8.3"},
            "dispute_resolution": {"venue": venue, "institution": institution,
                                   "clause_no": "15.1"},
            "service_address": {"address": address, "clause_no": "16.1", "channels": [
                {"channel": "sms", "address": phone}, {"channel": "ems", "address": address}]},
            "e_signature": {"certificate_serial": f"CFCA-{self.loan_id}",
                            "signed_at": _iso(signed),
                            "identity_check_refs": [f"FACE-{self.loan_id}"]},
            "source": self.src("core-banking", "contract_id")},
            (DocumentSpec("contract", f"contract-{self.loan_id}.pdf"),)
            if self.config.documents else ())
        if p.security in ("guarantee", "mortgage", "receivables-pledge"):
            self._security(signed + timedelta(minutes=30), amount)
        receipt_no = f"JJ-{self.loan_id}-01"
        self.receipt_no = receipt_no
        self.post("disbursement", _at(value_date, 10, rng.randint(0, 59)), {
            "receipt_no": receipt_no, "amount": format_money(amount),
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
            "secured_amount": format_money(amount), "signed_at": _iso(at),
            "source": self.src("core-banking", "security_id")}
        if kind == "guarantee":
            payload["liability"] = "joint_and_several"
        else:
            payload["collateral"] = {
                "description": "商业用房一套" if kind == "mortgage" else "政府采购合同应收账款",
                "registration_ref": f"REG-{self.loan_id}"}
        self.post("security", at, payload)

    # --- servicing ------------------------------------------------------------------------

    def _pay(self, day: date, hh: int, amount: Decimal, parts: tuple[Decimal, Decimal, Decimal],
             installments: list[int]) -> None:
        penalty, interest, principal = parts
        self.post("repayment_received", _at(day, hh, self.rng.randint(0, 59)), {
            "amount": format_money(amount), "value_date": day.isoformat(),
            "clearing_ref": self.clearing(day), "receipt_no": self.receipt_no,
            "allocation": {"costs": "0.00", "penalty": format_money(penalty),
                           "interest": format_money(interest),
                           "principal": format_money(principal)},
            "installment_nos": installments, "source": self.src("core-banking", "txn_id")})
        self.repayments.append(Repayment(amount, day))

    def _missed(self, inst: Any) -> None:
        self.post("repayment_missed", _at(inst.due_date + timedelta(days=1), 0, 30), {
            "due_date": inst.due_date.isoformat(), "installment_no": inst.no,
            "amount_due": format_money(inst.payment),
            "principal_due": format_money(inst.principal),
            "interest_due": format_money(inst.interest),
            "source": self.src("core-banking", "schedule_id")})

    def _notice(self, kind: str, channel: str, sent: datetime, delay: timedelta,
                demanded: Decimal | None) -> str:
        notice_id = f"N-{self.loan_id}-{len(self.events):03d}"
        address = self.phone if channel == "sms" else self.address
        payload: dict[str, Any] = {
            "notice_id": notice_id, "kind": kind, "channel": channel,
            "recipient_role": "borrower", "address": address, "sent_at": _iso(sent),
            "clause_no": "16.1", "source": self.src("collections", "letter_id")}
        if demanded is not None:
            payload["amount_demanded"] = format_money(demanded)
        self.post("notice_sent", sent, payload)
        self._pending_delivery = (notice_id, channel, sent + delay)
        return notice_id

    def _deliver(self) -> None:
        notice_id, channel, at = self._pending_delivery
        self.post("notice_delivered", at, {
            "notice_id": notice_id, "channel": channel, "delivered_at": _iso(at),
            "receipt_ref": f"{channel.upper()}-{notice_id}",
            "source": self.src("collections", "tracking_no")})

    def _arrears(self, day: date, accelerated_on: date | None = None) -> Any:
        return compute_arrears(self.terms, [self.disbursement], self.repayments, day,
                               accelerated_on=accelerated_on)

    def _service(self, schedule: RepaymentSchedule, behaviour: Behaviour) -> None:
        rng = self.rng
        insts = schedule.installments
        n = len(insts)
        late_at: set[int] = set()
        if behaviour == "late" and n >= 2:
            late_at = set(rng.sample(range(1, n), k=min(n - 1, rng.choice((1, 1, 2)))))
        stop_at = rng.randint(2, max(2, n - 1)) if behaviour == "default" and n >= 3 else None
        for inst in insts:
            if stop_at is not None and inst.no >= stop_at:
                self._default(insts[inst.no - 1:], stop_at)
                return
            if inst.no in late_at:
                self._late(inst, insts[inst.no] if inst.no < n else None)
                continue
            self._pay(inst.due_date, rng.randint(8, 17), inst.payment,
                      (Decimal(0), inst.interest, inst.principal), [inst.no])
        last = max(insts[-1].due_date, self.repayments[-1].value_date)
        self.post("settlement", _at(last, 20), {
            "settled_on": last.isoformat(), "reason": "repaid",
            "source": self.src("core-banking", "closing_id")})
        self.settled = True

    def _late(self, inst: Any, following: Any) -> None:
        """Miss `inst`, get a reminder, then pay everything due before the next due date."""
        rng = self.rng
        gap = (following.due_date - inst.due_date).days if following else 40
        cure = inst.due_date + timedelta(days=rng.randint(3, max(3, min(25, gap - 2))))
        self._missed(inst)
        self._notice("reminder", "sms", _at(inst.due_date + timedelta(days=2), 9),
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
                self._notice("demand", "ems", _at(demand_day, 9), timedelta(days=2, hours=3),
                             st.total_due)
                self._deliver()
        if accel_on is None:
            return
        st = self._arrears(accel_on, accel_on)
        notice = self._notice("acceleration", "ems", _at(accel_on, 9),
                              timedelta(days=2, hours=1), st.total_due)
        penalty = st.penalty_interest + st.compound_interest
        self.post("acceleration", _at(accel_on, 10), {
            "accelerated_on": accel_on.isoformat(), "clause_no": "9.1",
            "amount_declared_due": format_money(st.total_due),
            "breakdown": {"principal": format_money(st.overdue_principal),
                          "interest": format_money(st.interest_due),
                          "penalty": format_money(penalty),
                          "costs": format_money(st.costs_due)},
            "reason": f"连续两期未按期还款（自第{stop_at}期起）", "notice_id": notice,
            "source": self.src("collections", "case_id")})
        self.accelerated = True
        self._deliver()


class _HorizonReached(Exception):
    """The simulated clock reached the end of the horizon: the loan's story stops here."""

