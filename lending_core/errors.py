"""The project's root error and the lending domain's error family.

Every error a user can cause derives from `CunzhengError`, so the service and the CLI can
turn any of them into one clear message (problem+json, or one line and a non-zero exit).
The root lives here because `lending_core` imports no other project package; `anchoring`,
`dispute` and `service` derive their own families from it.
"""

from __future__ import annotations


class CunzhengError(Exception):
    """Root of every error the project raises on purpose."""

    def diagnostics(self) -> str:
        """A text for people: what was expected, what was found."""
        return str(self)


class LendingError(CunzhengError):
    """Root of the lending domain's errors."""
