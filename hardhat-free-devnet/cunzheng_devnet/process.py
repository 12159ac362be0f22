"""`start_devnet_process`: the devnet in a child process, for tests and the demo.

The child is `python -m cunzheng_devnet`; its output goes to a log file (so a full pipe can
never stall it), and the helper returns once the log names the bound address and the node
answers `eth_chainId`. `stop()` sends SIGTERM (a clean shutdown); `kill()` sends SIGKILL,
which the store is built to survive.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

from .chain import DEFAULT_CHAIN_ID
from .errors import DevnetError
from .server import DEFAULT_HOST, LISTENING_MARK

START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 15.0
LOG_FILE_NAME = "devnet.log"


@dataclass
class DevnetProcess:
    """A running devnet child process."""

    process: subprocess.Popen[bytes]
    url: str
    data_dir: Path
    chain_id: int
    log_path: Path
    _log: object = field(repr=False, default=None)

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> int:
        """SIGTERM and wait; SIGKILL if it does not exit within `timeout`. Returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def kill(self) -> int:
        """SIGKILL and wait: the crash case. Returns the exit code."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        return self.process.returncode

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _child_pythonpath() -> str:
    # The child must import this package from where we did.
    existing = os.environ.get("PYTHONPATH")
    parts = [str(Path(__file__).resolve().parents[1])] + ([existing] if existing else [])
    return os.pathsep.join(parts)


def _answers(url: str, chain_id: int) -> bool:
    request = urllib.request.Request(
        url,
        data=json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return bool(json.load(response).get("result") == hex(chain_id))
    except OSError:
        return False


def start_devnet_process(
    data_dir: str | os.PathLike[str],
    *,
    host: str = DEFAULT_HOST,
    port: int = 0,
    chain_id: int = DEFAULT_CHAIN_ID,
    log_path: str | os.PathLike[str] | None = None,
    extra_args: tuple[str, ...] = (),
    timeout: float = START_TIMEOUT_SECONDS,
) -> DevnetProcess:
    """Start `python -m cunzheng_devnet` and wait until it answers. `port=0`: a free port."""
    data_path = Path(data_dir)
    data_path.mkdir(parents=True, exist_ok=True)
    log_file = Path(log_path) if log_path is not None else data_path / LOG_FILE_NAME
    offset = log_file.stat().st_size if log_file.exists() else 0
    log = open(log_file, "ab")  # noqa: SIM115 - closed by the child's exit, kept on the handle
    command = [
        sys.executable, "-m", "cunzheng_devnet",
        "--host", host, "--port", str(port),
        "--data-dir", str(data_path), "--chain-id", str(chain_id), *extra_args,
    ]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=_child_pythonpath(), PYTHONUNBUFFERED="1")
    process = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env
    )
    log.close()
    deadline = time.monotonic() + timeout
    url = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log_file.read_bytes()[offset:].decode(errors="replace").strip()
            raise DevnetError(
                f"devnet exited with code {process.returncode} before answering: "
                f"{tail.splitlines()[-1] if tail else '(no output)'}"
            )
        if url is None:
            text = log_file.read_bytes()[offset:].decode(errors="replace")
            for line in text.splitlines():
                if line.startswith(LISTENING_MARK):
                    url = line[len(LISTENING_MARK) :].strip()
        if url is not None and _answers(url, chain_id):
            return DevnetProcess(process, url, data_path, chain_id, log_file)
        time.sleep(0.05)
    process.kill()
    process.wait()
    raise DevnetError(f"devnet did not answer within {timeout} s; see {log_file}")
