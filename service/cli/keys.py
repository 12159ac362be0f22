"""`cunzheng keys ...`: API keys (shown once, stored hashed), the master key's rotation, and
key pairs inside a PKCS#11 token (`token-generate`, `token-show`: private half
non-extractable and sensitive, for the `*_key_uri` settings; README, "Keys in a hardware
token"). All of them work on the database and key files directly, without the service.
"""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cunzheng_verify.errors import CunzhengError
from service.cli.common import DataDir, DbUrl, console, fail, load_settings, now_text

if TYPE_CHECKING:
    from anchoring.pkcs11 import TokenUri

__all__ = ["keys_app", "register"]

keys_app = typer.Typer(help="API keys (shown once, stored hashed).", no_args_is_help=True)

Uri = Annotated[str, typer.Option(
    help="the key's PKCS#11 URI: pkcs11:token=...;object=...?module-path=...")]
Kind = Annotated[str, typer.Option(
    help="ed25519 (log and package keys) or secp256k1 (the anchoring key)")]


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="admin, lender, legal, auditor or verifier")],
    tenant: Annotated[str | None, typer.Option(help="tenant (lender keys)")] = None,
    label: Annotated[str, typer.Option(help="what the key is for")] = "",
    data_dir: DataDir = None, database_url: DbUrl = None,
) -> None:
    """Create an API key and print it once."""
    from service.auth import Role, create_key
    from service.db import make_engine, migrate

    settings = load_settings(data_dir, database_url)
    try:
        try:
            parsed = Role(role)
        except ValueError:
            raise CunzhengError(f"unknown role {role!r}; choose one of "
                                + ", ".join(r.value for r in Role)) from None
        engine = make_engine(settings.resolved_database_url)
        migrate(engine)
        key, principal = create_key(engine, parsed, tenant, label, now_text())
    except CunzhengError as exc:
        fail(exc)
    console.print(f"Created {principal.role.value} key {principal.key_id}"
                  + (f" for tenant {tenant}" if tenant else "") + ". It is shown only once:")
    print(key)


@keys_app.command("list")
def keys_list(data_dir: DataDir = None, database_url: DbUrl = None) -> None:
    """List API keys (ids, roles, tenants; never the keys)."""
    from service.auth import list_keys
    from service.db import make_engine, migrate

    engine = make_engine(load_settings(data_dir, database_url).resolved_database_url)
    migrate(engine)
    print(json.dumps(list_keys(engine), indent=2, ensure_ascii=False))


@keys_app.command("revoke")
def keys_revoke(key_id: str, data_dir: DataDir = None, database_url: DbUrl = None) -> None:
    """Revoke an API key by its id."""
    from service.auth import revoke_key
    from service.db import make_engine

    try:
        revoke_key(make_engine(load_settings(data_dir, database_url).resolved_database_url),
                   key_id, now_text())
    except CunzhengError as exc:
        fail(exc)
    console.print(f"Revoked {key_id}.")


@keys_app.command("rotate-master")
def keys_rotate_master(data_dir: DataDir = None, database_url: DbUrl = None) -> None:
    """Rotate the master key: rewrap every data key under a new one. Safe to rerun after a
    crash (the new key waits in <key file>.new until every key is rewrapped)."""
    import os

    from anchoring.crypto import Cipher
    from anchoring.keyfiles import fsync_dir, write_secret
    from service.context import open_store
    from service.db import make_engine, migrate
    from service.logkey import load_master_keys

    settings = load_settings(data_dir, database_url)
    path = settings.resolved_master_key_file
    new = path.with_name(path.name + ".new")
    try:
        if not path.exists():
            raise CunzhengError(f"no master key at {path}")
        if not new.exists():  # kept if a rotation stopped half-way: it resumes with it
            write_secret(new, base64.b64encode(os.urandom(32)) + b"\n")
        engine = make_engine(settings.resolved_database_url)
        migrate(engine)
        store = open_store(settings, engine)
        count = store.rotate_master(Cipher(load_master_keys(path, create=False)))
        os.replace(new, path)
        fsync_dir(path.parent)
    except CunzhengError as exc:
        fail(exc)
    console.print(f"rewrapped {count} data keys under the new master key in {path}")


def _describe(kind: str, public: bytes, uri: TokenUri) -> dict[str, Any]:
    described: dict[str, Any] = {"uri": uri.redacted, "kind": kind,
                                 "public_key": base64.b64encode(public).decode()}
    if kind == "secp256k1":
        from anchoring.signers import ethereum_address

        described["address"] = ethereum_address(public)
    return described


def _pin(uri: TokenUri, data_dir: str | None) -> str:
    settings = load_settings(data_dir, None)
    return str(uri.resolve_pin(settings.pkcs11_pin_file, settings.pkcs11_pin.get_secret_value()
                               if settings.pkcs11_pin else None))


@keys_app.command("token-generate")
def token_generate(uri: Uri, kind: Kind = "ed25519", data_dir: DataDir = None) -> None:
    """Generate a key pair inside the token; the private key can never be exported."""
    from anchoring.pkcs11 import TokenUri, generate_key

    try:
        parsed = TokenUri.parse(uri)
        public = generate_key(parsed, _pin(parsed, data_dir), kind)
    except CunzhengError as exc:
        fail(exc)
    print(json.dumps(_describe(kind, public, parsed), indent=2))


@keys_app.command("token-show")
def token_show(uri: Uri, kind: Kind = "ed25519", data_dir: DataDir = None) -> None:
    """Show the public key (and address) of a key in the token."""
    from anchoring.pkcs11 import TokenEd25519Signer, TokenSecp256k1Signer, TokenUri

    try:
        parsed = TokenUri.parse(uri)
        pin = _pin(parsed, data_dir)
        if kind == "secp256k1":
            public = TokenSecp256k1Signer(parsed, pin).public_key
        elif kind == "ed25519":
            public = TokenEd25519Signer(parsed, pin).public_key
        else:
            raise CunzhengError(f"kind must be ed25519 or secp256k1, got {kind!r}")
    except CunzhengError as exc:
        fail(exc)
    print(json.dumps(_describe(kind, public, parsed), indent=2))


def register(app: typer.Typer) -> None:
    """Add the `keys` group to the `cunzheng` command line."""
    app.add_typer(keys_app, name="keys")
