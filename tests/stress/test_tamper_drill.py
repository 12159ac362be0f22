"""Tamper drill: on a real log (SQLite file and PostgreSQL server; 36 events over 12 loans,
four signed checkpoints, the first two with anchor facts), change the database the way an
insider with SQL access could, one kind of change at a time, and check that

- `cunzheng fsck --json` (the real command, in a subprocess) exits 1 and its first finding
  names the change: its kind and the leaf index, node or checkpoint size;
- the verification API (/v1/verify/*) no longer vouches for the affected evidence (an
  `unknown` or `mismatch` answer, or a proof or checkpoint note that does not verify against
  the log's key), while every other leaf still gets a valid proof to a signed checkpoint.

The database is restored between the kinds (and fsck must then be clean again), so one log
per backend serves every kind.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, delete, insert, select, update

from anchoring.anchor_store import AnchorRow
from anchoring.crypto import SEALED_V2
from anchoring.errors import AnchoringError
from anchoring.fsck import fsck
from anchoring.tables import checkpoints, leaves, nodes
from cunzheng_verify import merkle
from cunzheng_verify.notes import Checkpoint, sign_checkpoint, verify_checkpoint
from service.settings import Settings
from tests.conftest import make_event
from tests.integration.api_client import Api, running_api

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "service.cli"]
LOANS = 12
SIZE = 36
CHECKPOINTS = (12, 24, 32, 36)
ANCHORED = (12, 24)
TABLES = (leaves, nodes, checkpoints)


# --- the log -------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def drill(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    url = (f"sqlite:///{tmp_path / 'drill.db'}" if request.param == "sqlite"
           else str(request.getfixturevalue("postgres_url")))
    settings = Settings(data_dir=tmp_path / "data", database_url=url, checkpoint_interval=0.05,
                        anchor_enabled=False)
    with running_api(settings) as api:
        loans = [f"L-{n:02d}" for n in range(LOANS)]
        rounds = [[make_event(f"cd-{n}", loan) for n, loan in enumerate(loans)],
                  [make_event(f"cs-{n}", loan, "contract_signed") for n, loan in enumerate(loans)],
                  [make_event(f"db-{n}", loan, "disbursement") for n, loan in enumerate(loans[:8])],
                  [make_event(f"db-{n + 8}", loan, "disbursement")
                   for n, loan in enumerate(loans[8:])]]
        for events, size in zip(rounds, CHECKPOINTS, strict=True):
            r = api.post_events(events)
            assert r.status_code == 201, r.text
            api.wait_checkpoint(size)
        # the checkpoint publisher signs when the log grows: wait for exactly these four
        assert [c.tree_size for c in api.ctx.store.iter_checkpoints()] == list(CHECKPOINTS)
        for size in ANCHORED:  # anchor facts as the anchoring job records them
            cp = api.ctx.store.checkpoint(size)
            api.ctx.anchors.add(AnchorRow(
                tree_size=size, root=cp.root, previous_size=0 if size == 12 else 12,
                chain_id=31337, contract="0x5FbDB2315678afecb367f032d93F642f64180aa3",
                tx_hash="0x" + f"{size:02x}" * 32, status="final", block_number=size,
                block_hash="0x" + f"{size + 1:02x}" * 32, block_time="2026-03-02T01:31:00Z",
                confirmations=5, attempts=1, submitted_at="2026-03-02T01:30:59Z",
                updated_at="2026-03-02T01:31:30Z"))
        yield api


def _snapshot(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    with engine.connect() as conn:
        return {t.name: [dict(r._mapping) for r in conn.execute(select(t))] for t in TABLES}


def _restore(engine: Engine, snap: dict[str, list[dict[str, Any]]]) -> None:
    with engine.begin() as conn:
        for t in TABLES:
            conn.execute(delete(t))
            conn.execute(insert(t), snap[t.name])


def _run_fsck(api: Api) -> tuple[int, dict[str, Any]]:
    s = api.ctx.settings
    env = {**os.environ, "CUNZHENG_DATA_DIR": str(s.data_dir),
           "CUNZHENG_DATABASE_URL": s.resolved_database_url}
    done = subprocess.run([*CLI, "fsck", "--json"], env=env, capture_output=True, text=True,
                          check=False,
                          cwd=REPO, timeout=120)
    assert done.returncode in (0, 1), done.stdout + done.stderr
    return done.returncode, json.loads(done.stdout)


def _fsck_in_process(api: Api) -> list[Any]:
    log = api.ctx.log
    return list(fsck(log.store, key_name=log.signer.name, public_key=log.signer.public_key,
                     origin=log.origin).findings)


# --- what a verifier checks ---------------------------------------------------------------


class NotVouched(AssertionError):
    """The API's answer does not prove the leaf (status, note or proof)."""


