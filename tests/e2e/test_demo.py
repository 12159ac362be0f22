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
    # the realistic stream, posted while the monitoring job ran: nothing refused
    summary = json.loads((data / "simulate-summary.json").read_text())
    assert summary["refused"] == 0 and summary["accepted"] == summary["planned"]
    assert "0 refused" in done.stderr
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


def _sim_and_mon_leaves(data: Path) -> tuple[list[int], list[int]]:
    from sqlalchemy import select

    from anchoring.tables import leaves
    from service.db import make_engine

    engine = make_engine(f"sqlite:///{data / 'cunzheng.db'}")
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(leaves.c.leaf_index, leaves.c.event_id)).all()
    finally:
        engine.dispose()
    mon = [i for i, e in rows if e.startswith("mon:")]
    return [i for i, e in rows if not e.startswith("mon:")], mon


def test_simulation_and_monitoring_run_concurrently_without_refusal(tmp_path: Path) -> None:
    """`cunzheng serve` with the monitoring job every second, and `cunzheng simulate
    --shuffle-arrivals` posting a realistic stream meanwhile over HTTP: the monitoring job
    flags loans whose history is still arriving, and not one lender event is refused."""
    import time
    from datetime import UTC, datetime, timedelta

    import httpx

    data, port = tmp_path / "data", free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "CUNZHENG_DATA_DIR": str(data), "CUNZHENG_ANCHOR_ENABLED": "false",
           "CUNZHENG_MONITORING_TENANTS": "bank-a", "CUNZHENG_MONITORING_INTERVAL": "1",
           "COLUMNS": "200"}
    data.mkdir()
    log = open(data / "serve.log", "wb")  # noqa: SIM115 - closed below
    serve = subprocess.Popen([sys.executable, "-m", "service.cli", "serve", "--port", str(port)],
                             cwd=REPO, env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert serve.poll() is None and time.monotonic() < deadline, \
                (data / "serve.log").read_text()[-3000:]
            time.sleep(0.3)
        admin = (data / "admin-key.txt").read_text().strip()
        lender = httpx.post(f"{url}/v1/admin/keys", headers={"Authorization": f"Bearer {admin}"},
                            json={"role": "lender", "tenant": "bank-a", "label": "sim"}
                            ).json()["key"]
        # the simulated months end about now, so monitoring (as of today) sees loans whose
        # later repayments have not arrived yet
        today = datetime.now(UTC).date()
        start = (today.replace(day=1) - timedelta(days=31 * 18)).replace(day=1)
        summary_path = tmp_path / "summary.json"
        done = subprocess.run(
            [sys.executable, "-m", "service.cli", "simulate", "--loans", "80", "--months", "18",
             "--seed", "7", "--start", start.isoformat(), "--no-documents", "--batch-size", "10",
             "--shuffle-arrivals", "--url", url, "--key", lender, "--admin-key", admin,
             "--tenant", "bank-a", "--receipts-dir", str(tmp_path / "receipts"),
             "--summary-json", str(summary_path)],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=1200)
        summary = json.loads(summary_path.read_text())
        assert summary["refused"] == 0, summary["refusals"][:5]
        assert done.returncode == 0, done.stderr[-3000:]
        assert summary["accepted"] == summary["planned"] > 500
        assert "refused 0" in done.stdout
        for kind in ("reversal", "correction", "repricing"):
            assert summary["counts"].get(kind, 0) >= 1, kind
        # the monitoring job really ran during the simulation: its events sit between the
        # simulated ones in the log
        time.sleep(2)
        simulated, derived = _sim_and_mon_leaves(data)
        assert len(simulated) == summary["planned"]
        assert derived and min(derived) < max(simulated), (len(derived), len(simulated))
    finally:
        serve.terminate()
        serve.wait(30)
        log.close()
    fsck = subprocess.run([sys.executable, "-m", "service.cli", "fsck"], cwd=REPO, text=True,
                          capture_output=True, env=env)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
