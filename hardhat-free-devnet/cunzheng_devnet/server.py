"""The devnet's HTTP server: JSON-RPC over POST on a loopback address, and `run_devnet`.

`run_devnet` opens (or creates) the chain in the data directory, prints the public dev
accounts with their warning, serves until SIGTERM or SIGINT, then closes the store. It
refuses any address that is not loopback unless told the keys are public on purpose,
because the dev accounts' keys are known to everybody and `eth_sendTransaction` signs
with them for anyone who can reach the port.
"""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import socket
import sys
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from .accounts import dev_accounts, public_keys_banner
from .chain import DEFAULT_CHAIN_ID, DevnetBackend, open_chain
from .errors import DevnetConfigError
from .rpc import RpcDispatcher
from .store import ChainStore

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8545
DEFAULT_DATA_DIR = "./data/devnet"
MAX_REQUEST_BYTES = 8 * 1024 * 1024
MAX_CHAIN_ID = 2**53 - 1  # what JSON numbers and most wallets can carry exactly
LISTENING_MARK = "cunzheng-devnet listening on "


def is_loopback(host: str) -> bool:
    """True if every address `host` resolves to is a loopback address."""
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror:
        return False
    addresses = {info[4][0] for info in infos}
    return bool(addresses) and all(ipaddress.ip_address(a).is_loopback for a in addresses)


def check_settings(host: str, port: int, chain_id: int, allow_non_loopback: bool) -> None:
    """Raise `DevnetConfigError` for settings the devnet must not start with."""
    if not allow_non_loopback and not is_loopback(host):
        raise DevnetConfigError(
            f"refusing to listen on {host!r}: expected a loopback address (127.0.0.1, ::1, "
            "localhost). The dev accounts' keys are public; pass --i-know-keys-are-public "
            "to expose them anyway"
        )
    if not 0 <= port <= 65535:
        raise DevnetConfigError(f"port: expected 0..65535, found {port}")
    if not 1 <= chain_id <= MAX_CHAIN_ID:
        raise DevnetConfigError(f"chain id: expected 1..{MAX_CHAIN_ID}, found {chain_id}")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], dispatcher: RpcDispatcher) -> None:
        host = address[0]
        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)
        self.dispatcher = dispatcher


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "CunzhengDevnet"

    def do_POST(self) -> None:
        length_text = self.headers.get("Content-Length")
        if length_text is None or not length_text.isdigit():
            self._send(411, b"Content-Length required\n", "text/plain")
            return
        length = int(length_text)
        if length > MAX_REQUEST_BYTES:
            self._send(
                413, f"request larger than {MAX_REQUEST_BYTES} bytes\n".encode(), "text/plain"
            )
            self.close_connection = True
            return
        body = self.rfile.read(length)
        answer = self.server.dispatcher.handle_body(body)
        if answer is None:
            self._send(204, b"", "application/json")
        else:
            self._send(200, answer, "application/json")

    def do_GET(self) -> None:
        self._send(405, b"JSON-RPC: use POST\n", "text/plain")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        if os.environ.get("CUNZHENG_DEVNET_ACCESS_LOG"):
            super().log_message(format, *args)


def _mine_every(url: str, seconds: float, stop: threading.Event) -> None:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "evm_mine", "params": []}).encode()
    while not stop.wait(seconds):
        request = urllib.request.Request(url, data=body,
                                         headers={"Content-Type": "application/json"})
        try:
            urllib.request.urlopen(request, timeout=30).read()
        except OSError:
            pass  # shutting down, or busy: the next round mines


def run_devnet(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    data_dir: str | os.PathLike[str] = DEFAULT_DATA_DIR,
    chain_id: int = DEFAULT_CHAIN_ID,
    *,
    allow_non_loopback: bool = False,
    block_time: float = 0.0,
) -> None:
    """Serve the devnet until SIGTERM/SIGINT. Blocks; call from the main thread.

    With `block_time` > 0 an empty block is also mined every `block_time` seconds (through
    the server's own `evm_mine`, so it is persisted like any block)."""
    check_settings(host, port, chain_id, allow_non_loopback)
    accounts = dev_accounts()
    store = ChainStore.open(Path(data_dir))
    try:
        chain = open_chain(store, chain_id, accounts)
        dispatcher = RpcDispatcher(DevnetBackend(chain, accounts), store, chain_id)
        try:
            server = _Server((host, port), dispatcher)
        except OSError as exc:
            raise DevnetConfigError(f"cannot listen on {host}:{port}: {exc}") from exc
        stop = threading.Event()

        def request_stop(signum: int, frame: Any) -> None:
            if not stop.is_set():
                stop.set()
                threading.Thread(target=server.shutdown, daemon=True).start()

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        head = chain.get_canonical_head()
        bound_host, bound_port = server.server_address[:2]
        url_host = f"[{bound_host}]" if ":" in str(bound_host) else bound_host
        print(public_keys_banner(accounts))
        print(f"chain id {chain_id}, data in {store.data_dir.resolve()}")
        print(f"head block #{head.block_number} 0x{head.hash.hex()}")
        print(f"{LISTENING_MARK}http://{url_host}:{bound_port}", flush=True)
        if block_time > 0:
            threading.Thread(target=_mine_every, args=(f"http://{url_host}:{bound_port}",
                                                        block_time, stop), daemon=True).start()
        try:
            server.serve_forever(poll_interval=0.2)
        finally:
            server.server_close()
    finally:
        store.close()
    print("cunzheng-devnet stopped", file=sys.stderr, flush=True)
