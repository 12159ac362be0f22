"""The offline checks of a package, steps 1 to 5 of DESIGN.md's verification order (the
loan history's completeness, v2, is `cunzheng_verify.history`, run on this state).

Consensus-critical: each method runs one step per file, item or checkpoint and records its
outcome in the report through `Verifier.check`, which turns a `Problem` (or any error a
malformed input of an unforeseen shape raises) into a failed step, so one failure never
hides the others. The manifest is decoded into typed values (`cunzheng_verify.decode`)
before anything is checked against it.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from cunzheng_verify import merkle
from cunzheng_verify.decode import (
    HEX32,
    CheckpointEntry,
    ItemEntry,
    Manifest,
    Problem,
    b64key,
    hex32,
    item_label,
    json_value,
    obj,
    parse_checkpoint,
    parse_document,
    parse_item,
    parse_manifest,
    sha256_hex,
)
from cunzheng_verify.errors import AnchoringError
from cunzheng_verify.format import (
    MANIFEST,
    MANIFEST_SIG,
    MAX_PROOF_BYTES,
    REQUIRED_FILES,
    consistency_path,
)
from cunzheng_verify.notes import (
    MAX_NOTE_BYTES,
    Checkpoint,
    verify_checkpoint,
    verify_signature,
)
from cunzheng_verify.records import record_from_bytes
from cunzheng_verify.report import Status, VerificationReport
from cunzheng_verify.wire import note_key_id
from cunzheng_verify.zipread import name_problem


class Verifier:
    """The state one verification builds up: the zip's entries, the listed files, the
    decoded manifest and checkpoints, and the report every step is added to."""

    def __init__(self, entries: Mapping[str, bytes], report: VerificationReport) -> None:
        self.entries = entries
        self.report = report
        self.listed: dict[str, str] = {}
        self.manifest: Manifest | None = None
        self.checkpoints: dict[int, CheckpointEntry] = {}
        self.notes: dict[int, Checkpoint] = {}  # each checkpoint whose note's signature held
        self.hashes: dict[str, str] = {}

    @property
    def m(self) -> Manifest:
        if self.manifest is None:  # pragma: no cover - steps 2-6 run only after step 1 held
            raise Problem("no usable manifest")
        return self.manifest

    def sha(self, path: str) -> str:
        """SHA-256 (hex) of an entry, computed once: a manifest may name one 64 MiB file
        thousands of times."""
        if path not in self.hashes:
            self.hashes[path] = sha256_hex(self.entries[path])
        return self.hashes[path]

    def file(self, path: Any, what: str) -> bytes:
        """A file the manifest references: it must be listed in `files` and present."""
        if not isinstance(path, str) or path not in self.listed:
            raise Problem(f"{what} {path!r} is not listed in the manifest's files")
        if path not in self.entries:
            raise Problem(f"{what} {path} is missing from the package")
        return self.entries[path]

    def check(self, step: str, fn: Callable[[], Any], item: str | None = None,
              subject: str | None = None) -> Any:
        """Run one check; record ok with its message, or failed with the problem. A check
        may return `(Status, message)` to record a warning instead of ok."""
        try:
            result = fn()
        except (Problem, AnchoringError) as exc:
            self.report.add(step, Status.FAILED, str(exc), item, subject)
            return None
        except Exception as exc:  # noqa: BLE001 - malformed input of a shape no check foresaw: still a failure
            self.report.add(step, Status.FAILED, f"malformed input ({type(exc).__name__}: {exc})",
                            item, subject)
            return None
        if isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], Status):
            self.report.add(step, result[0], result[1], item, subject)
            return result
        self.report.add(step, Status.OK, str(result), item, subject)
        return result

    # 1. manifest and its signature ------------------------------------------------------

    def manifest_signature(self, trusted: Sequence[bytes] | None) -> Any:
        data = self.entries.get(MANIFEST)
        sig_data = self.entries.get(MANIFEST_SIG)
        if data is None or sig_data is None:
            raise Problem(f"{MANIFEST if data is None else MANIFEST_SIG} is missing")
        sig = obj(json_value(sig_data, MANIFEST_SIG), MANIFEST_SIG,
                  ("key_name", "public_key", "key_id", "signature"))
        public_key = b64key(sig["public_key"], "manifest.sig public_key")
        signature = b64key(sig["signature"], "manifest.sig signature", 64)
        name = sig["key_name"]
        if not isinstance(name, str) or note_key_id(name, public_key).hex() != sig["key_id"]:
            raise Problem(f"key_id {sig['key_id']!r} is not the id of key {name!r} and its "
                          f"public key (expected {note_key_id(str(name), public_key).hex()})")
        verify_signature(public_key, signature, data, MANIFEST)
        who = f"{name} (key id {sig['key_id']}, public key {sig['public_key']})"
        if trusted is None:
            return Status.WARNING, f"valid signature by {who}, but no trusted keys were given"
        if public_key not in trusted:
            return Status.WARNING, (f"valid signature by {who}, which is NOT among the "
                                    f"{len(trusted)} trusted key(s)")
        return f"valid signature by trusted key {who}"

    def manifest_schema(self) -> str:
        def found_id(package_id: str) -> None:
            self.report.package_id = package_id
        m = parse_manifest(self.entries[MANIFEST], found_id)
        self.manifest = m
        return f"{m.schema}, venue {m.venue}, loan {m.loan_id} of {m.tenant}"

    # 2. files --------------------------------------------------------------------------

    def files(self) -> None:
        files = self.m.files
        for path in sorted(files):
            def one(path: str = path) -> str:
                if name_problem(path) or path in (MANIFEST, MANIFEST_SIG):
                    raise Problem(f"listed path {path!r} is not allowed")
                want = files[path]
                if not isinstance(want, str) or not HEX32.fullmatch(want):
                    raise Problem(f"listed hash {str(want)[:80]!r} is not 64 lowercase hex digits")
                self.listed[path] = want
                if path not in self.entries:
                    raise Problem("listed in the manifest but missing from the package")
                found = self.sha(path)
                if found != want:
                    raise Problem(f"SHA-256 is {found}, the manifest lists {want}")
                return f"SHA-256 {want}"
            self.check("file.hash", one, subject=path)
        for path in sorted(set(self.entries) - set(files) - {MANIFEST, MANIFEST_SIG}):
            self.report.add("file.unlisted", Status.FAILED,
                            "file in the package that the manifest does not list", subject=path)
        missing = [p for p in REQUIRED_FILES if p not in files]
        self.report.add("package.layout", Status.FAILED if missing else Status.OK,
                        f"required files not listed: {', '.join(missing)}" if missing
                        else "case file, claim and VERIFY.md listed")

    # 3-4. records, documents, inclusion proofs -----------------------------------------

    def load_checkpoints(self) -> None:
        sizes: list[int] = []
        for i, raw in enumerate(self.m.checkpoints):
            def one(raw: Any = raw, i: int = i) -> str:
                cp = parse_checkpoint(raw, i, self.m.chain, sizes)
                self.checkpoints[cp.size] = cp
                return f"checkpoint entry of size {cp.size}"
            self.check("checkpoint.entry", one, subject=f"checkpoints[{i}]")

    def items(self) -> list[ItemEntry]:
        good: list[ItemEntry] = []
        for i, raw in enumerate(self.m.items):
            def shape(raw: Any = raw) -> str:
                it = parse_item(raw)
                good.append(it)
                return f"{it.title} (leaf {it.leaf_index})"
            self.check("item.entry", shape, item=item_label(raw, i))
        return good

    def record(self, it: ItemEntry) -> None:
        no = it.no

        def present() -> str:
            self.file(it.record, "record")
            return f"{it.record} is listed and present"
        if self.check("record.file", present, item=no, subject=it.record) is None:
            for step in ("record.leaf_hash", "record.canonical"):
                self.report.add(step, Status.SKIPPED, "record file unavailable", no)
            return
        content = self.entries[it.record]

        def leaf_hash() -> str:
            found = merkle.leaf_hash(content).hex()
            if found != it.leaf_hash:
                raise Problem(f"SHA-256(0x00 || record) is {found}, the item names "
                              f"{it.leaf_hash}")
            return f"leaf hash {found}"
        self.check("record.leaf_hash", leaf_hash, no, it.record)

        parsed: list[Any] = []

        def canonical() -> str:
            rec = record_from_bytes(content)
            m = self.m
            if (rec.tenant, rec.loan_id) != (m.tenant, m.loan_id):
                raise Problem(f"record is of loan {rec.loan_id!r} of {rec.tenant!r}, the "
                              f"package of {m.loan_id!r} of {m.tenant!r}")
            parsed.append(rec)
            return f"RFC 8785 canonical {rec.type} record {rec.event_id} of loan {rec.loan_id}"
        if self.check("record.canonical", canonical, no, it.record) is None:
            return
        self.documents(it, parsed[0])

    def documents(self, it: ItemEntry, rec: Any) -> None:
        """The item's documents: each cited by the record, present and of the cited hash
        and size (or left out, a warning); a cited document the item omits is a warning."""
        committed = {d.sha256: d for d in rec.documents}
        named = set()
        for j, d in enumerate(it.documents):
            def doc(d: Any = d) -> Any:
                ref = parse_document(d)
                sha = ref.sha256
                named.add(sha)
                if sha not in committed:
                    raise Problem(f"document {sha} is not cited by the record")
                if ref.path is None:
                    return Status.WARNING, f"document {sha} is not in the package (erased?)"
                body = self.file(ref.path, "document")
                if self.sha(ref.path) != sha or len(body) != committed[sha].size:
                    raise Problem(f"{ref.path} hashes to {self.sha(ref.path)} "
                                  f"({len(body)} bytes); "
                                  f"the record cites {sha} ({committed[sha].size} bytes)")
                return f"{committed[sha].role}: {ref.path} matches the record"
            self.check("record.document", doc, it.no, f"documents[{j}]")
        for sha in sorted(set(committed) - named):
            self.report.add("record.document", Status.WARNING,
                            f"the record cites document {sha}, which the item leaves out", it.no)

    def inclusion(self, it: ItemEntry) -> None:
        def run() -> str:
            p = obj(json_value(self.file(it.proof, "proof"), it.proof, MAX_PROOF_BYTES),
                    it.proof, ("leaf_index", "tree_size", "leaf_hash", "audit_path"))
            if (p["leaf_index"], p["tree_size"], p["leaf_hash"]) != (
                    it.leaf_index, it.checkpoint_size, it.leaf_hash):
                raise Problem(f"proof is for leaf {p['leaf_index']} in tree {p['tree_size']} "
                              f"(hash {str(p['leaf_hash'])[:16]}...), the item names leaf "
                              f"{it.leaf_index} in tree {it.checkpoint_size}")
            cp = self.checkpoints.get(it.checkpoint_size)
            if cp is None:
                raise Problem(f"no checkpoint of size {it.checkpoint_size} in the package")
            if not isinstance(p["audit_path"], list):
                raise Problem("audit_path must be a list")
            path = [hex32(h, "audit path hash") for h in p["audit_path"]]
            merkle.verify_inclusion(it.leaf_index, cp.size, bytes.fromhex(it.leaf_hash),
                                    path, cp.root)
            return f"leaf {it.leaf_index} is in the tree of size {cp.size} ({len(path)} hashes)"
        self.check("proof.inclusion", run, it.no, it.proof)

    # 5. checkpoints and consistency ----------------------------------------------------

    def log_key(self, pinned: bytes | None) -> bytes | None:
        log = self.m.log
        found: list[bytes] = []

        def run() -> str:
            key = b64key(log.public_key, "log public_key")
            if pinned is None:
                found.append(key)
                return "log key taken from the manifest (vouched for by its signature; not pinned)"
            if key != pinned:
                raise Problem(f"the manifest names log key {log.public_key}, the pinned "
                              f"key is {base64.b64encode(pinned).decode()}")
            found.append(key)
            return "the manifest's log key is the pinned key"
        self.check("log.key", run, subject=str(log.key_name))
        return pinned if pinned is not None else (found[0] if found else None)

    def checkpoint_notes(self, key: bytes | None) -> None:
        log = self.m.log
        for _size, cp in sorted(self.checkpoints.items()):
            def run(cp: CheckpointEntry = cp) -> str:
                if key is None:
                    raise Problem("no usable log key")
                raw = self.file(cp.note_path, "checkpoint note")
                if len(raw) > MAX_NOTE_BYTES:  # before decoding up to 64 MiB, 1000 times
                    raise Problem(f"note is {len(raw)} bytes, limit {MAX_NOTE_BYTES}")
                note = raw.decode("utf-8", "replace")
                found = verify_checkpoint(note, key_name=log.key_name, public_key=key,
                                          origin=log.origin)
                if (found.tree_size, found.root) != (cp.size, cp.root):
                    raise Problem(f"the note signs size {found.tree_size} root "
                                  f"{found.root.hex()}, the manifest names size {cp.size} root "
                                  f"{cp.root.hex()}")
                self.notes[cp.size] = found
                return f"signed by {log.key_name}: size {cp.size}, root {cp.root.hex()}"
            self.check("checkpoint.signature", run, subject=cp.note_path)
        if self.checkpoints:
            self.consistency()

    def consistency(self) -> None:
        """Each checkpoint but the newest is a prefix of the newest."""
        newest = max(self.checkpoints)
        for size, cp in sorted(self.checkpoints.items()):
            if size == newest:
                continue
            path = consistency_path(size, newest)

            def link(cp: CheckpointEntry = cp, path: str = path) -> str:
                p = obj(json_value(self.file(path, "consistency proof"), path, MAX_PROOF_BYTES),
                        path, ("size1", "size2", "proof"))
                if (p["size1"], p["size2"]) != (cp.size, newest):
                    raise Problem(f"{path} holds a proof between sizes {p['size1']} and "
                                  f"{p['size2']}, expected {cp.size} and {newest}")
                if not isinstance(p["proof"], list):
                    raise Problem("proof must be a list")
                hashes = [hex32(h, "consistency proof hash") for h in p["proof"]]
                merkle.verify_consistency(cp.size, newest, hashes, cp.root,
                                          self.checkpoints[newest].root)
                return f"the tree of size {cp.size} is a prefix of the tree of size {newest}"
            self.check("checkpoint.consistency", link, subject=path)
