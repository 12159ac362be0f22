"""A small client for lending services: post events to the Cunzheng ledger and keep receipts.

`LedgerClient` posts events in batches (`POST /v1/events/batch`, at most `MAX_BATCH` per
request), uploads documents under their SHA-256 (`PUT /v1/documents/{sha256}`), signs each
event with the tenant's Ed25519 producer key (`producer_signature`: Ed25519 over the RFC 8785
bytes of the event without that field), verifies every receipt against the log's public key
(`GET /v1/log/key`) and appends it to a `ReceiptStore` (a JSONL file in a directory the caller
chooses).

Retries are safe because the ledger is idempotent on `(tenant, event_id)`: a batch sent
again after a lost response is answered with the original receipts (`replay: true`). So
connection errors, timeouts, 429 and 5xx are retried with exponential backoff; any other
4xx is the caller's mistake and raises `LedgerRequestError` at once with the server's
problem+json (which names the refused item of a batch).

Only `httpx`, `cryptography` and `rfc8785` are used, so a lending service can vendor this
module with `lending_core` alone. Key ids and the receipt's fields come from
`cunzheng_verify.wire`, and the receipt check is `cunzheng_verify.receipts.check_receipt`:
the modules the log uses too, so the two sides cannot drift (the client raises its own
`ReceiptError`).
"""

from __future__ import annotations

import base64
import hashlib  # documents are uploaded under their SHA-256
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import httpx
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cunzheng_verify.errors import SignatureError
from cunzheng_verify.receipts import check_receipt
from cunzheng_verify.wire import RECEIPT_SCHEMA, note_key_id, producer_key_id, unsigned_event
from lending_core.errors import LendingError

__all__ = [
    "MAX_BATCH",
    "RECEIPT_SCHEMA",
    "LedgerClient",
    "LedgerClientError",
    "LedgerRequestError",
    "LedgerUnavailable",
    "LogKey",
    "ReceiptError",
    "ReceiptStore",
    "producer_key_id",
    "sign_event",
    "verify_receipt",
]

MAX_BATCH = 1000
"""The ledger's largest batch (anchoring.log.MAX_BATCH)."""
DEFAULT_BATCH = 500
MAX_RETRIES = 6
BACKOFF_SECONDS = 0.25
BACKOFF_MAX_SECONDS = 8.0
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


class LedgerClientError(LendingError):
    """Root of the client's errors."""


class LedgerUnavailable(LedgerClientError):
    """The ledger did not answer (or kept answering 5xx) within the retries."""


class LedgerRequestError(LedgerClientError):
    """The ledger refused a request (4xx); `problem` is its problem+json body."""

    def __init__(self, status: int, problem: Mapping[str, Any]) -> None:
        detail = str(problem.get("detail") or problem.get("title") or "request refused")
        item = problem.get("item")
        super().__init__(f"HTTP {status}: {detail}"
                         + (f" (batch item {item})" if item is not None else ""))
        self.status = status
        self.problem = dict(problem)
        self.item = item


class ReceiptError(LedgerClientError):
    """A receipt does not verify against the log's key."""


@dataclass(frozen=True, slots=True)
class LogKey:
    origin: str
    key_name: str
    public_key: bytes

    @property
    def key_id(self) -> bytes:
        """First 4 bytes of SHA-256(key name || 0x0A || 0x01 || public key) (C2SP note key)."""
        return note_key_id(self.key_name, self.public_key)


