"""Attacks on a package's loan history (package v2), as the bank itself could make them: it
holds the package key, so every attack re-signs the manifest, and only the log's signed
checkpoints and the records' own links can catch it. Each attack takes the package's files,
the package signer and the log (for proofs an insider can read) and returns the forged zip;
`HISTORY_ATTACKS` names the steps each must fail (when the record tampered with is no
exhibit, and some exhibit's record is newer than the package's oldest checkpoint). Used on
the in-memory log (`test_package_history.py`) and on the real one
(`test_package_attacks.py`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from cunzheng_verify import merkle
from cunzheng_verify.notes import Signer
from cunzheng_verify.records import canonical
from tests.unit.dispute.packaging import manifest, resign, rezip

Attack = Callable[[dict[str, bytes], Signer, Any], bytes]


def _json(value: Any) -> bytes:
    return (json.dumps(value, ensure_ascii=False, indent=2) + "\n").encode()


def _exhibit_leaves(m: dict[str, Any]) -> set[int]:
    return {i["leaf_index"] for i in m["items"]}


def _middle(m: dict[str, Any]) -> int:
    """The position (0-based) of a record neither first nor last, no exhibit if there is one
    (an exhibit's record tampered with fails `history.exhibits` too)."""
    records = m["history"]["records"]
    inner = range(1, len(records) - 1)
    return next((n for n in inner if records[n]["leaf_index"] not in _exhibit_leaves(m)),
                inner[len(inner) // 2])


def record_removed(files: dict[str, bytes], signer: Signer, log: Any) -> bytes:
    """A repayment left out, the rest renumbered and the count lowered to match."""
    m = manifest(files)
    h = m["history"]
    gone = h["records"].pop(_middle(m))
    del files[gone["path"]]
    for seq, r in enumerate(h["records"], start=1):
        r["loan_seq"] = seq
    h["count"] -= 1
    return rezip(resign(files, m, signer))


def records_reordered(files: dict[str, bytes], signer: Signer, log: Any) -> bytes:
    """Two records swap places (their seq numbers stay in order)."""
    m = manifest(files)
    records = m["history"]["records"]
    n = _middle(m)
    a, b = records[n], records[n + 1]
    keys = ("leaf_index", "leaf_hash", "path", "erased_by")
    swapped = {k: a[k] for k in keys}
    a.update({k: b[k] for k in keys})
    b.update(swapped)
    return rezip(resign(files, m, signer))


def loan_prev_broken(files: dict[str, bytes], signer: Signer, log: Any) -> bytes:
    """A record rewritten to link past its predecessor (its own hash and file follow)."""
    m = manifest(files)
    records = m["history"]["records"]
    n = _middle(m)
    r = records[n]
    content = json.loads(files[r["path"]])
    content["loan_prev"] = records[n - 2]["leaf_hash"] if n >= 2 else "00" * 32
    data = canonical(content)
    del files[r["path"]]
    r["leaf_hash"] = merkle.leaf_hash(data).hex()
    files[r["path"]] = data
    return rezip(resign(files, m, signer))


def count_changed(files: dict[str, bytes], signer: Signer, log: Any) -> bytes:
    m = manifest(files)
    m["history"]["count"] += 1
    return rezip(resign(files, m, signer))


def proof_for_another_loan(files: dict[str, bytes], signer: Signer, log: Any) -> bytes:
    m = manifest(files)
    h, loan = m["history"], m["loan"]
    tenant, other = next((leaf.tenant, leaf.loan_id)
                         for leaf in _leaves(log, h["checkpoint_size"])
                         if (leaf.tenant, leaf.loan_id) != (loan["tenant"], loan["loan_id"]))
    proof = log.loan_index_proof(tenant, other, h["checkpoint_size"])
    files["proofs/loan-index.json"] = _json(proof.as_json(h["checkpoint_size"], tenant, other))
    return rezip(resign(files, m, signer))


def older_index_proof(files: dict[str, bytes], signer: Signer, log: Any) -> bytes:
    """The history as it stood at the package's older checkpoint, passed off as the loan's:
    records after it dropped, count and head from the index there, its proof."""
    m = manifest(files)
    h, loan = m["history"], m["loan"]
    older = m["checkpoints"][0]["tree_size"]
    proof = log.loan_index_proof(loan["tenant"], loan["loan_id"], older)
    entry = proof.entry
    for r in h["records"][entry.count:]:
        files.pop(r["path"], None)
    h["records"] = h["records"][:entry.count]
    h.update(checkpoint_size=older, count=entry.count, last_leaf_index=entry.last_index,
             last_leaf_hash=entry.last_hash.hex())
    files["proofs/loan-index.json"] = _json(proof.as_json(older, loan["tenant"],
                                                          loan["loan_id"]))
    return rezip(resign(files, m, signer))


def as_of_after_the_checkpoint(files: dict[str, bytes], signer: Signer, log: Any) -> bytes:
    """The package claims to speak as of a date after its history's checkpoint was anchored."""
    m = manifest(files)
    m["loan"]["as_of"] = "2099-01-01"
    return rezip(resign(files, m, signer))


def _leaves(log: Any, size: int) -> list[Any]:
    if hasattr(log, "leaves"):  # the in-memory log
        return list(log.leaves[:size])
    return list(log.iter_leaves(0))[:size]


HISTORY_ATTACKS: list[tuple[Attack, set[str]]] = [
    (record_removed, {"history.record", "history.chain", "history.index"}),
    (records_reordered, {"history.record", "history.chain"}),
    (loan_prev_broken, {"history.chain"}),
    (count_changed, {"history.chain", "history.index"}),
    (proof_for_another_loan, {"history.index"}),
    (older_index_proof, {"history.index", "history.exhibits"}),
    (as_of_after_the_checkpoint, {"history.freshness"}),
]
