"""Issue 10, low finding: the SQLite database and its WAL were mode 0644 while the key files
were 0600. The attack is a second local user reading the data directory; after a real
`cunzheng serve` start (embedded devnet, anchoring, events with a document) and a package
build, nothing in the data directory may be readable by group or others."""

from __future__ import annotations

import hashlib
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import make_event
from tests.integration.chain_nodes import REPO, free_port

CLI = [sys.executable, "-m", "service.cli"]
pytestmark = pytest.mark.chain


def _loose(root: Path) -> list[str]:
    """Every path under `root` (itself included) that group or others can use."""
    found = []
    for path in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        want = 0o700 if path.is_dir() else 0o600
        if path.is_symlink() or mode & 0o077 or (path.is_dir() and mode != want):
            found.append(f"{path.relative_to(root.parent)} {oct(mode)}")
    return found


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([*CLI, *args], env=env, cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.strip()


def test_everything_the_service_creates_is_private(tmp_path: Path) -> None:
    data = tmp_path / "data"  # not created here: the service creates it
    port = free_port()
    env = {**os.environ, "CUNZHENG_DATA_DIR": str(data), "CUNZHENG_DEVNET_PORT": str(free_port()),
           "CUNZHENG_ANCHOR_INTERVAL": "0.5", "CUNZHENG_ANCHOR_CONFIRMATIONS": "1",
           "CUNZHENG_DEVNET_BLOCK_TIME": "0.5", "CUNZHENG_CHECKPOINT_INTERVAL": "0.2"}
    old_umask = os.umask(0o022)  # an ordinary login shell's umask, whatever pytest runs with
    try:
        with open(tmp_path / "serve.log", "wb") as log:
            proc = subprocess.Popen([*CLI, "serve", "--port", str(port)], env=env, cwd=REPO,
                                    stdout=log, stderr=log)
    finally:
        os.umask(old_umask)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.2)
        lender = _cli(env, "keys", "create", "--role", "lender", "--tenant", "bank-a")
        auditor = _cli(env, "keys", "create", "--role", "auditor")
        doc = "借款合同".encode() * 100
        sha = hashlib.sha256(doc).hexdigest()
        auth = {"Authorization": f"Bearer {lender}"}
        assert httpx.put(f"{url}/v1/documents/{sha}", content=doc, timeout=10, headers={
            **auth, "content-type": "application/pdf"}).status_code == 201
        cited = {"role": "contract", "sha256": sha, "media_type": "application/pdf",
                 "filename": "合同.pdf", "size": len(doc)}
        events = [make_event("e-1", "L-1"),
                  make_event("e-2", "L-1", "contract_signed", documents=[cited]),
                  make_event("e-3", "L-1", "disbursement")]
        r = httpx.post(f"{url}/v1/events/batch", json={"events": events}, headers=auth,
                       timeout=10)
        assert r.status_code == 201, r.text
        deadline = time.monotonic() + 60
        while not any(a["status"] == "final" for a in httpx.get(
                f"{url}/v1/log/anchors", headers={"Authorization": f"Bearer {auditor}"},
                timeout=10).json()["anchors"]):
            assert time.monotonic() < deadline, "no final anchor"
            time.sleep(0.3)
        names = {p.name for p in data.rglob("*")}
        assert {"cunzheng.db", "cunzheng.db-wal", "cunzheng.db-shm", "admin-key.txt",
                "log-key.pem", "master-key", "devnet"} <= names, names
        assert _loose(data) == []  # while running: the WAL and shared-memory files too
        _cli(env, "case", "build", "L-1", "--tenant", "bank-a", "--venue", "court",
             "--out", str(data / "packages" / "L-1.zip"))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    assert (data / "packages" / "L-1.zip").is_file()
    assert _loose(data) == []
