"""The auditor page's read model: log size, latest checkpoints, anchoring lag over time,
witnesses and their last cosignature, and the self-audit (fsck) run on demand.

Lag is the anchor's block time minus the checkpoint's `signed_at`: how long a signed
checkpoint waited before the chain fixed it. The last fsck result is kept in the
`job_state` table under `FSCK_KEY`, so every API worker shows the same one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from anchoring.anchor_store import AnchorRow
from anchoring.fsck import fsck
from cunzheng_verify.records import format_utc
from service.context import AppContext

FSCK_KEY = "fsck.last"
MAX_LAG_POINTS = 200
"""Anchors drawn in the lag chart (the most recent)."""
CHECKPOINTS_SHOWN = 10


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class LagPoint:
    tree_size: int
    signed_at: str
    block_time: str
    lag_seconds: float


@dataclass(frozen=True, slots=True)
class Witness:
    address: str
    cosignatures: int
    last_tree_size: int
    last_block_number: int
    last_block_time: str | None


def lag_points(ctx: AppContext, limit: int = MAX_LAG_POINTS) -> list[LagPoint]:
    out = []
    for size, signed_at, block_time in reversed(ctx.anchors.anchoring_times(limit)):
        a, b = parse_time(signed_at), parse_time(block_time)
        if a is None or b is None:
            continue
        out.append(LagPoint(size, signed_at, block_time, (b - a).total_seconds()))
    return out


def witnesses(ctx: AppContext) -> list[Witness]:
    out = [Witness(*summary) for summary in ctx.anchors.witness_summaries()]
    out.sort(key=lambda w: -w.last_tree_size)
    return out


def recent_checkpoints(ctx: AppContext, limit: int = CHECKPOINTS_SHOWN) -> list[dict[str, Any]]:
    rows = ctx.store.list_checkpoints(limit, None)
    out = []
    for cp in rows:
        a: AnchorRow | None = ctx.anchors.get(cp.tree_size)
        out.append({"tree_size": cp.tree_size, "root": cp.root.hex(), "signed_at": cp.signed_at,
                    "anchor": a.as_dict() if a else None})
    return out


def last_fsck(ctx: AppContext) -> dict[str, Any] | None:
    raw = ctx.anchors.get_value(FSCK_KEY)
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def run_fsck(ctx: AppContext, who: str) -> dict[str, Any]:
    """Re-derive the whole log from storage; keep and return the result."""
    started = ctx.clock()
    report = fsck(ctx.store, key_name=ctx.log.signer.name, public_key=ctx.log.signer.public_key,
                  origin=ctx.log.origin)
    finished = ctx.clock()
    result = {**report.as_json(), "findings": report.as_json()["findings"][:50],
              "finding_count": len(report.findings), "ran_at": format_utc(finished),
              "seconds": round((finished - started).total_seconds(), 3), "by": who}
    ctx.anchors.set_value(FSCK_KEY, json.dumps(result, ensure_ascii=False))
    return result
