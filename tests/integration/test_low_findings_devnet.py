"""Issue 10, low finding: `cunzheng devnet` had no `--block-time`, so a chain it served for a
service run with `CUNZHENG_CHAIN_RPC` stayed at its last block while nothing was sent, and
an anchor waiting for confirmations never became final. The attack is simply waiting."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.chain_nodes import REPO, free_port, rpc

CLI = [sys.executable, "-m", "service.cli"]
pytestmark = pytest.mark.chain


def _heads(tmp_path: Path, *args: str, wait: float = 3.0) -> tuple[int, int]:
    """Start `cunzheng devnet` with `args`, send nothing, return the head before and after
    `wait` seconds."""
    port = free_port()
    env = {**os.environ, "CUNZHENG_DATA_DIR": str(tmp_path / "data")}
    env.pop("CUNZHENG_DEVNET_BLOCK_TIME", None)
    tmp_path.mkdir(parents=True, exist_ok=True)
    log = tmp_path / f"devnet-{port}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([*CLI, "devnet", "--port", str(port), *args], env=env,
                                cwd=REPO, stdout=out, stderr=out)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                first = int(str(rpc(url, "eth_blockNumber")), 16)
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        time.sleep(wait)
        return first, int(str(rpc(url, "eth_blockNumber")), 16)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


def test_devnet_block_time_mines_a_quiet_chain(tmp_path: Path) -> None:
    first, later = _heads(tmp_path / "fast", "--block-time", "0.5")
    assert later - first >= 3, (first, later)  # about 6 in 3 s; loaded machines are slow


def test_devnet_block_time_zero_mines_only_transactions(tmp_path: Path) -> None:
    first, later = _heads(tmp_path / "still", "--block-time", "0")
    assert later == first


def test_devnet_mines_by_default_like_the_embedded_one(tmp_path: Path) -> None:
    first, later = _heads(tmp_path / "default", wait=5.0)  # default 2 s, as `serve` uses
    assert later > first, (first, later)


def test_devnet_refuses_a_negative_block_time(tmp_path: Path) -> None:
    done = subprocess.run([*CLI, "devnet", "--block-time", "-1"], cwd=REPO, text=True,
                          capture_output=True, timeout=60,
                          env={**os.environ, "CUNZHENG_DATA_DIR": str(tmp_path / "data")})
    assert done.returncode == 2 and "block-time" in done.stderr, done.stderr
    assert not (tmp_path / "data" / "devnet").exists()
