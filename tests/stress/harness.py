"""What the stress drills share: `cunzheng serve` as a subprocess in its own session (so it
and the devnet it starts can be cleaned up by process group), a load generator that posts
singles and batches and remembers every receipt it was given, and the checks of what a
client was promised: acknowledged events keep their leaf index and hash, indices are
contiguous, every checkpoint seen is extended by the log, and no size is anchored twice.

Checks return a list of violations (one line each) rather than raising, so a drill can
report every broken promise of a run and the script can print a summary."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from anchoring.receipts import verify_receipt
from cunzheng_verify import merkle, notes
from tests.conftest import make_event
from tests.integration.chain_nodes import REPO

CLI = [sys.executable, "-m", "service.cli"]
LEAF_PAGE = 1000  # GET /v1/log/leaves answers at most this many
START_TIMEOUT = 90.0


def stress_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a drill's service: fast checkpoints and anchoring rounds."""
    return {**os.environ, "CUNZHENG_DATA_DIR": str(data_dir), "CUNZHENG_CHECKPOINT_INTERVAL": "0.2",
            "CUNZHENG_ANCHOR_INTERVAL": "1", "CUNZHENG_ANCHOR_CONFIRMATIONS": "2",
            "CUNZHENG_DEVNET_BLOCK_TIME": "1", "PYTHONUNBUFFERED": "1", **extra}


def create_key(env: dict[str, str], role: str, tenant: str | None = None) -> str:
    args = ["keys", "create", "--role", role] + (["--tenant", tenant] if tenant else [])
    return subprocess.run([*CLI, *args], env=env, cwd=REPO, check=True, capture_output=True,
                          text=True, timeout=120).stdout.strip()


def _members(pgids: set[int], marker: str) -> list[int]:
    """Processes in these groups whose command line names `marker` (a data directory): the
    ones a drill started, found by id even after their parent was SIGKILLed."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            pgid = int(stat.rsplit(")", 1)[1].split()[2])
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError, IndexError):
            continue
        if pgid in pgids and marker in cmdline:
            found.append(int(entry.name))
    return found


def end_processes(pgids: set[int], marker: str, timeout: float = 15.0) -> None:
    """SIGTERM what a drill started (see `_members`), then SIGKILL what is left."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = _members(pgids, marker)
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout
        while pids and time.monotonic() < deadline:
            pids = _members(pgids, marker)
            time.sleep(0.1)
        if not pids:
            return


class Serve:
    """`cunzheng serve` on a fixed port, restartable; every start is its own session, so the
    devnet a killed serve leaves behind is still found (by its group) at cleanup."""

    def __init__(self, env: dict[str, str], port: int, args: tuple[str, ...] = ()) -> None:
        self.env = env
        self.port = port
        self.args = args  # more `serve` flags (e.g. --workers 2)
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.groups: list[int] = []
        self.log_path = Path(env["CUNZHENG_DATA_DIR"]).parent / f"serve-{port}.log"
        self.starts = 0

    def start(self) -> float:
        """Start and wait for /healthz; returns the seconds it took."""
        Path(self.env["CUNZHENG_DATA_DIR"]).mkdir(parents=True, exist_ok=True)
        began = time.monotonic()
        with open(self.log_path, "ab") as log:
            log.write(f"\n==== start {self.starts} ====\n".encode())
            log.flush()
            self.proc = subprocess.Popen([*CLI, "serve", "--port", str(self.port), *self.args],
                                         env=self.env,
                                         cwd=REPO, stdout=log, stderr=log, start_new_session=True)
        self.groups.append(self.proc.pid)
        self.starts += 1
        while time.monotonic() - began < START_TIMEOUT:
            if self.proc.poll() is not None:
                raise RuntimeError(f"serve exited with {self.proc.returncode}: {self.tail()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return time.monotonic() - began
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"serve did not answer within {START_TIMEOUT:g} s: {self.tail()}")

    def kill9(self) -> None:
        """SIGKILL serve only (its devnet child survives, as after a real crash)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)
        self.proc = None

    def kill9_group(self) -> None:
        """SIGKILL serve and every process of its session at once (its uvicorn workers
        with --workers: the whole service dies, as when the machine loses power)."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)
        self.proc = None
        deadline = time.monotonic() + 30
        while _members({self.groups[-1]}, "") and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def cleanup(self) -> None:
        """End serve and every process it started (the devnet a killed serve left behind)."""
        self.stop()
        end_processes(set(self.groups), self.env["CUNZHENG_DATA_DIR"])

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"


