"""The concurrent crash drill (tests/stress/crash_concurrent.py) with group commit on, at CI
size: SIGKILLs of `cunzheng serve` under 16 clients posting single events, on SQLite and on
PostgreSQL with two workers. Every acknowledged event survives with its leaf index and hash,
indices stay contiguous, fsck is clean."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.stress.crash_concurrent import run

pytestmark = [pytest.mark.slow]


def _check(report: object) -> None:
    from tests.stress.crash_test import CrashReport

    assert isinstance(report, CrashReport)
    print(report.summary())
    assert report.kills == 4 and report.fsck_ok, report.summary()
    assert report.events_acknowledged > 100, report.summary()
    assert report.tree_size >= report.events_acknowledged, report.summary()
    assert not report.violations, report.summary()


def test_sqlite_acknowledged_single_events_survive_sigkill(tmp_path: Path) -> None:
    _check(run(4, clients=16, seconds=20.0, workdir=tmp_path, say=print))


def test_postgres_two_workers_acknowledged_single_events_survive_sigkill(
    tmp_path: Path, postgres_url: str,
) -> None:
    _check(run(4, clients=16, seconds=20.0, workdir=tmp_path, database_url=postgres_url,
               workers=2, say=print))
