"""A portfolio simulator: loans and their events over a simulated clock, for a seed.

`simulate(config)` plans every loan of a portfolio and returns a `Portfolio` whose
`events()` are in *arrival* order: the order core banking posts them in, which is not the
order they occurred in. Each loan draws its own random streams from `(seed, loan number)`,
so a loan does not change when the portfolio around it grows, and the same config gives the
same events, byte for byte.

Arrival order. Real streams mix event time and posting time: `late_posting_share` of the
servicing events arrive late, in a T+1 batch (the next night), at the month-end
reconciliation, or weeks late; with `shuffle_arrivals` each loan's events arrive in a random
order (the arrival times of the loan, permuted). The ledger must record every one of them
(`lending_core.state` folds by `occurred_at`, whatever the arrival order).

What core banking also sends (each drawn from a second random stream, so the loan's story
without them stays the same for a seed): repayments reversed (冲正, the payer's bank
returned the money) and paid again later with penalty interest; repayments booked with the
batch date as value date and restated by a correction (调账); floating-rate loans
(`floating_share`, one-year LPR + spread from `lending_core.lpr`, repriced each 1 January
or on each anniversary, with `repricing` events carrying the published LPR); full
prepayments (提前还款, with a prepayment fee under the contract's clause) and extensions
(展期) of the last installment's principal.

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
`DocumentSpec` and the caller renders them (`dispute.pdf`) when it posts, so
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

from lending_core.events.types import CREDIT_CODE_CHARSET, CREDIT_CODE_WEIGHTS
from lending_core.interest import compute_arrears
from lending_core.interest_model import Disbursement, LoanTerms, Repayment
from lending_core.lpr import LPR_REFORM_DATE, load_lpr_table, repricing_dates
from lending_core.money import format_payload_money, round_fen
from lending_core.products import Catalogue, Product, load_catalogue
from lending_core.schedule import (
    RateChange,
    RepaymentMethod,
    RepaymentSchedule,
    add_months,
    build_schedule,
)
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
LATE_TYPES = frozenset({"disbursement", "repayment_received", "repayment_missed",
                        "notice_delivered", "reversal", "correction", "prepayment", "repricing",
                        "settlement"})
"""Event types core banking may post late (batches, reconciliation, manual catch-up)."""
MAX_LATE_DAYS = 31
"""The latest a late posting arrives: the month-end reconciliation of an event of the 1st;
catch-ups of forgotten postings come one to four weeks late."""
PREPAYMENT_FEE_RATE = Decimal("0.01")
"""提前还款违约金: 1 % of the principal prepaid, under clause 7.3 (when the contract has it)."""

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
    late_posting_share: float = 0.15
    """Of the servicing events (`LATE_TYPES`), how many arrive late."""
    reversal_share: float = 0.02
    """Of the on-time repayments, how many bounce (冲正) and are paid again later."""
    correction_share: float = 0.02
    """Of the on-time repayments, how many are booked with a wrong value date and corrected."""
    floating_share: float = 0.3
    """Of the loans, how many are priced at the one-year LPR + spread and repriced."""
    prepayment_share: float = 0.05
    """Of the good borrowers, how many prepay in full before maturity."""
    extension_share: float = 0.03
    """Of the good borrowers, how many extend the last installment's principal (展期)."""
    shuffle_arrivals: bool = False
    """Post each loan's events in a random arrival order."""

    def __post_init__(self) -> None:
        if not 1 <= self.loans <= MAX_LOANS:
            raise ValueError(f"expected 1..{MAX_LOANS} loans, found {self.loans}")
        if not 1 <= self.months <= MAX_MONTHS:
            raise ValueError(f"expected 1..{MAX_MONTHS} months, found {self.months}")
        for name in ("late_share", "default_share", "acceleration_share", "late_posting_share",
                     "reversal_share", "correction_share", "floating_share",
                     "prepayment_share", "extension_share"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise ValueError(f"expected {name} in [0, 1], found {value}")

    @classmethod
    def plain(cls, **kwargs: Any) -> SimConfig:
        """A stream without late postings, adjustments or floating rates (events arrive in
        the order they occurred)."""
        plain = {"late_posting_share": 0.0, "reversal_share": 0.0, "correction_share": 0.0,
                 "floating_share": 0.0, "prepayment_share": 0.0, "extension_share": 0.0}
        return cls(**{**plain, **kwargs})

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
    arrives_at: datetime | None = None
    """When core banking posts it (None: as it occurs)."""

    @property
    def arrival(self) -> datetime:
        return self.arrives_at or self.occurred_at

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
    floating: bool = False
    prepaid: bool = False
    extended: bool = False

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
        """Every event in arrival (posting) order: by arrival time, then loan, then the
        loan's own order."""
        keyed = [((e.arrival, i, j), e) for i, loan in enumerate(self.loans)
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
            for flag in ("floating", "prepaid", "extended"):
                out[f"loans_{flag}"] = out.get(f"loans_{flag}", 0) + getattr(loan, flag)
            out["posted_late"] = out.get("posted_late", 0) + sum(
                1 for e in loan.events if e.arrival > e.occurred_at)
            out["arrived_out_of_order"] = out.get("arrived_out_of_order", 0) + _inversions(loan)
            for e in loan.events:
                out[e.type] = out.get(e.type, 0) + 1
        return dict(sorted(out.items()))


def _inversions(loan: SimLoan) -> int:
    """Events that arrive after an event of the same loan that occurred later."""
    latest: datetime | None = None
    count = 0
    for e in sorted(loan.events, key=lambda e: e.arrival):
        if latest is not None and e.occurred_at < latest:
            count += 1
        latest = e.occurred_at if latest is None else max(latest, e.occurred_at)
    return count


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
        # the realism of the stream (late postings, adjustments, floating rates) draws from
        # its own stream, so the loan's story without it stays the same for a seed
        self.extra = random.Random(int.from_bytes(seed[8:16], "big"))
        self.n = n
        self.loan_id = f"{config.loan_prefix}{config.seed}-{n:06d}"
        self.product = self.rng.choice(products)
        self.events: list[SimEvent] = []
        self.repayments: list[Repayment] = []
        self.refs = 0

    # --- event helpers --------------------------------------------------------------------

    def post(self, type_: str, at: datetime, payload: dict[str, Any],
             documents: tuple[DocumentSpec, ...] = (), arrives: datetime | None = None) -> str:
        """Plan one event; return its event id. `arrives`: a posting time decided by the
        story (else drawn: `late_posting_share` of `LATE_TYPES` arrive late)."""
        if at.date() >= self.config.end:
            raise _HorizonReached
        if self.events and at <= self.events[-1].occurred_at:
            # the plan's order is the occurred order, strictly: no tie for arrival to break
            at = self.events[-1].occurred_at + timedelta(seconds=1)
        seq = len(self.events)
        event_id = f"{self.loan_id}:{seq:03d}"
        event = {"event_id": event_id, "loan_id": self.loan_id,
                 "type": type_, "occurred_at": _iso(at), "payload": payload,
                 "source": {"system": SYSTEM, "ref": f"{self.loan_id}/{seq}"}}
        if arrives is None and type_ in LATE_TYPES \
                and self.extra.random() < self.config.late_posting_share:
            arrives = self._late_arrival(at)
        self.events.append(SimEvent(event, at, documents, arrives))
        return event_id

    def _late_arrival(self, at: datetime) -> datetime:
        """A T+1 batch (the next night), the month-end reconciliation, or weeks late."""
        x, day = self.extra.random(), at.date()
        if x < 0.6:
            late = _at(day + timedelta(days=1), self.extra.randint(1, 4), self.extra.randint(0, 59))
        elif x < 0.85:
            month_end = add_months(day.replace(day=1), 1) - timedelta(days=1)
            late = _at(month_end, 22, self.extra.randint(0, 59))
            if late <= at:
                late = _at(day + timedelta(days=1), 23)
        else:
            late = at + timedelta(days=self.extra.randint(7, 28),
                                  hours=self.extra.randint(0, 12))
        return late

    def _shuffle_arrivals(self) -> None:
        """The loan's arrival times, dealt to its events in a random order."""
        times = sorted(e.arrival for e in self.events)
        order = list(range(len(self.events)))
        self.extra.shuffle(order)
        self.events = [SimEvent(e.event, e.occurred_at, e.documents, times[k])
                       for e, k in zip(self.events, order, strict=True)]

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
        self.pricing = self._pricing(decided, rate) if self.extra.random() < cfg.floating_share \
            else None
        if self.pricing is not None:
            rate = Decimal(self.pricing["base_lpr"]) + Decimal(self.pricing["spread_bp"]) / 10000
        self.rate, self.value_date = rate, value_date
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
        except _HorizonReached:
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
        self.post("credit_decision", _at(decided, 10, rng.randint(0, 59)), {
            "decision_id": decision_id, "outcome": "approved", "product_code": p.code,
            "applicant_credit_code": code, "score": rng.randint(600, 850),
            "policy_version": f"{p.code.lower()}-policy-2024.01", "model_version": "scorecard-v7",
            "limit": format_payload_money(amount), "decided_at": _iso(_at(decided, 10)),
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
            "secured_amount": format_payload_money(amount), "signed_at": _iso(at),
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
             installments: list[int], *, draw: random.Random | None = None,
             booked: date | None = None) -> str:
        """Post a repayment paid on `day`; `booked`: core banking's T+1 batch booked it with
        its own date as the value date (a correction restates it)."""
        penalty, interest, principal = parts
        minute = (draw or self.rng).randint(0, 59)
        at = _at(day, hh, minute) if booked is None else _at(booked, 2, minute)
        event_id = self.post("repayment_received", at, {
            "amount": format_payload_money(amount), "value_date": (booked or day).isoformat(),
            "clearing_ref": self.clearing(day), "receipt_no": self.receipt_no,
            "allocation": {"costs": "0.00", "penalty": format_payload_money(penalty),
                           "interest": format_payload_money(interest),
                           "principal": format_payload_money(principal)},
            "installment_nos": installments, "source": self.src("core-banking", "txn_id")})
        self.repayments.append(Repayment(amount, day))
        return event_id

    def _missed(self, inst: Any) -> None:
        self.post("repayment_missed", _at(inst.due_date + timedelta(days=1), 0, 30), {
            "due_date": inst.due_date.isoformat(), "installment_no": inst.no,
            "amount_due": format_payload_money(inst.payment),
            "principal_due": format_payload_money(inst.principal),
            "interest_due": format_payload_money(inst.interest),
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
            payload["amount_demanded"] = format_payload_money(demanded)
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

    def _settle(self, day: date) -> None:
        self.post("settlement", _at(day, 20), {
            "settled_on": day.isoformat(), "reason": "repaid",
            "source": self.src("core-banking", "closing_id")})
        self.settled = True

    def _reprice_until(self, day: date) -> None:
        """Post the floating rate's repricings effective on or before `day`."""
        while self.repricings and self.repricings[0][0] <= day:
            effective, lpr, lpr_date, new = self.repricings.pop(0)
            assert self.pricing is not None  # only a floating loan has repricings
            spread = int(self.pricing["spread_bp"])
            self.post("repricing", _at(effective, 1, self.extra.randint(0, 59)), {
                "contract_no": self.contract_no, "effective_date": effective.isoformat(),
                "tenor": "1y", "lpr": f"{lpr:f}",
                "lpr_date": lpr_date.isoformat(), "spread_bp": spread,
                "new_rate": f"{new:f}", "previous_rate": f"{self.rate:f}", "clause_no": "4.2",
                "source": self.src("core-banking", "repricing_id")})
            self.rate = new

    def _bounced(self, inst: Any, following: Any, hh: int,
                 parts: tuple[Decimal, Decimal, Decimal]) -> None:
        """Paid on the due date, returned by the payer's bank the next day (冲正), paid again
        within days with the penalty interest that accrued meanwhile."""
        original = self._pay(inst.due_date, hh, inst.payment, parts, [inst.no])
        self.repayments.pop()
        bounced = inst.due_date + timedelta(days=1)
        self.post("reversal", _at(bounced, 10, self.extra.randint(0, 59)), {
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
        self.post("correction", _at(fixed, 15, self.extra.randint(0, 59)), {
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
        self.post("prepayment", _at(day, 11, self.extra.randint(0, 59)), payload)
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
        signed = _at(maturity - timedelta(days=3), 10, self.extra.randint(0, 59))
        self.post("extension", _at(maturity, 18), {
            "agreement_no": f"CQB-ZQ-{self.loan_id}", "effective_date": maturity.isoformat(),
            "original_maturity": maturity.isoformat(), "new_maturity": new_maturity.isoformat(),
            "principal": format_payload_money(last.principal),
            "first_due_date": first_due.isoformat(),
            "clause_no": "2",
            "e_signature": {"certificate_serial": f"CFCA-ZQ-{self.loan_id}",
                            "signed_at": _iso(signed),
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
            "amount_declared_due": format_payload_money(st.total_due),
            "breakdown": {"principal": format_payload_money(st.overdue_principal),
                          "interest": format_payload_money(st.interest_due),
                          "penalty": format_payload_money(penalty),
                          "costs": format_payload_money(st.costs_due)},
            "reason": f"连续两期未按期还款（自第{stop_at}期起）", "notice_id": notice,
            "source": self.src("collections", "case_id")})
        self.accelerated = True
        self._deliver()


class _HorizonReached(Exception):
    """The simulated clock reached the end of the horizon: the loan's story stops here."""

