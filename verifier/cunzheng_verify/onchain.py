"""Step 6 of verification, on chain (only with a `ChainView`): consensus-critical.

The node must be on the package's chain and the contract must run the committed
AnchorRegistry artifact. For each checkpoint: the named transaction succeeded in the named
block and emitted `Anchored(size, root, previousSize)` from the contract, `rootAt(size)`
is that root, the block is on the canonical chain with the named time, it has enough
confirmations (a warning otherwise), and every named cosigner is on chain. An item whose
leaf an earlier anchor already contained gets a warning: that earlier block time is the
tighter bound.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import partial
from typing import Any

from cunzheng_verify.chain import ANCHORED_TOPIC, ChainReceipt, ChainView
from cunzheng_verify.checks import Verifier
from cunzheng_verify.decode import Anchor, CheckpointEntry, ItemEntry, Problem
from cunzheng_verify.records import format_utc
from cunzheng_verify.report import Status

_TX = re.compile(r"0x[0-9a-fA-F]{64}")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


def _anchored_events(r: ChainReceipt, contract: str) -> list[tuple[int, bytes, int]]:
    """`(size, root, previous size)` of each Anchored event the contract emitted."""
    return [(int.from_bytes(lg.topics[1], "big"), lg.data[:32],
             int.from_bytes(lg.data[32:64], "big")) for lg in r.logs
            if lg.address.lower() == contract.lower() and len(lg.topics) == 2
            and lg.topics[0] == ANCHORED_TOPIC and len(lg.data) == 64]


def _anchor(chain: ChainView, contract: str, cp: CheckpointEntry,
            previous: dict[int, int]) -> str:
    a = cp.anchor
    if not isinstance(a.tx_hash, str) or not _TX.fullmatch(a.tx_hash):
        raise Problem(f"tx_hash {a.tx_hash!r} is not a transaction hash")
    r = chain.receipt(a.tx_hash)
    if r is None:
        raise Problem(f"transaction {a.tx_hash} is not on the chain")
    if r.status != 1:
        raise Problem(f"transaction {a.tx_hash} failed (status {r.status})")
    if (r.block_number, r.block_hash.lower()) != (a.block_number, str(a.block_hash).lower()):
        raise Problem(f"transaction is in block {r.block_number} ({r.block_hash}), "
                      f"the package names {a.block_number} ({a.block_hash})")
    events = _anchored_events(r, contract)
    match = [e for e in events if e[:2] == (cp.size, cp.root)]
    if not match:
        shown = ", ".join(f"size {s} root {r_.hex()}" for s, r_, _ in events) or "none"
        raise Problem(f"the transaction anchored {shown} in {contract}; expected "
                      f"size {cp.size} root {cp.root.hex()}")
    previous[cp.size] = match[0][2]
    on_chain = chain.root_at(contract, cp.size)
    if on_chain != cp.root:
        raise Problem(f"rootAt({cp.size}) is "
                      f"{on_chain.hex() if on_chain else 'unset'}, expected "
                      f"{cp.root.hex()}")
    return (f"{a.tx_hash} anchored size {cp.size} root {cp.root.hex()} in "
            f"block {r.block_number}")


def _block(chain: ChainView, a: Anchor) -> str:
    found = chain.block(a.block_number)
    if found is None or found[0].lower() != str(a.block_hash).lower():
        raise Problem(f"block {a.block_number} on the canonical chain is "
                      f"{found[0] if found else 'absent'}, the package names "
                      f"{a.block_hash} (reorg?)")
    when = format_utc(datetime.fromtimestamp(found[1], UTC))
    if when != a.block_time:
        raise Problem(f"block time is {when}, the package names {a.block_time}")
    return f"block {a.block_number} at {when}"


def _cosigners(chain: ChainView, contract: str, cp: CheckpointEntry) -> Any:
    found = {a.lower() for a in chain.cosigners(contract, cp.size)}
    named = [str(c.get("address", "")) if isinstance(c, dict) else str(c)
             for c in cp.cosigners]
    missing = [n for n in named if n.lower() not in found]
    if missing:
        raise Problem(f"named cosigners not on chain: {', '.join(missing)}")
    if not found:
        return Status.WARNING, "no witness has cosigned this checkpoint"
    return f"{len(found)} witness(es) cosigned: {', '.join(sorted(found))}"


def _network_and_code(v: Verifier, chain: ChainView, expected_code: bytes) -> bool:
    """The node's chain and the contract's code; False when the node is on another chain."""
    want = v.m.chain
    contract = str(want.contract)

    def network() -> str:
        found = chain.chain_id()
        if found != want.chain_id:
            raise Problem(f"the node is on chain {found}, the package names {want.chain_id}")
        return f"chain {found}"
    if v.check("chain.network", network) is None:
        v.report.add("chain.anchor", Status.SKIPPED, "not on the package's chain")
        return False

    def code() -> str:
        if not _ADDRESS.fullmatch(contract):
            raise Problem(f"contract {contract!r} is not an address")
        found = chain.code(contract)
        if found != expected_code:
            what = "no code" if not found else f"{len(found)} bytes of other code"
            raise Problem(f"{contract} holds {what}; the committed artifact's runtime "
                          f"code is {len(expected_code)} bytes")
        return f"{contract} runs the committed AnchorRegistry artifact"
    v.check("chain.code", code, subject=contract)
    return True


def on_chain(v: Verifier, chain: ChainView, expected_code: bytes, min_confirmations: int,
             items: list[ItemEntry]) -> None:
    """Add the on-chain steps for every checkpoint (and the earliest-anchor warnings)."""
    if not _network_and_code(v, chain, expected_code):
        return
    contract = str(v.m.chain.contract)
    try:
        head = chain.head()
    except Exception as exc:  # noqa: BLE001 - any node failure becomes a failed step
        v.report.add("chain.anchor", Status.FAILED, f"node did not answer: {exc}")
        return
    previous: dict[int, int] = {}
    for size, cp in sorted(v.checkpoints.items()):
        subject = f"checkpoint {size}"
        anchored = v.check("chain.anchor", partial(_anchor, chain, contract, cp, previous),
                           subject=subject)
        v.check("chain.block", partial(_block, chain, cp.anchor), subject=subject)
        if anchored is None:
            continue
        depth = head - int(cp.anchor.block_number) + 1
        v.report.add("chain.confirmations",
                     Status.OK if depth >= min_confirmations else Status.WARNING,
                     f"{depth} confirmation(s), {min_confirmations} required", None, subject)
        v.check("chain.cosigners", partial(_cosigners, chain, contract, cp), subject=subject)
    for it in items:
        prev = previous.get(it.checkpoint_size)
        if prev is not None and prev > it.leaf_index:
            v.report.add("chain.earliest", Status.WARNING,
                         f"an earlier anchor of size {prev} already contained leaf "
                         f"{it.leaf_index}; its block time is a tighter bound", it.no)
