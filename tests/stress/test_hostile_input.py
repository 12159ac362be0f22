"""Hostile input against the live app: hand-written attacks, each with the answer it must
get. In process (TestClient, real lifespan, SQLite file and PostgreSQL server): oversized
bodies and uploads, JSON nested 1e5 deep, invalid UTF-8, huge numbers, duplicate keys, NUL
and path traversal in ids, file names and URL paths, zip bombs and zip-slip packages,
malformed Authorization headers, very long headers and URLs. Against a real `cunzheng
serve` (uvicorn) over raw sockets: a lying Content-Length, a slow client sending its body
one byte per 0.5 s (others must still be served), oversized request lines and headers.

Every answer is a 4xx problem+json with a `detail` (or, for a package, a report whose steps
failed), never a 5xx; nothing is written by a refused request.

Observed behaviour documented here (no assertion can make uvicorn do otherwise): uvicorn has
no timeout on reading a request body, so a client that stops half-way through its body
holds its connection (one socket, no worker) until it goes away; `--timeout-keep-alive`
only bounds the idle time *between* requests. Deployments put a reverse proxy in front
(nginx `client_body_timeout`, `client_header_timeout`, `client_max_body_size`).
"""

from __future__ import annotations

import hashlib
import io
import os
import resource
import socket
import struct
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from anchoring.tables import documents, leaves
from service.settings import Settings
from tests.conftest import make_event
from tests.integration.api_client import Api, running_api

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "service.cli"]
LIMIT = 1 << 20  # body and document limits of the app under test (the defaults are 16/50 MiB)
MiB = 1 << 20


@pytest.fixture
def api(settings: Settings) -> Iterator[Api]:
    small = settings.model_copy(update={"max_body_bytes": LIMIT, "max_document_bytes": LIMIT})
    with running_api(small) as a:
        yield a


def _problem(r: httpx.Response, *statuses: int, needle: str = "") -> dict[str, Any]:
    assert r.status_code in statuses, (r.status_code, r.text[:500])
    assert r.headers["content-type"].startswith("application/problem+json"), r.text[:300]
    body = r.json()
    assert body["status"] == r.status_code and body["detail"], body
    assert needle in body["detail"], body["detail"]
    return dict(body)


def _written(api: Api) -> tuple[int, int]:
    with api.ctx.engine.connect() as conn:
        return (int(conn.execute(select(func.count()).select_from(leaves)).scalar_one()),
                int(conn.execute(select(func.count()).select_from(documents)).scalar_one()))


# --- bodies ---------------------------------------------------------------------------------


def _chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        yield b" " * min(size, total - sent)
        sent += size


def test_oversized_bodies_and_uploads_are_413_and_write_nothing(api: Api) -> None:
    json_h = {"content-type": "application/json"}
    _problem(api.request("POST", "/v1/events", content=b" " * (LIMIT + 1), headers=json_h),
             413, needle="limit")
    # no Content-Length (chunked): refused while streaming, not after buffering it all
    _problem(api.request("POST", "/v1/events/batch", content=_chunks(4 * LIMIT), headers=json_h),
             413, needle="limit")
    doc = b"\x00" * (LIMIT + 1)
    sha = hashlib.sha256(doc).hexdigest()
    _problem(api.request("PUT", f"/v1/documents/{sha}", content=doc,
                         headers={"content-type": "application/pdf"}), 413, needle="limit")
    _problem(api.request("PUT", f"/v1/documents/{sha}", content=_chunks(4 * LIMIT),
                         headers={"content-type": "application/pdf"}), 413, needle="limit")
    # verification uploads have their own (named) limits
    _problem(api.request("POST", "/v1/verify/record", role="verifier",
                         content=b" " * (64 * 1024 + 1), headers=json_h), 413, needle="limit")
    _problem(api.request("POST", "/v1/verify/document", role="verifier",
                         content=_chunks(51 * MiB, MiB)), 413, needle="limit")
    assert _written(api) == (0, 0)


