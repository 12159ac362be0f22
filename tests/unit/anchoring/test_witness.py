"""The witness on an in-process EVM against the real app: cosigns what checks out, refuses
a forged anchor (a root the log never signed) and a checkpoint that rewrites history."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from web3 import EthereumTesterProvider, Web3

from anchoring.anchor_job import AnchoringJob, AnchorJobConfig
from anchoring.anchor_store import AnchorStore
from anchoring.chain import Web3Chain
from anchoring.registry import deploy_registry
from anchoring.witness import HttpLogSource, Witness, WitnessError, WitnessState, first_state
from cunzheng_verify import merkle
from service.settings import Settings
from tests.conftest import make_event
from tests.integration.api_client import Api, running_api


@pytest.fixture
def setup(tmp_path: Path):
    w3 = Web3(EthereumTesterProvider())
    a = w3.eth.accounts
    record = deploy_registry(w3, a[0], anchorers=[a[1]], witnesses=[a[2]])
    settings = Settings(data_dir=tmp_path / "data", anchor_enabled=False, checkpoint_interval=0.05)
    with running_api(settings) as api:
        anchorer = Web3Chain(w3, record.address, sender=a[1])
        job = AnchoringJob(api.ctx.log, AnchorStore(api.ctx.engine), anchorer,
                           AnchorJobConfig(holder="t", confirmations=1),
                           lambda: datetime.now(UTC))
        witness_chain = Web3Chain(w3, record.address, sender=a[2])
        signer = api.ctx.log.signer
        state = first_state(origin=api.ctx.log.origin, key_name=signer.name,
                            public_key=signer.public_key, contract=record.address,
                            chain_id=witness_chain.chain_id)
        source = HttpLogSource(api.client, api.key("auditor"))
        yield api, job, anchorer, Witness(witness_chain, source, state, tmp_path / "w.json")


def _post(api: Api, start: int, n: int) -> None:
    events = [make_event(f"e-{i}", f"L-{i}") for i in range(start, start + n)]
    assert api.post_events(events).status_code == 201


def test_witness_cosigns_consistent_anchors_and_keeps_state(setup, tmp_path: Path) -> None:
    api, job, chain, witness = setup
    _post(api, 0, 4)
    job.run_once()
    _post(api, 4, 5)
    job.run_once()
    outcomes = witness.run_once()
    assert [(o.tree_size, o.cosigned) for o in outcomes] == [(4, True), (9, True)]
    assert chain.registry.cosigners(9) == [witness.chain.sender]
    saved = WitnessState.load(tmp_path / "w.json")
    assert (saved.last_size, saved.last_root) == (9, api.ctx.store.root(9).hex())
    job.run_once()  # the job records the cosignature from the chain's events
    facts = api.request("GET", "/v1/log/checkpoints/9", role="auditor").json()["anchor"]
    assert facts["tx_hash"].startswith("0x")
    assert facts["cosigners"][0]["address"] == witness.chain.sender
    assert witness.run_once() == []  # nothing new


def test_witness_refuses_a_root_the_log_never_signed(setup, tmp_path: Path) -> None:
    api, job, chain, witness = setup
    _post(api, 0, 3)
    job.run_once()
    assert [o.cosigned for o in witness.run_once()] == [True]
    # A compromised anchorer anchors a tree that extends the first 3 leaves with 2 forged
    # ones: the contract accepts it (it is append-only), the witness must not.
    real = [bytes.fromhex(h) for h in
            api.request("GET", "/v1/log/leaves?start=0&end=3",
                        role="auditor").json()["leaf_hashes"]]
    forged = merkle.MemoryTree(real + [merkle.leaf_hash(b"forged-1"),
                                       merkle.leaf_hash(b"forged-2")])
    chain.send_anchor(5, forged.root(), forged.consistency_proof(3, 5))
    _post(api, 3, 2)  # the log really has 5 leaves, with another root
    api.wait_checkpoint(5)
    outcomes = witness.run_once()
    assert len(outcomes) == 1 and not outcomes[0].cosigned
    assert "the log signed" in outcomes[0].detail
    assert chain.registry.cosigners(5) == []
    state = WitnessState.load(tmp_path / "w.json")
    assert state.last_size == 3 and state.refused[0]["tree_size"] == 5


def test_witness_refuses_a_checkpoint_signed_by_another_key(setup, tmp_path: Path) -> None:
    api, job, _chain, witness = setup
    witness.state.public_key = "A" * 43 + "="  # pinned key differs from the log's
    _post(api, 0, 2)
    job.run_once()
    [outcome] = witness.run_once()
    assert not outcome.cosigned and "no signature" in outcome.detail


def test_witness_state_must_match_the_chain(setup, tmp_path: Path) -> None:
    _api, _job, _chain, witness = setup
    other = WitnessState(**{**witness.state.__dict__, "contract": "0x" + "11" * 20})
    with pytest.raises(WitnessError, match="watches contract"):
        Witness(witness.chain, witness.log, other, tmp_path / "x.json")
