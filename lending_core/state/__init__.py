"""A loan's state, rebuilt from its events by a pure fold (`apply`, `rebuild`).

The state keeps facts, not arithmetic: what was agreed, paid out, received, missed,
notified, declared due, restructured, written off and settled. Interest and schedules are
computed elsewhere (`schedule`, `interest`) from these facts. `apply` refuses an event that
cannot happen given the events before it, raising `LoanStateError` with a stable `code`
(and `EventValidationError` first if the payload does not fit its schema).

Two orders (DESIGN.md, "Event time and arrival order"). Arrival order is the log's (the
leaf index, `LoanEvent.seq`); the loan order is `occurred_at`, ties broken by arrival.
`rebuild` folds in loan order whatever the arrival order, so a late event changes the state
as if it had come on time, and `history` also tells which arrival revealed or resolved each
finding. `apply` is the strict single step: it raises `LoanStateError` with a stable `code`
for any event that cannot follow the state. `rebuild` and `step` are lenient: such an event
is recorded as a `Finding` (the code, the reason, the event) and leaves the state as it was.
Only what is false on its own (`rules.INTRINSIC`, checked by `check_intrinsic`) is refused
at ingestion: dates inside payloads (value dates, due dates) are business dates in China
Standard Time (UTC+8) and may not be later than the event's own `occurred_at` taken in that
zone (`future_dated`): an event cannot report money that has not moved yet; instants inside
payloads (signed_at, sent_at, delivered_at, decided_at) may not be later either. An event id
seen twice is one event. The same missed installment recorded twice (core banking and the
monitoring job) is one fact; a missed installment that an earlier repayment named is
recorded as repaid.

Phases: before a contract only `credit_decision` and `contract_signed` are accepted
(`before_contract`); after it, neither is (`decision_after_contract`, `second_contract`:
new terms come as `restructuring`); after `settlement` only notices are
(`loan_settled`), since a settlement confirmation or a late delivery receipt can still
follow. A write-off keeps the claim alive (账销案存): repayments after it are recoveries.
"""

from lending_core.state.fold import (
    FindingRecord,
    apply,
    check_intrinsic,
    history,
    loan_order,
    rebuild,
    step,
)
from lending_core.state.model import (
    CHINA_TZ,
    DERIVED_SYSTEMS,
    Fact,
    Finding,
    LoanEvent,
    LoanState,
    LoanStatus,
    MissedInstallment,
    NoticeRecord,
    Terms,
)

__all__ = [
    "CHINA_TZ",
    "DERIVED_SYSTEMS",
    "Fact",
    "Finding",
    "FindingRecord",
    "LoanEvent",
    "LoanState",
    "LoanStatus",
    "MissedInstallment",
    "NoticeRecord",
    "Terms",
    "apply",
    "check_intrinsic",
    "history",
    "loan_order",
    "rebuild",
    "step",
]
