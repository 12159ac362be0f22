"""Wiring the chain: connect to the configured node or the embedded devnet, deploy the
registry once (the deployment record lives in the data directory), and run the anchoring
job on a schedule. The chain may be down at any time: the service keeps accepting events
and the job connects, deploys and catches up when the node answers."""

from __future__ import annotations

import fcntl
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

from apscheduler.schedulers.background import BackgroundScheduler
from eth_account import Account
from eth_utils.address import to_checksum_address
from web3 import Web3
from web3.middleware import SignAndSendRawMiddlewareBuilder
from web3.middleware.signing import to_account
from web3.types import Wei

from anchoring.anchor_job import (
    LEASE,
    AnchoringJob,
    AnchorJobConfig,
    Backoff,
    RoundReport,
    run_guarded,
)
from anchoring.anchor_store import AnchorStore
from anchoring.chain import Web3Chain
from anchoring.errors import AnchoringError
from anchoring.registry import (
    DeploymentRecord,
    check_deployed_code,
    deploy_registry,
    load_deployment,
    save_deployment,
)
from service.context import AppContext
from service.errors import DevnetFailed
from service.logkey import anchor_account_for
from service.settings import Settings

logger = logging.getLogger("cunzheng.chain")


class DevRoles(TypedDict):
    admin: int
    anchorer: int
    witnesses: tuple[int, ...]


DEV_ROLES: DevRoles = {"admin": 0, "anchorer": 1, "witnesses": (2, 3, 4)}
"""Dev accounts by index on the devnet or anvil: their keys are public."""


def rpc_url(settings: Settings) -> str:
    return settings.chain_rpc or f"http://127.0.0.1:{settings.devnet_port}"


def web3_for(settings: Settings, timeout: float = 10.0) -> Web3:
    w3 = Web3(Web3.HTTPProvider(rpc_url(settings), request_kwargs={"timeout": timeout}))
    token_account = anchor_account_for(settings)  # the key in a PKCS#11 token, if configured
    if token_account is not None:
        # the middleware takes file keys and LocalAccounts; ours quacks like the latter
        to_account.register(type(token_account), lambda account: account)
        w3.middleware_onion.inject(SignAndSendRawMiddlewareBuilder.build(token_account), layer=0)
        w3.eth.default_account = token_account.address
    elif settings.anchor_key_file:
        account = Account.from_key(_read_key(settings.anchor_key_file))
        w3.middleware_onion.inject(SignAndSendRawMiddlewareBuilder.build(account), layer=0)
        w3.eth.default_account = account.address
    return w3


def _read_key(path: Path) -> str:
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise AnchoringError(f"key file {path} is readable by others (mode {mode:o}); chmod 600 it")
    return path.read_text().strip()


def anchorer_address(w3: Web3, settings: Settings) -> str:
    if settings.anchor_key_file or settings.anchor_key_uri:
        return str(w3.eth.default_account)
    return str(w3.eth.accounts[DEV_ROLES["anchorer"]])


def fund_on_dev_chain(w3: Web3, address: str, funder: str, wei: int = 10**20) -> None:
    """On a dev chain, give a configured anchorer (a key of its own, or one in a token) the
    ether its transactions need, from a dev account, when it has none."""
    if w3.eth.get_balance(to_checksum_address(address)) == 0:
        tx = w3.eth.send_transaction({"from": funder, "to": to_checksum_address(address),
                                      "value": Wei(wei)})
        w3.eth.wait_for_transaction_receipt(tx, timeout=60)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


DEVNET_EXTRA = ("the local devnet runs on eth-tester and py-evm, which the main install "
                "leaves out: pip install 'cunzheng[devnet]', or point CUNZHENG_CHAIN_RPC at a "
                "chain node")


def import_devnet() -> Any:
    """The devnet package (`cunzheng_devnet`), or `DevnetFailed` saying how to install it when
    the `devnet` extra is not installed (its modules import eth-tester and py-evm)."""
    try:
        import cunzheng_devnet
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in ("eth_tester", "eth", "eth_keys"):
            raise
        raise DevnetFailed(f"{DEVNET_EXTRA} (Python module {exc.name!r} is missing)") from None
    return cunzheng_devnet


