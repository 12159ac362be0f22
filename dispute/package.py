"""Building the evidence package (zip) of one loan, exactly as DESIGN.md "Evidence package".

Inputs are typed values: the loan's leaves and records read once (`LoanEvidence`), the
exhibits chosen for the venue and the gaps, the claim (`CaseContents`), a case-file
renderer (`RenderCaseFile`), the log's proofs and checkpoints and the anchors the
anchoring job recorded. `dispute.case` composes them from the selection and the claim;
`draft_package` (proofs, checkpoints, the manifest's core) and `finish_package` (claim,
case file, VERIFY.md, signature, zip) let it compute the claim only once the proofs are
known to be there. Every exhibit's proof
goes to the *earliest anchored* checkpoint that contains its record; a record that no
anchored checkpoint contains yet refuses the whole build (`NotYetAnchored`). The output
is deterministic for the same inputs and `created_at`: fixed zip timestamps and modes,
sorted entries, JSON written one way.

Package v2: when the log's newest anchored checkpoint commits to a loan index root, that
checkpoint joins the package's (the newest) and the package carries the loan's history there
(`dispute.history`: every record, the index proof, the manifest's `history`); a log from
before the index gives a v1 package, as before.

The case file embeds the package's items, checkpoints and proofs (and the history), but not
the `files` table: `files` holds the PDF's own hash, so the PDF is rendered first, from the
manifest without `files`, and hashed after (see VERIFY.md).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import mimetypes
import re
import string
import zipfile
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Protocol

from anchoring.anchor_store import AnchorRow, Cosignature
from anchoring.errors import NotFound
from anchoring.receipts import evidence_id
from anchoring.store import StoredCheckpoint, StoredLeaf
from cunzheng_verify.format import (
    CASE_FILE,
    CLAIM_FILE,
    LOAN_INDEX_PROOF,
    MANIFEST,
    MANIFEST_SIG,
    MAX_ITEMS,
    PACKAGE_SCHEMA,
    PACKAGE_SCHEMA_V2,
    VENUES,
    VERIFY_FILE,
    consistency_path,
    document_path,
    note_path,
    proof_path,
    record_path,
)
from cunzheng_verify.notes import Signer
from cunzheng_verify.records import format_utc
from dispute.errors import NotYetAnchored, PackageError
from dispute.evidence import EvidenceSelection
from dispute.history import (
    HistoryReader,
    LoanHistory,
    history_anchor,
    history_checkpoint,
    mined,
    read_history,
    stale_history,
    verify_md_summary,
)
from dispute.records import LoanEvidence, StoredRecord, load_evidence

ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time zip can store: no build clock in the bytes
ZIP_MODE = 0o100644 << 16
MAX_EXHIBITS = MAX_ITEMS  # what the verifier accepts
_EXT = re.compile(r"[a-z0-9]{1,10}")
_TEMPLATE = Path(__file__).with_name("VERIFY_TEMPLATE.md")


# --- ports ------------------------------------------------------------------------------


class LogReader(HistoryReader, Protocol):
    """What the builder reads from the log (`anchoring.store.LogStore` fits)."""

    def loan_events(self, tenant: str, loan_id: str) -> list[StoredLeaf]: ...
    def inclusion_proof(self, index: int, size: int) -> list[bytes]: ...
    def consistency_proof(self, size1: int, size2: int) -> list[bytes]: ...
    def checkpoint(self, size: int) -> StoredCheckpoint: ...
    def document(self, sha256: str, tenant: str | None = None) -> tuple[str, bytes | None]: ...
    def has_documents(self, hashes: Sequence[str]) -> Collection[str]: ...


class AnchorReader(Protocol):
    """What the builder reads about anchors (`anchoring.anchor_store.AnchorStore` fits)."""

    def covering(self, size: int) -> AnchorRow | None: ...
    def latest(self) -> AnchorRow | None: ...
    def recent(self, limit: int = 50) -> list[AnchorRow]: ...  # newest first
    def cosigners(self, size: int) -> list[Cosignature]: ...


class PackageExhibit(Protocol):
    """An exhibit as the selection names it (证据目录 row); `dispute.evidence.Exhibit` fits."""

    @property
    def no(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def source(self) -> str: ...
    @property
    def purpose(self) -> str: ...
    @property
    def leaf_index(self) -> int | None: ...


@dataclass(frozen=True)
class CaseContents:
    """What the package holds besides the log's proofs: the exhibits chosen for the venue,
    the gaps (messages, in the manifest's loan summary) and the claim (`case/claim.json`).
    `selection`, when there is one, is what the case-file renderer lists."""

    exhibits: tuple[PackageExhibit, ...]
    claim: Mapping[str, Any]
    gaps: tuple[str, ...] = ()
    selection: EvidenceSelection | None = None


@dataclass(frozen=True)
class CaseFileInput:
    """What the case-file renderer gets: the manifest without `files`, the exhibits, the
    claim and the attachments to embed (package paths to bytes)."""

    evidence: LoanEvidence
    manifest: Mapping[str, Any]
    exhibits: tuple[PackageExhibit, ...]
    claim: Mapping[str, Any]
    attachments: Mapping[str, bytes]
    selection: EvidenceSelection | None = None
    history: LoanHistory | None = None

    @property
    def venue(self) -> str:
        return str(self.manifest["venue"])


RenderCaseFile = Callable[[CaseFileInput], bytes]


@dataclass(frozen=True)
class LogIdentity:
    origin: str
    key_name: str
    public_key: bytes


@dataclass(frozen=True)
class PackageRequest:
    tenant: str
    loan_id: str
    venue: str
    as_of: date
    created_at: datetime


@dataclass(frozen=True)
class BuiltPackage:
    data: bytes
    package_id: str
    manifest: dict[str, Any]
    files: dict[str, bytes] = field(repr=False)


# --- encodings --------------------------------------------------------------------------


def json_bytes(value: Any) -> bytes:
    """How the package writes JSON: UTF-8, two-space indent, keys as given, final newline."""
    return (json.dumps(value, ensure_ascii=False, indent=2) + "\n").encode()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def document_extension(filename: str, media_type: str) -> str:
    """`pdf` for `合同.PDF`; the media type's usual extension otherwise; `bin` at worst."""
    suffix = filename.rpartition(".")[2].lower() if "." in filename else ""
    if _EXT.fullmatch(suffix):
        return suffix
    guessed = (mimetypes.guess_extension(media_type.split(";")[0].strip()) or "").lstrip(".")
    return guessed if _EXT.fullmatch(guessed) else "bin"


def deterministic_zip(files: Mapping[str, bytes]) -> bytes:
    """A zip of `files`, entries sorted, fixed time and mode: same files, same bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = ZIP_MODE
            info.create_system = 3
            zf.writestr(info, files[name], compresslevel=6)
    return buf.getvalue()


def sign_manifest(manifest_bytes: bytes, signer: Signer) -> bytes:
    """`manifest.sig`: `{key_name, public_key, key_id, signature}` over the exact bytes."""
    return json_bytes({
        "key_name": signer.name,
        "public_key": b64(signer.public_key),
        "key_id": signer.key_id.hex(),
        "signature": b64(signer.sign(manifest_bytes)),
    })


# --- building ---------------------------------------------------------------------------


def _check_venue(venue: str) -> None:
    if venue not in VENUES:
        raise PackageError(f"venue must be one of {', '.join(VENUES)}; got {venue!r}")


def _checked_exhibits(exhibits: Sequence[PackageExhibit]) -> tuple[PackageExhibit, ...]:
    found = tuple(exhibits)
    if not found:
        raise PackageError("the selection named no exhibits: nothing to put in the package")
    if len(found) > MAX_EXHIBITS:
        raise PackageError(f"{len(found)} exhibits, limit {MAX_EXHIBITS}")
    return found


def _anchor_for(anchors: AnchorReader, leaf: StoredLeaf) -> AnchorRow | None:
    return mined(anchors.covering(leaf.leaf_index + 1))


_Anchored = list[tuple[PackageExhibit, StoredLeaf, AnchorRow]]


def _anchored(exhibits: Sequence[PackageExhibit], evidence: LoanEvidence,
              anchors: AnchorReader) -> _Anchored:
    """Each recorded exhibit with its leaf and the earliest anchor covering it; raises
    `NotYetAnchored` naming every record no anchored checkpoint contains yet."""
    by_index = {leaf.leaf_index: leaf for leaf in evidence.leaves}
    chosen: _Anchored = []
    pending: list[tuple[str, str]] = []
    for ex in exhibits:
        if ex.leaf_index is None:  # derived exhibits (the computation): in the case file only
            continue
        leaf = by_index.get(int(ex.leaf_index))
        if leaf is None:
            raise PackageError(f"exhibit {ex.no} names leaf {ex.leaf_index}, which is not a "
                               f"record of loan {evidence.loan_id!r}")
        if leaf.record is None:
            raise PackageError(f"exhibit {ex.no}: the content of record "
                               f"{evidence_id(evidence.origin, leaf.leaf_index)} was erased")
        row = _anchor_for(anchors, leaf)
        if row is None:
            missing = (evidence_id(evidence.origin, leaf.leaf_index), leaf.event_id)
            if missing not in pending:  # two exhibits may cite one record
                pending.append(missing)
        else:
            chosen.append((ex, leaf, row))
    if pending:
        raise NotYetAnchored(pending)
    if not chosen:
        raise PackageError("no exhibit of the selection is backed by a logged record")
    return chosen


def _checkpoints(rows: Mapping[int, AnchorRow], log: LogReader, anchors: AnchorReader,
                 files: dict[str, bytes]) -> tuple[tuple[int, str], list[dict[str, Any]]]:
    """The chain and contract, and each anchored checkpoint (its note, and a consistency
    proof to the newest, written into `files`)."""
    newest = max(rows)
    chains = {(row.chain_id, row.contract) for row in rows.values()}
    if len(chains) != 1:
        raise PackageError(f"the records are anchored on more than one chain or contract: "
                           f"{sorted(chains)}")
    checkpoints = []
    for size in sorted(rows):
        row = rows[size]
        stored = log.checkpoint(size)
        if stored.root != row.root:
            raise PackageError(f"the anchor of size {size} names root {row.root.hex()}, the "
                               f"log's checkpoint {stored.root.hex()}")
        note = note_path(size)
        files[note] = stored.note.encode()
        checkpoints.append({
            "tree_size": size,
            "root": row.root.hex(),
            "note": note,
            "anchor": {"chain_id": row.chain_id, "contract": row.contract,
                       "tx_hash": row.tx_hash, "block_number": row.block_number,
                       "block_hash": row.block_hash, "block_time": row.block_time},
            "cosigners": [{"address": c.witness, "tx_hash": c.tx_hash,
                           "block_number": c.block_number} for c in anchors.cosigners(size)],
        })
        if size != newest:
            files[consistency_path(size, newest)] = json_bytes({
                "size1": size, "size2": newest,
                "proof": [h.hex() for h in log.consistency_proof(size, newest)]})
    return chains.pop(), checkpoints


def _documents(record: StoredRecord, log: LogReader, tenant: str,
               files: dict[str, bytes]) -> list[dict[str, Any]]:
    docs = []
    for d in record.documents:
        try:
            _, content = log.document(d.sha256, tenant)
        except NotFound:
            content = None
        path = None
        if content is not None:
            if sha256_hex(content) != d.sha256:
                raise PackageError(f"stored document {d.sha256} does not hash to its name")
            path = document_path(d.sha256, document_extension(d.filename, d.media_type))
            files[path] = content
        docs.append({"role": d.role, "sha256": d.sha256, "path": path})
    return docs


def _items(chosen: _Anchored, evidence: LoanEvidence, log: LogReader,
           files: dict[str, bytes]) -> list[dict[str, Any]]:
    items = []
    for ex, leaf, row in chosen:
        assert leaf.record is not None
        record_file = record_path(leaf.leaf_index)
        proof_file = proof_path(leaf.leaf_index)
        files[record_file] = leaf.record
        files[proof_file] = json_bytes({
            "leaf_index": leaf.leaf_index, "tree_size": row.tree_size,
            "leaf_hash": leaf.leaf_hash.hex(),
            "audit_path": [h.hex() for h in log.inclusion_proof(leaf.leaf_index, row.tree_size)]})
        docs = _documents(evidence.by_index[leaf.leaf_index], log, evidence.tenant, files)
        items.append({
            "no": str(ex.no), "title": str(ex.title), "source": str(ex.source),
            "purpose": str(ex.purpose), "leaf_index": leaf.leaf_index,
            "leaf_hash": leaf.leaf_hash.hex(), "record": record_file, "proof": proof_file,
            "checkpoint_size": row.tree_size, "documents": docs,
        })
    return items


@dataclass(frozen=True)
class PackageDraft:
    """A package up to its manifest's core: records, proofs, notes (and history) in `files`."""

    request: PackageRequest
    evidence: LoanEvidence
    exhibits: tuple[PackageExhibit, ...]
    core: dict[str, Any]
    files: dict[str, bytes] = field(repr=False)
    history: LoanHistory | None = None


def draft_package(
    request: PackageRequest,
    evidence: LoanEvidence,
    exhibits: Sequence[PackageExhibit],
    gaps: Sequence[str] = (),
    *,
    log: LogReader,
    anchors: AnchorReader,
    identity: LogIdentity,
) -> PackageDraft:
    """The proofs of every recorded exhibit to the earliest anchored checkpoint containing
    it, the loan's history at the newest one (`dispute.history`; a gap if it is older than
    the as-of date), the manifest's core. Raises `NotYetAnchored` naming every selected
    record no anchored checkpoint contains, `PackageError` for anything else that keeps the
    package from being complete (the log's chain or index disagreeing with its events)."""
    _check_venue(request.venue)
    chosen_exhibits = _checked_exhibits(exhibits)
    chosen = _anchored(chosen_exhibits, evidence, anchors)
    files: dict[str, bytes] = {}
    rows = {row.tree_size: row for _, _, row in chosen}
    at = history_checkpoint(log, history_anchor(anchors), rows)
    stale, history = None if at is None else stale_history(at, request.as_of), None
    if at is not None and stale is None:
        rows[at.row.tree_size] = at.row
        history = read_history(log, evidence, at)
        files.update(history.files)
        files[LOAN_INDEX_PROOF] = json_bytes(history.proof_json())
    (chain_id, contract), checkpoints = _checkpoints(rows, log, anchors, files)
    items = _items(chosen, evidence, log, files)
    created_at = format_utc(request.created_at.replace(microsecond=0))
    package_id = "pkg-" + sha256_hex(json_bytes([
        identity.origin, request.tenant, request.loan_id, request.venue, created_at,
        [(i["no"], i["leaf_hash"]) for i in items], sorted(rows)]))[:32]
    core: dict[str, Any] = {
        "schema": PACKAGE_SCHEMA if history is None else PACKAGE_SCHEMA_V2,
        "package_id": package_id,
        "created_at": created_at,
        "venue": request.venue,
        "log": {"origin": identity.origin, "key_name": identity.key_name,
                "public_key": b64(identity.public_key)},
        "chain": {"chain_id": chain_id, "contract": contract},
        "loan": _loan_summary(request, evidence, (*gaps, stale) if stale else gaps),
        "items": items,
        "checkpoints": checkpoints,
    }
    if history is not None:
        core["history"] = history.manifest_entry()
    return PackageDraft(request, evidence, chosen_exhibits, core, files, history)


def finish_package(draft: PackageDraft, claim: Mapping[str, Any], *, signer: Signer,
                   render: RenderCaseFile,
                   selection: EvidenceSelection | None = None) -> BuiltPackage:
    """The claim, the case file (rendered from the manifest without `files`), VERIFY.md,
    the manifest with every file's hash, its signature, and the zip."""
    files = dict(draft.files)
    claim_value = dict(claim)
    files[CLAIM_FILE] = json_bytes(claim_value)
    attachments = {"manifest-without-files.json": json_bytes(draft.core)}
    attachments.update({p: b for p, b in sorted(files.items())
                        if p.startswith(("proofs/", "checkpoints/", "history/"))})
    files[CASE_FILE] = render(CaseFileInput(draft.evidence, draft.core, draft.exhibits,
                                            claim_value, attachments, selection,
                                            draft.history))
    files[VERIFY_FILE] = render_verify_md(draft.core, files)
    manifest = {**draft.core, "files": {p: sha256_hex(files[p]) for p in sorted(files)}}
    manifest_bytes = json_bytes(manifest)
    files[MANIFEST] = manifest_bytes
    files[MANIFEST_SIG] = sign_manifest(manifest_bytes, signer)
    return BuiltPackage(deterministic_zip(files), draft.core["package_id"], manifest, files)


def build_package(
    request: PackageRequest,
    *,
    log: LogReader,
    anchors: AnchorReader,
    identity: LogIdentity,
    signer: Signer,
    contents: CaseContents,
    render: RenderCaseFile,
    evidence: LoanEvidence | None = None,
) -> BuiltPackage:
    """Assemble, sign and zip the evidence package of one loan for one venue from contents
    already chosen (`evidence` is read from the log when not given).

    Raises `NotYetAnchored` naming every selected record no anchored checkpoint contains,
    and `PackageError` for anything else that keeps the package from being complete."""
    _check_venue(request.venue)
    if evidence is None:
        evidence = load_evidence(log, request.tenant, request.loan_id, identity.origin)
    draft = draft_package(request, evidence, contents.exhibits, contents.gaps, log=log,
                          anchors=anchors, identity=identity)
    return finish_package(draft, contents.claim, signer=signer, render=render,
                          selection=contents.selection)


def _loan_summary(request: PackageRequest, evidence: LoanEvidence,
                  gaps: Sequence[str]) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "loan_id": evidence.loan_id,
        "tenant": evidence.tenant,
        "as_of": request.as_of.isoformat(),
        "event_count": len(evidence.leaves),
        "first_received_at": evidence.leaves[0].received_at,
        "last_received_at": evidence.leaves[-1].received_at,
    }
    if gaps:
        summary["gaps"] = [str(g) for g in gaps]
    return summary


def render_verify_md(core: Mapping[str, Any], files: Mapping[str, bytes]) -> bytes:
    """VERIFY.md from the template: the algorithm, and this package's hashes for
    `sha256sum -c` (every file but VERIFY.md itself and the manifest pair)."""
    sums = "\n".join(f"{sha256_hex(files[p])}  {p}" for p in sorted(files)
                     if p not in (VERIFY_FILE, MANIFEST, MANIFEST_SIG))
    cps = "\n".join(
        f"| {c['tree_size']} | `{c['root']}` | {c['anchor']['block_number']} | "
        f"{c['anchor']['block_time']} | `{c['anchor']['tx_hash']}` |" for c in core["checkpoints"])
    text = string.Template(_TEMPLATE.read_text(encoding="utf-8")).substitute(
        package_id=core["package_id"], created_at=core["created_at"], venue=core["venue"],
        origin=core["log"]["origin"], key_name=core["log"]["key_name"],
        public_key=core["log"]["public_key"], chain_id=core["chain"]["chain_id"],
        contract=core["chain"]["contract"], checkpoints=cps, sha256sums=sums,
        schema=core["schema"], history=verify_md_summary(core))
    return text.encode()
