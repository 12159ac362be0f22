"""The built wheels, as a new user gets them (issue 12, items 7 and 8): built from the working
tree's files; `cunzheng` with the verifier it depends on installed with one plain `pip
install <wheels>` into a fresh virtual environment (no `--pre`, no extra), and its `cunzheng
verify --rpc` checks a package anchored on a real node (anvil) against the contract artifact
the verifier wheel carries; the standalone verifier `cunzheng-verify` alone (with its
`[chain]` extra) in another fresh environment, and as the single-file zipapp, verify the
same package. The installs need PyPI or pip's cache; they take a minute or two."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from web3 import Web3

from cunzheng_verify.notes import verifier_key
from tests.integration.chain_nodes import REPO, anvil_node
from tests.unit.dispute.packaging import build, make_world, manifest, resign, rezip, unzip

pytestmark = [pytest.mark.slow, pytest.mark.chain]


def _source_copy(into: Path) -> Path:
    """The files git knows (tracked or not ignored), as they are in the working tree: a
    build writes build/ and *.egg-info next to its sources, never in the shared tree."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], cwd=REPO, capture_output=True,
                            check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        src = REPO / name
        if src.is_file() and not name.startswith(("tools/node_modules/", "test-output/")):
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, into / name)
    return into


def _clean_env() -> dict[str, str]:
    """The environment without this checkout on the import path or in a virtualenv."""
    drop = {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "PYTHONSTARTUP"}
    return {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("CUNZHENG_")}