@pytest.mark.parametrize("body, status, needle", [
    (b"[" * 100_000 + b"]" * 100_000, 400, "nested deeper"),
    (b'{"a":' * 100_000 + b"1" + b"}" * 100_000, 400, "nested deeper"),
    (b'{"x":' * 31 + b"[]" + b"}" * 31, 422, ""),  # within the depth limit: an ordinary 422
    (b'{"event_id": "\xc3\x28"}', 400, "not valid UTF-8"),
    (b"\xef\xbb\xbf{}", 400, "invalid JSON"),  # a BOM is not JSON
    (b'{"event_id": "\xed\xa0\x80"}', 400, "not valid UTF-8"),  # an encoded surrogate
    (b'{"event_id": "\\ud800"}', 422, ""),  # a lone surrogate escape: not a valid id
    (b'{"n": 1e400}', 422, "non-integer JSON number"),
    (b'{"n": -1e400}', 422, "non-integer JSON number"),
    (b'{"n": NaN}', 422, "non-integer JSON number"),
    (b'{"n": Infinity}', 422, "non-integer JSON number"),
    (b'{"n": ' + b"1" + b"0" * 100 + b"}", 422, "outside"),
    (b'{"n": -' + b"9" * 5000 + b"}", 422, "outside"),  # int() of it would be slow: refused first
    (b'{"a": 1, "a": 1}', 400, "duplicate JSON key"),
    (b'{"events": [], "events": []}', 400, "duplicate JSON key"),
    (b"", 400, "invalid JSON"),
    (b"null", 422, ""),
    (b'"' + b"a" * 1000 + b'"', 422, ""),
])
def test_malformed_json_gets_a_clear_4xx(api: Api, body: bytes, status: int, needle: str) -> None:
    for path in ("/v1/events", "/v1/events/batch"):
        r = api.request("POST", path, content=body, headers={"content-type": "application/json"})
        _problem(r, status, needle=needle)
    r = api.request("POST", "/v1/verify/record", role="verifier", content=body)
    assert r.status_code in (200, 400, 413, 422), r.text[:300]
    assert _written(api) == (0, 0)


def test_huge_integer_posted_as_a_real_number_value(api: Api) -> None:
    event = make_event("e-1", "L-1")
    event["payload"] = {**event["payload"], "extra": 10**100}
    _problem(api.request("POST", "/v1/events", json=event), 422)
    assert _written(api) == (0, 0)


# --- ids, names, paths ----------------------------------------------------------------------


@pytest.mark.parametrize("filename", [
    "../../etc/passwd", "..\\..\\windows\\win.ini", "/etc/passwd", "a\x00.pdf", "a/b.pdf",
    "x" * 256, "\n.pdf",
])
def test_path_traversal_in_document_file_names_is_refused(api: Api, filename: str) -> None:
    doc = {"role": "contract", "sha256": "a" * 64, "media_type": "application/pdf",
           "filename": filename, "size": 1}
    body = _problem(api.request("POST", "/v1/events",
                                json=make_event("e-1", "L-1", documents=[doc])), 422)
    assert any(e["field"] == "documents[0].filename" for e in body["errors"]), body
    assert _written(api) == (0, 0)