class Api:
    """The few calls the drills make, with a lender and an auditor key."""

    def __init__(self, url: str, lender: str, auditor: str) -> None:
        self.url = url
        self.lender = {"Authorization": f"Bearer {lender}"}
        self.auditor = {"Authorization": f"Bearer {auditor}"}

    def get(self, path: str, role: str = "auditor", timeout: float = 15) -> Any:
        headers = self.auditor if role == "auditor" else self.lender
        r = httpx.get(f"{self.url}{path}", headers=headers, timeout=timeout)
        if r.status_code != 200:
            raise AssertionError(f"GET {path}: {r.status_code} {r.text[:300]}")
        return r.json()

    def tree_size(self) -> int:
        return int(httpx.get(f"{self.url}/healthz", timeout=10).json()["tree_size"])

    def anchors(self) -> list[dict[str, Any]]:
        return list(self.get("/v1/log/anchors?limit=500")["anchors"])

    def log_key(self) -> tuple[str, bytes]:
        import base64

        key = self.get("/v1/log/key")
        return str(key["key_name"]), base64.b64decode(key["public_key"])


@dataclass
class LoadStats:
    requests: int = 0
    acknowledged: int = 0
    indeterminate: int = 0  # requests with no answer (service down or killed mid-request)
    retried: int = 0
    refused: list[str] = field(default_factory=list)  # 4xx/5xx answers (a violation)


