"""Canonical event records: from a posted event to the exact bytes the log commits to.

Format (DESIGN.md, Event record): the posted fields plus `schema`, `tenant`, `received_at`
and a 32-byte random `salt`; times in UTC `YYYY-MM-DDTHH:MM:SS[.ffffff]Z`; no JSON number
that is not an integer within +-2**53; serialised with RFC 8785 (JCS). The bytes made here
are stored verbatim and never re-serialised; `leaf_hash = SHA-256(0x00 || bytes)`.

Two schemas are read. `cunzheng.event/v1` has the fields above. `cunzheng.event/v2` adds
the loan chain: `loan_seq` (1, 2, 3... per tenant and loan in arrival order) and
`loan_prev` (the lowercase hex leaf hash of the loan's previous record, or null for its
first), so each leaf commits to its loan's history before it. The log knows those two only
under its write lock: it builds a v1 draft (`build_record`) outside, and the v2 record
(`chain_record`) inside the transaction that appends it.

Pure: the clock and the salt are passed in.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cunzheng_verify.errors import RecordError
from cunzheng_verify.merkle import leaf_hash
from cunzheng_verify.strictjson import (
    MAX_JSON_DEPTH,
    MAX_JSON_ITEMS,
    MAX_SAFE_INTEGER,
    MalformedJSON,
    TooLarge,
    canonical,
    check_ints,
    check_shape,
    parse_json,
    reject_float,
)

# the strict JSON reader and the canonical form (`cunzheng_verify.strictjson`) are named
# here too, for the callers that read records and bodies with them
__all__ = [
    "EVENT_ID", "FILENAME", "LOAN_CHAIN_BYTES", "LOAN_CHAIN_FIELDS", "LOAN_ID",
    "MAX_DOCUMENTS", "MAX_DOCUMENT_BYTES", "MAX_JSON_DEPTH", "MAX_JSON_ITEMS", "MAX_LOAN_SEQ",
    "MAX_RECORD_BYTES", "MAX_SAFE_INTEGER", "POSTED_FIELDS", "RECORD_SCHEMA", "RECORD_SCHEMAS",
    "RECORD_SCHEMA_V2", "REQUIRED_FIELDS", "SERVER_FIELDS", "SHA256_HEX", "TENANT_ID",
    "Document", "MalformedJSON", "Record", "RecordError", "TooLarge", "build_record",
    "canonical", "chain_record", "check_posted", "format_utc", "parse_json", "parse_rfc3339",
    "posted_hash", "read_record", "record_from_bytes",
]

RECORD_SCHEMA = "cunzheng.event/v1"
RECORD_SCHEMA_V2 = "cunzheng.event/v2"
RECORD_SCHEMAS = (RECORD_SCHEMA, RECORD_SCHEMA_V2)
MAX_RECORD_BYTES = 64 * 1024
MAX_LOAN_SEQ = MAX_SAFE_INTEGER  # a JSON integer a record may hold
# what the loan chain can add to a draft's bytes at most: the two members and "v2" for "v1"
LOAN_CHAIN_BYTES = len(f',"loan_prev":"{"0" * 64}","loan_seq":{MAX_LOAN_SEQ}')
MAX_DOCUMENTS = 64
MAX_DOCUMENT_BYTES = 50 * 1024 * 1024
EVENT_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
LOAN_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
TENANT_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
SHA256_HEX = re.compile(r"[0-9a-f]{64}")
FILENAME = re.compile(r"[^/\\\x00-\x1f]{1,255}")
SERVER_FIELDS = ("schema", "tenant", "received_at", "salt")
LOAN_CHAIN_FIELDS = ("loan_seq", "loan_prev")  # record v2's server fields
POSTED_FIELDS = ("event_id", "loan_id", "type", "occurred_at", "payload", "documents",
                 "source", "producer_signature")
REQUIRED_FIELDS = ("event_id", "loan_id", "type", "occurred_at", "payload", "source")


# --- times ------------------------------------------------------------------------------


def format_utc(moment: datetime) -> str:
    """`YYYY-MM-DDTHH:MM:SS[.ffffff]Z`, the one time format records use."""
    if moment.tzinfo is None:
        raise RecordError(f"time {moment.isoformat()} has no offset")
    moment = moment.astimezone(UTC)
    # `%Y` does not pad years below 1000 on glibc ("1-01-01"), which no parser reads back
    base = f"{moment.year:04d}-" + moment.strftime("%m-%dT%H:%M:%S")
    return f"{base}.{moment.microsecond:06d}Z" if moment.microsecond else f"{base}Z"


_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})"
)


def parse_rfc3339(text: Any, field: str) -> datetime:
    """An RFC 3339 time with an explicit offset, as an aware UTC datetime."""
    if not isinstance(text, str) or not _RFC3339.fullmatch(text):
        raise RecordError(
            f"{field} must be an RFC 3339 time with an offset, such as "
            f'"2026-03-02T09:30:00+08:00"; got {text!r}',
            field=field,
        )
    sent = text  # errors echo what was sent, not the form it was parsed in
    frac = re.search(r"\.(\d+)", text)
    if frac and len(frac.group(1)) > 6:  # keep microseconds, the precision records carry
        text = text.replace(frac.group(0), "." + frac.group(1)[:6])
    try:
        return datetime.fromisoformat(text.replace("z", "Z")).astimezone(UTC)
    except ValueError as exc:
        raise RecordError(f"{field} is not a valid time ({exc}); got {sent!r}",
                          field=field) from None
    except OverflowError:
        raise RecordError(f"{field} is outside years 0001 to 9999 in UTC; got {sent!r}",
                          field=field) from None


# --- records ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Document:
    role: str
    sha256: str
    media_type: str
    filename: str
    size: int


@dataclass(frozen=True, slots=True)
class Record:
    """A canonical record: its exact bytes and the facts read off them."""

    data: bytes
    leaf_hash: bytes
    tenant: str
    event_id: str
    loan_id: str
    type: str
    occurred_at: str
    received_at: str
    documents: tuple[Document, ...]
    loan_seq: int | None = None  # v2: the record's place in its loan (1, 2, 3...); v1: None
    loan_prev: bytes | None = None  # v2: the leaf hash of the loan's previous record

    @property
    def content(self) -> dict[str, Any]:
        content: dict[str, Any] = json.loads(self.data)
        return content

    @property
    def schema(self) -> str:
        return RECORD_SCHEMA if self.loan_seq is None else RECORD_SCHEMA_V2


def posted_hash(posted: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the canonical posted object: what idempotency compares."""
    return hashlib.sha256(canonical(dict(posted))).hexdigest()


