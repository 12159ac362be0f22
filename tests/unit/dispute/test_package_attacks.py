"""Regression fixtures: each past or obvious attack on an evidence package, and the step
that must catch it. The package is real (a SQLite log, anchors on an in-process EVM);
every attack must fail exactly the expected steps while every other step is still
reported, never stopping at the first failure."""

from __future__ import annotations

import base64
import hashlib
import json
import zipfile
from collections.abc import Callable
from io import BytesIO
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from anchoring.registry import load_artifact
from cunzheng_verify import Status, VerificationReport, Web3ChainView, verify_package
from cunzheng_verify.notes import Signer, parse_checkpoint, sign_checkpoint
from dispute.package import BuiltPackage
from tests.unit.dispute.history_attacks import (
    HISTORY_ATTACKS,
    Attack,
    loan_prev_broken,
    record_removed,
)
from tests.unit.dispute.packaging import World, build, make_world, manifest, resign, rezip

ATTACKER = Signer("bank.example/evidence-package",
                  Ed25519PrivateKey.from_private_bytes(b"\x07" * 32))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return make_world(tmp_path_factory.mktemp("attacks"))


@pytest.fixture(scope="module")
def package(world: World) -> BuiltPackage:
    return build(world)


def _verify(world: World, data: bytes, chain: bool = False) -> VerificationReport:
    return verify_package(
        data, trusted_keys=[world.signer.public_key],
        chain=Web3ChainView(world.w3) if chain else None,
        expected_code=load_artifact().deployed_bytecode if chain else None)


def _first_item(files: dict[str, bytes], with_document: bool = False) -> dict[str, Any]:
    items = manifest(files)["items"]
    return next(i for i in items if i["documents"]) if with_document else items[-1]


# --- the attacks ----------------------------------------------------------------------------


def record_byte_changed(world: World, files: dict[str, bytes]) -> bytes:
    path = _first_item(files)["record"]
    data = files[path]
    i = data.index(b'"salt":"') + 8  # a hex digit: the record stays canonical JSON
    files[path] = data[:i] + (b"0" if data[i:i + 1] != b"0" else b"1") + data[i + 1:]
    return rezip(files)


def document_swapped(world: World, files: dict[str, bytes]) -> bytes:
    doc = _first_item(files, with_document=True)["documents"][0]["path"]
    files[doc] = b"a different contract, same name"
    return rezip(files)


def extra_file_added(world: World, files: dict[str, bytes]) -> bytes:
    files["records/999.json"] = b"{}"
    return rezip(files)


def file_removed(world: World, files: dict[str, bytes]) -> bytes:
    del files[_first_item(files)["proof"]]
    return rezip(files)


def zip_slip_entry(world: World, files: dict[str, bytes]) -> bytes:
    buf = BytesIO(rezip(files))
    with zipfile.ZipFile(buf, "a") as zf:
        zf.writestr("../x", b"written outside the extraction directory")
    return buf.getvalue()


def proof_hash_flipped(world: World, files: dict[str, bytes]) -> bytes:
    path = _first_item(files)["proof"]
    proof = json.loads(files[path])
    h = bytearray.fromhex(proof["audit_path"][0])
    h[0] ^= 0x01
    proof["audit_path"][0] = h.hex()
    files[path] = json.dumps(proof, indent=2).encode()
    return rezip(files)


def checkpoint_resigned_by_another_key(world: World, files: dict[str, bytes]) -> bytes:
    m = manifest(files)
    note_path = m["checkpoints"][0]["note"]
    checkpoint, _ = parse_checkpoint(files[note_path].decode())
    other = Signer(m["log"]["key_name"], Ed25519PrivateKey.from_private_bytes(b"\x09" * 32))
    files[note_path] = sign_checkpoint(checkpoint, other).encode()
    return rezip(files)


def manifest_edited_after_signing(world: World, files: dict[str, bytes]) -> bytes:
    text = files["manifest.json"].decode()
    item = _first_item(files)
    files["manifest.json"] = text.replace(item["title"], item["title"] + "（已补充）", 1).encode()
    return rezip(files)


def consistency_proof_for_another_size(world: World, files: dict[str, bytes]) -> bytes:
    m = manifest(files)
    sizes = [c["tree_size"] for c in m["checkpoints"]]
    first, newest = sizes[0], sizes[-1]
    path = f"proofs/consistency/{first}-{newest}.json"
    other = world.ctx.store.consistency_proof(first + 1, newest)
    files[path] = json.dumps({"size1": first + 1, "size2": newest,
                              "proof": [h.hex() for h in other]}, indent=2).encode()
    return rezip(files)


