"""`cunzheng keys token-generate` and `keys token-show`: make a key pair inside a PKCS#11
token (private half non-extractable and sensitive) and show its public key, for the
`*_key_uri` settings (README, "Keys in a hardware token")."""

from __future__ import annotations

import base64
import json
from typing import Annotated, Any

import typer

from cunzheng_errors import CunzhengError

DataDir = Annotated[str | None, typer.Option(help="data directory (CUNZHENG_DATA_DIR)")]
Uri = Annotated[str, typer.Option(
    help="the key's PKCS#11 URI: pkcs11:token=...;object=...?module-path=...")]
Kind = Annotated[str, typer.Option(
    help="ed25519 (log and package keys) or secp256k1 (the anchoring key)")]


def _describe(kind: str, public: bytes, uri: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"uri": uri.redacted, "kind": kind,
                           "public_key": base64.b64encode(public).decode()}
    if kind == "secp256k1":
        from anchoring.signers import ethereum_address

        out["address"] = ethereum_address(public)
    return out


def register(keys_app: typer.Typer) -> None:
    from service.cli import _fail, _settings

    def _pin(uri: Any, data_dir: str | None) -> str:
        settings = _settings(data_dir, None)
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
            _fail(exc)
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
            _fail(exc)
        print(json.dumps(_describe(kind, public, parsed), indent=2))
