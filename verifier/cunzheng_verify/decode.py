"""Decoding the package's JSON into typed values, before any check reads them.

Every field the checks use is decoded here once, with a `Problem` that says what was
expected and what was found: hashes are 64 lowercase hex digits, keys standard base64 of
their raw bytes, counts non-negative integers, JSON bounded in bytes and in items.
`parse_manifest`, `parse_checkpoint`, `parse_item` and `parse_history` turn the manifest and
its entries into `Manifest`, `CheckpointEntry`, `ItemEntry` and `HistoryEntry`; fields that
a later step checks against another source (the anchor's transaction, the cosigners) keep
the manifest's JSON value so that step, not this one, reports them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cunzheng_verify.errors import AnchoringError
from cunzheng_verify.format import (
    LOAN_INDEX_PROOF,
    MAX_CHECKPOINTS,
    MAX_ENTRIES,
    MAX_HISTORY,
    MAX_ITEMS,
    MAX_JSON_BYTES,
    MAX_MANIFEST_BYTES,
    MAX_MANIFEST_ITEMS,
    PACKAGE_SCHEMAS,
    VENUES,
    history_path,
    note_path,
    proof_path,
    record_path,
)
from cunzheng_verify.records import MAX_DOCUMENTS, MAX_JSON_ITEMS, parse_json

HEX32 = re.compile(r"[0-9a-f]{64}")


class Problem(Exception):
    """A check's failure inside the verifier; becomes a failed step, never escapes."""


def hex32(value: Any, what: str) -> bytes:
    if not isinstance(value, str) or not HEX32.fullmatch(value):
        raise Problem(f"{what} must be 64 lowercase hex digits, got {str(value)[:80]!r}")
    return bytes.fromhex(value)


