"""`cunzheng case build` carries the loan's complete history (issue 13, item 3), end to end: a
real SQLite log with its loan index, anchors on an in-process EVM, the real case-file
renderer; `cunzheng verify` checks the history at every step; the insider edit of the issue
(records moved to a loan that does not exist) makes the build refuse, naming the
divergence, instead of producing a thinner package that verifies."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from anchoring.tables import leaves
from dispute.pdf import require_cjk_font
from service.cli import app
from tests.unit.dispute import LOAN_ID, TENANT
from tests.unit.dispute.packaging import World, make_world

HISTORY_STEPS = {"history.entry", "history.record", "history.chain", "history.index",
                 "history.exhibits", "history.freshness"}


def _cjk_font() -> str | None:
    try:
        require_cjk_font()
        return None
    except Exception as exc:  # noqa: BLE001 - any reason the renderer cannot run
        return f"no CJK font for the case file: {exc}"


def _build(runner: CliRunner, tmp_path: Path, out: Path) -> tuple[int, str]:
    done = runner.invoke(app, ["case", "build", LOAN_ID, "--tenant", TENANT, "--venue", "court",
                               "--as-of", "2026-08-01", "--out", str(out), "--data-dir",
                               str(tmp_path / "data")])
    return done.exit_code, done.output


def _story_leaves(world: World) -> list[int]:
    return [leaf.leaf_index for leaf in world.ctx.store.loan_events(TENANT, LOAN_ID)]


@pytest.mark.skipif(_cjk_font() is not None, reason=str(_cjk_font()))
def test_case_build_carries_the_history_and_verify_checks_it(tmp_path: Path) -> None:
    pypdf = pytest.importorskip("pypdf")
    world = make_world(tmp_path)
    runner = CliRunner()
    out = tmp_path / "pkg.zip"
    code, output = _build(runner, tmp_path, out)
    assert code == 0, output
    assert "History: 9 record(s) of the loan up to checkpoint" in " ".join(output.split())
    with zipfile.ZipFile(io.BytesIO(out.read_bytes())) as zf:
        names = set(zf.namelist())
        m = json.loads(zf.read("manifest.json"))
        pdf = zf.read("case/case-file.pdf")
    mine = _story_leaves(world)
    assert m["schema"] == "cunzheng.package/v2"
    assert m["history"]["count"] == len(mine) == 9
    assert [r["leaf_index"] for r in m["history"]["records"]] == mine
    assert {f"history/{i}.json" for i in mine} | {"proofs/loan-index.json"} <= names
    for i in mine:
        assert world.ctx.store.leaf(i).record == zipfile.ZipFile(out).read(f"history/{i}.json")

    key = runner.invoke(app, ["case", "key", "--data-dir", str(tmp_path / "data")]).output
    ok = runner.invoke(app, ["verify", str(out), "--trust-key", key.strip(), "--json"])
    assert ok.exit_code == 0, ok.output
    report = json.loads(ok.output)
    steps = {s["step"]: s["status"] for s in report["steps"] if s["step"].startswith("history")}
    assert set(steps) == HISTORY_STEPS and set(steps.values()) == {"ok"}

    text = re.sub(r"\s+", "", "".join(p.extract_text() for p in
                                      pypdf.PdfReader(io.BytesIO(pdf)).pages))
    said = (r"截至\d{4}年\d{1,2}月\d{1,2}日\d{2}:\d{2}:\d{2}（北京时间），"
            r"本笔贷款在存证系统中共有9条记录，全部列于附件，完整性可验证")
    assert re.search(said, text), text[:400]
    assert m["history"]["index_root"] in text
    embedded = pypdf.PdfReader(io.BytesIO(pdf)).attachments
    assert "proofs/loan-index.json" in embedded and f"history/{mine[0]}.json" in embedded


def test_records_moved_to_a_ghost_loan_stop_the_build(tmp_path: Path) -> None:
    """The issue's insider edit: the `loan_id` column of three of the loan's leaves changed. The
    loan's events thin from 9 to 6, but the loan index the checkpoints signed still counts
    9: the build refuses and says why, rather than claim a larger debt with a package that
    verifies."""
    world = make_world(tmp_path)
    runner = CliRunner()
    # the example loan has one repayment among its first nine events: it and the two
    # notices after it go (nothing else of the loan needs them to fold)
    moved = [leaf.leaf_index for leaf in world.ctx.store.loan_events(TENANT, LOAN_ID)
             if leaf.event_type in ("repayment_received", "notice_sent", "notice_delivered")]
    assert len(moved) == 3
    with world.ctx.engine.begin() as conn:
        conn.execute(update(leaves).where(leaves.c.leaf_index.in_(moved))
                     .values(loan_id="L-GHOST"))
    code, output = _build(runner, tmp_path, tmp_path / "thin.zip")
    assert code == 2, output
    flat = " ".join(output.split())  # the console wraps long lines
    assert "holds 6 record(s), its loan index entry says 9" in flat and "fsck" in flat
    assert not (tmp_path / "thin.zip").exists()
