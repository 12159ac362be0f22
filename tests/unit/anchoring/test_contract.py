"""AnchorRegistry on an in-process EVM (eth-tester / py-evm): deployment, append-only
anchoring with real RFC 9162 consistency proofs, every refusal, cosigning, views, events.

Proofs come from `cunzheng_verify.merkle` and from the independent `rfc9162_ref`, so the on-chain
verifier is held to two implementations.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from web3 import EthereumTesterProvider, Web3

from anchoring.errors import (
    DeployedCodeMismatch,
    DeploymentRecordError,
    RegistryError,
    RegistryRevert,
)
from anchoring.registry import (
    ADMIN_ROLE,
    ANCHORER_ROLE,
    WITNESS_ROLE,
    AnchorRegistryClient,
    DeploymentRecord,
    check_deployed_code,
    decode_revert,
    deploy_registry,
    load_artifact,
    load_deployment,
    save_deployment,
)
from tests.unit.anchoring import rfc9162_ref as ref

try:
    from cunzheng_verify import merkle as project_merkle
except ImportError:  # the project's Merkle module is optional for this test
    project_merkle = None

ProofFn = Callable[[int, Sequence[bytes]], list[bytes]]
IMPLS: list[tuple[str, ProofFn]] = [("rfc9162_ref", ref.consistency_proof)]
if project_merkle is not None:
    IMPLS.append(("cunzheng_verify.merkle", project_merkle.consistency_proof))


def leaves(n: int, tag: bytes = b"") -> list[bytes]:
    return [ref.leaf_hash(tag + b"event-%d" % i) for i in range(n)]


LEAVES = leaves(70)


def root(n: int, data: Sequence[bytes] = LEAVES) -> bytes:
    return ref.mth(data[:n])


def proof(
    m: int, n: int, data: Sequence[bytes] = LEAVES, impl: ProofFn = ref.consistency_proof
) -> list[bytes]:
    return impl(m, list(data[:n]))


@pytest.fixture(scope="module")
def artifact():
    return load_artifact()


@pytest.fixture
def w3() -> Web3:
    return Web3(EthereumTesterProvider())


@pytest.fixture
def accounts(w3: Web3) -> dict[str, str]:
    a = w3.eth.accounts
    return {"admin": a[0], "anchorer": a[1], "witness1": a[2], "witness2": a[3], "outsider": a[4]}


@pytest.fixture
def deployed(w3, accounts, artifact) -> tuple[DeploymentRecord, AnchorRegistryClient]:
    record = deploy_registry(
        w3,
        accounts["admin"],
        [accounts["anchorer"]],
        [accounts["witness1"], accounts["witness2"]],
        artifact=artifact,
    )
    return record, AnchorRegistryClient(w3, record.address, artifact)


@pytest.fixture
def client(deployed) -> AnchorRegistryClient:
    return deployed[1]


def reverts(name: str, fn: Callable[[], Any], **expected_args: Any) -> RegistryRevert:
    with pytest.raises(RegistryRevert) as info:
        fn()
    assert info.value.name == name, info.value
    for key, value in expected_args.items():
        assert info.value.args_by_name[key] == value, info.value
    return info.value


# --- deployment -----------------------------------------------------------------------------


def test_deployment_record_matches_chain_and_artifact(w3, deployed, artifact, tmp_path):
    record = deployed[0]
    receipt = w3.eth.get_transaction_receipt(record.tx_hash)
    assert receipt["contractAddress"] == record.address
    assert receipt["blockNumber"] == record.block_number
    assert "0x" + bytes(receipt["blockHash"]).hex() == record.block_hash
    assert record.chain_id == w3.eth.chain_id
    assert record.code_hash == artifact.code_hash
    assert record.source_digest == artifact.source_digest
    assert bytes(w3.eth.get_code(record.address)) == artifact.deployed_bytecode
    check_deployed_code(w3, record, artifact)

    path = tmp_path / "deploy" / "registry.json"
    save_deployment(record, path)
    assert load_deployment(path) == record


def test_check_deployed_code_refuses_other_code(w3, deployed, accounts, artifact):
    record, _ = deployed
    no_code = dataclasses.replace(record, address=accounts["outsider"])
    with pytest.raises(DeployedCodeMismatch, match="holds no code"):
        check_deployed_code(w3, no_code, artifact)
    other_chain = dataclasses.replace(record, chain_id=record.chain_id + 1)
    with pytest.raises(DeployedCodeMismatch, match="chain"):
        check_deployed_code(w3, other_chain, artifact)
    tampered = dataclasses.replace(
        artifact, deployed_bytecode=artifact.deployed_bytecode[:-1] + b"\x00"
    )
    with pytest.raises(DeployedCodeMismatch):
        check_deployed_code(w3, dataclasses.replace(record, code_hash=tampered.code_hash), tampered)


def test_load_deployment_refuses_bad_files(tmp_path):
    with pytest.raises(DeploymentRecordError):
        load_deployment(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": "something/else"}')
    with pytest.raises(DeploymentRecordError):
        load_deployment(bad)


def test_roles_after_deployment(client, accounts):
    assert client.has_role(ADMIN_ROLE, accounts["admin"])
    assert client.has_role(ANCHORER_ROLE, accounts["anchorer"])
    assert client.has_role(WITNESS_ROLE, accounts["witness1"])
    assert client.has_role(WITNESS_ROLE, accounts["witness2"])
    assert not client.has_role(ANCHORER_ROLE, accounts["admin"])
    assert not client.has_role(WITNESS_ROLE, accounts["anchorer"])
    assert ANCHORER_ROLE == Web3.keccak(text="ANCHORER_ROLE")


# --- anchoring ------------------------------------------------------------------------------


def test_views_before_any_anchor(client):
    assert client.latest() == (0, bytes(32))
    assert not client.is_anchored(1)
    reverts("NotAnchored", lambda: client.root_at(1), size=1)
    reverts("NotAnchored", lambda: client.anchored_at(1), size=1)
    reverts("NotAnchored", lambda: client.cosigners(1), size=1)


def test_first_anchor_needs_no_proof(w3, client, accounts):
    tx = client.anchor(5, root(5), [], accounts["anchorer"])
    receipt = w3.eth.get_transaction_receipt(tx)
    block = w3.eth.get_block(receipt["blockNumber"])
    assert client.latest() == (5, root(5))
    assert client.root_at(5) == root(5)
    assert client.anchored_at(5) == (receipt["blockNumber"], block["timestamp"])
    assert client.is_anchored(5)
    assert client.cosigners(5) == []
    [event] = client.anchored_events(0)
    assert (event.tree_size, event.root, event.previous_size) == (5, root(5), 0)
    assert event.tx_hash == tx and event.block_number == receipt["blockNumber"]


def test_first_anchor_refuses_a_proof(client, accounts):
    reverts(
        "ProofLengthMismatch",
        lambda: client.anchor(5, root(5), [root(3)], accounts["anchorer"]),
        previousSize=0,
        treeSize=5,
        length=1,
    )


def test_first_anchor_refuses_size_zero(client, accounts, w3):
    fn = w3.eth.contract(address=client.address, abi=list(load_artifact().abi)).functions
    reverts(
        "SizeNotGreater",
        lambda: client.call(fn.anchor(0, root(1), []), {"from": accounts["anchorer"]}),
        last=0,
        given=0,
    )
    with pytest.raises(RegistryError, match="tree size"):
        client.anchor(0, root(1), [], accounts["anchorer"])


@pytest.mark.parametrize("impl_name, impl", IMPLS)
def test_append_only_anchors_with_real_proofs(client, accounts, impl_name, impl):
    sizes = [1, 2, 3, 4, 7, 8, 13, 16, 17, 31, 32, 33, 64, 70]
    client.anchor(sizes[0], root(sizes[0]), [], accounts["anchorer"])
    for previous, size in itertools.pairwise(sizes):
        client.anchor(size, root(size), proof(previous, size, impl=impl), accounts["anchorer"])
        assert client.latest() == (size, root(size))
    for size in sizes:
        assert client.root_at(size) == root(size)
    events = client.anchored_events(0)
    assert [(e.tree_size, e.previous_size) for e in events] == list(
        zip(sizes, [0, *sizes[:-1]], strict=True)
    )
    assert [e.root for e in events] == [root(s) for s in sizes]
    assert client.anchored_events(events[1].block_number, events[2].block_number) == events[1:3]


def test_every_size_pair_agrees_with_the_reference(w3, accounts, artifact):
    """For every 1 <= m < n <= 20, the contract accepts the RFC proof and refuses the same
    proof with its first or its last hash flipped (eth_call: verified without mining)."""
    n_max = 20
    for m in range(1, n_max):
        record = deploy_registry(
            w3, accounts["admin"], [accounts["anchorer"]], [], artifact=artifact
        )
        client = AnchorRegistryClient(w3, record.address, artifact)
        client.anchor(m, root(m), [], accounts["anchorer"])
        fn = w3.eth.contract(address=record.address, abi=list(artifact.abi)).functions
        for n in range(m + 1, n_max + 1):
            p = proof(m, n)
            assert fn.anchor(n, root(n), p).call({"from": accounts["anchorer"]}) == []
            for i in sorted({0, len(p) - 1}):
                bad = list(p)
                bad[i] = bytes([bad[i][0] ^ 1]) + bad[i][1:]
                with pytest.raises(RegistryRevert) as info:
                    client.call(fn.anchor(n, root(n), bad), {"from": accounts["anchorer"]})
                assert info.value.name == "InconsistentProof", (m, n, i)


@pytest.fixture
def anchored_13(client, accounts) -> AnchorRegistryClient:
    client.anchor(13, root(13), [], accounts["anchorer"])
    return client


def test_refuses_equal_or_smaller_size(anchored_13, accounts):
    for size in (13, 12, 1):
        reverts(
            "SizeNotGreater",
            lambda s=size: anchored_13.anchor(s, root(s), [], accounts["anchorer"]),
            last=13,
            given=size,
        )


def test_refuses_wrong_root_for_a_valid_proof(anchored_13, accounts):
    wrong = root(20, leaves(20, b"other"))
    err = reverts(
        "InconsistentProof",
        lambda: anchored_13.anchor(20, wrong, proof(13, 20), accounts["anchorer"]),
        size=20,
        expected=wrong,
    )
    assert err.args_by_name["computed"] == root(20)


def test_refuses_a_history_rewrite(anchored_13, accounts):
    """A tree that changed an early leaf cannot extend the anchored one, whatever its proof."""
    forked = list(LEAVES)
    forked[3] = ref.leaf_hash(b"rewritten")
    err = reverts(
        "InconsistentProof",
        lambda: anchored_13.anchor(
            20, root(20, forked), proof(13, 20, forked), accounts["anchorer"]
        ),
        size=13,
        expected=root(13),
    )
    assert err.args_by_name["computed"] == root(13, forked)


def test_refuses_tampered_proof(anchored_13, accounts):
    good = proof(13, 20)
    for i in range(len(good)):
        bad = list(good)
        bad[i] = hashlib.sha256(bad[i]).digest()
        reverts(
            "InconsistentProof",
            lambda b=bad: anchored_13.anchor(20, root(20), b, accounts["anchorer"]),
        )
    swapped = list(reversed(good))
    reverts(
        "InconsistentProof", lambda: anchored_13.anchor(20, root(20), swapped, accounts["anchorer"])
    )


def test_refuses_truncated_or_padded_proof(anchored_13, accounts):
    good = proof(13, 20)
    for bad in (good[:-1], good[1:], [], good + [root(1)]):
        reverts(
            "ProofLengthMismatch",
            lambda b=bad: anchored_13.anchor(20, root(20), b, accounts["anchorer"]),
            previousSize=13,
            treeSize=20,
            length=len(bad),
        )


def test_refuses_overlong_proof(anchored_13, accounts, w3, artifact):
    fn = w3.eth.contract(address=anchored_13.address, abi=list(artifact.abi)).functions
    reverts(
        "ProofTooLong",
        lambda: anchored_13.call(
            fn.anchor(20, root(20), [root(1)] * 66), {"from": accounts["anchorer"]}
        ),
        length=66,
        max=65,
    )


def test_refuses_caller_without_anchorer_role(anchored_13, accounts):
    for who in ("outsider", "admin", "witness1"):
        reverts(
            "NotAuthorized",
            lambda w=who: anchored_13.anchor(20, root(20), proof(13, 20), accounts[w]),
            role=ANCHORER_ROLE,
            account=accounts[who].lower(),
        )
    assert anchored_13.latest() == (13, root(13))


def test_power_of_two_previous_size(client, accounts):
    """When the previous size is a power of two its root is implicit in the proof."""
    client.anchor(8, root(8), [], accounts["anchorer"])
    client.anchor(16, root(16), proof(8, 16), accounts["anchorer"])
    client.anchor(17, root(17), proof(16, 17), accounts["anchorer"])
    assert client.latest() == (17, root(17))


# --- cosigning ------------------------------------------------------------------------------


def test_cosign_records_witnesses_in_order(w3, anchored_13, accounts):
    t1 = anchored_13.cosign(13, root(13), accounts["witness2"])
    t2 = anchored_13.cosign(13, root(13), accounts["witness1"])
    assert anchored_13.cosigners(13) == [accounts["witness2"], accounts["witness1"]]
    events = anchored_13.cosigned_events(0)
    assert [(e.tree_size, e.witness, e.tx_hash) for e in events] == [
        (13, accounts["witness2"], t1),
        (13, accounts["witness1"], t2),
    ]


def test_cosign_refuses_a_size_not_anchored(anchored_13, accounts):
    reverts("NotAnchored", lambda: anchored_13.cosign(12, root(12), accounts["witness1"]), size=12)


def test_cosign_refuses_a_root_not_anchored(anchored_13, accounts):
    reverts(
        "RootMismatch",
        lambda: anchored_13.cosign(13, root(12), accounts["witness1"]),
        expected=root(13),
        given=root(12),
    )


def test_cosign_refuses_double_cosign(anchored_13, accounts):
    anchored_13.cosign(13, root(13), accounts["witness1"])
    reverts(
        "AlreadyCosigned",
        lambda: anchored_13.cosign(13, root(13), accounts["witness1"]),
        treeSize=13,
        witness=accounts["witness1"].lower(),
    )
    assert anchored_13.cosigners(13) == [accounts["witness1"]]


def test_cosign_refuses_caller_without_witness_role(anchored_13, accounts):
    for who in ("outsider", "anchorer", "admin"):
        reverts(
            "NotAuthorized",
            lambda w=who: anchored_13.cosign(13, root(13), accounts[w]),
            role=WITNESS_ROLE,
            account=accounts[who].lower(),
        )


def test_cosign_an_older_checkpoint(anchored_13, accounts):
    anchored_13.anchor(20, root(20), proof(13, 20), accounts["anchorer"])
    anchored_13.cosign(13, root(13), accounts["witness1"])
    assert anchored_13.cosigners(13) == [accounts["witness1"]]
    assert anchored_13.cosigners(20) == []


# --- role management ------------------------------------------------------------------------


def test_admin_grants_and_revokes_roles(w3, anchored_13, accounts, artifact):
    fn = w3.eth.contract(address=anchored_13.address, abi=list(artifact.abi)).functions
    new = accounts["outsider"]
    fn.grantRole(ANCHORER_ROLE, new).transact({"from": accounts["admin"]})
    anchored_13.anchor(20, root(20), proof(13, 20), new)
    fn.revokeRole(ANCHORER_ROLE, new).transact({"from": accounts["admin"]})
    reverts("NotAuthorized", lambda: anchored_13.anchor(21, root(21), proof(20, 21), new))
    # Only the admin manages roles.
    reverts(
        "NotAuthorized",
        lambda: anchored_13.call(fn.grantRole(WITNESS_ROLE, new), {"from": accounts["anchorer"]}),
        role=ADMIN_ROLE,
    )
    # Renouncing needs the caller's own address as confirmation.
    reverts(
        "BadConfirmation",
        lambda: anchored_13.call(
            fn.renounceRole(WITNESS_ROLE, accounts["witness2"]), {"from": accounts["witness1"]}
        ),
    )
    fn.renounceRole(WITNESS_ROLE, accounts["witness1"]).transact({"from": accounts["witness1"]})
    assert not anchored_13.has_role(WITNESS_ROLE, accounts["witness1"])


def test_decode_revert_of_unknown_data(artifact):
    err = decode_revert(artifact.abi, "0xdeadbeef")
    assert err.name == "UnknownRevert"
