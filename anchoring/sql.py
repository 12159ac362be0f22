"""Small SQL helpers the log's stores share: an index-friendly `(a, b) IN pairs` and reading
a BLOB column back as bytes whatever the driver hands over."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, false, or_


def pairs_in(first: Any, second: Any, pairs: Sequence[tuple[Any, Any]]) -> ColumnElement[bool]:
    """`(first, second) IN pairs`, written so every database uses its index: SQLite 3.40
    plans a row-value IN as a full table scan, so group by the first column instead."""
    grouped: dict[Any, list[Any]] = {}
    for a, b in pairs:
        grouped.setdefault(a, []).append(b)
    if not grouped:
        return false()
    return or_(*[and_(first == a, second.in_(bs)) for a, bs in grouped.items()])


def as_bytes(value: Any) -> bytes:
    """A BLOB column's value as bytes."""
    # SQLite hands back TEXT if someone rewrote a BLOB with a string function; fsck must
    # still read it (and find it changed) rather than crash.
    return value.encode("utf-8", "surrogateescape") if isinstance(value, str) else bytes(value)
