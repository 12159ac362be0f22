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

Modules: `model` (the configuration, events, loans and portfolio), `stream` (one loan's
event stream), `servicing` (the loan after disbursement), `planner` (drawing and opening
a loan, then servicing it).
"""

from __future__ import annotations

from lending_core.products import Catalogue, Product, load_catalogue
from lending_core.simulator.model import (
    AMOUNT_MAX,
    AMOUNT_MIN,
    DEFAULT_LPR,
    LATE_TYPES,
    MAX_LATE_DAYS,
    TERMS,
    DocumentSpec,
    Portfolio,
    SimConfig,
    SimEvent,
    SimLoan,
)
from lending_core.simulator.planner import LoanPlanner

__all__ = [
    "AMOUNT_MAX",
    "AMOUNT_MIN",
    "DEFAULT_LPR",
    "LATE_TYPES",
    "MAX_LATE_DAYS",
    "DocumentSpec",
    "Portfolio",
    "SimConfig",
    "SimEvent",
    "SimLoan",
    "simulate",
]


def simulate(config: SimConfig, catalogue: Catalogue | None = None) -> Portfolio:
    """Plan the whole portfolio for `config` (deterministic for its seed)."""
    catalogue = catalogue or load_catalogue()
    products = [p for p in catalogue if _fits(p)]
    if not products:
        raise ValueError("no product in the catalogue lends ¥50,000-¥3,000,000 over 6-36 months")
    loans = tuple(LoanPlanner(config, products, n).plan() for n in range(config.loans))
    return Portfolio(config, loans)


def _fits(p: Product) -> bool:
    return (p.amount.min <= AMOUNT_MAX and p.amount.max >= AMOUNT_MIN
            and any(p.term_months.min <= t <= p.term_months.max for t in TERMS))
