"""`cunzheng case build`, `cunzheng case key` and `cunzheng verify`: evidence packages.

`case build` builds the package through `service.cases` (this deployment's log, anchors
and case-file renderer around `dispute.case`), signs with the bank's package key
(generated on first use in the data directory) and writes the zip. `verify` runs the
offline verifier on a zip (and the on-chain step with `--rpc`) and exits 0 only when
every step checked out: 1 when a step failed, 3 when nothing failed but something needs
a person's judgement (an untrusted signer, too few confirmations, no cosigner), 2 for
bad usage.
"""

from __future__ import annotations

import sys
import time
from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer

from anchoring.keyfiles import write_atomic
from cunzheng_verify.cli import EXIT_FAILED, EXIT_WARNINGS
from cunzheng_verify.errors import CunzhengError
from cunzheng_verify.notes import verifier_key
from service.cases import build_dispute_package
from service.cli.common import DataDir, DbUrl, console, fail, load_settings

__all__ = ["EXIT_FAILED", "EXIT_WARNINGS", "case_build", "case_key", "register", "verify"]


def _parse_date(text: str | None) -> date:
    from lending_core.state import CHINA_TZ

    if text is None:
        return datetime.now(CHINA_TZ).date()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CunzhengError(f"--as-of must be a date such as 2026-03-31, got {text!r}") from None


# --- commands -----------------------------------------------------------------------------


def case_build(
    loan_id: Annotated[str, typer.Argument(help="the loan id")],
    tenant: Annotated[str, typer.Option(help="the tenant (lending service) of the loan")],
    venue: Annotated[str, typer.Option(help="court, arbitration or notary")],
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="暂计至 date (default today, CST)")] = None,
    out: Annotated[Path | None, typer.Option(help="where to write the zip")] = None,
    data_dir: DataDir = None, database_url: DbUrl = None,
) -> None:
    """Build the evidence package (zip) of a loan for a venue."""
    from service.context import build_context
    from service.logkey import package_signer_for

    settings = load_settings(data_dir, database_url)
    try:
        day = _parse_date(as_of)
        started = time.perf_counter()
        ctx = build_context(settings)
        signer = package_signer_for(settings)
        built = build_dispute_package(ctx, tenant=tenant, loan_id=loan_id, venue=venue,
                                      as_of=day, signer=signer)
        target = out or Path(f"{loan_id}-{venue}-{built.package_id}.zip")
        write_atomic(target, built.data)
    except CunzhengError as exc:
        fail(exc)
    m = built.manifest
    console.print(f"Built {built.package_id}: {len(m['items'])} exhibit(s), "
                  f"{len(m['checkpoints'])} anchored checkpoint(s), {len(built.data)} bytes, "
                  f"in {time.perf_counter() - started:.2f} s")
    history = m.get("history")
    console.print(f"History: {history['count']} record(s) of the loan up to checkpoint "
                  f"{history['checkpoint_size']}, complete as the loan index says" if history
                  else "History: none, " + next((g for g in m["loan"].get("gaps", [])
                                                 if g.startswith("completeness not proved")),
                                                "the log keeps no loan index"))
    console.print(f"Signed by package key {verifier_key(signer.name, signer.public_key)}")
    print(target)


def case_key(data_dir: DataDir = None, database_url: DbUrl = None) -> None:
    """Print the bank's package key (a verifier key for `cunzheng verify --trust`)."""
    from service.logkey import package_signer_for

    settings = load_settings(data_dir, database_url)
    try:
        signer = package_signer_for(settings)
    except CunzhengError as exc:
        fail(exc)
    print(verifier_key(signer.name, signer.public_key))


def verify(
    package: Annotated[Path, typer.Argument(help="the evidence package (zip)")],
    rpc: Annotated[str | None, typer.Option(
        help="Ethereum JSON-RPC URL for the on-chain step")] = None,
    trust: Annotated[Path | None, typer.Option(
        help="file of trusted package keys, one a line")] = None,
    trust_key: Annotated[list[str] | None, typer.Option(
        "--trust-key", help="a trusted package key (base64 or verifier key); repeatable")] = None,
    log_key: Annotated[str | None, typer.Option(
        "--log-key", help="pin the log's public key (base64 or verifier key)")] = None,
    min_confirmations: Annotated[int, typer.Option(help="confirmations an anchor needs")] = 2,
    artifact: Annotated[Path | None, typer.Option(
        help="contract artifact JSON (default: the committed one, shipped in "
        "cunzheng_verify)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Verify an evidence package offline (and on chain with --rpc); exit 0 only if all holds.

    The standalone verifier's CLI (`cunzheng-verify`) does the work, so both print the same."""
    from cunzheng_verify.cli import read_inputs, run

    try:
        inputs = read_inputs(package, rpc=rpc, trust=trust, trust_keys=trust_key,
                             log_key=log_key, artifact=artifact)
    except CunzhengError as exc:
        fail(exc)
    sys.exit(run(inputs, min_confirmations=min_confirmations, as_json=as_json))


def register(app: typer.Typer) -> None:
    """Add the `case` group and `verify` to the `cunzheng` command line."""
    case_app = typer.Typer(help="Case files and evidence packages.", no_args_is_help=True)
    case_app.command("build")(case_build)
    case_app.command("key")(case_key)
    app.add_typer(case_app, name="case")
    app.command("verify")(verify)
