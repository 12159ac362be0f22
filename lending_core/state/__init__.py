"""A loan's state, rebuilt from its events by a pure fold (`apply`, `rebuild`).

The state keeps facts, not arithmetic: what was agreed, paid out, received, missed,
notified, declared due, restructured, written off and settled. Interest and schedules are
computed elsewhere (`schedule`, `interest`) from these facts. `apply` refuses an event that
cannot happen given the events before it, raising `LoanStateError` with a stable `code`
(and `EventValidationError` first if the payload does not fit its schema).

Ordering rule (the ledger's order is the loan's order). Events are applied in the order
given. An event is refused as `duplicate_event` if its `event_id` was applied before, and
as `out_of_order` if its `occurred_at` is earlier than the `occurred_at` of the last event
applied (which, by this rule, is the greatest so far); an equal `occurred_at` is accepted,
and such events keep the order given. Dates inside payloads (value dates, due dates) are
business dates in China Standard Time (UTC+8, no daylight saving since 1991) and may not be
later than the event's own `occurred_at` taken in that zone (`future_dated`): an event
cannot report money that has not moved yet. Instants inside payloads (signed_at, sent_at,
delivered_at, decided_at) may not be later than `occurred_at` either.

Phases: before a contract only `credit_decision` and `contract_signed` are accepted
(`before_contract`); after it, neither is (`decision_after_contract`, `second_contract`:
new terms come as `restructuring`); after `settlement` only notices are
(`loan_settled`), since a settlement confirmation or a late delivery receipt can still
follow. A write-off keeps the claim alive (账销案存): repayments after it are recoveries.
"""

from lending_core.state.fold import apply, rebuild
from lending_core.state.model import (
    CHINA_TZ,
    Fact,
    LoanEvent,
    LoanState,
    LoanStatus,
    MissedInstallment,
    NoticeRecord,
    Terms,
)

__all__ = [
    "CHINA_TZ",
    "Fact",
    "LoanEvent",
    "LoanState",
    "LoanStatus",
    "MissedInstallment",
    "NoticeRecord",
    "Terms",
    "apply",
    "rebuild",
]
