"""`cunzheng case build` and `cunzheng verify` end to end: a real SQLite log in a data
directory, anchors on an in-process EVM, the real case-file renderer (WeasyPrint), the
package key generated on first use, and the verifier's exit codes."""

from __future__ import annotations

import json
import zipfile
from io import BytesIO
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cunzheng_verify.notes import verifier_key
from dispute.pdf import require_cjk_font
from service.cli import app
from tests.unit.dispute import LOAN_ID, TENANT
from tests.unit.dispute.packaging import make_world, post_story


def _cjk_font() -> str | None:
    try:
        require_cjk_font()
        return None
    except Exception as exc:  # noqa: BLE001 - any reason the renderer cannot run
        return f"no CJK font for the case file: {exc}"


@pytest.mark.skipif(_cjk_font() is not None, reason=str(_cjk_font()))
def test_case_build_then_verify_from_the_command_line(tmp_path: Path) -> None:
    world = make_world(tmp_path)
    data_dir = str(tmp_path / "data")
    runner = CliRunner()
    out = tmp_path / "pkg.zip"
    built = runner.invoke(app, ["case", "build", LOAN_ID, "--tenant", TENANT, "--venue", "court",
                                "--as-of", "2026-08-01", "--out", str(out), "--data-dir", data_dir])
    assert built.exit_code == 0, built.output
    assert (tmp_path / "data" / "package-key.pem").stat().st_mode & 0o777 == 0o600
    with zipfile.ZipFile(BytesIO(out.read_bytes())) as zf:
        assert zf.read("case/case-file.pdf").startswith(b"%PDF-")
        assert json.loads(zf.read("case/claim.json"))["venue"] == "court"
    key = runner.invoke(app, ["case", "key", "--data-dir", data_dir])
    assert key.exit_code == 0 and key.output.startswith("cunzheng.local/evidence-package+")

    ok = runner.invoke(app, ["verify", str(out), "--trust-key", key.output.strip(), "--json"])
    assert ok.exit_code == 0, ok.output
    report = json.loads(ok.output)
    assert report["result"] == "ok" and report["counts"]["failed"] == 0

    untrusted = runner.invoke(app, ["verify", str(out),
                                    "--trust-key", verifier_key("x", world.signer.public_key)])
    assert untrusted.exit_code == 3 and "NOT among" in untrusted.output

    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(BytesIO(out.read_bytes())) as src, zipfile.ZipFile(tampered, "w") as dst:
        for info in src.infolist():
            body = src.read(info)
            dst.writestr(info, body.replace(b"300000.00", b"900000.00")
                         if info.filename.startswith("records/") else body)
    bad = runner.invoke(app, ["verify", str(tampered), "--trust-key", key.output.strip()])
    assert bad.exit_code == 1 and "record.leaf_hash" in bad.output

    post_story(world, range(9, 10))  # logged, not anchored yet
    refused = runner.invoke(app, ["case", "build", LOAN_ID, "--tenant", TENANT, "--venue",
                                  "notary", "--data-dir", data_dir, "--out",
                                  str(tmp_path / "n.zip")])
    assert refused.exit_code == 2 and "logged-not-yet-anchored" in refused.output
    assert "story-9" in refused.output

    missing = runner.invoke(app, ["verify", str(tmp_path / "nope.zip")])
    assert missing.exit_code == 2 and "cannot read" in missing.output
