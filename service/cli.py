"""The `cunzheng` command line. Errors a user can cause print one line and exit non-zero."""

from __future__ import annotations

import json
import signal
import sys
from typing import Annotated, Any

import typer
from rich.console import Console

from cunzheng_errors import CunzhengError
from service.settings import Settings

app = typer.Typer(help="Cunzheng (存证): evidence ledger for digital small-business lending.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
keys_app = typer.Typer(help="API keys (shown once, stored hashed).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
console = Console(stderr=True)

PRIVATE_UMASK = 0o077
"""Every file a `cunzheng` command creates is 0600 and every directory 0700: the database,
its WAL, keys, packages and the devnet's chain hold personal data or secrets."""


@app.callback()
def _private_files() -> None:
    """Runs before every command (and is inherited by the devnet and worker processes)."""
    import os

    os.umask(PRIVATE_UMASK)


def _fail(exc: CunzhengError) -> None:
    console.print(f"[red]error:[/red] {exc.diagnostics()}", highlight=False)
    raise typer.Exit(2)


def _settings(data_dir: str | None, database_url: str | None) -> Settings:
    overrides: dict[str, Any] = {}
    if data_dir:
        overrides["data_dir"] = data_dir
    if database_url:
        overrides["database_url"] = database_url
    return Settings(**overrides)


DataDir = Annotated[str | None, typer.Option(help="data directory (CUNZHENG_DATA_DIR)")]
DbUrl = Annotated[str | None, typer.Option(help="database URL (CUNZHENG_DATABASE_URL)")]


@app.command()
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

    settings = _settings(data_dir, database_url)
    try:
        from service.context import build_context

        ctx = build_context(settings)
    except CunzhengError as exc:
        _fail(exc)
    _bootstrap_admin(ctx)
    devnet = None
    if settings.anchor_enabled:
        from service.chain_setup import rpc_url, start_embedded_devnet

        try:
            devnet = start_embedded_devnet(settings)
        except CunzhengError as exc:
            console.print(f"[yellow]warning:[/yellow] devnet did not start ({exc}); events are "
                          "accepted and anchoring retries until a chain answers")
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


def _bootstrap_admin(ctx: Any) -> None:
    """On a fresh data directory, create an admin key and write it to a 0600 file once."""
    import os

    from anchoring.records import format_utc
    from service.auth import Role, create_key, list_keys

    if list_keys(ctx.engine):
        return
    key, _ = create_key(ctx.engine, Role.ADMIN, None, "bootstrap admin", format_utc(ctx.clock()))
    path = ctx.settings.data_dir / "admin-key.txt"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key + "\n")
    console.print(f"First start: an admin API key was written to {path} (mode 0600).")


@keys_app.command("create")
def keys_create(role: Annotated[str,
                                typer.Option(help="admin, lender, legal, auditor or verifier")],
                tenant: Annotated[str | None, typer.Option(help="tenant (lender keys)")] = None,
                label: Annotated[str, typer.Option(help="what the key is for")] = "",
                data_dir: DataDir = None, database_url: DbUrl = None) -> None:
    """Create an API key and print it once."""
    from anchoring.records import format_utc
    from service.auth import Role, create_key
    from service.context import utc_now
    from service.db import make_engine, migrate

    settings = _settings(data_dir, database_url)
    try:
        try:
            parsed = Role(role)
        except ValueError:
            raise CunzhengError(f"unknown role {role!r}; choose one of "
                                + ", ".join(r.value for r in Role)) from None
        engine = make_engine(settings.resolved_database_url)
        migrate(engine)
        key, principal = create_key(engine, parsed, tenant, label, format_utc(utc_now()))
    except CunzhengError as exc:
        _fail(exc)
    console.print(f"Created {principal.role.value} key {principal.key_id}"
                  + (f" for tenant {tenant}" if tenant else "") + ". It is shown only once:")
    print(key)


@keys_app.command("list")
def keys_list(data_dir: DataDir = None, database_url: DbUrl = None) -> None:
    """List API keys (ids, roles, tenants; never the keys)."""
    from service.auth import list_keys
    from service.db import make_engine, migrate

    engine = make_engine(_settings(data_dir, database_url).resolved_database_url)
    migrate(engine)
    print(json.dumps(list_keys(engine), indent=2, ensure_ascii=False))


@keys_app.command("revoke")
def keys_revoke(key_id: str, data_dir: DataDir = None, database_url: DbUrl = None) -> None:
    """Revoke an API key by its id."""
    from anchoring.records import format_utc
    from service.auth import revoke_key
    from service.context import utc_now
    from service.db import make_engine

    try:
        revoke_key(make_engine(_settings(data_dir, database_url).resolved_database_url),
                   key_id, format_utc(utc_now()))
    except CunzhengError as exc:
        _fail(exc)
    console.print(f"Revoked {key_id}.")


@app.command()
def fsck(data_dir: DataDir = None, database_url: DbUrl = None,
         as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False) -> None:
    """Self-audit: recompute every leaf hash, node and checkpoint; exit 0 only if all hold."""
    from anchoring.fsck import fsck as run_fsck
    from service.context import open_store
    from service.db import make_engine, migrate
    from service.logkey import log_signer_for

    settings = _settings(data_dir, database_url)
    try:
        engine = make_engine(settings.resolved_database_url)
        migrate(engine)
        signer = log_signer_for(settings)
        report = run_fsck(open_store(settings, engine), key_name=signer.name,
                          public_key=signer.public_key,
                          origin=settings.log_origin)
    except CunzhengError as exc:
        _fail(exc)
    if as_json:
        print(json.dumps(report.as_json(), indent=2))
    elif report.ok:
        print(f"ok: {report.leaves_checked} leaves and {report.checkpoints_checked} checkpoints "
              f"re-derived; tree size {report.tree_size}")
    else:
        first = report.findings[0]
        print(f"FAILED: {len(report.findings)} finding(s); first: [{first.kind}] {first.detail}")
        for f in report.findings[1:20]:
            print(f"  [{f.kind}] {f.detail}")
    sys.exit(0 if report.ok else 1)


@app.command()
def erase(tenant: Annotated[str, typer.Option(help="the loan's tenant")],
          loan: Annotated[str, typer.Option(help="loan id")],
          yes: Annotated[bool,
                         typer.Option("--yes", help="confirm: this cannot be undone")] = False,
          data_dir: DataDir = None, database_url: DbUrl = None) -> None:
    """Erase a loan's personal data (crypto-shredding); leaf hashes and proofs stay."""
    from anchoring.records import format_utc
    from service.context import open_store, utc_now
    from service.db import make_engine, migrate

    if not yes:
        _fail(CunzhengError("erasure cannot be undone: add --yes to confirm"))
    settings = _settings(data_dir, database_url)
    try:
        engine = make_engine(settings.resolved_database_url)
        migrate(engine)
        counts = open_store(settings, engine).erase_loan(tenant, loan, format_utc(utc_now()))
    except CunzhengError as exc:
        _fail(exc)
    print(json.dumps({"tenant": tenant, "loan_id": loan, **counts}))


@keys_app.command("rotate-master")
def keys_rotate_master(data_dir: DataDir = None, database_url: DbUrl = None) -> None:
    """Rotate the master key: rewrap every data key under a new one. Safe to rerun after a
    crash (the new key waits in <key file>.new until every key is rewrapped)."""
    import base64
    import os

    from anchoring.crypto import Cipher
    from service.context import open_store
    from service.db import make_engine, migrate
    from service.logkey import load_master_keys

    settings = _settings(data_dir, database_url)
    path = settings.resolved_master_key_file
    new = path.with_name(path.name + ".new")
    try:
        if not path.exists():
            raise CunzhengError(f"no master key at {path}")
        if not new.exists():
            fd = os.open(new, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(base64.b64encode(os.urandom(32)) + b"\n")
                f.flush()
                os.fsync(f.fileno())
        engine = make_engine(settings.resolved_database_url)
        migrate(engine)
        store = open_store(settings, engine)
        count = store.rotate_master(Cipher(load_master_keys(path, create=False)))
        os.replace(new, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        os.fsync(dir_fd)
        os.close(dir_fd)
    except CunzhengError as exc:
        _fail(exc)
    console.print(f"rewrapped {count} data keys under the new master key in {path}")


def main() -> None:  # pragma: no cover
    app()


from service import cli_chain, demo

cli_chain.register(app)
demo.register(app)
from service import cli_lending

cli_lending.register(app)
from service import cli_dispute

cli_dispute.register(app)
from service import cli_producers

cli_producers.register(app)
from service import cli_token

cli_token.register(keys_app)

if __name__ == "__main__":  # pragma: no cover
    app()