def tx_hash_of_another_anchor(world: World, files: dict[str, bytes]) -> bytes:
    # The signer itself lies: a correctly signed manifest naming another anchor's transaction.
    m = manifest(files)
    m["checkpoints"][0]["anchor"]["tx_hash"] = m["checkpoints"][1]["anchor"]["tx_hash"]
    return rezip(resign(files, m, world.signer, rehash=False))


ATTACKS: list[tuple[Callable[[World, dict[str, bytes]], bytes], set[str], bool]] = [
    (record_byte_changed, {"file.hash", "record.leaf_hash"}, False),
    (document_swapped, {"file.hash", "record.document"}, False),
    (extra_file_added, {"file.unlisted"}, False),
    (file_removed, {"file.hash", "proof.inclusion"}, False),
    (zip_slip_entry, {"file.name"}, False),
    (proof_hash_flipped, {"file.hash", "proof.inclusion"}, False),
    (checkpoint_resigned_by_another_key, {"file.hash", "checkpoint.signature"}, False),
    (manifest_edited_after_signing, {"manifest.signature"}, False),
    (consistency_proof_for_another_size, {"file.hash", "checkpoint.consistency"}, False),
    (tx_hash_of_another_anchor, {"chain.anchor"}, True),
]


def test_the_untouched_package_verifies_offline_and_on_chain(world: World,
                                                            package: BuiltPackage) -> None:
    for chain in (False, True):
        report = _verify(world, package.data, chain=chain)
        assert report.result == "ok", [s for s in report.steps if s.status is not Status.OK
                                       and s.step != "chain"]
    names = {s.step for s in report.steps}
    assert {"manifest.signature", "file.hash", "record.leaf_hash", "record.canonical",
            "record.document", "proof.inclusion", "checkpoint.signature",
            "checkpoint.consistency", "chain.anchor", "chain.code", "chain.block",
            "chain.confirmations", "chain.cosigners"} <= names


@pytest.mark.parametrize(("attack", "expected", "on_chain"), ATTACKS,
                         ids=[a.__name__ for a, _, _ in ATTACKS])
def test_each_attack_fails_exactly_its_steps_and_the_rest_is_still_reported(
        world: World, package: BuiltPackage,
        attack: Callable[[World, dict[str, bytes]], bytes], expected: set[str],
        on_chain: bool) -> None:
    clean = _verify(world, package.data, chain=on_chain)
    report = _verify(world, attack(world, dict(package.files)), chain=on_chain)
    assert report.failed_steps() == expected, [(s.step, s.subject, s.reason)
                                               for s in report.failures]
    # never stops at the first failure: every kind of step still ran
    assert {s.step for s in clean.steps} - {s.step for s in report.steps} <= {"record.file"}
    assert not report.ok
    with pytest.raises(Exception, match="did not verify") as info:
        report.raise_for_failures()
    assert all(step in info.value.diagnostics() for step in expected)  # type: ignore[attr-defined]


def test_a_package_resigned_by_someone_else_is_valid_but_untrusted(
        world: World, package: BuiltPackage) -> None:
    files = dict(package.files)
    m = manifest(files)
    m["items"][0]["purpose"] = "something the bank never said"
    report = _verify(world, rezip(resign(files, m, ATTACKER)))
    sig = next(s for s in report.steps if s.step == "manifest.signature")
    assert sig.status is Status.WARNING and "NOT among" in sig.reason
    assert report.ok and report.result == "warning"
    untrusted = verify_package(package.data)  # no trusted keys at all
    assert untrusted.result == "warning" and "no trusted keys" in untrusted.steps[1].reason


def test_a_forged_log_key_is_caught_by_a_pinned_log_key(world: World,
                                                        package: BuiltPackage) -> None:
    files = dict(package.files)
    m = manifest(files)
    forger = Signer(m["log"]["key_name"], Ed25519PrivateKey.from_private_bytes(b"\x05" * 32))
    for c in m["checkpoints"]:
        checkpoint, _ = parse_checkpoint(files[c["note"]].decode())
        files[c["note"]] = sign_checkpoint(checkpoint, forger).encode()
    m["log"]["public_key"] = base64.b64encode(forger.public_key).decode()
    forged = rezip(resign(files, m, world.signer))
    assert verify_package(forged, trusted_keys=[world.signer.public_key]).result == "ok"
    pinned = verify_package(forged, trusted_keys=[world.signer.public_key],
                            log_public_key=world.ctx.log.signer.public_key)
    assert pinned.failed_steps() == {"log.key", "checkpoint.signature"}


