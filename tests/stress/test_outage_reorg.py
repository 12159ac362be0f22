"""The chain fails under the log, the log does not notice.

- Outage: `cunzheng serve` anchors to a devnet process this test owns; under load the devnet
  is stopped for OUTAGE seconds (20; 60 with CUNZHENG_STRESS_FULL=1) and started again on
  its data directory. Every event posted meanwhile is acknowledged; when the chain is back,
  anchoring catches up to a final anchor of the whole log; nothing is lost; no size is
  anchored twice; anchors made before the outage are still where they were.
- Reorg (anvil): an anchoring transaction seen included is (1) moved to another block by
  a reorg: the job follows it to its new block and confirmations count from there; and
  (2) dropped by a reorg: the job notices (back to `submitted`, noting the reorg), waits out
  the drop period, resubmits (attempts 2), and the new transaction becomes final.

anvil is the binary `make node-deps` installs; CI installs it, so a missing anvil fails.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.chain_nodes import DevnetNode, anvil_binary, anvil_node, free_port, rpc
from tests.stress.harness import (
    Api,
    Load,
    Serve,
    chain_anchors,
    check_chain_anchors,
    check_log,
    create_key,
    final_anchor_of,
    stress_env,
    wait_for,
)

pytestmark = [pytest.mark.slow, pytest.mark.chain]
FULL = os.environ.get("CUNZHENG_STRESS_FULL") == "1"
OUTAGE_SECONDS = 60.0 if FULL else 20.0
CATCH_UP_TIMEOUT = 150.0
"""Backoff doubles up to 60 s while the chain is down, so the first round after it is back
may come up to a minute later; then a round and two confirmations."""
DROP_TIMEOUT = 150.0
"""The job waits 60 s (AnchorJobConfig.drop_after_seconds) before resubmitting a
transaction no node knows any more."""


def _service(tmp_path: Path, rpc_url: str, **extra: str) -> tuple[Serve, Api, str]:
    """serve on this chain, an API client, and the lender key."""
    env = stress_env(tmp_path / "data", CUNZHENG_CHAIN_RPC=rpc_url, **extra)
    lender, auditor = create_key(env, "lender", "bank-a"), create_key(env, "auditor")
    serve = Serve(env, free_port())
    return serve, Api(serve.url, lender, auditor), lender


def _anchor(api: Api, size: int) -> dict[str, Any] | None:
    return next((a for a in api.anchors() if a["tree_size"] == size), None)


def test_chain_outage_under_load(tmp_path: Path) -> None:
    chain = DevnetNode(tmp_path / "chain", block_time=1.0)
    chain.start()
    serve, api, lender = _service(tmp_path, chain.url)
    load = Load(serve.url, lender, rate=15, prefix="out")
    try:
        serve.start()
        key_name, public_key = api.log_key()
        load.start()
        before = wait_for("a final anchor before the outage",
                          lambda: next((a for a in api.anchors() if a["status"] == "final"), None),
                          60)

        chain.stop()
        down_at, acked_at_stop = time.monotonic(), len(load.snapshot())
        time.sleep(OUTAGE_SECONDS)
        acked_in_outage = len(load.snapshot()) - acked_at_stop
        assert acked_in_outage > 0, "no event was acknowledged while the chain was down"
        assert not load.stats.refused, load.stats.refused
        size_down = api.tree_size()
        anchored_down = max((a["tree_size"] for a in api.anchors()
                             if a["status"] in ("included", "final")), default=0)

        chain.start()
        back_at = time.monotonic()
        caught_up = wait_for(f"a final anchor covering the {size_down} leaves logged in the outage",
                             lambda: next((a for a in api.anchors() if a["status"] == "final"
                                           and a["tree_size"] >= size_down), None),
                             CATCH_UP_TIMEOUT)
        catch_up = time.monotonic() - back_at
        load.stop()
        size = api.tree_size()
        wait_for(f"a checkpoint of size {size}",
                 lambda: api.get("/v1/log/checkpoint")["tree_size"] == size, 30)
        wait_for(f"a final anchor of all {size} leaves", lambda: final_anchor_of(api, size),
                 CATCH_UP_TIMEOUT)

        acked = load.snapshot()
        violations, _ = check_log(api, acked, key_name=key_name, public_key=public_key,
                                  full_reads=lambda eid: hash(eid) % 20 == 0)
        events = chain_anchors(chain.url, tmp_path / "data" / "deployment.json")
        violations += check_chain_anchors(events, api)
        assert not load.stats.refused, load.stats.refused
        assert not violations, "\n".join(violations)
        # the chain came back whole: the anchor made before the outage is where it was
        block = rpc(chain.url, "eth_getBlockByNumber", [hex(before["block_number"]), False])
        assert isinstance(block, dict) and block["hash"] == before["block_hash"]
        print(f"\noutage {OUTAGE_SECONDS:g} s: {acked_in_outage} events acknowledged while the "
              f"chain was down (log {size_down}, anchored {anchored_down}); anchor "
              f"{caught_up['tree_size']} final {catch_up:.1f} s after the chain came back "
              f"({time.monotonic() - down_at:.0f} s after it went down); {len(acked)} events, "
              f"{len(events)} anchors, sizes {[e.tree_size for e in events]}")
    finally:
        load.stop()
        serve.cleanup()
        chain.stop()


def test_reorgs_of_an_anchoring_transaction(tmp_path: Path) -> None:
    assert anvil_binary(), "anvil is missing: run `make node-deps` (CI installs it)"
    with anvil_node() as url:
        serve, api, lender = _service(tmp_path, url, CUNZHENG_ANCHOR_INTERVAL="0.5")
        posted = Load(serve.url, lender, rate=1, prefix="reorg")  # posts on demand, keeps receipts
        try:
            serve.start()
            key_name, public_key = api.log_key()

            def post(n: int) -> int:
                posted.post(n)
                assert not posted.stats.refused, posted.stats.refused
                return api.tree_size()

            # warm-up: deployed, one anchor final (anvil mines only on a transaction, so the
            # test mines the confirming block)
            size = post(5)
            wait_for(f"anchor {size} included", lambda: (_anchor(api, size) or {}).get("status")
                     == "included", 60, 0.2)
            rpc(url, "evm_mine")
            wait_for(f"anchor {size} final", lambda: final_anchor_of(api, size), 30, 0.2)

            # (1) the block holding the anchoring transaction is replaced by one that holds it too
            size = post(3)
            first = wait_for(f"anchor {size} included",
                             lambda: (a := _anchor(api, size)) and a["status"] == "included" and a,
                             60, 0.2)
            raw = rpc(url, "eth_getRawTransactionByHash", [first["tx_hash"]])
            rpc(url, "anvil_reorg", [1, [[raw, 0]]])
            new_hash = rpc(url, "eth_getBlockByNumber", [hex(first["block_number"]), False])["hash"]  # type: ignore[index]
            assert new_hash != first["block_hash"]
            moved = wait_for(f"anchor {size} followed to the new block {new_hash}",
                             lambda: ((a := _anchor(api, size))
                                      and a["block_hash"] == new_hash and a),
                             30, 0.2)
            assert moved["status"] == "included" and moved["confirmations"] == 1, moved
            assert moved["tx_hash"] == first["tx_hash"] and moved["attempts"] == 1, moved
            rpc(url, "evm_mine")
            final = wait_for(f"anchor {size} final", lambda: final_anchor_of(api, size), 30, 0.2)
            assert final["block_hash"] == new_hash, final

            # (2) the block holding the anchoring transaction is replaced by an empty one
            size = post(3)
            first = wait_for(f"anchor {size} included",
                             lambda: (a := _anchor(api, size)) and a["status"] == "included" and a,
                             60, 0.2)
            rpc(url, "anvil_reorg", [1, []])
            assert rpc(url, "eth_getTransactionByHash", [first["tx_hash"]]) is None
            noticed = wait_for(f"anchor {size} back to submitted after the reorg",
                               lambda: ((a := _anchor(api, size))
                                        and a["status"] == "submitted" and a),
                               30, 0.2)
            assert noticed["tx_hash"] == first["tx_hash"] and noticed["block_hash"] is None, noticed
            dropped_at = time.monotonic()
            again = wait_for(f"anchor {size} resubmitted and included",
                             lambda: (a := _anchor(api, size)) and a["attempts"] == 2
                             and a["status"] == "included" and a, DROP_TIMEOUT, 0.5)
            resubmitted_after = time.monotonic() - dropped_at
            assert again["tx_hash"] != first["tx_hash"], again
            rpc(url, "evm_mine")
            final = wait_for(f"anchor {size} final", lambda: final_anchor_of(api, size), 30, 0.2)
            assert final["attempts"] == 2 and final["tx_hash"] == again["tx_hash"], final

            events = chain_anchors(url, tmp_path / "data" / "deployment.json")
            assert [e.tree_size for e in events] == [5, 8, 11]
            assert events[-1].tx_hash.hex() == final["tx_hash"][2:]
            violations, _ = check_log(api, posted.snapshot(), key_name=key_name,
                                      public_key=public_key)
            violations += check_chain_anchors(events, api)
            assert not violations, "\n".join(violations)
            print(f"\nreorg: moved anchor followed to its new block; dropped anchor back to "
                  f"submitted, resubmitted {resubmitted_after:.0f} s later (attempts 2), final "
                  f"in {final['tx_hash']}")
        finally:
            serve.cleanup()
