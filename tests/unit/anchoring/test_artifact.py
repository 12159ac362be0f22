"""The committed contract artifact is what the pinned compiler makes of the committed sources.

`contracts/compile.py --check` recompiles (native solc of the pinned version, or solc-js from
`tools/node_modules`, which `make node-deps` installs) and compares byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from eth_utils import keccak

REPO = Path(__file__).resolve().parents[3]
COMPILE = REPO / "contracts" / "compile.py"
ARTIFACT = REPO / "verifier" / "cunzheng_verify" / "AnchorRegistry.json"


def _compiler_available() -> bool:
    if shutil.which("solc"):
        return True
    return bool(shutil.which("node")) and (REPO / "tools/node_modules/solc/solc.js").is_file()


def test_artifact_sources_and_code_hash_are_consistent():
    art = json.loads(ARTIFACT.read_text(encoding="utf-8"))
    for name, entry in art["sources"].items():
        assert hashlib.sha256((REPO / name).read_bytes()).hexdigest() == entry["sha256"], name
    runtime = bytes.fromhex(art["deployedBytecode"][2:])
    assert "0x" + keccak(runtime).hex() == art["deployedBytecodeKeccak256"]
    assert art["compiler"]["version"].startswith("0.8.28+")
    assert art["settings"]["optimizer"] == {"enabled": True, "runs": 200}


@pytest.mark.skipif(
    not _compiler_available(),
    reason="no compiler: neither a native solc nor node with tools/node_modules/solc "
    "(run `make node-deps`)",
)
def test_committed_artifact_matches_a_fresh_compile():
    proc = subprocess.run(
        [sys.executable, str(COMPILE), "--check"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
