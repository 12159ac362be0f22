"""The project's root error, below every package.

Every error a user can cause derives from `CunzhengError`, so the service and the CLI can
turn any of them into one clear message (problem+json, or one line and a non-zero exit).
Each package keeps its own family under it (`lending_core.errors`, `anchoring.errors`,
`dispute.errors`, `service.errors`). This module imports nothing from the project, so every
package may import it without depending on another.
"""

from __future__ import annotations

__all__ = ["CunzhengError"]


class CunzhengError(Exception):
    """Root of every error the project raises on purpose."""

    def diagnostics(self) -> str:
        """A text for people: what was expected, what was found."""
        return str(self)