def _documents(value: Any) -> tuple[Document, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise RecordError("documents must be a list", field="documents")
    if len(value) > MAX_DOCUMENTS:
        raise RecordError(f"{len(value)} documents, limit {MAX_DOCUMENTS}", field="documents")
    docs = []
    for i, d in enumerate(value):
        where = f"documents[{i}]"
        if not isinstance(d, dict):
            raise RecordError(f"{where} must be an object", field=where)
        expected = {"role", "sha256", "media_type", "filename", "size"}
        if set(d) != expected:
            missing, extra = expected - set(d), set(d) - expected
            raise RecordError(
                f"{where} must have exactly {sorted(expected)}; "
                f"missing {sorted(missing)}, unknown {sorted(extra)}",
                field=where,
            )
        if not isinstance(d["sha256"], str) or not SHA256_HEX.fullmatch(d["sha256"]):
            raise RecordError(f"{where}.sha256 must be 64 lowercase hex digits",
                              field=f"{where}.sha256")
        if not isinstance(d["filename"], str) or not FILENAME.fullmatch(d["filename"]) or d[
            "filename"
        ] in (".", ".."):
            raise RecordError(
                f"{where}.filename must be a plain file name without / or \\",
                field=f"{where}.filename"
            )
        for key in ("role", "media_type"):
            if not isinstance(d[key], str) or not 0 < len(d[key]) <= 128:
                raise RecordError(f"{where}.{key} must be a string of 1-128 characters",
                                  field=f"{where}.{key}")
        size = d["size"]
        if (isinstance(size, bool) or not isinstance(size, int)
                or not 0 <= size <= MAX_DOCUMENT_BYTES):
            raise RecordError(
                f"{where}.size must be an integer in [0, {MAX_DOCUMENT_BYTES}]",
                field=f"{where}.size"
            )
        docs.append(Document(d["role"], d["sha256"], d["media_type"], d["filename"], size))
    return tuple(docs)


def check_posted(posted: Any) -> dict[str, Any]:
    """Check the shape of a posted event (not its payload, which lending_core validates)."""
    if not isinstance(posted, dict):
        raise RecordError("an event must be a JSON object")
    # the first unknown field as sent: a Python-level scan, never one long C call (sorting
    # 200,000 hostile keys held the interpreter lock for 0.4 s)
    unknown = next((k for k in posted if k not in POSTED_FIELDS), None)
    if unknown is not None:
        raise RecordError(
            f"unknown field {unknown!r}; an event has {', '.join(POSTED_FIELDS)}",
            field=unknown
        )
    for name in REQUIRED_FIELDS:
        if name not in posted:
            raise RecordError(f"missing required field {name!r}", field=name)
    if not isinstance(posted["event_id"], str) or not EVENT_ID.fullmatch(posted["event_id"]):
        raise RecordError("event_id must be 1-128 characters of A-Za-z0-9._:-", field="event_id")
    if not isinstance(posted["loan_id"], str) or not LOAN_ID.fullmatch(posted["loan_id"]):
        raise RecordError("loan_id must be 1-128 characters of A-Za-z0-9._:-", field="loan_id")
    if not isinstance(posted["type"], str) or not posted["type"]:
        raise RecordError("type must be a non-empty string", field="type")
    if not isinstance(posted["payload"], dict):
        raise RecordError("payload must be an object", field="payload")
    if not isinstance(posted["source"], dict) or not posted["source"]:
        raise RecordError(
            "source must be a non-empty object naming the producing system and its references",
            field="source",
        )
    sig = posted.get("producer_signature")
    if sig is not None and (
        not isinstance(sig, dict) or set(sig) != {"key_id", "sig"}
        or not all(isinstance(v, str) for v in sig.values())
    ):
        raise RecordError("producer_signature must be {key_id, sig} strings",
                          field="producer_signature")
    _documents(posted.get("documents"))
    parse_rfc3339(posted["occurred_at"], "occurred_at")
    check_ints(posted, "")
    return posted


def build_record(
    posted: Mapping[str, Any], *, tenant: str, received_at: datetime, salt: bytes,
    max_future_skew: timedelta | None = None,
    loan_seq: int | None = None, loan_prev: bytes | None = None,
) -> Record:
    """The canonical record for a posted event, accepted by `tenant` at `received_at`.
    With `max_future_skew`, an `occurred_at` later than `received_at` by more than that
    (a clock's error, not an event from the future) is refused.

    Without `loan_seq` it is a v1 record: the draft the log turns into v2 with
    `chain_record` once it knows the loan's history; its size leaves room for that. With
    `loan_seq` (and `loan_prev`, None exactly for the first) it is the v2 record."""
    if not isinstance(posted, Mapping):
        raise RecordError(f"an event must be a JSON object, got {type(posted).__name__}")
    posted = check_posted(dict(posted))
    if not TENANT_ID.fullmatch(tenant):
        raise RecordError(f"tenant {tenant!r} is not a valid tenant id")
    if len(salt) != 32:
        raise RecordError(f"salt must be 32 bytes, got {len(salt)}")
    occurred = parse_rfc3339(posted["occurred_at"], "occurred_at")
    if max_future_skew is not None and occurred - received_at > max_future_skew:
        raise RecordError(
            f"occurred_at {posted['occurred_at']!r} is later than the time the log received "
            f"the event ({format_utc(received_at)}) by more than the "
            f"{max_future_skew.total_seconds():g} s of clock skew allowed; an event cannot "
            f"have happened in the future", field="occurred_at")
    content: dict[str, Any] = {k: posted[k] for k in POSTED_FIELDS if k in posted}
    content["occurred_at"] = format_utc(occurred)
    content.setdefault("documents", [])
    content.update(
        schema=RECORD_SCHEMA,
        tenant=tenant,
        received_at=format_utc(received_at),
        salt=salt.hex(),
    )
    if loan_seq is None:
        if loan_prev is not None:
            raise RecordError("loan_prev is given only with loan_seq")
        data = canonical(content)
        if len(data) + LOAN_CHAIN_BYTES > MAX_RECORD_BYTES:
            raise TooLarge(f"record is {len(data)} bytes and its loan chain takes up to "
                           f"{LOAN_CHAIN_BYTES} more; limit {MAX_RECORD_BYTES}")
        return _built(data, content, documents=_documents(content["documents"]))
    return _chained(content, _documents(content["documents"]), loan_seq, loan_prev)


def chain_record(draft: Record, loan_seq: int, loan_prev: bytes | None) -> Record:
    """The v2 record of a draft (`build_record` without a loan chain): the same fields, and
    the record's place in its loan: `loan_seq` (1, 2, 3...) and `loan_prev` (the leaf hash of
    the loan's previous record; None exactly when `loan_seq` is 1). A v2 draft gets its
    chain replaced."""
    content = draft.content
    if content.get("schema") not in RECORD_SCHEMAS:
        raise RecordError(f"a draft record has schema {RECORD_SCHEMA!r}")
    return _chained(content, draft.documents, loan_seq, loan_prev)


def _chained(content: dict[str, Any], documents: tuple[Document, ...], loan_seq: int,
             loan_prev: bytes | None) -> Record:
    _check_chain(loan_seq, None if loan_prev is None else loan_prev.hex())
    if loan_prev is not None and len(loan_prev) != 32:
        raise RecordError(f"loan_prev must be a 32-byte leaf hash, got {len(loan_prev)} bytes")
    content.update(schema=RECORD_SCHEMA_V2, loan_seq=loan_seq,
                   loan_prev=None if loan_prev is None else loan_prev.hex())
    data = canonical(content)
    if len(data) > MAX_RECORD_BYTES:
        raise TooLarge(f"record is {len(data)} bytes, limit {MAX_RECORD_BYTES}")
    return _built(data, content, documents, loan_seq, loan_prev)


def _built(data: bytes, content: Mapping[str, Any], documents: tuple[Document, ...],
           loan_seq: int | None = None, loan_prev: bytes | None = None) -> Record:
    # built here from checked parts, so no need to re-read it as `record_from_bytes` would
    return Record(data=data, leaf_hash=leaf_hash(data), tenant=content["tenant"],
                  event_id=content["event_id"], loan_id=content["loan_id"], type=content["type"],
                  occurred_at=content["occurred_at"], received_at=content["received_at"],
                  documents=documents, loan_seq=loan_seq, loan_prev=loan_prev)


def _check_chain(loan_seq: Any, loan_prev: Any) -> None:
    """Record v2's chain fields: `loan_seq` an integer from 1, `loan_prev` null exactly for
    the first and otherwise 64 lowercase hex digits."""
    if isinstance(loan_seq, bool) or not isinstance(loan_seq, int) \
            or not 1 <= loan_seq <= MAX_LOAN_SEQ:
        raise RecordError(f"loan_seq must be an integer from 1 to {MAX_LOAN_SEQ}, "
                          f"got {loan_seq!r}", field="loan_seq")
    if loan_seq == 1:
        if loan_prev is not None:
            raise RecordError(f"loan_prev must be null for the loan's first record "
                              f"(loan_seq 1), got {loan_prev!r}", field="loan_prev")
    elif not isinstance(loan_prev, str) or not SHA256_HEX.fullmatch(loan_prev):
        raise RecordError(f"loan_prev must be the previous record's leaf hash, 64 lowercase "
                          f"hex digits, for loan_seq {loan_seq}; got {loan_prev!r}",
                          field="loan_prev")


def record_from_bytes(data: bytes) -> Record:
    """Read a stored record back, checking it is canonical and well-formed. The bytes may
    come from a package (untrusted): size and shape are bounded before the parser runs."""
    return read_record(data)[0]


def read_record(data: bytes) -> tuple[Record, dict[str, Any]]:
    """`record_from_bytes`, with the content it parsed: for a reader that needs both the
    checked facts and the fields, so the bytes are parsed once."""
    if len(data) > MAX_RECORD_BYTES:
        raise TooLarge(f"record is {len(data)} bytes, limit {MAX_RECORD_BYTES}")
    try:
        check_shape(data, MAX_JSON_ITEMS)
        content = json.loads(data, parse_float=reject_float)
    except (ValueError, RecordError) as exc:
        raise RecordError(f"record is not valid JSON: {exc}") from None
    schema = content.get("schema") if isinstance(content, dict) else None
    if schema not in RECORD_SCHEMAS:
        raise RecordError(f"record schema must be {RECORD_SCHEMA!r} or {RECORD_SCHEMA_V2!r}")
    if canonical(content) != data:
        raise RecordError("record bytes are not in RFC 8785 canonical form")
    missing = [k for k in (*REQUIRED_FIELDS, *SERVER_FIELDS) if k not in content]
    loan_seq = loan_prev = None
    if schema == RECORD_SCHEMA_V2:
        missing += [k for k in LOAN_CHAIN_FIELDS if k not in content]
    if missing:
        raise RecordError(f"record lacks {missing}")
    if schema == RECORD_SCHEMA_V2:
        _check_chain(content["loan_seq"], content["loan_prev"])
        loan_seq = content["loan_seq"]
        loan_prev = None if content["loan_prev"] is None else bytes.fromhex(content["loan_prev"])
    else:
        extra = [k for k in LOAN_CHAIN_FIELDS if k in content]
        if extra:
            raise RecordError(f"a {RECORD_SCHEMA} record has no {extra}; "
                              f"the loan chain is {RECORD_SCHEMA_V2!r}'s")
    return Record(
        data=data,
        leaf_hash=leaf_hash(data),
        tenant=content["tenant"],
        event_id=content["event_id"],
        loan_id=content["loan_id"],
        type=content["type"],
        occurred_at=content["occurred_at"],
        received_at=content["received_at"],
        documents=_documents(content.get("documents")),
        loan_seq=loan_seq,
        loan_prev=loan_prev,
    ), content
