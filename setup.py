"""Only what pyproject.toml cannot say: the wheel carries the committed contract artifact.

`contracts/build/AnchorRegistry.json` (written and checked by `contracts/compile.py`) is
what `cunzheng verify --rpc` and `cunzheng deploy` compare the chain's code with. `contracts/`
is not a Python package, so the build copies the one committed file into the `anchoring`
package (`anchoring/contracts/AnchorRegistry.json`), where `anchoring.registry` looks first.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ARTIFACT = Path("contracts") / "build" / "AnchorRegistry.json"


class BuildWithArtifact(build_py):
    def run(self) -> None:
        super().run()
        if not ARTIFACT.is_file():
            raise SystemExit(f"{ARTIFACT} is missing: run `python contracts/compile.py`")
        target = Path(self.build_lib) / "anchoring" / "contracts"
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ARTIFACT, target / ARTIFACT.name)


setup(cmdclass={"build_py": BuildWithArtifact})
