"""The golden RFC 9162 vectors of transparency-dev/merkle (../shared/conformance/).

Every happy path verifies and regenerates to the same proof from the RFC 6962 leaves;
every corrupted case is rejected with a MerkleError.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

from anchoring.errors import MerkleError
from cunzheng_verify import merkle

VECTORS = Path(
    os.environ.get(
        "CUNZHENG_CONFORMANCE_DIR",
        Path(__file__).resolve().parents[2] / "tests" / "conformance" / "vectors",
    )
)
LEAVES = [
    bytes.fromhex(h)
    for h in ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
              "606162636465666768696a6b6c6d6e6f"]
]
TREE = merkle.MemoryTree([merkle.leaf_hash(d) for d in LEAVES])


def _cases(kind: str) -> list[Path]:
    found = sorted((VECTORS / kind).glob("*/*.json"))
    assert found, f"no {kind} vectors under {VECTORS}"
    return found


def _b64(value: str | None) -> bytes:
    return base64.b64decode(value or "")


def _proof(values: list[str] | None) -> list[bytes]:
    return [_b64(v) for v in values or []]


@pytest.mark.parametrize("path", _cases("inclusion"), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_inclusion_vector(path: Path) -> None:
    case = json.loads(path.read_text())
    args = (case["leafIdx"], case["treeSize"], _b64(case["leafHash"]), _proof(case["proof"]),
            _b64(case["root"]))
    if case["wantErr"]:
        with pytest.raises(MerkleError):
            merkle.verify_inclusion(*args)
        return
    merkle.verify_inclusion(*args)
    if case["treeSize"] <= TREE.size and _b64(case["root"]) == TREE.root(case["treeSize"]):
        assert TREE.inclusion_proof(case["leafIdx"], case["treeSize"]) == _proof(case["proof"])


@pytest.mark.parametrize("path", _cases("consistency"), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_consistency_vector(path: Path) -> None:
    case = json.loads(path.read_text())
    args = (case["size1"], case["size2"], _proof(case["proof"]), _b64(case["root1"]),
            _b64(case["root2"]))
    if case["wantErr"]:
        with pytest.raises(MerkleError):
            merkle.verify_consistency(*args)
        return
    merkle.verify_consistency(*args)
    assert TREE.root(case["size1"]) == _b64(case["root1"])
    assert TREE.root(case["size2"]) == _b64(case["root2"])
    assert TREE.consistency_proof(case["size1"], case["size2"]) == _proof(case["proof"])


def test_happy_paths_regenerate_from_the_rfc6962_leaves() -> None:
    """Each happy path's root is a root of the RFC 6962 tree, so regeneration was exercised."""
    regenerated = 0
    for path in _cases("inclusion") + _cases("consistency"):
        case = json.loads(path.read_text())
        if case["wantErr"]:
            continue
        size = case.get("treeSize", case.get("size2"))
        root = _b64(case.get("root", case.get("root2")))
        if size <= TREE.size and root == TREE.root(size):
            regenerated += 1
    assert regenerated >= 6
