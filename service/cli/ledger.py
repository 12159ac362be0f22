"""Running and keeping the ledger: `cunzheng serve`, `cunzheng fsck` and `cunzheng erase`.

`serve` runs the API and its jobs (checkpoints, anchoring, monitoring) and, on a fresh data
directory, writes a first admin key to a 0600 file. `fsck` and `erase` open the database
directly, with the keyring, as the service does.
"""

from __future__ import annotations

import json
import signal
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from cunzheng_verify.erasure import DEFAULT_BASIS
from cunzheng_verify.errors import CunzhengError
from service.cli.common import DataDir, DbUrl, console, fail, load_settings

if TYPE_CHECKING:
    from service.context import AppContext

__all__ = ["erase", "fsck", "register", "serve"]


def serve(data_dir: DataDir = None, database_url: DbUrl = None,
          host: Annotated[str | None, typer.Option(help="bind address")] = None,
          port: Annotated[int | None, typer.Option(help="port")] = None,
          workers: Annotated[int, typer.Option(min=1, help="worker processes (each runs the "
                                               "checkpoint and anchoring jobs; the database "
                                               "lease lets one submit)")] = 1) -> None:
    """Run the API (and its jobs) on the embedded defaults unless told otherwise."""
    import os

    import uvicorn

    from service.app import create_app

    settings = load_settings(data_dir, database_url)
    try:
        from service.context import build_context

        ctx = build_context(settings)
    except CunzhengError as exc:
        fail(exc)
    _bootstrap_admin(ctx)
    devnet = None
    if settings.anchor_enabled:
        from service.chain_setup import rpc_url, start_embedded_devnet

        try:
            devnet = start_embedded_devnet(settings)
        except CunzhengError as exc:
            console.print(f"[yellow]warning:[/yellow] devnet did not start ({escape(str(exc))}); "
                          "events are accepted and anchoring retries until a chain answers")
        console.print(f"Anchoring to {rpc_url(settings)} every {settings.anchor_interval:g} s"
                      + (" (embedded devnet started)" if devnet else ""))
    console.print(f"Cunzheng serving on http://{host or settings.host}:{port or settings.port} "
                  f"(data in {settings.data_dir.resolve()}, database "
                  f"{ctx.engine.url.render_as_string(hide_password=True)})")
    # uvicorn restores the previous SIGTERM/SIGINT handlers when it stops and raises the
    # signal again; with the default handler the process would die there and leave the
    # devnet child running. With this one, the `finally` below runs.
    def _stop(signum: int, _frame: Any) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _stop)
    try:
        if workers > 1:
            # uvicorn forks workers from an import string; they read settings from the
            # environment, so the flags given here go there first
            os.environ["CUNZHENG_DATA_DIR"] = str(settings.data_dir)
            os.environ["CUNZHENG_DATABASE_URL"] = settings.resolved_database_url
            ctx.engine.dispose()
            uvicorn.run("service.app:app_from_env", factory=True, workers=workers,
                        host=host or settings.host, port=port or settings.port, log_level="info")
        else:
            uvicorn.run(create_app(settings, ctx), host=host or settings.host,
                        port=port or settings.port, log_level="info")
    finally:
        if devnet is not None:
            devnet.stop()


def _bootstrap_admin(ctx: AppContext) -> None:
    """On a fresh data directory, create an admin key and write it to a 0600 file once."""
    import os

    from service.auth import Role, create_key, list_keys

    if list_keys(ctx.engine):
        return
    from cunzheng_verify.records import format_utc

    key, _ = create_key(ctx.engine, Role.ADMIN, None, "bootstrap admin", format_utc(ctx.clock()))
    path = ctx.settings.data_dir / "admin-key.txt"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key + "\n")
    console.print(f"First start: an admin API key was written to {path} (mode 0600).")


def fsck(data_dir: DataDir = None, database_url: DbUrl = None,
         as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
         max_findings: Annotated[int, typer.Option(
             min=1, help="findings kept of each kind of place (leaf, node, chain, checkpoint)")
         ] = 1000) -> None:
    """Self-audit: recompute every leaf hash, node and checkpoint, compare every column with
    its record, each loan's chain, erasures and the loan index; exit 0 only if all hold."""
    from anchoring.fsck import fsck as run_fsck
    from service.context import open_store
    from service.db import make_engine, migrate
    from service.logkey import log_signer_for

    settings = load_settings(data_dir, database_url)
    try:
        engine = make_engine(settings.resolved_database_url)
        migrate(engine)
        signer = log_signer_for(settings)
        report = run_fsck(open_store(settings, engine), key_name=signer.name,
                          public_key=signer.public_key, origin=settings.log_origin,
                          max_findings=max_findings)
    except CunzhengError as exc:
        fail(exc)
    if as_json:
        print(json.dumps(report.as_json(), indent=2, ensure_ascii=False))
    elif report.ok:
        print(f"ok: {report.leaves_checked} leaves and {report.checkpoints_checked} checkpoints "
              f"re-derived; tree size {report.tree_size}")
    else:
        first = report.findings[0]
        print(f"FAILED: {len(report.findings)} finding(s); first: [{first.kind}] {first.detail}")
        for f in report.findings[1:]:
            print(f"  [{f.kind}] {f.detail}")
    for line in report.notes if not as_json else ():
        print(f"note: {line}")
    sys.exit(0 if report.ok else 1)


def _operator() -> str:
    import getpass
    import socket

    return f"cli:{getpass.getuser()}@{socket.gethostname()}"


def erase(
    tenant: Annotated[str, typer.Option(help="the loan's tenant")],
    loan: Annotated[str, typer.Option(help="loan id")],
    by: Annotated[str | None, typer.Option(
        "--by", help="who erases (recorded in the erasure event); default cli:<user>@<host>")
    ] = None,
    basis: Annotated[str, typer.Option(
        "--basis", help="the legal basis (recorded in the erasure event)")] = DEFAULT_BASIS,
    yes: Annotated[bool, typer.Option("--yes", help="confirm: this cannot be undone")] = False,
    data_dir: DataDir = None, database_url: DbUrl = None,
) -> None:
    """Erase a loan's personal data (crypto-shredding): the erasure is logged first, as an
    event of the loan (who, when, basis, which records and documents); then its key, its
    record contents and the documents only it cites are destroyed. Leaf hashes and proofs
    stay."""
    from service.context import open_store, utc_now
    from service.db import make_engine, migrate
    from service.lending import LEDGER

    if not yes:
        fail(CunzhengError("erasure cannot be undone: add --yes to confirm"))
    settings = load_settings(data_dir, database_url)
    try:
        engine = make_engine(settings.resolved_database_url)
        migrate(engine)
        counts = open_store(settings, engine).erase_loan(
            tenant, loan, utc_now(), erased_by=by or _operator(), basis=basis, policy=LEDGER)
    except CunzhengError as exc:
        fail(exc)
    print(json.dumps({"tenant": tenant, "loan_id": loan, **counts}))


def register(app: typer.Typer) -> None:
    """Add `serve`, `fsck` and `erase` to the `cunzheng` command line."""
    app.command()(serve)
    app.command()(fsck)
    app.command()(erase)
