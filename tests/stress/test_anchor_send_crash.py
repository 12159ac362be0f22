"""A crash at the worst moment of anchoring: the node has accepted the anchoring transaction
(it is mined), but `cunzheng serve` dies before it hears back, so the submission was never
recorded. After the restart the service must know the chain holds that anchor: report it
(/v1/log/anchors, an event's anchor facts) and anchor the next size on top of it, once.

A JSON-RPC proxy between serve and anvil forwards `eth_sendTransaction` and SIGKILLs serve
before passing the answer on. The dead process's anchoring lease is expired by hand: waiting
out its 30 s is the crash drill's business, not this test's."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, update

from anchoring.tables import job_state
from tests.integration.chain_nodes import RpcProxy, anvil_binary, anvil_node, free_port, rpc
from tests.stress.harness import (
    Api,
    Load,
    Serve,
    chain_anchors,
    check_chain_anchors,
    create_key,
    final_anchor_of,
    stress_env,
    wait_for,
)

pytestmark = [pytest.mark.slow, pytest.mark.chain]


def test_an_anchor_sent_but_not_recorded_before_a_crash_is_recorded_after_it(
        tmp_path: Path) -> None:
    assert anvil_binary(), "anvil is missing: run `make node-deps` (CI installs it)"
    with anvil_node() as url, RpcProxy(url) as proxy:
        data = tmp_path / "data"
        env = stress_env(data, CUNZHENG_CHAIN_RPC=proxy.url, CUNZHENG_ANCHOR_INTERVAL="0.5")
        lender, auditor = create_key(env, "lender", "bank-a"), create_key(env, "auditor")
        serve = Serve(env, free_port())
        api = Api(serve.url, lender, auditor)
        posted = Load(serve.url, lender, rate=1, prefix="w")
        try:
            serve.start()
            posted.post(5)
            wait_for("anchor 5 included", lambda: any(a["tree_size"] == 5 for a in api.anchors()),
                     60, 0.2)
            rpc(url, "evm_mine")
            wait_for("anchor 5 final", lambda: final_anchor_of(api, 5), 30, 0.2)

            def die(_answer: object) -> bool:
                serve.kill9()  # the transaction is in the node; serve never hears its hash
                return False

            proxy.on("eth_sendTransaction", die)
            posted.post(3)
            wait_for("serve killed right after sending anchor 8", lambda: serve.proc is None, 60,
                     0.2)
            rpc(url, "evm_mine")
            assert [e.tree_size for e in chain_anchors(url, data / "deployment.json")] == [5, 8]

            engine = create_engine(f"sqlite:///{data / 'cunzheng.db'}")
            with engine.begin() as conn:  # the dead holder's lease, expired
                conn.execute(update(job_state).where(job_state.c.name == "anchoring")
                             .values(expires_at=0))
            engine.dispose()
            serve.start()
            try:
                wait_for("the service to record anchor 8, which the chain holds",
                         lambda: final_anchor_of(api, 8), 30, 0.5)
            except AssertionError as exc:
                recorded = {a["tree_size"]: a["status"] for a in api.anchors()}
                raise AssertionError(f"{exc}; the service's anchors: {recorded}") from None
            event = api.get("/v1/events/w-6", role="lender")
            assert event["anchor"]["tree_size"] == 8, event["anchor"]

            posted.post(2)
            wait_for("anchor 10 included", lambda: any(a["tree_size"] == 10 for a in api.anchors()),
                     30, 0.2)
            rpc(url, "evm_mine")
            final = wait_for("anchor 10 final", lambda: final_anchor_of(api, 10), 30, 0.2)
            assert final["previous_size"] == 8, final
            events = chain_anchors(url, data / "deployment.json")
            assert [e.tree_size for e in events] == [5, 8, 10]
            violations = check_chain_anchors(events, api)
            assert not violations, violations
        finally:
            serve.cleanup()
