"""The log's Ed25519 key and the master key for encryption at rest: generated on first start
into the data directory (mode 0600), or read from configured files. Never logged. The log,
package and anchoring keys may instead live in a PKCS#11 token (`*_key_uri` settings)."""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from anchoring.crypto import MasterKeys
from anchoring.errors import AnchoringError
from anchoring.keyfiles import load_or_create_ed25519, read_secret, write_secret
from cunzheng_verify.notes import Signer

if TYPE_CHECKING:
    from anchoring.pkcs11 import TokenUri
    from anchoring.signers import EthAccount
    from service.settings import Settings

T = TypeVar("T")


def log_signer(path: Path, origin: str) -> Signer:
    """The log's signer; its key name is the log's origin, as C2SP checkpoints expect."""
    return Signer(origin, load_or_create_ed25519(path, "log key"))


def load_master_keys(path: Path, *, create: bool = True) -> MasterKeys:
    """The master key (base64 in a 0600 file), generated on first start. A rotation in
    progress leaves `<path>.new`: then the new key is current and the old one still reads."""
    new = path.with_name(path.name + ".new")
    if not path.exists():
        if not create:
            raise AnchoringError(f"no master key at {path}")
        write_secret(path, base64.b64encode(os.urandom(32)) + b"\n")
    try:
        current = base64.b64decode(read_secret(path, "master key").strip(), validate=True)
        if new.exists():
            return MasterKeys(base64.b64decode(read_secret(new, "new master key").strip(),
                                               validate=True), (current,))
    except binascii.Error:
        raise AnchoringError(f"master key {path} is not base64") from None
    return MasterKeys(current)


# --- keys in a PKCS#11 token (anchoring.pkcs11): chosen by the settings, file keys otherwise


def _token_signer(settings: Settings, uri_text: str, kind: Callable[[TokenUri, str], T]) -> T:
    from anchoring.pkcs11 import TokenUri

    uri = TokenUri.parse(uri_text)
    pin = uri.resolve_pin(settings.pkcs11_pin_file,
                          settings.pkcs11_pin.get_secret_value() if settings.pkcs11_pin else None)
    return kind(uri, pin)


def log_signer_for(settings: Settings) -> Signer:
    """The log's signer: its key in the token of `log_key_uri`, or the key file."""
    if settings.log_key_uri:
        from anchoring.pkcs11 import TokenEd25519Signer

        return Signer(settings.log_origin,
                      _token_signer(settings, settings.log_key_uri, TokenEd25519Signer))
    return log_signer(settings.resolved_log_key_file, settings.log_origin)


def package_signer_for(settings: Settings) -> Signer:
    """The package signer: its key in the token of `package_key_uri`, or
    `<data_dir>/package-key.pem`."""
    from dispute.packagekey import package_key_name, package_signer

    if settings.package_key_uri:
        from anchoring.pkcs11 import TokenEd25519Signer

        return Signer(package_key_name(settings.log_origin),
                      _token_signer(settings, settings.package_key_uri, TokenEd25519Signer))
    return package_signer(settings.data_dir, settings.log_origin)


def anchor_account_for(settings: Settings) -> EthAccount | None:
    """The anchorer's account when its key is in a token (`anchor_key_uri`), else None."""
    if not settings.anchor_key_uri:
        return None
    from anchoring.pkcs11 import TokenSecp256k1Signer
    from anchoring.signers import EthAccount

    return EthAccount(_token_signer(settings, settings.anchor_key_uri, TokenSecp256k1Signer))
