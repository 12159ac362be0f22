"""An in-memory log for the history annex's unit tests: records built as the log builds them
(v1, or v2 with `loan_seq` and `loan_prev`), checkpoints signed with the loan index root
(`loan-index` line), proofs from the reference algorithms (`merkle`, `loanindex.prove`),
anchors as rows. It fits `dispute.package.LogReader` and `AnchorReader`, so the real builder
(`draft_package`, `finish_package`) and the real verifier run on it without a database or a
chain; the tests on a real log and chain are in `test_package_attacks.py`."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from anchoring.anchor_store import AnchorRow, Cosignature
from anchoring.errors import NotFound
from anchoring.store import StoredCheckpoint, StoredLeaf
from cunzheng_verify import merkle
from cunzheng_verify.loanindex import INDEX_LINE, Entry, IndexProof, loan_key, prove, root_of
from cunzheng_verify.notes import Checkpoint, Signer, sign_checkpoint
from cunzheng_verify.records import build_record, format_utc
from dispute.package import (
    BuiltPackage,
    CaseContents,
    CaseFileInput,
    LogIdentity,
    PackageRequest,
    build_package,
)
from tests.conftest import make_event

ORIGIN = "log.example/history"
TENANT = "cqbank"
LOAN = "L-H-1"
CONTRACT = "0x" + "ab" * 20
START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Exhibit:
    no: str
    leaf_index: int | None
    title: str = "证据"
    source: str = "core-banking"
    purpose: str = "履约"


@dataclass
class FakeLog:
    """A log of records, checkpoints with the loan index root, and anchors of some sizes."""

    signer: Signer = field(default_factory=lambda: Signer(
        ORIGIN, Ed25519PrivateKey.from_private_bytes(b"\x11" * 32)))
    leaves: list[StoredLeaf] = field(default_factory=list)
    notes: dict[int, str] = field(default_factory=dict)
    anchors: dict[int, AnchorRow] = field(default_factory=dict)
    index: bool = True  # sign the loan index root into checkpoints

    # --- writing --------------------------------------------------------------------------

    def append(self, loan: str = LOAN, type_: str = "repayment_received", *, v1: bool = False,
               tenant: str = TENANT, posted: dict[str, Any] | None = None) -> int:
        """Append a record of `loan` (an example event of `type_`, or `posted` as given)."""
        index = len(self.leaves)
        mine = [leaf for leaf in self.leaves if (leaf.tenant, leaf.loan_id) == (tenant, loan)]
        when = START + timedelta(minutes=index)
        posted = posted if posted is not None else make_event(f"e-{index}", loan, type_)
        salt = hashlib.sha256(f"salt-{index}".encode()).digest()
        rec = build_record(posted, tenant=tenant, received_at=when, salt=salt) if v1 else \
            build_record(posted, tenant=tenant, received_at=when, salt=salt,
                         loan_seq=len(mine) + 1, loan_prev=mine[-1].leaf_hash if mine else None)
        self.leaves.append(StoredLeaf(index, rec.leaf_hash, tenant, rec.event_id, loan, rec.type,
                                      rec.received_at, rec.data, None, len(mine) + 1))
        return index

    def erase(self, index: int) -> None:
        old = self.leaves[index]
        self.leaves[index] = StoredLeaf(old.leaf_index, old.leaf_hash, old.tenant, old.event_id,
                                        old.loan_id, old.event_type, old.received_at, None,
                                        None, old.loan_seq)

    def entries(self, size: int) -> list[Entry]:
        heads: dict[tuple[str, str], tuple[int, int, bytes]] = {}
        for leaf in self.leaves[:size]:
            count = heads.get((leaf.tenant, leaf.loan_id), (0, 0, b""))[0]
            heads[(leaf.tenant, leaf.loan_id)] = (count + 1, leaf.leaf_index, leaf.leaf_hash)
        return [Entry(loan_key(t, loan), c, i, h) for (t, loan), (c, i, h) in heads.items()]

    def sign(self) -> int:
        size = len(self.leaves)
        root = merkle.root([leaf.leaf_hash for leaf in self.leaves])
        ext = ((f"{INDEX_LINE} " + base64.b64encode(root_of(self.entries(size))).decode(),)
               if self.index else ())
        self.notes[size] = sign_checkpoint(Checkpoint(ORIGIN, size, root, ext), self.signer)
        return size

    def anchor(self, size: int | None = None, at: datetime | None = None) -> int:
        size = size if size is not None else self.sign()
        cp = self.checkpoint(size)
        n = len(self.anchors) + 1
        when = at or datetime(2026, 8, 2, tzinfo=UTC) + timedelta(hours=n)
        self.anchors[size] = AnchorRow(
            size, cp.root, max(self.anchors, default=0), 31337, CONTRACT, "0x" + f"{n:064x}",
            "final", 100 + n, "0x" + f"{n + 1000:064x}", format_utc(when), 3, 1,
            format_utc(when), format_utc(when))
        return size

    # --- LogReader ------------------------------------------------------------------------

    def loan_events(self, tenant: str, loan_id: str) -> list[StoredLeaf]:
        return [leaf for leaf in self.leaves if (leaf.tenant, leaf.loan_id) == (tenant, loan_id)]

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        return merkle.inclusion_proof(index, [leaf.leaf_hash for leaf in self.leaves[:size]])

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        return merkle.consistency_proof(size1, [leaf.leaf_hash for leaf in self.leaves[:size2]])

    def checkpoint(self, size: int) -> StoredCheckpoint:
        if size not in self.notes:
            raise NotFound(f"no checkpoint of size {size}")
        root = merkle.root([leaf.leaf_hash for leaf in self.leaves[:size]])
        return StoredCheckpoint(size, root, self.notes[size], "2026-08-01T00:00:00Z")

    def document(self, sha256: str, tenant: str | None = None) -> tuple[str, bytes | None]:
        raise NotFound(sha256)

    def has_documents(self, hashes: Sequence[str]) -> Collection[str]:
        return set()

    def loan_index_root(self, tree_size: int) -> bytes | None:
        return root_of(self.entries(tree_size)) if self.index else None

    def loan_index_proof(self, tenant: str, loan_id: str, tree_size: int) -> IndexProof:
        return prove(self.entries(tree_size), loan_key(tenant, loan_id))

    def loan_chain(self, tenant: str, loan_id: str, tree_size: int) -> list[StoredLeaf]:
        return [leaf for leaf in self.loan_events(tenant, loan_id) if leaf.leaf_index < tree_size]

    # --- AnchorReader ---------------------------------------------------------------------

    def covering(self, size: int) -> AnchorRow | None:
        sizes = [s for s in self.anchors if s >= size]
        return self.anchors[min(sizes)] if sizes else None

    def latest(self) -> AnchorRow | None:
        return self.anchors[max(self.anchors)] if self.anchors else None

    def recent(self, limit: int = 50) -> list[AnchorRow]:
        return [self.anchors[s] for s in sorted(self.anchors, reverse=True)][:limit]

    def cosigners(self, size: int) -> list[Cosignature]:
        return []


PACKAGE_SIGNER = Signer("bank.example/evidence-package",
                        Ed25519PrivateKey.from_private_bytes(b"\x22" * 32))


def fake_pdf(case: CaseFileInput) -> bytes:
    return b"%PDF-1.7\n% a stand-in case file\n"


def build_fake(log: FakeLog, exhibits: Sequence[int], *, reader: Any = None,
               as_of: str = "2026-08-01") -> BuiltPackage:
    """The real builder on the fake log: `exhibits` are leaf indices of the loan's records."""
    request = PackageRequest(TENANT, LOAN, "court", date.fromisoformat(as_of),
                             datetime(2026, 8, 3, tzinfo=UTC))
    contents = CaseContents(tuple(Exhibit(f"1-{n}", i) for n, i in enumerate(exhibits, 1)),
                            {"venue": "court"})
    return build_package(request, log=reader or log, anchors=log,
                         identity=LogIdentity(ORIGIN, log.signer.name, log.signer.public_key),
                         signer=PACKAGE_SIGNER, contents=contents, render=fake_pdf)


def story(log: FakeLog, *, v1_first: int = 0, noise: bool = True) -> list[int]:
    """The loan's six records (the first `v1_first` of them v1) among other loans' records,
    anchored in two rounds; returns the loan's leaf indices."""
    mine = []
    for n in range(6):
        if noise:
            log.append("L-OTHER-" + str(n % 2), "credit_decision", v1=n < v1_first)
        mine.append(log.append(LOAN, "credit_decision" if n == 0 else "repayment_received",
                               v1=n < v1_first))
        if n == 2:
            log.anchor()
    log.anchor()
    return mine
