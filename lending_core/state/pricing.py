"""Floating rates in the loan state: the `repricing` transition and the rate in force.

A contract with a `pricing` block (`lending_core.events.pricing`) is at LPR + spread; its
rate changes only through `repricing` events, each applied from its `effective_date`. The
rate in force on a day (`rate_periods`, `rate_on`) is the contract's rate (or the latest
restructuring's, from its effective date), replaced by each applied repricing from its
effective date on. Interest, penalty interest (罚息) and compound interest (复利) all use it
(`dispute.claim.loan_terms` passes the periods to `lending_core.interest`).

Refused at ingestion (`INTRINSIC_CODES`; false whatever else arrives): an LPR that is not the
published one for its date (`lpr_mismatch`, checked only where `lending_core.lpr`'s table
knows the date: a figure newer than the table is taken on trust, never refused), a contract
whose base LPR postdates its signing, a repricing effective after the event's own date.
Recorded as findings (the event is kept, not applied): a repricing on a fixed-rate loan,
under another contract, with another tenor or spread than the contract's, off the contract's
repricing dates, on an LPR older than the latest published (`repricing_stale_lpr`), a second
repricing for the same date, or a `previous_rate` that is not the rate in force the day
before.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal

from lending_core.events import ContractSigned, Repricing
from lending_core.lpr import LPR_REFORM_DATE, LprUnknown, Tenor, is_repricing_date, load_lpr_table
from lending_core.products import Catalogue
from lending_core.schedule import RateChange
from lending_core.state import intrinsic
from lending_core.state.model import CHINA_TZ, Fact, LoanEvent, LoanState
from lending_core.state.rules import need_disbursed, not_after, require

__all__ = [
    "INTRINSIC_CODES",
    "RatePeriod",
    "check_lpr",
    "on_repricing",
    "rate_on",
    "rate_periods",
]

INTRINSIC_CODES: frozenset[str] = frozenset({"lpr_mismatch", "lpr_date_after_signing"})
"""Codes of this module that refuse an event at ingestion (see the module docstring)."""


@dataclass(frozen=True)
class RatePeriod:
    """A rate in force from `start` (inclusive) until the next period's start.

    `event_id` is the event that set it: the contract, a restructuring or a repricing."""

    start: date
    annual_rate: Decimal
    event_id: str
    lpr: Decimal | None = None
    lpr_date: date | None = None
    spread_bp: int | None = None
    tenor: Tenor | None = None


def _pct(rate: Decimal) -> str:
    return f"{(rate * 100).normalize():f}%"


def check_lpr(tenor: Tenor, lpr: Decimal, lpr_date: date, what: str) -> None:
    """Raise `Reject("lpr_mismatch")` if the table knows `lpr_date` and its LPR is not `lpr`."""
    require(
        lpr_date >= LPR_REFORM_DATE,
        "lpr_mismatch",
        f"expected {what} dated on or after the first LPR publication {LPR_REFORM_DATE}, "
        f"found {lpr_date}",
    )
    table = load_lpr_table()
    try:
        published = table.in_force(lpr_date)
    except LprUnknown:
        return  # newer than the table: taken on trust, never refused
    expected = published.rate(tenor)
    require(
        lpr == expected,
        "lpr_mismatch",
        f"expected {what} to be the {tenor} LPR in force on {lpr_date}, "
        f"{_pct(expected)} (published {published.published_on}), found {_pct(lpr)}",
    )


def _contract_pricing(event: LoanEvent, p: ContractSigned) -> None:
    pricing = p.pricing
    if pricing is None:
        return
    signed_on = p.e_signature.signed_at.astimezone(CHINA_TZ).date()
    require(
        pricing.lpr_date <= signed_on,
        "lpr_date_after_signing",
        f"expected pricing.lpr_date on or before signing on {signed_on}, "
        f"found {pricing.lpr_date}",
    )
    check_lpr(pricing.tenor, pricing.base_lpr, pricing.lpr_date, "pricing.base_lpr")


def _repricing(event: LoanEvent, p: Repricing) -> None:
    not_after(event, p.effective_date, "effective_date")
    check_lpr(p.tenor, p.lpr, p.lpr_date, "lpr")


intrinsic.register("contract_signed", _contract_pricing)
intrinsic.register("repricing", _repricing)


def rate_periods(state: LoanState) -> tuple[RatePeriod, ...]:
    """The rates in force, oldest first: the agreement's, then each repricing after it.

    The agreement is the contract, or the latest restructuring or extension (展期) from its
    effective date; repricings effective before that date belong to the old terms and are
    left out."""
    if state.contract is None:
        return ()
    c = state.contract
    pricing = c.payload.pricing
    start = state.first_value_date or (state.terms.since if state.terms else date.min)
    base = RatePeriod(
        start, c.payload.annual_rate, c.event_id,
        pricing.base_lpr if pricing else None, pricing.lpr_date if pricing else None,
        pricing.spread_bp if pricing else None, pricing.tenor if pricing else None,
    )
    # The latest agreement (重组 or 展期) by effective date, then event time, restates it.
    agreements = [(f.payload.effective_date, f.occurred_at, f.payload.annual_rate, f.event_id)
                  for f in state.restructurings]
    agreements += [(x.fact.payload.effective_date, x.fact.occurred_at, x.annual_rate,
                    x.fact.event_id) for x in state.adjustments.extensions]
    if agreements:
        day, _, rate, event_id = max(agreements, key=lambda a: (a[0], a[1]))
        base = RatePeriod(day, rate, event_id)
    later = sorted(
        (f for f in state.repricings if f.payload.effective_date > base.start),
        key=lambda f: f.payload.effective_date,
    )
    return (base, *(
        RatePeriod(f.payload.effective_date, f.payload.new_rate, f.event_id, f.payload.lpr,
                   f.payload.lpr_date, f.payload.spread_bp, f.payload.tenor)
        for f in later
    ))


def rate_on(state: LoanState, day: date) -> Decimal | None:
    """The annual rate in force on `day` (None before the loan has a contract)."""
    periods = rate_periods(state)
    rate = periods[0].annual_rate if periods else None
    for period in periods:
        if period.start <= day:
            rate = period.annual_rate
    return rate


def _check_recent_lpr(p: Repricing) -> None:
    """The LPR a reset uses is the latest published: the one in force on the repricing date
    or the day before (contracts say either). An older one is a finding, not a refusal: the
    figure itself was published, and a contract may name another reference month."""
    table = load_lpr_table()
    before = p.effective_date - timedelta(days=1)
    if not (table.covers(before) and table.covers(p.effective_date)):
        return
    allowed = {table.in_force(before).published_on, table.in_force(p.effective_date).published_on}
    used = table.in_force(p.lpr_date).published_on
    require(
        used in allowed,
        "repricing_stale_lpr",
        f"expected the LPR in force on the repricing date {p.effective_date} "
        f"(published {max(allowed)}), found the one published {used}",
    )


def on_repricing(
    state: LoanState, event: LoanEvent, p: Repricing, _: Catalogue | None
) -> LoanState:
    assert state.contract is not None  # the gate requires the contract first
    c = state.contract.payload
    pricing = c.pricing
    require(
        pricing is not None,
        "repricing_fixed_rate",
        f"expected a floating-rate contract (a pricing block), found {c.contract_no} "
        f"at a fixed {_pct(c.annual_rate)}",
    )
    assert pricing is not None
    require(
        p.contract_no == c.contract_no,
        "repricing_wrong_contract",
        f"expected contract_no {c.contract_no}, found {p.contract_no}",
    )
    require(
        p.tenor == pricing.tenor and p.spread_bp == pricing.spread_bp,
        "repricing_terms_mismatch",
        f"expected the contract's {pricing.tenor} LPR + {pricing.spread_bp} bp, "
        f"found {p.tenor} LPR + {p.spread_bp} bp",
    )
    first = need_disbursed(state, "a repricing")
    require(
        is_repricing_date(pricing.repricing, first, p.effective_date),
        "repricing_off_schedule",
        f"expected effective_date on a repricing date of the contract "
        f"({pricing.repricing.label_zh}, from the value date {first}), "
        f"found {p.effective_date}",
    )
    _check_recent_lpr(p)
    require(
        all(f.payload.effective_date != p.effective_date for f in state.repricings),
        "duplicate_repricing",
        f"expected one repricing for {p.effective_date}, found one applied already",
    )
    if p.previous_rate is not None:
        before = rate_on(state, p.effective_date - timedelta(days=1))
        require(
            before == p.previous_rate,
            "previous_rate_mismatch",
            f"expected previous_rate to be the rate in force on "
            f"{p.effective_date - timedelta(days=1)}, "
            f"{_pct(before) if before is not None else 'none'}, found {_pct(p.previous_rate)}",
        )
    fact = Fact(event.event_id, event.occurred_at, p)
    terms = state.terms
    if terms is not None and p.effective_date > terms.since:
        changes = (*terms.rate_changes, RateChange(p.effective_date, p.new_rate))
        terms = replace(terms, rate_changes=tuple(sorted(changes, key=lambda c: c.effective_date)))
    return replace(state, repricings=(*state.repricings, fact), terms=terms)