class Load:
    """Posts events at about `rate` per second (a random mix of single events and batches of
    2 to 20) from `workers` threads. Every 2xx receipt is kept by event id; a request that
    got no answer is retried unchanged once the service answers again (the same event id
    again must give the same receipt)."""

    def __init__(self, url: str, lender_key: str, rate: float, *, prefix: str = "s",
                 workers: int = 2, seed: int = 0, single_share: float = 0.4) -> None:
        self.url = url
        self.single_share = single_share  # the share of requests that are single events
        self.headers = {"Authorization": f"Bearer {lender_key}"}
        self.rate = rate
        self.prefix = prefix
        self.workers = workers
        self.acked: dict[str, dict[str, Any]] = {}
        self.stats = LoadStats()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._counter = 0
        self._seed = seed
        self._threads: list[threading.Thread] = []

    def _next_ids(self, n: int) -> list[str]:
        with self._lock:
            start = self._counter
            self._counter += n
        return [f"{self.prefix}-{i}" for i in range(start, start + n)]

    def start(self) -> None:
        for w in range(self.workers):
            t = threading.Thread(target=self._run, args=(random.Random(self._seed * 100 + w),),
                                 name=f"load-{w}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(60)
        self._threads.clear()

    def _run(self, rnd: random.Random) -> None:
        with httpx.Client(headers=self.headers, timeout=30) as client:
            while not self._stop.is_set():
                n = 1 if rnd.random() < self.single_share else rnd.randint(2, 20)
                events = [make_event(eid, f"L-{eid}") for eid in self._next_ids(n)]
                self._deliver(client, events)
                self._stop.wait(n * self.workers / self.rate)

    def _deliver(self, client: httpx.Client, events: list[dict[str, Any]]) -> None:
        """Post until an answer comes: an unanswered post is retried (the same events)."""
        tries = 0
        while True:
            tries += 1
            with self._lock:
                self.stats.requests += 1
                if tries > 1:
                    self.stats.retried += 1
            try:
                if len(events) == 1:
                    r = client.post(f"{self.url}/v1/events", json=events[0])
                else:
                    r = client.post(f"{self.url}/v1/events/batch", json={"events": events})
            except httpx.HTTPError:
                with self._lock:
                    self.stats.indeterminate += 1
                if self._stop.wait(0.3) and tries > 50:
                    return  # stopping and the service stays down: leave them unacknowledged
                continue
            if r.status_code == 503:  # busy: the answer says try again
                self._stop.wait(0.2)
                continue
            if r.status_code not in (200, 201):
                with self._lock:
                    self.stats.refused.append(f"{[e['event_id'] for e in events][:3]}: "
                                              f"{r.status_code} {r.text[:200]}")
                return
            receipts = [r.json()] if len(events) == 1 else r.json()["receipts"]
            with self._lock:
                for event, receipt in zip(events, receipts, strict=True):
                    receipt = {k: v for k, v in receipt.items() if k != "replay"}
                    before = self.acked.get(event["event_id"])
                    if before is not None and before != receipt:
                        self.stats.refused.append(f"{event['event_id']}: receipt changed on "
                                                  f"retry: {before} then {receipt}")
                    self.acked[event["event_id"]] = receipt
                self.stats.acknowledged = len(self.acked)
            return

    def post(self, n: int) -> None:
        """Post `n` new events now, in one request (one event: POST /v1/events)."""
        with httpx.Client(headers=self.headers, timeout=30) as client:
            self._deliver(client, [make_event(eid, f"L-{eid}") for eid in self._next_ids(n)])

    def snapshot(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return dict(self.acked)


class CheckpointWatcher:
    """Polls the latest signed checkpoint while the service answers, and keeps every one it
    saw (size → (root, note)): these are the promises the log must keep after a crash."""

    def __init__(self, api: Api, period: float = 0.5) -> None:
        self.api = api
        self.period = period
        self.seen: dict[int, tuple[bytes, str]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def poll_once(self) -> None:
        try:
            cp = self.api.get("/v1/log/checkpoint", timeout=5)
        except (httpx.HTTPError, AssertionError):
            return
        with self._lock:
            self.seen[int(cp["tree_size"])] = (bytes.fromhex(cp["root"]), str(cp["note"]))

    def start(self) -> None:
        def run() -> None:
            while not self._stop.wait(self.period):
                self.poll_once()

        self._thread = threading.Thread(target=run, name="checkpoints", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)

    def snapshot(self) -> dict[int, tuple[bytes, str]]:
        with self._lock:
            return dict(self.seen)


# --- the checks ------------------------------------------------------------------------


def leaf_hashes(api: Api, size: int) -> list[bytes]:
    out: list[bytes] = []
    for start in range(0, size, LEAF_PAGE):
        end = min(size, start + LEAF_PAGE)
        page = api.get(f"/v1/log/leaves?start={start}&end={end}")["leaf_hashes"]
        out.extend(bytes.fromhex(h) for h in page)
    return out


def check_log(api: Api, acked: dict[str, dict[str, Any]], *, key_name: str, public_key: bytes,
              full_reads: Callable[[str], bool] = lambda _: True) -> tuple[list[str], int]:
    """Acknowledged events keep their index and hash; indices are contiguous. Events for
    which `full_reads` is true are also read back one by one (GET /v1/events/{id}) and
    their receipt must be the one given. Returns (violations, tree size)."""
    violations: list[str] = []
    size = api.tree_size()
    hashes = leaf_hashes(api, size)
    if len(hashes) != size:
        violations.append(f"leaves [0, {size}) answered {len(hashes)} hashes: indices not "
                          f"contiguous")
    indices: dict[int, str] = {}
    for eid, receipt in acked.items():
        index, leaf_hash = int(receipt["leaf_index"]), bytes.fromhex(receipt["leaf_hash"])
        if index in indices:
            violations.append(f"{eid} and {indices[index]} were both acknowledged at leaf {index}")
        indices[index] = eid
        if index >= len(hashes):
            violations.append(f"acknowledged {eid} at leaf {index} is beyond the log (size {size})")
            continue
        if hashes[index] != leaf_hash:
            violations.append(f"acknowledged {eid}: leaf {index} holds {hashes[index].hex()}, "
                              f"the receipt says {leaf_hash.hex()}")
        if full_reads(eid):
            try:
                verify_receipt(receipt, key_name=key_name, public_key=public_key)
                got = api.get(f"/v1/events/{eid}", role="lender")
            except Exception as exc:  # noqa: BLE001 - every failure is a violation to report
                violations.append(f"acknowledged {eid}: {type(exc).__name__}: {exc}")
                continue
            if got["receipt"] != receipt:
                violations.append(
                    f"acknowledged {eid}: receipt now {got['receipt']}, was {receipt}")
    return violations, size


def check_checkpoints(api: Api, seen: dict[int, tuple[bytes, str]], *, key_name: str,
                      public_key: bytes) -> tuple[list[str], tuple[int, bytes] | None]:
    """Every checkpoint seen is still served with the same root and is extended by the
    latest one (consistency proofs verified with cunzheng_verify.merkle). Returns (violations,
    latest (size, root))."""
    violations: list[str] = []
    latest = api.get("/v1/log/checkpoint")
    try:
        cp = notes.verify_checkpoint(latest["note"], key_name=key_name, public_key=public_key)
    except Exception as exc:  # noqa: BLE001
        return [f"latest checkpoint note does not verify: {exc}"], None
    size2, root2 = cp.tree_size, cp.root
    for size, (root, note) in sorted(seen.items()):
        if size > size2:
            violations.append(f"checkpoint {size} was signed, but the latest is {size2}")
            continue
        try:
            again = api.get(f"/v1/log/checkpoints/{size}")
        except AssertionError as exc:
            violations.append(f"checkpoint {size} was signed, now: {exc}")
            continue
        if bytes.fromhex(again["root"]) != root or again["note"] != note:
            violations.append(f"checkpoint {size} changed: root {again['root']}, was {root.hex()}")
        proof = api.get(f"/v1/log/proofs/consistency?first={size}&second={size2}")["proof"]
        try:
            merkle.verify_consistency(size, size2, [bytes.fromhex(h) for h in proof], root, root2)
        except Exception as exc:  # noqa: BLE001
            violations.append(f"checkpoint {size} is not extended by checkpoint {size2}: {exc}")
    return violations, (size2, root2)


def chain_anchors(rpc_url: str, deployment_file: Path) -> list[Any]:
    """Every `Anchored` event of the registry, in chain order."""
    from web3 import Web3

    from anchoring.registry import AnchorRegistryClient

    address = json.loads(deployment_file.read_text())["address"]
    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 30}))
    return list(AnchorRegistryClient(w3, address).anchored_events(0, "latest"))


