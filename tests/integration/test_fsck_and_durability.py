"""fsck catches a changed byte; acknowledged events survive kill -9; indices stay
contiguous with concurrent writers (threads on SQLite, processes on PostgreSQL)."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, text, update

from anchoring.fsck import fsck
from anchoring.log import EvidenceLog
from anchoring.tables import checkpoints, leaves, nodes
from service.context import build_context
from service.settings import Settings
from tests.conftest import make_event

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "service.cli"]


def _fill(settings: Settings, n: int) -> EvidenceLog:
    ctx = build_context(settings)
    ctx.log.submit("bank-a", [make_event(f"e-{i}", f"L-{i}") for i in range(n)])
    ctx.log.sign_checkpoint_if_grown()
    return ctx.log


def _fsck(log: EvidenceLog) -> list:
    report = fsck(log.store, key_name=log.signer.name, public_key=log.signer.public_key,
                  origin=log.origin)
    assert report.leaves_checked == log.store.count_leaves()
    return list(report.findings)


def test_fsck_is_clean_then_names_each_tampering(sqlite_settings: Settings) -> None:
    log = _fill(sqlite_settings, 21)
    assert _fsck(log) == []
    engine = log.store.engine
    with engine.begin() as conn:
        data = bytes(conn.execute(select(leaves.c.record).where(leaves.c.leaf_index == 7))
                     .scalar_one())
        flipped = data[:-1] + bytes([data[-1] ^ 1])  # a byte of the sealed record
        conn.execute(update(leaves).where(leaves.c.leaf_index == 7).values(record=flipped))
    first = _fsck(log)[0]
    assert first.kind == "record-sealed" and first.leaf_index == 7

    # someone holding the keys re-seals an edited record: the leaf hash gives it away
    plain = log.store.leaf(6).record
    assert plain is not None
    key = log.store._loan_keys[("bank-a", "L-6")]
    assert key is not None and log.store.cipher is not None
    resealed = log.store.cipher.seal(key, plain.replace(b"core-banking", b"core-bankinG"),
                                     log.store.leaf(6).leaf_hash)
    with engine.begin() as conn:
        conn.execute(update(leaves).where(leaves.c.leaf_index == 7).values(record=data))
        conn.execute(update(leaves).where(leaves.c.leaf_index == 6).values(record=resealed))
    first = _fsck(log)[0]
    assert first.kind == "leaf-hash" and first.leaf_index == 6
    with engine.begin() as conn:
        conn.execute(update(leaves).where(leaves.c.leaf_index == 6)
                     .values(record=log.store.cipher.seal(key, plain, log.store.leaf(6).leaf_hash)))
    assert _fsck(log) == []

    with engine.begin() as conn:
        conn.execute(update(nodes).where(nodes.c.level == 2,
                                         nodes.c.idx == 1).values(hash=b"\x01" * 32))
    first = _fsck(log)[0]
    assert first.kind == "node-hash" and "level 2 index 1" in first.detail

    with engine.begin() as conn:
        conn.execute(text("DELETE FROM nodes WHERE level = 2 AND idx = 1"))
        conn.execute(text("DELETE FROM leaves WHERE leaf_index = 3"))
    kinds = [f.kind for f in _fsck(log)]
    assert kinds[0] == "gap" and "node-missing" in kinds

    log2 = _fill(Settings(data_dir=sqlite_settings.data_dir.parent / "other",
                          checkpoint_interval=1), 9)
    with log2.store.engine.begin() as conn:
        conn.execute(update(checkpoints).values(root=b"\x02" * 32))
    found = _fsck(log2)
    assert found[0].kind == "checkpoint-root" and found[0].checkpoint_size == 9


def test_fsck_command_exits_nonzero_on_a_changed_byte(sqlite_settings: Settings) -> None:
    log = _fill(sqlite_settings, 5)
    env = {**os.environ, "CUNZHENG_DATA_DIR": str(sqlite_settings.data_dir)}
    ok = subprocess.run([*CLI, "fsck", "--json"], env=env, capture_output=True, text=True, cwd=REPO)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["ok"] is True
    with log.store.engine.begin() as conn:
        data = bytes(conn.execute(select(leaves.c.record).where(leaves.c.leaf_index == 2))
                     .scalar_one())
        conn.execute(update(leaves).where(leaves.c.leaf_index == 2)
                     .values(record=data[:30] + bytes([data[30] ^ 0x20]) + data[31:]))
    bad = subprocess.run([*CLI, "fsck"], env=env, capture_output=True, text=True, cwd=REPO)
    assert bad.returncode == 1
    assert "leaf 2" in bad.stdout and "record-sealed" in bad.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_server(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([*CLI, "serve", "--port", str(port)], env=env, cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    stderr = proc.stderr.read().decode()[-2000:] if proc.stderr else ""
    raise AssertionError(f"server did not start: {stderr}")


def test_acknowledged_events_survive_kill_9(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = {**os.environ, "CUNZHENG_DATA_DIR": str(data_dir), "CUNZHENG_ANCHOR_ENABLED": "false"}
    key = subprocess.run([*CLI, "keys", "create", "--role", "lender", "--tenant", "bank-a"],
                         env=env, capture_output=True, text=True, cwd=REPO,
                         check=True).stdout.strip()
    headers = {"Authorization": f"Bearer {key}"}
    acknowledged: dict[str, dict] = {}
    for round_ in range(3):
        port = _free_port()
        proc = _start_server(env, port)
        for i in range(5):
            eid = f"r{round_}-{i}"
            r = httpx.post(f"http://127.0.0.1:{port}/v1/events", headers=headers,
                           json=make_event(eid, f"L-{eid}"))
            assert r.status_code == 201
            acknowledged[eid] = r.json()
        proc.send_signal(signal.SIGKILL)  # right after the last response
        proc.wait()
    port = _free_port()
    proc = _start_server(env, port)
    try:
        for eid, receipt in acknowledged.items():
            got = httpx.get(f"http://127.0.0.1:{port}/v1/events/{eid}", headers=headers).json()
            assert got["receipt"] == receipt
        assert sorted(r["leaf_index"] for r in acknowledged.values()) == list(range(15))
    finally:
        proc.terminate()
        proc.wait()
    done = subprocess.run([*CLI, "fsck"], env=env, capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stdout + done.stderr


def _writer(url: str, data_dir: str, worker: int, n: int) -> None:
    settings = Settings(data_dir=Path(data_dir), database_url=url)
    ctx = build_context(settings)
    for i in range(n):
        ctx.log.submit("bank-a", [make_event(f"w{worker}-{i}-{j}", f"L-w{worker}-{i}-{j}")
                                  for j in range(3)])
        ctx.log.sign_checkpoint_if_grown()
    ctx.engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_concurrent_writers_keep_indices_contiguous(backend: str, tmp_path: Path,
                                                    request: pytest.FixtureRequest) -> None:
    url = (f"sqlite:///{tmp_path / 'c.db'}" if backend == "sqlite"
           else str(request.getfixturevalue("postgres_url")))
    data_dir = tmp_path / "data"
    settings = Settings(data_dir=data_dir, database_url=url)
    build_context(settings).engine.dispose()  # migrate and create the key once
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(url, str(data_dir), w, 10)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    check = build_context(settings)
    with check.engine.connect() as conn:
        indices = [r[0] for r in conn.execute(select(leaves.c.leaf_index)
                                              .order_by(leaves.c.leaf_index))]
    assert indices == list(range(4 * 10 * 3))
    check.log.sign_checkpoint_if_grown()
    assert _fsck(check.log) == []