def _proves(api: Api, answer: dict[str, Any], leaf_hash: str) -> None:
    """What a third party does with an answer: the status says logged, the checkpoint note
    verifies under the log's key and agrees with the answer's root, and the audit path leads
    from `leaf_hash` at the answered index to that root. Raises `NotVouched` if not."""
    if answer["status"] not in ("anchored", "logged-not-yet-anchored"):
        raise NotVouched(f"status {answer['status']}: {answer['reason']}")
    log = api.ctx.log
    try:
        cp = verify_checkpoint(answer["checkpoint"]["note"], key_name=log.signer.name,
                               public_key=log.signer.public_key, origin=log.origin)
    except AnchoringError as exc:
        raise NotVouched(f"checkpoint note: {exc}") from None
    if (cp.root.hex() != answer["checkpoint"]["root"]
            or cp.tree_size != answer["checkpoint"]["tree_size"]):
        raise NotVouched("the answer's checkpoint root is not the one its note signs")
    if answer["anchor"] is not None and answer["anchor"]["root"] != cp.root.hex():
        raise NotVouched("the anchored root is not the checkpoint's")
    proof = answer["inclusion_proof"]
    try:
        merkle.verify_inclusion(proof["leaf_index"], proof["tree_size"], bytes.fromhex(leaf_hash),
                                [bytes.fromhex(h) for h in proof["audit_path"]], cp.root)
    except AnchoringError as exc:
        raise NotVouched(f"inclusion proof: {exc}") from None


def _answer(r: Any) -> dict[str, Any]:
    """A 200 answer; a problem (the server refusing to answer) vouches for nothing either,
    but must be a clear problem+json, never a bare 500 page."""
    if r.status_code != 200:
        assert r.headers["content-type"].startswith("application/problem+json"), r.text
        raise NotVouched(f"{r.status_code}: {r.json()['detail']}")
    return dict(r.json())


def _by_hash(api: Api, leaf_hash: str) -> dict[str, Any]:
    return _answer(api.request("GET", f"/v1/verify/record/{leaf_hash}", role="verifier"))


def _by_evidence(api: Api, index: int, leaf_hash: str) -> dict[str, Any]:
    return _answer(api.request(
        "GET", "/v1/verify/evidence", role="verifier",
        params={"evidence_id": f"{api.ctx.log.origin}#{index}", "leaf_hash": leaf_hash}))


def _vouched(api: Api, index: int, leaf_hash: str) -> bool:
    """Both the leaf-hash and the evidence-id questions give a proof that verifies."""
    try:
        for ask in (_by_hash, lambda a, h: _by_evidence(a, index, h)):
            answer = ask(api, leaf_hash)
            _proves(api, answer, leaf_hash)
            if answer["leaf_index"] != index:
                raise NotVouched(f"answered leaf {answer['leaf_index']}, not {index}")
    except NotVouched:
        return False
    return True


# --- the kinds of change ------------------------------------------------------------------


