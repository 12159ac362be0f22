"""`cunzheng simulate` as the README documents it, without `--url`: the ledger is built
in-process from the settings (`service.inprocess`), every planned event is accepted, and a
rerun with the same seed signs with the kept producer key and is answered with replays.
Bad usage ends with one line and exit 2, before anything is posted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "service.cli"]


def _simulate(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, "simulate", "--loans", "3", "--months", "3", "--seed", "2",
                           "--no-documents", "--data-dir", str(data), *args],
                          cwd=REPO, capture_output=True, text=True, timeout=300)


def test_simulate_without_url_posts_in_process_and_a_rerun_replays(tmp_path: Path) -> None:
    data, summary = tmp_path / "data", tmp_path / "summary.json"
    first = _simulate(data, "--summary-json", str(summary))
    assert first.returncode == 0, first.stderr
    counts = json.loads(summary.read_text())
    assert counts["planned"] > 0
    assert (counts["accepted"], counts["refused"], counts["replays"]) == (counts["planned"], 0, 0)
    planned = counts["planned"]
    assert f"accepted {planned}, refused 0 (of {planned} events)" in first.stdout
    receipts = data / "simulator" / "bank-a-seed2"
    assert (receipts / "producer-key.pem").stat().st_mode & 0o777 == 0o600
    assert len((receipts / "receipts.jsonl").read_text().splitlines()) == counts["planned"]

    again = _simulate(data, "--summary-json", str(summary))
    assert again.returncode == 0, again.stderr
    rerun = json.loads(summary.read_text())
    assert (rerun["accepted"], rerun["replays"], rerun["refused"]) == (
        counts["planned"], counts["planned"], 0)


def test_simulate_with_a_url_but_no_key_is_refused_in_one_line(tmp_path: Path) -> None:
    done = _simulate(tmp_path / "data", "--url", "http://127.0.0.1:9")
    assert done.returncode == 2
    assert done.stderr.strip() == "error: --url needs --key (a lender API key)"
    assert not (tmp_path / "data" / "cunzheng.db").exists()


def test_simulate_with_a_bad_start_day_is_refused_in_one_line(tmp_path: Path) -> None:
    done = _simulate(tmp_path / "data", "--start", "2024-13-01")
    assert done.returncode == 2
    assert done.stderr.strip() == "error: month must be in 1..12"
    assert "Traceback" not in done.stderr
