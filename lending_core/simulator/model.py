"""The simulator's values: its configuration (`SimConfig`), the events it plans (`SimEvent`,
naming the documents they cite by `DocumentSpec`), each loan's story (`SimLoan`) and the
whole `Portfolio` in arrival order, with the bounds and shares the plan draws from. Pure
values: planning them is `lending_core.simulator.planner`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from lending_core.schedule import RepaymentMethod, add_months

__all__ = [
    "AMOUNT_MAX", "AMOUNT_MEDIAN", "AMOUNT_MIN", "AMOUNT_SIGMA", "DEFAULT_LPR", "LATE_TYPES",
    "LENDER_CODE", "LENDER_NAME", "MAX_LATE_DAYS", "MAX_LOANS", "MAX_MONTHS", "MAX_SPREAD_BP",
    "PREPAYMENT_FEE_RATE", "SYSTEM", "TERMS", "Behaviour", "DocumentSpec", "Portfolio",
    "SimConfig", "SimEvent", "SimLoan",
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
