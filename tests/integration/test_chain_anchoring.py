"""Anchoring end to end against real nodes as separate processes: `cunzheng serve` on the
embedded defaults starts the devnet, deploys once and anchors on its own; a restart of the
devnet and of the service loses no anchor; a witness process cosigns. The same suite runs
against anvil."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import make_event
from tests.integration.chain_nodes import REPO, anvil_node, free_port, rpc

CLI = [sys.executable, "-m", "service.cli"]
pytestmark = pytest.mark.chain


class Service:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.keys: dict[str, str] = {}

    def key(self, role: str, tenant: str | None = None) -> str:
        if role not in self.keys:
            args = ["keys", "create", "--role", role] + (["--tenant", tenant] if tenant else [])
            self.keys[role] = subprocess.run([*CLI, *args], env=self.env, cwd=REPO, check=True,
                                             capture_output=True, text=True).stdout.strip()
        return self.keys[role]

    def start(self) -> None:
        Path(self.env["CUNZHENG_DATA_DIR"]).mkdir(parents=True, exist_ok=True)
        log = open(Path(self.env["CUNZHENG_DATA_DIR"]) / f"serve-{self.port}.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen([*CLI, "serve", "--port", str(self.port)], env=self.env,
                                     cwd=REPO, stdout=log, stderr=log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise AssertionError("service did not start")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)
        self.proc.wait(30)
        self.proc = None

    def get(self, path: str) -> Any:
        r = httpx.get(f"{self.url}{path}",
                      headers={"Authorization": f"Bearer {self.key('auditor')}"},
                      timeout=10)
        assert r.status_code == 200, r.text
        return r.json()

    def post(self, events: list[dict]) -> Any:
        r = httpx.post(f"{self.url}/v1/events/batch", json={"events": events}, timeout=30,
                       headers={"Authorization": f"Bearer {self.key('lender', 'bank-a')}"})
        assert r.status_code == 201, r.text
        return r.json()

    def wait_anchor(self, size: int, status: str = "final", timeout: float = 60) -> dict:
        """Wait until the anchor of `size` reaches `status` (or a later one: the devnet
        mines empty blocks, so an anchor may be final before it is seen included)."""
        accepted = {"included": ("included", "final"), "final": ("final",)}[status]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for a in self.get("/v1/log/anchors")["anchors"]:
                if a["tree_size"] == size and a["status"] in accepted:
                    return dict(a)
            time.sleep(0.3)
        raise AssertionError(f"no {status} anchor of size {size}: {self.get('/v1/log/anchors')}")


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "CUNZHENG_DATA_DIR": str(tmp_path / "data"),
            "CUNZHENG_ANCHOR_INTERVAL": "0.5", "CUNZHENG_ANCHOR_CONFIRMATIONS": "2",
            "CUNZHENG_CHECKPOINT_INTERVAL": "0.2", **extra}


@pytest.fixture(params=["devnet", "anvil"])
def node(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    if request.param == "devnet":
        port = free_port()  # serve starts the embedded devnet itself on this port
        yield {"kind": "devnet", "CUNZHENG_DEVNET_PORT": str(port),
               "url": f"http://127.0.0.1:{port}"}
    else:
        with anvil_node() as url:
            yield {"kind": "anvil", "CUNZHENG_CHAIN_RPC": url, "url": url}


def _witness(svc: Service, url: str, contract: str, state: Path) -> list[dict]:
    done = subprocess.run([*CLI, "witness", "run", "--once", "--service-url", svc.url,
                           "--api-key", svc.key("auditor"), "--state", str(state), "--rpc", url,
                           "--contract", contract, "--dev-account", "2"],
                          env=svc.env, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return list(json.loads(done.stdout.strip().splitlines()[-1]))


def test_anchors_survive_restarts_and_a_witness_cosigns(node: dict[str, str],
                                                        tmp_path: Path) -> None:
    env = _env(tmp_path, **{k: v for k, v in node.items() if k.startswith("CUNZHENG_")})
    svc = Service(env)
    url = node["url"]
    svc.start()
    try:
        svc.post([make_event(f"e-{i}", f"L-{i}") for i in range(6)])
        svc.wait_anchor(6, "included")
        rpc(url, "evm_mine")
        first = svc.wait_anchor(6, "final")
        deployment = json.loads((tmp_path / "data" / "deployment.json").read_text())
        assert first["contract"] == deployment["address"]
        assert rpc(url, "eth_getBlockByNumber",
                   [hex(first["block_number"]), False])["hash"] == first["block_hash"]

        outcomes = _witness(svc, url, deployment["address"], tmp_path / "witness.json")
        assert [(o["tree_size"], o["cosigned"]) for o in outcomes] == [(6, True)]

        svc.stop()  # the service stops (and with it the embedded devnet, when it started one)
        svc.start()
        assert svc.get("/v1/log/anchors")["anchors"][0]["block_hash"] == first["block_hash"]
        svc.post([make_event(f"e-{i}", f"L-{i}") for i in range(6, 10)])
        svc.wait_anchor(10, "included")
        rpc(url, "evm_mine")
        second = svc.wait_anchor(10, "final")
        assert second["previous_size"] == 6
        # still the same chain: the first anchor's block is where it was
        assert rpc(url, "eth_getBlockByNumber",
                   [hex(first["block_number"]), False])["hash"] == first["block_hash"]
        outcomes = _witness(svc, url, deployment["address"], tmp_path / "witness.json")
        assert [(o["tree_size"], o["cosigned"]) for o in outcomes] == [(10, True)]
        deadline = time.monotonic() + 30
        while not svc.get("/v1/log/checkpoints/10")["anchor"]["cosigners"]:
            assert time.monotonic() < deadline, "cosigner not recorded"
            time.sleep(0.3)
        event = httpx.get(f"{svc.url}/v1/events/e-0",
                          headers={"Authorization": f"Bearer {svc.key('lender', 'bank-a')}"}).json()
        assert event["anchor"]["tree_size"] == 6 and event["anchor"]["tx_hash"] == first["tx_hash"]
    finally:
        if svc.proc is not None:
            svc.stop()
