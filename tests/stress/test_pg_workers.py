"""Concurrency on PostgreSQL: `cunzheng serve --workers 3` and a second `cunzheng serve` on
another port, both on one fresh schema (one log: the same data directory and keys),
anchoring to a real EVM node (anvil). Writer threads post batches and singles to both
servers at once, including the same event ids from every writer at the same instant
(identical content: one 201, the rest 200 with the same receipt; different content: one
wins, the others 409).

Asserted: leaf indices contiguous from 0; each event id exactly once; every receipt for an
event identical; no 5xx (a 503 busy with Retry-After is retried and counted, and must be
rare); everything finishes within a bound (no deadlock); `cunzheng fsck` is clean; and
only one anchoring submitter at a time across the four processes: the Anchored events on
chain have strictly increasing sizes with none twice, every transaction the anchorer sent
is one of them (no submission refused for racing another), and the `job_state` lease has
one holder.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, select
from web3 import Web3

from anchoring.registry import load_artifact
from anchoring.tables import anchors, job_state, leaves
from tests.conftest import make_event
from tests.integration.chain_nodes import anvil_binary, anvil_node

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(anvil_binary() is None, reason="anvil missing: make node-deps")]

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "service.cli"]
WRITERS = 8
ROUNDS = 8  # per writer: a batch of 4 new events, a single, a shared id, a contested id
DEADLINE = 150.0  # seconds for the whole run: beyond it, something is stuck
RETRIES = 20


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _serve(env: dict[str, str], log: Path, *args: str) -> Server:
    port = _free_port()
    proc = subprocess.Popen([*CLI, "serve", "--port", str(port), *args], env=env, cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=log.open("wb"))
    return Server(proc, port, log)


def _children(pid: int) -> int:
    count = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        count += int(fields[1]) == pid
    return count


def _wait_up(server: Server) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{server.url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or server.proc.poll() is not None:
            raise AssertionError(f"serve did not start: {server.log.read_text()[-3000:]}")
        time.sleep(0.2)


@pytest.fixture
def cluster(postgres_url: str,
            tmp_path: Path) -> Iterator[tuple[list[Server], dict[str, str], str]]:
    with anvil_node() as rpc:
        data = tmp_path / "data"
        env = {**os.environ, "CUNZHENG_DATA_DIR": str(data), "CUNZHENG_DATABASE_URL": postgres_url,
               "CUNZHENG_CHAIN_RPC": rpc, "CUNZHENG_ANCHOR_ENABLED": "true",
               "CUNZHENG_ANCHOR_INTERVAL": "0.5", "CUNZHENG_ANCHOR_CONFIRMATIONS": "1",
               "CUNZHENG_CHECKPOINT_INTERVAL": "0.2"}
        # deploy once up front: every process reads the record (a first start with no record
        # would have each worker deploy a registry of its own)
        subprocess.run([*CLI, "deploy"], env=env, cwd=REPO, check=True, capture_output=True)
        key = subprocess.run([*CLI, "keys", "create", "--role", "lender", "--tenant", "bank-a"],
                             env=env, cwd=REPO, check=True, capture_output=True,
                             text=True).stdout.strip()
        servers = [_serve(env, tmp_path / "serve-a.log", "--workers", "3")]
        _wait_up(servers[0])  # the first start migrates and creates keys; then the second
        servers.append(_serve(env, tmp_path / "serve-b.log"))
        _wait_up(servers[1])
        try:
            yield servers, env, key
        finally:
            for s in servers:
                s.proc.terminate()
            for s in servers:
                try:
                    s.proc.wait(30)
                except subprocess.TimeoutExpired:
                    s.proc.kill()
                    s.proc.wait()


@dataclass
class Tally:
    statuses: Counter[int] = field(default_factory=Counter)
    busy_retries: int = 0
    receipts: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    contested: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _post(client: httpx.Client, url: str, body: Any, tally: Tally) -> httpx.Response:
    for _ in range(RETRIES):
        r = client.post(url, json=body)
        if r.status_code == 503 and "retry-after" in r.headers:
            with tally.lock:
                tally.busy_retries += 1
            time.sleep(float(r.headers["retry-after"]) * random.random())
            continue
        with tally.lock:
            tally.statuses[r.status_code] += 1
            if r.status_code >= 500:
                tally.errors.append(f"{r.status_code} {url}: {r.text[:300]}")
        return r
    raise AssertionError(f"still busy after {RETRIES} tries: {url}")


def _writer(w: int, servers: list[Server], key: str, barrier: threading.Barrier,
            tally: Tally) -> None:
    rnd = random.Random(w)
    clients = [httpx.Client(base_url=s.url, timeout=60, headers={"Authorization": f"Bearer {key}"})
               for s in servers]
    try:
        for r in range(ROUNDS):
            c = rnd.choice(clients)
            batch = [make_event(f"w{w}-r{r}-{j}", f"L-w{w}-r{r}-{j}") for j in range(4)]
            resp = _post(c, "/v1/events/batch", {"events": batch}, tally)
            assert resp.status_code == 201, resp.text
            for event, receipt in zip(batch, resp.json()["receipts"], strict=True):
                receipt.pop("replay")
                with tally.lock:
                    tally.receipts[event["event_id"]].append(receipt)
            single = make_event(f"w{w}-s{r}", f"L-w{w}-s{r}")
            resp = _post(rnd.choice(clients), "/v1/events", single, tally)
            assert resp.status_code == 201, resp.text
            with tally.lock:
                tally.receipts[single["event_id"]].append(resp.json())
            # every writer at once: the same event, then the same id with its own content
            barrier.wait(timeout=60)
            shared = make_event(f"shared-{r}", f"L-shared-{r}")
            resp = _post(rnd.choice(clients), "/v1/events", shared, tally)
            with tally.lock:
                tally.contested[f"shared-{r}"].append(resp.status_code)
                if resp.status_code in (200, 201):
                    tally.receipts[shared["event_id"]].append(resp.json())
            barrier.wait(timeout=60)
            mine = make_event(f"contested-{r}", f"L-contested-{r}",
                              source={"system": "core-banking", "ref": f"writer-{w}"})
            resp = _post(rnd.choice(clients), "/v1/events", mine, tally)
            with tally.lock:
                tally.contested[f"contested-{r}"].append(resp.status_code)
                if resp.status_code == 201:
                    tally.receipts[mine["event_id"]].append(resp.json())
    except Exception as exc:  # noqa: BLE001 - reported by the test, with the writer
        with tally.lock:
            tally.errors.append(f"writer {w}: {type(exc).__name__}: {exc}")
        barrier.abort()
    finally:
        for c in clients:
            c.close()


def _anchored_events(rpc: str, data: Path) -> tuple[list[int], int, str]:
    """(sizes in the Anchored events in chain order, transactions the anchorer sent,
    contract address)."""
    record = json.loads((data / "deployment.json").read_text())
    w3 = Web3(Web3.HTTPProvider(rpc))
    contract = w3.eth.contract(address=record["address"], abi=list(load_artifact().abi))
    logs = contract.events.Anchored().get_logs(from_block=0)
    ordered = sorted(logs, key=lambda e: (e["blockNumber"], e["logIndex"]))
    anchorer = w3.eth.accounts[1]  # the dev anchorer (service.chain_setup.DEV_ROLES)
    return ([int(e["args"]["treeSize"]) for e in ordered],
            int(w3.eth.get_transaction_count(anchorer)), record["address"])


def test_workers_and_two_servers_on_one_postgres_log(
        cluster: tuple[list[Server], dict[str, str], str]) -> None:
    servers, env, key = cluster
    assert _children(servers[0].proc.pid) >= 3  # uvicorn's worker processes
    engine = create_engine(env["CUNZHENG_DATABASE_URL"])
    tally = Tally()
    barrier = threading.Barrier(WRITERS)
    holders: set[str] = set()
    started = time.monotonic()
    threads = [threading.Thread(target=_writer, args=(w, servers, key, barrier, tally))
               for w in range(WRITERS)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        assert time.monotonic() - started < DEADLINE, "writers did not finish: deadlock?"
        with engine.connect() as conn:
            holders |= {r[0] for r in conn.execute(
                select(job_state.c.holder).where(job_state.c.name == "anchoring")) if r[0]}
        time.sleep(0.25)
    for t in threads:
        t.join()
    assert not tally.errors, "\n".join(tally.errors[:20])
    assert not any(s >= 500 for s in tally.statuses), tally.statuses
    requests = sum(tally.statuses.values())
    assert tally.busy_retries <= requests // 10, (tally.busy_retries, requests)

    # idempotency under races
    for r in range(ROUNDS):
        assert sorted(tally.contested[f"shared-{r}"]) == [200] * (WRITERS - 1) + [201]
        assert sorted(tally.contested[f"contested-{r}"]) == [201] + [409] * (WRITERS - 1)
    for event_id, receipts in tally.receipts.items():
        assert all(rc == receipts[0] for rc in receipts), event_id
    expected = {e for e in tally.receipts}
    assert len(expected) == WRITERS * ROUNDS * 5 + 2 * ROUNDS
    with engine.connect() as conn:
        rows = conn.execute(select(leaves.c.leaf_index, leaves.c.event_id)
                            .order_by(leaves.c.leaf_index)).all()
    assert [r[0] for r in rows] == list(range(len(rows)))
    ids = Counter(r[1] for r in rows)
    assert set(ids) == expected and max(ids.values()) == 1
    by_id = {r[1]: r[0] for r in rows}
    assert all(rc[0]["leaf_index"] == by_id[e] for e, rc in tally.receipts.items())

    # anchoring catches up to the whole log, one submitter at a time
    size = len(rows)
    with engine.connect() as conn:
        while True:
            top = conn.execute(select(anchors.c.tree_size, anchors.c.status)
                               .order_by(anchors.c.tree_size.desc()).limit(1)).first()
            if top is not None and top[0] == size and top[1] in ("included", "final"):
                break
            assert time.monotonic() - started < DEADLINE + 60, f"anchoring stuck at {top}"
            time.sleep(0.5)
        attempts = [int(r[0]) for r in conn.execute(select(anchors.c.attempts))]
        lease = conn.execute(select(job_state.c.holder)
                             .where(job_state.c.name == "anchoring")).all()
    sizes, sent, _ = _anchored_events(env["CUNZHENG_CHAIN_RPC"], Path(env["CUNZHENG_DATA_DIR"]))
    assert sizes and sizes[-1] == size
    assert all(a < b for a, b in itertools.pairwise(sizes)), sizes
    assert sent == len(sizes), f"the anchorer sent {sent} transactions for {len(sizes)} anchors"
    assert set(attempts) == {1}, attempts
    assert len(lease) == 1 and lease[0][0], lease
    holders.add(lease[0][0])
    print(f"\n{requests} requests ({dict(tally.statuses)}), {tally.busy_retries} busy retries, "
          f"{size} leaves, {len(sizes)} anchors {sizes}, lease holders seen {sorted(holders)}, "
          f"{time.monotonic() - started:.1f} s")

    done = subprocess.run([*CLI, "fsck", "--json"], env=env, cwd=REPO, capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    for s in servers:
        assert "Traceback" not in s.log.read_text(errors="replace"), s.log.read_text()[-3000:]
    engine.dispose()
