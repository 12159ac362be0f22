"""Coverage-guided fuzzing with atheris (libFuzzer) over the same three readers as
`test_fuzz_readers.py`: the strict JSON reader, the signed-note reader and the package
reader, each fed the fuzzer's bytes and allowed only its documented outcome.

In the suite: one short run (`ATHERIS_RUNS` inputs per reader, in a subprocess, since
libFuzzer owns its process), skipped where atheris is not installed (it is a dev
dependency on Linux). A longer run, by hand:

    .venv/bin/python tests/unit/test_fuzz_atheris.py json CORPUS_DIR -max_total_time=600
    (likewise `note` and `package`; CORPUS_DIR may start empty or hold seeds)

A crash writes `crash-<sha1>` with the input in the working directory; make it a
regression test in `test_hostile_parsers.py`.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ATHERIS_RUNS = int(os.environ.get("CUNZHENG_ATHERIS_RUNS", "3000"))
REPO = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(importlib.util.find_spec("atheris") is None, reason="atheris not installed")
@pytest.mark.parametrize("reader", ["json", "note", "package"])
def test_atheris_short_run(reader: str, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "seed").write_bytes(seed(reader))
    done = subprocess.run([sys.executable, __file__, reader, str(corpus),
                           f"-runs={ATHERIS_RUNS}", "-max_len=4096", "-rss_limit_mb=2048",
                           "-timeout=10"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr[-4000:]
    assert "Done" in done.stderr and not list(tmp_path.glob("crash-*")), done.stderr[-2000:]


def seed(reader: str) -> bytes:
    """A valid input to start from (libFuzzer mutates it): an event, a signed note, the
    fuzz tests' package."""
    from dispute.package import deterministic_zip
    from tests.unit.test_fuzz_readers import BASE, _real_note

    if reader == "json":
        import json

        from tests.conftest import make_event

        return json.dumps(make_event("E-1")).encode()
    if reader == "note":
        return _real_note(7, bytes(32)).encode()
    return deterministic_zip(BASE)


def _fuzz(reader: str) -> None:  # pragma: no cover - runs in its own process
    import atheris

    with atheris.instrument_imports():
        import zipfile

        from anchoring.errors import CheckpointError, RecordError
        from cunzheng_verify import verify_package
        from cunzheng_verify.notes import verify_checkpoint
        from cunzheng_verify.records import parse_json
    del zipfile
    key = bytes(range(32))

    def one_json(data: bytes) -> None:
        try:
            parse_json(data, max_bytes=4096)
        except RecordError:
            pass

    def one_note(data: bytes) -> None:
        note = data.decode("utf-8", "replace")  # as the package reader decodes a note
        try:
            verify_checkpoint(note, key_name="o", public_key=key)
        except CheckpointError:
            pass

    def one_package(data: bytes) -> None:
        report = verify_package(data)
        assert report.steps

    target = {"json": one_json, "note": one_note, "package": one_package}[reader]
    atheris.Setup([sys.argv[0], *sys.argv[2:]], target)
    atheris.Fuzz()


if __name__ == "__main__":  # pragma: no cover
    sys.path.insert(0, str(REPO))
    _fuzz(sys.argv[1])
