"""Compile the anchor contract reproducibly and write (or check) its committed artifact.

Usage: `.venv/bin/python contracts/compile.py [--check]`.

The compiler is pinned (`SOLC_VERSION`) and so are the settings (`SETTINGS`); the sources are
given to the compiler as standard-JSON under repository-relative names, so the bytecode (whose
metadata hash commits to every source) is the same on every machine. A native `solc` of the
pinned version on PATH is used through py-solc-x; otherwise solc-js from `tools/node_modules`
(installed by `make node-deps`). `--check` recompiles and exits 1 if the committed artifact
differs, so anyone can confirm which code the artifact describes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

SOLC_VERSION = "0.8.28"
CONTRACT = "AnchorRegistry"
REPO_ROOT = Path(__file__).resolve().parent.parent
# Source unit names are repository-relative: they end up in the metadata, hence the bytecode.
SOURCES = (
    "contracts/AccessRoles.sol",
    "contracts/AnchorRegistry.sol",
    "contracts/IAccessRoles.sol",
    "contracts/IAnchorRegistry.sol",
)
MAIN_SOURCE = "contracts/AnchorRegistry.sol"
# paris: no PUSH0 (shanghai) nor MCOPY (cancun), so the same bytecode runs on consortium
# chains configured with pre-Shanghai forks (Besu/QBFT genesis files often are) as well as
# on eth-tester's py-evm (Prague by default) and anvil.
SETTINGS: dict[str, Any] = {
    "optimizer": {"enabled": True, "runs": 200},
    "evmVersion": "paris",
    "metadata": {"bytecodeHash": "ipfs"},
}
OUTPUT_SELECTION = {
    "*": {
        "*": [
            "abi",
            "metadata",
            "evm.bytecode.object",
            "evm.bytecode.linkReferences",
            "evm.deployedBytecode.object",
            "evm.deployedBytecode.immutableReferences",
            "evm.deployedBytecode.linkReferences",
        ]
    }
}
# the one committed artifact ships inside the standalone verifier, which checks deployed
# code against it (`anchoring.registry` reads it from there too)
ARTIFACT_PATH = REPO_ROOT / "verifier" / "cunzheng_verify" / f"{CONTRACT}.json"
SOLCJS = REPO_ROOT / "tools" / "node_modules" / "solc"
# The solcjs CLI prints notices on stdout in --standard-json mode; calling the module's
# compile() directly gives clean JSON. Every source is inline: no import callback.
_SOLCJS_DRIVER = """
const solc = require(process.argv[1]);
if (process.argv[2] === "--version") {
  process.stdout.write(solc.version());
} else {
  let input = "";
  process.stdin.setEncoding("utf8");
  process.stdin.on("data", (chunk) => { input += chunk; });
  process.stdin.on("end", () => { process.stdout.write(solc.compile(input)); });
}
"""


class CompileError(Exception):
    """The compiler is missing, failed, or produced something the artifact cannot hold."""


def source_digest(sources: dict[str, str]) -> str:
    """SHA-256 over `<name>\\n<sha256 of content>\\n` for each source, sorted by name."""
    lines = "".join(
        f"{name}\n{hashlib.sha256(text.encode()).hexdigest()}\n"
        for name, text in sorted(sources.items())
    )
    return hashlib.sha256(lines.encode()).hexdigest()


def read_sources(root: Path = REPO_ROOT) -> dict[str, str]:
    return {name: (root / name).read_text(encoding="utf-8") for name in SOURCES}


def standard_json_input(sources: dict[str, str]) -> dict[str, Any]:
    return {
        "language": "Solidity",
        "sources": {name: {"content": text} for name, text in sorted(sources.items())},
        "settings": {**SETTINGS, "outputSelection": OUTPUT_SELECTION},
    }


def native_solc() -> str | None:
    """Path of a native `solc` of the pinned version on PATH, if any."""
    path = shutil.which("solc")
    if path is None:
        return None
    try:
        out = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"Version: (\d+\.\d+\.\d+)", out)
    return path if match and match.group(1) == SOLC_VERSION else None


def solcjs_available() -> bool:
    return shutil.which("node") is not None and (SOLCJS / "solc.js").is_file()


def run_compiler(std_input: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """Compile; returns the standard-JSON output and the frontend used."""
    solc = native_solc()
    if solc is not None:
        import solcx  # only needed on this path

        return solcx.compile_standard(std_input, solc_binary=solc), f"native solc ({solc})"
    if not solcjs_available():
        raise CompileError(
            f"no compiler: need a native solc {SOLC_VERSION} on PATH, or node and "
            f"{SOLCJS.relative_to(REPO_ROOT)} (run `make node-deps`)"
        )
    version = subprocess.run(
        ["node", "-e", _SOLCJS_DRIVER, str(SOLCJS), "--version"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    if not version.startswith(SOLC_VERSION + "+"):
        raise CompileError(f"solc-js is {version}, expected {SOLC_VERSION} (run `make node-deps`)")
    proc = subprocess.run(
        ["node", "-e", _SOLCJS_DRIVER, str(SOLCJS)],
        input=json.dumps(std_input),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if proc.returncode != 0:
        raise CompileError(f"solc-js failed ({proc.returncode}): {proc.stderr.strip()}")
    return json.loads(proc.stdout), "solc-js"


def build_artifact(root: Path = REPO_ROOT) -> dict[str, Any]:
    sources = read_sources(root)
    output, _frontend = run_compiler(standard_json_input(sources))
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise CompileError("\n".join(e.get("formattedMessage", e["message"]) for e in errors))
    warnings = [e for e in output.get("errors", []) if e.get("severity") == "warning"]
    if warnings:
        raise CompileError(
            "compiler warnings are not accepted:\n"
            + "\n".join(e.get("formattedMessage", e["message"]) for e in warnings)
        )
    contract = output["contracts"][MAIN_SOURCE][CONTRACT]
    evm = contract["evm"]
    # The deployed code is compared byte for byte with deployedBytecode, which only holds
    # when nothing is filled in at link or deploy time.
    if evm["bytecode"]["linkReferences"] or evm["deployedBytecode"]["linkReferences"]:
        raise CompileError("the contract must not link libraries")
    if evm["deployedBytecode"].get("immutableReferences"):
        raise CompileError("the contract must not use immutables")
    metadata = json.loads(contract["metadata"])
    return {
        "contractName": CONTRACT,
        "sourceName": MAIN_SOURCE,
        "compiler": {"name": "solc", "version": metadata["compiler"]["version"]},
        "settings": SETTINGS,
        "sources": {
            name: {"sha256": hashlib.sha256(text.encode()).hexdigest()}
            for name, text in sorted(sources.items())
        },
        "sourceDigest": source_digest(sources),
        "sourceDigestRule": "sha256 of '<name>\\n<sha256(content)>\\n' for each source by name",
        "abi": contract["abi"],
        "bytecode": "0x" + evm["bytecode"]["object"],
        "deployedBytecode": "0x" + evm["deployedBytecode"]["object"],
        "deployedBytecodeKeccak256": _keccak_hex(bytes.fromhex(evm["deployedBytecode"]["object"])),
        "metadata": contract["metadata"],
    }


def _keccak_hex(data: bytes) -> str:
    from eth_utils import keccak  # a web3 dependency; keeps hashlib-only callers unaffected

    return "0x" + keccak(data).hex()


def serialize(artifact: dict[str, Any]) -> str:
    return json.dumps(artifact, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if the committed artifact is stale"
    )
    args = parser.parse_args(argv)
    try:
        text = serialize(build_artifact())
    except CompileError as exc:
        print(f"compile: {exc}", file=sys.stderr)
        return 2
    rel = ARTIFACT_PATH.relative_to(REPO_ROOT)
    if args.check:
        committed = ARTIFACT_PATH.read_text(encoding="utf-8") if ARTIFACT_PATH.exists() else ""
        if committed != text:
            old = json.loads(committed) if committed else {}
            new = json.loads(text)
            changed = sorted(k for k in new.keys() | old.keys() if old.get(k) != new.get(k))
            print(f"{rel} is stale; differing fields: {', '.join(changed)}", file=sys.stderr)
            print("run: .venv/bin/python contracts/compile.py", file=sys.stderr)
            return 1
        print(f"{rel} is up to date")
        return 0
    ARTIFACT_PATH.parent.mkdir(parents=True, exist_ok=True)
    ARTIFACT_PATH.write_text(text, encoding="utf-8")
    print(f"wrote {rel}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