def test_zip_bombs_and_garbage_are_refused_before_reading(world: World,
                                                          package: BuiltPackage) -> None:
    report = verify_package(b"PK\x03\x04 not really a zip")
    assert report.failed_steps() == {"zip.open"}
    buf = BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("documents/" + "0" * 64 + ".bin", b"\0" * (65 * 1024 * 1024))
    report = verify_package(buf.getvalue())
    assert "file.name" in report.failed_steps()
    assert any("limit" in s.reason for s in report.failures)
    # a declared size that lies: the central directory says 10 bytes, the data is larger
    files = dict(package.files)
    data = bytearray(rezip(files))
    name = b"VERIFY.md"
    cd = data.rfind(b"PK\x01\x02", 0, data.rfind(name))
    real = int.from_bytes(data[cd + 24:cd + 28], "little")
    data[cd + 24:cd + 28] = (10).to_bytes(4, "little")
    report = verify_package(bytes(data), trusted_keys=[world.signer.public_key])
    assert "file.name" in report.failed_steps() and real > 10
    assert any(s.subject == "VERIFY.md" and s.status is Status.FAILED for s in report.steps)


def test_the_package_signature_covers_the_exact_manifest_bytes(package: BuiltPackage) -> None:
    sig = json.loads(package.files["manifest.sig"])
    assert set(sig) == {"key_name", "public_key", "key_id", "signature"}
    files = dict(package.files)
    # same JSON, other bytes: the signature must not survive re-serialisation
    files["manifest.json"] = json.dumps(json.loads(files["manifest.json"])).encode()
    report = verify_package(rezip(files))
    assert "manifest.signature" in report.failed_steps()
    assert hashlib.sha256(package.files["manifest.json"]).digest() != hashlib.sha256(
        files["manifest.json"]).digest()


def test_report_json_shape(world: World, package: BuiltPackage) -> None:
    data = _verify(world, package.data).as_json()
    assert data["schema"] == "cunzheng.verification/v1" and data["result"] == "ok"
    assert data["package_id"] == package.package_id
    assert data["counts"]["failed"] == 0 and data["counts"]["skipped"] == 1  # no chain asked
    assert all(set(s) == {"step", "status", "reason", "item", "subject"} for s in data["steps"])



# --- the loan's history (package v2, issue 13) ---------------------------------------------

# every record of the example loan but its first (the credit decision) is an exhibit: the
# record these two tamper with is one, so history.exhibits fails beside their own step
_ON_AN_EXHIBIT = {record_removed, loan_prev_broken}


@pytest.mark.parametrize(("attack", "expected"), HISTORY_ATTACKS,
                         ids=[a.__name__ for a, _ in HISTORY_ATTACKS])
def test_each_history_attack_is_refused_at_its_step(
        world: World, package: BuiltPackage, attack: Attack, expected: set[str]) -> None:
    if attack in _ON_AN_EXHIBIT:
        expected = expected | {"history.exhibits"}
    clean = _verify(world, package.data)
    report = _verify(world, attack(dict(package.files), world.signer, world.ctx.store))
    assert report.failed_steps() == expected, [(s.step, s.subject, s.reason)
                                               for s in report.failures]
    assert {s.step for s in clean.steps} <= {s.step for s in report.steps}


def test_the_untouched_package_passes_every_history_step(world: World,
                                                         package: BuiltPackage) -> None:
    m = package.manifest
    assert m["schema"] == "cunzheng.package/v2"
    assert m["history"]["count"] == 9 and len(m["history"]["records"]) == 9
    report = _verify(world, package.data, chain=True)
    steps = {s.step: s.status for s in report.steps if s.step.startswith("history")}
    assert set(steps) == {"history.entry", "history.record", "history.chain", "history.index",
                          "history.exhibits", "history.freshness"}
    assert set(steps.values()) == {Status.OK}
    # the history's checkpoint is the log's newest anchored one, checked on chain like any
    size = m["history"]["checkpoint_size"]
    assert size == max(c["tree_size"] for c in m["checkpoints"])
    assert any(s.step == "chain.anchor" and s.subject == f"checkpoint {size}"
               and s.status is Status.OK for s in report.steps)
