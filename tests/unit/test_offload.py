"""The worker process that parses large untrusted bodies (`service.offload`): answers and
errors come back as they would in-process, and a worker that dies is replaced."""

from __future__ import annotations

import asyncio

import pytest

from anchoring.errors import RecordError
from cunzheng_verify.records import parse_json
from service import offload


def test_a_large_body_is_parsed_in_the_worker_with_the_same_answers() -> None:
    body = b"[" + b"1," * 200_000 + b"1]"
    assert len(body) >= offload.OFFLOAD_BYTES
    with pytest.raises(RecordError) as worker:
        asyncio.run(offload.parse_body(body, 16 << 20))
    with pytest.raises(RecordError) as local:
        parse_json(body, max_bytes=16 << 20)
    assert type(worker.value) is type(local.value) and str(worker.value) == str(local.value)
    deep = b'{"a":' * 150_000 + b"1" + b"}" * 150_000
    with pytest.raises(RecordError, match="nested deeper"):
        asyncio.run(offload.parse_body(deep, 16 << 20))
    ok = b'{"events": [' + b",".join(b'{"n": %d}' % i for i in range(40_000)) + b"]}"
    assert asyncio.run(offload.parse_body(ok, 16 << 20))["events"][-1] == {"n": 39_999}


def test_a_dead_worker_is_replaced() -> None:
    assert offload.call(parse_json, b"[1]", max_bytes=10) == [1]
    proc = offload._worker._proc
    assert proc is not None
    proc.kill()
    proc.wait()
    assert offload.call(parse_json, b"[2]", max_bytes=10) == [2]
    assert offload._worker._proc is not None and offload._worker._proc.pid != proc.pid
    offload.shutdown()
    assert offload._worker._proc is None
