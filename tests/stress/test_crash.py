"""The crash drill (tests/stress/crash_test.py) at CI size: five SIGKILLs of `cunzheng serve`
under load on the embedded devnet. Run it larger by hand:
`.venv/bin/python -m tests.stress.crash_test --kills 20 --rate 40 --seconds 300`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.stress.crash_test import run

pytestmark = [pytest.mark.slow, pytest.mark.chain]
FULL = os.environ.get("CUNZHENG_STRESS_FULL") == "1"


def test_acknowledged_events_checkpoints_and_anchors_survive_sigkill(tmp_path: Path) -> None:
    kills, seconds = (20, 300.0) if FULL else (5, 30.0)
    report = run(kills, rate=15, seconds=seconds, workdir=tmp_path, say=print)
    print(report.summary())
    assert report.kills == kills and report.fsck_ok, report.summary()
    assert report.events_acknowledged > 0 and report.anchors_on_chain > 0, report.summary()
    assert not report.violations, report.summary()