def sign_event(event: Mapping[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    """`event` with its `producer_signature` (any old one is replaced)."""
    body = unsigned_event(event)
    public = key.public_key().public_bytes_raw()
    signature = key.sign(rfc8785.dumps(body))
    return {**body, "producer_signature": {"key_id": producer_key_id(public),
                                           "sig": base64.b64encode(signature).decode()}}


def verify_receipt(receipt: Mapping[str, Any], log_key: LogKey) -> None:
    """Raise `ReceiptError` unless `receipt` is the log's signature over its fields (the
    check the log runs too: `cunzheng_verify.receipts.check_receipt`)."""
    try:
        check_receipt(receipt, key_name=log_key.key_name, public_key=log_key.public_key,
                      origin=log_key.origin)
    except SignatureError as exc:
        raise ReceiptError(str(exc)) from None


class ReceiptStore:
    """Receipts as JSON lines (`receipts.jsonl`) under `directory`, one per event.

    Each line is `{"event_id", "loan_id", "receipt"}`; a replayed receipt is not written
    twice. `flush` fsyncs, so a receipt the caller saw acknowledged survives a crash.
    """

    FILENAME = "receipts.jsonl"

    def __init__(self, directory: str | Path) -> None:
        self.path = Path(directory) / self.FILENAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._known: dict[str, dict[str, Any]] = {}
        if self.path.exists():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    entry = json.loads(line)
                    self._known[entry["event_id"]] = entry
        self._file = self.path.open("a", encoding="utf-8")

    def add(self, event_id: str, loan_id: str, receipt: Mapping[str, Any]) -> None:
        if event_id in self._known:
            return
        entry = {"event_id": event_id, "loan_id": loan_id,
                 "receipt": {k: v for k, v in receipt.items() if k != "replay"}}
        self._known[event_id] = entry
        self._file.write(json.dumps(entry, ensure_ascii=False, sort_keys=True) + "\n")

    def flush(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())

    def get(self, event_id: str) -> dict[str, Any] | None:
        entry = self._known.get(event_id)
        return None if entry is None else dict(entry["receipt"])

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(list(self._known.values()))

    def __len__(self) -> int:
        return len(self._known)

    def close(self) -> None:
        self.flush()
        self._file.close()


class LedgerClient:
    """Posts a lending service's events and documents to the ledger (see module docstring).

    `http` may be any `httpx.Client` (a test passes the app's TestClient); otherwise one
    is made for `base_url`. `sleep` is injectable so tests of the backoff take no time.
    """

    def __init__(
        self,
        base_url: str | None,
        api_key: str,
        *,
        signing_key: Ed25519PrivateKey | None = None,
        receipts: ReceiptStore | None = None,
        http: httpx.Client | None = None,
        batch_size: int = DEFAULT_BATCH,
        max_retries: int = MAX_RETRIES,
        backoff: float = BACKOFF_SECONDS,
        timeout: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not 1 <= batch_size <= MAX_BATCH:
            raise LedgerClientError(f"expected batch_size 1..{MAX_BATCH}, found {batch_size}")
        if http is None and not base_url:
            raise LedgerClientError("expected a base URL or an httpx client, found neither")
        self._owns_http = http is None
        self.http = http if http is not None else httpx.Client(base_url=base_url or "",
                                                               timeout=timeout)
        self._auth = {"Authorization": f"Bearer {api_key}"}
        self.signing_key = signing_key
        self.receipts = receipts
        self.batch_size = batch_size
        self.max_retries = max_retries
        self.backoff = backoff
        self._sleep = sleep
        self._log_key: LogKey | None = None
        self.retries = 0  # how many requests were sent again, for the caller's report

    # --- transport --------------------------------------------------------------------

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**self._auth, **kwargs.pop("headers", {})}
        last: str = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                self.retries += 1
                self._sleep(min(self.backoff * 2 ** (attempt - 1), BACKOFF_MAX_SECONDS))
            try:
                response = self.http.request(method, path, headers=headers, **kwargs)
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
                continue
            if response.status_code in _RETRY_STATUS:
                last = f"HTTP {response.status_code}"
                continue
            if response.status_code >= 400:
                try:
                    problem = response.json()
                except ValueError:
                    problem = {"detail": response.text[:500]}
                raise LedgerRequestError(response.status_code, problem)
            return response
        raise LedgerUnavailable(f"{method} {path} failed after {self.max_retries + 1} "
                                f"attempts; last: {last}")

    # --- the log's key and receipts ---------------------------------------------------

    def log_key(self) -> LogKey:
        if self._log_key is None:
            body = self._request("GET", "/v1/log/key").json()
            self._log_key = LogKey(body["origin"], body["key_name"],
                                   base64.b64decode(body["public_key"]))
        return self._log_key

    def verify(self, receipt: Mapping[str, Any]) -> None:
        verify_receipt(receipt, self.log_key())

    # --- posting ----------------------------------------------------------------------

    def prepare(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """The event as it will be posted: signed when the client has a key."""
        return sign_event(event, self.signing_key) if self.signing_key else dict(event)

    def post_events(self, events: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Post `events` in order, `batch_size` per request; return the verified receipts."""
        out: list[dict[str, Any]] = []
        batch: list[dict[str, Any]] = []
        for event in events:
            batch.append(self.prepare(event))
            if len(batch) == self.batch_size:
                out.extend(self.post_batch(batch))
                batch = []
        if batch:
            out.extend(self.post_batch(batch))
        return out

    def post_batch(self, batch: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Post one batch (already prepared); verify and store its receipts."""
        receipts = self._request("POST", "/v1/events/batch", json={"events": list(batch)}
                                 ).json()["receipts"]
        if len(receipts) != len(batch):
            raise LedgerClientError(f"expected {len(batch)} receipts, found {len(receipts)}")
        key = self.log_key()
        for event, receipt in zip(batch, receipts, strict=True):
            verify_receipt(receipt, key)
            if self.receipts is not None:
                self.receipts.add(event["event_id"], event["loan_id"], receipt)
        if self.receipts is not None:
            self.receipts.flush()
        return [dict(r) for r in receipts]

    def upload_document(self, content: bytes, media_type: str) -> str:
        """Upload `content` under its SHA-256 (idempotent); return the hash."""
        digest = hashlib.sha256(content).hexdigest()
        self._request("PUT", f"/v1/documents/{digest}", content=content,
                      headers={"Content-Type": media_type})
        return digest

    def register_producer_key(self, tenant: str, public_key: bytes) -> str:
        """Register `public_key` for `tenant` (needs an admin key); already registered is
        fine. Returns the key id."""
        kid = producer_key_id(public_key)
        try:
            self._request("POST", "/v1/admin/producer-keys", json={
                "tenant": tenant, "public_key": base64.b64encode(public_key).decode()})
        except LedgerRequestError as exc:
            if exc.status != 409:
                raise
        return kid

    def close(self) -> None:
        if self.receipts is not None:
            self.receipts.flush()
        if self._owns_http:
            self.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
