"""A loan's repayment schedule from its terms: the one function every view builds it with.

`loan show`, the monitoring job, the legal workbench and the claim (through
`lending_core.interest.schedules_for`) all call `schedule_for`, so a loan's due dates are
the same wherever they are read. The terms are either the state's terms in force
(`lending_core.state.Terms`: the contract's, or the latest restructuring's) or the arrears
inputs (`lending_core.interest_model.LoanTerms`); both carry `due_day` and `first_due_date`.

Due dates (see `lending_core.schedule` for the arithmetic): a contract's `first_due_date`
(首期还款日) is period 1's due date whenever it falls after the schedule's start; later
periods fall due monthly on `due_day`, or on the first due date's day when the contract
names no due day. Without a first due date (or for a later disbursement that starts after
it), period 1 falls due in the month after the start, on `due_day` or the start's own day.
Ignoring `first_due_date` put due dates on the value date's day: penalty interest charged to
a borrower who paid on the contract's date.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from lending_core.interest_model import LoanTerms
from lending_core.schedule import RepaymentMethod, RepaymentSchedule, build_schedule
from lending_core.state.model import Terms

__all__ = ["schedule_for"]


def schedule_for(terms: Terms | LoanTerms, principal: Decimal, start: date) -> RepaymentSchedule:
    """The schedule of `principal` lent on `start` under `terms` (see the module doc)."""
    if isinstance(terms, LoanTerms):
        method = terms.method
    else:
        method = RepaymentMethod(terms.repayment_method)
    first = terms.first_due_date
    if first is not None and first <= start:
        first = None  # a later disbursement: its own first month, on the contract's due day
    due_day = terms.due_day
    if due_day is None and terms.first_due_date is not None:
        due_day = terms.first_due_date.day
    # A floating rate: the rate in force on `start`, then the resets after it. Resets dated
    # before the terms took effect (a restructuring's `since`) belong to the old terms.
    since = getattr(terms, "since", None)
    changes = tuple(c for c in terms.rate_changes if since is None or c.effective_date > since)
    rate = terms.annual_rate
    for change in sorted(changes, key=lambda c: c.effective_date):
        if change.effective_date <= start:
            rate = change.annual_rate
    return build_schedule(method, principal, rate, terms.term_months, start,
                          due_day, first, changes)
