"""Gas of `AnchorRegistry.anchor` at log sizes 2^10, 2^20 and 2^30, and of `cosign`.

Run: `.venv/bin/python -m bench.gas_anchor`. Prints a table and writes
`bench/results/gas_anchor.json`.

Gas depends on the sizes (proof length, loop path), not on the hash values, yet every proof
sent here really verifies on chain. Trees of 2^20 and 2^30 leaves are too big to build, so
the leaves are periodic (leaf i is the hash of `i mod 2^PERIOD_BITS`): every complete
subtree of 2^PERIOD_BITS leaves or more then has the same hash per level, so any node, root
and consistency proof is computed in O(log n) from `cunzheng_verify.merkle`'s complete-subtree
functions. It is a legal RFC 9162 tree, checked against a fully built one before measuring.

Scenarios per size N: the longest proof N has (previous checkpoint N - 1: log2 N + 1
hashes) and a typical checkpoint interval (previous checkpoint N - 1000). The baseline,
measured in the same run, is the first anchor, which stores the same data with no proof.
The chain is eth-tester's py-evm (Prague rules); receipts' gasUsed include the 21,000 base
and the calldata.
"""

from __future__ import annotations

import json
import platform
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from web3 import EthereumTesterProvider, Web3

from anchoring.registry import AnchorRegistryClient, deploy_registry, load_artifact
from cunzheng_verify import merkle

PERIOD_BITS = 10
SIZES = (2**10, 2**20, 2**30)
TYPICAL_INTERVAL = 1000
TARGET_GAS_AT_2_20 = 100_000
RESULTS = Path(__file__).resolve().parent / "results" / "gas_anchor.json"


def _leaf(i: int) -> bytes:
    return merkle.leaf_hash(b"cunzheng-bench-leaf:" + (i % 2**PERIOD_BITS).to_bytes(8, "big"))


@cache
def periodic_node(level: int, index: int) -> bytes:
    """Hash of the complete subtree (level, index) of the periodic tree."""
    if level > PERIOD_BITS:
        child = periodic_node(level - 1, 0)
        return merkle.node_hash(child, child)
    if level == 0:
        return _leaf(index)
    index %= 2 ** (PERIOD_BITS - level)  # position inside the period
    return merkle.node_hash(
        periodic_node(level - 1, 2 * index), periodic_node(level - 1, 2 * index + 1)
    )


def self_check() -> None:
    """The periodic construction agrees with a tree built leaf by leaf."""
    n = 3 * 2**PERIOD_BITS + 77
    tree = merkle.MemoryTree([_leaf(i) for i in range(n)])
    for m in (1, 5, 2**PERIOD_BITS, 2**PERIOD_BITS + 3, n - 1):
        assert merkle.root_from_nodes(m, periodic_node) == tree.root(m)
        proof = merkle.consistency_proof_from_nodes(m, n, periodic_node)
        assert proof == tree.consistency_proof(m, n)


def measure_anchor(w3: Web3, accounts: list[str], previous: int, size: int) -> dict[str, int]:
    record = deploy_registry(w3, accounts[0], [accounts[1]], [accounts[2], accounts[3]])
    client = AnchorRegistryClient(w3, record.address)
    root1 = merkle.root_from_nodes(previous, periodic_node)
    root2 = merkle.root_from_nodes(size, periodic_node)
    proof = merkle.consistency_proof_from_nodes(previous, size, periodic_node)
    merkle.verify_consistency(previous, size, proof, root1, root2)
    first = client.anchor(previous, root1, [], accounts[1])
    tx = client.anchor(size, root2, proof, accounts[1])
    c1 = client.cosign(size, root2, accounts[2])
    c2 = client.cosign(size, root2, accounts[3])

    def gas(h: bytes) -> int:
        return int(w3.eth.get_transaction_receipt(h)["gasUsed"])

    return {
        "previous_size": previous,
        "tree_size": size,
        "proof_length": len(proof),
        "anchor_gas": gas(tx),
        "first_anchor_gas_baseline": gas(first),
        "first_cosign_gas": gas(c1),
        "second_cosign_gas": gas(c2),
    }


def main() -> None:
    self_check()
    w3 = Web3(EthereumTesterProvider())
    accounts = list(w3.eth.accounts)
    rows = []
    for size in SIZES:
        for label, previous in (("longest proof", size - 1), ("typical", size - TYPICAL_INTERVAL)):
            if previous <= 0:
                continue
            row = {"log_size": f"2^{size.bit_length() - 1}", "scenario": label}
            row.update(measure_anchor(w3, accounts, previous, size))
            rows.append(row)
    art = load_artifact()
    at_2_20 = max(r["anchor_gas"] for r in rows if r["tree_size"] == 2**20)
    result = {
        "benchmark": "gas_anchor",
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "chain": "eth-tester (py-evm, default fork)",
        "compiler": art.compiler_version,
        "settings": json.loads(art.settings_json),
        "code_hash": art.code_hash,
        "baseline": "first_anchor_gas_baseline: the first anchor stores the same data, no proof",
        "target": {
            "anchor_gas_at_2^20_below": TARGET_GAS_AT_2_20,
            "worst_measured": at_2_20,
            "met": at_2_20 < TARGET_GAS_AT_2_20,
        },
        "rows": rows,
    }
    header = (f"{'log':>5} {'scenario':>13} {'prev':>11} {'proof':>5} {'anchor':>8} "
              f"{'baseline':>8} {'cosign1':>8} {'cosign2':>8}")
    print(header)
    for r in rows:
        print(
            f"{r['log_size']:>5} {r['scenario']:>13} {r['previous_size']:>11} "
            f"{r['proof_length']:>5} "
            f"{r['anchor_gas']:>8} {r['first_anchor_gas_baseline']:>8} "
            f"{r['first_cosign_gas']:>8} {r['second_cosign_gas']:>8}"
        )
    print(
        f"target: anchor at 2^20 < {TARGET_GAS_AT_2_20}: worst {at_2_20} -> "
        f"{'met' if at_2_20 < TARGET_GAS_AT_2_20 else 'NOT met'}"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(
        "wrote "
        f"{RESULTS.relative_to(Path.cwd()) if RESULTS.is_relative_to(Path.cwd()) else RESULTS}"
    )


if __name__ == "__main__":
    main()
