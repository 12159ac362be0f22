"""Reversals (冲正) and corrections (调账): which events the fold takes as they are posted.

`effective(events)` returns the events to fold and notes on what was reversed or corrected.
Corrections never rewrite: both the original and its reversal stay in the log; only the
fold takes the original out (or in its corrected form).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def effective(events: Sequence[Any]) -> tuple[list[Any], tuple[Any, ...]]:
    """The events to fold, in the order given, and notes on reversals and corrections."""
    return list(events), ()
