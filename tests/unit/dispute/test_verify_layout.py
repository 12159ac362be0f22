"""The verifier as a package (issue 12, item 3): one copy of the format's constants, the
manifest decoded into typed values, a raising entry point beside the reporting one, no
import loop with `dispute.errors`, and every module within the size the style sets."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import dispute.package
from cunzheng_verify import (
    PackageVerificationError,
    Status,
    verify_package,
    verify_package_or_raise,
)
from cunzheng_verify import format as package_format
from cunzheng_verify.decode import Manifest, Problem, parse_item, parse_manifest
from dispute.errors import DisputeError
from dispute.package import BuiltPackage
from tests.unit.dispute.packaging import World, build, make_world, manifest, resign, rezip, unzip

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return make_world(tmp_path_factory.mktemp("verify-layout"))


@pytest.fixture(scope="module")
def package(world: World) -> BuiltPackage:
    return build(world)


def test_the_raising_entry_point_returns_the_report_of_a_good_package(
        world: World, package: BuiltPackage) -> None:
    report = verify_package_or_raise(package.data, trusted_keys=[world.signer.public_key])
    assert report.ok and report.result == "ok"
    assert report.as_json() == verify_package(
        package.data, trusted_keys=[world.signer.public_key]).as_json()


def test_the_raising_entry_point_raises_with_every_failure(world: World,
                                                          package: BuiltPackage) -> None:
    files = unzip(package.data)
    m = manifest(files)
    record = m["items"][0]["record"]
    files[record] = files[record].replace(b"}", b" }", 1)
    with pytest.raises(PackageVerificationError) as caught:
        verify_package_or_raise(rezip(resign(files, m, world.signer)))
    err = caught.value
    assert isinstance(err, DisputeError)
    assert {"record.leaf_hash", "record.canonical"} <= err.report.failed_steps()
    assert "[record.leaf_hash] item " + m["items"][0]["no"] in err.diagnostics()
    assert all(s.status is Status.FAILED for s in err.report.failures)


def test_the_manifest_is_decoded_into_typed_values(package: BuiltPackage) -> None:
    files = unzip(package.data)
    m = parse_manifest(files[package_format.MANIFEST])
    assert isinstance(m, Manifest)
    assert m.package_id == package.package_id and m.venue == "court"
    first = parse_item(m.items[0])
    assert first.record == package_format.record_path(first.leaf_index)
    assert first.proof == package_format.proof_path(first.leaf_index)
    assert isinstance(first.leaf_index, int) and first.checkpoint_size > first.leaf_index
    raw = dict(m.items[0], leaf_index=True)  # a JSON boolean is not a leaf index
    with pytest.raises(Problem, match="leaf_index must be an integer"):
        parse_item(raw)
    bad = json.loads(files[package_format.MANIFEST])
    bad["venue"] = "market"
    with pytest.raises(Problem, match="venue must be one of court, arbitration, notary"):
        parse_manifest(json.dumps(bad).encode())


def test_the_builder_writes_the_format_the_verifier_reads(package: BuiltPackage) -> None:
    """One copy of each constant: the builder's names are the verifier's objects, and the
    builder's source spells none of the format's strings itself."""
    for name in ("PACKAGE_SCHEMA", "MANIFEST", "MANIFEST_SIG", "CASE_FILE", "CLAIM_FILE",
                 "VERIFY_FILE", "VENUES"):
        assert getattr(dispute.package, name) is getattr(package_format, name)
    assert dispute.package.MAX_EXHIBITS == package_format.MAX_ITEMS
    source = (ROOT / "dispute" / "package.py").read_text()
    literals = {n.value for n in ast.walk(ast.parse(source))
                if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    spelled = {"cunzheng.package/v1", "manifest.json", "manifest.sig", "case/case-file.pdf",
               "case/claim.json", "VERIFY.md", "court", "arbitration", "notary"} & literals
    assert not spelled
    files = unzip(package.data)
    assert set(package_format.REQUIRED_FILES) <= set(files)
    for cp in manifest(files)["checkpoints"]:
        assert cp["note"] == package_format.note_path(cp["tree_size"])


def test_dispute_errors_imports_nothing_of_the_verifier_but_its_errors() -> None:
    code = ("import sys, dispute.errors; "
            "print(sorted(m for m in sys.modules if m.startswith('cunzheng_verify')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout.strip()
    assert out == "['cunzheng_verify', 'cunzheng_verify.errors']"


def test_every_verifier_module_stays_small() -> None:
    sizes = {p.name: len(p.read_text().splitlines())
             for p in (ROOT / "verifier" / "cunzheng_verify").glob("*.py")}
    assert len(sizes) >= 8
    assert max(sizes.values()) <= 500, sizes


def test_the_verifier_needs_neither_the_loan_domain_nor_web3() -> None:
    """Offline verification imports the standard library, `cryptography` and `rfc8785`
    through the log's pure modules, and nothing of the loan domain, the service or web3."""
    code = ("import sys, cunzheng_verify; print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'lending_core', 'pydantic', 'service', 'web3', 'sqlalchemy', 'eth_utils'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout.strip()
    assert out == "[]"
    from cunzheng_verify.wire import VENUES
    from lending_core.events.origination import VENUES as CONTRACT_VENUES

    assert package_format.VENUES is VENUES is CONTRACT_VENUES


def test_the_standalone_verifier_imports_nothing_of_the_main_distribution() -> None:
    """`cunzheng_verify` is its own distribution: none of its modules may name a package of
    the main one (a subprocess import would not notice while both are installed)."""
    import ast

    main = {"anchoring", "dispute", "lending_core", "service", "cunzheng_devnet"}
    for path in (ROOT / "verifier" / "cunzheng_verify").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not {n.split(".")[0] for n in names} & main, (path.name, names)
