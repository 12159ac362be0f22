"""The lending domain's error family.

Every error here derives from `LendingError`, itself a `cunzheng_verify.errors.CunzhengError` (the
project's root error, below every package), so the service and the CLI can turn any of them
into one clear message.
"""

from __future__ import annotations

from cunzheng_verify.errors import CunzhengError

__all__ = [
    "ArrearsInputError",
    "CatalogueError",
    "EventValidationError",
    "LendingError",
    "LoanStateError",
    "MoneyFormatError",
    "ProductTermsError",
    "ScheduleError",
    "UnknownEventType",
    "UnknownProduct",
]


class LendingError(CunzhengError):
    """Root of the lending domain's errors."""


class CatalogueError(LendingError):
    """The product catalogue file is malformed; `errors` lists each problem with its field."""

    def __init__(self, message: str, errors: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.errors: list[dict[str, str]] = list(errors or [])

    def diagnostics(self) -> str:
        lines = [str(self)]
        lines.extend(f"  {e['field']}: {e['message']}" for e in self.errors)
        return "\n".join(lines)


class UnknownProduct(LendingError):
    """A product code that the catalogue does not contain."""

    def __init__(self, code: str, known: list[str]) -> None:
        super().__init__(f"unknown product code {code!r}: expected one of {', '.join(known)}")
        self.code = code
        self.known = list(known)


class ProductTermsError(LendingError):
    """Loan terms outside what the product allows; `violations` names each one."""

    def __init__(self, product_code: str, violations: list[str]) -> None:
        super().__init__(
            f"terms do not fit product {product_code}: " + "; ".join(violations)
        )
        self.product_code = product_code
        self.violations = list(violations)


class EventValidationError(LendingError):
    """An event payload failed its schema.

    `errors` is a list of `{"field": "payload.amount", "message": ...}`, field paths dotted
    and prefixed `payload.` (list indices as numbers: `payload.parties.0.credit_code`).
    """

    def __init__(
        self, event_type: str, errors: list[dict[str, str]], message: str | None = None
    ) -> None:
        if message is None:
            first = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:3])
            more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
            message = f"invalid {event_type} payload: {first}{more}"
        super().__init__(message)
        self.event_type = event_type
        self.errors: list[dict[str, str]] = list(errors)

    def diagnostics(self) -> str:
        lines = [f"invalid {self.event_type} payload:"]
        lines.extend(f"  {e['field']}: {e['message']}" for e in self.errors)
        return "\n".join(lines)


class UnknownEventType(EventValidationError):
    """An event `type` that is not one of the known event types."""

    def __init__(self, event_type: str, known: list[str]) -> None:
        message = f"unknown event type {event_type!r}: expected one of {', '.join(known)}"
        super().__init__(event_type, [{"field": "type", "message": message}], message)
        self.known = list(known)


class LoanStateError(LendingError):
    """An event that cannot happen in the loan's current state.

    `code` is a stable machine-readable reason (e.g. `over_disbursement`), `reason` the text
    for people saying what was expected and what was found.
    """

    def __init__(self, event_id: str, event_type: str, code: str, reason: str) -> None:
        super().__init__(f"event {event_id} ({event_type}) rejected: {reason}")
        self.event_id = event_id
        self.event_type = event_type
        self.code = code
        self.reason = reason


class MoneyFormatError(LendingError):
    """A money string or amount is not a decimal with exactly two places in range."""


class ScheduleError(LendingError):
    """Repayment schedule inputs are out of range (principal, rate, term, due day)."""


class ArrearsInputError(LendingError):
    """Arrears inputs are inconsistent (dates out of order, amounts out of range)."""