def check_chain_anchors(events: list[Any], api: Api) -> list[str]:
    """Sizes strictly increasing (so none twice), each anchored root is the log's root for
    that size, and each on-chain anchor is one the service recorded."""
    violations: list[str] = []
    sizes = [e.tree_size for e in events]
    if len(set(sizes)) != len(sizes):
        violations.append(f"a size was anchored twice on chain: {sizes}")
    if sizes != sorted(set(sizes)):
        violations.append(f"anchored sizes are not strictly increasing: {sizes}")
    recorded = {a["tree_size"]: a for a in api.anchors()}
    previous = 0
    for e in events:
        try:
            cp = api.get(f"/v1/log/checkpoints/{e.tree_size}")
            if bytes.fromhex(cp["root"]) != e.root:
                violations.append(f"anchored root for size {e.tree_size} is {e.root.hex()}, the "
                                  f"log's checkpoint says {cp['root']}")
        except AssertionError as exc:
            violations.append(f"size {e.tree_size} is anchored but has no checkpoint: {exc}")
        if e.previous_size != previous:
            violations.append(f"anchor {e.tree_size} extends {e.previous_size}, the chain held "
                              f"{previous}")
        previous = e.tree_size
        row = recorded.get(e.tree_size)
        if row is None:
            violations.append(f"size {e.tree_size} is anchored on chain (tx 0x{e.tx_hash.hex()}) "
                              "but the service has no record of it")
        elif row["status"] == "final" and row["tx_hash"] != "0x" + e.tx_hash.hex():
            violations.append(f"anchor {e.tree_size} recorded with tx {row['tx_hash']}, the chain "
                              f"has it in 0x{e.tx_hash.hex()}")
    return violations


def wait_for(what: str, probe: Callable[[], Any], timeout: float, period: float = 0.5) -> Any:
    """Poll until `probe` returns something true; AssertionError naming `what` otherwise."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except (httpx.HTTPError, AssertionError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(period)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}; last: {last!r}")


def final_anchor_of(api: Api, size: int) -> dict[str, Any] | None:
    return next((a for a in api.anchors() if a["tree_size"] == size and a["status"] == "final"),
                None)


def run_fsck(env: dict[str, str]) -> tuple[bool, str]:
    done = subprocess.run([*CLI, "fsck", "--json"], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    try:
        ok = bool(json.loads(done.stdout)["ok"]) and done.returncode == 0
    except (ValueError, KeyError):
        ok = False
    return ok, (done.stdout[-2000:] + done.stderr[-2000:])