def start_embedded_devnet(settings: Settings) -> Any:
    """Start the devnet under the data directory unless something already listens there."""
    if settings.chain_rpc or port_open(settings.devnet_port):
        return None
    devnet = import_devnet()
    try:
        return devnet.start_devnet_process(settings.data_dir / "devnet", port=settings.devnet_port,
                                    extra_args=("--block-time", str(settings.devnet_block_time)))
    except devnet.DevnetError as exc:
        raise DevnetFailed(exc.diagnostics()) from exc


def ensure_deployment(w3: Web3, settings: Settings) -> DeploymentRecord:
    """The deployment record, deploying the registry first if there is none. Checks the
    code at the recorded address is the committed artifact."""
    path = settings.resolved_deployment_file
    path.parent.mkdir(parents=True, exist_ok=True)
    # Several workers (or `serve` processes on this data directory) start at once: one
    # deploys, the others wait for its record instead of deploying registries of their own.
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return _ensure_deployment_locked(w3, settings, path)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _ensure_deployment_locked(w3: Web3, settings: Settings, path: Path) -> DeploymentRecord:
    if path.exists():
        record = load_deployment(path)
        check_deployed_code(w3, record)
        return record
    configured_key = settings.anchor_key_file or settings.anchor_key_uri
    if settings.chain_rpc and not configured_key and w3.eth.chain_id not in (1337, 31337):
        raise AnchoringError(f"no deployment record at {path}; run `cunzheng deploy` first")
    accounts = w3.eth.accounts
    witnesses = [accounts[i] for i in DEV_ROLES["witnesses"]]
    if configured_key and w3.eth.chain_id in (1337, 31337):
        fund_on_dev_chain(w3, anchorer_address(w3, settings), accounts[DEV_ROLES["admin"]])
    record = deploy_registry(w3, accounts[DEV_ROLES["admin"]],
                             anchorers=[anchorer_address(w3, settings)], witnesses=witnesses)
    save_deployment(record, path)
    logger.info("deployed the anchor registry at %s (chain %s)", record.address, record.chain_id)
    return record


@dataclass
class AnchorRunner:
    """Builds the job on first success (connect, deploy) and runs guarded rounds."""

    ctx: AppContext
    backoff: Backoff
    job: AnchoringJob | None = None
    last: RoundReport | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def tick(self) -> RoundReport | None:
        if not self.lock.acquire(blocking=False):
            return None
        try:
            if self.job is None:
                if not self.backoff.ready():
                    return None
                try:
                    self.job = self._build()
                except Exception as exc:  # noqa: BLE001 - any failure to connect: back off
                    delay = self.backoff.failure()
                    logger.warning("chain not ready (%s: %s); retrying in %.0f s",
                                   type(exc).__name__, exc, delay)
                    return None
            self.last = run_guarded(self.job, self.backoff)
            return self.last
        finally:
            self.lock.release()

    def close(self) -> None:
        """Give the submitter lease back, so another process need not wait for it to lapse."""
        with self.lock:
            if self.job is not None:
                self.job.anchors.release_lease(LEASE, self.job.config.holder)

    def _build(self) -> AnchoringJob:
        settings = self.ctx.settings
        w3 = web3_for(settings)
        record = ensure_deployment(w3, settings)
        chain = Web3Chain(w3, record.address, sender=anchorer_address(w3, settings))
        holder = f"{socket.gethostname()}:{os.getpid()}"
        return AnchoringJob(self.ctx.log, AnchorStore(self.ctx.engine), chain,
                            AnchorJobConfig(holder=holder,
                                            confirmations=settings.anchor_confirmations,
                                            drop_after_seconds=settings.anchor_drop_after,
                                            lease_ms=int(
                                                max(30, 6 * settings.anchor_interval) * 1000)),
                            self.ctx.clock)


def add_anchoring(scheduler: BackgroundScheduler, ctx: AppContext) -> AnchorRunner:
    """Schedule the anchoring job; it connects and deploys on its first good round."""
    runner = AnchorRunner(ctx, Backoff(time.monotonic))
    scheduler.add_job(runner.tick, "interval", seconds=ctx.settings.anchor_interval,
                      id="anchoring", max_instances=1, coalesce=True)
    return runner
