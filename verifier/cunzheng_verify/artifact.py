"""The committed compiler artifact of `contracts/AnchorRegistry.sol`, shipped inside this
package: the ABI the chain view reads the registry with, and the runtime code a deployed
registry must hold byte for byte (DESIGN.md, "Anchor contract"). `contracts/compile.py`
writes and checks this one file; the log's chain adapter (`anchoring.registry`) reads it
too, so there is one artifact."""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from cunzheng_verify.errors import CunzhengError

ARTIFACT_PATH = Path(__file__).resolve().parent / "AnchorRegistry.json"


@cache
def _artifact() -> dict[str, Any]:
    # through importlib.resources, so it reads from inside the zipapp too
    text = files("cunzheng_verify").joinpath(ARTIFACT_PATH.name).read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def registry_abi() -> list[dict[str, Any]]:
    """The registry's ABI."""
    return list(_artifact()["abi"])


def runtime_code(path: Path | None = None) -> bytes:
    """The runtime code (`deployedBytecode`) a deployed registry must hold: the shipped
    artifact's, or that of the artifact JSON at `path` (`--artifact`); `CunzhengError`
    names an unreadable or malformed file."""
    if path is None:
        return bytes.fromhex(str(_artifact()["deployedBytecode"]).removeprefix("0x"))
    try:
        text = json.loads(path.read_text(encoding="utf-8"))["deployedBytecode"]
        return bytes.fromhex(str(text).removeprefix("0x"))
    except OSError as exc:
        raise CunzhengError(f"cannot read contract artifact {path}: {exc.strerror}") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise CunzhengError(f"malformed contract artifact {path}: {exc!r}") from None