@dataclass(frozen=True)
class Tamper:
    name: str
    change: Callable[[Api, list[bytes]], None]
    first_kind: str
    names: Callable[[dict[str, Any]], bool]  # the first finding names the change
    affected: frozenset[int]  # leaves whose verification must fail
    also: Callable[[Api], str | None] = lambda api: None  # another check: what is wrong
    unsettled: frozenset[int] = frozenset()  # leaves with no verdict asserted (see KINDS)


def _set_leaf(api: Api, index: int, **values: Any) -> None:
    with api.ctx.engine.begin() as conn:
        assert conn.execute(update(leaves).where(leaves.c.leaf_index == index)
                            .values(**values)).rowcount == 1


def _flip_sealed_byte(api: Api, hashes: list[bytes]) -> None:
    with api.ctx.engine.connect() as conn:
        blob = bytes(conn.execute(select(leaves.c.record).where(leaves.c.leaf_index == 5))
                     .scalar_one())
    assert blob.startswith(SEALED_V2)  # sealed at rest, bound to its columns
    i = len(blob) // 2
    _set_leaf(api, 5, record=blob[:i] + bytes([blob[i] ^ 0x01]) + blob[i + 1:])


def _delete_leaf(api: Api, hashes: list[bytes]) -> None:
    with api.ctx.engine.begin() as conn:
        assert conn.execute(delete(leaves).where(leaves.c.leaf_index == 13)).rowcount == 1


def _swap_leaves(api: Api, hashes: list[bytes]) -> None:
    """Rows 3 and 20 exchange everything but their index (content, hashes, ids)."""
    with api.ctx.engine.begin() as conn:
        rows = {r.leaf_index: dict(r._mapping) for r in conn.execute(
            select(leaves).where(leaves.c.leaf_index.in_([3, 20])))}
        conn.execute(delete(leaves).where(leaves.c.leaf_index.in_([3, 20])))
        conn.execute(insert(leaves), [{**rows[20], "leaf_index": 3}, {**rows[3], "leaf_index": 20}])


def _edit_node(api: Api, hashes: list[bytes]) -> None:
    with api.ctx.engine.begin() as conn:
        assert conn.execute(update(nodes).where(nodes.c.level == 2, nodes.c.idx == 1)
                            .values(hash=b"\x5a" * 32)).rowcount == 1


def _edit_checkpoint_root(api: Api, hashes: list[bytes]) -> None:
    with api.ctx.engine.begin() as conn:
        assert conn.execute(update(checkpoints).where(checkpoints.c.tree_size == 24)
                            .values(root=b"\x02" * 32)).rowcount == 1


def _edit_checkpoint_note(api: Api, hashes: list[bytes]) -> None:
    """The note's root line changes; its signature stays."""
    cp = api.ctx.store.checkpoint(24)
    lines = cp.note.split("\n")
    lines[2] = base64.b64encode(b"\x03" * 32).decode()
    with api.ctx.engine.begin() as conn:
        conn.execute(update(checkpoints).where(checkpoints.c.tree_size == 24)
                     .values(note="\n".join(lines)))


def _resign_checkpoint(api: Api, hashes: list[bytes]) -> None:
    """An insider with the log key re-signs checkpoint 24 over another root (root column
    and note both changed, consistently): only the leaves give it away."""
    forged = merkle.root(hashes[:23] + [b"\x04" * 32])
    note = sign_checkpoint(Checkpoint(api.ctx.log.origin, 24, forged), api.ctx.log.signer)
    with api.ctx.engine.begin() as conn:
        conn.execute(update(checkpoints).where(checkpoints.c.tree_size == 24)
                     .values(root=forged, note=note))