def integer(value: Any, what: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise Problem(f"{what} must be an integer >= {minimum}, got {value!r}")
    return value


def b64key(value: Any, what: str, size: int = 32) -> bytes:
    try:
        raw = base64.b64decode(value, validate=True) if isinstance(value, str) else b""
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != size:
        raise Problem(f"{what} must be {size} bytes of standard base64")
    return raw


def json_value(data: bytes, what: str, max_bytes: int = MAX_JSON_BYTES,
               max_items: int = MAX_JSON_ITEMS) -> Any:
    try:
        return parse_json(data, max_bytes=max_bytes, max_items=max_items)
    except AnchoringError as exc:
        raise Problem(f"{what} is not valid JSON: {exc}") from None


def obj(value: Any, what: str, keys: Sequence[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Problem(f"{what} must be a JSON object")
    missing = [k for k in keys if k not in value]
    if missing:
        raise Problem(f"{what} lacks {', '.join(missing)}")
    return value


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- the manifest -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LogInfo:
    """`log {origin, key_name, public_key}` as the manifest gives them (checked later)."""

    origin: Any
    key_name: Any
    public_key: Any


@dataclass(frozen=True, slots=True)
class ChainInfo:
    chain_id: Any
    contract: Any


@dataclass(frozen=True, slots=True)
class Manifest:
    """manifest.json's header decoded; `files`, `items` and `checkpoints` are decoded entry
    by entry (`parse_item`, `parse_checkpoint`) so each bad entry is its own failed step."""

    package_id: str
    venue: str
    log: LogInfo
    chain: ChainInfo
    tenant: Any
    loan_id: Any
    files: dict[str, Any]
    items: list[Any]
    checkpoints: list[Any]
    schema: str = PACKAGE_SCHEMAS[0]
    as_of: Any = None  # `loan.as_of`, checked by the history's freshness step
    history: Any = None  # `history` (v2), decoded by `parse_history`; None: no history annex


def parse_manifest(data: bytes, on_package_id: Any = None) -> Manifest:
    """The manifest's header, or the `Problem` that makes the package unreadable.
    `on_package_id(id)` is told the package id as soon as it is read, before other checks."""
    m = obj(json_value(data, "manifest.json", MAX_MANIFEST_BYTES, MAX_MANIFEST_ITEMS),
            "manifest.json",
            ("schema", "package_id", "created_at", "venue", "log", "chain", "loan", "items",
             "checkpoints", "files"))
    package_id = str(m["package_id"])[:128]
    if on_package_id is not None:
        on_package_id(package_id)
    if m["schema"] not in PACKAGE_SCHEMAS:
        raise Problem(f"schema must be one of {', '.join(map(repr, PACKAGE_SCHEMAS))}, got "
                      f"{str(m['schema'])[:80]!r}")
    if m["venue"] not in VENUES:
        raise Problem(f"venue must be one of {', '.join(VENUES)}, got {m['venue']!r}")
    log = obj(m["log"], "log", ("origin", "key_name", "public_key"))
    chain = obj(m["chain"], "chain", ("chain_id", "contract"))
    loan = obj(m["loan"], "loan", ("loan_id", "tenant"))
    if not isinstance(m["files"], dict) or not isinstance(m["items"], list) or not isinstance(
            m["checkpoints"], list):
        raise Problem("files must be an object, items and checkpoints lists")
    if not 0 < len(m["items"]) <= MAX_ITEMS or not 0 < len(m["checkpoints"]) <= MAX_CHECKPOINTS:
        raise Problem(f"need 1-{MAX_ITEMS} items and 1-{MAX_CHECKPOINTS} checkpoints")
    if len(m["files"]) > MAX_ENTRIES:  # each must be in the zip, which holds no more
        raise Problem(f"files lists {len(m['files'])} paths, limit {MAX_ENTRIES}")
    return Manifest(package_id, m["venue"], LogInfo(log["origin"], log["key_name"],
                                                    log["public_key"]),
                    ChainInfo(chain["chain_id"], chain["contract"]), loan["tenant"],
                    loan["loan_id"], m["files"], m["items"], m["checkpoints"], m["schema"],
                    loan.get("as_of"), m.get("history"))


@dataclass(frozen=True, slots=True)
class Anchor:
    """`checkpoints[].anchor`: what the on-chain step compares with the node's answers."""

    chain_id: Any
    contract: Any
    tx_hash: Any
    block_number: Any
    block_hash: Any
    block_time: Any


@dataclass(frozen=True, slots=True)
class CheckpointEntry:
    size: int
    root: bytes
    note_path: str
    anchor: Anchor
    cosigners: list[Any]


def parse_checkpoint(raw: Any, i: int, chain: ChainInfo, sizes: list[int]) -> CheckpointEntry:
    """`checkpoints[i]`; sizes must increase over `sizes` (the entries before it whose shape
    held, to which its size is added) and the anchor must name the manifest's chain and
    contract."""
    c = obj(raw, f"checkpoints[{i}]", ("tree_size", "root", "note", "anchor", "cosigners"))
    size = integer(c["tree_size"], "tree_size", 1)
    if sizes and size <= sizes[-1]:
        raise Problem(f"checkpoint sizes must increase; {size} after {sizes[-1]}")
    if c["note"] != note_path(size):
        raise Problem(f"note must be {note_path(size)}, got {c['note']!r}")
    a = obj(c["anchor"], "anchor", ("chain_id", "contract", "tx_hash", "block_number",
                                    "block_hash", "block_time"))
    if (a["chain_id"], str(a["contract"]).lower()) != (chain.chain_id,
                                                        str(chain.contract).lower()):
        raise Problem("anchor names another chain or contract than the manifest")
    if not isinstance(c["cosigners"], list):
        raise Problem("cosigners must be a list")
    sizes.append(size)  # before the root is decoded, as verifiers of v1 always did
    root = hex32(c["root"], "root")
    anchor = Anchor(a["chain_id"], a["contract"], a["tx_hash"], a["block_number"],
                    a["block_hash"], a["block_time"])
    return CheckpointEntry(size, root, c["note"], anchor, c["cosigners"])


@dataclass(frozen=True, slots=True)
class ItemEntry:
    """One exhibit (`items[]`): its record and proof paths follow from its leaf index."""

    no: str
    title: Any
    leaf_index: int
    leaf_hash: str  # 64 lowercase hex digits, as the manifest writes it
    record: str
    proof: str
    checkpoint_size: int
    documents: list[Any]


def item_label(raw: Any, i: int) -> str:
    """How a report names `items[i]` before it is known to be well formed."""
    return str(raw.get("no", f"#{i}")) if isinstance(raw, dict) else f"#{i}"


def parse_item(raw: Any) -> ItemEntry:
    it = obj(raw, "item", ("no", "title", "source", "purpose", "leaf_index", "leaf_hash",
                           "record", "proof", "checkpoint_size", "documents"))
    leaf = integer(it["leaf_index"], "leaf_index")
    hex32(it["leaf_hash"], "leaf_hash")
    if it["record"] != record_path(leaf) or it["proof"] != proof_path(leaf):
        raise Problem(f"record and proof must be {record_path(leaf)} and {proof_path(leaf)}")
    size = integer(it["checkpoint_size"], "checkpoint_size", 1)
    if size <= leaf:
        raise Problem("checkpoint_size must exceed leaf_index")
    if not isinstance(it["documents"], list) or len(it["documents"]) > MAX_DOCUMENTS:
        raise Problem(f"documents must be a list of at most {MAX_DOCUMENTS} (as many "
                      "as a record may cite)")
    return ItemEntry(str(it["no"]), it["title"], leaf, it["leaf_hash"], it["record"],
                     it["proof"], size, it["documents"])


@dataclass(frozen=True, slots=True)
class DocumentRef:
    role: Any
    sha256: str
    path: Any  # a listed file's path, or None when the document was left out


def parse_document(raw: Any) -> DocumentRef:
    ref = obj(raw, "document", ("role", "sha256", "path"))
    return DocumentRef(ref["role"], hex32(ref["sha256"], "document sha256").hex(), ref["path"])


# --- the loan's history (package v2) ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class HistoryRecord:
    """`history.records[]`: one record of the loan, in its place in the loan's chain. `path`
    is None for an erased record (its leaf hash and place stay), `erased_by` then names the
    erasure's evidence id (`<origin>#<leaf>`), when the log has one."""

    seq: int
    leaf_index: int
    leaf_hash: bytes
    path: str | None
    erased_by: str | None

    @property
    def label(self) -> str:
        return self.path or f"seq {self.seq} (erased)"


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """`history`: the loan's every record up to the checkpoint of `checkpoint_size`, the loan
    index root that checkpoint commits to, and the head the index gives for the loan there
    (`count`, `last_leaf_index`, `last_leaf_hash`)."""

    checkpoint_size: int
    index_root: bytes
    count: int
    last_leaf_index: int
    last_leaf_hash: bytes
    records: tuple[HistoryRecord, ...]
    index_proof: str


_MAX_EVIDENCE_ID = 400  # an origin line and a decimal leaf index


def parse_history_record(raw: Any, i: int) -> HistoryRecord:
    r = obj(raw, f"history.records[{i}]",
            ("loan_seq", "leaf_index", "leaf_hash", "path", "erased_by"))
    seq = integer(r["loan_seq"], f"history.records[{i}].loan_seq", 1)
    leaf = integer(r["leaf_index"], f"history.records[{i}].leaf_index")
    leaf_hash = hex32(r["leaf_hash"], f"history.records[{i}].leaf_hash")
    path, erased_by = r["path"], r["erased_by"]
    if path is not None and path != history_path(leaf):
        raise Problem(f"history.records[{i}].path must be {history_path(leaf)} or null, got "
                      f"{str(path)[:80]!r}")
    if erased_by is not None and (not isinstance(erased_by, str) or "#" not in erased_by
                                  or len(erased_by) > _MAX_EVIDENCE_ID):
        raise Problem(f"history.records[{i}].erased_by must be an evidence id "
                      f"<origin>#<leaf> or null, got {str(erased_by)[:80]!r}")
    if path is not None and erased_by is not None:
        raise Problem(f"history.records[{i}] has a file and names an erasure: one or the other")
    return HistoryRecord(seq, leaf, leaf_hash, path, erased_by)


def parse_history(raw: Any) -> HistoryEntry:
    """The manifest's `history` object; its records' order and links are checked later."""
    h = obj(raw, "history", ("checkpoint_size", "index_root", "count", "last_leaf_index",
                             "last_leaf_hash", "records", "index_proof"))
    size = integer(h["checkpoint_size"], "history.checkpoint_size", 1)
    index_root = hex32(h["index_root"], "history.index_root")
    count = integer(h["count"], "history.count", 1)
    last = integer(h["last_leaf_index"], "history.last_leaf_index")
    last_hash = hex32(h["last_leaf_hash"], "history.last_leaf_hash")
    records = h["records"]
    if not isinstance(records, list) or not 0 < len(records) <= MAX_HISTORY:
        raise Problem(f"history.records must be a list of 1-{MAX_HISTORY} records")
    if count > MAX_HISTORY:
        raise Problem(f"history.count is {count}, limit {MAX_HISTORY}")
    if h["index_proof"] != LOAN_INDEX_PROOF:
        raise Problem(f"history.index_proof must be {LOAN_INDEX_PROOF}, got "
                      f"{str(h['index_proof'])[:80]!r}")
    if last >= size:
        raise Problem(f"history.last_leaf_index {last} is not below checkpoint_size {size}")
    parsed = tuple(parse_history_record(r, i) for i, r in enumerate(records))
    return HistoryEntry(size, index_root, count, last, last_hash, parsed, LOAN_INDEX_PROOF)