@pytest.mark.parametrize("method, path, role", [
    ("GET", "/v1/documents/..%2F..%2Fetc%2Fpasswd", "lender"),
    ("GET", "/v1/documents/..%2f..%2f..%2fetc%2fpasswd", "legal"),
    ("PUT", "/v1/documents/..%2F..%2Fetc%2Fpasswd", "lender"),
    ("GET", "/v1/documents/%2e%2e%2f%2e%2e%2fetc%2fpasswd", "lender"),
    ("GET", "/v1/documents/....%2F%2F....%2F%2Fetc%2Fpasswd", "lender"),
    ("GET", "/ui/static/..%2F..%2Fsettings.py", "lender"),
    ("GET", "/ui/static/%2e%2e%2f__init__.py", "lender"),
    ("GET", "/v1/events/..%2F..%2Fetc%2Fpasswd", "lender"),
    ("GET", "/v1/events/a%00b", "lender"),
    ("GET", "/v1/loans/%00/events", "lender"),
    ("GET", "/v1/loans/L-1/events?tenant=a%00b", "legal"),
    ("GET", "/v1/verify/evidence?evidence_id=a%00b%231", "verifier"),
    ("GET", "/v1/verify/evidence?evidence_id=cunzheng.local%2Fevidence-log%23%00", "verifier"),
    ("GET", "/v1/records/-1", "legal"),
    ("GET", "/v1/records/99999999999999999999999999", "legal"),
    ("GET", "/v1/log/proofs/inclusion?leaf_index=1e400", "auditor"),
    ("GET", "/v1/log/checkpoints/%00", "auditor"),
])
def test_traversal_nul_and_odd_values_in_url_paths_are_4xx(api: Api, method: str, path: str,
                                                           role: str) -> None:
    r = api.request(method, path, role=role, content=b"x" if method == "PUT" else None)
    if r.status_code == 200 and path.startswith("/v1/verify/"):  # SQLite takes NUL
        assert r.json()["status"] == "unknown", r.text
        return
    _problem(r, 400, 401, 403, 404, 405, 422)
    assert b"root:" not in r.content and b"BaseSettings" not in r.content


@pytest.mark.parametrize("header", [
    b"Bearer", b"Bearer ", b"bearer", b"Basic YWRtaW46YWRtaW4=", b"Bearer cz_", b"Bearer cz__",
    b"Bearer cz_a_b_c", b"Bearer cz_a\x00b_c", b"Bearer cz_\xff\xfe_x", b"Bearer \t cz_x_y",
    b"Bearer cz_" + b"a" * 100_000 + b"_b", b"Bearer " + b"cz_x_y," * 1000, b"Digest x=y",
    b"\xe5\xad\x98\xe8\xaf\x81",
])
def test_malformed_authorization_headers_are_401(api: Api, header: bytes) -> None:
    for path in ("/v1/log/checkpoint", "/v1/verify/record/" + "0" * 64):
        _problem(api.client.get(path, headers={"Authorization": header}), 401)
    r = api.client.post("/v1/events", headers={"Authorization": header}, json=make_event("e"))
    _problem(r, 401)
    _problem(api.client.get("/v1/log/checkpoint", headers={"X-API-Key": header}), 401)
    assert _written(api) == (0, 0)


def test_very_long_headers_and_urls_in_process(api: Api) -> None:
    long = "x" * 60_000  # httpx refuses URLs over 64 KiB; the raw-socket test goes further
    _problem(api.request("GET", f"/v1/events/{long}"), 404, 422)
    _problem(api.request("GET", f"/v1/loans/{long}/events"), 404, 422)
    _problem(api.request("GET", f"/v1/verify/evidence?evidence_id={long}", role="verifier"), 422)
    _problem(api.request("GET", f"/v1/log/proofs/inclusion?leaf_hash={long}", role="auditor"),
             400, 404, 422)
    _problem(api.request("GET", "/v1/verify/package?" + "trust_key=a&" * 5000, role="verifier"),
             405, 422)
    r = api.request("GET", "/v1/log/key", role="auditor", headers={"X-Padding": long,
                                                                   "Accept": long})
    assert r.status_code == 200
    r = api.request("PUT", "/v1/documents/" + "a" * 64, content=b"x",
                    headers={"content-type": long})
    _problem(r, 422)
    assert _written(api) == (0, 0)


# --- packages: zip bombs and zip-slip -------------------------------------------------------


