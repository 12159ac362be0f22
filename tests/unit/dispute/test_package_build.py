"""The package builder on a real SQLite log anchored on an in-process EVM: the layout and
manifest of DESIGN.md, proofs to the earliest anchored checkpoint, deterministic bytes,
refusal of records not yet anchored; the package key and trusted-key parsing."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import zipfile
from io import BytesIO
from pathlib import Path

import pytest

from cunzheng_verify import merkle
from cunzheng_verify.notes import verifier_key, verify_signature
from cunzheng_verify.trust import load_trust_file, parse_trusted_key
from dispute.errors import NotYetAnchored, PackageError, PackageKeyError, TrustError
from dispute.package import BuiltPackage, document_extension
from dispute.packagekey import package_signer
from tests.unit.dispute import LOAN_ID, TENANT
from tests.unit.dispute.packaging import World, build, make_world, post_story


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return make_world(tmp_path_factory.mktemp("build"))


@pytest.fixture(scope="module")
def package(world: World) -> BuiltPackage:
    return build(world)


def test_layout_and_manifest_follow_the_design(world: World, package: BuiltPackage) -> None:
    m = package.manifest
    assert m["schema"] == "cunzheng.package/v2" and m["venue"] == "court"  # with its history
    assert m["log"] == {"origin": world.ctx.log.origin, "key_name": world.ctx.log.signer.name,
                        "public_key": base64.b64encode(world.ctx.log.signer.public_key).decode()}
    assert m["chain"] == {"chain_id": world.chain.chain_id, "contract": world.chain.contract}
    assert m["loan"]["loan_id"] == LOAN_ID and m["loan"]["tenant"] == TENANT
    names = set(package.files)
    assert set(m["files"]) == names - {"manifest.json", "manifest.sig"}
    for p in names:
        assert re.fullmatch(r"manifest\.(json|sig)|VERIFY\.md|case/(case-file\.pdf|claim\.json)|"
                            r"records/\d+\.json|proofs/\d+\.json|proofs/consistency/\d+-\d+\.json|"
                            r"checkpoints/\d+\.txt|documents/[0-9a-f]{64}\.pdf|"
                            r"history/\d+\.json|proofs/loan-index\.json", p), p
    with zipfile.ZipFile(BytesIO(package.data)) as zf:
        infos = zf.infolist()
    assert [i.filename for i in infos] == sorted(names)
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    sig = json.loads(package.files["manifest.sig"])
    verify_signature(base64.b64decode(sig["public_key"]), base64.b64decode(sig["signature"]),
                     package.files["manifest.json"], "manifest")
    assert sig["key_id"] == world.signer.key_id.hex()


def test_every_item_is_proved_to_the_earliest_anchored_checkpoint(world: World,
                                                                  package: BuiltPackage) -> None:
    m = package.manifest
    anchored = sorted(c["tree_size"] for c in m["checkpoints"])
    assert len(anchored) == 3  # the loan's records went into three anchors
    for item in m["items"]:
        assert item["checkpoint_size"] == min(s for s in anchored if s > item["leaf_index"])
        record = package.files[item["record"]]
        assert record == world.ctx.store.leaf(item["leaf_index"]).record  # stored bytes, as is
        proof = json.loads(package.files[item["proof"]])
        assert proof["tree_size"] == item["checkpoint_size"]
        merkle.verify_inclusion(item["leaf_index"], proof["tree_size"],
                                merkle.leaf_hash(record),
                                [bytes.fromhex(h) for h in proof["audit_path"]],
                                world.ctx.store.root(proof["tree_size"]))
    newest = anchored[-1]
    assert {p for p in package.files if p.startswith("proofs/consistency/")} == {
        f"proofs/consistency/{s}-{newest}.json" for s in anchored[:-1]}
    assert all(c["cosigners"] and c["anchor"]["block_time"] for c in m["checkpoints"])


def test_same_inputs_same_bytes(world: World, package: BuiltPackage) -> None:
    assert build(world).data == package.data


def test_verify_md_sums_match_for_sha256sum(package: BuiltPackage) -> None:
    text = package.files["VERIFY.md"].decode()
    sums = re.findall(r"^([0-9a-f]{64})  (\S+)$", text, re.MULTILINE)
    assert len(sums) == len(package.files) - 3
    for digest, path in sums:
        assert hashlib.sha256(package.files[path]).hexdigest() == digest
    assert "$" not in text.replace("$$", "")


def test_records_not_yet_anchored_are_refused_by_name(tmp_path: Path) -> None:
    world = make_world(tmp_path)
    post_story(world, range(9, 10))  # a restructuring, logged after the last anchor
    with pytest.raises(NotYetAnchored, match="logged-not-yet-anchored") as info:
        build(world)
    assert [ev for _, ev in info.value.pending] == ["story-9"]
    assert info.value.pending[0][0].endswith("#14")
    world.anchor_round()
    world.settle()
    assert any(i["leaf_index"] == 14 for i in build(world).manifest["items"])


def test_bad_requests_are_refused(world: World) -> None:
    with pytest.raises(PackageError, match="venue must be one of"):
        build(world, venue="mediation")
    from service.cases import build_dispute_package
    from tests.unit.dispute.packaging import AS_OF, simple_pdf

    with pytest.raises(PackageError, match="no records of loan"):
        build_dispute_package(world.ctx, tenant=TENANT, loan_id="L-none", venue="court",
                              as_of=AS_OF, signer=world.signer, render=simple_pdf)


def test_package_key_is_created_0600_and_refused_when_open(tmp_path: Path) -> None:
    signer = package_signer(tmp_path, "bank.example/log")
    path = tmp_path / "package-key.pem"
    assert path.stat().st_mode & 0o777 == 0o600
    assert signer.name == "bank.example/evidence-package"
    assert package_signer(tmp_path, "bank.example/log").public_key == signer.public_key
    path.chmod(0o644)
    with pytest.raises(PackageKeyError, match="chmod 600"):
        package_signer(tmp_path, "bank.example/log")


def test_trusted_keys_parse_from_base64_vkeys_and_files(tmp_path: Path, world: World) -> None:
    key = world.signer.public_key
    assert parse_trusted_key(base64.b64encode(key).decode()) == key
    assert parse_trusted_key(verifier_key(world.signer.name, key)) == key
    bad_id = verifier_key(world.signer.name, key).replace(world.signer.key_id.hex(), "00000000")
    with pytest.raises(TrustError, match="does not match"):
        parse_trusted_key(bad_id)
    with pytest.raises(TrustError):
        parse_trusted_key("not a key")
    trust = tmp_path / "trust.txt"
    trust.write_text(f"# the bank\n{verifier_key(world.signer.name, key)}\n\n")
    assert load_trust_file(trust) == [key]


def test_document_extensions() -> None:
    assert document_extension("借款合同.PDF", "application/pdf") == "pdf"
    assert document_extension("notice", "image/png") == "png"
    assert document_extension("x.tar/../../", "application/x-unknown") == "bin"
