"""The built wheel, as a new user gets it (issue 12, item 7): built from the working tree's
files, installed with a plain `pip install <wheel>` into a fresh virtual environment (no
`--pre`, no extra), and its `cunzheng verify --rpc` checks a package anchored on a real
node (anvil) against the contract artifact the wheel carries. The install needs PyPI or
pip's cache; it takes about a minute."""

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

from anchoring.notes import verifier_key
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


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The `bin/` of a fresh virtual environment with only the built wheel installed."""
    root = tmp_path_factory.mktemp("wheel")
    src = _source_copy(root / "src")
    dist = root / "dist"
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                            str(dist), str(src)], capture_output=True, text=True, timeout=600,
                           env=_clean_env())
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    wheels = list(dist.glob("cunzheng-*.whl"))
    assert len(wheels) == 1
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    done = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(wheels[0])],
                          capture_output=True, text=True, timeout=1500, env=_clean_env(),
                          cwd=root)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    yield venv / "bin"


def _run(bin_dir: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(bin_dir / "cunzheng"), *args], capture_output=True, text=True,
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
    assert "site-packages/anchoring/contracts/AnchorRegistry.json" in path
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
