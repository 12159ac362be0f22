"""The bank's package-signing key (the verifier's trusted keys: `cunzheng_verify.trust`).

The package key is an Ed25519 key of its own, apart from the log's key: the log key signs
checkpoints, the package key signs `manifest.json`. It is generated on first use into the
data directory (mode 0600, like the log key) or read from a PEM file. Trusted keys for
verification are standard base64 public keys (32 raw bytes) or C2SP verifier keys
`<name>+<hex key id>+<base64(0x01 || key)>`, one per line in a trust file (`#` comments).
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from anchoring.keyfiles import KeyFileError, load_or_create_ed25519
from cunzheng_verify.notes import Signer
from dispute.errors import PackageKeyError

PACKAGE_KEY_FILE = "package-key.pem"


def package_key_name(origin: str) -> str:
    """The package key's name: the log origin's host with `/evidence-package`."""
    return origin.split("/", 1)[0] + "/evidence-package"


def load_or_create_package_key(path: Path) -> Ed25519PrivateKey:
    """Read the PEM key at `path`, or generate one there (mode 0600) if there is none."""
    try:
        return load_or_create_ed25519(path, "package key")
    except KeyFileError as exc:
        raise PackageKeyError(str(exc)) from None


def package_signer(data_dir: Path, origin: str) -> Signer:
    """The bank's package signer, its key in `<data_dir>/package-key.pem`."""
    return Signer(package_key_name(origin), load_or_create_package_key(data_dir / PACKAGE_KEY_FILE))
