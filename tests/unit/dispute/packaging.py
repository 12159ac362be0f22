"""Helpers for the package tests: a real SQLite log holding the example loan's story (with
its documents), anchored in three rounds on an in-process EVM (eth-tester) with the
registry deployed, every checkpoint cosigned by a witness; a small real PDF renderer with
attachments standing in for the case-file renderer; zip surgery for the attack fixtures."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from web3 import EthereumTesterProvider, Web3
from web3.types import RPCEndpoint

from anchoring.anchor_job import AnchoringJob, AnchorJobConfig
from anchoring.anchor_store import AnchorStore
from anchoring.chain import Web3Chain
from anchoring.registry import AnchorRegistryClient, deploy_registry
from cunzheng_verify.notes import Signer
from dispute.package import BuiltPackage, CaseFileInput, deterministic_zip, sign_manifest
from lending_core.events import example_story
from service.cases import build_dispute_package
from service.context import AppContext, build_context
from service.settings import Settings
from tests.conftest import make_event
from tests.unit.dispute import DEFAULT_DOCUMENTS, LOAN_ID, STORY_DAYS, TENANT, document_bytes

AS_OF = date(2026, 8, 1)
BUILT_AT = datetime(2026, 8, 1, 2, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 8, 1, 1, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class World:
    ctx: AppContext
    w3: Web3
    chain: Web3Chain
    job: AnchoringJob
    registry: AnchorRegistryClient
    witness: str
    clock: Clock
    signer: Signer

    def anchor_round(self, cosign: bool = True) -> int | None:
        """One job round (submit), then confirm it and let the witness cosign."""
        self.clock.advance(2)
        size = self.job.run_once().submitted
        if size is not None and cosign:
            self.registry.cosign(size, self.ctx.store.root(size), sender=self.witness)
        return size

    def settle(self) -> None:
        """Mine blocks so every anchor is final, and record the cosignatures."""
        if isinstance(self.w3.provider, EthereumTesterProvider):
            self.w3.testing.mine(3)
        else:  # anvil reads evm_mine's parameter as a timestamp, not a block count
            for _ in range(3):
                self.w3.provider.make_request(RPCEndpoint("evm_mine"), [])
        self.clock.advance(2)
        self.job.run_once()


def story_event(i: int) -> dict[str, Any]:
    event_type, payload = example_story()[i]
    docs = [{"role": role, "sha256": hashlib.sha256(document_bytes(role, name)).hexdigest(),
             "media_type": "application/pdf", "filename": name,
             "size": len(document_bytes(role, name))}
            for role, name in DEFAULT_DOCUMENTS.get(event_type, [])]
    return {"event_id": f"story-{i}", "loan_id": LOAN_ID, "type": event_type,
            "occurred_at": f"{STORY_DAYS[i]}T10:00:00Z", "payload": payload,
            "documents": docs, "source": {"system": "core-banking", "ref": f"CB-{i:04d}"}}


def post_story(world: World, indices: range) -> None:
    events = [story_event(i) for i in indices]
    for e in events:
        for d in e["documents"]:
            role, name = d["role"], d["filename"]
            world.ctx.store.put_document(TENANT, d["sha256"], "application/pdf",
                                         document_bytes(role, name), "2026-08-01T00:00:00Z")
    world.ctx.log.submit(TENANT, events)


def post_noise(world: World, start: int, n: int) -> None:
    world.ctx.log.submit("other-bank", [make_event(f"n-{i}", f"N-{i}")
                                        for i in range(start, start + n)])


def make_world(tmp_path: Path, w3: Web3 | None = None) -> World:
    """The example loan up to its acceleration, among other loans, anchored in three rounds
    on `w3` (default: an in-process eth-tester chain; a real node's accounts must be
    unlocked, as anvil's are)."""
    w3 = w3 if w3 is not None else Web3(EthereumTesterProvider())
    a = w3.eth.accounts
    record = deploy_registry(w3, a[0], anchorers=[a[1]], witnesses=[a[2]])
    chain = Web3Chain(w3, record.address, sender=a[1])
    clock = Clock()
    ctx = build_context(Settings(data_dir=tmp_path / "data", anchor_enabled=False), clock=clock)
    job = AnchoringJob(ctx.log, AnchorStore(ctx.engine), chain,
                       AnchorJobConfig(holder="test", confirmations=2), clock)
    signer = Signer("bank.example/evidence-package",
                    Ed25519PrivateKey.from_private_bytes(bytes(range(32))))
    world = World(ctx, w3, chain, job, AnchorRegistryClient(w3, record.address), a[2], clock,
                  signer)
    post_noise(world, 0, 3)
    post_story(world, range(2))
    world.anchor_round()
    post_story(world, range(2, 5))
    post_noise(world, 3, 2)
    world.anchor_round()
    post_story(world, range(5, 9))
    world.anchor_round()
    world.settle()
    return world


def build(world: World, venue: str = "court") -> BuiltPackage:
    return build_dispute_package(world.ctx, tenant=TENANT, loan_id=LOAN_ID, venue=venue,
                                 as_of=AS_OF, signer=world.signer, created_at=BUILT_AT,
                                 render=simple_pdf)


# --- a small real PDF renderer ----------------------------------------------------------


def _pdf_text(s: str) -> str:
    s = s.encode("ascii", "replace").decode()
    return "(" + s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ")"


def simple_pdf(case: CaseFileInput) -> bytes:
    """A one-page PDF listing the exhibits, with the attachments embedded (EmbeddedFiles)."""
    lines = [f"Evidence package {case.manifest['package_id']}"] + [
        f"{e.no} leaf {e.leaf_index}" for e in case.exhibits]
    text = "BT /F1 9 Tf 40 800 Td 12 TL " + " ".join(f"{_pdf_text(x)} '" for x in lines) + " ET"
    objs: list[bytes] = [b"", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                         (b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources "
                         b"<< /Font << /F1 4 0 R >> >> /Contents 5 0 R >>"),
                         b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
                         b"<< /Length %d >>\nstream\n%s\nendstream" % (len(text), text.encode())]
    names = []
    for name, data in sorted(case.attachments.items()):
        objs.append(b"<< /Type /EmbeddedFile /Length %d >>\nstream\n%s\nendstream"
                    % (len(data), data))
        ef = len(objs)
        objs.append(f"<< /Type /Filespec /F {_pdf_text(name)} /EF << /F {ef} 0 R >> >>".encode())
        names.append(f"{_pdf_text(name)} {len(objs)} 0 R")
    objs[0] = (f"<< /Type /Catalog /Pages 2 0 R /Names << /EmbeddedFiles << /Names "
               f"[{' '.join(names)}] >> >> >>").encode()
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for i, body in enumerate(objs, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (i, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return bytes(out)


# --- zip surgery --------------------------------------------------------------------------


def unzip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist()}


def rezip(files: dict[str, bytes]) -> bytes:
    return deterministic_zip(files)


def manifest(files: dict[str, bytes]) -> dict[str, Any]:
    return json.loads(files["manifest.json"])


def resign(files: dict[str, bytes], m: dict[str, Any], signer: Signer,
           rehash: bool = True) -> dict[str, bytes]:
    """Write manifest `m` (re-hashing every file first if `rehash`) and sign it."""
    out = dict(files)
    if rehash:
        m["files"] = {p: hashlib.sha256(b).hexdigest() for p, b in sorted(out.items())
                      if p not in ("manifest.json", "manifest.sig")}
    out["manifest.json"] = (json.dumps(m, ensure_ascii=False, indent=2) + "\n").encode()
    out["manifest.sig"] = sign_manifest(out["manifest.json"], signer)
    return out
