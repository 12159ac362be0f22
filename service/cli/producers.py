"""`cunzheng producer-keys`: register, list and retire producer keys, and set a tenant's
producer-signature policy, straight on the database (as `keys create` does)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cunzheng_verify.errors import CunzhengError
from service.cli.common import DataDir, DbUrl, console, fail, load_settings, now_text

if TYPE_CHECKING:
    from anchoring.producers import ProducerRegistry

__all__ = ["producers_app", "register"]

producers_app = typer.Typer(help="Producer keys (Ed25519) and the per-tenant policy "
                            "requiring producer signatures.", no_args_is_help=True)


def _registry(data_dir: str | None, database_url: str | None) -> ProducerRegistry:
    from anchoring.producers import ProducerRegistry
    from service.db import make_engine, migrate

    engine = make_engine(load_settings(data_dir, database_url).resolved_database_url)
    migrate(engine)
    return ProducerRegistry(engine)


def _read_public_key(path: Path) -> bytes:
    """A PEM Ed25519 public key, or the base64 raw key, from a file."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from anchoring.producers import parse_public_key

    text = path.read_bytes()
    if b"-----BEGIN" in text:
        key = serialization.load_pem_public_key(text)
        if not isinstance(key, Ed25519PublicKey):
            raise CunzhengError(f"{path} is not an Ed25519 public key")
        return key.public_bytes_raw()
    return parse_public_key(text.decode("ascii", "replace").strip())


@producers_app.command("register")
def register_cmd(
    tenant: Annotated[str, typer.Option(help="the producer's tenant")],
    public_key: Annotated[Path, typer.Option(
        help="PEM Ed25519 public key file, or a file with the base64 raw key")],
    data_dir: DataDir = None, database_url: DbUrl = None,
) -> None:
    """Register a producer key; the tenant then requires signatures (unless set)."""
    try:
        raw = _read_public_key(public_key)
        row = _registry(data_dir, database_url).register(tenant, raw, now_text())
    except OSError as exc:
        fail(CunzhengError(f"cannot read {public_key}: {exc.strerror}"))
    except (CunzhengError, ValueError) as exc:
        fail(exc if isinstance(exc, CunzhengError) else CunzhengError(str(exc)))
    console.print(f"Registered producer key {row.key_id} for tenant {tenant}.")


@producers_app.command("list")
def list_cmd(tenant: Annotated[str | None, typer.Option(help="only this tenant")] = None,
             data_dir: DataDir = None, database_url: DbUrl = None) -> None:
    """List producer keys (retired ones too) as JSON."""
    rows = _registry(data_dir, database_url).keys(tenant)
    print(json.dumps([r.as_json() for r in rows], indent=2))


@producers_app.command("retire")
def retire_cmd(tenant: Annotated[str, typer.Option(help="the key's tenant")],
               key_id: Annotated[str, typer.Argument(help="the key id (16 hex)")],
               data_dir: DataDir = None, database_url: DbUrl = None) -> None:
    """Retire a key: it signs no new event; events it signed keep verifying."""
    try:
        row = _registry(data_dir, database_url).retire(tenant, key_id, now_text())
    except CunzhengError as exc:
        fail(exc)
    console.print(f"Producer key {row.key_id} of {tenant} retired at {row.retired_at}.")


@producers_app.command("policy")
def policy_cmd(
    tenant: Annotated[str, typer.Option(help="the tenant")],
    require: Annotated[bool | None, typer.Option(
        "--require/--no-require", help="set the policy (omit to show it)")] = None,
    data_dir: DataDir = None, database_url: DbUrl = None,
) -> None:
    """Show or set whether a tenant requires producer signatures."""
    try:
        registry = _registry(data_dir, database_url)
        policy = (registry.policy(tenant) if require is None
                  else registry.set_policy(tenant, require, now_text()))
    except CunzhengError as exc:
        fail(exc)
    print(json.dumps(policy.as_json(), indent=2))


def register(app: typer.Typer) -> None:
    """Add the `producer-keys` group to the `cunzheng` command line."""
    app.add_typer(producers_app, name="producer-keys")
