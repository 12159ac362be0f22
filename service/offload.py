"""Run CPU-bound parsing of untrusted bytes in a worker process of its own.

`json.loads` runs in C and keeps the interpreter lock for the whole parse, so a body of
megabytes parsed in a worker thread still stalls the event loop (`/healthz` waited 0.5-1.3 s
behind a 16 MiB or a 200,000-value body, or a package with an 8 MiB manifest). Bodies of at
least `OFFLOAD_BYTES`, and package verification, run in a worker process
(`python -m service.offload`, started on first use, restarted if it dies); the event loop
only waits for the answer to come back. Smaller bodies, the common case, stay in a thread.

The protocol is one request at a time over the worker's stdin/stdout: a 8-byte length, then
a pickle of `(module, function, args, kwargs)`; the answer `("ok", value)` or
`("error", exception)`. Only the service talks to its own worker (no untrusted pickles).
"""

from __future__ import annotations

import importlib
import os
import pickle
import struct
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import IO, Any, TypeVar

from starlette.concurrency import run_in_threadpool

from cunzheng_verify.records import parse_json

OFFLOAD_BYTES = 256 * 1024
"""Bodies this large or larger are parsed in the worker (a 1,000-event batch is ~0.6 MB)."""

T = TypeVar("T")
_HEADER = struct.Struct(">Q")


class WorkerDied(RuntimeError):
    """The worker process ended in the middle of a call (killed, out of memory)."""


def _send(stream: IO[bytes], obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


def _receive(stream: IO[bytes]) -> Any:
    head = stream.read(_HEADER.size)
    if len(head) < _HEADER.size:
        raise EOFError("the other side closed the pipe")
    (size,) = _HEADER.unpack(head)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError("the other side closed the pipe mid-message")
    return pickle.loads(data)


class _Worker:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None

    def _started(self) -> subprocess.Popen[bytes]:
        if self._proc is None or self._proc.poll() is not None:
            # the environment without oversized values (pytest's PYTEST_CURRENT_TEST can
            # carry a test's whole parameter, past the kernel's limit for one exec)
            env = {k: v for k, v in os.environ.items() if len(k) + len(v) < 32_768}
            self._proc = subprocess.Popen([sys.executable, "-m", "service.offload"],
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                          env=env)
        return self._proc

    def call(self, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
        with self._lock:
            for attempt in (1, 2):
                proc = self._started()
                assert proc.stdin is not None and proc.stdout is not None
                try:
                    _send(proc.stdin, (fn.__module__, fn.__qualname__, args, kwargs))
                    kind, value = _receive(proc.stdout)
                    break
                except (EOFError, BrokenPipeError, OSError):
                    self._stop()
                    if attempt == 2:
                        raise WorkerDied("the offload worker ended during a call") from None
            if kind == "error":
                raise value
            return value

    def _stop(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None

    def stop(self) -> None:
        with self._lock:
            self._stop()


_worker = _Worker()


def call(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """`fn(*args, **kwargs)` in the worker process, from a worker thread (this blocks the
    thread, not the event loop). `fn` must be a module-level function; its arguments, result
    and exceptions picklable."""
    return _worker.call(fn, args, kwargs)


def shutdown() -> None:
    """Stop the worker process; the next call starts a new one."""
    _worker.stop()


async def parse_body(data: bytes, max_bytes: int) -> Any:
    """`parse_json(data, max_bytes=...)` without holding up the event loop."""
    if len(data) < OFFLOAD_BYTES:
        return await run_in_threadpool(parse_json, data, max_bytes=max_bytes)
    return await run_in_threadpool(call, parse_json, data, max_bytes=max_bytes)


def _serve() -> None:
    """The worker's loop: answer calls until the service closes the pipe."""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing else may write to the answer pipe
    while True:
        try:
            module, name, args, kwargs = _receive(stdin)
        except EOFError:
            return
        try:
            fn: Any = importlib.import_module(module)  # then an attribute of it: the function
            for part in name.split("."):
                fn = getattr(fn, part)
            answer: tuple[str, Any] = ("ok", fn(*args, **kwargs))
        except Exception as exc:  # noqa: BLE001 - sent back and raised in the service
            answer = ("error", exc)
        try:
            _send(stdout, answer)
        except pickle.PicklingError as exc:
            _send(stdout, ("error", RuntimeError(f"unpicklable answer: {exc}")))


if __name__ == "__main__":
    _serve()
