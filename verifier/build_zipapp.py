"""Build `cunzheng-verify.pyz`: the verifier as one file, run with `python3 cunzheng-verify.pyz`.

The zip holds `cunzheng_verify` (with its contract artifact) and the pure-Python `rfc8785`
(taken from the Python running this script). `cryptography` is a compiled extension, which
Python cannot import from a zip: the Python that runs the file must have it installed
(Debian: `python3-cryptography`), and `web3` for the on-chain step. Usage:
`python verifier/build_zipapp.py [OUT]` (default `dist/cunzheng-verify.pyz`).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import zipapp
from pathlib import Path

HERE = Path(__file__).resolve().parent


def build(out: Path) -> Path:
    import rfc8785

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
        shutil.copytree(HERE / "cunzheng_verify", root / "cunzheng_verify", ignore=ignore)
        source = Path(rfc8785.__file__).resolve().parent
        shutil.copytree(source, root / "rfc8785", ignore=ignore)
        out.parent.mkdir(parents=True, exist_ok=True)
        zipapp.create_archive(root, out, interpreter="/usr/bin/env python3",
                              main="cunzheng_verify.cli:_zipapp_main", compressed=True)
    return out


if __name__ == "__main__":
    default = HERE.parent / "dist" / "cunzheng-verify.pyz"
    print(build(Path(sys.argv[1]) if len(sys.argv) > 1 else default))
