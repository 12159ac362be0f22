"""The runtime code the on-chain step compares a deployed registry with: the shipped
artifact's (the one `anchoring.registry` deploys), or another artifact file's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from anchoring.registry import load_artifact
from cunzheng_verify.artifact import runtime_code
from cunzheng_verify.errors import CunzhengError


def test_the_shipped_code_is_the_one_the_log_deploys() -> None:
    assert runtime_code() == load_artifact().deployed_bytecode != b""


def test_another_artifact_file_and_its_errors(tmp_path: Path) -> None:
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"deployedBytecode": "0x6001"}))
    assert runtime_code(other) == b"\x60\x01"
    with pytest.raises(CunzhengError, match="cannot read contract artifact"):
        runtime_code(tmp_path / "missing.json")
    other.write_text(json.dumps({"abi": []}))
    with pytest.raises(CunzhengError, match="malformed contract artifact"):
        runtime_code(other)
    other.write_text(json.dumps({"deployedBytecode": "0xzz"}))
    with pytest.raises(CunzhengError, match="malformed contract artifact"):
        runtime_code(other)