def _zip(entries: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(zipfile.ZipInfo(name), data, compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


def _zeros_zip(name: str, size: int) -> bytes:
    """One entry of `size` zero bytes, written 1 MiB at a time (the test stays small too)."""
    out = io.BytesIO()
    info = zipfile.ZipInfo(name)
    info.compress_type = zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf, zf.open(info, "w") as fh:
        chunk = b"\x00" * MiB
        for _ in range(size // MiB):
            fh.write(chunk)
    return out.getvalue()


def _declare(data: bytes, size: int) -> bytes:
    """Every entry's declared uncompressed size rewritten (local headers and central
    directory): a bomb that lies about its size."""
    b = bytearray(data)
    i = 0
    while (i := b.find(b"PK\x03\x04", i)) >= 0:
        b[i + 22:i + 26] = struct.pack("<I", size)
        i += 4
    i = 0
    while (i := b.find(b"PK\x01\x02", i)) >= 0:
        b[i + 24:i + 28] = struct.pack("<I", size)
        i += 4
    return bytes(b)


def _post_package(api: Api, data: bytes) -> httpx.Response:
    return api.request("POST", "/v1/verify/package", role="verifier", content=data,
                       headers={"content-type": "application/zip"})


def _failed_steps(r: httpx.Response) -> list[dict[str, Any]]:
    assert r.status_code == 200, r.text[:500]
    body = r.json()
    assert body["status"] == "mismatch", body["reason"]
    failed = [s for s in body["report"]["steps"] if s["status"] == "failed"]
    assert failed and body["report"]["result"] != "ok"
    return failed


def test_zip_bombs_are_refused_with_bounded_memory(api: Api) -> None:
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    # 200 MiB of zeros in ~200 KiB: refused on its declared size before inflating
    big = _zeros_zip("records/1.json", 200 * MiB)
    assert len(big) < MiB
    steps = _failed_steps(_post_package(api, big))
    assert any("declares" in s["reason"] and s["subject"] == "records/1.json" for s in steps)
    # the same bomb declaring 1000 bytes: inflating stops after 1001
    steps = _failed_steps(_post_package(api, _declare(_zeros_zip("records/1.json", 80 * MiB),
                                                      1000)))
    assert any(s["subject"] == "records/1.json" for s in steps), steps
    # many entries declaring 60 MiB each (1.2 GiB): refused off the central directory alone
    many = _declare(_zip({f"records/{i}.json": b"{}" for i in range(20)}), 60 * MiB)
    steps = _failed_steps(_post_package(api, many))
    assert steps[0]["step"] == "zip.open" and "zip bomb" in steps[0]["reason"]
    # more entries than the limit: 413 at the boundary
    _problem(_post_package(api, _zip({f"f{i}": b"" for i in range(10_001)})), 413, needle="entries")
    # not a zip, an empty body, a truncated zip
    _problem(_post_package(api, b"PK\x03\x04 not really"), 400, needle="zip")
    _problem(_post_package(api, b""), 400, needle="empty")
    _problem(_post_package(api, big[: len(big) // 2]), 400, needle="zip")
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before) / 1024
    assert grown_mib < 150, f"peak memory grew by {grown_mib:.0f} MiB"


def test_zip_slip_entries_are_reported_and_never_extracted(api: Api, tmp_path: Path) -> None:
    names = ["../../evil.txt", "/tmp/evil.txt", "records/../../evil.txt", "C:\\evil.txt",
             "records\\..\\evil.txt", "records/./x", "records//x", "a\x01b", "x" * 300]
    entries = {n: b"owned" for n in names}
    entries["manifest.json"] = b"{}"
    data = _zip(entries)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:  # and a symbolic link to /etc/passwd
        for info in zipfile.ZipFile(io.BytesIO(data)).infolist():
            zf.writestr(info, zipfile.ZipFile(io.BytesIO(data)).read(info))
        link = zipfile.ZipInfo("records/link")
        link.external_attr = (0o120777 << 16)
        zf.writestr(link, "/etc/passwd")
    cwd = os.getcwd()
    steps = _failed_steps(_post_package(api, out.getvalue()))
    refused = {s["subject"] for s in steps if s["step"] == "file.name"}
    assert set(names[:-1]) | {"records/link"} <= refused, refused
    assert any(s.startswith("xxxx") for s in refused)
    assert os.getcwd() == cwd
    for where in (REPO.parent, REPO, Path("/tmp"), tmp_path, api.ctx.settings.data_dir):
        assert not (where / "evil.txt").exists(), where


# --- a real server over raw sockets ---------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, str, str]]:
    """`cunzheng serve` on SQLite (port, lender key, verifier key)."""
    data = tmp_path_factory.mktemp("hostile-serve")
    env = {**os.environ, "CUNZHENG_DATA_DIR": str(data), "CUNZHENG_ANCHOR_ENABLED": "false",
           "CUNZHENG_MAX_BODY_BYTES": str(LIMIT)}
    keys = [subprocess.run([*CLI, "keys", "create", "--role", role, *extra], env=env, cwd=REPO,
                           capture_output=True, text=True, check=True).stdout.strip()
            for role, extra in (("lender", ["--tenant", "bank-a"]), ("verifier", []))]
    port = _free_port()
    log = data / "serve.log"
    proc = subprocess.Popen([*CLI, "serve", "--port", str(port)], env=env, cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=log.open("wb"))
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline and proc.poll() is None, "serve did not start"
            time.sleep(0.1)
        yield port, keys[0], keys[1]
    finally:
        proc.terminate()
        proc.wait(15)
    stderr = log.read_text(errors="replace")
    assert "Traceback" not in stderr, stderr[-3000:]


def _raw(port: int, request: bytes, timeout: float = 10.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(request)
        s.shutdown(socket.SHUT_WR)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    return out


def _status(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


def _healthy(port: int) -> float:
    started = time.monotonic()
    assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code == 200
    return time.monotonic() - started


def test_lying_content_length_is_refused_before_the_body(server: tuple[int, str, str]) -> None:
    port, lender, verifier = server
    head = (f"POST /v1/verify/package HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {verifier}\r\n"
            f"Content-Type: application/zip\r\nContent-Length: {300 * MiB}\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(head + b"PK")  # 2 of the 300 MiB promised: the answer must not wait for more
        answer = s.recv(65536)
    assert _status(answer) == 413 and b"application/problem+json" in answer, answer[:300]
    for bad in (b"-1", b"abc", b"1e9", b" 99999999999999999999999999"):
        answer = _raw(port, b"POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                      + lender.encode() + b"\r\nContent-Length: " + bad + b"\r\n\r\n{}")
        assert 400 <= _status(answer) < 500, answer[:300]
    _healthy(port)


def test_oversized_request_lines_and_headers_get_4xx(server: tuple[int, str, str]) -> None:
    port, lender, _ = server
    for request in (
        b"GET /v1/events/" + b"a" * MiB + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * MiB + b"\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X-Many: 1\r\n" * 20_000 + b"\r\n",
        b"GET /v1/log/checkpoint HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer cz_a\x00b_c\r\n\r\n",
        b"GET /v1/events/a%00b HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + lender.encode()
        + b"\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,  # a TLS hello
    ):
        try:
            answer = _raw(port, request)
        except ConnectionResetError:
            answer = b""  # the server hung up on it: also fine
        assert not answer or 400 <= _status(answer) < 500, answer[:300]
    _healthy(port)


def test_a_slow_client_does_not_block_others(server: tuple[int, str, str]) -> None:
    """Bodies sent one byte per 0.5 s on 20 connections at once: GETs are still answered at
    once, and each slow request is answered when its body is complete."""
    port, lender, _ = server
    body = b'{"x":1}'
    head = (f"POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {lender}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    answers: list[bytes] = []

    def slow() -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            s.sendall(head)
            for b in body:
                time.sleep(0.5)
                s.sendall(bytes([b]))
            answers.append(s.recv(65536))

    threads = [threading.Thread(target=slow) for _ in range(20)]
    for t in threads:
        t.start()
    latencies = []
    while any(t.is_alive() for t in threads):
        latencies.append(_healthy(port))
        time.sleep(0.2)
    for t in threads:
        t.join()
    assert len(latencies) >= 5
    # a liveness bound, not a benchmark: blocked would mean ~3.5 s (the whole slow body)
    assert max(latencies) < 2.0, latencies
    assert len(answers) == 20 and all(_status(a) == 422 for a in answers), answers[:1]

    # a body that never completes: the server keeps waiting (no body timeout in uvicorn)
    with socket.create_connection(("127.0.0.1", port), timeout=3) as s:
        s.sendall(head + body[:3])
        try:
            s.recv(1)  # an answer or a hang-up
            left_open = False
        except TimeoutError:
            left_open = True
        assert _healthy(port) < 2.0
    print(f"\nan unfinished body held its connection open for 3 s: {left_open} "
          "(uvicorn has no body timeout; put a reverse proxy with client_body_timeout in front)")


# --- issue 10: the quadratic JSON pre-check, as the attacker sent it -------------------------


def _escaped_quotes(size: int) -> bytes:
    """An opening quote, then `\\"` repeated, never closed: quadratic for the old pre-check."""
    return b'"' + b'\\"' * ((size - 1) // 2)


def _while_polling_healthz(port: int, send: Any) -> tuple[Any, float, int]:
    """Run `send()` in a thread while `/healthz` is polled every 20 ms from this one; return
    its result, the slowest `/healthz` answer (s) and how many were made."""
    result: list[Any] = []
    worker = threading.Thread(target=lambda: result.append(send()))
    latencies: list[float] = []
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        client.get("/healthz")  # the connection is open before the attack starts
        worker.start()
        while worker.is_alive() or len(latencies) < 3:
            started = time.monotonic()
            assert client.get("/healthz").status_code == 200
            latencies.append(time.monotonic() - started)
            time.sleep(0.02)
    worker.join()
    return result[0], max(latencies), len(latencies)


def _post(port: int, path: str, key: str, body: bytes, content_type: str) -> httpx.Response:
    return httpx.post(f"http://127.0.0.1:{port}{path}", content=body, timeout=60,
                      headers={"Authorization": f"Bearer {key}", "content-type": content_type})


# The issue measured the quadratic check at 7.5 s (48 KB) with /healthz waiting 7.1 s. The
# bound below is a liveness bound generous enough for a loaded 2-core machine (the target
# is 100 ms); the real figures are printed and go to bench/README.md.
HEALTHZ_BOUND = 1.0


@pytest.mark.parametrize("size", [48 * 1024, LIMIT], ids=["48KB", "max-body"])
def test_the_quadratic_event_body_does_not_freeze_the_service(
        server: tuple[int, str, str], size: int) -> None:
    port, lender, _ = server
    started = time.monotonic()
    r, slowest, polls = _while_polling_healthz(port, lambda: _post(
        port, "/v1/events", lender, _escaped_quotes(size), "application/json"))
    took = time.monotonic() - started
    assert r.status_code == 400, r.text[:300]
    assert "Unterminated string" in r.json()["detail"]
    print(f"\nPOST /v1/events, {size} bytes: answered in {took * 1000:.0f} ms; slowest "
          f"/healthz of {polls}: {slowest * 1000:.0f} ms")
    assert slowest < HEALTHZ_BOUND, slowest
    assert took < 5.0, took


def test_the_quadratic_record_upload_does_not_freeze_the_service(
        server: tuple[int, str, str]) -> None:
    port, _, verifier = server
    started = time.monotonic()
    r, slowest, polls = _while_polling_healthz(port, lambda: _post(
        port, "/v1/verify/record", verifier, _escaped_quotes(64 * 1024), "application/json"))
    took = time.monotonic() - started
    assert r.status_code == 400 and "Unterminated string" in r.json()["detail"], r.text[:300]
    print(f"\nPOST /v1/verify/record, 64 KB: answered in {took * 1000:.0f} ms; slowest "
          f"/healthz of {polls}: {slowest * 1000:.0f} ms")
    assert slowest < HEALTHZ_BOUND and took < 5.0, (slowest, took)


def _sig_package(size: int) -> bytes:
    return _zip({"manifest.json": b"{}", "manifest.sig": _escaped_quotes(size)})


@pytest.mark.parametrize("size", [64 * 1024, MiB], ids=["64KB", "max-sig"])
def test_the_quadratic_manifest_sig_through_the_api_and_offline(
        server: tuple[int, str, str], tmp_path: Path, size: int) -> None:
    """A `manifest.sig` of the pattern: 14.8 s of a frozen server at 64 KB in the issue,
    16.8 s offline; about an hour offline at 1 MiB (MAX_JSON_BYTES, the largest allowed)."""
    from cunzheng_verify import MAX_JSON_BYTES

    assert size <= MAX_JSON_BYTES
    port, _, verifier = server
    data = _sig_package(size)
    started = time.monotonic()
    r, slowest, polls = _while_polling_healthz(port, lambda: _post(
        port, "/v1/verify/package", verifier, data, "application/zip"))
    took = time.monotonic() - started
    assert r.status_code == 200, r.text[:300]
    failed = {s["step"]: s["reason"] for s in r.json()["report"]["steps"]
              if s["status"] == "failed"}
    assert "Unterminated string" in failed["manifest.signature"], failed
    print(f"\nPOST /v1/verify/package, manifest.sig {size} bytes: {took * 1000:.0f} ms; "
          f"slowest /healthz of {polls}: {slowest * 1000:.0f} ms")
    assert slowest < HEALTHZ_BOUND and took < 5.0, (slowest, took)

    package = tmp_path / "package.zip"
    package.write_bytes(data)
    started = time.monotonic()
    done = subprocess.run([*CLI, "verify", str(package)], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    took = time.monotonic() - started
    assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr[-2000:]
    line = next(x for x in done.stdout.splitlines() if "manifest.signature" in x)
    assert line.startswith("failed") and "Unterminated string" in line, line
    print(f"cunzheng verify, manifest.sig {size} bytes: {took * 1000:.0f} ms (with start-up)")
    assert took < 15.0, took  # the CLI's own start-up (imports) is most of it


def test_the_largest_document_upload_does_not_freeze_the_service(
        server: tuple[int, str, str]) -> None:
    """Not a parser (documents are only hashed and sealed), but the largest upload the API
    takes: hashing, encrypting and storing 50 MiB runs off the event loop."""
    port, lender, _ = server
    doc = os.urandom(50 * MiB)
    sha = hashlib.sha256(doc).hexdigest()
    started = time.monotonic()
    r, slowest, polls = _while_polling_healthz(port, lambda: httpx.put(
        f"http://127.0.0.1:{port}/v1/documents/{sha}", content=doc, timeout=120,
        headers={"Authorization": f"Bearer {lender}", "content-type": "application/pdf"}))
    took = time.monotonic() - started
    assert r.status_code in (200, 201), r.text[:300]
    print(f"\nPUT /v1/documents, 50 MiB: {took * 1000:.0f} ms; slowest /healthz of {polls}: "
          f"{slowest * 1000:.0f} ms")
    assert slowest < HEALTHZ_BOUND, slowest


def test_the_quadratic_manifest_sig_through_the_verify_page(server: tuple[int, str, str]) -> None:
    """The same package dropped on `/ui/verify` (the issue: any role reached it there)."""
    port, _, verifier = server
    data = _sig_package(MiB)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as page:
        r = page.post("/ui/login", data={"key": verifier, "next": ""})
        assert r.status_code in (200, 303), r.text[:300]
        started = time.monotonic()
        r, slowest, polls = _while_polling_healthz(port, lambda: page.post(
            "/ui/verify", data={"kind": "auto"},
            files={"file": ("package.zip", data, "application/zip")}))
        took = time.monotonic() - started
    assert r.status_code == 200, r.text[:500]
    assert "manifest.signature" in r.text and "Unterminated string" in r.text
    print(f"\nPOST /ui/verify, manifest.sig 1 MiB: {took * 1000:.0f} ms; slowest /healthz of "
          f"{polls}: {slowest * 1000:.0f} ms")
    assert slowest < HEALTHZ_BOUND and took < 5.0, (slowest, took)


def test_a_zip_of_an_unsupported_version_is_a_400(api: Api) -> None:
    """Found by fuzzing: `zipfile` raises NotImplementedError for a "version needed to
    extract" above 6.3; it was a 500 at the API's zip check."""
    from tests.unit.test_hostile_parsers import _version_64_zip

    _problem(_post_package(api, _version_64_zip()), 400, needle="zip file version 6.4")
