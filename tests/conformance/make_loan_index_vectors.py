"""Writes `loan_index_vectors.json`, the loan index's golden vectors (verifier/LOAN_INDEX.md).

    .venv/bin/python tests/conformance/make_loan_index_vectors.py

Every input is fixed here (no randomness, no clock), so the file is the same bytes on
every run; `test_loan_index_vectors.py` checks that, and checks the module and an
independent reimplementation against the file. The maps hold 0, 1, 2, 3, 5 and 64 loans of
three tenants, with Chinese loan ids among them (the key is over UTF-8). The 3-entry map
holds two keys that agree on their first 16 bits, so its proofs run through empty
siblings. Leaf hashes are synthetic: SHA-256 of `vector leaf <tenant>/<loan id>/<seq>`.

Per map: the entries (tenant, loan id, key, count, last leaf index, last leaf hash, and the
entry's leaf hash), the root in hex and base64, the checkpoint line; `proofs`, each the
JSON a log serves with the answer it must verify to; `refused`, proofs every verifier must
refuse, saying whether the JSON reader (`parse`) or the verification (`verify`) refuses
them, and against which root when it is not the map's.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from pathlib import Path
from typing import Any

from cunzheng_verify.loanindex import (
    EMPTY,
    INDEX_LINE,
    PROOF_SCHEMA,
    Entry,
    key_bit,
    loan_key,
    node_hash,
    prove,
    root_of,
)
from cunzheng_verify.notes import Checkpoint

OUT = Path(__file__).with_name("loan_index_vectors.json")
TENANTS = ("bank-a", "chengdu-ccb", "rural-07")
CHINESE = ("个贷-2026-0001", "经营贷/成都/000123", "消费贷·分期-甲", "房贷（二手）-9")
Loan = tuple[str, str]


def _loans(n: int, salt: str) -> list[Loan]:
    """`n` loans over the tenants, every fourth with a Chinese id."""
    out: list[Loan] = []
    for i in range(n):
        tenant = TENANTS[i % len(TENANTS)]
        if i % 4 == 1:
            loan = f"{CHINESE[(i // 4) % len(CHINESE)]}-{salt}{i}"
        else:
            loan = f"L-{salt}{i:04d}"
        out.append((tenant, loan))
    return out


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def _log(loans: list[Loan]) -> tuple[int, list[Entry]]:
    """A log in which loan i has 1 + (i mod 4) records, interleaved in a fixed order: its
    size and the index entries it gives."""
    events = [(loan, seq) for i, loan in enumerate(loans) for seq in range(1, 2 + i % 4)]
    events.sort(key=lambda ev: _digest(f"order {ev[0][0]}/{ev[0][1]}/{ev[1]}"))
    events.sort(key=lambda ev: ev[1])  # a loan's records in seq order, loans interleaved
    last: dict[Loan, tuple[int, int, bytes]] = {}
    for index, (loan, seq) in enumerate(events):
        last[loan] = (seq, index, _digest(f"vector leaf {loan[0]}/{loan[1]}/{seq}"))
    entries = [Entry(loan_key(*loan), *last[loan]) for loan in loans]
    return len(events), entries


def _shared_prefix_loans() -> list[Loan]:
    """Three loans: two whose keys agree on their first 16 bits (found by counting up), and
    one more."""
    first = ("bank-a", "贷款-甲-0")
    want = loan_key(*first)[:2]
    n = next(i for i in range(1, 1 << 22) if loan_key("bank-a", f"贷款-乙-{i}")[:2] == want)
    return [first, ("bank-a", f"贷款-乙-{n}"), ("rural-07", "L-3")]


def _entry_json(loan: Loan, e: Entry) -> dict[str, Any]:
    return {"tenant": loan[0], "loan_id": loan[1], **e.as_json(), "leaf_hash": e.hash.hex()}


def _absent_loans(entries: list[Entry], tenant: str) -> list[Loan]:
    """The first absent loan whose path ends empty and the first whose path ends at another
    loan (whichever of the two the map has)."""
    found: dict[bool, Loan] = {}
    for i in range(512):
        loan = (tenant, f"absent-{i}" if i % 2 else f"未放款-{i}")
        proof = prove(entries, loan_key(*loan))
        found.setdefault(proof.entry is None, loan)
        if len(found) == 2:
            break
    return [found[k] for k in sorted(found)]


def _refused(name: str, entries: list[Entry], loans: list[Loan],
             tree_size: int, other_root: bytes) -> list[dict[str, Any]]:
    """The corruptions of one member proof (or of a non-member proof in an empty map)."""
    out: list[dict[str, Any]] = []

    def add(what: str, fails_at: str, proof: dict[str, Any], root: bytes | None = None) -> None:
        case: dict[str, Any] = {"what": what, "fails_at": fails_at}
        if root is not None:
            case["root"] = root.hex()
        out.append({**case, "proof": proof})

    if not entries:
        loan = ("bank-a", "L-0001")
        good = prove(entries, loan_key(*loan)).as_json(tree_size, *loan)
        fake = Entry(loan_key(*loan), 1, 0, _digest("fake"))
        add("an entry claimed in an empty map", "verify",
            {**good, "entry": fake.as_json()})
        add("a sibling added", "verify", {**good, "siblings": [EMPTY.hex()]})
        return out
    # the member whose proof is longest, so every kind of change applies to it
    i = max(range(len(loans)), key=lambda j: (len(prove(entries, entries[j].key).siblings), -j))
    loan, e = loans[i], entries[i]
    good = prove(entries, e.key).as_json(tree_size, *loan)

    def changed(path: str, value: Any) -> dict[str, Any]:
        proof = copy.deepcopy(good)
        node = proof
        *parents, last = path.split(".")
        for p in parents:
            node = node[p]
        node[last] = value
        return proof

    flipped = (e.last_hash[:-1] + bytes([e.last_hash[-1] ^ 1])).hex()
    add("count + 1", "verify", changed("entry.count", e.count + 1))
    add("last_leaf_index + 1", "verify", changed("entry.last_leaf_index", e.last_index + 1))
    add("last_leaf_hash changed", "verify", changed("entry.last_leaf_hash", flipped))
    add("the member's entry removed (claims its path ends empty)", "verify",
        changed("entry", None))
    add("a proof of this map against another map's root", "verify", good, other_root)
    if good["siblings"]:
        s0 = good["siblings"][0]
        add("the first sibling changed", "verify",
            changed("siblings", [s0[:-1] + ("0" if s0[-1] != "0" else "1")]
                    + good["siblings"][1:]))
        add("the last sibling removed", "verify", changed("siblings", good["siblings"][:-1]))
    add("an empty sibling added", "verify",
        changed("siblings", good["siblings"] + [EMPTY.hex()]))
    if len(set(good["siblings"])) > 1:
        add("the siblings in reverse order", "verify",
            changed("siblings", good["siblings"][::-1]))
    if name != "size-2":
        return out
    # JSON that no verifier may read, whatever the hashes say (once, on this map)
    other = loans[(i + 1) % len(loans)]
    if other != loan:
        add("relabelled as another loan (tenant and loan_id changed, key kept)", "parse",
            changed("loan_id", other[1]) | {"tenant": other[0]})
    if good["key"].upper() != good["key"]:
        add("the key in uppercase hex", "parse", changed("key", good["key"].upper()))
    add("the key with two spaces for its last byte", "parse",
        changed("key", good["key"][:62] + "  "))
    add("the count as a boolean", "parse", changed("entry.count", True))
    add("the count as a string", "parse", changed("entry.count", str(e.count)))
    add("257 siblings", "parse", changed("siblings", [EMPTY.hex()] * 257))
    add("no entry member", "parse", {k: v for k, v in good.items() if k != "entry"})
    add("another schema", "parse", changed("schema", PROOF_SCHEMA.replace("v1", "v2")))
    # a root no honest log signs: the map {e} with e placed under the wrong first bit; the
    # hashes of a proof for an absent key on that side lead to it, the prefix check refuses
    side = 1 - key_bit(e.key, 0)
    j = next(j for j in range(512) if key_bit(loan_key("bank-a", f"M-{j}"), 0) == side)
    asked = ("bank-a", f"M-{j}")
    bad_root = node_hash(e.hash, EMPTY) if side == 0 else node_hash(EMPTY, e.hash)
    forged = {**prove([], loan_key(*asked)).as_json(tree_size, *asked),
              "siblings": [EMPTY.hex()], "entry": e.as_json()}
    add("an entry placed off the asked key's path, under a root built that way", "verify",
        forged, bad_root)
    return out


def _map(name: str, loans: list[Loan], other_root: bytes) -> dict[str, Any]:
    tree_size, entries = _log(loans)
    root = root_of(entries)
    proofs: list[dict[str, Any]] = []
    members = list(range(len(loans))) if len(loans) <= 5 else list(range(0, len(loans), 9))
    for i in members:
        proofs.append({"want": "member", "entry": entries[i].as_json(),
                       "proof": prove(entries, entries[i].key).as_json(tree_size, *loans[i])})
    for loan in _absent_loans(entries, TENANTS[len(loans) % len(TENANTS)]):
        proof = prove(entries, loan_key(*loan))
        proofs.append({"want": "non-member",
                       "path_ends": "empty" if proof.entry is None else "at another loan",
                       "proof": proof.as_json(tree_size, *loan)})
    b64 = base64.b64encode(root).decode()
    return {
        "name": name,
        "tree_size": tree_size,
        "entries": [_entry_json(loan, e) for loan, e in zip(loans, entries, strict=True)],
        "root": root.hex(),
        "root_base64": b64,
        "checkpoint_line": f"{INDEX_LINE} {b64}",
        "proofs": proofs,
        "refused": _refused(name, entries, loans, tree_size, other_root),
    }


def build() -> dict[str, Any]:
    shapes = [("size-0", []), ("size-1", [("bank-a", "个贷-2026-0001")]),
              ("size-2", _loans(2, "b")), ("size-3-shared-prefix", _shared_prefix_loans()),
              ("size-5", _loans(5, "c")), ("size-64", _loans(64, "d"))]
    maps: list[dict[str, Any]] = []
    for name, loans in shapes:
        # "another map's root": the previous map's, or a one-entry map's for the first
        other = bytes.fromhex(maps[-1]["root"]) if maps else _log([("bank-a", "L-x")])[1][0].hash
        maps.append(_map(name, loans, other))
    return {
        "description": "Golden vectors of the Cunzheng loan index (a sparse Merkle tree with "
                       "single-entry subtrees collapsed), normative in verifier/LOAN_INDEX.md. "
                       "Hashes are lowercase hex unless named base64. Generated by "
                       "tests/conformance/make_loan_index_vectors.py; do not edit by hand.",
        "proof_schema": PROOF_SCHEMA,
        "empty_root": EMPTY.hex(),
        "maps": maps,
        "checkpoint_example": _checkpoint_example(maps[-1]),
    }


def _checkpoint_example(m: dict[str, Any]) -> dict[str, Any]:
    """The signed body of a checkpoint committing to the last map (the log's own root is
    synthetic: the vectors pin the index, not the log)."""
    log_root = _digest(f"vector log root {m['tree_size']}")
    body = Checkpoint("vectors.cunzheng.example/log", m["tree_size"], log_root,
                      (m["checkpoint_line"],)).body()
    return {"map": m["name"], "body": body.decode(), "loan_index_root": m["root"]}


def render() -> str:
    return json.dumps(build(), ensure_ascii=False, indent=1) + "\n"


def main() -> None:
    OUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
