"""Real EVM nodes for integration tests: the project's devnet as a separate process, and
anvil (the binary from the npm package @foundry-rs/anvil-linux-amd64, installed by
`make node-deps`)."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Self

REPO = Path(__file__).resolve().parents[2]
ANVIL = REPO / "tools" / "node_modules" / ".bin" / "anvil"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rpc(url: str, method: str, params: list | None = None) -> object:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method,
                       "params": params or []}).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        answer = json.load(r)
    if "error" in answer:
        raise RuntimeError(f"{method}: {answer['error']}")
    return answer["result"]


def anvil_binary() -> str | None:
    if ANVIL.exists():
        return str(ANVIL)
    return shutil.which("anvil")


@contextmanager
def anvil_node() -> Iterator[str]:
    binary = anvil_binary()
    assert binary, ("anvil is missing: run `make node-deps` "
                    "(npm package @foundry-rs/anvil-linux-amd64)")
    port = free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--chain-id", "31337", "--silent"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                rpc(url, "eth_chainId")
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise AssertionError("anvil did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


class DevnetNode:
    """The project's devnet as a process this test owns, on a fixed port and data
    directory, so it can be stopped (a chain outage) and started again with its chain
    intact. `cunzheng serve` pointed at it (CUNZHENG_CHAIN_RPC) does not start its own."""

    def __init__(self, data_dir: Path, port: int | None = None, block_time: float = 1.0) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.block_time = block_time
        self.process: object | None = None

    def start(self, timeout: float = 60.0) -> None:
        from cunzheng_devnet import start_devnet_process

        # the port of a stopped devnet may linger a moment
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.process = start_devnet_process(
                    self.data_dir, port=self.port,
                    extra_args=("--block-time", str(self.block_time)))
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()  # type: ignore[attr-defined]
            self.process = None


@contextmanager
def devnet_node(data_dir: Path, block_time: float = 1.0) -> Iterator[DevnetNode]:
    node = DevnetNode(data_dir, block_time=block_time)
    node.start()
    try:
        yield node
    finally:
        node.stop()


class RpcProxy:
    """A JSON-RPC proxy in front of a node, for faults at an exact call: `on(method, hook)`
    arms a one-shot hook that runs after the node answered that method and before the
    answer is passed on; when the hook returns False the caller gets no answer (the
    connection is closed), as if the caller had died or the network dropped the reply."""

    def __init__(self, upstream: str) -> None:
        import http.server
        import threading

        self.upstream = upstream
        self.calls: list[str] = []
        self._hooks: dict[str, Callable[[object], bool]] = {}
        self._lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                request = json.loads(body)
                methods = ([r["method"] for r in request] if isinstance(request, list)
                           else [request["method"]])
                upstream = urllib.request.Request(proxy.upstream, data=body,
                                                  headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(upstream, timeout=30) as r:
                    answer = r.read()
                with proxy._lock:
                    proxy.calls.extend(methods)
                    hooks = [proxy._hooks.pop(m) for m in methods if m in proxy._hooks]
                if not all(hook(json.loads(answer)) for hook in hooks):
                    self.close_connection = True
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def on(self, method: str, hook: Callable[[object], bool]) -> None:
        with self._lock:
            self._hooks[method] = hook

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