def _build_wheel(src: Path, dist: Path) -> Path:
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                            str(dist), str(src)], capture_output=True, text=True, timeout=600,
                           env=_clean_env())
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    name = "cunzheng_verify" if src.name == "verifier" else "cunzheng"
    wheels = list(dist.glob(f"{name}-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def _venv_with(root: Path, *requirements: str) -> Path:
    """`bin/` of a fresh virtual environment after one plain `pip install <requirements>`."""
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    done = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", *requirements],
                          capture_output=True, text=True, timeout=1500, env=_clean_env(),
                          cwd=root)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return venv / "bin"


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The two wheels: (cunzheng, cunzheng-verify)."""
    root = tmp_path_factory.mktemp("wheels")
    src = _source_copy(root / "src")
    dist = root / "dist"
    return _build_wheel(src, dist), _build_wheel(src / "verifier", dist)


@pytest.fixture(scope="module")
def installed(wheels: tuple[Path, Path],
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The `bin/` of a fresh virtual environment with only the two built wheels installed."""
    main, verifier = wheels
    yield _venv_with(tmp_path_factory.mktemp("main"), str(verifier), str(main))


@pytest.fixture(scope="module")
def verifier_only(wheels: tuple[Path, Path],
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The `bin/` of a fresh virtual environment with only the verifier (and web3)."""
    yield _venv_with(tmp_path_factory.mktemp("verifier"), f"{wheels[1]}[chain]")


def _run(bin_dir: Path, *args: str, cwd: Path,
         program: str = "cunzheng") -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(bin_dir / program), *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd, env={**_clean_env(), "COLUMNS": "200"})


def test_the_wheel_carries_what_the_code_reads(installed: Path) -> None:
    python = str(installed / "python")
    code = ("import json, anchoring.registry as r, dispute.package as p, dispute.casefile as c, "
            "service.db as d, service.pages as g, lending_core.lpr as l, lending_core.products "
            "as q; a = r.load_artifact(); print(json.dumps([str(r.DEFAULT_ARTIFACT_PATH), "
            "a.code_hash, p._TEMPLATE.is_file(), (c.TEMPLATES / 'case_file.html').is_file(), "
            "(d.MIGRATIONS / 'env.py').is_file(), (g.HERE / 'static' / 'pages.css').is_file(), "
            "l.load_lpr_table() is not None, q.load_catalogue() is not None]))")
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, cwd=installed,
                         env=_clean_env(), timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    path, code_hash, *found = json.loads(out.stdout)
    assert "site-packages/cunzheng_verify/AnchorRegistry.json" in path
    from anchoring.registry import load_artifact

    assert code_hash == load_artifact().code_hash  # the committed artifact, byte for byte
    assert all(found), found
    # the devnet is an extra: the main install has no eth-tester, and says how to get it
    missing = subprocess.run([python, "-c", "import eth_tester"], capture_output=True,
                             env=_clean_env(), cwd=installed)
    assert missing.returncode != 0
    devnet = _run(installed, "devnet", "--data-dir", str(installed.parent / "d"), "--port", "1",
                  cwd=installed.parent)
    assert devnet.returncode == 2 and "pip install 'cunzheng[devnet]'" in devnet.stderr, (
        devnet.stdout + devnet.stderr)


def test_the_installed_cli_verifies_a_package_on_a_real_chain(installed: Path,
                                                              tmp_path: Path) -> None:
    with anvil_node() as url:
        world = make_world(tmp_path, Web3(Web3.HTTPProvider(url)))
        package = tmp_path / "court.zip"
        package.write_bytes(build(world).data)
        key = verifier_key(world.signer.name, world.signer.public_key)
        ok = _run(installed, "verify", str(package), "--rpc", url, "--trust-key", key, "--json",
                  cwd=tmp_path)
        assert ok.returncode == 0, ok.stdout[-3000:] + ok.stderr[-3000:]
        report = json.loads(ok.stdout)
        assert report["result"] == "ok" and report["counts"]["failed"] == 0
        steps = {s["step"] for s in report["steps"] if s["status"] == "ok"}
        assert {"chain.network", "chain.code", "chain.anchor", "chain.block"} <= steps

        # the same package naming another block for its first anchor: offline it still
        # holds (re-signed), on chain the installed verifier finds the lie
        files = unzip(package.read_bytes())
        m = manifest(files)
        m["checkpoints"][0]["anchor"]["block_number"] += 1
        lied = tmp_path / "lied.zip"
        lied.write_bytes(rezip(resign(files, m, world.signer)))
        offline = _run(installed, "verify", str(lied), "--trust-key", key, cwd=tmp_path)
        assert offline.returncode == 0, offline.stdout[-3000:]
        bad = _run(installed, "verify", str(lied), "--rpc", url, "--trust-key", key, "--json",
                   cwd=tmp_path)
        assert bad.returncode == 1, bad.stdout[-3000:] + bad.stderr[-3000:]
        failed = {s["step"] for s in json.loads(bad.stdout)["steps"] if s["status"] == "failed"}
        assert {"chain.anchor", "chain.block"} <= failed


def test_the_standalone_verifier_installs_alone_and_verifies_on_chain(
        verifier_only: Path, tmp_path: Path) -> None:
    python = str(verifier_only / "python")
    # offline verification loads nothing beyond cryptography and rfc8785 (and the stdlib)
    code = ("import sys, json, cunzheng_verify.api; print(json.dumps(sorted({m.split('.')[0] "
            "for m in sys.modules} & {'fastapi', 'sqlalchemy', 'weasyprint', 'eth_tester', "
            "'anchoring', 'dispute', 'service', 'lending_core', 'web3'})))")
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                         env=_clean_env(), timeout=120)
    assert out.returncode == 0 and json.loads(out.stdout) == [], out.stdout + out.stderr
    for absent in ("fastapi", "sqlalchemy", "weasyprint", "anchoring"):  # not even installed
        gone = subprocess.run([python, "-c", f"import {absent}"], capture_output=True,
                              env=_clean_env(), cwd=tmp_path)
        assert gone.returncode != 0, absent
    with anvil_node() as url:
        world = make_world(tmp_path, Web3(Web3.HTTPProvider(url)))
        package = tmp_path / "court.zip"
        package.write_bytes(build(world).data)
        key = verifier_key(world.signer.name, world.signer.public_key)
        ok = _run(verifier_only, str(package), "--rpc", url, "--trust-key", key, "--json",
                  cwd=tmp_path, program="cunzheng-verify")
        assert ok.returncode == 0, ok.stdout[-3000:] + ok.stderr[-3000:]
        report = json.loads(ok.stdout)
        assert report["result"] == "ok" and report["counts"]["failed"] == 0
        steps = {s["step"] for s in report["steps"] if s["status"] == "ok"}
        assert {"chain.network", "chain.code", "chain.anchor", "chain.block"} <= steps

        # a byte changed in one record: the standalone verifier names the step and exits 1
        files = unzip(package.read_bytes())
        record = next(n for n in files if n.startswith("records/"))
        files[record] = files[record].replace(b'"', b"'", 1)
        tampered = tmp_path / "tampered.zip"
        tampered.write_bytes(rezip(files))
        bad = _run(verifier_only, str(tampered), "--trust-key", key, "--json", cwd=tmp_path,
                   program="cunzheng-verify")
        assert bad.returncode == 1, bad.stdout[-3000:] + bad.stderr[-3000:]
        assert any(s["status"] == "failed" for s in json.loads(bad.stdout)["steps"])
        usage = _run(verifier_only, str(tmp_path / "missing.zip"), cwd=tmp_path,
                     program="cunzheng-verify")
        assert usage.returncode == 2 and "cannot read" in usage.stderr

        # the single-file zipapp, run by the verifier-only environment's Python
        pyz = tmp_path / "cunzheng-verify.pyz"
        built = subprocess.run([sys.executable, str(REPO / "verifier" / "build_zipapp.py"),
                                str(pyz)], capture_output=True, text=True, timeout=120)
        assert built.returncode == 0, built.stderr
        zipped = subprocess.run([python, str(pyz), str(package), "--rpc", url, "--trust-key",
                                 key, "--json"], capture_output=True, text=True, timeout=300,
                                cwd=tmp_path, env=_clean_env())
        assert zipped.returncode == 0, zipped.stdout[-3000:] + zipped.stderr[-3000:]
        same = json.loads(zipped.stdout)
        assert [(s["step"], s["status"]) for s in same["steps"]] == [
            (s["step"], s["status"]) for s in report["steps"]]