def _record_unreadable(api: Api) -> str | None:
    """The damaged record cannot be read back: a problem naming the leaf, not its content."""
    r = api.request("GET", "/v1/records/5", role="legal")
    if r.status_code == 200 or not r.headers["content-type"].startswith("application/problem+json"):
        return f"GET /v1/records/5 answered {r.status_code}: {r.text[:200]}"
    if "leaf 5" not in r.json()["detail"] or r.status_code != 500:
        return f"GET /v1/records/5: {r.status_code} {r.json()['detail']}"
    return None


def _leaf(n: int) -> Callable[[dict[str, Any]], bool]:
    return lambda f: f["leaf_index"] == n and f"leaf {n}" in f["detail"]


def _node(level: int, index: int) -> Callable[[dict[str, Any]], bool]:
    return lambda f: f"level {level} index {index}" in f["detail"]


def _cp(size: int) -> Callable[[dict[str, Any]], bool]:
    return lambda f: f["checkpoint_size"] == size and f"checkpoint {size}" in f["detail"]


KINDS = [
    # The leaf hash and the tree are intact, so the commitment still holds and verification
    # (from hashes alone) still answers for leaf 5; what is lost is the content: fsck names
    # it and reading the record gives a problem naming the leaf.
    Tamper("record-byte", _flip_sealed_byte, "record-sealed", _leaf(5), frozenset(),
           also=_record_unreadable),
    Tamper("delete-leaf", _delete_leaf, "gap", _leaf(13), frozenset({13})),
    Tamper("swap-leaves", _swap_leaves, "leaf-moved", _leaf(3), frozenset({3, 20})),
    # node (2, 1) is the sibling on the audit path of leaves 0-3 in every tree of size >= 8
    Tamper("node-hash", _edit_node, "node-hash", _node(2, 1), frozenset(range(4))),
    # leaves 12-23 are answered with checkpoint 24 (the earliest anchored one covering them)
    Tamper("checkpoint-root", _edit_checkpoint_root, "checkpoint-root", _cp(24),
           frozenset(range(12, 24))),
    Tamper("checkpoint-note", _edit_checkpoint_note, "checkpoint-signature", _cp(24),
           frozenset(range(12, 24))),
    Tamper("checkpoint-resigned", _resign_checkpoint, "checkpoint-root", _cp(24),
           frozenset(range(12, 24))),
]


def test_every_kind_of_change_is_named_by_fsck_and_fails_verification(drill: Api) -> None:
    api = drill
    hashes = [bytes.fromhex(h) for h in api.request(
        "GET", f"/v1/log/leaves?start=0&end={SIZE}", role="auditor").json()["leaf_hashes"]]
    code, clean = _run_fsck(api)
    assert code == 0 and clean["ok"] and clean["leaves_checked"] == SIZE, clean
    assert clean["checkpoints_checked"] == len(CHECKPOINTS)
    assert all(_vouched(api, i, h.hex()) for i, h in enumerate(hashes))
    snap = _snapshot(api.ctx.engine)
    failures: list[str] = []
    for kind in KINDS:
        kind.change(api, hashes)
        try:
            code, report = _run_fsck(api)
            first = report["first"]
            if code != 1 or report["ok"]:
                failures.append(f"{kind.name}: fsck exited {code}, ok={report['ok']}")
            elif first["kind"] != kind.first_kind or not kind.names(first):
                failures.append(f"{kind.name}: fsck's first finding is {first}")
            vouched = {i for i, h in enumerate(hashes) if _vouched(api, i, h.hex())}
            if vouched & kind.affected:
                failures.append(f"{kind.name}: still verifies: {sorted(vouched & kind.affected)}")
            untouched = set(range(SIZE)) - kind.affected - kind.unsettled
            if untouched - vouched:
                failures.append(f"{kind.name}: untouched leaves no longer verify: "
                                f"{sorted(untouched - vouched)}")
            if (wrong := kind.also(api)) is not None:
                failures.append(f"{kind.name}: {wrong}")
        finally:
            _restore(api.ctx.engine, snap)
        assert _fsck_in_process(api) == [], kind.name
    assert not failures, "\n".join(failures)
