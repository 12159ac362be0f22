"""The one-command demo, end to end on a fresh data directory (small portfolio): every
process real (service, devnet, witnesses, lending client), the package verified."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from cunzheng_devnet import start_devnet_process

from tests.integration.chain_nodes import REPO, free_port

pytestmark = pytest.mark.slow


def test_demo_runs_end_to_end_and_reuses_its_data(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    args = [sys.executable, "-m", "service.cli", "demo", "--data-dir", str(data), "--loans", "25",
            "--months", "18", "--seed", "1", "--exit", "--port", str(free_port()),
            "--devnet-port", str(free_port())]
    done = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=1500,
                          env={**os.environ, "COLUMNS": "200"})
    assert done.returncode == 0, done.stderr[-4000:]
    assert "Cunzheng demo is up" in done.stderr
    packages = list((data / "packages").glob("*-court.zip"))
    assert len(packages) == 1
    with zipfile.ZipFile(packages[0]) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        assert "case/case-file.pdf" in zf.namelist()
    assert manifest["venue"] == "court" and manifest["items"]
    assert all(c["cosigners"] for c in manifest["checkpoints"])
    keys = json.loads((data / "demo-keys.json").read_text())
    assert set(keys) == {"admin", "lender", "legal", "auditor", "verifier"}
    assert oct((data / "demo-keys.json").stat().st_mode & 0o777) == "0o600"
    env = {**os.environ, "CUNZHENG_DATA_DIR": str(data)}
    fsck = subprocess.run([sys.executable, "-m", "service.cli", "fsck"], cwd=REPO, text=True,
                          capture_output=True, env=env)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr

    # Everything has stopped. The package built today still verifies, on chain too, once
    # the devnet is restarted from its data directory.
    key = subprocess.run([sys.executable, "-m", "service.cli", "case", "key"], cwd=REPO,
                         text=True, capture_output=True, env=env).stdout.strip().splitlines()[-1]
    with start_devnet_process(data / "devnet") as node:
        again = subprocess.run([sys.executable, "-m", "service.cli", "verify", str(packages[0]),
                                "--rpc", node.url, "--trust-key", key], cwd=REPO, text=True,
                               capture_output=True, env=env)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-2000:]
    assert "0 failed" in again.stdout and "chain.anchor" in again.stdout
